//! The harness every black-box test binary shares (`mod support;`): a real
//! adserver on 127.0.0.1 with a hand-set clock ([`server`]), a raw HTTP/1.1
//! client that sends exactly the bytes a test wants ([`client`]), and a
//! feed server whose answers the test controls ([`feed_server`]).
//!
//! The fixtures beside it are included one by one with `#[path]`, because
//! benches and examples include some of them too and each suits only a few
//! binaries: `alloc.rs` the counting allocator (its self-test needs it
//! installed), `es256.rs` a JWT key, `pipeline.rs` pipelined floods,
//! `redis.rs` real Redis servers.

#![allow(dead_code)] // each test binary uses a different part

pub mod client;
pub mod feed_server;
pub mod server;

#[allow(unused_imports)] // each test binary uses a different part
pub use client::*;
#[allow(unused_imports)]
pub use feed_server::*;
#[allow(unused_imports)]
pub use server::*;
