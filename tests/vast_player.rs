//! VAST answers read by a real player-side parser: `@dailymotion/vast-client`
//! over `@xmldom/xmldom`, run with node (`tests/vast/parse.mjs`). Documents
//! are rendered through the library exactly as the server splices them; the
//! parser must find the media file, the impression and every tracking URL,
//! byte for byte, including feed text built to break XML.
//!
//! Needs `npm ci --prefix tests/vast` once (CI runs it); without it every
//! test here fails saying so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Buf;
use http_body::Body;
use serde_json::{json, Value};

use adserver::delivery::creative::{Raw, RawCreative};
use adserver::delivery::vast::{self, TRACKING_EVENTS};
use adserver::delivery::{
    sign, verify, Creative, EventKey, ServingIds, Splice, SplicedBody, Template, Tracking,
};

const NOW: u64 = 1_760_000_000;

fn vast_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vast")
}

/// Runs the player's parser on one document.
fn parse(doc: &[u8]) -> Value {
    let dir = vast_dir();
    assert!(
        dir.join("node_modules/@dailymotion/vast-client").is_dir()
            && dir.join("node_modules/@xmldom/xmldom").is_dir(),
        "the VAST player parser is not installed: run `npm ci --prefix tests/vast` first"
    );
    let mut child = Command::new("node")
        .arg(dir.join("parse.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (node 20 or later must be on PATH)");
    child.stdin.take().unwrap().write_all(doc).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "parse.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["xmlErrors"],
        json!([]),
        "XML errors in:\n{}",
        String::from_utf8_lossy(doc)
    );
    assert_eq!(
        v["warnings"],
        json!([]),
        "parser warnings in:\n{}",
        String::from_utf8_lossy(doc)
    );
    v
}

struct Rendered {
    doc: Vec<u8>,
    event_url: String,
    serving_id: String,
}

fn render(template: &Template, ad_id: &str, tracking: Tracking) -> Rendered {
    let key = EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 5));
    let sid = ServingIds::new().unwrap().next();
    let splice = match tracking {
        Tracking::On => {
            let token = sign(&key, &sid, ad_id, NOW).unwrap();
            Splice::new(&sid, &["http://", "127.0.0.1:8080"], &token).unwrap()
        }
        Tracking::Off => Splice::serving_id_only(&sid),
    };
    let event_url = splice.event_url().to_owned();
    let mut body = SplicedBody::spliced(template, splice);
    let size = body.size_hint().exact().unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut doc = Vec::new();
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        let mut data = frame.unwrap().into_data().ok().unwrap();
        doc.extend_from_slice(&data.copy_to_bytes(data.remaining()));
    }
    assert_eq!(doc.len() as u64, size);
    Rendered {
        doc,
        event_url,
        serving_id: String::from_utf8(sid.to_hex().to_vec()).unwrap(),
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn creative(id: &str, url: &str, raw: RawCreative<'_>) -> Creative {
    Creative::validate(id, url, raw).unwrap()
}

/// Everything a tracked answer must show a player.
fn assert_tracked(v: &Value, r: &Rendered, id: &str, url: &str, c: &Creative) {
    assert_eq!(v["version"], "4.2");
    assert_eq!(v["adCount"], 1);
    let ad = &v["ads"][0];
    let e = |name: &str| format!("{}&e={name}", r.event_url);
    assert_eq!(ad["id"], id);
    assert_eq!(ad["title"], c.title.as_str());
    assert_eq!(ad["adServingId"], r.serving_id.as_str());
    assert_eq!(ad["impressions"], json!([e("impression")]));
    assert_eq!(ad["errors"], json!([e("error&code=[ERRORCODE]")]));
    assert_eq!(ad["creatives"], 1);
    assert_eq!(ad["universalAdIds"], json!([id]));
    assert_eq!(ad["duration"], c.duration);
    assert_eq!(
        ad["mediaFiles"],
        json!([{"url": url, "type": c.mime_type, "width": c.width, "height": c.height, "delivery": "progressive"}])
    );
    let tracking = ad["tracking"].as_object().unwrap();
    assert_eq!(tracking.len(), TRACKING_EVENTS.len(), "{tracking:?}");
    for name in TRACKING_EVENTS {
        assert_eq!(tracking[name], json!([e(name)]), "{name}");
    }
    match &c.click_url {
        Some(click) => {
            assert_eq!(ad["clickThrough"], click.as_str());
            assert_eq!(ad["clickTracking"], json!([e("click")]));
        }
        None => {
            assert_eq!(ad["clickThrough"], Value::Null);
            assert_eq!(ad["clickTracking"], json!([]));
        }
    }
    // The URL a player fires carries a token /event accepts for this ad.
    let token = r.event_url.split_once("?t=").unwrap().1;
    let verified = verify(
        &EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 5)),
        token,
        NOW + 1,
        3600,
    )
    .unwrap();
    assert_eq!(verified.ad_id(), id);
    assert_eq!(
        String::from_utf8(verified.serving_id.to_hex().to_vec()).unwrap(),
        r.serving_id
    );
}

#[test]
fn a_tracked_answer_with_a_click_url() {
    let (id, url) = ("59d4fb16", "https://cdn.example.com/ads/59d4fb16.mp4");
    let c = creative(
        id,
        url,
        RawCreative {
            click_url: Raw::Text("https://shop.example.com/deal?a=1&b=2"),
            ..Default::default()
        },
    );
    let r = render(&vast::compile(id, url, &c, Tracking::On), id, Tracking::On);
    assert_tracked(&parse(&r.doc), &r, id, url, &c);
}

#[test]
fn a_tracked_answer_without_a_click_url_and_with_every_field_given() {
    let (id, url) = ("b2", "https://cdn.example.com/b2.bin");
    let c = creative(
        id,
        url,
        RawCreative {
            duration: Raw::Integer(3600),
            mime_type: Raw::Text("video/webm"),
            width: Raw::Integer(640),
            height: Raw::Integer(360),
            title: Raw::Text("Spring launch"),
            ..Default::default()
        },
    );
    let r = render(&vast::compile(id, url, &c, Tracking::On), id, Tracking::On);
    let v = parse(&r.doc);
    assert_eq!(v["ads"][0]["duration"], 3600);
    assert_tracked(&v, &r, id, url, &c);
}

#[test]
fn hostile_feed_text_reaches_the_player_unchanged() {
    let id = r#"x]]><Ad id="evil">&amp;'"<"#;
    let url = r#"https://cdn.example.com/a]]>b/<c>&d='e'"f".mp4?q=]]]>&r=1"#;
    let c = creative(
        id,
        url,
        RawCreative {
            title: Raw::Text(
                r#"]]></AdTitle><Impression>http://evil/</Impression> & "quotes" 'too' <b>"#,
            ),
            click_url: Raw::Text(r#"https://shop.example.com/]]><x>&y="z"'"#),
            ..Default::default()
        },
    );
    let r = render(&vast::compile(id, url, &c, Tracking::On), id, Tracking::On);
    assert_tracked(&parse(&r.doc), &r, id, url, &c);
}

#[test]
fn tracking_off_has_no_url_of_ours() {
    let (id, url) = ("c3", "https://cdn.example.com/c3.m3u8");
    let c = creative(
        id,
        url,
        RawCreative {
            click_url: Raw::Text("https://shop.example.com/"),
            ..Default::default()
        },
    );
    let r = render(
        &vast::compile(id, url, &c, Tracking::Off),
        id,
        Tracking::Off,
    );
    assert_eq!(r.event_url, "");
    let v = parse(&r.doc);
    let ad = &v["ads"][0];
    assert_eq!(v["adCount"], 1);
    assert_eq!(ad["adServingId"], r.serving_id.as_str());
    assert_eq!(ad["impressions"], json!(["about:blank"]));
    assert_eq!(ad["errors"], json!([]));
    assert_eq!(ad["tracking"], json!({}));
    assert_eq!(ad["clickThrough"], "https://shop.example.com/");
    assert_eq!(ad["clickTracking"], json!([]));
    assert_eq!(
        ad["mediaFiles"],
        json!([{"url": url, "type": "application/x-mpegURL", "width": 1920, "height": 1080, "delivery": "progressive"}])
    );
    assert!(!String::from_utf8(r.doc).unwrap().contains("/event"));
}

#[test]
fn the_no_ad_document_has_no_ad() {
    let v = parse(&vast::no_ad());
    assert_eq!(v["version"], "4.2");
    assert_eq!(v["adCount"], 0);
}
