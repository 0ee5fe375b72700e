//! Turning a feed document into typed, validated ads (README, "Live
//! campaigns").
//!
//! Pure: bytes in, [`Feed`] out. A broken ad is skipped with the rule it
//! broke; only a document that is not JSON or has no `ads` array is rejected
//! whole. No I/O, no logging: the caller decides what to tell the operator.
//! Whatever the document holds, what is kept grows with the valid ads
//! only: skipped entries are counted, and a bounded few kept
//! ([`super::skipped`]).

use std::cell::RefCell;
use std::iter::Peekable;

use simd_json::prelude::*;
use simd_json::tape::Node;
use simd_json::{Buffers, Tape};

use super::scan::{self, AdsArray, Flaw, FlawKind, CHUNK_BYTES};
use super::skipped::{cut, Broken, Keeper, Rule, MAX_ID_BYTES};
use super::validate::validate;
use super::{Ad, Feed, FeedError, Sink, Skipped, Skips};
use crate::codes::{Country, Lang};

/// The fewest bytes a valid ad takes in a document: bounds what is
/// reserved up front, so a document of tiny junk entries reserves nothing
/// for ads it does not hold.
const MIN_AD_BYTES: usize = 64;

/// Parses and validates a whole feed document.
pub fn parse(mut body: Vec<u8>) -> Result<Feed, FeedError> {
    let mut ads: Vec<Ad> = Vec::new();
    let skips = parse_into(&mut body, &mut ads)?;
    Ok(Feed {
        ads,
        skipped: skips.kept,
        skip_counts: skips.counts,
    })
}

/// Parses and validates a feed document, handing each valid ad to `sink`
/// as it is read; returns what was skipped. On an error the sink may hold
/// some of the document's ads: drop it.
///
/// simd-json parses in place, and a pre-scan neutralises what it would
/// get wrong, so the document is changed: read it only once. The
/// document is read straight off simd-json's tape, without building a tree
/// of maps: about half the time on a million-ad feed. An `ads` array of
/// more than one run of entries ([`scan::CHUNK_BYTES`]) is parsed a run
/// at a time, so the tape and simd-json's buffers stay a few megabytes
/// however large the feed; the rest of the document is then parsed on its
/// own, so the whole of it must still be valid JSON.
pub fn parse_into(body: &mut [u8], sink: &mut impl Sink) -> Result<Skips, FeedError> {
    let scan = scan::neutralise(body);
    let mut reader = Reader {
        seen: Seen::default(),
        keeper: Keeper::default(),
        kept: Vec::new(),
        index: 0,
    };
    match scan.ads {
        // One run is the whole array: read in place, not copied.
        Some(ads) if ads.chunks.len() > 1 => {
            read_in_chunks(body, &ads, &scan.flaws, &mut reader, sink)?;
        }
        _ => {
            let len = body.len();
            with_tape(body, |tape| {
                let at = whole_ads_node(&tape.0)?;
                let entries = tape
                    .as_value()
                    .get("ads")
                    .and_then(|ads| ads.as_array())
                    .ok_or(FeedError::NoAdsArray)?;
                let room = entries.len().min(len / MIN_AD_BYTES);
                reader.seen.reserve(room, sink);
                sink.reserve(room);
                let mut flaws = scan.flaws.iter().peekable();
                reader.read(&tape.0, at, entries.iter(), &mut flaws, sink);
                Ok(())
            })?;
        }
    }
    Ok(Skips {
        kept: reader.kept,
        counts: reader.keeper.counts(),
    })
}

/// The document's `ads` array, parsed run by run: first the document
/// without the array's entries (it must be valid JSON, and its first
/// `"ads"` the array), then each run.
fn read_in_chunks(
    body: &[u8],
    ads: &AdsArray,
    flaws: &[Flaw],
    reader: &mut Reader,
    sink: &mut impl Sink,
) -> Result<(), FeedError> {
    let mut piece =
        Vec::with_capacity((body.len() - (ads.close - ads.open) + 1).min(CHUNK_BYTES + 2));
    piece.extend_from_slice(&body[..=ads.open]);
    piece.extend_from_slice(&body[ads.close..]);
    with_tape(&mut piece, |tape| {
        let at = whole_ads_node(&tape.0)?;
        match tape.0[at] {
            Node::Array { len: 0, .. } => Ok(()),
            _ => Err(FeedError::NoAdsArray),
        }
    })?;
    let room = ads
        .chunks
        .iter()
        .map(|c| c.entries)
        .sum::<usize>()
        .min(body.len() / MIN_AD_BYTES);
    reader.seen.reserve(room, sink);
    sink.reserve(room);
    let mut flaws = flaws.iter().peekable();
    let mut local = Vec::new();
    for (k, chunk) in ads.chunks.iter().enumerate() {
        piece.clear();
        piece.push(b'[');
        piece.extend_from_slice(&body[chunk.start..chunk.end]);
        piece.push(b']');
        // This run's flaws, numbered on its own tape, where the array is
        // node 0 and its first entry node 1.
        let next = ads.chunks.get(k + 1).map_or(u32::MAX, |c| c.node);
        while flaws.next_if(|f| f.node < chunk.node).is_some() {}
        local.clear();
        while let Some(f) = flaws.next_if(|f| f.node < next) {
            local.push(Flaw {
                node: f.node - chunk.node + 1,
                kind: f.kind,
            });
        }
        with_tape(&mut piece, |tape| {
            let entries = tape.as_value().as_array();
            match entries {
                Some(entries) if entries.len() == chunk.entries => {
                    let mut flaws = local.iter().peekable();
                    reader.read(&tape.0, 0, entries.iter(), &mut flaws, sink);
                    Ok(())
                }
                // `[1,,2]` and `[1,]` are refused by simd-json; a run of
                // only blanks between commas (`[1, ,2]`) parses as `[]`.
                _ => Err(FeedError::InvalidJson(
                    "an entry of the ads array is empty".into(),
                )),
            }
        })?;
    }
    Ok(())
}

/// Parses `doc` with the refresh thread's kept simd-json buffers and runs
/// `then` on the tape's nodes.
fn with_tape<T>(
    doc: &mut [u8],
    then: impl FnOnce(&Tape<'_>) -> Result<T, FeedError>,
) -> Result<T, FeedError> {
    let keep = doc.len() <= 4 * CHUNK_BYTES;
    SCRATCH.with_borrow_mut(|kept| {
        let (mut buffers, tape) = kept
            .take()
            .unwrap_or_else(|| (Buffers::new(doc.len()), Tape::null()));
        let mut tape = tape.reset();
        let out = match simd_json::fill_tape(doc, &mut buffers, &mut tape) {
            Ok(()) => then(&tape),
            Err(e) => Err(FeedError::InvalidJson(e.to_string())),
        };
        // A document read whole (no ads array found) may be large: its
        // buffers are not worth keeping.
        if keep {
            *kept = Some((buffers, tape.reset()));
        }
        out
    })
}

thread_local! {
    /// simd-json's working memory (a padded copy of the piece parsed, its
    /// strings, the structural index and the tape: several times the
    /// piece's size), kept from one parse to the next on the thread that
    /// parses, which is the refresh thread. Allocated afresh for every
    /// rebuild, those buffers left the allocator holding ever more memory;
    /// reused, a rebuild allocates none of it.
    static SCRATCH: RefCell<Option<(Buffers, Tape<'static>)>> = const { RefCell::new(None) };
}

/// Nodes a value takes on the tape, its own included.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Where the root object's first `"ads"` value sits on the tape: the one
/// `get("ads")` returns.
fn ads_node(nodes: &[Node<'_>]) -> Option<usize> {
    let &Node::Object { len, .. } = nodes.first()? else {
        return None;
    };
    let mut at = 1;
    for _ in 0..len {
        let key = nodes.get(at)?;
        at += 1;
        if *key == Node::String("ads") {
            return Some(at);
        }
        at += span(nodes.get(at)?);
    }
    None
}

/// The tape index of a whole document's `ads` array.
fn whole_ads_node(nodes: &[Node<'_>]) -> Result<usize, FeedError> {
    let at = ads_node(nodes).ok_or(FeedError::NoAdsArray)?;
    match nodes[at] {
        Node::Array { .. } => Ok(at),
        _ => Err(FeedError::NoAdsArray),
    }
}

/// Ids already served, as ad numbers; the ids themselves are the sink's.
#[derive(Default)]
struct Seen {
    numbers: hashbrown::HashTable<u32>,
}

impl Seen {
    fn reserve(&mut self, n: usize, sink: &impl Sink) {
        self.numbers
            .reserve(n, |&ad| SEEN_HASH.hash_one(sink.id(ad as usize)));
    }

    /// Whether `id` is new; if so it becomes ad number `sink.len()`.
    fn insert(&mut self, id: &str, sink: &impl Sink) -> bool {
        let hash = SEEN_HASH.hash_one(id);
        match self.numbers.entry(
            hash,
            |&ad| sink.id(ad as usize) == id,
            |&ad| SEEN_HASH.hash_one(sink.id(ad as usize)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(sink.len() as u32);
                true
            }
        }
    }
}

const SEEN_HASH: ahash::RandomState = ahash::RandomState::with_seeds(5, 6, 7, 8);

/// What reading entries keeps between runs of them.
struct Reader {
    seen: Seen,
    keeper: Keeper,
    kept: Vec<Skipped>,
    /// The next entry's index in the `ads` array.
    index: usize,
}

impl Reader {
    /// Reads `entries`, the array at tape index `array`; `flaws` are the
    /// pre-scan's, numbered on this tape.
    fn read<'t, 'i: 't, 'f>(
        &mut self,
        nodes: &[Node<'_>],
        array: usize,
        entries: impl Iterator<Item = simd_json::tape::Value<'t, 'i>>,
        flaws: &mut Peekable<impl Iterator<Item = &'f Flaw>>,
        sink: &mut impl Sink,
    ) {
        let mut at = array + 1;
        // Flaws before the array are outside every ad: neutralised, ignored.
        while flaws.next_if(|f| (f.node as usize) < at).is_some() {}
        for entry in entries {
            let index = self.index;
            self.index += 1;
            let end = at + span(&nodes[at]);
            let mut flawed = None;
            while let Some(flaw) = flaws.next_if(|f| (f.node as usize) < end) {
                flawed = flawed.or(Some(*flaw));
            }
            let broken = match flawed {
                Some(flaw) => flaw_rule(flaw, &nodes[at..end], at),
                None => match validate(&entry) {
                    Ok(ad) if self.seen.insert(ad.id, sink) => {
                        sink.push(ad);
                        at = end;
                        continue;
                    }
                    Ok(_) => Broken::new(
                        Rule::RepeatedId,
                        "id repeats an earlier ad; the first one is kept",
                    ),
                    Err(broken) => broken,
                },
            };
            at = end;
            let text = |field| entry.get(field).and_then(|v| v.into_string());
            // Longer text is no code: not worth parsing, or keeping.
            let code = |field| text(field).filter(|c| c.len() <= 32);
            let country = code("country").and_then(|c| match c {
                "*" => Some(Country::ANY),
                c => Country::parse(c.as_bytes()),
            });
            let lang = code("lang").and_then(|l| match l {
                "*" => Some(Lang::ANY),
                l => Lang::parse(l.as_bytes()),
            });
            if self.keeper.admit(broken.rule, country, lang) {
                self.kept.push(Skipped {
                    index,
                    id: text("id").map(|id| cut(id, MAX_ID_BYTES).into()),
                    country,
                    lang,
                    rule: broken.rule,
                    detail: broken.detail,
                });
            }
        }
    }
}

/// Where in an entry a flaw sits.
enum Place<'k> {
    /// A field's name.
    Key,
    /// A field's value itself.
    Value(&'k str),
    /// Somewhere inside a field's value.
    Inside(&'k str),
    /// Not under a field: the entry is not an object.
    Entry,
}

/// The rule an entry broke by holding a flaw, naming the field it is in.
/// `entry` is the entry's nodes, starting at tape index `first`.
fn flaw_rule(flaw: Flaw, entry: &[Node<'_>], first: usize) -> Broken {
    let node = flaw.node as usize - first;
    let mut place = Place::Entry;
    if let Node::Object { len, .. } = entry[0] {
        let mut at = 1;
        for _ in 0..len {
            let (Some(&Node::String(key)), Some(value)) = (entry.get(at), entry.get(at + 1)) else {
                break;
            };
            let end = at + 1 + span(value);
            if node == at {
                place = Place::Key;
                break;
            }
            if node < end {
                place = if node == at + 1 {
                    Place::Value(key)
                } else {
                    Place::Inside(key)
                };
                break;
            }
            at = end;
        }
    }
    let (rule, what) = match flaw.kind {
        FlawKind::NumberOutOfRange => (
            Rule::NumberOutOfRange,
            "a number out of range (past 64-bit integers or floating point)",
        ),
        FlawKind::LoneSurrogate => (
            Rule::LoneSurrogate,
            "a lone surrogate escape, which is not valid text",
        ),
    };
    let detail = match place {
        Place::Key => format!("a field name holds {what}"),
        Place::Value(key) => format!("{} is {what}", cut(key, 64)),
        Place::Inside(key) => format!("{} holds {what}", cut(key, 64)),
        Place::Entry => format!("the entry holds {what}"),
    };
    Broken::new(rule, detail)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::window::Window;

    pub(in crate::feed) const GOOD: &str = r#"{"id":"a1","video_url":"https://cdn.example.com/a1.mp4","country":"US","lang":"ENG","start_hour":1,"end_hour":14}"#;

    pub(in crate::feed) fn feed_of(ads: &[&str]) -> Vec<u8> {
        format!(r#"{{"ads":[{}]}}"#, ads.join(",")).into_bytes()
    }

    /// `GOOD` with one field's JSON text replaced (or removed, for `None`).
    pub(in crate::feed) fn with(field: &str, value: Option<&str>) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("id".into(), r#""a1""#.into()),
            (
                "video_url".into(),
                r#""https://cdn.example.com/a1.mp4""#.into(),
            ),
            ("country".into(), r#""us""#.into()),
            ("lang".into(), r#""eng""#.into()),
            ("start_hour".into(), "1".into()),
            ("end_hour".into(), "14".into()),
        ];
        fields.retain(|(k, _)| k != field);
        if let Some(v) = value {
            fields.push((field.into(), v.into()));
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    /// The one rule a single bad ad breaks.
    pub(in crate::feed) fn rule_of(ad: &str) -> String {
        let feed = parse(feed_of(&[ad])).unwrap();
        assert!(feed.ads.is_empty(), "{ad} should be skipped");
        assert_eq!(feed.skipped.len(), 1);
        feed.skipped[0].detail.to_string()
    }

    #[test]
    fn a_good_ad_is_lower_cased_and_kept() {
        let feed = parse(feed_of(&[GOOD])).unwrap();
        assert!(feed.skipped.is_empty());
        let ad = &feed.ads[0];
        assert_eq!(
            (ad.id.as_str(), ad.country.as_str(), ad.lang.as_str()),
            ("a1", "us", "eng")
        );
        assert_eq!(ad.window, Window::new(1, 14));
    }

    #[test]
    fn repeated_id_keeps_the_first() {
        let second = GOOD.replace("a1.mp4", "other.mp4");
        let feed = parse(feed_of(&[GOOD, &second])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert_eq!(feed.ads[0].video_url, "https://cdn.example.com/a1.mp4");
        assert_eq!(feed.skipped[0].index, 1);
        assert!(feed.skipped[0].detail.contains("repeats"));
    }

    /// The ids of the served ads and the rules of the skipped ones.
    fn outcome(ads: &[&str]) -> (Vec<String>, Vec<(usize, String)>) {
        let feed = parse(feed_of(ads)).expect("one bad ad must not reject the feed");
        (
            feed.ads.iter().map(|a| a.id.clone()).collect(),
            feed.skipped
                .iter()
                .map(|s| (s.index, s.detail.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_number_out_of_range_skips_only_its_ad() {
        for number in [
            "1e400",
            "18446744073709551616",
            "-1e400",
            "-9223372036854775809",
        ] {
            for (field, detail) in [
                ("start_hour", "start_hour is a number out of range"),
                ("end_hour", "end_hour is a number out of range"),
                ("weight", "weight is a number out of range"),
                ("budget", "budget is a number out of range"),
            ] {
                let bad = with(field, Some(number)).replace(r#""a1""#, r#""bad""#);
                let (served, skipped) = outcome(&[&bad, GOOD]);
                assert_eq!(served, ["a1"], "{field}={number}");
                assert_eq!(skipped.len(), 1);
                assert!(
                    skipped[0].1.starts_with(detail),
                    "{field}={number}: {skipped:?}"
                );
            }
        }
        let nested = GOOD.replace('}', r#","extra":{"deep":[1,2,1e999]}}"#);
        let (served, skipped) = outcome(&[&nested]);
        assert!(served.is_empty());
        assert!(skipped[0]
            .1
            .starts_with("extra holds a number out of range"));
        // Outside the ads array, it harms no ad.
        let body = format!(r#"{{"version":1e400,"ads":[{GOOD}],"z":2e400}}"#);
        assert_eq!(parse(body.into_bytes()).unwrap().ads.len(), 1);
    }

    #[test]
    fn a_lone_surrogate_skips_its_ad_and_never_collides() {
        let ad = |id: &str| GOOD.replace(r#""a1""#, &format!(r#""{id}""#));
        let (served, skipped) = outcome(&[&ad(r"x\ud800"), &ad(r"x\udbff"), &ad("a1")]);
        assert_eq!(served, ["a1"]);
        assert_eq!(skipped.len(), 2);
        for (_, detail) in &skipped {
            assert_eq!(
                detail,
                "id is a lone surrogate escape, which is not valid text"
            );
        }
        for lone in [r"x\udc00", r"x\ud800\u0041", r"x\ud800\ue000", r"\udfff"] {
            let (served, skipped) = outcome(&[&ad(lone), GOOD]);
            assert_eq!(served, ["a1"], "{lone}");
            assert!(skipped[0].1.contains("lone surrogate"), "{lone}");
        }
        let in_url = with("video_url", Some(r#""https://v.example/\ud800.mp4""#));
        assert!(outcome(&[&in_url]).1[0]
            .1
            .starts_with("video_url is a lone"));
        let in_key = GOOD.replace('}', r#","k\udc00":1}"#);
        assert!(outcome(&[&in_key]).1[0].1.starts_with("a field name holds"));
        // A valid pair is text.
        let (served, _) = outcome(&[&ad(r"x\ud83d\ude00")]);
        assert_eq!(served, ["x\u{1f600}"]);
    }

    #[test]
    fn ids_and_urls_have_length_limits() {
        let id = |n: usize| with("id", Some(&format!("{:?}", "i".repeat(n))));
        assert_eq!(outcome(&[&id(256)]).0.len(), 1);
        let (served, skipped) = outcome(&[&id(300)]);
        assert!(served.is_empty());
        assert_eq!(skipped[0].1, "id is 300 bytes, over the 256-byte limit");
        // Measured after unescaping: 129 six-byte escapes of `é` are 258 bytes.
        let escaped = with("id", Some(&format!(r#""{}""#, r"\u00e9".repeat(129))));
        assert_eq!(
            outcome(&[&escaped]).1[0].1,
            "id is 258 bytes, over the 256-byte limit"
        );
        let url = |n: usize| {
            let path = "p".repeat(n - "https://v.example/".len());
            with("video_url", Some(&format!(r#""https://v.example/{path}""#)))
        };
        assert_eq!(outcome(&[&url(2048)]).0.len(), 1);
        assert_eq!(
            outcome(&[&url(1 << 20)]).1[0].1,
            "video_url is 1048576 bytes, over the 2048-byte limit"
        );
    }

    #[test]
    fn what_is_kept_of_a_skipped_ad_is_cut() {
        let huge = "i".repeat(1 << 20);
        let ad = with("id", Some(&format!("{huge:?}"))).replace(r#""us""#, &format!("{huge:?}"));
        let feed = parse(feed_of(&[&ad])).unwrap();
        let kept = &feed.skipped[0];
        assert!(kept.id.as_deref().unwrap().len() <= MAX_ID_BYTES + "…".len());
        assert!(kept.to_string().len() < 400, "{}", kept.to_string().len());
        assert_eq!(kept.country, None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let ad = GOOD.replace('}', r#","budget":{"daily":5},"tags":["x"]}"#);
        let feed = parse(feed_of(&[&ad])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert!(feed.skipped.is_empty());
    }

    #[test]
    fn non_object_entries_are_skipped() {
        let feed = parse(feed_of(&["42", GOOD])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert_eq!(feed.skipped[0].detail, "an ad must be a JSON object");
    }

    #[test]
    fn invalid_json_rejects_the_document() {
        for body in [&b"{\"ads\":["[..], b"", b"not json", b"{\"ads\":[]}}"] {
            assert!(
                matches!(parse(body.to_vec()), Err(FeedError::InvalidJson(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn missing_ads_array_rejects_the_document() {
        for body in [&b"{}"[..], b"{\"ads\":{}}", b"[]", b"{\"Ads\":[]}", b"null"] {
            assert!(
                matches!(parse(body.to_vec()), Err(FeedError::NoAdsArray)),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_sample_feed_parses() {
        let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
        let feed = parse(body).unwrap();
        assert!(feed.ads.len() >= 10, "{} ads", feed.ads.len());
    }

    /// A large document is parsed a run of entries at a time; the result
    /// is the same as reading it whole (which the parser does when a root
    /// key is escaped), flaws, repeats and skips in later runs included.
    #[test]
    fn a_document_read_in_runs_reads_as_one_read_whole() {
        let mut doc = crate::synthetic::feed(30_000, 3);
        let id = |n: usize| format!(r#""id":"{n:08x}""#);
        // A flaw, a lone surrogate, a repeat and a non-object, all past the
        // first run.
        doc = doc.replacen(&id(20_000), r#""id":"x","start_hour":1e400"#, 1);
        doc = doc.replacen(&id(21_000), r#""id":"y\ud800""#, 1);
        doc = doc.replacen(&id(29_000), &id(25_000), 1);
        doc = doc.replacen(&format!("{{{}", id(27_000)), r#"42,{"id":"z""#, 1);
        let mut runs = doc.clone().into_bytes();
        let scanned = scan::neutralise(&mut runs);
        assert!(scanned.ads.unwrap().chunks.len() > 2, "{} bytes", doc.len());
        let whole = doc.replacen(r#"{"ads""#, r#"{"\u0061ds""#, 1);
        let mut bytes = whole.clone().into_bytes();
        assert!(scan::neutralise(&mut bytes).ads.is_none());
        let (runs, whole) = (parse(doc.into_bytes()), parse(whole.into_bytes()));
        let runs = runs.unwrap();
        assert_eq!(runs.ads.len(), 29_997);
        assert_eq!(runs.skipped.len(), 4);
        assert_eq!(format!("{runs:?}"), format!("{:?}", whole.unwrap()));
    }

    #[test]
    fn a_broken_run_or_a_missing_entry_rejects_the_document() {
        let doc = crate::synthetic::feed(30_000, 3);
        let last = format!(r#""id":"{:08x}""#, 29_000);
        for broken in [
            doc.replacen(&last, r#""id":"a",,"#, 1),
            doc.replacen(&last, r#""id":"a"}, ,{"id":"b""#, 1),
            doc.replacen("]}", ",]}", 1),
            doc.replacen("]}", r#"],"x":}"#, 1),
            feed_of(&[GOOD, " ", GOOD])
                .iter()
                .map(|&b| b as char)
                .collect(),
            feed_of(&[GOOD, ""]).iter().map(|&b| b as char).collect(),
        ] {
            assert!(
                matches!(
                    parse(broken.clone().into_bytes()),
                    Err(FeedError::InvalidJson(_))
                ),
                "{}",
                &broken[broken.len().saturating_sub(60)..]
            );
        }
        let no_array = doc
            .replacen(r#"{"ads":["#, r#"{"ads":{"a":["#, 1)
            .replacen("]}", "]}}", 1);
        assert!(matches!(
            parse(no_array.into_bytes()),
            Err(FeedError::NoAdsArray)
        ));
    }

    /// The kept simd-json buffers must not carry anything from one parse
    /// to the next: a failed parse, a large and a small document in turn
    /// give what a fresh parser gives.
    #[test]
    fn reused_buffers_parse_each_document_afresh() {
        // Feed and FeedError have no equality; their Debug text is exact.
        let here = |body: &[u8]| format!("{:?}", parse(body.to_vec()));
        let fresh = |body: &[u8]| std::thread::scope(|s| s.spawn(|| here(body)).join().unwrap());
        let large = crate::synthetic::feed(2_000, 7);
        let small = br#"{"ads":[{"id":"a","video_url":"https://v/a.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":24}]}"#;
        for body in [
            &b"{\"ads\": [tru"[..],
            large.as_bytes(),
            small,
            b"[]",
            large.as_bytes(),
            small,
        ] {
            assert_eq!(
                here(body),
                fresh(body),
                "{}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
    }
}
