//! The reference: the same hyper stack and connection settings as adserver
//! (`server::http1_builder`, nodelay, multi-thread runtime), answering a
//! fixed 80-byte JSON body and doing no work at all. The ceiling that
//! `loadtest/compare.sh` measures adserver against.
//!
//! ```sh
//! cargo run --release --example hello -- --listen 127.0.0.1:8081
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use adserver::server::{http1_builder, ServerOptions};

/// 80 bytes, the size of a typical ad answer.
const BODY: &[u8; 80] =
    br#"{"id":"00000000","video_url":"https://cdn.example.com/ads/00000000-hello.mp4"}  "#;

/// A do-nothing server on adserver's stack.
#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.listen).await?;
    let http = http1_builder(&ServerOptions::default());
    eprintln!("hello listening on {}", args.listen);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service = service_fn(|_req| async {
            let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok::<_, Infallible>(response)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}
