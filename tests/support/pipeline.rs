//! Many requests on one kept-alive connection, pipelined: a flood of
//! thousands of requests in well under a second even in a debug build,
//! which rate-limit tests need (a bucket refills while a slow client
//! connects). Included with `#[path]` by the tests that flood.

#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET target` with `headers`, as one pipelined request (keep-alive).
pub fn request(target: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("GET {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Sends every request in order on one connection (then one that closes
/// it) and returns the status of each answer, in order.
pub async fn statuses(addr: SocketAddr, requests: &[String]) -> Vec<u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut bytes: Vec<u8> = requests.concat().into_bytes();
    bytes.extend_from_slice(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    // Write while reading, or both sides' buffers fill and stall. The
    // write half is kept open until the end: hyper stops answering the
    // rest of a pipeline when it reads the client's half-close.
    let writing = tokio::spawn(async move { writer.write_all(&bytes).await.map(|()| writer) });
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answers))
        .await
        .expect("the server answered the whole pipeline within 60 s")
        .unwrap();
    drop(writing.await.unwrap().unwrap());
    let mut statuses = parse_statuses(&answers);
    assert_eq!(statuses.pop(), Some(200), "the closing /healthz");
    assert_eq!(statuses.len(), requests.len(), "one answer per request");
    statuses
}

/// The status codes of back-to-back responses that carry `content-length`.
fn parse_statuses(mut bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole response head")
            + 4;
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        out.push(head[9..12].parse().unwrap());
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        bytes = &bytes[end + length..];
    }
    out
}
