//! The hour window of a campaign: which hours of the day an ad may serve.
//!
//! Pure arithmetic over whole hours, shared by feed validation, table
//! compilation and the tests' naive reference filter. It knows nothing about
//! clocks or time zones: the caller supplies the hour.

/// Hours `[start, end)` of a day, as README "Which ad is served" defines them.
///
/// `end` 0 or 24 means the end of the day, `start > end` wraps past midnight
/// and `start == end` serves all day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: u8,
    end: u8,
}

impl Window {
    /// A window from validated bounds: `start` in `0..=23`, `end` in `0..=24`.
    ///
    /// # Panics
    /// If a bound is out of range; feed validation rejects those first.
    pub fn new(start: u8, end: u8) -> Window {
        assert!(
            start < 24 && end <= 24,
            "window {start}->{end} out of range"
        );
        Window { start, end }
    }

    /// Whether hour `h` (0..=23) lies in the window.
    pub fn contains(self, h: u8) -> bool {
        let end = if self.end == 0 { 24 } else { self.end };
        match self.start.cmp(&end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => self.start <= h && h < end,
            std::cmp::Ordering::Greater => h >= self.start || h < end,
        }
    }

    /// The window's hours as a 24-bit mask, bit `h` set when `contains(h)`.
    pub(crate) fn mask(self) -> u32 {
        (0..24u8)
            .filter(|&h| self.contains(h))
            .fold(0, |m, h| m | 1 << h)
    }

    pub fn start(self) -> u8 {
        self.start
    }

    pub fn end(self) -> u8 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    /// Each row: (start, end, the hours it serves, written out by hand).
    const CASES: &[(u8, u8, &[u8])] = &[
        (1, 14, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]),
        (18, 0, &[18, 19, 20, 21, 22, 23]),
        (22, 3, &[22, 23, 0, 1, 2]),
        (
            5,
            5,
            &[
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                23,
            ],
        ),
        (
            0,
            24,
            &[
                0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                23,
            ],
        ),
        (23, 0, &[23]),
        (0, 1, &[0]),
        (23, 24, &[23]),
        (14, 2, &[14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1]),
    ];

    #[test]
    fn every_hour_of_every_window() {
        for &(start, end, serving) in CASES {
            let w = Window::new(start, end);
            for h in 0..24 {
                assert_eq!(
                    w.contains(h),
                    serving.contains(&h),
                    "window {start}->{end} at hour {h}"
                );
            }
        }
    }

    #[test]
    fn mask_matches_contains() {
        for &(start, end, serving) in CASES {
            let mask = Window::new(start, end).mask();
            assert_eq!(mask.count_ones() as usize, serving.len(), "{start}->{end}");
            for &h in serving {
                assert!(mask & (1 << h) != 0, "{start}->{end} bit {h}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn rejects_start_24() {
        Window::new(24, 1);
    }
}
