//! The catalog's side of budgets (README "Budgets"): whether an ad may be
//! served now, as [`Catalog::select_for`](super::Catalog::select_for) asks
//! it, and the fleet-capped ads with their gates, as the budget sync and
//! `/explain` read them.

use super::{AdFacts, Catalog};
use crate::budget::{Gate, Player};

impl Catalog {
    /// False when the ad's gate is blocked, or when `player` has had its
    /// frequency cap of it. Atomics and, with a player and a capped ad, one
    /// bounded-map read; no allocation.
    #[inline]
    pub(super) fn may_serve(&self, ad: u32, player: Option<Player<'_>>) -> bool {
        if self.gate(ad).is_some_and(Gate::is_blocked) {
            return false;
        }
        let Some(facts) = self.budgeted_of(ad as usize) else {
            return true;
        };
        match (facts.budget.frequency_cap, player) {
            (Some(cap), Some(p)) => p.caps.allows(p.hash, facts.id_hash, cap, p.hour),
            _ => true,
        }
    }

    /// The gate of ad number `ad`, when it has a daily or total cap and the
    /// catalog is bound.
    #[inline]
    pub(super) fn gate(&self, ad: u32) -> Option<&Gate> {
        match self.facts[ad as usize].budget {
            super::NO_BUDGET => None,
            at => self.delivered.gates.get(at as usize)?.as_deref(),
        }
    }

    /// Whether any ad has a budget of any kind.
    #[inline]
    pub fn has_budgets(&self) -> bool {
        self.limited
    }

    /// The longest frequency-cap window of any ad, in hours.
    pub fn longest_frequency_window(&self) -> Option<u32> {
        self.budgeted
            .iter()
            .filter_map(|ad| Some(ad.budget.frequency_cap?.hours))
            .max()
    }

    /// Every ad with a daily or total cap, with its gate (once bound).
    pub fn fleet_capped(&self) -> impl Iterator<Item = (&AdFacts, &Gate)> {
        self.budgeted
            .iter()
            .zip(self.delivered.gates.iter())
            .filter_map(|(ad, gate)| Some((ad, gate.as_deref()?)))
    }

    /// The budget of the ad `id` and its gate, if it has a budget: for
    /// `/stats`.
    pub fn gate_of(&self, id: &str) -> Option<(&AdFacts, Option<&Gate>)> {
        let n = self.budgeted.iter().position(|ad| &*ad.id == id)?;
        let gate = self.delivered.gates.get(n).and_then(|g| g.as_deref());
        Some((&self.budgeted[n], gate))
    }
}
