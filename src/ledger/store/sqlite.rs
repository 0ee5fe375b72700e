//! A durable single-process ledger in a SQLite file (WAL mode).
//!
//! `synchronous=FULL`: with WAL, `NORMAL` survives a process crash but may
//! lose the last commits on power loss; the ledger promises at most one
//! flush interval lost, and FULL costs one fsync per flush (once a second).
//! A batch is one transaction: its id goes into `batches` first, and if it
//! was already there the transaction adds nothing, so a retried batch counts
//! once. The index `counts_by_ad` serves the budget sync's per-ad totals.
//!
//! Frequency-cap servings go to the table `servings`, one row per send
//! (`records`: 28 bytes a serving), so a restarted process reads back the
//! windows still open, as a replica on Redis does from its stream; rows
//! older than the longest window in use are deleted as new ones come.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{
    replica_name, rows, servings_kept_since_ms, Batch, Store, StoreError, SERVINGS_PER_SEND,
};
use crate::budget::frequency::Servings;
use crate::ledger::event::{AdCounts, Day, Event};

/// Batch ids are kept this long (far past any retry), then pruned.
const KEEP_BATCH_IDS_SECS: i64 = 2 * 86_400;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counts (
    day   TEXT    NOT NULL,
    ad    TEXT    NOT NULL,
    event TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (day, ad, event)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counts_by_ad ON counts (ad, event, day);
CREATE TABLE IF NOT EXISTS batches (
    id         TEXT    PRIMARY KEY,
    applied_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS servings (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    replica TEXT    NOT NULL,
    sent_ms INTEGER NOT NULL,
    records BLOB    NOT NULL
);
";

/// Two connections so `/stats` reads (WAL lets them run beside a write)
/// never queue behind a flush.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the ledger file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let writer = connect(path)?;
        writer.execute_batch(SCHEMA)?;
        let reader = connect(path)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

impl Store for SqliteStore {
    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let now = chrono::Utc::now().timestamp();
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO batches (id, applied_at) VALUES (?1, ?2)",
            params![batch.id_hex(), now],
        )?;
        if fresh == 1 {
            let mut add = tx.prepare_cached(
                "INSERT INTO counts (day, ad, event, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (day, ad, event) DO UPDATE SET n = n + excluded.n",
            )?;
            for (day, ad, event, n) in &batch.counts {
                add.execute(params![day.to_string(), &**ad, event.name(), *n as i64])?;
            }
            for (day, ad, event, _) in &batch.events {
                add.execute(params![day.to_string(), &**ad, event.name(), 1i64])?;
            }
            drop(add);
            tx.execute(
                "DELETE FROM batches WHERE applied_at < ?1",
                params![now - KEEP_BATCH_IDS_SECS],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn read(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT ad, event, n FROM counts WHERE day = ?1 AND (?2 IS NULL OR ad = ?2)",
        )?;
        let mut found = BTreeMap::<String, AdCounts>::new();
        let mut q = stmt.query(params![day.to_string(), ad])?;
        while let Some(row) = q.next()? {
            let (id, name, n): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let event = Event::from_stored_name(&name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown event {name:?} in counts")))?;
            found
                .entry(id.clone())
                .or_insert_with(|| AdCounts::new(id))
                .counts[event.index()] += n.max(0) as u64;
        }
        Ok(rows(found, ad))
    }

    fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT SUM(CASE WHEN day = ?1 THEN n ELSE 0 END), SUM(n) FROM counts
             WHERE ad = ?2 AND event = 'impression'",
        )?;
        let today = today.to_string();
        ads.iter()
            .map(|ad| {
                let (on_day, total): (Option<i64>, Option<i64>) =
                    stmt.query_row(params![today, ad], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let count = |n: Option<i64>| n.unwrap_or(0).max(0) as u64;
                Ok((count(on_day), count(total)))
            })
            .collect()
    }

    fn shares_servings(&self) -> bool {
        true
    }

    fn send_servings(
        &self,
        from: u64,
        servings: &[Servings],
        keep_hours: u32,
    ) -> Result<(), StoreError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let oldest = i64::try_from(servings_kept_since_ms(keep_hours)).unwrap_or(0);
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        for chunk in servings.chunks(SERVINGS_PER_SEND) {
            tx.execute(
                "INSERT INTO servings (replica, sent_ms, records) VALUES (?1, ?2, ?3)",
                params![replica_name(from), now_ms, Servings::encode_all(chunk)],
            )?;
        }
        tx.execute("DELETE FROM servings WHERE sent_ms < ?1", params![oldest])?;
        tx.commit()?;
        Ok(())
    }

    fn read_servings(
        &self,
        me: u64,
        cursor: &mut String,
        limit: usize,
    ) -> Result<Vec<Servings>, StoreError> {
        let after: i64 = cursor.parse().unwrap_or(0);
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT seq, replica, records FROM servings WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mine = replica_name(me);
        let mut out = Vec::new();
        let mut q = stmt.query(params![after, limit.max(1) as i64])?;
        while let Some(row) = q.next()? {
            let (seq, replica, records): (i64, String, Vec<u8>) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            if replica != mine {
                out.extend(Servings::decode(&records));
            }
            *cursor = seq.to_string();
        }
        Ok(out)
    }
}

/// True when batch `id` has been applied to the file at `path` (for tests
/// and operators checking a retry).
pub fn batch_applied(path: &Path, id: u128) -> Result<bool, StoreError> {
    let conn = connect(path)?;
    let hit: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM batches WHERE id = ?1",
            params![format!("{id:032x}")],
            |r| r.get(0),
        )
        .optional()?;
    Ok(hit.is_some())
}
