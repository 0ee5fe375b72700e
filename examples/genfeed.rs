//! Prints a synthetic campaign feed as JSON on stdout.
//!
//! ```sh
//! cargo run --release --example genfeed -- --ads 1000000 > /tmp/feed-1m.json
//! ```

use std::io::Write;

use clap::Parser;

/// A synthetic feed in the campaign service's format.
#[derive(Parser)]
struct Args {
    /// How many ads.
    #[arg(long, default_value_t = 1000)]
    ads: usize,
    /// Seed of the generator: the same seed gives the same feed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let feed = adserver::synthetic::feed(args.ads, args.seed);
    std::io::stdout().lock().write_all(feed.as_bytes())
}
