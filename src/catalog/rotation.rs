//! The order a bucket's ads are served in: smooth weighted round-robin,
//! unrolled at compile time into one cycle, so the request path only
//! indexes it with an atomic counter (lock-free).

/// The longest cycle kept per bucket. Heavier buckets have their weights
/// scaled down to about this total (each ad keeping at least 1), which
/// bounds memory whatever weights a feed sends.
pub(crate) const MAX_CYCLE: u64 = 4096;

/// One cycle of nginx's smooth weighted round-robin over `ads`, given as
/// `(ad, weight)` in feed order: every step each ad gains its weight, the
/// richest (first on ties) is served and pays the total. Over the cycle
/// each ad appears exactly `weight` times, interleaved rather than in runs.
/// With all weights 1 the cycle is the feed order.
pub fn cycle(ads: &[(u32, u32)]) -> Vec<u32> {
    let mut order = Vec::new();
    cycle_into(ads, &mut order);
    order
}

/// [`cycle`], appended to `order`: a caller unrolling many cycles reuses
/// one buffer instead of allocating one per cycle.
pub fn cycle_into(ads: &[(u32, u32)], order: &mut Vec<u32>) {
    if ads.iter().all(|&(_, w)| w == 1) {
        order.extend(ads.iter().map(|&(ad, _)| ad));
        return;
    }
    let total: u64 = ads.iter().map(|&(_, w)| u64::from(w)).sum();
    let weights: Vec<i64> = ads
        .iter()
        .map(|&(_, w)| {
            if total <= MAX_CYCLE {
                i64::from(w)
            } else {
                (u64::from(w) * MAX_CYCLE / total).max(1) as i64
            }
        })
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; ads.len()];
    order.reserve(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += w;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(ads[best].0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_keep_feed_order() {
        assert_eq!(cycle(&[(7, 1), (3, 1), (9, 1)]), [7, 3, 9]);
        assert_eq!(cycle(&[]), Vec::<u32>::new());
    }

    #[test]
    fn the_classic_smooth_sequence() {
        // nginx's example: weights 5, 1, 1 give a a b a c a a.
        assert_eq!(cycle(&[(0, 5), (1, 1), (2, 1)]), [0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(cycle(&[(0, 2), (1, 1)]), [0, 1, 0]);
    }

    #[test]
    fn each_ad_is_served_its_weight_per_cycle_without_long_runs() {
        let ads = [(0, 3), (1, 5), (2, 2), (3, 1)];
        let order = cycle(&ads);
        assert_eq!(order.len(), 11);
        for (ad, weight) in ads {
            assert_eq!(
                order.iter().filter(|&&a| a == ad).count() as u32,
                weight,
                "ad {ad}"
            );
        }
        // The heaviest ad (5 of 11) never comes three times in a row.
        assert!(
            !order.windows(3).any(|w| w.iter().all(|&a| a == 1)),
            "{order:?}"
        );
    }

    #[test]
    fn huge_weights_are_scaled_to_a_bounded_cycle() {
        let order = cycle(&[(0, 3_000_000), (1, 1_000_000), (2, 1)]);
        assert!(order.len() as u64 <= MAX_CYCLE + 3, "{}", order.len());
        let count = |ad| order.iter().filter(|&&a| a == ad).count();
        assert_eq!(count(0), 3071);
        assert_eq!(count(1), 1023);
        assert_eq!(count(2), 1, "a tiny weight still gets its turn");
    }
}
