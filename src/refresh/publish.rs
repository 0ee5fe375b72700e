//! The refresher's handle on the server: the live catalog slot, the
//! metrics that describe it, the clock the drop guard reads and the ledger
//! its served counts go to, and
//! nothing else of the server's state (no access rules, no router).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::ledger::Ledger;
use crate::metrics::Metrics;

/// Makes new catalogs live, and says so in the metrics.
#[derive(Clone)]
pub struct Publisher {
    catalog: Arc<ArcSwapOption<Catalog>>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    /// Where a published catalog's served counts go ([`Catalog::bind`]).
    ledger: Arc<Ledger>,
}

impl Publisher {
    /// A publisher into `catalog`, the slot requests read.
    pub fn new(
        catalog: Arc<ArcSwapOption<Catalog>>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        ledger: Arc<Ledger>,
    ) -> Publisher {
        Publisher {
            catalog,
            metrics,
            clock,
            ledger,
        }
    }

    /// Makes `catalog` the one every new request sees, and hands back the
    /// one it replaces: freeing a large catalog takes milliseconds, so the
    /// caller decides which thread pays for it. Binds it first unless the
    /// caller has ([`Publisher::binder`]).
    #[must_use = "dropping the old catalog here frees it on this thread"]
    pub fn publish(&self, mut catalog: Catalog) -> Option<Arc<Catalog>> {
        if !catalog.is_bound() {
            catalog.bind(&self.ledger);
        }
        let (ads, skipped) = (catalog.len(), catalog.skipped());
        let old = self.catalog.swap(Some(Arc::new(catalog)));
        self.metrics.catalog_loaded(ads, skipped);
        old
    }

    /// What binds a catalog to the ledger ([`Catalog::bind`]), for the
    /// refresh thread: at a million ads that is a million lookups in the
    /// ledger's map, hundreds of milliseconds a request worker would
    /// otherwise spend in [`Publisher::publish`].
    pub(crate) fn binder(&self) -> Arc<Ledger> {
        self.ledger.clone()
    }

    /// Whether any catalog is live.
    pub(crate) fn is_ready(&self) -> bool {
        self.catalog.load().is_some()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}
