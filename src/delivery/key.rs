//! The event-signing key (README "Delivery"): 32 random bytes that every
//! replica shares through `--event-key-file`, or a random per-process key
//! when the flag is not given.
//!
//! This module owns the key file: reading it, and creating it exactly once
//! when it is missing. It signs nothing — `token` does.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Bytes of key material.
pub(crate) const KEY_LEN: usize = 32;

/// The secret that event tokens are signed with. `Debug` does not show it.
#[derive(Clone)]
pub struct EventKey {
    key: [u8; KEY_LEN],
    /// The 128-bit key SipHash takes, derived once from all 32 bytes.
    mac_key: [u8; 16],
}

impl std::fmt::Debug for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventKey(..)")
    }
}

/// Why the key file could not be used; each message names the path.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("event key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "event key file {path} holds {len} bytes: it must be 32 raw bytes or 64 hex digits (an optional newline after)"
    )]
    Format { path: PathBuf, len: usize },
    #[error("event key: the system random generator failed")]
    Random,
}

impl EventKey {
    /// A fresh random key, for a server started without `--event-key-file`.
    pub fn random() -> Result<Self, KeyError> {
        let mut key = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| KeyError::Random)?;
        Ok(Self::from_bytes(key))
    }

    /// A key from known bytes (tests, benches).
    ///
    /// The MAC key is HMAC-SHA256(key, "adserver event token v1") cut to
    /// 128 bits: every key byte counts, and distinct keys give unrelated
    /// MAC keys (a plain cut or fold of the 32 bytes would not).
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        use aws_lc_rs::hmac;
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &key),
            b"adserver event token v1",
        );
        let mut mac_key = [0u8; 16];
        mac_key.copy_from_slice(&tag.as_ref()[..16]);
        Self { key, mac_key }
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    pub(crate) fn mac_key(&self) -> &[u8; 16] {
        &self.mac_key
    }

    /// Reads the key at `path`; when there is none, creates it with a
    /// random key, mode 0600.
    ///
    /// Creation is atomic and exclusive: the key is written and synced to a
    /// private temporary file beside `path`, then hard-linked into place.
    /// `link(2)` never replaces an existing file, so when two replicas start
    /// at once one link wins and the other reads the winner's key; and a
    /// `kill -9` mid-write leaves at most a stray temporary file, never a
    /// short key at `path`.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        match fs::read(path) {
            Ok(bytes) => return Self::parse(path, &bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let key = Self::random()?;
        let tmp = temp_path(path)?;
        let written = write_new(&tmp, &key);
        let linked = written.and_then(|()| fs::hard_link(&tmp, path));
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent(path);
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Self::parse(path, &fs::read(path).map_err(io_err)?)
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// 32 raw bytes, or 64 hex digits with an optional trailing newline (so
    /// `openssl rand -hex 32 > key` makes a valid file too).
    fn parse(path: &Path, bytes: &[u8]) -> Result<Self, KeyError> {
        let format = || KeyError::Format {
            path: path.to_owned(),
            len: bytes.len(),
        };
        if bytes.len() == KEY_LEN {
            let mut key = [0u8; KEY_LEN];
            key.copy_from_slice(bytes);
            return Ok(Self::from_bytes(key));
        }
        let hex = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let hex = hex.strip_suffix(b"\r").unwrap_or(hex);
        if hex.len() != 2 * KEY_LEN {
            return Err(format());
        }
        let mut key = [0u8; KEY_LEN];
        for (out, pair) in key.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |b: u8| (b as char).to_digit(16).ok_or_else(format);
            *out = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
        }
        Ok(Self::from_bytes(key))
    }

    fn to_hex(&self) -> [u8; 2 * KEY_LEN + 1] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'\n'; 2 * KEY_LEN + 1];
        for (i, b) in self.key.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        out
    }
}

/// `<path>.<random>.tmp` in the same directory, so the link stays on one
/// file system.
fn temp_path(path: &Path) -> Result<PathBuf, KeyError> {
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KeyError::Random)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{:016x}.tmp", u64::from_ne_bytes(nonce)));
    Ok(path.with_file_name(name))
}

/// Writes the key as hex into a file that must not exist yet, mode 0600,
/// and syncs it before it can be linked into place.
fn write_new(tmp: &Path, key: &EventKey) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    file.write_all(&key.to_hex())?;
    file.sync_all()
}

/// Makes the new directory entry durable; best effort (some file systems
/// refuse to sync a directory), since the key itself is already synced.
fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("adserver-key-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_missing_key_is_created_once_with_mode_0600_and_read_back() {
        let d = dir("create");
        let path = d.join("event.key");
        let first = EventKey::load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 65, "64 hex digits and a newline");
        let again = EventKey::load_or_create(&path).unwrap();
        assert_eq!(first.bytes(), again.bytes());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn replicas_starting_together_agree_on_one_key() {
        let d = dir("race");
        let path = d.join("event.key");
        let keys: Vec<[u8; KEY_LEN]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| *EventKey::load_or_create(&path).unwrap().bytes()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            keys.windows(2).all(|w| w[0] == w[1]),
            "every replica got the same key"
        );
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn raw_and_hex_files_are_read() {
        let d = dir("formats");
        let raw = d.join("raw");
        fs::write(&raw, [9u8; 32]).unwrap();
        assert_eq!(EventKey::load_or_create(&raw).unwrap().bytes(), &[9u8; 32]);
        let hex = d.join("hex");
        fs::write(&hex, format!("{}\n", "0a".repeat(32))).unwrap();
        assert_eq!(EventKey::load_or_create(&hex).unwrap().bytes(), &[10u8; 32]);
        let upper = d.join("upper");
        fs::write(&upper, "AB".repeat(32)).unwrap();
        assert_eq!(
            EventKey::load_or_create(&upper).unwrap().bytes(),
            &[0xab; 32]
        );
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_file_of_the_wrong_size_or_format_is_an_error_saying_so() {
        let d = dir("bad");
        for (name, body) in [
            ("empty", Vec::new()),
            ("short", vec![1u8; 31]),
            ("long", vec![1u8; 33]),
            ("not-hex", "zz".repeat(32).into_bytes()),
            ("two-lines", format!("{}\n\n", "00".repeat(32)).into_bytes()),
        ] {
            let path = d.join(name);
            fs::write(&path, &body).unwrap();
            let err = EventKey::load_or_create(&path).unwrap_err().to_string();
            assert!(err.contains(&*path.to_string_lossy()), "{err}");
            assert!(
                err.contains("must be 32 raw bytes or 64 hex digits"),
                "{err}"
            );
            // The bad file is left as it was, never replaced.
            assert_eq!(fs::read(&path).unwrap(), body);
        }
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(
            format!("{:?}", EventKey::from_bytes([7; 32])),
            "EventKey(..)"
        );
    }
}
