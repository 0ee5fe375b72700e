//! adserver: an HTTP ad server for video games.
//!
//! A game asks `GET /ad_request?country=us&lang=eng` and gets the next video
//! ad to show, chosen by country, language and hour of day from a campaign
//! feed that is compiled ahead of time into a lookup table.
//!
//! # Layout
//!
//! The request path is a straight line, and so are the modules:
//!
//! ```text
//! config ─► feed (fetch + parse + validate) ─► catalog (build while parsing, compile) ─► ArcSwap in state::State
//!                                                                        │
//! client ─► server (accept, limits, drain) ─► router (Host, 414, access gate, route) ─► query ─► catalog::select ─► answer (prebuilt or spliced body)
//!                                                      └─► /event ─► delivery::verify ─► ledger (tallies) ─► flusher ─► memory / SQLite / Redis
//! ```
//!
//! - [`config`]: flags and environment, parsed once into [`config::Config`].
//! - [`fetch`]: reading a file or URL within limits, the transport rule at every hop (feed and JWKS).
//! - [`feed`]: parsing the feed and validating every ad.
//! - [`codes`]: country and language codes and the packed key they form.
//! - [`window`]: the hour-window rule.
//! - [`catalog`]: the compiled `(country, lang, hour) → ads` table and rotation.
//! - [`clock`]: the current hour in the configured zone, injectable for tests.
//! - [`query`]: zero-allocation parsing of the ad request's query string.
//! - [`deadline`]: closing connections whose responses stop being read.
//! - [`limits`]: fixed request-size limits, connection caps and the open-file arithmetic.
//! - [`access`]: the gate before `/ad_request`: [`rate_limit`], then [`auth`].
//! - [`auth`]: API keys and JWTs (JWKS, verified-token cache), 401s.
//! - [`rate_limit`]: exact per-client token buckets in a bounded map, 429s.
//! - [`state`]: the handles every request shares.
//! - [`answer`]: every answer in one vocabulary, and its metrics outcome.
//! - [`router`]: from a request head to an answer, one module per route; no sockets.
//! - [`metrics`]: atomic counters rendered for Prometheus; requests are counted
//!   under the routes the [`router`] names, so metrics imports nothing above it.
//! - [`ledger`]: served and event counts per day and ad, flushed in batches to memory, SQLite or Redis.
//! - [`budget`]: daily and total caps, pacing and frequency caps: the gates `select` reads and the loop that sets them.
//! - [`refresh`]: loading and reloading the feed off the request path.
//! - [`background`]: the low-priority thread that rebuilds run on.
//! - [`synthetic`]: generated feeds and the sample feed, for tests, benches, examples and load tests.
//! - [`delivery`]: VAST templates, event tokens and spliced response bodies.
//! - [`server`]: listeners, connection limits, HTTP/1.1 and graceful shutdown.

#![forbid(unsafe_code)]

pub mod access;
pub mod answer;
pub mod auth;
pub mod background;
pub mod budget;
pub mod catalog;
pub mod clock;
pub mod codes;
pub mod config;
pub mod deadline;
pub mod delivery;
pub mod feed;
pub mod fetch;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod query;
pub mod rate_limit;
pub mod refresh;
pub mod router;
pub mod server;
pub mod state;
pub mod synthetic;
pub mod window;
