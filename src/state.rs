//! What every request handler shares, in one place: the live catalog, the
//! clock, the counters, the access gate and the delivery handles. Built once
//! in `main` (or a test), then shared by reference; nothing here routes or
//! answers.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::access::Access;
use crate::catalog::Catalog;
use crate::clock::{Clock, HourBasis, Zone};
use crate::delivery::Delivery;
use crate::metrics::Metrics;
use crate::refresh::Publisher;

/// What every request handler shares.
pub struct State {
    /// `None` until the first catalog loads. Shared with the refresher's
    /// [`Publisher`], which is the only writer.
    pub catalog: Arc<ArcSwapOption<Catalog>>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub hour_basis: HourBasis,
    /// Who may ask for ads and how often; all off by default.
    pub access: Access,
    /// Event tokens and the ledger (README "Delivery").
    pub delivery: Delivery,
}

impl State {
    pub fn new(clock: impl Clock) -> State {
        State {
            catalog: Arc::new(ArcSwapOption::empty()),
            clock: Arc::new(clock),
            metrics: Arc::new(Metrics::default()),
            hour_basis: HourBasis::default(),
            access: Access::default(),
            delivery: Delivery::in_memory(),
        }
    }

    /// The same state with its beacons and ledger set.
    pub fn with_delivery(mut self, delivery: Delivery) -> State {
        self.delivery = delivery;
        self
    }

    /// The same state with authentication and rate limits in force.
    pub fn with_access(mut self, access: Access) -> State {
        self.access = access;
        self
    }

    /// The hour a request's ads are chosen for, at `now`.
    pub(crate) fn hour_for(&self, player: Option<Zone>, now: chrono::DateTime<chrono::Utc>) -> u8 {
        self.hour_basis.hour_at(&*self.clock, player, now)
    }

    /// The handle a [`crate::refresh::Refresher`] publishes through: this
    /// state's catalog slot, metrics and clock.
    pub fn publisher(&self) -> Publisher {
        Publisher::new(
            Arc::clone(&self.catalog),
            Arc::clone(&self.metrics),
            Arc::clone(&self.clock),
            Arc::clone(&self.delivery.ledger),
        )
    }

    /// Makes `catalog` live at once (see [`Publisher::publish`]): for
    /// tests, benches and examples that load a catalog by hand.
    #[must_use = "dropping the old catalog here frees it on this thread"]
    pub fn publish(&self, catalog: Catalog) -> Option<Arc<Catalog>> {
        self.publisher().publish(catalog)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.catalog.load().is_some()
    }
}
