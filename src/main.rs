//! The `adserver` binary: parse the configuration, wire the pieces, run.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use adserver::access::Access;
use adserver::auth::{self, ApiKeys, Auth, JwtSettings, JwtVerifier};
use adserver::background::{Loops, Shutdown};
use adserver::budget::BudgetSync;
use adserver::clock::SystemClock;
use adserver::config::{Config, LogFormat};
use adserver::delivery::{Delivery, EventCounters, EventKey, ServingIds};
use adserver::ledger::Ledger;
use adserver::rate_limit::RateLimiter;
use adserver::refresh::Refresher;
use adserver::server;
use adserver::state::State;
use tokio::sync::Notify;

/// mimalloc rather than glibc's malloc: every catalog rebuild maps and
/// frees hundreds of MiB, and glibc hands that back to the kernel in long
/// `munmap`s that stall the request workers (`loadtest/rebuild.sh`, 1M ads:
/// p99 19.5 ms while rebuilding against 0.6 ms quiet). mimalloc keeps it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let config = Config::parse();
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build the tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    // First: a SIGTERM from here on starts a drain instead of killing.
    let shutdown = server::shutdown_signal();
    config.feed.check_transport(config.allow_insecure_feed)?;
    if let Some(jwks) = &config.jwks {
        jwks.check_transport(config.allow_insecure_feed)?;
    }
    let options = config.server_options();
    // Before anything is opened: a process that cannot hold its caps'
    // connections would fail later, under load, with EMFILE.
    let open_files = server::raise_open_file_limit(&options)?;
    let access = build_access(&config).await?;
    let bind =
        |addr, cap| server::bind(addr, cap).map_err(|e| format!("cannot listen on {addr}: {e}"));
    let public = bind(config.listen, options.max_connections)?;
    let admin = bind(config.admin_listen, options.admin_max_connections)?;
    tracing::info!(
        listen = %config.listen,
        admin = %config.admin_listen,
        feed = %config.feed,
        timezone = %config.timezone,
        max_connections = options.max_connections,
        admin_max_connections = options.admin_max_connections,
        open_files,
        "adserver starting"
    );

    let (delivery, flusher) = build_delivery(&config).await?;
    let mut state = State::new(SystemClock(config.timezone))
        .with_access(access)
        .with_delivery(delivery);
    state.hour_basis = config.hour_basis;
    let state = Arc::new(state);
    // The first load happens before serving, so a healthy feed (or a
    // snapshot) means the server is ready from its first request.
    let mut refresher = Refresher::new(state.publisher(), config.refresh_settings());
    refresher.start().await;
    let wake = Arc::new(Notify::new());
    let mut loops = Loops::new();
    let sighup = reload_on_sighup(Arc::clone(&wake), loops.shutdown())?;
    loops.spawn("sighup", sighup);
    let feed_refresh = refresher.run(wake, loops.shutdown());
    loops.spawn("feed refresh", feed_refresh);
    if let Some(jwt) = &state.access.auth.jwt {
        let every = Duration::from_secs(config.jwks_refresh_interval);
        let jwks_refresh = auth::refresh_keys(Arc::clone(jwt), every, loops.shutdown());
        loops.spawn("jwks refresh", jwks_refresh);
    }

    // Caps are judged before the first request: a restarted replica must
    // not serve an ad the fleet has capped (or replay a player's servings
    // late). Then the thread reads the store, never the request path.
    let first = Arc::clone(&state);
    tokio::task::spawn_blocking(move || adserver::budget::sync_now(&first)).await?;
    let budget_sync = BudgetSync::spawn(
        Arc::clone(&state.catalog),
        Arc::clone(&state.delivery.ledger),
        Arc::clone(&state.clock),
    )?;

    let ledger = Arc::clone(&state.delivery.ledger);
    let drained = server::serve(public, admin, state, options, shutdown).await;
    // After the connections: a refresh may still land while they drain.
    let stuck = loops.stop(LOOPS_STOP_TIMEOUT).await;
    tokio::task::spawn_blocking(move || budget_sync.shutdown()).await?;
    // Last: every answer and beacon has been counted by now. The flusher
    // writes once more as it stops; what that write could not store is
    // said out loud (a crash would lose at most one interval anyway).
    tokio::task::spawn_blocking(move || flusher.shutdown()).await?;
    let unwritten = ledger.pending();
    if unwritten > 0 {
        tracing::warn!(
            unwritten,
            "the ledger's store is unreachable; these counts are lost at exit"
        );
    }
    tracing::info!(
        drained,
        loops_stopped = stuck.is_empty(),
        "adserver stopped"
    );
    Ok(())
}

/// Event signing and the ledger as configured: the key file is read (or
/// created) and the store opened before serving, so a bad `--ledger` or
/// key file stops the start instead of losing counts later.
async fn build_delivery(
    config: &Config,
) -> Result<(Delivery, adserver::ledger::Flusher), Box<dyn std::error::Error>> {
    let key = match &config.event_key_file {
        Some(path) => EventKey::load_or_create(path)?,
        None => {
            tracing::warn!(
                "no --event-key-file: event tokens are signed with a random per-process key, \
                 so beacons verify only on this replica and not after a restart"
            );
            EventKey::random()?
        }
    };
    let ledger_config = config.ledger_config();
    let (ledger, flusher) =
        tokio::task::spawn_blocking(move || Ledger::start(&ledger_config)).await??;
    tracing::info!(
        tracking = ?config.tracking,
        ledger = %config.ledger,
        flush_interval_s = config.ledger_flush_interval,
        event_ttl_s = config.event_ttl,
        budget_sync_interval_s = config.budget_sync_interval,
        budget_on_store_failure = %config.budget_on_store_failure,
        "delivery"
    );
    let delivery = Delivery {
        tracking: config.tracking,
        key,
        serving_ids: ServingIds::new()?,
        public_url: config.public_url.as_deref().map(Box::from),
        event_ttl: config.event_ttl,
        ledger,
        counters: EventCounters::default(),
    };
    Ok((delivery, flusher))
}

/// How long the background loops get to stop once the server has drained.
/// Each selects on the signal wherever it waits, so this only bounds a
/// JWKS re-read already on a blocking thread (its fetch timeout is 5 s).
const LOOPS_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// SIGHUP asks for an immediate feed refresh.
fn reload_on_sighup(
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        loop {
            tokio::select! {
                biased;
                () = shutdown.recv() => return,
                received = hangup.recv() => match received {
                    Some(()) => {
                        tracing::info!("SIGHUP received");
                        wake.notify_one();
                    }
                    None => return,
                },
            }
        }
    })
}

/// Authentication and rate limiting as configured; a key file or key set
/// that cannot be read stops the start rather than serving unprotected.
async fn build_access(config: &Config) -> Result<Access, Box<dyn std::error::Error>> {
    let api_keys = config
        .api_keys_file
        .as_deref()
        .map(ApiKeys::load)
        .transpose()?;
    let jwt = match &config.jwks {
        None => None,
        Some(source) => {
            let settings = JwtSettings {
                source: source.clone(),
                issuer: config.jwt_issuer.clone(),
                audience: config.jwt_audience.clone(),
                allow_insecure: config.allow_insecure_feed,
            };
            let verifier =
                tokio::task::spawn_blocking(move || JwtVerifier::load(settings)).await??;
            Some(Arc::new(verifier))
        }
    };
    let rate_limit = config
        .rate_limit
        .map(|rps| RateLimiter::new(rps, config.rate_limit_burst.unwrap_or(rps)));
    tracing::info!(
        api_keys = api_keys.as_ref().map_or(0, ApiKeys::len),
        jwks = jwt.is_some(),
        rate_limit = ?config.rate_limit,
        "access control"
    );
    Ok(Access {
        auth: Auth { api_keys, jwt },
        rate_limit,
        trust_forwarded_for: config.trust_forwarded_for,
    })
}

/// Tells mimalloc never to return freed pages to the kernel, unless the
/// operator set `MIMALLOC_PURGE_DELAY` themselves. The memory a rebuild
/// frees is what the next rebuild needs; giving it back costs a
/// `madvise` per 4 MiB and a page fault per page when the next rebuild
/// takes it again, about 2 GiB of both per 1M-ad rebuild. Measured with
/// `loadtest/rebuild.sh`: p99 while rebuilding 1.3x to 1.9x quiet when
/// kept; purged, the rebuild's core stalls for up to 30 ms.
///
/// mimalloc reads its environment when the process starts, before `main`,
/// so the option is set through its API; setting the variable here would
/// be too late (it was, and nothing was kept).
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: stores one integer option; mimalloc reads it each time
        // it considers purging, from any thread.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e`, which
/// libmimalloc-sys does not name: just before `use_numa_nodes`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ADSERVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is ours, not the crate's: prove it is the purge
    /// delay (mimalloc v3's default is 1,000 ms, which no other option has)
    /// and that setting it at run time takes.
    #[test]
    fn freed_memory_is_kept() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the operator's value wins, and is not the default
        }
        // SAFETY: reads one integer option.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(
            before, 1000,
            "option {MI_OPTION_PURGE_DELAY} is not the purge delay"
        );
        keep_freed_memory();
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, -1);
    }
}
