//! A ledger over the store `spec` names, with every other setting at its
//! default, as the ledger tests open one (README "Delivery ledger").
//! Included with `#[path]` by `tests/ledger_*.rs`.

use adserver::ledger::{Ledger, LedgerConfig, LedgerSpec};

/// Opens the store (an event-dedup window of an hour) and a ledger over it.
pub fn open(spec: LedgerSpec) -> Ledger {
    let store = adserver::ledger::store::open(&spec, 3600).unwrap();
    Ledger::new(
        store,
        &LedgerConfig {
            spec,
            ..LedgerConfig::default()
        },
    )
}
