//! The targeting extensions (README "Targeting extensions") over real HTTP: locales, player-local
//! hours (with a DST change day), ads with their own zone, weights,
//! wildcard precedence, exclude, and /explain.

mod support;

use chrono::{DateTime, Utc};
use support::*;

use support::{ad_json as ad, feed_of_ads as feed};

async fn ids(server: &TestServer, path: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(server.get(path).await.ad_id());
    }
    ids
}

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

#[tokio::test]
async fn every_language_form_reaches_the_same_ads() {
    let server = TestServer::start(5).await;
    load_json(
        &server,
        &feed(&[
            ad("fr1", "ca", "fre", 0, 0, ""),
            ad("en1", "us", "en", 0, 0, ""),
        ]),
    )
    .await;
    for lang in ["fre", "fra", "fr", "FR", "fr_CA", "fr-CA", "fr-Latn-CA"] {
        let reply = server
            .get(&format!("/ad_request?country=ca&lang={lang}"))
            .await;
        assert_eq!(reply.ad_id(), "fr1", "lang={lang}");
    }
    for lang in ["eng", "en", "en-US", "en_GB"] {
        let reply = server
            .get(&format!("/ad_request?country=us&lang={lang}"))
            .await;
        assert_eq!(reply.ad_id(), "en1", "lang={lang}");
    }
    for bad in ["english", "e1", "en-", "12"] {
        let reply = server
            .get(&format!("/ad_request?country=us&lang={bad}"))
            .await;
        assert_eq!(reply.status, 400, "lang={bad}");
        assert!(reply.body.contains("'lang'"));
    }
}

#[tokio::test]
async fn player_hours_follow_tz_or_utc_offset_under_the_player_basis() {
    // 20:30 UTC: 02:00 in India (+05:30), 15:30 in New York (winter, -5).
    let server = TestServer::start_player_basis(0).await;
    server.clock.set_instant(at("2026-01-15T20:30:00Z"));
    load_json(
        &server,
        &feed(&[
            ad("night", "in", "hin", 2, 3, ""),
            ad("afternoon", "us", "eng", 15, 16, ""),
        ]),
    )
    .await;

    assert_eq!(
        server
            .get("/ad_request?country=in&lang=hin&utc_offset=330")
            .await
            .ad_id(),
        "night"
    );
    assert_eq!(
        server
            .get("/ad_request?country=in&lang=hin&tz=Asia/Kolkata")
            .await
            .ad_id(),
        "night"
    );
    assert_eq!(
        server.get("/ad_request?country=in&lang=hin").await.status,
        404,
        "no zone: server hour 20"
    );
    assert_eq!(
        server
            .get("/ad_request?country=us&lang=eng&utc_offset=-300")
            .await
            .ad_id(),
        "afternoon"
    );
    // tz wins over utc_offset.
    let both = "/ad_request?country=us&lang=eng&tz=America/New_York&utc_offset=330";
    assert_eq!(server.get(both).await.ad_id(), "afternoon");

    for (query, param) in [
        ("tz=Mars/Base", "tz"),
        ("utc_offset=900", "utc_offset"),
        ("utc_offset=east", "utc_offset"),
    ] {
        let reply = server
            .get(&format!("/ad_request?country=us&lang=eng&{query}"))
            .await;
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.body.contains(&format!("'{param}'")), "{}", reply.body);
    }
}

#[tokio::test]
async fn the_server_basis_ignores_the_players_zone() {
    let server = TestServer::start(0).await;
    server.clock.set_instant(at("2026-01-15T20:30:00Z"));
    load_json(&server, &feed(&[ad("night", "in", "hin", 2, 3, "")])).await;
    let reply = server
        .get("/ad_request?country=in&lang=hin&utc_offset=330")
        .await;
    assert_eq!(reply.status, 404, "server hour is 20");
}

#[tokio::test]
async fn a_dst_change_day_moves_the_players_hour() {
    // 2026-03-08: New York springs forward at 02:00 EST (07:00 UTC).
    let server = TestServer::start_player_basis(0).await;
    load_json(&server, &feed(&[ad("three", "us", "eng", 3, 4, "")])).await;
    let path = "/ad_request?country=us&lang=eng&tz=America/New_York";
    server.clock.set_instant(at("2026-03-08T06:30:00Z")); // 01:30 EST
    assert_eq!(server.get(path).await.status, 404);
    server.clock.set_instant(at("2026-03-08T07:30:00Z")); // 03:30 EDT
    assert_eq!(server.get(path).await.ad_id(), "three");
    server.clock.set_instant(at("2026-03-09T08:30:00Z")); // 04:30 EDT
    assert_eq!(server.get(path).await.status, 404);
}

#[tokio::test]
async fn an_ads_own_timezone_wins_over_the_basis() {
    let server = TestServer::start(0).await;
    let own = r#","timezone":"Asia/Kolkata""#;
    load_json(
        &server,
        &feed(&[
            ad("local", "in", "hin", 2, 3, own),
            ad("plain", "in", "hin", 20, 21, ""),
        ]),
    )
    .await;
    server.clock.set_instant(at("2026-01-15T20:45:00Z")); // 02:15 in Kolkata, 20 UTC
    let mut seen = ids(&server, "/ad_request?country=in&lang=hin", 4).await;
    seen.sort();
    assert_eq!(
        seen,
        ["local", "local", "plain", "plain"],
        "both eligible, rotating"
    );
    server.clock.set_instant(at("2026-01-15T12:00:00Z")); // 17:30 in Kolkata
    assert_eq!(
        server.get("/ad_request?country=in&lang=hin").await.status,
        404
    );
}

#[tokio::test]
async fn weights_share_a_cycle_in_proportion_interleaved() {
    let server = TestServer::start(5).await;
    load_json(
        &server,
        &feed(&[
            ad("heavy", "us", "eng", 0, 0, r#","weight":5"#),
            ad("b", "us", "eng", 0, 0, ""),
            ad("c", "us", "eng", 0, 0, r#","weight":1"#),
        ]),
    )
    .await;
    let cycle = ids(&server, "/ad_request?country=us&lang=eng", 14).await;
    assert_eq!(
        &cycle[..7],
        ["heavy", "heavy", "b", "heavy", "c", "heavy", "heavy"]
    );
    assert_eq!(cycle[..7], cycle[7..], "the cycle repeats");
}

#[tokio::test]
async fn the_most_specific_eligible_level_wins() {
    let server = TestServer::start(5).await;
    load_json(
        &server,
        &feed(&[
            ad("house", "*", "*", 0, 0, ""),
            ad("english", "*", "eng", 0, 0, ""),
            ad("us_any", "us", "*", 0, 0, ""),
            ad("us_eng", "us", "eng", 4, 6, ""),
        ]),
    )
    .await;
    let ask = |c: &'static str, l: &'static str| format!("/ad_request?country={c}&lang={l}");
    assert_eq!(server.get(&ask("us", "eng")).await.ad_id(), "us_eng");
    assert_eq!(server.get(&ask("us", "spa")).await.ad_id(), "us_any");
    assert_eq!(server.get(&ask("gb", "eng")).await.ad_id(), "english");
    assert_eq!(server.get(&ask("jp", "jpn")).await.ad_id(), "house");
    server.clock.set(7); // us_eng is off: the next level serves
    assert_eq!(server.get(&ask("us", "eng")).await.ad_id(), "us_any");
}

#[tokio::test]
async fn exclude_skips_ads_while_another_is_eligible() {
    let server = TestServer::start(5).await;
    load_json(
        &server,
        &feed(&[
            ad("a", "us", "eng", 0, 0, ""),
            ad("b", "us", "eng", 0, 0, ""),
            ad("c", "us", "eng", 0, 0, ""),
        ]),
    )
    .await;
    let seen = ids(&server, "/ad_request?country=us&lang=eng&exclude=a,c", 4).await;
    assert_eq!(seen, ["b", "b", "b", "b"]);
    // All excluded: a repeat beats no ad.
    let reply = server
        .get("/ad_request?country=us&lang=eng&exclude=a,b,c")
        .await;
    assert_eq!(reply.status, 200);
    let seventeen: Vec<String> = (0..17).map(|i| format!("x{i}")).collect();
    let reply = server
        .get(&format!(
            "/ad_request?country=us&lang=eng&exclude={}",
            seventeen.join(",")
        ))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("'exclude'"));
}

#[tokio::test]
async fn explain_lists_every_ad_of_the_pair_on_the_admin_listener_only() {
    let server = TestServer::start(5).await;
    load_json(
        &server,
        &feed(&[
            ad("on", "us", "eng", 0, 0, ""),
            ad("off", "us", "eng", 20, 22, ""),
            ad("bad", "us", "eng", 0, 30, ""),
            ad("elsewhere", "ca", "eng", 0, 0, ""),
        ]),
    )
    .await;
    let reply = get(server.admin, "/explain?country=us&lang=en-US&hour=21").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let mut body = reply.body.clone().into_bytes();
    let doc = simd_json::to_owned_value(&mut body).unwrap();
    use simd_json::prelude::*;
    assert_eq!(doc.get("country").unwrap().as_str(), Some("us"));
    assert_eq!(doc.get("lang").unwrap().as_str(), Some("eng"));
    assert_eq!(doc.get("hour").unwrap().as_u64(), Some(21));
    let ads = doc.get("ads").unwrap().as_array().unwrap();
    let row = |i: usize| {
        let a = &ads[i];
        (
            a.get("id").unwrap().as_str().unwrap().to_owned(),
            a.get("eligible").unwrap().as_bool().unwrap(),
            a.get("reason").unwrap().as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(ads.len(), 3, "{}", reply.body);
    assert_eq!((row(0).0.as_str(), row(0).1), ("on", true));
    assert_eq!((row(1).0.as_str(), row(1).1), ("off", true));
    assert_eq!(
        row(2),
        (
            "bad".into(),
            false,
            "skipped by validation: end_hour 30 is outside 0..=24".into()
        )
    );

    assert_eq!(
        server.get("/explain?country=us&lang=eng").await.status,
        404,
        "not public"
    );
    assert_eq!(
        get(server.admin, "/explain?country=us&lang=eng&hour=24")
            .await
            .status,
        400
    );
    assert_eq!(get(server.admin, "/explain?lang=eng").await.status, 400);
}
