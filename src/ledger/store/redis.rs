//! A fleet-wide ledger in Redis or a Redis Cluster.
//!
//! Every key of one UTC day shares the hash tag `{YYYY-MM-DD}`
//! (`adserver:{2026-11-29}:c:served` is a hash of ad → count), so one
//! script touches one cluster slot. A batch is applied day by day by one
//! Lua script that first sets the marker `adserver:{D}:batch:<id>` with
//! `SET NX EX`; if the marker was already there (the script ran but its
//! answer was lost, and this is the retry) it changes nothing. Events carry
//! their serving id, and the same script counts each only if
//! `SET adserver:{D}:seen:<serving id>:<event> NX EX <event ttl>` succeeds,
//! so the dedup is fleet-wide and `/event` never waits on the network.
//!
//! Budgets need each ad's impressions over all days. A total kept in the
//! same script would sit in another cluster slot than the day's keys, so
//! instead every flush first adds its days to the set `adserver:days`
//! (`SADD`, safe to repeat), and [`Store::budget_counts`] reads that set and
//! then `HMGET`s the capped ads from each day's `impression` hash: one
//! round trip for yesterday and one for today every budget sync; the days
//! before are summed once a minute (they change only with late beacons).
//!
//! Frequency caps are shared through one stream, `adserver:{servings}`
//! (one cluster slot): each budget sync `XADD`s this replica's new
//! [`Servings`] as one entry (`r` = replica id, `s` = 28 bytes a serving)
//! and `XREAD`s the entries after the last one it read. A replica that
//! starts reads the whole stream, which `XADD` trims (`MINID ~`) to the
//! longest frequency-cap window in use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Client, Connection, ConnectionLike, Script, Value};

use super::{
    replica_name, rows, servings_kept_since_ms, Batch, Store, StoreError, SERVINGS_PER_SEND,
};
use crate::budget::frequency::Servings;
use crate::ledger::event::{AdCounts, Day, Event};

/// How long a batch marker outlives its batch: far past any retry (a
/// pending batch is retried every flush interval).
const MARKER_TTL_SECS: u64 = 2 * 86_400;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

const APPLY: &str = r"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local prefix, ncounts = ARGV[3], tonumber(ARGV[4])
local i = 5
for _ = 1, ncounts do
  redis.call('HINCRBY', prefix .. 'c:' .. ARGV[i], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
while i <= #ARGV do
  if redis.call('SET', prefix .. 'seen:' .. ARGV[i + 2] .. ':' .. ARGV[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('HINCRBY', prefix .. 'c:' .. ARGV[i], ARGV[i + 1], 1)
  end
  i = i + 3
end
return 1
";

const READ: &str = r"
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
";

enum Conn {
    Single(Connection),
    Cluster(ClusterConnection),
}

impl Conn {
    fn get(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Single(c) => c,
            Conn::Cluster(c) => c,
        }
    }
}

enum Target {
    Single(Client),
    Cluster(ClusterClient),
}

/// One connection for the flusher, one for `/stats`; each is reopened
/// after any error, so a restarted Redis is picked up by the next call.
pub struct RedisStore {
    target: Target,
    writer: Mutex<Option<Conn>>,
    reader: Mutex<Option<Conn>>,
    /// The budget sync's connection for frequency-cap servings.
    servings: Mutex<Option<Conn>>,
    event_ttl_secs: u64,
    apply: Script,
    read: Script,
    /// Budget totals of the days before yesterday, re-read at most every
    /// [`OLD_DAYS_REFRESH`]: those days change only with late beacons or a
    /// replica's long-pending batch, and re-reading a year of days every
    /// sync would cost a year of round trips a second.
    old_days: Mutex<Option<OldDays>>,
}

/// How stale the old days' budget totals may get.
const OLD_DAYS_REFRESH: Duration = Duration::from_secs(60);

/// Impressions per ad over every day before `before`, read at `at`.
struct OldDays {
    at: std::time::Instant,
    before: Day,
    per_ad: HashMap<String, u64>,
}

impl RedisStore {
    /// One server, `redis://HOST:PORT[/DB]`. Does not connect yet.
    pub fn single(url: &str, event_ttl_secs: u64) -> Result<RedisStore, StoreError> {
        Ok(RedisStore::new(
            Target::Single(Client::open(url)?),
            event_ttl_secs,
        ))
    }

    /// A cluster from its seed nodes (`redis://HOST:PORT` each).
    pub fn cluster(nodes: &[String], event_ttl_secs: u64) -> Result<RedisStore, StoreError> {
        let client = ClusterClient::builder(nodes.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(IO_TIMEOUT)
            .retries(2)
            .build()?;
        Ok(RedisStore::new(Target::Cluster(client), event_ttl_secs))
    }

    fn new(target: Target, event_ttl_secs: u64) -> RedisStore {
        RedisStore {
            target,
            writer: Mutex::new(None),
            reader: Mutex::new(None),
            servings: Mutex::new(None),
            event_ttl_secs,
            apply: Script::new(APPLY),
            read: Script::new(READ),
            old_days: Mutex::new(None),
        }
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        Ok(match &self.target {
            Target::Single(client) => {
                let c = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
                c.set_read_timeout(Some(IO_TIMEOUT))?;
                c.set_write_timeout(Some(IO_TIMEOUT))?;
                Conn::Single(c)
            }
            Target::Cluster(client) => Conn::Cluster(client.get_connection()?),
        })
    }

    /// Runs `f` on the connection in `slot`, opening it if needed. A kept
    /// connection that fails on I/O (the server restarted since) is
    /// replaced and `f` run once more: both calls are safe to repeat (a
    /// batch is applied once per id, a read changes nothing).
    fn with<T>(
        &self,
        slot: &Mutex<Option<Conn>>,
        mut f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = guard.as_mut() {
            match f(conn.get()) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // After any error the connection may be out of step
                    // (a late reply to a timed-out call): never reuse it.
                    *guard = None;
                    if !(e.is_io_error() || e.is_connection_dropped() || e.is_timeout()) {
                        return Err(e.into());
                    }
                }
            }
        }
        let conn = guard.insert(self.connect()?);
        let result = f(conn.get());
        if result.is_err() {
            *guard = None;
        }
        Ok(result?)
    }
}

/// The set of days (`YYYY-MM-DD`) that have counts, for budget totals.
const DAYS: &str = "adserver:days";

/// The stream of frequency-cap servings, fleet-wide.
const SERVINGS: &str = "adserver:{servings}";

impl RedisStore {
    /// Each of `ads`' impressions on `day`, in order.
    fn impressions_on(&self, day: Day, ads: &[&str]) -> Result<Vec<u64>, StoreError> {
        let key = format!("{}c:{}", prefix(day), Event::Impression.name());
        let counts: Vec<Option<u64>> = self.with(&self.reader, |c| {
            redis::cmd("HMGET").arg(&key).arg(ads).query(c)
        })?;
        Ok(counts.into_iter().map(|n| n.unwrap_or(0)).collect())
    }
}

fn prefix(day: Day) -> String {
    format!("adserver:{{{day}}}:")
}

impl Store for RedisStore {
    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let id = batch.id_hex();
        for day in batch.days() {
            let name = day.to_string();
            self.with(&self.writer, |c| {
                redis::cmd("SADD").arg(DAYS).arg(&name).query::<i64>(c)
            })?;
            let prefix = prefix(day);
            let mut inv = self.apply.prepare_invoke();
            inv.key(format!("{prefix}batch:{id}"))
                .arg(MARKER_TTL_SECS)
                .arg(self.event_ttl_secs.max(1))
                .arg(&prefix);
            let counts: Vec<_> = batch.counts.iter().filter(|c| c.0 == day).collect();
            inv.arg(counts.len());
            for (_, ad, event, n) in counts {
                inv.arg(event.name()).arg(&**ad).arg(*n);
            }
            for (_, ad, event, serving) in batch.events.iter().filter(|e| e.0 == day) {
                let hex: String = serving.iter().map(|b| format!("{b:02x}")).collect();
                inv.arg(event.name()).arg(&**ad).arg(hex);
            }
            self.with(&self.writer, |c| inv.invoke::<i64>(c))?;
        }
        Ok(())
    }

    fn read(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError> {
        let prefix = prefix(day);
        let mut inv = self.read.prepare_invoke();
        for e in Event::ALL {
            inv.key(format!("{prefix}c:{}", e.name()));
        }
        let hashes: Vec<HashMap<String, u64>> = self.with(&self.reader, |c| {
            let v: Value = inv.invoke(c)?;
            redis::from_redis_value(&v)
        })?;
        let mut found = BTreeMap::<String, AdCounts>::new();
        for (event, fields) in Event::ALL.into_iter().zip(hashes) {
            for (id, n) in fields {
                found
                    .entry(id.clone())
                    .or_insert_with(|| AdCounts::new(id))
                    .counts[event.index()] += n;
            }
        }
        Ok(rows(found, ad))
    }

    fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut out = vec![(0, 0); ads.len()];
        if ads.is_empty() {
            return Ok(out);
        }
        let days: Vec<String> =
            self.with(&self.reader, |c| redis::cmd("SMEMBERS").arg(DAYS).query(c))?;
        // Only names this server wrote: a key built from anything else
        // could land outside the day's slot.
        let days: Vec<Day> = days.iter().filter_map(|d| d.parse().ok()).collect();
        let recent = Day(today.0.saturating_sub(1));
        let mut old = self.old_days.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = old.as_ref().is_some_and(|o| {
            o.before == recent
                && o.at.elapsed() < OLD_DAYS_REFRESH
                && ads.iter().all(|a| o.per_ad.contains_key(*a))
        });
        if !fresh {
            let mut per_ad: HashMap<String, u64> = ads.iter().map(|a| (a.to_string(), 0)).collect();
            for &day in days.iter().filter(|&&d| d < recent) {
                for (ad, n) in ads.iter().zip(self.impressions_on(day, ads)?) {
                    *per_ad.entry(ad.to_string()).or_default() += n;
                }
            }
            *old = Some(OldDays {
                at: std::time::Instant::now(),
                before: recent,
                per_ad,
            });
        }
        let old = old.as_ref().expect("set above");
        for (slot, ad) in out.iter_mut().zip(ads) {
            slot.1 = old.per_ad.get(*ad).copied().unwrap_or(0);
        }
        for &day in days.iter().filter(|&&d| d >= recent) {
            for (slot, n) in out.iter_mut().zip(self.impressions_on(day, ads)?) {
                slot.1 += n;
                if day == today {
                    slot.0 += n;
                }
            }
        }
        Ok(out)
    }

    fn dedups_fleet_wide(&self) -> bool {
        true
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
        let oldest = servings_kept_since_ms(keep_hours);
        let replica = replica_name(from);
        for chunk in servings.chunks(SERVINGS_PER_SEND) {
            let blob = Servings::encode_all(chunk);
            self.with(&self.servings, |c| {
                redis::cmd("XADD")
                    .arg(SERVINGS)
                    .arg("MINID")
                    .arg("~")
                    .arg(oldest)
                    .arg("*")
                    .arg("r")
                    .arg(&replica)
                    .arg("s")
                    .arg(&blob)
                    .query::<String>(c)
            })?;
        }
        Ok(())
    }

    fn read_servings(
        &self,
        me: u64,
        cursor: &mut String,
        limit: usize,
    ) -> Result<Vec<Servings>, StoreError> {
        if cursor.is_empty() {
            cursor.push('0');
        }
        type Entries = Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>;
        let read: Option<Entries> = self.with(&self.servings, |c| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(limit.max(1))
                .arg("STREAMS")
                .arg(SERVINGS)
                .arg(&*cursor)
                .query(c)
        })?;
        let mine = replica_name(me);
        let mut out = Vec::new();
        for (_, entries) in read.unwrap_or_default() {
            for (id, fields) in entries {
                let field = |name: &[u8]| {
                    fields
                        .chunks_exact(2)
                        .find(|kv| kv[0] == name)
                        .map(|kv| kv[1].as_slice())
                };
                if field(b"r") != Some(mine.as_bytes()) {
                    out.extend(Servings::decode(field(b"s").unwrap_or_default()));
                }
                *cursor = id;
            }
        }
        Ok(out)
    }
}
