//! A raw HTTP/1.1 client for the black-box tests: each request on a new
//! connection with `Connection: close`, read until the server closes, so a
//! test sees the exact status line and headers the server wrote.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The status line and header lines, as sent.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `id` of a 200 ad answer.
    pub fn ad_id(&self) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        let prefix = r#"{"id":""#;
        let rest = self.body.strip_prefix(prefix).expect("ad body");
        rest[..rest.find('"').unwrap()].to_owned()
    }

    /// The path and query of a tracked JSON ad answer's `event_url`, to
    /// send back to the server (README "Delivery").
    pub fn event_target(&self) -> String {
        let key = "\"event_url\":\"http://";
        let start = self.body.find(key).expect("an event_url") + key.len();
        let url = &self.body[start..start + self.body[start..].find('"').unwrap()];
        url[url.find('/').unwrap()..].to_owned()
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path).await
}

pub async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    raw(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// `GET target` with extra header lines, `Connection: close`.
pub async fn get_with(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, &req).await
}

/// Sends `text` as is and reads the answer until the server closes.
pub async fn raw(addr: SocketAddr, text: &str) -> Reply {
    exchange(addr, text.as_bytes()).await
}

/// Sends `bytes` on a new connection and reads the answer until close.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_reply(&mut stream).await
}

pub async fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes))
        .await
        .expect("server answered within 5 s")
        .unwrap();
    parse_reply(&bytes)
}

/// Reads until the peer closes (or `limit` passes); what arrived.
pub async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return Err(got),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Parses a raw answer, which may not be UTF-8.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        head: head.to_owned(),
        headers,
        body: body.to_owned(),
    }
}
