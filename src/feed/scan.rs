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

/// Neutralises every out-of-range number and lone surrogate escape in
/// `doc`, returning where they were, in document order.
pub(super) fn neutralise(doc: &mut [u8]) -> Vec<Flaw> {
    let mut flaws = Vec::new();
    // simd-json refuses documents past u32::MAX bytes, so a node fits u32.
    let mut node: u32 = 0;
    let mut i = 0;
    while i < doc.len() {
        match doc[i] {
            b'"' => {
                i = string(doc, i + 1, node, &mut flaws);
                node = node.wrapping_add(1);
            }
            b'{' | b'[' => {
                i += 1;
                node = node.wrapping_add(1);
            }
            b'-' | b'0'..=b'9' => {
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
                i += doc[i..]
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .unwrap_or(doc.len() - i);
                node = node.wrapping_add(1);
            }
            _ => i += 1,
        }
    }
    flaws
}

/// Walks a string from just after its opening quote; returns the index
/// just after its closing quote (or the end of a truncated document).
fn string(doc: &mut [u8], mut i: usize, node: u32, flaws: &mut Vec<Flaw>) -> usize {
    let mut flawed = false;
    loop {
        // An escape at the very end steps past it: a truncated document.
        let Some(at) = memchr::memchr2(b'"', b'\\', doc.get(i..).unwrap_or_default()) else {
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

    fn run(doc: &str) -> (String, Vec<Flaw>) {
        let mut bytes = doc.as_bytes().to_vec();
        let flaws = neutralise(&mut bytes);
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
