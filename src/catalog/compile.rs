//! Compiling a parsed feed into a [`Catalog`]: grouping ads by pair,
//! unrolling each hour's rotation cycle, prebuilding every 200 body. Runs on
//! the background thread; allocates freely. Serving lives in `mod.rs`.

use std::sync::atomic::AtomicU64;

use ahash::AHashMap;

use super::build::Builder;
use super::members::{self, CycleAt, Members};
use super::{rotation, Catalog, Facts, Run, Slot, ZonedAd, MAX_ZONED};
use crate::clock::Zone;
use crate::codes::PairKey;
use crate::feed::{Feed, Sink, Skips};

impl Catalog {
    /// Compiles a parsed feed. Linear in ads × 24 hours. The server builds
    /// its catalogs while it parses ([`crate::feed::parse_into`] into a
    /// [`Builder`]); this is the same, from a feed already parsed.
    pub fn compile(feed: &Feed) -> Catalog {
        let mut builder = Builder::new();
        for ad in &feed.ads {
            builder.push(ad.borrowed());
        }
        builder.finish(Skips {
            kept: feed.skipped.clone(),
            counts: feed.skip_counts,
        })
    }
}

/// The lookup table of a catalog: pairs, their hour slots and cycles, and
/// their own-zone ads.
pub(super) struct Table {
    pub pairs: AHashMap<PairKey, u32>,
    pub slots: Box<[Slot]>,
    pub members: Members,
    pub zoned: Box<[ZonedAd]>,
    pub zoned_of: Box<[Run]>,
}

impl Table {
    /// The table of `ads`, those with their own zone listed in `zones`.
    pub fn of(ads: &[Facts], zones: &[(u32, Zone)]) -> Table {
        let (pairs, ads_of_pair) = group_by_pair(ads);
        let (zoned, zoned_of) = zoned_runs(ads, zones, &ads_of_pair);
        let (slots, members) = hour_slots(ads, &ads_of_pair);
        Table {
            pairs,
            slots: slots.into_boxed_slice(),
            members,
            zoned: zoned.into_boxed_slice(),
            zoned_of: zoned_of.into_boxed_slice(),
        }
    }
}

/// Numbers each `(country, lang)` pair in order of first appearance and
/// lists each pair's ads, in feed order.
fn group_by_pair(ads: &[Facts]) -> (AHashMap<PairKey, u32>, Vec<Vec<u32>>) {
    let mut pairs: AHashMap<PairKey, u32> = AHashMap::new();
    let mut ads_of_pair: Vec<Vec<u32>> = Vec::new();
    for (n, ad) in ads.iter().enumerate() {
        let key = PairKey::new(ad.country, ad.lang);
        let next = pairs.len() as u32;
        let pair = *pairs.entry(key).or_insert(next);
        if pair == next {
            ads_of_pair.push(Vec::new());
        }
        ads_of_pair[pair as usize].push(n as u32);
    }
    (pairs, ads_of_pair)
}

/// The ads with their own zone, pair after pair, and each pair's run of
/// them.
fn zoned_runs(
    ads: &[Facts],
    zones: &[(u32, Zone)],
    ads_of_pair: &[Vec<u32>],
) -> (Vec<ZonedAd>, Vec<Run>) {
    let mut zoned = Vec::new();
    let mut zoned_of = Vec::with_capacity(ads_of_pair.len());
    for pair in ads_of_pair {
        let start = zoned.len() as u32;
        zoned.extend(pair.iter().filter_map(|&n| {
            let ad = &ads[n as usize];
            if !ad.own_zone {
                return None;
            }
            let at = zones.binary_search_by_key(&n, |z| z.0).ok()?;
            Some(ZonedAd {
                ad: n,
                zone: zones[at].1,
                window: ad.window,
            })
        }));
        let len = zoned.len() as u32 - start;
        if len as usize > MAX_ZONED {
            tracing::warn!(
                ads = len,
                max = MAX_ZONED,
                "a country/language has more ads with their own timezone than are checked per request; the rest never serve"
            );
        }
        zoned_of.push(Run { start, len });
    }
    (zoned, zoned_of)
}

/// Each pair's 24 hour slots, pair after pair, and the rotation cycles
/// (`members`) they index. Own-zone ads are left out: their hour depends
/// on the instant.
fn hour_slots(ads: &[Facts], ads_of_pair: &[Vec<u32>]) -> (Vec<Slot>, Members) {
    let masks: Vec<u32> = ads.iter().map(|ad| ad.window.mask()).collect();
    let mut slots = Vec::with_capacity(ads_of_pair.len() * 24);
    // Every hour of every ad's window, once: the size of all cycles when
    // weights are 1 (repeats of a cycle make it less), so the one large
    // array is allocated once and at its size.
    let hours: usize = ads
        .iter()
        .zip(&masks)
        .filter(|(ad, _)| !ad.own_zone)
        .map(|(_, mask)| mask.count_ones() as usize)
        .sum();
    let mut members = members::Writer::with_capacity(hours, ads.len());
    // Each hour's eligible ads of the pair, as (position in the pair,
    // weight), in feed order: filled in one pass over the pair's ads, each
    // pushed to the hours of its window only (24 passes filtering every ad
    // were 7% of a 1M-ad load in `perf`).
    let mut by_hour: [Vec<(u32, u32)>; 24] = std::array::from_fn(|_| Vec::new());
    // One cycle unrolled at a time, before it is written to `members`.
    let mut order = Vec::new();
    for pair in ads_of_pair {
        members.pair(pair);
        by_hour.iter_mut().for_each(Vec::clear);
        for (k, &n) in pair.iter().enumerate() {
            let ad = &ads[n as usize];
            if ad.own_zone {
                continue;
            }
            let mut mask = masks[n as usize];
            while mask != 0 {
                by_hour[mask.trailing_zeros() as usize].push((k as u32, ad.weight));
                mask &= mask - 1;
            }
        }
        let mut previous: Option<(&[(u32, u32)], CycleAt)> = None;
        for eligible in &by_hour {
            slots.push(Slot {
                cycle: cycle_run(&mut members, eligible, &mut previous, &mut order),
                cursor: AtomicU64::new(0),
            });
        }
    }
    (slots, members.finish())
}

/// The cycle of one hour's `eligible` ads, as `(position, weight)`.
/// Consecutive hours with the same ads share one cycle (each hour keeps its
/// own cursor), so `previous` holds the last hour's ads and their run; a
/// new set is unrolled (in `order`, reused) onto the end of `members`.
fn cycle_run<'e>(
    members: &mut members::Writer,
    eligible: &'e [(u32, u32)],
    previous: &mut Option<(&'e [(u32, u32)], CycleAt)>,
    order: &mut Vec<u32>,
) -> CycleAt {
    if let Some((same, run)) = *previous {
        if same == eligible {
            return run;
        }
    }
    order.clear();
    rotation::cycle_into(eligible, order);
    let run = members.cycle(order.iter().copied());
    *previous = Some((eligible, run));
    run
}
