//! `--api-keys-file`: the simple alternative to JWTs. One key per line;
//! blank lines and lines starting with `#` are ignored.
//!
//! Keys are held as SHA-256 digests and a presented key is compared with
//! every one of them in constant time (`subtle`), so neither the position
//! of the first differing byte nor the key's length nor which key matched
//! shows in the response time. Keys are never logged.

use std::path::Path;

use aws_lc_rs::digest::{digest, SHA256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The accepted API keys.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

/// Why the keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeysError {
    #[error("cannot read API keys file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("API keys file {path} holds no keys")]
    Empty { path: String },
}

impl ApiKeys {
    /// Reads and parses a keys file; an empty file is an error (it would
    /// lock every game out).
    pub fn load(path: &Path) -> Result<ApiKeys, ApiKeysError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ApiKeysError::Read {
            path: shown.clone(),
            source,
        })?;
        let keys = ApiKeys::parse(&text);
        if keys.is_empty() {
            return Err(ApiKeysError::Empty { path: shown });
        }
        Ok(keys)
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> ApiKeys {
        let digests = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(sha256)
            .collect();
        ApiKeys { digests }
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The position of `presented` among the keys, if it is one. Every key
    /// is compared, whatever matches.
    pub fn find(&self, presented: &str) -> Option<usize> {
        let presented = sha256(presented);
        let mut found = subtle::Choice::from(0);
        let mut index = 0u64;
        for (i, key) in self.digests.iter().enumerate() {
            let hit = key.ct_eq(&presented);
            index.conditional_assign(&(i as u64), hit);
            found |= hit;
        }
        bool::from(found).then_some(index as usize)
    }
}

fn sha256(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    out
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_by_position_and_nothing_else() {
        let keys = ApiKeys::parse("# games\n alpha-key \n\nbeta-key\n#gamma-key\n");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.find("alpha-key"), Some(0));
        assert_eq!(keys.find("beta-key"), Some(1));
        assert_eq!(keys.find("gamma-key"), None);
        assert_eq!(keys.find("#gamma-key"), None);
        assert_eq!(keys.find("alpha-ke"), None);
        assert_eq!(keys.find(""), None);
    }

    #[test]
    fn an_empty_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("adserver-keys-{}", std::process::id()));
        std::fs::write(&dir, "# nothing\n\n").unwrap();
        assert!(matches!(
            ApiKeys::load(&dir),
            Err(ApiKeysError::Empty { .. })
        ));
        std::fs::remove_file(&dir).unwrap();
        assert!(matches!(
            ApiKeys::load(&dir),
            Err(ApiKeysError::Read { .. })
        ));
    }
}
