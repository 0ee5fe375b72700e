//! What the catalog keeps per ad for proof of delivery (README "Delivery"),
//! and [`Chosen`], the ad a request was given.
//!
//! Every ad's plain JSON body is built when the catalog compiles. The
//! tracked JSON template and the VAST template are built the first time an
//! ad is answered in that form and then shared: a million-ad catalog pays
//! for the templates of the ads actually served, not for all of them (the
//! first such answer of an ad allocates its template; every later one
//! allocates nothing). The served tally is the ledger's, bound when the
//! catalog is published ([`Catalog::bind`]), so a reloaded catalog counts
//! into the same tallies as the one it replaces; so are the budget gates,
//! so a reloaded catalog keeps its blocks.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::Catalog;
use crate::budget::Gate;
use crate::delivery::creative::mime_from_extension;
use crate::delivery::{vast, Creative, Template, Tracking};
use crate::ledger::{AdTally, Ledger};

/// One ad's player fields when they are the defaults but for the numbers:
/// the MIME type from the URL's extension, the id as title, no click URL.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Video {
    pub duration: u16,
    pub width: u16,
    pub height: u16,
    /// The creative is not the defaults: it is in [`Delivered::creatives`].
    pub given: bool,
}

/// One ad's answers compiled: the tracked JSON and the VAST document.
#[derive(Default)]
struct Templates {
    json: OnceLock<Template>,
    vast: OnceLock<Template>,
}

/// Per ad: what its VAST document is made of, its templates once built,
/// and its served tally once bound.
#[derive(Default)]
pub(super) struct Delivered {
    /// The player fields, by ad number.
    videos: Box<[Video]>,
    /// The ads whose player fields are not the defaults, by ad number.
    creatives: Box<[(u32, Creative)]>,
    /// Built on an ad's first answer: one word and a flag per ad until
    /// then (two of each, for two templates, were 32 MiB at 1M ads).
    templates: Box<[OnceLock<Box<Templates>>]>,
    tallies: Box<[Arc<AdTally>]>,
    /// Budget gates of the ads with a budget (as [`Catalog::budgeted`]
    /// lists them), `Some` for those with a daily or total cap; empty
    /// until bound.
    pub gates: Box<[Option<Arc<Gate>>]>,
}

impl std::fmt::Debug for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivered")
            .field("ads", &self.videos.len())
            .field("bound", &!self.tallies.is_empty())
            .finish_non_exhaustive()
    }
}

impl Delivered {
    pub fn new(videos: Box<[Video]>, creatives: Box<[(u32, Creative)]>, n: usize) -> Delivered {
        Delivered {
            videos,
            creatives,
            templates: (0..n).map(|_| OnceLock::new()).collect(),
            tallies: Box::default(),
            gates: Box::default(),
        }
    }
}

impl Catalog {
    /// Takes each ad's served tally from `ledger` (by id: the same tally a
    /// previous catalog counted into). Done once, before publishing.
    pub fn bind(&mut self, ledger: &Ledger) {
        self.delivered.tallies = (0..self.len())
            .map(|n| ledger.tally(self.id_of(n)))
            .collect();
        let budgets = ledger.budgets();
        self.delivered.gates = self
            .budgeted
            .iter()
            .map(|ad| ad.budget.counts_fleet().then(|| budgets.gate(&ad.id)))
            .collect();
    }

    /// Whether [`Catalog::bind`] has run (an empty catalog needs none).
    pub fn is_bound(&self) -> bool {
        self.delivered.tallies.len() == self.len()
    }

    pub(super) fn chosen(&self, ad: u32) -> Chosen<'_> {
        Chosen { catalog: self, ad }
    }

    /// Ad number `n`'s player fields, defaults applied.
    pub(super) fn creative_of(&self, n: usize) -> Creative {
        let video = self.delivered.videos[n];
        if video.given {
            let creatives = &self.delivered.creatives;
            let at = creatives
                .binary_search_by_key(&(n as u32), |c| c.0)
                .expect("a given creative is listed");
            return creatives[at].1.clone();
        }
        Creative {
            duration: video.duration.into(),
            mime_type: mime_from_extension(self.video_url_of(n)).to_owned(),
            width: video.width.into(),
            height: video.height.into(),
            title: self.id_of(n).to_owned(),
            click_url: None,
        }
    }
}

/// The ad a request was given.
#[derive(Clone, Copy)]
pub struct Chosen<'c> {
    catalog: &'c Catalog,
    /// The ad's number in the catalog.
    pub(super) ad: u32,
}

impl<'c> Chosen<'c> {
    /// `{"id":…,"video_url":…}`, prebuilt.
    #[inline]
    pub fn body(&self) -> &'c Bytes {
        &self.catalog.bodies[self.ad as usize]
    }

    #[inline]
    pub fn id(&self) -> &'c str {
        self.catalog.id_of(self.ad as usize)
    }

    /// The ad's budget (README "Budgets").
    #[inline]
    pub fn budget(&self) -> &'c crate::budget::Budget {
        self.catalog.budget_of(self.ad as usize)
    }

    /// The hash `exclude` and frequency caps know the ad by.
    #[inline]
    pub fn id_hash(&self) -> u64 {
        self.catalog.id_hashes[self.ad as usize]
    }

    /// The ledger's tally for this ad; `None` before [`Catalog::bind`].
    #[inline]
    pub fn tally(&self) -> Option<&'c AdTally> {
        self.catalog
            .delivered
            .tallies
            .get(self.ad as usize)
            .map(|t| &**t)
    }

    fn templates(&self) -> &'c Templates {
        self.catalog.delivered.templates[self.ad as usize].get_or_init(Box::default)
    }

    /// The JSON answer with `serving_id` and `event_url`.
    pub(crate) fn json_template(&self) -> &'c Template {
        self.templates().json.get_or_init(|| {
            Template::json_ad(self.id(), self.catalog.video_url_of(self.ad as usize))
        })
    }

    /// The VAST document. `tracking` is the process's one setting, so the
    /// template built first is the only one ever asked for.
    pub(crate) fn vast_template(&self, tracking: Tracking) -> &'c Template {
        self.templates().vast.get_or_init(|| {
            let n = self.ad as usize;
            let creative = self.catalog.creative_of(n);
            vast::compile(self.id(), self.catalog.video_url_of(n), &creative, tracking)
        })
    }
}
