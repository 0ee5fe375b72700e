//! Proof of delivery, the pieces of it that sit on the request path (README
//! "Delivery"): the per-ad video fields ([`creative`]), VAST documents
//! compiled into templates ([`vast`]), serving ids and signed event tokens
//! ([`token`], keyed by [`key`]), and a response body spliced from shared
//! prebuilt parts and per-request text without allocating ([`body`]).
//!
//! Nothing here routes requests, reads the feed or counts events: `http`
//! and `feed` call in, and the ledger counts what `/event` verified.

pub mod body;
pub mod counters;
pub mod creative;
pub mod key;
pub mod token;
pub mod vast;

use std::sync::Arc;

use crate::ledger::store::memory::MemoryStore;
use crate::ledger::{Ledger, LedgerConfig};

pub use body::{Splice, SplicedBody, Template};
pub use counters::EventCounters;
pub use creative::{Creative, CreativeError, CreativeRef, Raw, RawCreative};
pub use key::{EventKey, KeyError};
pub use token::{sign, verify, Reject, ServingId, ServingIds, Token, Verified};

/// Whether answers carry our event URLs (`--tracking on|off`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Tracking {
    #[default]
    On,
    Off,
}

/// What the request path and `/event` need to hand out and check beacons,
/// and the ledger they count into. Built once at start.
pub struct Delivery {
    pub tracking: Tracking,
    /// Signs and verifies event tokens; every replica shares it.
    pub key: EventKey,
    pub serving_ids: ServingIds,
    /// `--public-url`, checked by [`body::check_base`]; `None`: `http://` +
    /// the request's `Host`.
    pub public_url: Option<Box<str>>,
    /// `--event-ttl`, in seconds.
    pub event_ttl: u64,
    pub ledger: Arc<Ledger>,
    pub counters: EventCounters,
}

impl Delivery {
    /// Tracking on, a random key, and an in-memory ledger without a
    /// flusher thread (`/stats` flushes before it reads): what tests and
    /// examples get unless they say otherwise.
    pub fn in_memory() -> Delivery {
        let config = LedgerConfig::default();
        Delivery {
            tracking: Tracking::On,
            key: EventKey::random().expect("the system has a random source"),
            serving_ids: ServingIds::new().expect("the system has a random source"),
            public_url: None,
            event_ttl: 3600,
            ledger: Arc::new(Ledger::new(Box::new(MemoryStore::default()), &config)),
            counters: EventCounters::default(),
        }
    }
}
