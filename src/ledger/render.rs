//! `/stats` bodies: pure functions from counts to JSON or CSV text, in the
//! field order of [`Event::ALL`].

use std::fmt::Write;

use super::event::{AdCounts, Day, Event};

/// `{"day":…,"ads":[{"id":…,"served":…,…,"error":…}]}`.
pub fn stats_json(day: Day, ads: &[AdCounts]) -> String {
    stats_json_with(day, ads, |_| None)
}

/// [`stats_json`] with `extra(row)` written into each row after the
/// counts: more fields, each led by a comma (README "Budgets" adds `cap`
/// and `remaining` this way).
pub fn stats_json_with(
    day: Day,
    ads: &[AdCounts],
    extra: impl Fn(&AdCounts) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(32 + ads.len() * 200);
    let _ = write!(out, "{{\"day\":\"{day}\",\"ads\":[");
    for (i, ad) in ads.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // serde_json escapes the id exactly as JSON requires.
        let id = serde_json::to_string(&ad.id).unwrap_or_else(|_| "\"\"".into());
        let _ = write!(out, "{{\"id\":{id}");
        for e in Event::ALL {
            let _ = write!(out, ",\"{}\":{}", e.name(), ad.get(e));
        }
        if let Some(more) = extra(ad) {
            out.push_str(&more);
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// A header row `id,served,…,error`, then one row per ad (CRLF line ends,
/// ids quoted per RFC 4180 when they hold a comma, quote or line break).
pub(crate) fn stats_csv(ads: &[AdCounts]) -> String {
    let mut out = String::from("id");
    for e in Event::ALL {
        out.push(',');
        out.push_str(e.name());
    }
    out.push_str("\r\n");
    for ad in ads {
        if ad.id.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&ad.id.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&ad.id);
        }
        for e in Event::ALL {
            let _ = write!(out, ",{}", ad.get(e));
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, base: u64) -> AdCounts {
        let mut a = AdCounts::new(id);
        for (i, c) in a.counts.iter_mut().enumerate() {
            *c = base + i as u64;
        }
        a
    }

    #[test]
    fn json_has_every_field_in_order() {
        let body = stats_json("2026-11-29".parse().unwrap(), &[row("a\"1", 0)]);
        assert_eq!(
            body,
            r#"{"day":"2026-11-29","ads":[{"id":"a\"1","served":0,"impression":1,"start":2,"firstQuartile":3,"midpoint":4,"thirdQuartile":5,"complete":6,"skip":7,"click":8,"error":9}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ads"][0]["id"], "a\"1");
        assert_eq!(stats_json(Day(0), &[]), r#"{"day":"1970-01-01","ads":[]}"#);
    }

    #[test]
    fn csv_has_the_header_and_quotes_when_needed() {
        let body = stats_csv(&[row("plain", 0), row("a,\"b\"", 10)]);
        let lines: Vec<_> = body.split("\r\n").collect();
        assert_eq!(lines[0], "id,served,impression,start,firstQuartile,midpoint,thirdQuartile,complete,skip,click,error");
        assert_eq!(lines[1], "plain,0,1,2,3,4,5,6,7,8,9");
        assert_eq!(lines[2], "\"a,\"\"b\"\"\",10,11,12,13,14,15,16,17,18,19");
        assert_eq!(lines[3], "");
    }
}
