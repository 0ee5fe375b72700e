//! A pass over the raw feed before simd-json reads it, for the two things
//! simd-json would get wrong (README, "Live campaigns"):
//!
//! - a number out of range (`1e400`, `18446744073709551616`) fails the
//!   whole document there, where only the ad holding it should be skipped;
//! - a lone surrogate escape (`"\ud800"`) is silently turned into another
//!   character (two different ids then collide), or fails the document.
//!
//! Each such token is neutralised in place, at the same length (a number
//! becomes `0` and spaces, an escape becomes `\ufffd`), and reported with
//! its position on simd-json's tape, which lists values, keys and
//! containers in document order: the parser then skips the ad holding it,
//! naming the rule. This pass does not validate JSON; simd-json does, after.

/// A token the scan neutralised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flaw {
    /// Index of the token's node on the tape (a string's node for an escape).
    pub node: u32,
    pub kind: FlawKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlawKind {
    NumberOutOfRange,
    LoneSurrogate,
}

/// Bytes of entries parsed at a time: simd-json's tape and buffers grow
/// with what one parse holds (about five times its bytes), so a large feed
/// is parsed a run of entries at a time, not whole.
pub(super) const CHUNK_BYTES: usize = 1 << 20;

/// What the scan found.
pub(super) struct Scan {
    /// Tokens neutralised, in document order.
    pub flaws: Vec<Flaw>,
    /// Where the root object's first `"ads"` array lies, when the document
    /// looks like one. `None` when it does not (or a root key is escaped):
    /// the parser then reads the document whole.
    pub ads: Option<AdsArray>,
}

/// The `ads` array's place in the document, cut into runs of entries.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AdsArray {
    /// Byte offsets of its `[` and of its `]`.
    pub open: usize,
    pub close: usize,
    /// Runs of whole entries, in order, about [`CHUNK_BYTES`] each (one
    /// large entry is a run alone). Empty for an array of none.
    pub chunks: Vec<Chunk>,
}

/// A run of entries: `doc[start..end]` holds them and the commas between,
/// never the comma before or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Entries between those bytes, if the document is valid JSON (commas
    /// at the array's level, plus one).
    pub entries: usize,
    /// Tape index its first entry would have in a parse of the whole document.
    pub node: u32,
}

/// Where the scan is relative to the root object and its `ads` array.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    /// Before the first token.
    Start,
    /// Inside the root object, a key expected next.
    Key,
    /// Inside the root object, after a key (or a value).
    Value { ads: bool },
    /// Inside the `ads` array.
    Ads,
    /// The array found and closed, or the document is not the shape looked for.
    Done,
}

/// Neutralises every out-of-range number and lone surrogate escape in
/// `doc`, returning where they were, in document order, and where the
/// `ads` array lies.
pub(super) fn neutralise(doc: &mut [u8]) -> Scan {
    let mut flaws = Vec::new();
    // simd-json refuses documents past u32::MAX bytes, so a node fits u32.
    let mut node: u32 = 0;
    let mut depth: usize = 0;
    let mut root = Root::Start;
    // Set once the shape is known not to be `{…, "ads": [ … ], …}`.
    let mut unsure = false;
    let mut ads: Option<AdsArray> = None;
    let mut chunk = Chunk {
        start: 0,
        end: 0,
        entries: 1,
        node: 0,
    };
    let mut i = 0;
    while i < doc.len() {
        match doc[i] {
            b'"' => {
                let end = string(doc, i + 1, node, &mut flaws);
                match root {
                    Root::Key if depth == 1 => {
                        let key = &doc[i + 1..end.saturating_sub(1).max(i + 1)];
                        if key.contains(&b'\\') {
                            unsure = true;
                        }
                        root = Root::Value {
                            ads: key == b"ads" && ads.is_none(),
                        };
                    }
                    Root::Value { ads: true } if depth == 1 => unsure = true,
                    _ => {}
                }
                i = end;
                node = node.wrapping_add(1);
            }
            b'{' | b'[' => {
                match root {
                    Root::Start if doc[i] == b'{' => root = Root::Key,
                    Root::Start => unsure = true,
                    Root::Value { ads: true } if depth == 1 => {
                        if doc[i] == b'[' {
                            root = Root::Ads;
                            ads = Some(AdsArray {
                                open: i,
                                close: 0,
                                chunks: Vec::new(),
                            });
                            chunk = Chunk {
                                start: i + 1,
                                end: 0,
                                entries: 1,
                                node: node.wrapping_add(1),
                            };
                        } else {
                            unsure = true;
                        }
                    }
                    _ => {}
                }
                depth += 1;
                i += 1;
                node = node.wrapping_add(1);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if root == Root::Ads && depth == 1 {
                    if let Some(array) = &mut ads {
                        array.close = i;
                        chunk.end = i;
                        let blank = doc[chunk.start..i].iter().all(u8::is_ascii_whitespace);
                        if !(blank && chunk.entries == 1 && array.chunks.is_empty()) {
                            array.chunks.push(chunk);
                        }
                    }
                    root = Root::Value { ads: false };
                } else if depth == 0 && root != Root::Start {
                    root = Root::Done;
                }
                i += 1;
            }
            b',' => {
                match root {
                    Root::Value { .. } if depth == 1 => root = Root::Key,
                    Root::Ads if depth == 2 => {
                        if i - chunk.start >= CHUNK_BYTES {
                            chunk.end = i;
                            if let Some(array) = &mut ads {
                                array.chunks.push(chunk);
                            }
                            chunk = Chunk {
                                start: i + 1,
                                end: 0,
                                entries: 1,
                                node,
                            };
                        } else {
                            chunk.entries += 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                if root == (Root::Value { ads: true }) && depth == 1 {
                    unsure = true;
                }
                let end = i + doc[i..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .unwrap_or(doc.len() - i);
                if out_of_range(&doc[i..end]) {
                    flaws.push(Flaw {
                        node,
                        kind: FlawKind::NumberOutOfRange,
                    });
                    doc[i] = b'0';
                    doc[i + 1..end].fill(b' ');
                }
                i = end;
                node = node.wrapping_add(1);
            }
            b't' | b'f' | b'n' => {
                if root == (Root::Value { ads: true }) && depth == 1 {
                    unsure = true;
                }
                i += doc[i..]
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .unwrap_or(doc.len() - i);
                node = node.wrapping_add(1);
            }
            _ => i += 1,
        }
    }
    let closed = ads.as_ref().is_some_and(|a| a.close > a.open);
    Scan {
        flaws,
        ads: ads.filter(|_| closed && !unsure),
    }
}

/// Walks a string from just after its opening quote; returns the index
/// just after its closing quote (or the end of a truncated document).
/// Where the first `"` or `\` of `text` is. Most strings of a feed are
/// keys and codes of a few bytes, for which a plain loop beats setting up
/// `memchr2`'s vector search; longer text goes to it.
#[inline]
fn quote_or_escape(text: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &text[..text.len().min(SHORT)];
    if let Some(at) = head.iter().position(|&b| b == b'"' || b == b'\\') {
        return Some(at);
    }
    memchr::memchr2(b'"', b'\\', &text[head.len()..]).map(|at| at + head.len())
}

fn string(doc: &mut [u8], mut i: usize, node: u32, flaws: &mut Vec<Flaw>) -> usize {
    let mut flawed = false;
    loop {
        // An escape at the very end steps past it: a truncated document.
        let Some(at) = quote_or_escape(doc.get(i..).unwrap_or_default()) else {
            return doc.len();
        };
        i += at;
        if doc[i] == b'"' {
            return i + 1;
        }
        if doc.get(i + 1) != Some(&b'u') {
            i += 2; // a two-byte escape, `\"` included
            continue;
        }
        let Some(unit) = hex4(doc, i + 2) else {
            i += 2; // not hex: invalid JSON, for simd-json to refuse
            continue;
        };
        let paired = (0xd800..0xdc00).contains(&unit)
            && doc.get(i + 6..i + 8) == Some(b"\\u")
            && hex4(doc, i + 8).is_some_and(|low| (0xdc00..0xe000).contains(&low));
        if paired {
            i += 12;
        } else if (0xd800..0xe000).contains(&unit) {
            doc[i..i + 6].copy_from_slice(b"\\ufffd");
            if !flawed {
                flaws.push(Flaw {
                    node,
                    kind: FlawKind::LoneSurrogate,
                });
                flawed = true;
            }
            i += 6;
        } else {
            i += 6;
        }
    }
}

/// The four hex digits at `doc[at..at + 4]`.
fn hex4(doc: &[u8], at: usize) -> Option<u32> {
    let digits = doc.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}

/// Whether `token` is a well-formed JSON number that simd-json cannot
/// hold: an integer outside `i64::MIN..=u64::MAX`, or a number whose value
/// rounds to infinity. A malformed token is left for simd-json to refuse.
fn out_of_range(token: &[u8]) -> bool {
    if !is_json_number(token) {
        return false;
    }
    // Well-formed JSON numbers are ASCII.
    let text = std::str::from_utf8(token).unwrap_or("0");
    if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return text.parse::<f64>().map_or(true, f64::is_infinite);
    }
    if token[0] == b'-' {
        text.parse::<i64>().is_err()
    } else {
        text.parse::<u64>().is_err()
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(token: &[u8]) -> bool {
    let digits = |t: &[u8]| t.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut t = token.strip_prefix(b"-").unwrap_or(token);
    let int = digits(t);
    if int == 0 || (t[0] == b'0' && int > 1) {
        return false;
    }
    t = &t[int..];
    if let Some(rest) = t.strip_prefix(b".") {
        let frac = digits(rest);
        if frac == 0 {
            return false;
        }
        t = &rest[frac..];
    }
    if let Some(rest) = t.strip_prefix(b"e").or_else(|| t.strip_prefix(b"E")) {
        let rest = rest
            .strip_prefix(b"+")
            .or_else(|| rest.strip_prefix(b"-"))
            .unwrap_or(rest);
        let exp = digits(rest);
        if exp == 0 {
            return false;
        }
        t = &rest[exp..];
    }
    t.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The short-string loop finds what `memchr2` alone would.
        #[test]
        fn quote_or_escape_is_memchr2(text in proptest::collection::vec(
            proptest::prop_oneof![
                40 => proptest::num::u8::ANY,
                1 => proptest::strategy::Just(b'"'),
                1 => proptest::strategy::Just(b'\\'),
            ],
            0..48,
        ), from in 0usize..20) {
            let text = &text[from.min(text.len())..];
            proptest::prop_assert_eq!(quote_or_escape(text), memchr::memchr2(b'"', b'\\', text));
        }
    }

    fn run(doc: &str) -> (String, Vec<Flaw>) {
        let mut bytes = doc.as_bytes().to_vec();
        let flaws = neutralise(&mut bytes).flaws;
        (String::from_utf8(bytes).unwrap(), flaws)
    }

    #[test]
    fn a_document_ending_inside_an_escape_is_left_to_the_parser() {
        // Found by tests/parser_properties.rs: the escape's second byte is
        // past the end, and the scan must stop there, not slice past it.
        for doc in [r#"""""\"#, r#""\"#, r#"{"a":"x\"#, r#""\u12"#] {
            let (after, _) = run(doc);
            assert_eq!(after, doc);
        }
    }

    #[test]
    fn out_of_range_numbers_become_zero_at_the_same_length() {
        for number in [
            "1e400",
            "-1e400",
            "18446744073709551616",
            "-9223372036854775809",
            "1.5E+999",
        ] {
            let (doc, flaws) = run(&format!(r#"{{"a":[1,{number}]}}"#));
            let zero = format!("0{}", " ".repeat(number.len() - 1));
            assert_eq!(doc, format!(r#"{{"a":[1,{zero}]}}"#), "{number}");
            assert_eq!(
                flaws,
                [Flaw {
                    node: 4,
                    kind: FlawKind::NumberOutOfRange
                }]
            );
        }
    }

    #[test]
    fn numbers_simd_json_holds_are_left_alone() {
        for number in [
            "18446744073709551615",
            "-9223372036854775808",
            "1e308",
            "1e-400",
            "0.5",
            "-0",
            // Malformed: simd-json refuses the document itself.
            "01",
            "1.",
            "1e",
            "--1",
        ] {
            let doc = format!(r#"{{"a":{number}}}"#);
            assert_eq!(run(&doc), (doc.clone(), vec![]), "{number}");
        }
    }

    #[test]
    fn lone_surrogates_are_replaced_and_pairs_kept() {
        let cases = [
            (r#""x\ud800""#, true),
            (r#""x\udbff""#, true),
            (r#""x\udc00""#, true),
            (r#""x\ud800\u0041""#, true),
            (r#""x\ud800\ud800""#, true),
            (r#""\ud800\ue000""#, true),
            (r#""\ud83d\ude00""#, false),
            (r#""\u00e9\\ud800""#, false),
            (r#""\"\ud800""#, true),
        ];
        for (string, lone) in cases {
            let (doc, flaws) = run(&format!(r#"{{"k":{string}}}"#));
            assert_eq!(!flaws.is_empty(), lone, "{string}");
            if lone {
                assert_eq!(flaws[0].node, 2);
                assert_eq!(doc.len(), string.len() + 6);
                assert!(doc.contains(r"\ufffd"), "{doc}");
            }
        }
    }

    #[test]
    fn nodes_count_values_keys_and_containers() {
        // 0 {  1 "a"  2 [  3 true  4 "s"  5 {  6 "b"  7 null  8 "c"  9 1e999
        let (_, flaws) = run(r#"{"a":[true,"s",{"b":null}],"c":1e999}"#);
        assert_eq!(flaws[0].node, 9, "{flaws:?}");
    }
}
