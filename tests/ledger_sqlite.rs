//! The SQLite ledger on a real file: counts written and read back, a
//! retried batch counted once, the file surviving a reopen and a crash, and
//! the day boundary (README "Delivery ledger").

#[path = "support/ledger.rs"]
mod ledger_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use adserver::ledger::store::sqlite::{batch_applied, SqliteStore};
use adserver::ledger::{Batch, Day, Event, Ledger, LedgerConfig, LedgerSpec, Store};

const D: Day = Day(20_786); // 2026-11-29

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("adserver-ledger-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ledger.db")
}

fn open(path: &std::path::Path) -> Ledger {
    ledger_support::open(LedgerSpec::Sqlite(path.to_owned()))
}

#[test]
fn counts_are_written_and_survive_a_reopen() {
    let path = temp_db("reopen");
    {
        let ledger = open(&path);
        let t = ledger.tally("ad,1");
        for _ in 0..5 {
            t.served(D);
        }
        ledger.record_event([9; 16], "ad,1", D, Event::Complete);
        ledger.record_event([9; 16], "ad,1", D, Event::Complete);
        ledger.flush_now().unwrap();
    }
    let ledger = open(&path);
    let rows = ledger.stats(D, None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].id.as_str(),
            rows[0].get(Event::Served),
            rows[0].get(Event::Complete)
        ),
        ("ad,1", 5, 1)
    );
    assert_eq!(ledger.stats(D, Some("other")).unwrap(), vec![]);
}

#[test]
fn a_batch_applied_twice_counts_once() {
    let path = temp_db("retry");
    let store = SqliteStore::open(&path).unwrap();
    let batch = Batch {
        id: 42,
        counts: vec![(D, Arc::from("a"), Event::Served, 7)],
        events: vec![],
    };
    store.apply(&batch).unwrap();
    // The retry after a lost acknowledgement: same batch, same id.
    store.apply(&batch).unwrap();
    assert!(batch_applied(&path, 42).unwrap());
    assert_eq!(store.read(D, None).unwrap()[0].get(Event::Served), 7);
    let next = Batch { id: 43, ..batch };
    store.apply(&next).unwrap();
    assert_eq!(store.read(D, None).unwrap()[0].get(Event::Served), 14);
}

#[test]
fn counts_each_side_of_midnight_land_on_their_own_day() {
    let path = temp_db("midnight");
    let ledger = open(&path);
    let t = ledger.tally("a");
    t.served(D); // 23:59:59.9
    t.served(Day(D.0 + 1)); // flushed together, after midnight
    t.served(Day(D.0 + 1));
    ledger.flush_now().unwrap();
    assert_eq!(ledger.stats(D, None).unwrap()[0].get(Event::Served), 1);
    assert_eq!(
        ledger.stats(Day(D.0 + 1), None).unwrap()[0].get(Event::Served),
        2
    );
}

/// The crash half of `a_crash_keeps_every_flushed_count`: run in a child
/// process, which flushes 100 counts, counts 50 more and aborts.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("ADSERVER_LEDGER_CRASH_DB") else {
        return;
    };
    let ledger = open(path.as_ref());
    let t = ledger.tally("a");
    for _ in 0..100 {
        t.served(D);
    }
    ledger.flush_now().unwrap();
    for _ in 0..50 {
        t.served(D);
    }
    std::process::abort(); // no destructors, no last flush: a crash
}

#[test]
fn a_crash_keeps_every_flushed_count() {
    let path = temp_db("crash");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("ADSERVER_LEDGER_CRASH_DB", &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must die, not exit");
    let ledger = open(&path);
    // The flushed 100 are there; the 50 of the last interval are the loss.
    assert_eq!(ledger.stats(D, None).unwrap()[0].get(Event::Served), 100);
}

#[test]
fn the_flusher_thread_writes_the_file_and_flushes_at_shutdown() {
    let path = temp_db("flusher");
    let config = LedgerConfig {
        spec: format!("sqlite:{}", path.display()).parse().unwrap(),
        ..LedgerConfig::default()
    };
    let (ledger, flusher) = Ledger::start(&config).unwrap();
    ledger.tally("a").served(D);
    flusher.shutdown();
    assert_eq!(ledger.pending(), 0);
    drop(ledger);
    assert_eq!(open(&path).stats(D, None).unwrap()[0].get(Event::Served), 1);
}
