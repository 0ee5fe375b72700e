//! Country and language codes, and the integer key they pack into.
//!
//! A code is checked and brought to one canonical form once, here, whether
//! it comes from the feed or from a request, so the rest of the server
//! compares integers. Nothing here allocates.
//!
//! Languages are canonicalised so that the forms game platforms report all
//! meet: ISO 639-1 (`en`), ISO 639-2/B and /T (`fre` and `fra`), and BCP 47
//! or POSIX locales (`en-US`, `fr_CA`, `zh-Hant-TW`, whose region and script
//! are ignored) all become the ISO 639-2/T code (`eng`, `fra`, `zho`).

/// An ISO 3166-1 alpha-2 country code, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

/// A language, canonical: the ISO 639-2/T code where one is known, else
/// the two or three letters given, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lang {
    bytes: [u8; 3],
    len: u8,
}

impl Country {
    /// `"*"` in the feed: matches any country.
    pub const ANY: Country = Country([0, 0]);

    pub(crate) fn is_any(&self) -> bool {
        *self == Country::ANY
    }

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
        if self.is_any() {
            return "*";
        }
        std::str::from_utf8(&self.0).expect("country codes are ASCII")
    }
}

impl Lang {
    /// `"*"` in the feed: matches any language.
    pub const ANY: Lang = Lang {
        bytes: [0; 3],
        len: 0,
    };

    pub(crate) fn is_any(&self) -> bool {
        *self == Lang::ANY
    }

    /// A language code or locale, any case; `None` for what is not one.
    ///
    /// The primary subtag must be two or three ASCII letters; any further
    /// subtags (region, script, variant), split by `-` or `_`, must be one
    /// to eight ASCII letters or digits and are dropped. A primary subtag
    /// that no table knows is kept as given, so a plain feed and a plain
    /// request still meet on any two or three letters.
    pub fn parse(raw: &[u8]) -> Option<Lang> {
        let mut subtags = raw.split(|&b| b == b'-' || b == b'_');
        let primary = subtags.next()?;
        let rest_ok =
            subtags.all(|t| (1..=8).contains(&t.len()) && t.iter().all(u8::is_ascii_alphanumeric));
        if !rest_ok
            || !(2..=3).contains(&primary.len())
            || !primary.iter().all(u8::is_ascii_alphabetic)
        {
            return None;
        }
        let mut lower = [0u8; 3];
        for (dst, src) in lower.iter_mut().zip(primary) {
            *dst = src.to_ascii_lowercase();
        }
        let lower = &lower[..primary.len()];
        let canonical = match lower {
            [_, _] => std::str::from_utf8(lower)
                .ok()
                .and_then(isolang::Language::from_639_1)
                .map(|l| l.to_639_3().as_bytes()),
            _ => bibliographic_to_terminology(lower),
        };
        Some(Lang::from_letters(canonical.unwrap_or(lower)))
    }

    fn from_letters(letters: &[u8]) -> Lang {
        let mut bytes = [0; 3];
        bytes[..letters.len()].copy_from_slice(letters);
        Lang {
            bytes,
            len: letters.len() as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        if self.is_any() {
            return "*";
        }
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("language codes are ASCII")
    }
}

/// The twenty ISO 639-2 languages whose bibliographic (/B) code differs
/// from the terminology (/T) one. Matched as packed integers: this runs on
/// every request, and twenty slice comparisons cost more than the rest of
/// the query parsing together (measured with `cargo bench --bench
/// request_path`).
fn bibliographic_to_terminology(code: &[u8]) -> Option<&'static [u8]> {
    const fn packed(code: &[u8; 3]) -> u32 {
        (code[0] as u32) << 16 | (code[1] as u32) << 8 | code[2] as u32
    }
    let [a, b, c] = *code else { return None };
    let t: &'static [u8; 3] = match packed(&[a, b, c]) {
        x if x == packed(b"alb") => b"sqi",
        x if x == packed(b"arm") => b"hye",
        x if x == packed(b"baq") => b"eus",
        x if x == packed(b"bur") => b"mya",
        x if x == packed(b"chi") => b"zho",
        x if x == packed(b"cze") => b"ces",
        x if x == packed(b"dut") => b"nld",
        x if x == packed(b"fre") => b"fra",
        x if x == packed(b"geo") => b"kat",
        x if x == packed(b"ger") => b"deu",
        x if x == packed(b"gre") => b"ell",
        x if x == packed(b"ice") => b"isl",
        x if x == packed(b"mac") => b"mkd",
        x if x == packed(b"mao") => b"mri",
        x if x == packed(b"may") => b"msa",
        x if x == packed(b"per") => b"fas",
        x if x == packed(b"rum") => b"ron",
        x if x == packed(b"slo") => b"slk",
        x if x == packed(b"tib") => b"bod",
        x if x == packed(b"wel") => b"cym",
        _ => return None,
    };
    Some(t)
}

/// `(country, lang)` packed into 25 bits: five bits per letter (`a` = 1, so
/// a two-letter language, whose third slot is 0, never collides with a
/// three-letter one, and the all-zero wildcard collides with neither).
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

    /// The keys a request for `(country, lang)` tries, most specific first:
    /// exact, `(country, *)`, `(*, lang)`, `(*, *)`.
    pub fn fallbacks(country: Country, lang: Lang) -> [PairKey; 4] {
        [
            PairKey::new(country, lang),
            PairKey::new(country, Lang::ANY),
            PairKey::new(Country::ANY, lang),
            PairKey::new(Country::ANY, Lang::ANY),
        ]
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
        assert_eq!(Lang::parse(b"En").unwrap().as_str(), "eng");
        for bad in [
            &b""[..],
            b"e",
            b"engl",
            b"en1",
            b"e-n",
            b"-en",
            b"en-",
            b"en--us",
            b"en-toolongsub",
            b"en us",
        ] {
            assert_eq!(Lang::parse(bad), None, "{bad:?}");
        }
    }

    /// Each row: what a client or feed may say, and the canonical code.
    const LANGUAGES: &[(&str, &str)] = &[
        // ISO 639-1.
        ("en", "eng"),
        ("fr", "fra"),
        ("de", "deu"),
        ("es", "spa"),
        ("zh", "zho"),
        ("ja", "jpn"),
        ("pt", "por"),
        // ISO 639-2/T stays.
        ("eng", "eng"),
        ("fra", "fra"),
        ("spa", "spa"),
        // ISO 639-2/B becomes /T: all twenty pairs.
        ("alb", "sqi"),
        ("arm", "hye"),
        ("baq", "eus"),
        ("bur", "mya"),
        ("chi", "zho"),
        ("cze", "ces"),
        ("dut", "nld"),
        ("fre", "fra"),
        ("geo", "kat"),
        ("ger", "deu"),
        ("gre", "ell"),
        ("ice", "isl"),
        ("mac", "mkd"),
        ("mao", "mri"),
        ("may", "msa"),
        ("per", "fas"),
        ("rum", "ron"),
        ("slo", "slk"),
        ("tib", "bod"),
        ("wel", "cym"),
        // BCP 47 and POSIX locales: region and script ignored.
        ("en-US", "eng"),
        ("en_GB", "eng"),
        ("fr_CA", "fra"),
        ("fr-ca", "fra"),
        ("zh-Hant-TW", "zho"),
        ("sr-Latn", "srp"),
        ("es-419", "spa"),
        ("FRE-ca", "fra"),
        // Unknown to the tables: kept, so plain feeds still match plainly.
        ("zz", "zz"),
        ("xqz", "xqz"),
    ];

    #[test]
    fn every_language_form_meets_its_canonical_code() {
        for &(given, canonical) in LANGUAGES {
            let lang = Lang::parse(given.as_bytes()).unwrap_or_else(|| panic!("{given} refused"));
            assert_eq!(lang.as_str(), canonical, "{given}");
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
