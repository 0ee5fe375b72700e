//! Keeping the catalog in step with the feed: load at start, reload every
//! refresh interval, and keep the current catalog whenever a load fails.
//!
//! Fetching, parsing and compiling are blocking work, so they run on
//! tokio's blocking pool, never on the workers that answer requests. The
//! new catalog goes live with one `arc-swap` store.

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::feed::{self, FeedError, FeedSource, FetchLimits};
use crate::http::State;

/// Loads the feed once and publishes it; on failure the live catalog stays.
pub async fn refresh_once(
    state: &Arc<State>,
    source: &FeedSource,
    limits: &FetchLimits,
) -> Result<(), FeedError> {
    let (source, limits) = (source.clone(), limits.clone());
    let loaded = tokio::task::spawn_blocking(move || {
        feed::load(&source, &limits).map(|feed| {
            for skipped in &feed.skipped {
                tracing::warn!("skipping {skipped}");
            }
            (Catalog::compile(&feed), feed.skipped.len())
        })
    })
    .await
    .expect("feed loading does not panic");
    match loaded {
        Ok((catalog, skipped)) => {
            tracing::info!(ads = catalog.len(), skipped, "catalog loaded");
            state.publish(catalog);
            Ok(())
        }
        Err(e) => {
            state.metrics.refresh_failed(e.reason());
            if state.is_ready() {
                tracing::warn!(error = %e, "feed refresh failed; keeping the current catalog");
            } else {
                tracing::error!(error = %e, "feed load failed; no catalog yet, answering 503");
            }
            Err(e)
        }
    }
}

/// Reloads every `interval`, forever; the caller does the first load.
/// While no catalog has loaded, retries come sooner (every [`COLD_RETRY`]
/// at most), since every ad request is answering 503 meanwhile.
pub async fn run(state: Arc<State>, source: FeedSource, limits: FetchLimits, interval: Duration) {
    loop {
        let wait = if state.is_ready() {
            interval
        } else {
            interval.min(COLD_RETRY)
        };
        tokio::time::sleep(wait).await;
        let _ = refresh_once(&state, &source, &limits).await;
    }
}

const COLD_RETRY: Duration = Duration::from_secs(2);
