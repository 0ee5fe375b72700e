//! The serving table: every valid ad compiled into a lookup from
//! `(country, lang, hour)` to the ads eligible then, with each ad's response
//! body serialised once.
//!
//! Wildcard ads (`"*"` country or language) live under their own keys, so a
//! request tries at most four buckets, most specific first, and the table
//! never grows with the number of pairs a wildcard could match. Weighted
//! buckets hold one unrolled smooth-weighted cycle ([`rotation`]).
//!
//! Compilation allocates freely; the request path ([`Catalog::select`])
//! does not allocate, format or lock: at most four hashes of a packed
//! integer, an index, and one atomic increment for rotation. A catalog is immutable once built
//! (but for its rotation cursors) and is shared through `arc-swap`.

use std::sync::atomic::AtomicU64;

use ahash::AHashMap;

use chrono::{DateTime, Utc};

use crate::budget::{Budget, Player};
use crate::clock::Zone;
use crate::codes::{Country, Lang, PairKey};
use crate::feed::{SkipCounts, Skipped};
use crate::window::Window;

mod bodies;
mod budget;
mod build;
mod chosen;
mod compile;
mod exclude;
mod explain;
mod members;
pub mod rotation;
mod turn;

pub use build::Builder;
pub use chosen::Chosen;
pub use exclude::{id_hash, id_tag, Exclude, MAX_EXCLUDED};
pub use explain::{BudgetFacts, Explanation, FrequencyFacts, Verdict};

/// Own-zone ads considered per request and pair level; more are ignored
/// (logged at compile time), which bounds the request path's work.
pub(crate) const MAX_ZONED: usize = 64;

/// One request's question, as [`Catalog::select`] and [`Catalog::explain`]
/// both take it.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub country: Country,
    pub lang: Lang,
    /// The basis hour (the server's clock or the player's), 0..=23.
    pub hour: u8,
    /// The instant ads with their own zone are judged at.
    pub now: DateTime<Utc>,
    /// Ads the game has just shown.
    pub exclude: &'a Exclude,
}

impl<'a> Lookup<'a> {
    /// A request for `(country, lang)` at `hour`, excluding nothing.
    pub fn new(country: Country, lang: Lang, hour: u8, now: DateTime<Utc>) -> Lookup<'a> {
        Lookup {
            country,
            lang,
            hour,
            now,
            exclude: &Exclude::NONE,
        }
    }
}

/// One `(country, lang, hour)` bucket: a cycle in `members` and its cursor.
#[derive(Debug, Default)]
struct Slot {
    cycle: members::CycleAt,
    /// Requests answered from this bucket so far; the next ad is
    /// `cursor % len`. 64 bits so it never wraps in practice, which would
    /// break the cycle for a `len` that does not divide 2^64.
    cursor: AtomicU64,
}

/// A run of an array: `[start..start + len]`.
#[derive(Debug, Clone, Copy)]
struct Run {
    start: u32,
    len: u32,
}

/// The compiled catalog.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Pair key → pair number; the pair's 24 slots start at `number * 24`.
    pairs: AHashMap<PairKey, u32>,
    slots: Box<[Slot]>,
    /// Every bucket's rotation cycle.
    members: members::Members,
    /// The 200 body of each ad, by ad number, packed into shared chunks.
    /// The id and the video URL are read back from it.
    bodies: bodies::Bodies,
    /// [`id_tag`] of each ad's id, by ad number: `exclude` passes over the
    /// ads it does not name without hashing their ids.
    id_tags: Box<[u32]>,
    /// Ads with their own `timezone`, pair after pair; `zoned_of[pair]`
    /// says where each pair's run is. Their hour depends on the instant,
    /// not on the bucket, so they are checked per request (only for pairs
    /// that have any).
    zoned: Box<[ZonedAd]>,
    zoned_of: Box<[Run]>,
    /// Each ad's targeting, by ad number; `/explain` reports it, with the
    /// skipped entries the feed kept (a bounded few per pair, see
    /// [`crate::feed::skipped`]).
    facts: Box<[Facts]>,
    /// The zone of each ad with one ([`Facts::own_zone`]), by ad number.
    zones: Box<[(u32, Zone)]>,
    skipped_entries: Box<[Skipped]>,
    /// The ads with a budget, in feed order; [`Facts::budget`] indexes it.
    budgeted: Box<[AdFacts]>,
    /// Ads whose body escapes their id or video URL, by ad number, with
    /// both as the feed gave them.
    escaped: Box<[Escaped]>,
    /// What [`Catalog::budget_of`] lends for an ad without a budget.
    unlimited: Budget,
    /// Per ad: VAST inputs, templates built on first use, served tallies.
    delivered: chosen::Delivered,
    /// Every skipped entry, counted per rule.
    skip_counts: SkipCounts,
    /// Whether any ad has a budget: without one, [`Catalog::select`] never
    /// looks at gates or players.
    limited: bool,
}

/// An ad whose hours are read in its own zone.
#[derive(Debug, Clone, Copy)]
struct ZonedAd {
    ad: u32,
    zone: Zone,
    window: Window,
}

/// One ad's targeting, compact: a million of these are kept.
#[derive(Debug, Clone, Copy)]
struct Facts {
    country: Country,
    lang: Lang,
    window: Window,
    weight: u32,
    /// Where its budget is in [`Catalog::budgeted`], or [`NO_BUDGET`].
    budget: u32,
    /// The id's length in the body, or [`ESCAPED`].
    id_len: u16,
    /// Its hours are read in its own zone, listed in [`Catalog::zones`]
    /// (kept apart: an `Option<Zone>` here was 8 bytes per ad).
    own_zone: bool,
}

/// An ad whose body escapes its id or video URL, with both as given.
#[derive(Debug)]
struct Escaped {
    ad: u32,
    id: Box<str>,
    video_url: Box<str>,
}

/// [`Facts::budget`] of an ad without one.
const NO_BUDGET: u32 = u32::MAX;
/// [`Facts::id_len`] of an ad listed in [`Catalog::escaped`].
const ESCAPED: u16 = u16::MAX;

/// The targeting and budget of an ad with a budget, as the budget sync
/// and `/stats` read it.
#[derive(Debug, Clone)]
pub struct AdFacts {
    pub id: Box<str>,
    /// [`id_hash`] of `id`, as frequency caps count it.
    pub id_hash: u64,
    pub country: Country,
    pub lang: Lang,
    pub window: Window,
    pub weight: u32,
    pub zone: Option<Zone>,
    /// Caps and pacing (README "Budgets").
    pub budget: Budget,
}

impl Catalog {
    /// The body of the next ad for a request: the most specific of
    /// `(country, lang)`, `(country, *)`, `(*, lang)`, `(*, *)` that has an
    /// ad eligible now rotates, skipping `exclude`d ads while another of
    /// that bucket remains. `None` when no level has an eligible ad.
    #[inline]
    pub fn select(&self, lookup: &Lookup) -> Option<Chosen<'_>> {
        self.select_for(lookup, None)
    }

    /// [`Catalog::select`] for a known player (a request's `uid`), whose
    /// frequency caps apply. An ad blocked by its budget, or capped for the
    /// player, is never served: a bucket whose eligible ads are all blocked
    /// falls through to the next level, then to no ad.
    #[inline]
    pub fn select_for(&self, lookup: &Lookup, player: Option<Player<'_>>) -> Option<Chosen<'_>> {
        let Lookup {
            country,
            lang,
            hour,
            now,
            exclude,
        } = *lookup;
        for key in PairKey::fallbacks(country, lang) {
            let Some(&pair) = self.pairs.get(&key) else {
                continue;
            };
            let slot = &self.slots[pair as usize * 24 + usize::from(hour % 24)];
            if self.zoned_of[pair as usize].len == 0 {
                if slot.cycle.len > 0 {
                    if let Some(ad) = self.turn(slot, &[], exclude, player) {
                        return Some(self.chosen(ad));
                    }
                }
                continue;
            }
            let mut zoned_now = [0u32; MAX_ZONED];
            let zoned = self.zoned_eligible(pair, now, &mut zoned_now);
            if slot.cycle.len > 0 || !zoned.is_empty() {
                if let Some(ad) = self.turn(slot, zoned, exclude, player) {
                    return Some(self.chosen(ad));
                }
            }
        }
        None
    }

    /// Valid ads in the catalog.
    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.len() == 0
    }

    /// Feed entries skipped by validation when this catalog was built.
    pub fn skipped(&self) -> usize {
        self.skip_counts.total()
    }

    /// [`Catalog::skipped`], per rule.
    pub fn skip_counts(&self) -> &SkipCounts {
        &self.skip_counts
    }

    /// The id of ad number `n`, as the feed gave it.
    #[inline]
    fn id_of(&self, n: usize) -> &str {
        match self.facts[n].id_len {
            ESCAPED => &self.escaped_of(n).id,
            len => std::str::from_utf8(&self.bodies.get(n)[build::ID_AT..][..usize::from(len)])
                .expect("the body holds the id as given"),
        }
    }

    /// The video URL of ad number `n`, as the feed gave it.
    fn video_url_of(&self, n: usize) -> &str {
        match self.facts[n].id_len {
            ESCAPED => &self.escaped_of(n).video_url,
            len => {
                let body = self.bodies.get(n);
                let start = build::ID_AT + usize::from(len) + build::BETWEEN;
                std::str::from_utf8(&body[start..body.len() - 2])
                    .expect("the body holds the URL as given")
            }
        }
    }

    /// The [`id_hash`] of ad number `n`'s id, as `exclude` and frequency
    /// caps know it: kept for an ad with a budget (frequency caps read it on
    /// the request path), computed when asked for the rest (8 bytes per ad
    /// otherwise).
    #[inline]
    fn id_hash_of(&self, n: usize) -> u64 {
        match self.budgeted_of(n) {
            Some(ad) => ad.id_hash,
            None => id_hash(self.id_of(n).as_bytes()),
        }
    }

    /// Whether `exclude` names ad number `n`: its tag first, then, for the
    /// rare tag that matches, its whole hash.
    #[inline]
    fn excluded(&self, exclude: &Exclude, n: usize) -> bool {
        exclude.may_contain(self.id_tags[n]) && exclude.contains(self.id_hash_of(n))
    }

    /// Ad number `n`'s own zone, if it has one.
    fn zone_of(&self, n: usize) -> Option<Zone> {
        if !self.facts[n].own_zone {
            return None;
        }
        let at = self
            .zones
            .binary_search_by_key(&(n as u32), |z| z.0)
            .expect("an own-zone ad is listed");
        Some(self.zones[at].1)
    }

    fn escaped_of(&self, n: usize) -> &Escaped {
        let at = self
            .escaped
            .binary_search_by_key(&(n as u32), |e| e.ad)
            .expect("an escaped ad is listed");
        &self.escaped[at]
    }

    /// The budget of ad number `n` (unlimited for most).
    #[inline]
    fn budget_of(&self, n: usize) -> &Budget {
        self.budgeted_of(n).map_or(&self.unlimited, |ad| &ad.budget)
    }

    /// Ad number `n`'s entry in [`Catalog::budgeted`], if it has a budget.
    #[inline]
    fn budgeted_of(&self, n: usize) -> Option<&AdFacts> {
        match self.facts[n].budget {
            NO_BUDGET => None,
            at => Some(&self.budgeted[at as usize]),
        }
    }

    /// The skipped feed entries kept for `/explain`, with the rule each
    /// broke: a bounded few, not all of them.
    pub fn skipped_entries(&self) -> &[Skipped] {
        &self.skipped_entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{Country, Lang};
    use crate::feed::{Ad, Feed};
    use crate::window::Window;
    use bytes::Bytes;

    fn ad(id: &str, country: &str, lang: &str, start: u8, end: u8) -> Ad {
        let video_url = format!("https://cdn.example.com/{id}.mp4");
        Ad {
            id: id.into(),
            creative: crate::delivery::Creative::defaults(id, &video_url),
            video_url,
            country: Country::parse(country.as_bytes()).unwrap(),
            lang: Lang::parse(lang.as_bytes()).unwrap(),
            window: Window::new(start, end),
            weight: 1,
            zone: None,
            budget: Default::default(),
        }
    }

    /// The next body for `country`/`lang` at `hour`, excluding nothing.
    fn select(c: &Catalog, country: &str, lang: &str, hour: u8) -> Option<Bytes> {
        let now = "2026-01-15T12:00:00Z".parse().unwrap();
        c.select(&Lookup::new(
            Country::parse(country.as_bytes()).unwrap(),
            Lang::parse(lang.as_bytes()).unwrap(),
            hour,
            now,
        ))
        .map(|ad| ad.body())
    }

    fn catalog(ads: Vec<Ad>) -> Catalog {
        Catalog::compile(&Feed {
            ads,
            ..Feed::default()
        })
    }

    #[test]
    fn body_is_the_ads_json() {
        let c = catalog(vec![ad("59d4fb16", "us", "eng", 0, 0)]);
        assert_eq!(
            select(&c, "us", "eng", 3).unwrap().as_ref(),
            br#"{"id":"59d4fb16","video_url":"https://cdn.example.com/59d4fb16.mp4"}"#
        );
    }

    #[test]
    fn body_escapes_json_specials() {
        let mut a = ad("x", "us", "eng", 0, 0);
        a.id = "q\"uo\\te".into();
        let c = catalog(vec![a]);
        let body = select(&c, "us", "eng", 0).unwrap();
        assert_eq!(
            body.as_ref(),
            br#"{"id":"q\"uo\\te","video_url":"https://cdn.example.com/x.mp4"}"#
        );
    }

    /// The id and the URL are read back from the body, unless the body
    /// escapes them; either way they come back as the feed gave them.
    #[test]
    fn ids_and_urls_read_back_as_given() {
        let mut escaped = ad("x", "us", "eng", 0, 0);
        escaped.id = "q\"uo\\te\u{1}".into();
        escaped.video_url = "https://cdn.example.com/\"x\".mp4".into();
        let plain = ad("é-plain", "us", "eng", 0, 0);
        let c = catalog(vec![escaped.clone(), plain.clone()]);
        let now = "2026-01-15T12:00:00Z".parse().unwrap();
        let lookup = Lookup::new(
            Country::parse(b"us").unwrap(),
            Lang::parse(b"eng").unwrap(),
            3,
            now,
        );
        for want in [&escaped, &plain] {
            let chosen = c.select(&lookup).unwrap();
            assert_eq!(chosen.id(), want.id);
            let n = chosen.ad as usize;
            assert_eq!(c.video_url_of(n), want.video_url);
            assert_eq!(c.creative_of(n), want.creative);
        }
        let ids: Vec<String> = c.explain(&lookup).ads.into_iter().map(|v| v.id).collect();
        assert_eq!(ids, [escaped.id, plain.id]);
    }

    #[test]
    fn only_the_pair_and_hour_match() {
        let c = catalog(vec![ad("a", "us", "eng", 1, 14)]);
        assert!(select(&c, "us", "eng", 1).is_some());
        assert!(select(&c, "us", "eng", 14).is_none());
        assert!(select(&c, "us", "spa", 1).is_none());
        assert!(select(&c, "ca", "eng", 1).is_none());
    }

    #[test]
    fn rotation_cycles_in_feed_order() {
        let c = catalog(vec![
            ad("a", "us", "eng", 0, 0),
            ad("b", "us", "eng", 5, 6),
            ad("c", "us", "eng", 0, 0),
            ad("d", "ca", "eng", 0, 0),
        ]);
        let id = |b: Bytes| String::from_utf8_lossy(&b[7..8]).into_owned();
        let at_5: Vec<String> = (0..6)
            .map(|_| id(select(&c, "us", "eng", 5).unwrap()))
            .collect();
        assert_eq!(at_5, ["a", "b", "c", "a", "b", "c"]);
        let at_7: Vec<String> = (0..4)
            .map(|_| id(select(&c, "us", "eng", 7).unwrap()))
            .collect();
        assert_eq!(at_7, ["a", "c", "a", "c"]);
    }

    /// A pair of more than 65,536 ads keeps four-byte positions in its
    /// cycles; one beside it keeps two-byte ones. Both rotate in feed order.
    #[test]
    fn a_pair_too_large_for_two_byte_positions_rotates_in_feed_order() {
        let wide = 65_536 + 3;
        let mut ads: Vec<Ad> = vec![ad("ca0", "ca", "eng", 0, 0)];
        ads.extend((0..wide).map(|i| ad(&format!("{i}"), "us", "eng", 0, 0)));
        ads.push(ad("ca1", "ca", "eng", 0, 0));
        let c = catalog(ads);
        let id = |b: Bytes| {
            let body = String::from_utf8(b.to_vec()).unwrap();
            body[7..body.find("\",").unwrap()].to_owned()
        };
        for i in 0..wide {
            assert_eq!(id(select(&c, "us", "eng", 0).unwrap()), i.to_string());
        }
        assert_eq!(id(select(&c, "us", "eng", 0).unwrap()), "0", "and again");
        let canada: Vec<String> = (0..3)
            .map(|_| id(select(&c, "ca", "eng", 0).unwrap()))
            .collect();
        assert_eq!(canada, ["ca0", "ca1", "ca0"]);
    }

    #[test]
    fn rotation_is_fair_under_concurrency() {
        let ads: Vec<Ad> = (0..7)
            .map(|i| ad(&format!("{i}"), "us", "eng", 0, 0))
            .collect();
        let c = catalog(ads);
        let counts: Vec<[u32; 7]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut seen = [0u32; 7];
                        for _ in 0..7_000 {
                            let b = select(&c, "us", "eng", 0).unwrap();
                            seen[usize::from(b[7] - b'0')] += 1;
                        }
                        seen
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ad in 0..7 {
            let total: u32 = counts.iter().map(|seen| seen[ad]).sum();
            assert_eq!(total, 4_000, "ad {ad} over 28,000 picks");
        }
    }
}
