//! Feed entries that broke a rule: the rule, what is kept of each entry,
//! and what the operator is told (README, "Live campaigns").
//!
//! A document within `--feed-max-bytes` can hold millions of broken
//! entries (`{"ads":[0,0,0,…]}`), so nothing here grows with their number:
//! counts are exact per rule, but only the first [`LOGGED_PER_RULE`] of
//! each rule are kept for the log, and at most [`KEPT_PER_PAIR`] per
//! `(country, lang)` pair, [`MAX_LISTED`] in all, for `/explain`. Every
//! kept text is cut to a fixed size. This module does not parse; it is told
//! what broke.

use std::borrow::Cow;
use std::fmt;

use ahash::AHashMap;

use crate::codes::{Country, Lang};

/// Skipped entries logged one by one per rule and load; the rest of that
/// rule get one summary line.
pub const LOGGED_PER_RULE: usize = 5;
/// Skipped entries kept for `/explain` per `(country, lang)` pair.
pub(crate) const KEPT_PER_PAIR: usize = 16;
/// Skipped entries kept for `/explain` in all.
pub const MAX_LISTED: usize = 10_000;
/// Longest `id` an ad may have, in bytes after unescaping.
pub(crate) const MAX_ID_BYTES: usize = 256;
/// Longest `video_url` an ad may have, in bytes after unescaping.
pub(crate) const MAX_URL_BYTES: usize = 2048;
/// Longest piece of a feed value quoted in a rule's words.
const SHOWN_BYTES: usize = 64;

/// The rules an entry can break: a fixed set, so counts and log lines stay
/// bounded however many entries break them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    NotAnObject,
    Missing,
    WrongType,
    EmptyId,
    TooLong,
    BadUrl,
    BadCountry,
    BadLang,
    BadHour,
    BadWeight,
    BadZone,
    BadCreative,
    BadBudget,
    NumberOutOfRange,
    LoneSurrogate,
    RepeatedId,
}

impl Rule {
    pub const ALL: [Rule; 16] = [
        Rule::NotAnObject,
        Rule::Missing,
        Rule::WrongType,
        Rule::EmptyId,
        Rule::TooLong,
        Rule::BadUrl,
        Rule::BadCountry,
        Rule::BadLang,
        Rule::BadHour,
        Rule::BadWeight,
        Rule::BadZone,
        Rule::BadCreative,
        Rule::BadBudget,
        Rule::NumberOutOfRange,
        Rule::LoneSurrogate,
        Rule::RepeatedId,
    ];

    /// A short, fixed label for metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Rule::NotAnObject => "not_an_object",
            Rule::Missing => "missing_field",
            Rule::WrongType => "wrong_type",
            Rule::EmptyId => "empty_id",
            Rule::TooLong => "too_long",
            Rule::BadUrl => "bad_url",
            Rule::BadCountry => "bad_country",
            Rule::BadLang => "bad_lang",
            Rule::BadHour => "bad_hour",
            Rule::BadWeight => "bad_weight",
            Rule::BadZone => "bad_timezone",
            Rule::BadCreative => "bad_video_field",
            Rule::BadBudget => "bad_budget",
            Rule::NumberOutOfRange => "number_out_of_range",
            Rule::LoneSurrogate => "lone_surrogate",
            Rule::RepeatedId => "repeated_id",
        }
    }

    /// The rule in words, for the summary line.
    pub(crate) fn summary(self) -> &'static str {
        match self {
            Rule::NotAnObject => "not an object",
            Rule::Missing => "a required field is missing",
            Rule::WrongType => "a field has the wrong type",
            Rule::EmptyId => "id is empty",
            Rule::TooLong => "a field is over its length limit",
            Rule::BadUrl => "video_url is not an absolute http(s) URL",
            Rule::BadCountry => "country is not a country code",
            Rule::BadLang => "lang is not a language code",
            Rule::BadHour => "an hour is out of range",
            Rule::BadWeight => "weight is not a positive integer",
            Rule::BadZone => "timezone is not an IANA zone",
            Rule::BadCreative => {
                "a video field (duration, mime_type, width, height, title, click_url) is invalid"
            }
            Rule::BadBudget => {
                "a budget field (daily_cap, total_cap, pacing, frequency_cap) is invalid"
            }
            Rule::NumberOutOfRange => "a number is out of range",
            Rule::LoneSurrogate => "a string holds a lone surrogate escape",
            Rule::RepeatedId => "id repeats an earlier ad",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The rule an entry broke and the words for this entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    pub rule: Rule,
    /// Fixed words where they suffice, so the commonest junk costs nothing.
    pub detail: Cow<'static, str>,
}

impl Broken {
    pub fn new(rule: Rule, detail: impl Into<Cow<'static, str>>) -> Broken {
        Broken {
            rule,
            detail: detail.into(),
        }
    }
}

/// An entry of the feed that broke a rule and is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Position in the feed's `ads` array.
    pub index: usize,
    /// The entry's `id`, when it had a string one, cut to
    /// [`MAX_ID_BYTES`] (an ellipsis marks a cut).
    pub id: Option<Box<str>>,
    /// Its `country` and `lang` when they are codes or `"*"`, so `/explain`
    /// can list it under its pair; anything else could never match one.
    pub country: Option<Country>,
    pub lang: Option<Lang>,
    pub rule: Rule,
    /// The rule it broke, in words.
    pub detail: Cow<'static, str>,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(f, "ad {id:?} (#{}): {}", self.index, self.detail),
            None => write!(f, "ad #{}: {}", self.index, self.detail),
        }
    }
}

/// Skipped entries per rule, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipCounts([usize; Rule::ALL.len()]);

impl SkipCounts {
    pub fn get(&self, rule: Rule) -> usize {
        self.0[rule.index()]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// Every rule with its count, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (Rule, usize)> + '_ {
        Rule::ALL.iter().map(|&rule| (rule, self.get(rule)))
    }
}

/// Decides which skipped entries are kept, counting all of them.
#[derive(Debug, Default)]
pub(super) struct Keeper {
    counts: SkipCounts,
    per_pair: AHashMap<(Country, Lang), usize>,
    listed: usize,
}

impl Keeper {
    /// Counts one skipped entry and says whether to keep a record of it:
    /// always the first few of its rule (the log names them), else while
    /// its pair and the whole list have room (`/explain` lists them).
    pub(super) fn admit(
        &mut self,
        rule: Rule,
        country: Option<Country>,
        lang: Option<Lang>,
    ) -> bool {
        let seen = self.counts.0[rule.index()];
        self.counts.0[rule.index()] += 1;
        let pair = country.zip(lang);
        let for_pair = pair.is_some_and(|pair| {
            self.listed < MAX_LISTED
                && self.per_pair.get(&pair).copied().unwrap_or(0) < KEPT_PER_PAIR
        });
        if for_pair {
            // Only kept entries add pairs, so the map stays within MAX_LISTED.
            if let Some(pair) = pair {
                *self.per_pair.entry(pair).or_default() += 1;
            }
            self.listed += 1;
        }
        seen < LOGGED_PER_RULE || for_pair
    }

    pub(super) fn counts(&self) -> SkipCounts {
        self.counts
    }
}

/// Logs a load's skipped entries: the first [`LOGGED_PER_RULE`] of each
/// rule by name, then one line per rule with how many more there were. At
/// most `Rule::ALL.len() × (LOGGED_PER_RULE + 1)` lines, whatever the feed.
pub fn log_skipped(kept: &[Skipped], counts: &SkipCounts) {
    let mut logged = [0usize; Rule::ALL.len()];
    for skipped in kept {
        let n = &mut logged[skipped.rule.index()];
        if *n < LOGGED_PER_RULE {
            *n += 1;
            tracing::warn!("skipping {skipped}");
        }
    }
    for (rule, count) in counts.iter() {
        let more = count.saturating_sub(logged[rule.index()]);
        if more > 0 {
            tracing::warn!(
                rule = rule.label(),
                "and {} more ads skipped for: {}",
                thousands(more),
                rule.summary()
            );
        }
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `s` cut to at most `max` bytes on a character boundary, with an
/// ellipsis when cut.
pub(crate) fn cut(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

/// A feed value quoted in a rule's words: debug-quoted, and cut so that a
/// megabyte value does not make a megabyte log line.
pub(crate) fn shown(s: &str) -> String {
    format!("{:?}", cut(s, SHOWN_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_names_the_ad_and_the_rule() {
        let s = Skipped {
            index: 3,
            id: Some("59d4fb16".into()),
            country: Country::parse(b"us"),
            lang: Lang::parse(b"eng"),
            rule: Rule::BadHour,
            detail: "end_hour 25 is outside 0..=24".into(),
        };
        assert_eq!(
            s.to_string(),
            r#"ad "59d4fb16" (#3): end_hour 25 is outside 0..=24"#
        );
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc…");
        assert_eq!(cut("aé", 2), "a…");
        assert!(shown(&"x".repeat(1 << 20)).len() < 80);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(5), "5");
        assert_eq!(thousands(999_995), "999,995");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn keeper_keeps_a_bounded_few_and_counts_all() {
        let mut keeper = Keeper::default();
        let us = Country::parse(b"us");
        let eng = Lang::parse(b"eng");
        let kept_bare = (0..1000)
            .filter(|_| keeper.admit(Rule::NotAnObject, None, None))
            .count();
        assert_eq!(kept_bare, LOGGED_PER_RULE);
        let kept_pair = (0..1000)
            .filter(|_| keeper.admit(Rule::BadHour, us, eng))
            .count();
        assert_eq!(kept_pair, KEPT_PER_PAIR);
        assert_eq!(keeper.counts().get(Rule::NotAnObject), 1000);
        assert_eq!(keeper.counts().total(), 2000);
    }

    #[test]
    fn keeper_stops_listing_at_the_global_cap() {
        let mut keeper = Keeper::default();
        let mut kept = 0;
        for a in b'a'..=b'z' {
            for b in b'a'..=b'z' {
                for l in [&b"eng"[..], b"fre", b"spa", b"ger"] {
                    for _ in 0..20 {
                        let pair = (Country::parse(&[a, b]), Lang::parse(l));
                        kept += usize::from(keeper.admit(Rule::BadHour, pair.0, pair.1));
                    }
                }
            }
        }
        assert_eq!(kept, MAX_LISTED);
        assert!(keeper.per_pair.len() <= MAX_LISTED);
    }
}
