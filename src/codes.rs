//! Country and language codes, and the integer key they pack into.
//!
//! A code is checked and lower-cased once, here, whether it comes from the
//! feed or from a request, so the rest of the server compares integers.
//! Nothing here allocates.

/// An ISO 3166-1 alpha-2 country code, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

/// A language code of two or three ASCII letters, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang {
    bytes: [u8; 3],
    len: u8,
}

impl Country {
    /// Two ASCII letters, any case; `None` for anything else.
    pub fn parse(raw: &[u8]) -> Option<Country> {
        match raw {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_lowercase(), b.to_ascii_lowercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("country codes are ASCII")
    }
}

impl Lang {
    /// Two or three ASCII letters, any case; `None` for anything else.
    pub fn parse(raw: &[u8]) -> Option<Lang> {
        if !(2..=3).contains(&raw.len()) || !raw.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut bytes = [0; 3];
        for (dst, src) in bytes.iter_mut().zip(raw) {
            *dst = src.to_ascii_lowercase();
        }
        Some(Lang {
            bytes,
            len: raw.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("language codes are ASCII")
    }
}

/// `(country, lang)` packed into 25 bits: five bits per letter (`a` = 1, so
/// a two-letter language, whose third slot is 0, never collides with a
/// three-letter one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairKey(u32);

impl PairKey {
    pub fn new(country: Country, lang: Lang) -> PairKey {
        let letter = |b: u8| if b == 0 { 0 } else { u32::from(b - b'a' + 1) };
        let [c0, c1] = country.0;
        let [l0, l1, l2] = lang.bytes;
        PairKey(
            letter(c0) << 20 | letter(c1) << 15 | letter(l0) << 10 | letter(l1) << 5 | letter(l2),
        )
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_accepts_two_letters_any_case() {
        assert_eq!(Country::parse(b"US").unwrap().as_str(), "us");
        assert_eq!(Country::parse(b"uS").unwrap().as_str(), "us");
        for bad in [&b""[..], b"u", b"usa", b"u1", b"u ", "ü".as_bytes()] {
            assert_eq!(Country::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lang_accepts_two_or_three_letters_any_case() {
        assert_eq!(Lang::parse(b"ENG").unwrap().as_str(), "eng");
        assert_eq!(Lang::parse(b"En").unwrap().as_str(), "en");
        for bad in [&b""[..], b"e", b"engl", b"en1", b"e-n"] {
            assert_eq!(Lang::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_are_distinct_and_case_blind() {
        let key =
            |c: &[u8], l: &[u8]| PairKey::new(Country::parse(c).unwrap(), Lang::parse(l).unwrap());
        assert_eq!(key(b"US", b"ENG"), key(b"us", b"eng"));
        assert_ne!(key(b"us", b"en"), key(b"us", b"ena"));
        assert_ne!(key(b"us", b"eng"), key(b"su", b"eng"));
        assert_ne!(key(b"zz", b"zzz"), key(b"zz", b"zz"));
        assert!(key(b"zz", b"zzz").get() < 1 << 25);
    }
}
