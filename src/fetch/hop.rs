//! One hop of a feed or JWKS fetch: an absolute `http`/`https` URL, how a
//! redirect's `Location` resolves against it, and the transport rule every
//! hop must pass (`https`, or plain `http` only to a loopback host unless
//! `--allow-insecure-feed`).
//!
//! The parse is narrower than RFC 3986 on purpose: the authority may hold
//! only a host name, an IPv4 address or a bracketed IPv6 address, and a
//! port; userinfo, percent-escapes and any other byte are refused, and the
//! whole URL must be visible ASCII. So the host judged here is exactly the
//! host minreq connects to (it reads the host up to the first `:`, `/` or
//! `?`), and a `Location` cannot smuggle bytes into the next request line.
//! This module only judges URLs; [`super::fetch`] does the I/O.

use std::fmt;

/// An absolute `http`/`https` URL that passed [`Hop::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    https: bool,
    /// `host[:port]`, lower-cased.
    authority: String,
    /// `/path[?query]`, never empty; the fragment is dropped (it is never
    /// sent).
    target: String,
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error(
        "{0} is plain http on a host that is not loopback; use https, or pass --allow-insecure-feed"
    )]
    Insecure(String),
    #[error("{0} is not an http or https URL")]
    Scheme(String),
    #[error("{0} is not a well-formed URL (only a host, a port, a path and a query are accepted)")]
    Malformed(String),
}

/// Longest URL quoted in an error: a `Location` can be as long as the
/// response head, and errors end up in logs.
const QUOTED_MAX: usize = 200;

/// `s` as a quoted, escaped string cut at [`QUOTED_MAX`] bytes.
pub(crate) fn quoted(s: &str) -> String {
    let mut end = s.len().min(QUOTED_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < s.len() { "…" } else { "" };
    format!("\"{}{ellipsis}\"", s[..end].escape_debug())
}

impl Hop {
    /// An absolute URL (`http://` or `https://`, any case).
    pub(crate) fn parse(url: &str) -> Result<Hop, TransportError> {
        let malformed = || TransportError::Malformed(quoted(url));
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
            (false, rest)
        } else {
            return Err(TransportError::Scheme(quoted(url)));
        };
        if !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed());
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !authority_is_plain(authority) {
            return Err(malformed());
        }
        let tail = tail.split('#').next().unwrap_or("");
        let target = match tail.as_bytes().first() {
            None => "/".to_owned(),
            Some(b'?') => format!("/{tail}"),
            Some(_) => tail.to_owned(),
        };
        Ok(Hop {
            https,
            authority: authority.to_ascii_lowercase(),
            target,
        })
    }

    /// Where a redirect's `Location` points, resolved against this URL as
    /// RFC 3986 §5.2 says (absolute, `//authority…`, `/path`, `?query`,
    /// relative path). A scheme other than http(s) is refused here, before
    /// anything is fetched.
    pub(crate) fn resolve(&self, location: &str) -> Result<Hop, TransportError> {
        let location = location.trim_matches([' ', '\t']);
        let malformed = || TransportError::Malformed(quoted(location));
        if location.is_empty() || !location.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed());
        }
        if has_scheme(location) {
            return Hop::parse(location);
        }
        if location.starts_with("//") {
            let scheme = if self.https { "https:" } else { "http:" };
            return Hop::parse(&format!("{scheme}{location}"));
        }
        let reference = location.split('#').next().unwrap_or("");
        let (base_path, _) = split_query(&self.target);
        let joined = match reference.as_bytes().first() {
            None => return Ok(self.clone()), // only a fragment: the same URL
            Some(b'/') => reference.to_owned(),
            Some(b'?') => format!("{base_path}{reference}"),
            Some(_) => {
                let dir = &base_path[..=base_path.rfind('/').unwrap_or(0)];
                format!("{dir}{reference}")
            }
        };
        let (path, query) = split_query(&joined);
        let mut target = remove_dot_segments(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        Ok(Hop {
            https: self.https,
            authority: self.authority.clone(),
            target,
        })
    }

    /// The transport rule: `https` always; plain `http` only to a loopback
    /// host, unless `allow_insecure`.
    pub(crate) fn permitted(&self, allow_insecure: bool) -> Result<(), TransportError> {
        if self.https || allow_insecure || self.is_loopback() {
            Ok(())
        } else {
            Err(TransportError::Insecure(quoted(&self.to_string())))
        }
    }

    /// `localhost`, `127.0.0.0/8` or `[::1]`. `0.0.0.0` and other spellings
    /// (`127.1`, `localhost.`) are not, though a resolver may send them to
    /// this machine: the rule errs towards refusing.
    fn is_loopback(&self) -> bool {
        let host = match self.authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => self.authority.split(':').next().unwrap_or(""),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.target)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `host[:port]` with a name or IPv4 host (letters, digits, `-`, `.`, `_`)
/// or a bracketed IPv6 literal, and a decimal port up to 65535.
fn authority_is_plain(authority: &str) -> bool {
    let (host_ok, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((inside, after)) = v6.split_once(']') else {
            return false;
        };
        let ok = inside.parse::<std::net::Ipv6Addr>().is_ok();
        match after {
            "" => (ok, None),
            _ => (ok, Some(after.strip_prefix(':').unwrap_or("x"))),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        (ok, port)
    };
    let port_ok = port.map_or(true, |p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    host_ok && port_ok
}

/// Whether `reference` starts with an RFC 3986 scheme and `:`
/// (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`).
fn has_scheme(reference: &str) -> bool {
    let Some(colon) = reference.find(':') else {
        return false;
    };
    let scheme = &reference[..colon];
    scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// RFC 3986 §5.2.4 for an absolute path: `.` and `..` segments go, and `..`
/// never climbs above the root.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut segments = path.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." | ".." => {
                if segment == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            _ => out.push(segment),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(url: &str) -> Hop {
        Hop::parse(url).unwrap()
    }

    #[test]
    fn parse_keeps_what_is_sent_and_refuses_the_rest() {
        let cases = [
            (
                "http://127.0.0.1:8080/ads.json",
                Some("http://127.0.0.1:8080/ads.json"),
            ),
            (
                "HTTPS://Feeds.Example/a?b=c#frag",
                Some("https://feeds.example/a?b=c"),
            ),
            ("http://localhost", Some("http://localhost/")),
            ("http://localhost?x=1", Some("http://localhost/?x=1")),
            ("http://[::1]:9/x", Some("http://[::1]:9/x")),
            ("ftp://feeds.example/ads.json", None),
            ("file:///etc/passwd", None),
            ("http://127.0.0.1@evil.example/", None),
            ("http://evil.example\\@127.0.0.1/", None),
            ("http://127.0.0.1#@evil.example/", Some("http://127.0.0.1/")),
            ("http://127.0.0.1%2f@evil/", None),
            ("http:///ads.json", None),
            ("http://host:/x", None),
            ("http://host:65536/x", None),
            ("http://host:8x/x", None),
            ("http://[::1/x", None),
            ("http://[evil]/x", None),
            ("http://host/a b", None),
            ("http://host/a\r\nX-Injected: 1", None),
            ("http://hôst/", None),
        ];
        for (url, want) in cases {
            let got = Hop::parse(url).ok().map(|h| h.to_string());
            assert_eq!(got.as_deref(), want, "{url}");
        }
    }

    #[test]
    fn locations_resolve_as_rfc_3986_says() {
        let base = hop("http://127.0.0.1:8000/feeds/v1/ads.json?k=1");
        let cases = [
            ("https://cdn.example/x.json", "https://cdn.example/x.json"),
            ("//other.example/y", "http://other.example/y"),
            ("/top.json", "http://127.0.0.1:8000/top.json"),
            ("v2.json", "http://127.0.0.1:8000/feeds/v1/v2.json"),
            ("./v2.json?z", "http://127.0.0.1:8000/feeds/v1/v2.json?z"),
            ("../v2/ads.json", "http://127.0.0.1:8000/feeds/v2/ads.json"),
            ("../../../../etc", "http://127.0.0.1:8000/etc"),
            ("..", "http://127.0.0.1:8000/feeds/"),
            ("?k=2", "http://127.0.0.1:8000/feeds/v1/ads.json?k=2"),
            ("#top", "http://127.0.0.1:8000/feeds/v1/ads.json?k=1"),
            ("  /padded  ", "http://127.0.0.1:8000/padded"),
        ];
        for (location, want) in cases {
            assert_eq!(
                base.resolve(location).unwrap().to_string(),
                want,
                "{location}"
            );
        }
        for refused in [
            "ftp://evil.example/ads.json",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "gopher:x",
            "",
            "/a b",
            "/a\r\nHost: evil",
            "//127.0.0.1@evil.example/",
        ] {
            assert!(base.resolve(refused).is_err(), "{refused:?} resolved");
        }
        // An https base keeps https for a scheme-relative reference.
        let secure = hop("https://feeds.example/a");
        assert_eq!(
            secure.resolve("//cdn.example/b").unwrap().to_string(),
            "https://cdn.example/b"
        );
    }

    #[test]
    fn the_transport_rule_holds_for_every_hop() {
        let cases = [
            ("https://feeds.example/ads.json", true),
            ("http://127.0.0.1:8000/ads.json", true),
            ("http://127.9.9.9/ads.json", true),
            ("http://LOCALHOST:80", true),
            ("http://[::1]:8000/x", true),
            ("http://192.0.2.10/ads.json", false),
            ("http://0.0.0.0:8000/ads.json", false),
            ("http://127.1/ads.json", false),
            ("http://localhost./ads.json", false),
            ("http://localhost.feeds.example/", false),
            ("http://[::2]/x", false),
        ];
        for (url, ok) in cases {
            assert_eq!(hop(url).permitted(false).is_ok(), ok, "{url}");
            assert!(hop(url).permitted(true).is_ok(), "{url}");
        }
    }

    #[test]
    fn quoted_urls_are_short_and_escaped() {
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(5000);
        assert!(quoted(&long).len() < QUOTED_MAX + 10);
        assert!(quoted(&"é".repeat(300)).ends_with("…\""));
    }
}
