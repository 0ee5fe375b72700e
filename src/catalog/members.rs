//! The rotation cycles of every bucket, stored small: a cycle lists its ads
//! as positions in its pair's list of ads (in feed order), two bytes each
//! for a pair of up to 65,536 ads and four for a larger one. An ad is in
//! the cycle of every hour it serves (12 on average in a feed of random
//! windows), so this halves the largest array of a big catalog; the pair's
//! list costs 4 bytes per ad once.

/// The largest pair whose cycles hold two-byte positions.
const NARROW: usize = 1 << 16;

/// All cycles of a catalog.
#[derive(Debug, Default)]
pub(super) struct Members {
    /// Every pair's ads, pair after pair, each in feed order.
    pair_ads: Box<[u32]>,
    narrow: Box<[u16]>,
    wide: Box<[u32]>,
}

/// Where one cycle is: what a bucket keeps, so a request reaches its ads
/// with no lookup of its pair's.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct CycleAt {
    /// The cycle's positions: `narrow` or `wide[start..start + len]`.
    start: u32,
    pub len: u32,
    /// Where its pair's ads start in `pair_ads`.
    ads: u32,
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
    #[inline]
    pub fn cycle(&self, at: CycleAt) -> Cycle<'_> {
        let (from, len) = (at.start as usize, at.len as usize);
        Cycle {
            ads: &self.pair_ads[at.ads as usize..],
            positions: if at.wide {
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
    /// The current pair's: where its ads start, and whether it is wide.
    pair: (u32, bool),
    narrow: Vec<u16>,
    wide: Vec<u32>,
}

impl Writer {
    /// Room for `entries` cycle entries, most of them narrow.
    pub fn with_capacity(entries: usize, ads: usize) -> Writer {
        Writer {
            pair_ads: Vec::with_capacity(ads),
            pair: (0, false),
            narrow: Vec::with_capacity(entries),
            wide: Vec::new(),
        }
    }

    /// Starts the next pair, whose ads are `ads` in feed order; its cycles
    /// then name them by position in `ads`.
    pub fn pair(&mut self, ads: &[u32]) {
        self.pair = (self.pair_ads.len() as u32, ads.len() > NARROW);
        self.pair_ads.extend_from_slice(ads);
    }

    /// Appends a cycle of the current pair, given as positions in its ads.
    pub fn cycle(&mut self, positions: impl IntoIterator<Item = u32>) -> CycleAt {
        let (ads, wide) = self.pair;
        let (start, len) = if wide {
            let start = self.wide.len();
            self.wide.extend(positions);
            (start, self.wide.len() - start)
        } else {
            let start = self.narrow.len();
            self.narrow.extend(positions.into_iter().map(|p| p as u16));
            (start, self.narrow.len() - start)
        };
        CycleAt {
            start: start as u32,
            len: len as u32,
            ads,
            wide,
        }
    }

    pub fn finish(self) -> Members {
        Members {
            pair_ads: self.pair_ads.into_boxed_slice(),
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
        let read = |at| {
            let cycle = members.cycle(at);
            (0..cycle.len()).map(|i| cycle.get(i)).collect::<Vec<_>>()
        };
        assert_eq!(read(a), [40, 7, 9, 7]);
        assert_eq!(read(b), [100 + NARROW as u32 + 1, 100, 100 + NARROW as u32]);
    }
}
