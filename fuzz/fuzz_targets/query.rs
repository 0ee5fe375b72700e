//! The ad request's query string: never panics, and an accepted query
//! holds lower-case codes of the right length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(request) = adserver::query::parse_ad_request(Some(query)) {
        assert_eq!(request.country.as_str().len(), 2);
        assert!((2..=3).contains(&request.lang.as_str().len()));
    }
});
