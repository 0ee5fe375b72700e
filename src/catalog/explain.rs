//! `/explain`: why each ad of a country and language would or would not
//! serve at an hour. An operations answer, computed on demand by scanning
//! the catalog's facts, never on the request path.

use serde::Serialize;

use super::{Catalog, Exclude, Lookup};
use crate::budget::{Player, Verdict as Gated};
use crate::codes::{Country, Lang};

/// The `/explain` document.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub country: String,
    pub lang: String,
    pub hour: u8,
    pub ads: Vec<Verdict>,
}

/// One ad of the pair and its fate.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    pub id: String,
    pub eligible: bool,
    pub reason: String,
    /// An ad's caps and the counts they were judged on (README "Budgets");
    /// absent for an ad without a budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetFacts>,
}

/// What `/explain` shows of an ad's budget.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct BudgetFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cap: Option<u64>,
    pub pacing: &'static str,
    /// Fleet impressions today (UTC) and in all, plus this replica's
    /// unflushed ones, as of the last budget sync, and this replica's
    /// accepted since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impressions_today: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impressions_total: Option<u64>,
    /// What `even` pacing allows by now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_allows: Option<u64>,
    /// `open`, `daily_cap`, `total_cap`, `pacing` or `store_unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<FrequencyFacts>,
}

/// An ad's frequency cap and, for a request with a player, its count.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FrequencyFacts {
    pub count: u32,
    pub hours: u32,
    /// Servings to this request's player in the open window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<u32>,
}

/// The fallback levels, most specific first, as `/explain` names them.
const LEVELS: [&str; 4] = [
    "exact match",
    "country match, any language",
    "language match, any country",
    "any country and language",
];

/// A valid ad that the request could reach, judged at its hour.
struct Candidate {
    /// The ad's number in the catalog.
    ad: usize,
    /// Its index in [`LEVELS`].
    level: usize,
    in_hours: bool,
    /// Blocked by its budget (its gate, or the player's frequency cap).
    blocked: bool,
    /// The hour it was judged at: the basis hour, or its own zone's.
    at: u8,
}

impl Catalog {
    /// Every ad that a request for `(country, lang)` could reach, valid or
    /// skipped, in feed order, with whether it is eligible at the lookup's
    /// hour (the basis hour; own-zone ads are judged at `now`) and why.
    pub fn explain(&self, lookup: &Lookup) -> Explanation {
        self.explain_for(lookup, None)
    }

    /// [`Catalog::explain`] for a request with a player, whose frequency
    /// caps count. An ad blocked by its budget does not win its level, as
    /// in [`Catalog::select_for`].
    pub fn explain_for(&self, lookup: &Lookup, player: Option<Player<'_>>) -> Explanation {
        let candidates = self.candidates(lookup, player);
        let winning = candidates
            .iter()
            .filter(|c| c.in_hours && !c.blocked)
            .map(|c| c.level)
            .min();
        let mut ads: Vec<Verdict> = candidates
            .iter()
            .map(|c| {
                let mut verdict = self.verdict(c, winning, lookup.exclude, player);
                verdict.budget = self.budget_facts(c.ad, player);
                verdict
            })
            .collect();
        ads.extend(self.skipped_verdicts(lookup));
        Explanation {
            country: lookup.country.as_str().to_owned(),
            lang: lookup.lang.as_str().to_owned(),
            hour: lookup.hour,
            ads,
        }
    }

    /// The valid ads at any fallback level of the request, in feed order.
    fn candidates(&self, lookup: &Lookup, player: Option<Player<'_>>) -> Vec<Candidate> {
        self.facts
            .iter()
            .enumerate()
            .filter_map(|(n, ad)| {
                let level = level_of(lookup, ad.country, ad.lang)?;
                let at = self
                    .zone_of(n)
                    .map_or(lookup.hour, |zone| zone.hour_at(lookup.now));
                Some(Candidate {
                    ad: n,
                    level,
                    in_hours: ad.window.contains(at),
                    blocked: !self.may_serve(n as u32, player),
                    at,
                })
            })
            .collect()
    }

    /// Why `candidate` does or does not serve, when the most specific level
    /// with an ad in its hours is `winning`.
    fn verdict(
        &self,
        candidate: &Candidate,
        winning: Option<usize>,
        exclude: &Exclude,
        player: Option<Player<'_>>,
    ) -> Verdict {
        let Candidate {
            ad: n,
            level,
            in_hours,
            blocked,
            at,
        } = *candidate;
        let ad = &self.facts[n];
        let hours = format!("{}->{}", ad.window.start(), ad.window.end());
        let clock = self
            .zone_of(n)
            .map_or(String::new(), |zone| format!(" in {zone}"));
        let (eligible, reason) = if !in_hours {
            (
                false,
                format!("wrong hour: serves {hours}{clock}, now hour {at}"),
            )
        } else if blocked {
            (false, self.blocked_reason(n, player))
        } else if Some(level) != winning {
            let won = LEVELS[winning.unwrap_or(level)];
            (false, format!("a more specific match wins ({won})"))
        } else if self.excluded(exclude, n) {
            (false, "excluded by the request".to_owned())
        } else {
            (
                true,
                format!("eligible: {}, serves {hours}{clock}", LEVELS[level]),
            )
        };
        Verdict {
            id: self.id_of(n).to_owned(),
            eligible,
            reason,
            budget: None,
        }
    }

    /// Which cap keeps ad `n` out, with the counts.
    fn blocked_reason(&self, n: usize, player: Option<Player<'_>>) -> String {
        let budget = *self.budget_of(n);
        if let Some(view) = self.gate(n as u32).map(|g| g.view()) {
            let counts =
                "fleet and this replica's unflushed impressions as of the last budget sync, \
                 and this replica's since";
            match view.verdict {
                Gated::Open => {}
                Gated::DailyCap => {
                    let cap = budget.daily_cap.unwrap_or(0);
                    return format!(
                        "daily cap reached: {} of {cap} impressions today (UTC; {counts})",
                        view.today
                    );
                }
                Gated::TotalCap => {
                    let cap = budget.total_cap.unwrap_or(0);
                    return format!(
                        "total cap reached: {} of {cap} impressions ({counts})",
                        view.total
                    );
                }
                Gated::Pacing => {
                    return format!(
                        "even pacing: {} impressions today, {} allowed by now of a daily cap of {} ({counts})",
                        view.today,
                        view.allowed.unwrap_or(0),
                        budget.daily_cap.unwrap_or(0)
                    );
                }
                Gated::StoreStale => {
                    return "the fleet's counts cannot be read and --budget-on-store-failure is closed"
                        .to_owned();
                }
            }
        }
        match (budget.frequency_cap, player) {
            (Some(cap), Some(p)) => format!(
                "frequency cap reached for this player: {} of {} in {} hours",
                p.caps.seen(p.hash, self.id_hash_of(n), cap, p.hour),
                cap.count,
                cap.hours
            ),
            _ => "blocked by its budget".to_owned(),
        }
    }

    /// `/explain`'s budget object for ad `n`; `None` without a budget.
    fn budget_facts(&self, n: usize, player: Option<Player<'_>>) -> Option<BudgetFacts> {
        let budget = *self.budget_of(n);
        if budget.is_unlimited() {
            return None;
        }
        let view = self.gate(n as u32).map(|g| g.view());
        Some(BudgetFacts {
            daily_cap: budget.daily_cap,
            total_cap: budget.total_cap,
            pacing: budget.pacing.name(),
            impressions_today: view.map(|v| v.today),
            impressions_total: view.map(|v| v.total),
            pacing_allows: view.and_then(|v| v.allowed),
            state: view.map(|v| v.verdict.name()),
            frequency_cap: budget.frequency_cap.map(|cap| FrequencyFacts {
                count: cap.count,
                hours: cap.hours,
                seen: player.map(|p| p.caps.seen(p.hash, self.id_hash_of(n), cap, p.hour)),
            }),
        })
    }

    /// The kept skipped entries the request could have reached, with the
    /// rule each broke.
    fn skipped_verdicts<'s>(&'s self, lookup: &'s Lookup) -> impl Iterator<Item = Verdict> + 's {
        self.skipped_entries
            .iter()
            .filter(|s| {
                s.country.is_some_and(|c| c == lookup.country || c.is_any())
                    && s.lang.is_some_and(|l| l == lookup.lang || l.is_any())
            })
            .map(|s| Verdict {
                id: s
                    .id
                    .as_deref()
                    .map_or_else(|| format!("#{}", s.index), str::to_owned),
                eligible: false,
                reason: format!("skipped by validation: {}", s.detail),
                budget: None,
            })
    }
}

/// Which of [`LEVELS`] an ad targeting `(country, lang)` answers the
/// request at; `None` when it cannot answer it at all.
fn level_of(lookup: &Lookup, country: Country, lang: Lang) -> Option<usize> {
    match (
        country == lookup.country,
        lang == lookup.lang,
        country.is_any(),
        lang.is_any(),
    ) {
        (true, true, _, _) => Some(0),
        (true, _, _, true) => Some(1),
        (_, true, true, _) => Some(2),
        (_, _, true, true) => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::parse;

    fn catalog(json: &str) -> Catalog {
        Catalog::compile(&parse(json.as_bytes().to_vec()).unwrap())
    }

    fn ad(id: &str, country: &str, lang: &str, start: u8, end: u8) -> String {
        format!(
            r#"{{"id":"{id}","video_url":"https://cdn.example.com/{id}.mp4","country":"{country}","lang":"{lang}","start_hour":{start},"end_hour":{end}}}"#
        )
    }

    fn verdicts(c: &Catalog, exclude: &Exclude, hour: u8) -> Vec<(String, bool, String)> {
        let now = "2026-01-15T12:00:00Z".parse().unwrap();
        let e = c.explain(&Lookup {
            exclude,
            ..Lookup::new(
                Country::parse(b"us").unwrap(),
                Lang::parse(b"eng").unwrap(),
                hour,
                now,
            )
        });
        e.ads
            .into_iter()
            .map(|v| (v.id, v.eligible, v.reason))
            .collect()
    }

    #[test]
    fn says_why_each_ad_does_or_does_not_serve() {
        let feed = format!(
            r#"{{"ads":[{},{},{},{},{},{}]}}"#,
            ad("exact", "us", "eng", 0, 0),
            ad("late", "us", "eng", 20, 22),
            ad("country_any", "us", "*", 0, 0),
            ad("other", "ca", "eng", 0, 0),
            ad("broken", "us", "eng", 0, 25),
            ad("house", "*", "*", 0, 0),
        );
        let c = catalog(&feed);
        let mut exclude = Exclude::default();
        let got = verdicts(&c, &exclude, 5);
        let ids: Vec<&str> = got.iter().map(|v| v.0.as_str()).collect();
        assert_eq!(
            ids,
            ["exact", "late", "country_any", "house", "broken"],
            "ca/eng is not listed"
        );
        assert!(got[0].1);
        assert!(
            got[0].2.starts_with("eligible: exact match"),
            "{}",
            got[0].2
        );
        assert_eq!(
            (got[1].1, got[1].2.as_str()),
            (false, "wrong hour: serves 20->22, now hour 5")
        );
        assert_eq!(got[2].2, "a more specific match wins (exact match)");
        assert_eq!(got[3].2, "a more specific match wins (exact match)");
        assert_eq!(
            got[4].2,
            "skipped by validation: end_hour 25 is outside 0..=24"
        );

        exclude.push(b"exact");
        let got = verdicts(&c, &exclude, 5);
        assert_eq!(
            (got[0].1, got[0].2.as_str()),
            (false, "excluded by the request")
        );

        // At hour 21 "late" is eligible too; nothing changes for wildcards.
        let got = verdicts(&c, &Exclude::default(), 21);
        assert!(got[1].1);
    }

    #[test]
    fn a_wildcard_wins_when_nothing_more_specific_is_eligible() {
        let feed = format!(
            r#"{{"ads":[{},{},{}]}}"#,
            ad("exact", "us", "eng", 1, 2),
            ad("lang_any", "*", "eng", 0, 0),
            ad("house", "*", "*", 0, 0),
        );
        let got = verdicts(&catalog(&feed), &Exclude::default(), 5);
        assert!(!got[0].1);
        assert!(got[1].1, "{:?}", got[1]);
        assert!(got[1]
            .2
            .starts_with("eligible: language match, any country"));
        assert_eq!(
            got[2].2,
            "a more specific match wins (language match, any country)"
        );
    }
}
