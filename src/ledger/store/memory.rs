//! The default store: counts kept in this process, lost at exit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::{rows, Batch, Store, StoreError};
use crate::ledger::event::{AdCounts, Day, Event, EVENT_COUNT};

/// One row of counts per `(day, ad)`.
type Rows = HashMap<(Day, Arc<str>), [u64; EVENT_COUNT]>;

/// Per `(day, ad)` counters behind one lock taken once per flush or read.
#[derive(Default)]
pub struct MemoryStore {
    counts: Mutex<Rows>,
}

impl Store for MemoryStore {
    /// Never fails, so a batch is never retried and needs no id check.
    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (day, ad, event, n) in &batch.counts {
            map.entry((*day, ad.clone())).or_insert([0; EVENT_COUNT])[event.index()] += n;
        }
        for (day, ad, event, _) in &batch.events {
            map.entry((*day, ad.clone())).or_insert([0; EVENT_COUNT])[event.index()] += 1;
        }
        Ok(())
    }

    fn read(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError> {
        let map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let found = map
            .iter()
            .filter(|((d, _), _)| *d == day)
            .map(|((_, id), c)| {
                (
                    id.to_string(),
                    AdCounts {
                        id: id.to_string(),
                        counts: *c,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        Ok(rows(found, ad))
    }

    fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError> {
        let map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let position: HashMap<&str, usize> = ads.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let mut out = vec![(0, 0); ads.len()];
        for ((day, ad), counts) in map.iter() {
            if let Some(&i) = position.get(&**ad) {
                let n = counts[Event::Impression.index()];
                out[i].1 += n;
                if *day == today {
                    out[i].0 += n;
                }
            }
        }
        Ok(out)
    }
}
