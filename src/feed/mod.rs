//! The campaign feed: parsing and validating it, and what a parsed feed
//! holds. Reading it (file or HTTP, within limits, every redirect checked)
//! is [`crate::fetch`]'s, which the JWKS uses too.
//!
//! This module owns every byte of the document once it has arrived. It never touches the serving table: [`crate::catalog`]
//! compiles what [`load`] returns.

mod parse;
mod reason;
mod scan;
pub mod skipped;
pub mod snapshot;
mod validate;

pub use parse::parse;
pub use reason::FailureReason;
pub use skipped::{Rule, SkipCounts, Skipped};

use crate::budget::Budget;
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::delivery::Creative;
use crate::fetch::FetchError;
use crate::window::Window;

/// One valid ad, codes lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ad {
    pub id: String,
    pub video_url: String,
    /// A country, or [`Country::ANY`] for `"*"`.
    pub country: Country,
    /// A language, or [`Lang::ANY`] for `"*"`.
    pub lang: Lang,
    pub window: Window,
    /// Share of its bucket's rotation; 1 unless the feed says otherwise.
    pub weight: u32,
    /// The zone this ad's hours are read in, when the feed names one.
    pub zone: Option<Zone>,
    /// What a video player needs beyond the URL (README "Delivery").
    pub creative: Creative,
    /// Caps, pacing and frequency cap (README "Budgets"); none by default.
    pub budget: Budget,
}

/// A parsed feed: the ads to serve and the ones skipped.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub ads: Vec<Ad>,
    /// The skipped entries kept for the log and `/explain`: a bounded few
    /// ([`skipped`] says which), not all of them.
    pub skipped: Vec<Skipped>,
    /// Every skipped entry, counted per rule.
    pub skip_counts: SkipCounts,
}

impl Feed {
    /// Logs the skipped entries: a few by name per rule, then a count.
    pub fn log_skipped(&self) {
        skipped::log_skipped(&self.skipped, &self.skip_counts);
    }
}

/// Why a whole feed document was not used.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed {0}")]
    Fetch(#[from] FetchError),
    #[error("feed is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("feed has no \"ads\" array")]
    NoAdsArray,
}

impl FeedError {
    /// Why, as the metrics count it.
    pub fn reason(&self) -> FailureReason {
        match self {
            FeedError::Fetch(e) => FailureReason::of_fetch(e),
            FeedError::InvalidJson(_) => FailureReason::InvalidJson,
            FeedError::NoAdsArray => FailureReason::NoAdsArray,
        }
    }
}
