//! VAST 4.2 answers (README "Delivery"), written from the IAB VAST 4.x
//! specification and its `vast_4.2.xsd`.
//!
//! [`compile`] renders one ad's document once, at catalog compile time, into
//! a [`Template`] whose only gaps are the serving id (`AdServingId`) and the
//! event URL that every tracking URL starts with; `body` splices them in per
//! request. Everything from the feed is escaped here, once. Elements follow
//! the schema's order (`AdSystem`, `Error`, `Impression`, `AdServingId`,
//! `AdTitle`, `Creatives`; in `Linear`: `TrackingEvents`, `Duration`,
//! `MediaFiles`, `VideoClicks`), so the document validates against the XSD.

use bytes::Bytes;

use super::body::{Segment, Template};
use super::creative::Creative;
use super::Tracking;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"";

/// The answer when no ad is eligible: a VAST document with no `Ad`, which
/// the schema allows and the specification's "no ad response" describes.
pub fn no_ad() -> Bytes {
    Bytes::from_static(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VAST version=\"4.2\" xmlns=\"http://www.iab.com/VAST\"/>\n")
}

/// The events a linear creative's `TrackingEvents` names, in player order.
pub const TRACKING_EVENTS: [&str; 6] = [
    "start",
    "firstQuartile",
    "midpoint",
    "thirdQuartile",
    "complete",
    "skip",
];

/// One ad's VAST document as a template.
///
/// With tracking on, every URL of ours is the event URL plus `&e=NAME`
/// (`&e=error&code=[ERRORCODE]` for `Error`, where the player puts the VAST
/// error code). With tracking off there are none: the schema requires an
/// `Impression`, so it holds `about:blank`, the placeholder the schema's
/// documentation names for "no reason to include an Impression"; there is
/// no `Error` and no `TrackingEvents`, and `AdServingId` is still filled.
pub fn compile(id: &str, video_url: &str, creative: &Creative, tracking: Tracking) -> Template {
    let mut w = Writer::default();
    w.text(HEAD);
    w.text(">\n<Ad id=\"");
    w.attr(id);
    w.text("\">\n<InLine>\n<AdSystem version=\"");
    w.text(env!("CARGO_PKG_VERSION"));
    w.text("\">adserver</AdSystem>\n");
    match tracking {
        Tracking::On => {
            w.text("<Error>");
            w.event_url("error&code=[ERRORCODE]");
            w.text("</Error>\n<Impression id=\"adserver\">");
            w.event_url("impression");
            w.text("</Impression>\n");
        }
        Tracking::Off => {
            w.text("<Impression id=\"adserver\"><![CDATA[about:blank]]></Impression>\n")
        }
    }
    w.text("<AdServingId>");
    w.gap(Segment::ServingId);
    w.text("</AdServingId>\n<AdTitle>");
    w.content(&creative.title);
    w.text("</AdTitle>\n<Creatives>\n<Creative id=\"");
    w.attr(id);
    w.text("\" adId=\"");
    w.attr(id);
    w.text("\">\n<UniversalAdId idRegistry=\"adserver\">");
    w.content(id);
    w.text("</UniversalAdId>\n<Linear>\n");
    if tracking == Tracking::On {
        w.text("<TrackingEvents>\n");
        for event in TRACKING_EVENTS {
            w.text("<Tracking event=\"");
            w.text(event);
            w.text("\">");
            w.event_url(event);
            w.text("</Tracking>\n");
        }
        w.text("</TrackingEvents>\n");
    }
    w.text("<Duration>");
    w.text(&duration(creative.duration));
    w.text("</Duration>\n<MediaFiles>\n<MediaFile delivery=\"progressive\" type=\"");
    w.attr(&creative.mime_type);
    w.text(&format!(
        "\" width=\"{}\" height=\"{}\">",
        creative.width, creative.height
    ));
    w.cdata(video_url);
    w.text("</MediaFile>\n</MediaFiles>\n");
    if let Some(click) = &creative.click_url {
        w.text("<VideoClicks>\n<ClickThrough>");
        w.cdata(click);
        w.text("</ClickThrough>\n");
        if tracking == Tracking::On {
            w.text("<ClickTracking>");
            w.event_url("click");
            w.text("</ClickTracking>\n");
        }
        w.text("</VideoClicks>\n");
    }
    w.text("</Linear>\n</Creative>\n</Creatives>\n</InLine>\n</Ad>\n</VAST>\n");
    w.finish()
}

/// `HH:MM:SS`, the schema's `xs:time` form of a duration.
fn duration(secs: u32) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Builds the segment list; only runs at compile time, so it may allocate.
#[derive(Default)]
struct Writer {
    segments: Vec<Segment>,
    text: String,
}

impl Writer {
    fn text(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn gap(&mut self, gap: Segment) {
        let text = std::mem::take(&mut self.text);
        self.segments.push(Segment::Static(Bytes::from(text)));
        self.segments.push(gap);
    }

    /// `<![CDATA[{event_url}&e=NAME]]>`. The event URL holds no `]]>` (its
    /// base is checked by `body::check_base`, the token is base64url).
    fn event_url(&mut self, name: &str) {
        self.text("<![CDATA[");
        self.gap(Segment::EventUrl);
        self.text("&e=");
        self.text(name);
        self.text("]]>");
    }

    fn content(&mut self, s: &str) {
        escape(s, &mut self.text);
    }

    fn attr(&mut self, s: &str) {
        escape(s, &mut self.text);
    }

    /// A CDATA section, as the schema asks for media file URLs; a `]]>`
    /// inside is split across two sections.
    fn cdata(&mut self, s: &str) {
        self.text("<![CDATA[");
        let mut clean = String::with_capacity(s.len());
        for c in s.chars() {
            clean.push(xml_char(c));
        }
        self.text(&clean.replace("]]>", "]]]]><![CDATA[>"));
        self.text("]]>");
    }

    fn finish(mut self) -> Template {
        let text = std::mem::take(&mut self.text);
        self.segments.push(Segment::Static(Bytes::from(text)));
        Template::from_segments(self.segments)
    }
}

/// Escapes text for element content and double- or single-quoted
/// attributes alike.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as characters in attributes, where a parser would
            // otherwise turn them into spaces.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(xml_char(c)),
        }
    }
}

/// XML 1.0 cannot carry most control characters or U+FFFE/U+FFFF at all,
/// escaped or not; they become U+FFFD.
fn xml_char(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
        c => c,
    }
}

#[cfg(test)]
#[path = "vast_tests.rs"]
mod tests;
