//! Keeping the catalog in step with the feed: conditional reloads on a
//! jittered interval, last-known-good on every failure, a snapshot for cold
//! starts, and reload on demand.
//!
//! Fetching, hashing, parsing and compiling run on a low-priority
//! [`Background`] thread, never on the workers that answer requests; the
//! new catalog goes live with one `arc-swap` store. This module decides *whether* a new catalog
//! goes live; [`crate::feed`] and [`crate::catalog`] do the work. It sees
//! the server only through a [`Publisher`] (the catalog slot, the metrics,
//! the clock), and its loop ends on the server's [`Shutdown`].

mod drop_guard;
mod publish;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::background::{Background, Shutdown};
use crate::catalog::{Builder, Catalog};
use crate::feed::{self, snapshot, FailureReason, FeedError, Sink};
use crate::fetch::{FetchLimits, Fetched, Source, Validators};
use drop_guard::DropGuard;
pub use publish::Publisher;

/// How the feed is followed.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    pub source: Source,
    pub limits: FetchLimits,
    /// Between good refreshes, ±10%.
    pub interval: Duration,
    /// Where each new good feed is saved, and read at a cold start.
    pub snapshot: Option<PathBuf>,
    /// A feed whose valid ads fall below this fraction of the largest
    /// catalog accepted within `drop_window` is refused as a suspicious
    /// drop; 0 turns the guard off.
    pub min_fraction: f64,
    /// How long an accepted catalog's size holds the guard up.
    pub drop_window: Duration,
}

impl RefreshSettings {
    pub fn new(source: Source) -> RefreshSettings {
        RefreshSettings {
            source,
            limits: FetchLimits::default(),
            interval: Duration::from_secs(60),
            snapshot: None,
            min_fraction: 0.5,
            drop_window: Duration::from_secs(3600),
        }
    }
}

/// What a successful refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A new catalog went live.
    Loaded { ads: usize, skipped: usize },
    /// The feed answered 304 or the same bytes: nothing was rebuilt.
    Unchanged,
}

/// Why a refresh kept the live catalog.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(
        "feed has {ads} valid ads, under {min_fraction} of the {previous} accepted within the \
         last {window_secs} s: refused as a suspicious drop"
    )]
    Drop {
        ads: usize,
        /// The largest catalog accepted within the drop window.
        previous: usize,
        min_fraction: f64,
        window_secs: u64,
    },
}

impl RefreshError {
    /// Why, as the metrics count it.
    pub fn reason(&self) -> FailureReason {
        match self {
            RefreshError::Feed(e) => e.reason(),
            RefreshError::Drop { .. } => FailureReason::Drop,
        }
    }
}

/// What the live catalog was built from.
#[derive(Debug, Clone)]
struct LastGood {
    hash: u64,
    validators: Validators,
    ads: usize,
}

/// The blocking part's verdict.
enum Step {
    Unchanged,
    New {
        catalog: Box<Catalog>,
        last: LastGood,
        skipped: usize,
    },
}

/// Follows the feed, publishing through one [`Publisher`].
pub struct Refresher {
    publisher: Publisher,
    settings: RefreshSettings,
    last: Option<LastGood>,
    /// The live catalog came from the snapshot, not the feed; exported as
    /// the `adserver_catalog_stale` gauge, never read back from it.
    stale: bool,
    guard: DropGuard,
    worker: Background,
    /// The allocation the feed is read into, kept between refreshes.
    document: Document,
}

impl Refresher {
    pub fn new(publisher: Publisher, settings: RefreshSettings) -> Refresher {
        Refresher {
            publisher,
            guard: DropGuard::new(settings.drop_window),
            settings,
            last: None,
            stale: false,
            worker: Background::spawn("adserver-refresh").expect("start the refresh thread"),
            document: Document::default(),
        }
    }

    /// Whether the live catalog is the snapshot's, waiting for the feed.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    fn set_stale(&mut self, stale: bool) {
        self.stale = stale;
        self.publisher.metrics().set_stale(stale);
    }

    /// Fetches the feed once and, if it is new and sound, makes it live.
    /// On any error the live catalog stays, and the failure is counted.
    pub async fn refresh(&mut self) -> Result<Refreshed, RefreshError> {
        let settings = self.settings.clone();
        let last = self.last.clone();
        let largest = self.guard.largest(self.publisher.now());
        let ledger = self.publisher.binder();
        let mut document = std::mem::take(&mut self.document);
        let (step, document) = self
            .worker
            .run(move || {
                let mut step = build(&settings, last.as_ref(), largest, &mut document);
                if let Ok(Step::New { catalog, .. }) = &mut step {
                    catalog.bind(&ledger);
                }
                (step, document)
            })
            .await;
        self.document = document;
        match step {
            Ok(Step::Unchanged) => {
                if let Some(last) = &self.last {
                    self.guard.accepted(self.publisher.now(), last.ads);
                }
                self.publisher.metrics().feed_unchanged();
                self.publisher.metrics().feed_succeeded();
                tracing::debug!("feed unchanged; nothing rebuilt");
                Ok(Refreshed::Unchanged)
            }
            Ok(Step::New {
                catalog,
                last,
                skipped,
            }) => {
                let ads = catalog.len();
                self.retire(self.publisher.publish(*catalog)).await;
                self.publisher.metrics().feed_succeeded();
                self.guard.accepted(self.publisher.now(), last.ads);
                self.last = Some(last);
                tracing::info!(ads, skipped, "catalog loaded");
                Ok(Refreshed::Loaded { ads, skipped })
            }
            Err(e) => {
                self.publisher.metrics().refresh_failed(e.reason());
                if self.publisher.is_ready() {
                    tracing::warn!(error = %e, "feed refresh failed; keeping the current catalog");
                } else {
                    tracing::error!(error = %e, "feed load failed; no catalog yet, answering 503");
                }
                Err(e)
            }
        }
    }

    /// Frees a replaced catalog on the background thread, not on a worker
    /// that should be answering requests.
    async fn retire(&self, old: Option<Arc<Catalog>>) {
        if let Some(old) = old {
            self.worker.run(move || drop(old)).await;
        }
    }

    /// The first load. If the feed cannot be loaded and a snapshot exists,
    /// serves the snapshot (stale) instead; either way [`Refresher::run`]
    /// keeps trying the feed.
    pub async fn start(&mut self) {
        if self.refresh().await.is_ok() {
            return;
        }
        let Some(path) = self.settings.snapshot.clone() else {
            return;
        };
        let from_snapshot = RefreshSettings {
            source: Source::File(path.clone()),
            snapshot: None,
            min_fraction: 0.0,
            ..self.settings.clone()
        };
        let step = self
            .worker
            .run(move || build(&from_snapshot, None, None, &mut Document::default()))
            .await;
        match step {
            Ok(Step::New { catalog, last, .. }) => {
                tracing::warn!(
                    snapshot = %path.display(),
                    ads = catalog.len(),
                    "feed unavailable: serving the stale snapshot until the feed answers"
                );
                self.retire(self.publisher.publish(*catalog)).await;
                self.set_stale(true);
                self.guard.accepted(self.publisher.now(), last.ads);
                // The validators belong to the feed, not to the file.
                self.last = Some(LastGood {
                    validators: Validators::default(),
                    ..last
                });
            }
            Ok(Step::Unchanged) => {
                unreachable!("a build without a last catalog is never unchanged")
            }
            Err(e) => tracing::error!(snapshot = %path.display(), error = %e, "snapshot unusable"),
        }
    }

    /// Refreshes until `shutdown`: every interval (±10%) after a success,
    /// with exponential backoff and jitter after failures, and at once
    /// when `wake` is notified (SIGHUP). A refresh under way when the
    /// signal comes is abandoned: the process is ending, and its
    /// background thread finishes alone.
    pub async fn run(mut self, wake: Arc<Notify>, mut shutdown: Shutdown) {
        let mut failures = 0;
        if !self.publisher.is_ready() || self.stale {
            failures = 1;
        }
        loop {
            let wait = if failures == 0 {
                jittered(self.settings.interval)
            } else {
                backoff(failures, self.settings.interval)
            };
            tokio::select! {
                biased;
                () = shutdown.recv() => break,
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => tracing::info!("refreshing the feed on demand"),
            }
            let refreshed = tokio::select! {
                biased;
                () = shutdown.recv() => break,
                refreshed = self.refresh() => refreshed,
            };
            match refreshed {
                Ok(_) => {
                    failures = 0;
                    self.set_stale(false);
                }
                Err(_) => failures += 1,
            }
        }
        tracing::debug!("feed refresh stopped");
    }
}

/// The allocation a feed is read into, handed from one refresh to the next:
/// read into a fresh allocation each time, a 1M-ad feed (124 MiB) landed
/// somewhere new in the allocator's memory while the old one's place was
/// taken in part by smaller blocks, and the resident set of a server
/// rebuilding every 2 s crept up by 32 MiB every few rebuilds (603 to
/// 667 MiB over 12); kept, it levels off (README "Catalog size").
#[derive(Default)]
struct Document(Vec<u8>);

impl Document {
    /// Takes back a parsed document's allocation, unless it is more than
    /// twice what the document needed (a feed that shrank): that one is
    /// freed for other use.
    fn keep(&mut self, mut bytes: Vec<u8>) {
        if bytes.capacity() <= bytes.len().saturating_mul(2) {
            bytes.clear();
            self.0 = bytes;
        }
    }
}

/// Fetch, compare, parse, guard, compile, save: all blocking. `largest` is
/// the drop guard's reference: the largest catalog of the window. The feed
/// is read into `document`'s allocation, handed back once parsed.
fn build(
    settings: &RefreshSettings,
    last: Option<&LastGood>,
    largest: Option<usize>,
    document: &mut Document,
) -> Result<Step, RefreshError> {
    let fetched = settings
        .source
        .fetch_into(
            &settings.limits,
            last.map(|l| &l.validators),
            &mut document.0,
        )
        .map_err(FeedError::from)?;
    let (bytes, validators) = match fetched {
        Fetched::NotModified => return Ok(Step::Unchanged),
        Fetched::Body { bytes, validators } => (bytes, validators),
    };
    let hash = FEED_HASH.hash_one(&bytes);
    if last.is_some_and(|l| l.hash == hash) {
        document.keep(bytes);
        return Ok(Step::Unchanged);
    }
    // The snapshot is written only after the feed proves good, and the
    // parser consumes its buffer, so keep the raw bytes when one is wanted.
    let raw = settings.snapshot.as_ref().map(|_| bytes.clone());
    // The catalog is built as the feed is read: no parsed copy of every ad
    // is made on the way (README "Catalog size").
    let mut builder = Builder::new();
    let mut bytes = bytes;
    let parsed = feed::parse_into(&mut bytes, &mut builder);
    document.keep(bytes);
    let skips = parsed?;
    let ads = builder.len();
    if let Some(largest) = largest {
        if (ads as f64) < largest as f64 * settings.min_fraction {
            return Err(RefreshError::Drop {
                ads,
                previous: largest,
                min_fraction: settings.min_fraction,
                window_secs: settings.drop_window.as_secs(),
            });
        }
    }
    skips.log();
    let skipped = skips.counts.total();
    let catalog = builder.finish(skips);
    if let (Some(path), Some(raw)) = (&settings.snapshot, raw) {
        match snapshot::save(path, &raw) {
            Ok(()) => tracing::debug!(snapshot = %path.display(), "snapshot saved"),
            Err(e) => {
                tracing::warn!(snapshot = %path.display(), error = %e, "cannot save the snapshot")
            }
        }
    }
    Ok(Step::New {
        catalog: Box::new(catalog),
        last: LastGood {
            hash,
            validators,
            ads,
        },
        skipped,
    })
}

/// Fixed seeds: the hash only compares bodies within one process, but a
/// fixed hasher keeps it reproducible in logs and tests.
const FEED_HASH: ahash::RandomState = ahash::RandomState::with_seeds(1, 2, 3, 4);

/// `interval` ±10%, so a fleet started together does not poll in step.
pub(crate) fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(fastrand::f64().mul_add(0.2, 0.9))
}

/// After the `failures`-th failure in a row: 1 s doubling each time, capped
/// at `interval`, then a random half of it dropped (jitter).
pub(crate) fn backoff(failures: u32, interval: Duration) -> Duration {
    let ceiling = Duration::from_secs(1)
        .saturating_mul(1 << failures.saturating_sub(1).min(20))
        .min(interval);
    ceiling.mul_f64(fastrand::f64().mul_add(0.5, 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documents_allocation_is_kept_unless_the_feed_shrank() {
        let mut document = Document::default();
        let mut read = Vec::with_capacity(1000);
        read.resize(600, b' ');
        let at = read.as_ptr();
        document.keep(read);
        assert_eq!((document.0.as_ptr(), document.0.len()), (at, 0));
        let mut small = std::mem::take(&mut document.0);
        small.resize(400, b' ');
        document.keep(small);
        assert_eq!(document.0.capacity(), 0, "1000 bytes for a 400-byte feed");
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let interval = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..1000).map(|_| jittered(interval)).collect();
        assert!(waits
            .iter()
            .all(|w| (54.0..=66.0).contains(&w.as_secs_f64())));
        let spread =
            waits.iter().max().unwrap().as_secs_f64() - waits.iter().min().unwrap().as_secs_f64();
        assert!(spread > 6.0, "waits are spread out, not constant: {spread}");
    }

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let interval = Duration::from_secs(60);
        for (failures, ceiling) in [
            (1, 1.0),
            (2, 2.0),
            (3, 4.0),
            (6, 32.0),
            (7, 60.0),
            (40, 60.0),
        ] {
            for _ in 0..100 {
                let wait = backoff(failures, interval).as_secs_f64();
                assert!(
                    (ceiling / 2.0..=ceiling).contains(&wait),
                    "failure {failures}: {wait} not in {ceiling}/2..={ceiling}"
                );
            }
        }
    }
}
