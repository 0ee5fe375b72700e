//! Building a [`Catalog`] one valid ad at a time, as the feed parser reads
//! them ([`Sink`]), so no owned copy of the feed is made on the way: each
//! ad's 200 body is written straight into a shared buffer, its targeting
//! into a small fixed-size record, and the rare text that is not derived
//! from the body (escaped ids, given titles, MIME types, click URLs) beside
//! it. [`Builder::finish`] compiles the lookup table.
//!
//! What a million ads cost is this module's concern: bodies packed into
//! shared chunks ([`super::bodies`]) rather than one allocation per ad, the
//! id and the video URL read back from the body rather than kept twice,
//! budgets, zones and creatives kept only for the ads that have them.

use super::bodies::Writer;
use super::chosen::{Delivered, Video};
use super::{id_hash, id_tag, AdFacts, Catalog, Escaped, Facts, ESCAPED, NO_BUDGET};
use crate::budget::Budget;
use crate::clock::Zone;
use crate::delivery::creative::mime_from_extension;
use crate::delivery::Creative;
use crate::feed::{AdRef, Sink, Skips};

/// `{"id":"`: where the id starts in a body.
pub(super) const ID_AT: usize = 7;
/// `","video_url":"`: between the id and the URL in a body.
pub(super) const BETWEEN: usize = 15;
/// `"}`: after the URL.
const TAIL: usize = 2;

#[derive(serde::Serialize)]
struct AdBody<'a> {
    id: &'a str,
    video_url: &'a str,
}

/// A catalog under construction: a [`Sink`] for
/// [`crate::feed::parse_into`].
#[derive(Default)]
pub struct Builder {
    bodies: Writer,
    id_tags: Vec<u32>,
    facts: Vec<Facts>,
    /// Ads with their own zone, with it.
    zones: Vec<(u32, Zone)>,
    budgeted: Vec<AdFacts>,
    /// Ads whose id or video URL the body spells escaped, with both as given.
    escaped: Vec<Escaped>,
    /// Ads whose player fields are the defaults but for the numbers.
    videos: Vec<(u32, Video)>,
    /// Ads whose creative is not the defaults, with it whole.
    creatives: Vec<(u32, Creative)>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Compiles the table and hands the catalog over.
    pub fn finish(self, skips: Skips) -> Catalog {
        let bodies = self.bodies.finish();
        let n = bodies.len();
        let table = super::compile::Table::of(&self.facts, &self.zones);
        Catalog {
            pairs: table.pairs,
            slots: table.slots,
            members: table.members,
            bodies,
            id_tags: self.id_tags.into_boxed_slice(),
            zones: self.zones.into_boxed_slice(),
            zoned: table.zoned,
            zoned_of: table.zoned_of,
            limited: !self.budgeted.is_empty(),
            facts: self.facts.into_boxed_slice(),
            budgeted: self.budgeted.into_boxed_slice(),
            escaped: self.escaped.into_boxed_slice(),
            unlimited: Budget::default(),
            delivered: Delivered::new(
                self.videos.into_boxed_slice(),
                self.creatives.into_boxed_slice(),
                n,
            ),
            skipped_entries: skips.kept.into_boxed_slice(),
            skip_counts: skips.counts,
        }
    }

    /// The body bytes of ad `n`.
    fn body(&self, n: usize) -> &[u8] {
        self.bodies.get(n)
    }
}

impl Sink for Builder {
    fn push(&mut self, ad: AdRef<'_>) {
        let n = self.bodies.len() as u32;
        // Text that JSON needs no escape for (printable ASCII but `"` and
        // `\`) is written as it is; the rest goes through the serialiser.
        let plain_text = |t: &str| {
            t.bytes()
                .all(|b| (b' '..0x7f).contains(&b) && b != b'"' && b != b'\\')
        };
        let len = self.bodies.push(|out| {
            if plain_text(ad.id) && plain_text(ad.video_url) {
                for part in [
                    &b"{\"id\":\""[..],
                    ad.id.as_bytes(),
                    b"\",\"video_url\":\"",
                    ad.video_url.as_bytes(),
                    b"\"}",
                ] {
                    out.extend_from_slice(part);
                }
            } else {
                simd_json::to_writer(
                    out,
                    &AdBody {
                        id: ad.id,
                        video_url: ad.video_url,
                    },
                )
                .expect("two strings always serialise");
            }
        });
        // Escaping only ever lengthens: at the plain length, the body
        // holds both strings as given.
        let plain = len == ID_AT + ad.id.len() + BETWEEN + ad.video_url.len() + TAIL;
        let id_len = match u16::try_from(ad.id.len()) {
            Ok(id_len) if plain && id_len != ESCAPED => id_len,
            _ => {
                self.escaped.push(Escaped {
                    ad: n,
                    id: ad.id.into(),
                    video_url: ad.video_url.into(),
                });
                ESCAPED
            }
        };
        let hash = id_hash(ad.id.as_bytes());
        self.id_tags.push(id_tag(hash));
        if let Some(zone) = ad.zone {
            self.zones.push((n, zone));
        }
        let budget = if ad.budget.is_unlimited() {
            NO_BUDGET
        } else {
            self.budgeted.push(AdFacts {
                id: ad.id.into(),
                id_hash: hash,
                country: ad.country,
                lang: ad.lang,
                window: ad.window,
                weight: ad.weight,
                zone: ad.zone,
                budget: ad.budget,
            });
            self.budgeted.len() as u32 - 1
        };
        self.facts.push(Facts {
            country: ad.country,
            lang: ad.lang,
            window: ad.window,
            weight: ad.weight,
            budget,
            id_len,
            own_zone: ad.zone.is_some(),
        });
        let c = ad.creative;
        let small = |v: u32| u16::try_from(v).ok();
        match (small(c.duration), small(c.width), small(c.height)) {
            (Some(duration), Some(width), Some(height))
                if c.mime_type == mime_from_extension(ad.video_url)
                    && c.title == ad.id
                    && c.click_url.is_none() =>
            {
                let video = Video {
                    duration,
                    width,
                    height,
                };
                if video != Video::DEFAULT {
                    self.videos.push((n, video));
                }
            }
            _ => self.creatives.push((n, c.to_owned())),
        }
    }

    fn id(&self, n: usize) -> &str {
        match self.facts[n].id_len {
            ESCAPED => {
                let at = self
                    .escaped
                    .binary_search_by_key(&(n as u32), |e| e.ad)
                    .expect("an escaped id is listed");
                &self.escaped[at].id
            }
            len => std::str::from_utf8(&self.body(n)[ID_AT..][..usize::from(len)])
                .expect("the body holds the id as given"),
        }
    }

    fn len(&self) -> usize {
        self.bodies.len()
    }

    fn reserve(&mut self, ads: usize) {
        self.bodies.reserve(ads);
        self.id_tags.reserve(ads);
        self.facts.reserve(ads);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{Country, Lang};
    use crate::delivery::CreativeRef;
    use crate::window::Window;

    /// Written by hand or by the serialiser, a body is what the
    /// serialiser writes, and the id reads back as given.
    #[test]
    fn bodies_are_the_serialisers_json() {
        let ids = ["a1", "q\"x", "b\\s", "c\u{1}", "del\u{7f}", "é", " sp ", ""];
        let mut builder = Builder::new();
        for id in ids {
            let url = format!("https://v.example/{id}.mp4");
            builder.push(AdRef {
                id,
                video_url: &url,
                country: Country::parse(b"us").unwrap(),
                lang: Lang::parse(b"eng").unwrap(),
                window: Window::new(0, 0),
                weight: 1,
                zone: None,
                creative: CreativeRef::check(id, &url, Default::default()).unwrap(),
                budget: Budget::default(),
            });
        }
        for (n, id) in ids.iter().enumerate() {
            let url = format!("https://v.example/{id}.mp4");
            let want = simd_json::to_vec(&AdBody {
                id,
                video_url: &url,
            })
            .unwrap();
            assert_eq!(builder.body(n), want, "{id:?}");
            assert_eq!(builder.id(n), *id);
        }
    }
}
