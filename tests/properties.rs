//! Properties over random feeds and hours: the compiled table answers
//! exactly what a naive filter over the ad list answers: the most specific
//! level with an eligible ad wins, and one rotation cycle serves each of
//! its ads exactly `weight` times (in feed order when all weights are 1).

use adserver::catalog::{Catalog, Lookup};
use adserver::codes::{Country, Lang, PairKey};
use adserver::feed::{Ad, Feed};
use adserver::window::Window;
use proptest::prelude::*;

const COUNTRIES: [&str; 3] = ["us", "ca", "*"];
const LANGS: [&str; 4] = ["eng", "fre", "en", "*"];

/// (country, lang, start, end, weight) indices and values.
type Row = (usize, usize, u8, u8, u32);

fn row(max_weight: u32) -> impl Strategy<Value = Row> {
    (
        0..COUNTRIES.len(),
        0..LANGS.len(),
        0u8..24,
        0u8..=24,
        1..=max_weight,
    )
}

fn code(country: &str, lang: &str) -> (Country, Lang) {
    let c = if country == "*" {
        Country::ANY
    } else {
        Country::parse(country.as_bytes()).unwrap()
    };
    let l = if lang == "*" {
        Lang::ANY
    } else {
        Lang::parse(lang.as_bytes()).unwrap()
    };
    (c, l)
}

fn build(rows: &[Row]) -> Vec<Ad> {
    rows.iter()
        .enumerate()
        .map(|(i, &(c, l, start, end, weight))| {
            let (country, lang) = code(COUNTRIES[c], LANGS[l]);
            let video_url = format!("https://cdn.example.com/{i}.mp4");
            Ad {
                id: format!("ad{i}"),
                creative: adserver::delivery::Creative::defaults(&format!("ad{i}"), &video_url),
                video_url,
                country,
                lang,
                window: Window::new(start, end),
                weight,
                zone: None,
                budget: Default::default(),
            }
        })
        .collect()
}

fn id_of(body: &[u8]) -> String {
    let mut body = body.to_vec();
    let value = simd_json::to_owned_value(&mut body).unwrap();
    use simd_json::prelude::*;
    value.get("id").unwrap().as_str().unwrap().to_owned()
}

/// The naive answer: ads of the most specific level with any eligible ad.
fn naive(ads: &[Ad], country: Country, lang: Lang, hour: u8) -> Vec<&Ad> {
    PairKey::fallbacks(country, lang)
        .into_iter()
        .map(|key| {
            ads.iter()
                .filter(|ad| PairKey::new(ad.country, ad.lang) == key && ad.window.contains(hour))
                .collect::<Vec<_>>()
        })
        .find(|level| !level.is_empty())
        .unwrap_or_default()
}

fn check(rows: &[Row], hour: u8) -> Result<(), TestCaseError> {
    let ads = build(rows);
    let catalog = Catalog::compile(&Feed {
        ads: ads.clone(),
        ..Feed::default()
    });
    let now = "2026-01-15T12:00:00Z".parse().unwrap();
    for country in ["us", "ca", "gb"] {
        for lang in ["eng", "fre", "spa"] {
            let (c, l) = code(country, lang);
            let expected = naive(&ads, c, l, hour);
            let pick = || {
                catalog
                    .select(&Lookup::new(c, l, hour, now))
                    .map(|ad| id_of(&ad.body()))
            };
            if expected.is_empty() {
                prop_assert!(pick().is_none(), "{}/{} at {}", country, lang, hour);
                continue;
            }
            let cycle: u32 = expected.iter().map(|ad| ad.weight).sum();
            let first: Vec<String> = (0..cycle).map(|_| pick().unwrap()).collect();
            for ad in &expected {
                let served = first.iter().filter(|id| **id == ad.id).count() as u32;
                prop_assert_eq!(
                    served,
                    ad.weight,
                    "{} in {}/{} at {}",
                    &ad.id,
                    country,
                    lang,
                    hour
                );
            }
            if expected.iter().all(|ad| ad.weight == 1) {
                let in_feed_order: Vec<&str> = expected.iter().map(|ad| ad.id.as_str()).collect();
                prop_assert_eq!(&first, &in_feed_order);
            }
            let second: Vec<String> = (0..cycle).map(|_| pick().unwrap()).collect();
            prop_assert_eq!(first, second, "the cycle repeats");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn plain_feeds_match_a_naive_filter(rows in prop::collection::vec(row(1), 0..40), hour in 0u8..24) {
        check(&rows, hour)?;
    }

    #[test]
    fn weighted_wildcard_feeds_match_a_naive_filter(rows in prop::collection::vec(row(5), 0..30), hour in 0u8..24) {
        check(&rows, hour)?;
    }
}
