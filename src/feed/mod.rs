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

pub use parse::{parse, parse_into};
pub use reason::FailureReason;
pub use skipped::{Rule, SkipCounts, Skipped};

use crate::budget::Budget;
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::delivery::{Creative, CreativeRef};
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

impl Ad {
    /// The same ad, borrowed, as the parser hands it to a [`Sink`].
    pub fn borrowed(&self) -> AdRef<'_> {
        AdRef {
            id: &self.id,
            video_url: &self.video_url,
            country: self.country,
            lang: self.lang,
            window: self.window,
            weight: self.weight,
            zone: self.zone,
            creative: self.creative.borrowed(),
            budget: self.budget,
        }
    }
}

/// One valid ad still borrowing its text from the document: what the
/// parser hands a [`Sink`], so a catalog can be compiled while the feed is
/// read, without an owned copy of every ad in between.
#[derive(Debug, Clone, Copy)]
pub struct AdRef<'a> {
    pub id: &'a str,
    pub video_url: &'a str,
    pub country: Country,
    pub lang: Lang,
    pub window: Window,
    pub weight: u32,
    pub zone: Option<Zone>,
    pub creative: CreativeRef<'a>,
    pub budget: Budget,
}

impl AdRef<'_> {
    pub fn to_owned(&self) -> Ad {
        Ad {
            id: self.id.to_owned(),
            video_url: self.video_url.to_owned(),
            country: self.country,
            lang: self.lang,
            window: self.window,
            weight: self.weight,
            zone: self.zone,
            creative: self.creative.to_owned(),
            budget: self.budget,
        }
    }
}

/// Where [`parse_into`] puts each valid ad, numbered from 0 in feed order.
pub trait Sink {
    fn push(&mut self, ad: AdRef<'_>);
    /// The id of ad number `n`: the parser checks repeats against it.
    fn id(&self, n: usize) -> &str;
    fn len(&self) -> usize;
    /// Room for about `ads` more ads: the parser's count of entries, capped
    /// by what the document's size could hold.
    fn reserve(&mut self, ads: usize) {
        let _ = ads;
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for Vec<Ad> {
    fn push(&mut self, ad: AdRef<'_>) {
        Vec::push(self, ad.to_owned());
    }
    fn id(&self, n: usize) -> &str {
        &self[n].id
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn reserve(&mut self, ads: usize) {
        Vec::reserve(self, ads);
    }
}

/// The entries of a document that were not served.
#[derive(Debug, Clone, Default)]
pub struct Skips {
    /// The skipped entries kept for the log and `/explain`: a bounded few
    /// ([`skipped`] says which), not all of them.
    pub kept: Vec<Skipped>,
    /// Every skipped entry, counted per rule.
    pub counts: SkipCounts,
}

impl Skips {
    /// Logs the skipped entries: a few by name per rule, then a count.
    pub fn log(&self) {
        skipped::log_skipped(&self.kept, &self.counts);
    }
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
