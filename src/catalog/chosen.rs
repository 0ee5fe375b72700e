//! What the catalog keeps per ad for proof of delivery (README "Delivery"),
//! and [`Chosen`], the ad a request was given.
//!
//! Every ad's plain JSON body is built when the catalog compiles. The
//! tracked JSON template and the VAST template are built the first time an
//! ad is answered in that form and then shared: a million-ad catalog pays
//! for the templates of the ads actually served, not for all of them (the
//! first such answer of an ad allocates its template; every later one
//! allocates nothing). The served tally is the ledger's, taken by id on
//! the ad's first answer after the catalog is bound ([`Catalog::bind`]),
//! so a reloaded catalog counts into the same tallies as the one it
//! replaces, and an ad never served costs the ledger nothing; the budget
//! gates are taken at bind, so a reloaded catalog keeps its blocks.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use once_cell::race::OnceBox;

use super::Catalog;
use crate::budget::Gate;
use crate::delivery::creative::mime_from_extension;
use crate::delivery::{vast, Creative, Template, Tracking};
use crate::ledger::{AdTally, Ledger};

/// One ad's player fields when they are the defaults but for the numbers:
/// the MIME type from the URL's extension, the id as title, no click URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Video {
    pub duration: u16,
    pub width: u16,
    pub height: u16,
}

impl Video {
    /// The numbers of [`Creative::defaults`].
    pub const DEFAULT: Video = Video {
        duration: 30,
        width: 1920,
        height: 1080,
    };
}

/// What an ad's answers need once it has been answered: its served tally
/// and its two templates (the tracked JSON and the VAST document).
#[derive(Default)]
struct Served {
    tally: OnceLock<Arc<AdTally>>,
    json: OnceLock<Template>,
    vast: OnceLock<Template>,
}

/// Per ad: what its VAST document is made of, and what its answers need
/// once it has been answered.
#[derive(Default)]
pub(super) struct Delivered {
    /// The ads whose player fields are the defaults but for the numbers,
    /// by ad number; an ad in neither list has the defaults.
    videos: Box<[(u32, Video)]>,
    /// The ads whose player fields are not the defaults, by ad number.
    creatives: Box<[(u32, Creative)]>,
    /// Made on an ad's first answer: one word per ad until then (a tally
    /// for every ad was about 250 MiB at 1M ads; two `OnceLock`s per ad,
    /// one for the tally and one for the templates, were 32 MiB).
    served: Box<[OnceBox<Served>]>,
    /// Where the tallies come from; `None` until bound.
    ledger: Option<Arc<Ledger>>,
    /// Budget gates of the ads with a budget (as [`Catalog::budgeted`]
    /// lists them), `Some` for those with a daily or total cap; empty
    /// until bound.
    pub gates: Box<[Option<Arc<Gate>>]>,
}

impl std::fmt::Debug for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivered")
            .field("ads", &self.videos.len())
            .field("bound", &self.ledger.is_some())
            .finish_non_exhaustive()
    }
}

impl Delivered {
    pub fn new(
        videos: Box<[(u32, Video)]>,
        creatives: Box<[(u32, Creative)]>,
        n: usize,
    ) -> Delivered {
        Delivered {
            videos,
            creatives,
            served: (0..n).map(|_| OnceBox::new()).collect(),
            ledger: None,
            gates: Box::default(),
        }
    }
}

impl Catalog {
    /// Counts this catalog's answers into `ledger` (each ad's tally is
    /// taken by id on its first answer: the same tally a previous catalog
    /// counted into) and takes the budget gates. Done once, before
    /// publishing.
    pub fn bind(&mut self, ledger: &Arc<Ledger>) {
        self.delivered.ledger = Some(Arc::clone(ledger));
        let budgets = ledger.budgets();
        self.delivered.gates = self
            .budgeted
            .iter()
            .map(|ad| ad.budget.counts_fleet().then(|| budgets.gate(&ad.id)))
            .collect();
    }

    /// Whether [`Catalog::bind`] has run (an empty catalog needs none).
    pub fn is_bound(&self) -> bool {
        self.delivered.ledger.is_some()
    }

    pub(super) fn chosen(&self, ad: u32) -> Chosen<'_> {
        Chosen { catalog: self, ad }
    }

    /// Ad number `n`'s player fields, defaults applied.
    pub(super) fn creative_of(&self, n: usize) -> Creative {
        let Delivered {
            videos, creatives, ..
        } = &self.delivered;
        if let Ok(at) = creatives.binary_search_by_key(&(n as u32), |c| c.0) {
            return creatives[at].1.clone();
        }
        let video = match videos.binary_search_by_key(&(n as u32), |v| v.0) {
            Ok(at) => videos[at].1,
            Err(_) => Video::DEFAULT,
        };
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
    /// `{"id":…,"video_url":…}`, prebuilt: a handle on the catalog's
    /// copy (one atomic increment, no allocation).
    #[inline]
    pub fn body(&self) -> Bytes {
        self.catalog.bodies.shared(self.ad as usize)
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
        self.catalog.id_hash_of(self.ad as usize)
    }

    /// The ledger's tally for this ad; `None` before [`Catalog::bind`].
    /// The ad's first answer takes it from the ledger (a lock and, for an
    /// id never counted, an allocation); every later one reads the slot.
    #[inline]
    pub fn tally(&self) -> Option<&'c AdTally> {
        let delivered = &self.catalog.delivered;
        let ledger = delivered.ledger.as_ref()?;
        Some(self.served().tally.get_or_init(|| ledger.tally(self.id())))
    }

    /// The ad's tally and templates, made on its first answer. Two first
    /// answers at once may both make one; one is kept, the other dropped.
    fn served(&self) -> &'c Served {
        self.catalog.delivered.served[self.ad as usize].get_or_init(Box::default)
    }

    /// The JSON answer with `serving_id` and `event_url`.
    pub(crate) fn json_template(&self) -> &'c Template {
        self.served().json.get_or_init(|| {
            Template::json_ad(self.id(), self.catalog.video_url_of(self.ad as usize))
        })
    }

    /// The VAST document. `tracking` is the process's one setting, so the
    /// template built first is the only one ever asked for.
    pub(crate) fn vast_template(&self, tracking: Tracking) -> &'c Template {
        self.served().vast.get_or_init(|| {
            let n = self.ad as usize;
            let creative = self.catalog.creative_of(n);
            vast::compile(self.id(), self.catalog.video_url_of(n), &creative, tracking)
        })
    }
}
