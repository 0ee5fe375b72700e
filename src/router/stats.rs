//! `GET /stats?day=YYYY-MM-DD[&ad=ID][&format=csv]` (admin listener): the
//! ledger's counts for one UTC day (README "Delivery").
//!
//! Reading a SQLite file or a Redis server blocks, so the server runs this
//! route on tokio's blocking pool ([`answer`]), never on a request worker.
//! This replica's counts are flushed first, so they show at once; other
//! replicas' within their flush interval. JSON rows of ads with a budget
//! in the live catalog end with `cap` and `remaining` (README "Budgets").

use std::sync::Arc;

use bytes::Bytes;

use crate::answer::Answer;
use crate::catalog::Catalog;
use crate::invalid_request;
use crate::ledger::{render, AdCounts, Day, Event};
use crate::state::State;

/// A `/stats` query.
#[derive(Debug, PartialEq, Eq)]
struct StatsQuery {
    day: Day,
    ad: Option<String>,
    csv: bool,
}

/// `/stats` off the request workers.
pub async fn answer(state: Arc<State>, query: Option<String>) -> Answer {
    tokio::task::spawn_blocking(move || answer_blocking(&state, query.as_deref()))
        .await
        .unwrap_or(Answer::StoreUnavailable)
}

/// `/stats` on this thread: it may wait on the ledger's store.
pub(crate) fn answer_blocking(state: &State, query: Option<&str>) -> Answer {
    let today = Day::from_unix_secs(u64::try_from(state.clock.now().timestamp()).unwrap_or(0));
    let query = match parse(query.unwrap_or(""), today) {
        Ok(query) => query,
        Err(body) => return Answer::Invalid(body),
    };
    let ledger = &state.delivery.ledger;
    if let Err(e) = ledger.flush_now() {
        tracing::warn!(error = %e, "ledger flush before /stats failed; counts stay pending");
    }
    let catalog = state.catalog.load();
    if !query.csv {
        // Fresh budget counts for `remaining`: this replica has just flushed.
        crate::budget::sync_now(state);
    }
    match ledger.stats(query.day, query.ad.as_deref()) {
        Ok(rows) if query.csv => Answer::Csv(Bytes::from(render::stats_csv(&rows))),
        Ok(rows) => Answer::Json(Bytes::from(render::stats_json_with(
            query.day,
            &rows,
            |row| budget_fields(catalog.as_deref(), row),
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "/stats cannot read the ledger");
            Answer::StoreUnavailable
        }
    }
}

/// `,"cap":{…},"remaining":{…}` for a row whose ad has a budget in the
/// live catalog (README "Budgets"): after the counts, so the SPEC fields
/// keep their order. `remaining.daily` is the cap less that day's
/// impressions in the row; `remaining.total` the cap less the fleet's
/// total at the sync just run.
fn budget_fields(catalog: Option<&Catalog>, row: &AdCounts) -> Option<String> {
    let (ad, gate) = catalog?.gate_of(&row.id)?;
    let budget = ad.budget;
    if budget.is_unlimited() {
        return None;
    }
    let mut cap = vec![];
    let mut remaining = vec![];
    if let Some(daily) = budget.daily_cap {
        cap.push(format!("\"daily\":{daily}"));
        let left = daily.saturating_sub(row.get(Event::Impression));
        remaining.push(format!("\"daily\":{left}"));
    }
    if let Some(total) = budget.total_cap {
        cap.push(format!("\"total\":{total}"));
        let seen = gate.map_or(0, |g| g.view().total);
        remaining.push(format!("\"total\":{}", total.saturating_sub(seen)));
    }
    cap.push(format!("\"pacing\":\"{}\"", budget.pacing.name()));
    if let Some(f) = budget.frequency_cap {
        cap.push(format!(
            "\"frequency\":{{\"count\":{},\"hours\":{}}}",
            f.count, f.hours
        ));
    }
    let mut out = format!(",\"cap\":{{{}}}", cap.join(","));
    if !remaining.is_empty() {
        out.push_str(&format!(",\"remaining\":{{{}}}", remaining.join(",")));
    }
    Some(out)
}

fn parse(query: &str, today: Day) -> Result<StatsQuery, &'static str> {
    let mut out = StatsQuery {
        day: today,
        ad: None,
        csv: false,
    };
    let (mut day_seen, mut ad_seen, mut format_seen) = (false, false, false);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value).ok_or(invalid_request!(
            "a /stats query value has a broken % escape or is not UTF-8"
        ))?;
        match key {
            "day" if day_seen => {
                return Err(invalid_request!(
                    "query parameter 'day' is given more than once"
                ))
            }
            "day" => {
                day_seen = true;
                out.day = value.parse().map_err(|_| {
                    invalid_request!("query parameter 'day' must be a date written YYYY-MM-DD")
                })?;
            }
            "ad" if ad_seen => {
                return Err(invalid_request!(
                    "query parameter 'ad' is given more than once"
                ))
            }
            "ad" if value.is_empty() => {
                return Err(invalid_request!("query parameter 'ad' is empty"))
            }
            "ad" => {
                ad_seen = true;
                out.ad = Some(value);
            }
            "format" if format_seen => {
                return Err(invalid_request!(
                    "query parameter 'format' is given more than once"
                ))
            }
            "format" => {
                format_seen = true;
                out.csv = match value.to_ascii_lowercase().as_str() {
                    "csv" => true,
                    "json" => false,
                    _ => {
                        return Err(invalid_request!(
                            "query parameter 'format' must be json or csv"
                        ))
                    }
                };
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `%XX` escapes and `+` (a space, as forms write it) decoded; `None` for
/// a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_with_defaults() {
        let today = Day(20_000);
        assert_eq!(
            parse("", today),
            Ok(StatsQuery {
                day: today,
                ad: None,
                csv: false
            })
        );
        let q = parse("day=2026-11-29&ad=a%20b%2Bc&format=CSV", today).unwrap();
        assert_eq!(q.day.to_string(), "2026-11-29");
        assert_eq!(q.ad.as_deref(), Some("a b+c"));
        assert!(q.csv);
        for bad in [
            "day=2026-13-01",
            "day=x",
            "format=xml",
            "ad=",
            "ad=%zz",
            "day=2026-11-29&day=2026-11-28",
        ] {
            assert!(parse(bad, today).is_err(), "{bad}");
        }
    }
}
