//! The rotation cycles of every bucket, stored small: a cycle lists its ads
//! as positions in its pair's list of ads (in feed order), two bytes each
//! for a pair of up to 65,536 ads and four for a larger one. An ad is in
//! the cycle of every hour it serves (12 on average in a feed of random
//! windows), so this halves the largest array of a big catalog; the pair's
//! list costs 4 bytes per ad once.

use super::Run;

/// The largest pair whose cycles hold two-byte positions.
const NARROW: usize = 1 << 16;

/// All cycles of a catalog.
#[derive(Debug, Default)]
pub(super) struct Members {
    /// Every pair's ads, pair after pair, each in feed order.
    pair_ads: Box<[u32]>,
    /// Per pair number: where its ads start in `pair_ads`, and whether
    /// its cycles are in `wide`.
    pairs: Box<[PairAds]>,
    narrow: Box<[u16]>,
    wide: Box<[u32]>,
}

#[derive(Debug, Clone, Copy)]
struct PairAds {
    start: u32,
    wide: bool,
}

/// One bucket's cycle.
#[derive(Clone, Copy)]
pub(super) struct Cycle<'a> {
    /// The pair's ads, from its first.
    ads: &'a [u32],
    positions: Positions<'a>,
}

#[derive(Clone, Copy)]
enum Positions<'a> {
    Narrow(&'a [u16]),
    Wide(&'a [u32]),
}

impl Cycle<'_> {
    #[inline]
    pub fn len(&self) -> usize {
        match self.positions {
            Positions::Narrow(p) => p.len(),
            Positions::Wide(p) => p.len(),
        }
    }

    /// The ad number of the cycle's `i`th turn.
    #[inline]
    pub fn get(&self, i: usize) -> u32 {
        let position = match self.positions {
            Positions::Narrow(p) => usize::from(p[i]),
            Positions::Wide(p) => p[i] as usize,
        };
        self.ads[position]
    }
}

impl Members {
    /// The cycle `run` of pair number `pair`.
    #[inline]
    pub fn cycle(&self, pair: u32, run: Run) -> Cycle<'_> {
        let PairAds { start, wide } = self.pairs[pair as usize];
        let (from, len) = (run.start as usize, run.len as usize);
        Cycle {
            ads: &self.pair_ads[start as usize..],
            positions: if wide {
                Positions::Wide(&self.wide[from..][..len])
            } else {
                Positions::Narrow(&self.narrow[from..][..len])
            },
        }
    }
}

/// Cycles being written, pair after pair.
#[derive(Default)]
pub(super) struct Writer {
    pair_ads: Vec<u32>,
    pairs: Vec<PairAds>,
    narrow: Vec<u16>,
    wide: Vec<u32>,
}

impl Writer {
    /// Room for `entries` cycle entries, most of them narrow.
    pub fn with_capacity(entries: usize, ads: usize, pairs: usize) -> Writer {
        Writer {
            pair_ads: Vec::with_capacity(ads),
            pairs: Vec::with_capacity(pairs),
            narrow: Vec::with_capacity(entries),
            wide: Vec::new(),
        }
    }

    /// Starts the next pair, whose ads are `ads` in feed order; its cycles
    /// then name them by position in `ads`.
    pub fn pair(&mut self, ads: &[u32]) {
        self.pairs.push(PairAds {
            start: self.pair_ads.len() as u32,
            wide: ads.len() > NARROW,
        });
        self.pair_ads.extend_from_slice(ads);
    }

    /// Appends a cycle of the current pair, given as positions in its ads.
    pub fn cycle(&mut self, positions: impl IntoIterator<Item = u32>) -> Run {
        let wide = self.pairs.last().expect("a pair is open").wide;
        if wide {
            let start = self.wide.len() as u32;
            self.wide.extend(positions);
            Run {
                start,
                len: self.wide.len() as u32 - start,
            }
        } else {
            let start = self.narrow.len() as u32;
            self.narrow.extend(positions.into_iter().map(|p| p as u16));
            Run {
                start,
                len: self.narrow.len() as u32 - start,
            }
        }
    }

    pub fn finish(self) -> Members {
        Members {
            pair_ads: self.pair_ads.into_boxed_slice(),
            pairs: self.pairs.into_boxed_slice(),
            narrow: self.narrow.into_boxed_slice(),
            wide: self.wide.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_pairs_read_back_their_ad_numbers() {
        let small: Vec<u32> = vec![7, 9, 40];
        let large: Vec<u32> = (100..100 + NARROW as u32 + 2).collect();
        let mut writer = Writer::default();
        writer.pair(&small);
        let a = writer.cycle([2, 0, 1, 0]);
        writer.pair(&large);
        let b = writer.cycle([NARROW as u32 + 1, 0, NARROW as u32]);
        let members = writer.finish();
        let read = |pair, run| {
            let cycle = members.cycle(pair, run);
            (0..cycle.len()).map(|i| cycle.get(i)).collect::<Vec<_>>()
        };
        assert_eq!(read(0, a), [40, 7, 9, 7]);
        assert_eq!(
            read(1, b),
            [100 + NARROW as u32 + 1, 100, 100 + NARROW as u32]
        );
    }
}
