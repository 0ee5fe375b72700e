//! Property: for random feeds and hours, the compiled table answers exactly
//! what a naive filter over the ad list answers, and rotation visits every
//! eligible ad once per cycle, in feed order.

use adserver::catalog::Catalog;
use adserver::codes::{Country, Lang, PairKey};
use adserver::feed::{Ad, Feed};
use adserver::window::Window;
use proptest::prelude::*;

const COUNTRIES: [&str; 3] = ["us", "ca", "fr"];
const LANGS: [&str; 3] = ["eng", "fre", "en"];

fn ad_strategy() -> impl Strategy<Value = (usize, usize, u8, u8)> {
    (0..COUNTRIES.len(), 0..LANGS.len(), 0u8..24, 0u8..=24)
}

fn build(rows: &[(usize, usize, u8, u8)]) -> Vec<Ad> {
    rows.iter()
        .enumerate()
        .map(|(i, &(c, l, start, end))| Ad {
            id: format!("ad{i}"),
            video_url: format!("https://cdn.example.com/{i}.mp4"),
            country: Country::parse(COUNTRIES[c].as_bytes()).unwrap(),
            lang: Lang::parse(LANGS[l].as_bytes()).unwrap(),
            window: Window::new(start, end),
            weight: 1,
            zone: None,
        })
        .collect()
}

fn id_of(body: &[u8]) -> String {
    let mut body = body.to_vec();
    let value = simd_json::to_owned_value(&mut body).unwrap();
    use simd_json::prelude::*;
    value.get("id").unwrap().as_str().unwrap().to_owned()
}

proptest! {
    #[test]
    fn table_matches_a_naive_filter(rows in prop::collection::vec(ad_strategy(), 0..40), hour in 0u8..24) {
        let ads = build(&rows);
        let catalog = Catalog::compile(&Feed { ads: ads.clone(), skipped: vec![] });
        for country in COUNTRIES {
            for lang in LANGS {
                let (c, l) = (Country::parse(country.as_bytes()).unwrap(), Lang::parse(lang.as_bytes()).unwrap());
                let expected: Vec<&str> = ads
                    .iter()
                    .filter(|ad| ad.country == c && ad.lang == l && ad.window.contains(hour))
                    .map(|ad| ad.id.as_str())
                    .collect();
                let key = PairKey::new(c, l);
                if expected.is_empty() {
                    prop_assert!(catalog.pick(key, hour).is_none());
                    continue;
                }
                // Two whole cycles: each eligible ad once per cycle, feed order.
                for _cycle in 0..2 {
                    let got: Vec<String> = (0..expected.len())
                        .map(|_| id_of(catalog.pick(key, hour).unwrap()))
                        .collect();
                    prop_assert_eq!(&got, &expected, "{}/{} at {}", country, lang, hour);
                }
            }
        }
    }
}
