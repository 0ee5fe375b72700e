//! `exclude=id1,id2,…`: ads the game has just shown, skipped while another
//! eligible ad exists. Ids are compared by a 64-bit hash, computed once per
//! excluded id per request; the catalog keeps each ad's [`id_tag`] (half
//! the hash) and hashes an ad's id only when its tag matches, so the
//! request path mostly compares integers and never allocates.

/// At most this many ids are honoured; the rest of a longer list is ignored.
pub const MAX_EXCLUDED: usize = 16;

/// Fixed seeds so a catalog's hashes and a request's agree.
const ID_HASH: ahash::RandomState = ahash::RandomState::with_seeds(11, 13, 17, 19);

pub fn id_hash(id: &[u8]) -> u64 {
    ID_HASH.hash_one(id)
}

/// The high half of an [`id_hash`]: what a catalog keeps per ad (4 bytes,
/// not 8) to pass over the ads a request does not exclude without hashing
/// their ids; a match is confirmed on the whole hash.
#[inline]
pub fn id_tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The hashed ids of one request's `exclude`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exclude {
    hashes: [u64; MAX_EXCLUDED],
    len: u8,
}

impl Exclude {
    /// No ids: what a request without `exclude` carries.
    pub(crate) const NONE: Exclude = Exclude {
        hashes: [0; MAX_EXCLUDED],
        len: 0,
    };

    /// Adds an id; `false` when the list is already full.
    pub fn push(&mut self, id: &[u8]) -> bool {
        if usize::from(self.len) == MAX_EXCLUDED {
            return false;
        }
        self.hashes[usize::from(self.len)] = id_hash(id);
        self.len += 1;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    #[inline]
    pub fn contains(&self, hash: u64) -> bool {
        self.hashes[..usize::from(self.len)].contains(&hash)
    }

    /// Whether an id with this [`id_tag`] may be excluded: `false` is sure.
    #[inline]
    pub fn may_contain(&self, tag: u32) -> bool {
        self.hashes[..usize::from(self.len)]
            .iter()
            .any(|&h| id_tag(h) == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_sixteen() {
        let mut exclude = Exclude::default();
        for i in 0..MAX_EXCLUDED {
            assert!(exclude.push(format!("ad{i}").as_bytes()));
        }
        assert!(!exclude.push(b"one-too-many"));
        assert_eq!(exclude.len(), MAX_EXCLUDED);
        assert!(exclude.contains(id_hash(b"ad0")));
        assert!(!exclude.contains(id_hash(b"one-too-many")));
    }
}
