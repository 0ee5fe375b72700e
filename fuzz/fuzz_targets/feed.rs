//! The campaign feed document: any bytes are refused whole or split into
//! served and skipped ads, without panicking; every served ad compiles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(feed) = adserver::feed::parse(data.to_vec()) {
        let catalog = adserver::catalog::Catalog::compile(&feed);
        assert_eq!(catalog.len(), feed.ads.len());
    }
});
