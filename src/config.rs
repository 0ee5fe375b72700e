//! Command-line and environment configuration (README "Configuration"), parsed once at
//! start into a [`Config`] that is passed explicitly; nothing else reads
//! the environment.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

use std::path::PathBuf;

use crate::budget::{BudgetSettings, OnStoreFailure};
use crate::clock::{HourBasis, Zone};
use crate::delivery::Tracking;
use crate::fetch::{FetchLimits, Source};
use crate::ledger::{DedupConfig, LedgerConfig, LedgerSpec};
use crate::refresh::RefreshSettings;
use crate::server::ServerOptions;

/// The campaign service URL from the original brief.
pub(crate) const DEFAULT_FEED: &str = "https://gist.githubusercontent.com/victorhurdugaci/22a682eb508e65d97bd5b9152f564ab3/raw/dbf27ef217dba9bbd753de26cdabf8a91bdf1550/sm_ads.json";

/// The largest `--feed-max-bytes`: a catalog addresses its bodies with 32
/// bits (README "Catalog size"), which a feed of this size cannot outgrow.
pub(crate) const MAX_FEED_BYTES: u64 = 2 << 30;

/// A fast HTTP ad server for video games.
///
/// Serves `GET /ad_request?country=CC&lang=LLL` from a campaign feed
/// compiled into a lookup table. Every option can also be set through the
/// environment variable shown; a flag wins over its variable.
#[derive(Debug, Clone, Parser)]
#[command(name = "adserver", version, about, long_about)]
pub struct Config {
    /// Address of the public listener (ad requests and probes).
    #[arg(long, env = "ADSERVER_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Address of the operations listener (/metrics and probes).
    #[arg(long, env = "ADSERVER_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,

    /// Campaign feed: an http:// or https:// URL, or a file path.
    #[arg(long, env = "ADSERVER_FEED", default_value = DEFAULT_FEED)]
    pub feed: Source,

    /// Zone that campaign hours are read in: UTC, an IANA name
    /// (America/New_York) or a fixed offset (+05:30).
    #[arg(long, env = "ADSERVER_TIMEZONE", default_value = "UTC")]
    pub timezone: Zone,

    /// Whose clock campaign hours are read on: the server's (--timezone) or
    /// the player's (the request's tz or utc_offset; the server's when the
    /// request has neither). An ad's own "timezone" field wins over both.
    #[arg(long, env = "ADSERVER_HOUR_BASIS", value_enum, default_value_t = HourBasis::Server)]
    pub hour_basis: HourBasis,

    /// Seconds between feed reloads.
    #[arg(long, env = "ADSERVER_REFRESH_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh_interval: u64,

    /// Largest feed body accepted, in bytes (at most 2 GiB); a larger feed
    /// is rejected whole.
    #[arg(long, env = "ADSERVER_FEED_MAX_BYTES", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=MAX_FEED_BYTES))]
    pub feed_max_bytes: u64,

    /// Seconds allowed for one feed fetch, connect to last byte.
    #[arg(long, env = "ADSERVER_FEED_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub feed_timeout: u64,

    /// Where each good feed is saved (atomically); read at start when the
    /// feed is down, so the server comes up serving the last good catalog.
    #[arg(long, env = "ADSERVER_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,

    /// Refuse a feed whose valid ads fall below this fraction of the
    /// largest catalog accepted within --drop-window (a suspicious drop); 0
    /// turns the guard off.
    #[arg(long, env = "ADSERVER_MIN_CATALOG_FRACTION", default_value_t = 0.5,
          value_parser = fraction)]
    pub min_catalog_fraction: f64,

    /// Seconds the drop guard remembers: a new feed is compared with the
    /// largest catalog accepted (or re-served unchanged) in this window, so
    /// a feed cannot be walked down by a series of small cuts.
    #[arg(long, env = "ADSERVER_DROP_WINDOW", value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub drop_window: u64,

    /// Seconds a client has to send a whole request head.
    #[arg(long, env = "ADSERVER_HEADER_TIMEOUT", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,

    /// Public connections open at once. At the cap a new client takes the
    /// place of the connection idle the longest (waiting for a request
    /// head); with none idle it waits in the kernel's accept queue. The
    /// process raises its open-file limit to fit both caps, or refuses to
    /// start.
    #[arg(long, env = "ADSERVER_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Admin-listener connections open at once, with the same rule as
    /// --max-connections.
    #[arg(long, env = "ADSERVER_ADMIN_MAX_CONNECTIONS", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub admin_max_connections: u64,

    /// Seconds a response may stall while being written before the
    /// connection is closed: the per-request deadline for clients that
    /// stop reading.
    #[arg(long, env = "ADSERVER_WRITE_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,

    /// File of API keys, one per line (blank lines and `#` comments
    /// ignored). When set, /ad_request needs `Authorization: Bearer KEY`.
    #[arg(long, env = "ADSERVER_API_KEYS_FILE", value_name = "PATH")]
    pub api_keys_file: Option<PathBuf>,

    /// JSON Web Key Set (file path or https:// URL) whose RS256/ES256 keys
    /// sign game tokens. When set, /ad_request needs
    /// `Authorization: Bearer JWT`; the set is re-read periodically and at
    /// once on an unknown `kid`.
    #[arg(long, env = "ADSERVER_JWKS", value_name = "SOURCE")]
    pub jwks: Option<Source>,

    /// Required `iss` claim of game tokens (with --jwks).
    #[arg(long, env = "ADSERVER_JWT_ISSUER", requires = "jwks")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim of game tokens (with --jwks).
    #[arg(long, env = "ADSERVER_JWT_AUDIENCE", requires = "jwks")]
    pub jwt_audience: Option<String>,

    /// Seconds between re-reads of the --jwks key set.
    #[arg(long, env = "ADSERVER_JWKS_REFRESH_INTERVAL", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_refresh_interval: u64,

    /// Requests per second each client may make to /ad_request (a client is
    /// its API key, its token's subject, or else its address); more get
    /// 429 with Retry-After. Off when unset.
    #[arg(long, env = "ADSERVER_RATE_LIMIT", value_name = "RPS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,

    /// Requests a client may make at once above --rate-limit before being
    /// slowed (default: one second's worth).
    #[arg(long, env = "ADSERVER_RATE_LIMIT_BURST", requires = "rate_limit",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: Option<u32>,

    /// Take the client address for rate limiting from the last
    /// X-Forwarded-For entry (set only behind a proxy that appends it).
    #[arg(long, env = "ADSERVER_TRUST_FORWARDED_FOR", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_for: bool,

    /// Allow a plain http:// feed or JWKS URL on a host that is not
    /// loopback. Without it such a URL is refused at start, and a redirect
    /// to one is refused at every fetch.
    #[arg(long, env = "ADSERVER_ALLOW_INSECURE_FEED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_insecure_feed: bool,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "ADSERVER_DRAIN_TIMEOUT", default_value_t = 10)]
    pub drain_timeout: u64,

    /// Log format on stderr.
    #[arg(long, env = "ADSERVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Whether ad answers carry a serving id and signed event URLs
    /// (README "Delivery"). Off: JSON answers are exactly {"id","video_url"}
    /// and VAST carries no tracking URLs of ours.
    #[arg(long, env = "ADSERVER_TRACKING", value_enum, default_value_t = Tracking::On)]
    pub tracking: Tracking,

    /// Base of event URLs, e.g. https://ads.example.com (default: http://
    /// and the request's Host).
    #[arg(long, env = "ADSERVER_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// File holding the key that signs event tokens; every replica must
    /// share it. Created with a random key, mode 0600, when missing.
    /// Without it a random per-process key is used (tokens then verify only
    /// on the replica that issued them).
    #[arg(long, env = "ADSERVER_EVENT_KEY_FILE", value_name = "PATH")]
    pub event_key_file: Option<PathBuf>,

    /// Seconds an event token stays valid; also the dedup window of
    /// (serving_id, event).
    #[arg(long, env = "ADSERVER_EVENT_TTL", value_name = "SECONDS", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub event_ttl: u64,

    /// Where delivery counts are kept: memory, sqlite:PATH,
    /// redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT...].
    #[arg(
        long,
        env = "ADSERVER_LEDGER",
        value_name = "LEDGER",
        default_value = "memory"
    )]
    pub ledger: LedgerSpec,

    /// Seconds between ledger writes; a crash loses at most this much.
    #[arg(long, env = "ADSERVER_LEDGER_FLUSH_INTERVAL", value_name = "SECONDS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ledger_flush_interval: u64,

    /// Seconds between budget syncs: each reads the fleet's impression
    /// counts of capped ads from the ledger and blocks the ads at a cap
    /// (README "Budgets"). Overshoot past a cap grows with it. With a
    /// Redis (or SQLite) ledger, frequency-cap servings are exchanged with
    /// it four times per interval.
    #[arg(long, env = "ADSERVER_BUDGET_SYNC_INTERVAL", value_name = "SECONDS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub budget_sync_interval: u64,

    /// What capped ads do while the ledger's store cannot be read: open
    /// keeps serving on the last known fleet counts plus this replica's;
    /// closed blocks every capped ad once the counts are older than three
    /// sync intervals.
    #[arg(long, env = "ADSERVER_BUDGET_ON_STORE_FAILURE", value_enum,
          default_value_t = OnStoreFailure::Open)]
    pub budget_on_store_failure: OnStoreFailure,

    /// (player, ad) pairs frequency caps remember at most, on this replica
    /// (about 85 bytes each, allocated as they come); the least used are
    /// forgotten beyond it. With a Redis (or SQLite) ledger, also the most
    /// servings queued for it while it cannot be written.
    #[arg(long, env = "ADSERVER_FREQUENCY_CAP_ENTRIES", value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub frequency_cap_entries: u64,
}

fn public_url(s: &str) -> Result<String, String> {
    crate::delivery::body::check_base(s)
        .map(|()| s.trim_end_matches('/').to_owned())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub(crate) fn fetch_limits(&self) -> FetchLimits {
        FetchLimits {
            max_bytes: self.feed_max_bytes,
            timeout: Duration::from_secs(self.feed_timeout),
            allow_insecure: self.allow_insecure_feed,
            ..FetchLimits::default()
        }
    }

    pub fn ledger_config(&self) -> LedgerConfig {
        LedgerConfig {
            spec: self.ledger.clone(),
            flush_interval: Duration::from_secs(self.ledger_flush_interval),
            dedup: DedupConfig {
                ttl: Duration::from_secs(self.event_ttl),
                ..DedupConfig::default()
            },
            budget: BudgetSettings {
                sync_interval: Duration::from_secs(self.budget_sync_interval),
                on_store_failure: self.budget_on_store_failure,
                frequency_entries: self.frequency_cap_entries as usize,
            },
            ..LedgerConfig::default()
        }
    }

    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            header_timeout: Duration::from_secs(self.header_timeout),
            drain_timeout: Duration::from_secs(self.drain_timeout),
            max_connections: self.max_connections as usize,
            admin_max_connections: self.admin_max_connections as usize,
            write_timeout: Duration::from_secs(self.write_timeout),
        }
    }

    pub fn refresh_settings(&self) -> RefreshSettings {
        RefreshSettings {
            source: self.feed.clone(),
            limits: self.fetch_limits(),
            interval: Duration::from_secs(self.refresh_interval),
            snapshot: self.snapshot.clone(),
            min_fraction: self.min_catalog_fraction,
            drop_window: Duration::from_secs(self.drop_window),
        }
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{s:?} is not a fraction between 0 and 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_is_well_formed() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::try_parse_from(["adserver"]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.admin_listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(c.feed, Source::Url(DEFAULT_FEED.into()));
        assert_eq!(c.timezone, Zone::default());
        assert_eq!(c.refresh_interval, 60);
        assert_eq!(c.feed_max_bytes, 67_108_864);
        assert_eq!(c.snapshot, None);
        assert_eq!(c.min_catalog_fraction, 0.5);
        assert_eq!(c.drop_window, 3600);
        assert!(!c.fetch_limits().allow_insecure);
        assert_eq!(c.header_timeout, 5);
        assert_eq!(c.max_connections, 10_000);
        assert_eq!(c.admin_max_connections, 64);
        assert!(c.api_keys_file.is_none() && c.jwks.is_none() && c.rate_limit.is_none());
        assert!(!c.trust_forwarded_for && !c.allow_insecure_feed);
        let budget = c.ledger_config().budget;
        assert_eq!(budget.sync_interval, Duration::from_secs(1));
        assert_eq!(budget.on_store_failure, OnStoreFailure::Open);
        assert_eq!(budget.frequency_entries, 1_000_000);
    }

    #[test]
    fn budget_flags_parse() {
        let c = Config::try_parse_from([
            "adserver",
            "--budget-sync-interval",
            "2",
            "--budget-on-store-failure",
            "closed",
        ])
        .unwrap();
        let budget = c.ledger_config().budget;
        assert_eq!(budget.sync_interval, Duration::from_secs(2));
        assert_eq!(budget.on_store_failure, OnStoreFailure::Closed);
        assert!(Config::try_parse_from(["adserver", "--budget-sync-interval", "0"]).is_err());
        assert!(
            Config::try_parse_from(["adserver", "--budget-on-store-failure", "maybe"]).is_err()
        );
    }

    #[test]
    fn security_flags_parse() {
        let c = Config::try_parse_from([
            "adserver",
            "--jwks",
            "keys.json",
            "--jwt-audience",
            "games",
            "--rate-limit",
            "50",
            "--trust-forwarded-for",
        ])
        .unwrap();
        assert_eq!(c.jwks, Some(Source::File("keys.json".into())));
        assert_eq!(c.jwt_audience.as_deref(), Some("games"));
        assert_eq!(c.rate_limit, Some(50));
        assert!(c.trust_forwarded_for);
        assert!(Config::try_parse_from(["adserver", "--jwt-issuer", "x"]).is_err());
        let feed_max = |v: &str| Config::try_parse_from(["adserver", "--feed-max-bytes", v]);
        assert!(feed_max("0").is_err());
        assert!(feed_max("2147483649").is_err(), "past 2 GiB");
        assert_eq!(
            feed_max("2147483648").unwrap().feed_max_bytes,
            MAX_FEED_BYTES
        );
        assert!(Config::try_parse_from(["adserver", "--rate-limit", "0"]).is_err());
        assert!(Config::try_parse_from(["adserver", "--max-connections", "0"]).is_err());
        assert!(Config::try_parse_from(["adserver", "--admin-max-connections", "0"]).is_err());
        let c = Config::try_parse_from(["adserver", "--admin-max-connections", "8"]).unwrap();
        assert_eq!(c.server_options().admin_max_connections, 8);
    }

    #[test]
    fn flags_parse() {
        let c = Config::try_parse_from([
            "adserver",
            "--feed",
            "data/ads.json",
            "--timezone",
            "+05:30",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap();
        assert_eq!(c.feed, Source::File("data/ads.json".into()));
        assert_eq!(c.timezone, "+05:30".parse().unwrap());
        assert!(Config::try_parse_from(["adserver", "--timezone", "Mars/Base"]).is_err());
        assert!(Config::try_parse_from(["adserver", "--refresh-interval", "0"]).is_err());
        assert!(Config::try_parse_from(["adserver", "--min-catalog-fraction", "1.5"]).is_err());
        assert!(Config::try_parse_from(["adserver", "--drop-window", "0"]).is_err());
        let c =
            Config::try_parse_from(["adserver", "--drop-window", "60", "--allow-insecure-feed"])
                .unwrap();
        assert_eq!(c.refresh_settings().drop_window, Duration::from_secs(60));
        assert!(
            c.fetch_limits().allow_insecure,
            "the rule reaches the fetcher"
        );
        assert!(c.refresh_settings().limits.allow_insecure);
    }

    #[test]
    fn help_names_every_variable() {
        let help = Config::command().render_long_help().to_string();
        for var in [
            "ADSERVER_LISTEN",
            "ADSERVER_ADMIN_LISTEN",
            "ADSERVER_FEED",
            "ADSERVER_TIMEZONE",
            "ADSERVER_REFRESH_INTERVAL",
            "ADSERVER_FEED_MAX_BYTES",
            "ADSERVER_SNAPSHOT",
            "ADSERVER_MIN_CATALOG_FRACTION",
            "ADSERVER_DROP_WINDOW",
            "ADSERVER_TRACKING",
            "ADSERVER_PUBLIC_URL",
            "ADSERVER_EVENT_KEY_FILE",
            "ADSERVER_EVENT_TTL",
            "ADSERVER_LEDGER",
            "ADSERVER_LEDGER_FLUSH_INTERVAL",
            "ADSERVER_BUDGET_SYNC_INTERVAL",
            "ADSERVER_BUDGET_ON_STORE_FAILURE",
            "ADSERVER_FREQUENCY_CAP_ENTRIES",
            "ADSERVER_HOUR_BASIS",
            "ADSERVER_HEADER_TIMEOUT",
            "ADSERVER_MAX_CONNECTIONS",
            "ADSERVER_ADMIN_MAX_CONNECTIONS",
            "ADSERVER_WRITE_TIMEOUT",
            "ADSERVER_API_KEYS_FILE",
            "ADSERVER_JWKS",
            "ADSERVER_JWT_ISSUER",
            "ADSERVER_JWT_AUDIENCE",
            "ADSERVER_RATE_LIMIT",
            "ADSERVER_TRUST_FORWARDED_FOR",
            "ADSERVER_ALLOW_INSECURE_FEED",
        ] {
            assert!(help.contains(var), "--help lacks {var}");
        }
    }
}
