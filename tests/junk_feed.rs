//! A hostile feed's cost is bounded by its size (README, "Live campaigns";
//! SECURITY.md, "Hostile feeds"): for each of the worst shapes we know,
//! a few megabytes of it load without failing the document, write a
//! bounded number of log lines, and leave a bounded list of skipped
//! entries behind, however many entries it holds.

use std::io::Write;
use std::sync::{Arc, Mutex};

use adserver::catalog::Catalog;
use adserver::feed::skipped::{LOGGED_PER_RULE, MAX_LISTED};
use adserver::feed::{self, Rule};

/// About how large each shape is built.
const SIZE: usize = 4 << 20;

/// Log lines one load may write, whatever the feed.
const MAX_LOG_LINES: usize = Rule::ALL.len() * (LOGGED_PER_RULE + 1);

const GOOD: &str = r#"{"id":"good","video_url":"https://v.example/g.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0}"#;

/// `{"ads":[GOOD, item, item, …]}` of about [`SIZE`] bytes.
fn many(item: impl Fn(usize) -> String) -> Vec<u8> {
    let mut doc = format!(r#"{{"ads":[{GOOD}"#).into_bytes();
    let mut n = 0;
    while doc.len() < SIZE {
        doc.push(b',');
        doc.extend_from_slice(item(n).as_bytes());
        n += 1;
    }
    doc.extend_from_slice(b"]}");
    doc
}

fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let deep = SIZE / 2;
    let pair = |n: usize| {
        let c = [b'a' + (n % 26) as u8, b'a' + (n / 26 % 26) as u8];
        String::from_utf8(c.to_vec()).unwrap()
    };
    vec![
        ("zeros", many(|_| "0".into())),
        ("empty objects", many(|_| "{}".into())),
        ("empty arrays", many(|_| "[]".into())),
        (
            "out-of-range numbers",
            many(|n| {
                if n % 2 == 0 {
                    "1e400"
                } else {
                    "18446744073709551616"
                }
                .into()
            }),
        ),
        ("lone surrogates", many(|_| r#""\ud800""#.into())),
        ("repeated ids", many(|_| GOOD.replace("g.mp4", "again.mp4"))),
        (
            "broken ads of many pairs",
            many(|n| {
                format!(
                    r#"{{"id":"x{n}","country":"{}","lang":"eng","start_hour":1e400}}"#,
                    pair(n)
                )
            }),
        ),
        ("deep array", {
            let mut doc = format!(r#"{{"ads":[{GOOD},"#).into_bytes();
            doc.resize(doc.len() + deep, b'[');
            doc.resize(doc.len() + deep, b']');
            doc.extend_from_slice(b"]}");
            doc
        }),
        ("deep unknown field", {
            let mut doc = format!(r#"{{"ads":[{GOOD},{{"id":"d","x":"#).into_bytes();
            doc.resize(doc.len() + deep, b'[');
            doc.resize(doc.len() + deep, b']');
            doc.extend_from_slice(b"}]}");
            doc
        }),
        ("huge id", {
            let id = "i".repeat(SIZE);
            format!(
                r#"{{"ads":[{GOOD},{}]}}"#,
                GOOD.replace(r#""good""#, &format!("{id:?}"))
            )
            .into_bytes()
        }),
        ("huge video_url", {
            let url = format!("https://v.example/{}", "p".repeat(SIZE));
            format!(
                r#"{{"ads":[{GOOD},{}]}}"#,
                GOOD.replace("https://v.example/g.mp4", &url)
                    .replace("good", "u")
            )
            .into_bytes()
        }),
    ]
}

/// Lines written through `tracing` while `f` runs on this thread.
fn logged<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (out, text.lines().map(str::to_owned).collect())
}

#[test]
fn every_junk_shape_loads_with_bounded_logs_and_memory() {
    for (name, doc) in shapes() {
        let size = doc.len();
        let ((ads, skipped, kept), lines) = logged(|| {
            let feed = feed::parse(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            feed.log_skipped();
            let catalog = Catalog::compile(&feed);
            (
                catalog.len(),
                catalog.skipped(),
                catalog.skipped_entries().len(),
            )
        });
        assert_eq!(ads, 1, "{name}: the good ad still serves");
        assert!(skipped >= 1, "{name}");
        assert!(
            lines.len() <= MAX_LOG_LINES,
            "{name}: {} log lines for {skipped} skipped",
            lines.len()
        );
        let longest = lines.iter().map(String::len).max().unwrap_or(0);
        assert!(longest < 1024, "{name}: a {longest}-byte log line");
        assert!(
            kept <= MAX_LISTED + Rule::ALL.len() * LOGGED_PER_RULE,
            "{name}: {kept} skipped entries kept"
        );
        eprintln!(
            "{name}: {size} bytes, {skipped} skipped, {kept} kept, {} log lines",
            lines.len()
        );
    }
}

#[test]
fn the_summary_line_counts_the_rest() {
    let doc = many(|_| "0".into());
    let commas = |b: &[u8]| b.iter().filter(|&&b| b == b',').count();
    let entries = commas(&doc) - commas(GOOD.as_bytes());
    let (_, lines) = logged(|| feed::parse(doc).unwrap().log_skipped());
    assert_eq!(lines.len(), LOGGED_PER_RULE + 1, "{lines:#?}");
    let more = entries - LOGGED_PER_RULE;
    let grouped = more
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        lines[LOGGED_PER_RULE].contains(&format!(
            "and {grouped} more ads skipped for: not an object"
        )),
        "{}",
        lines[LOGGED_PER_RULE]
    );
}
