//! Proof of delivery, the pieces of it that sit on the request path (README
//! "Delivery"): the per-ad video fields ([`creative`]), VAST documents
//! compiled into templates ([`vast`]), serving ids and signed event tokens
//! ([`token`], keyed by [`key`]), and a response body spliced from shared
//! prebuilt parts and per-request text without allocating ([`body`]).
//!
//! Nothing here routes requests, reads the feed or counts events: `http`
//! and `feed` call in, and the ledger counts what `/event` verified.

pub mod body;
pub mod creative;
pub mod key;
pub mod token;
pub mod vast;

pub use body::{Splice, SplicedBody, Template};
pub use creative::{Creative, CreativeError, Raw, RawCreative};
pub use key::{EventKey, KeyError};
pub use token::{sign, verify, Reject, ServingId, ServingIds, Token, Verified};

/// Whether answers carry our event URLs (`--tracking on|off`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tracking {
    #[default]
    On,
    Off,
}
