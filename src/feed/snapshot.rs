//! The last good feed on disk, for a cold start while the feed is down.
//!
//! Written atomically: a temporary file beside the snapshot is filled and
//! fsynced, then renamed over it, and the directory is fsynced so the rename
//! survives a crash. A reader therefore sees the old snapshot or the new
//! one, and a torn temporary file is never mistaken for either.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary file a save writes before renaming it into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces the snapshot at `path` with `bytes`, atomically.
pub fn save(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "adserver-snapshot-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn save_replaces_the_snapshot_and_leaves_no_temp() {
        let path = dir().join("feed.json");
        save(&path, b"one").unwrap();
        save(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn a_torn_temp_file_does_not_replace_the_snapshot() {
        let path = dir().join("feed.json");
        save(&path, b"{\"ads\":[]}").unwrap();
        // A crash mid-save leaves half a temp file behind, never renamed.
        fs::write(temp_path(&path), b"{\"ads\":[{\"id\"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"ads\":[]}");
        // The next save overwrites the torn temp file and goes through.
        save(&path, b"{\"ads\":[1]}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"ads\":[1]}");
    }

    #[test]
    fn a_failed_save_keeps_the_old_snapshot() {
        let dir = dir();
        let path = dir.join("feed.json");
        save(&path, b"good").unwrap();
        // The temp path is taken by a directory, so creating the temp file fails.
        fs::create_dir(temp_path(&path)).unwrap();
        assert!(save(&path, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"good");
    }
}
