//! Tests for `vast.rs`: the rendered document, escaping, and what tracking
//! off leaves out. A real player's parser reads these documents in
//! `tests/vast_player.rs`.

use super::*;
use crate::delivery::body::{Splice, SplicedBody};
use crate::delivery::key::EventKey;
use crate::delivery::token::{sign, ServingIds};
use bytes::Buf;
use http_body::Body;

fn render(template: &Template, tracking: Tracking) -> String {
    let sid = ServingIds::with_prefix([0x11; 8]).next();
    let splice = match tracking {
        Tracking::On => {
            let token = sign(
                &EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 3)),
                &sid,
                "a1",
                1_760_000_000,
            )
            .unwrap();
            Splice::new(&sid, &["http://ads.test"], &token).unwrap()
        }
        Tracking::Off => Splice::serving_id_only(&sid),
    };
    let url = splice.event_url().to_owned();
    let mut body = SplicedBody::spliced(template, splice);
    let waker = noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut out = Vec::new();
    if let std::task::Poll::Ready(Some(Ok(f))) = std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
        let mut d = f.into_data().ok().unwrap();
        out.extend_from_slice(&d.copy_to_bytes(d.remaining()));
    }
    let doc = String::from_utf8(out).unwrap();
    if url.is_empty() {
        doc
    } else {
        doc.replace(&url, "{URL}")
    }
}

fn creative() -> Creative {
    let mut c = Creative::defaults("a1", "https://cdn.test/a1.mp4");
    c.click_url = Some("https://shop.test/?a=1&b=2".into());
    c
}

#[test]
fn a_tracked_answer_is_the_whole_document() {
    let t = compile("a1", "https://cdn.test/a1.mp4", &creative(), Tracking::On);
    let expected = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<VAST version="4.2" xmlns="http://www.iab.com/VAST">
<Ad id="a1">
<InLine>
<AdSystem version="{v}">adserver</AdSystem>
<Error><![CDATA[{{URL}}&e=error&code=[ERRORCODE]]]></Error>
<Impression id="adserver"><![CDATA[{{URL}}&e=impression]]></Impression>
<AdServingId>11111111111111110000000000000000</AdServingId>
<AdTitle>a1</AdTitle>
<Creatives>
<Creative id="a1" adId="a1">
<UniversalAdId idRegistry="adserver">a1</UniversalAdId>
<Linear>
<TrackingEvents>
<Tracking event="start"><![CDATA[{{URL}}&e=start]]></Tracking>
<Tracking event="firstQuartile"><![CDATA[{{URL}}&e=firstQuartile]]></Tracking>
<Tracking event="midpoint"><![CDATA[{{URL}}&e=midpoint]]></Tracking>
<Tracking event="thirdQuartile"><![CDATA[{{URL}}&e=thirdQuartile]]></Tracking>
<Tracking event="complete"><![CDATA[{{URL}}&e=complete]]></Tracking>
<Tracking event="skip"><![CDATA[{{URL}}&e=skip]]></Tracking>
</TrackingEvents>
<Duration>00:00:30</Duration>
<MediaFiles>
<MediaFile delivery="progressive" type="video/mp4" width="1920" height="1080"><![CDATA[https://cdn.test/a1.mp4]]></MediaFile>
</MediaFiles>
<VideoClicks>
<ClickThrough><![CDATA[https://shop.test/?a=1&b=2]]></ClickThrough>
<ClickTracking><![CDATA[{{URL}}&e=click]]></ClickTracking>
</VideoClicks>
</Linear>
</Creative>
</Creatives>
</InLine>
</Ad>
</VAST>
"#,
        v = env!("CARGO_PKG_VERSION")
    );
    assert_eq!(render(&t, Tracking::On), expected);
    // Nine event URLs and one serving id are the only gaps.
    assert_eq!(t.segments().len(), 2 * 10 + 1);
}

#[test]
fn tracking_off_carries_no_url_of_ours() {
    let t = compile("a1", "https://cdn.test/a1.mp4", &creative(), Tracking::Off);
    assert!(!t.has_event_url());
    let doc = render(&t, Tracking::Off);
    assert!(!doc.contains("{URL}") && !doc.contains("&e="), "{doc}");
    assert!(doc.contains("<Impression id=\"adserver\"><![CDATA[about:blank]]></Impression>"));
    assert!(doc.contains("<AdServingId>11111111111111110000000000000000</AdServingId>"));
    assert!(doc.contains("<ClickThrough><![CDATA[https://shop.test/?a=1&b=2]]></ClickThrough>"));
    assert!(
        !doc.contains("<Error>")
            && !doc.contains("<TrackingEvents>")
            && !doc.contains("ClickTracking")
    );
}

#[test]
fn no_click_url_means_no_video_clicks() {
    let c = Creative::defaults("a1", "https://cdn.test/a1.mp4");
    let doc = render(
        &compile("a1", "https://cdn.test/a1.mp4", &c, Tracking::On),
        Tracking::On,
    );
    assert!(!doc.contains("VideoClicks"), "{doc}");
}

#[test]
fn feed_text_is_escaped() {
    let mut c = creative();
    c.title = "<b>\"Hot\" & 'new'</b>\u{1}\n".into();
    c.click_url = Some("https://shop.test/x]]><y>".into());
    let id = "i<&\"'>";
    let doc = render(
        &compile(id, "https://cdn.test/a]]>b.mp4?x=1&y=2", &c, Tracking::On),
        Tracking::On,
    );
    assert!(doc.contains("<AdTitle>&lt;b&gt;&quot;Hot&quot; &amp; &apos;new&apos;&lt;/b&gt;\u{fffd}&#10;</AdTitle>"), "{doc}");
    assert!(
        doc.contains("<Ad id=\"i&lt;&amp;&quot;&apos;&gt;\">"),
        "{doc}"
    );
    assert!(
        doc.contains("<![CDATA[https://cdn.test/a]]]]><![CDATA[>b.mp4?x=1&y=2]]>"),
        "{doc}"
    );
    assert!(
        doc.contains("<![CDATA[https://shop.test/x]]]]><![CDATA[><y>]]>"),
        "{doc}"
    );
}

#[test]
fn durations_are_hh_mm_ss() {
    for (secs, text) in [
        (1, "00:00:01"),
        (30, "00:00:30"),
        (61, "00:01:01"),
        (3599, "00:59:59"),
        (3600, "01:00:00"),
    ] {
        assert_eq!(duration(secs), text);
    }
}

#[test]
fn no_ad_is_a_vast_document_without_an_ad() {
    let doc = no_ad();
    let text = std::str::from_utf8(&doc).unwrap();
    assert!(text.contains("<VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"/>"));
    assert!(!text.contains("<Ad"));
}

/// A waker that does nothing: the body is always ready. (`Waker::noop` is
/// newer than the crate's minimum Rust.)
fn noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}
