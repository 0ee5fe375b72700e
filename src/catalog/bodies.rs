//! Every ad's 200 body, packed: chunks of about [`CHUNK`] bytes shared
//! (reference-counted) by the ads in them, and one 4-byte start per ad.
//!
//! A body is found from its start alone. Starts are addresses in one
//! logical space where chunk `c` begins at a multiple of [`CHUNK`] and is
//! listed at `chunks[start / CHUNK]`; an ad's body runs to the next ad's
//! start when that is in the same chunk, else to its chunk's end. A body
//! never spans two chunks: one that does not fit in what is left of a chunk
//! opens the next, and one longer than [`CHUNK`] gets a chunk of its own
//! that covers as many units as it needs (the units past its first hold
//! nothing). A 32-byte `Bytes` handle per ad (32 MiB at a million ads)
//! becomes a 4-byte start; cloning a body is still one reference-count
//! increment on its chunk and allocates nothing.

use std::ops::Range;

use bytes::Bytes;

/// The unit of the logical space, and the size chunks are filled to.
pub(super) const CHUNK: usize = 1 << SHIFT;
const SHIFT: u32 = 16;

/// Bodies of a whole catalog, by ad number.
#[derive(Debug)]
pub(super) struct Bodies {
    /// `chunks[unit]`: the chunk that begins at `unit * CHUNK` (empty for
    /// the units a long body's chunk covers past its first).
    chunks: Box<[Bytes]>,
    /// Ad `n`'s body starts at `starts[n]`; one more entry past the last
    /// ad marks where its chunk ends.
    starts: Box<[u32]>,
}

impl Default for Bodies {
    fn default() -> Bodies {
        Bodies {
            chunks: Box::default(),
            starts: Box::new([0]),
        }
    }
}

impl Bodies {
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Ad `n`'s body, borrowed from its chunk.
    #[inline]
    pub fn get(&self, n: usize) -> &[u8] {
        let (chunk, at) = self.locate(n);
        &chunk[at]
    }

    /// Ad `n`'s body as its own handle on the chunk: no allocation, one
    /// atomic increment.
    #[inline]
    pub fn shared(&self, n: usize) -> Bytes {
        let (chunk, at) = self.locate(n);
        chunk.slice(at)
    }

    #[inline]
    fn locate(&self, n: usize) -> (&Bytes, Range<usize>) {
        let (start, next) = (self.starts[n], self.starts[n + 1]);
        let chunk = &self.chunks[unit_of(start)];
        (chunk, within_chunk(start, Some(next), chunk.len()))
    }
}

/// The chunk a start lies in, by unit.
#[inline]
fn unit_of(start: u32) -> usize {
    (start >> SHIFT) as usize
}

/// Where the body at `start` lies within its chunk of `chunk_len` bytes:
/// up to the next body's start when that is in the same chunk, else (or
/// with no next body yet) to the chunk's end.
#[inline]
fn within_chunk(start: u32, next: Option<u32>, chunk_len: usize) -> Range<usize> {
    let base = start & !(CHUNK as u32 - 1);
    let to = match next {
        Some(next) if next & !(CHUNK as u32 - 1) == base => (next - base) as usize,
        _ => chunk_len,
    };
    (start - base) as usize..to
}

/// Bodies being written, one ad after another.
#[derive(Debug)]
pub(super) struct Writer {
    /// The chunk being filled.
    open: Vec<u8>,
    /// Where `open` begins in the logical space.
    base: u64,
    chunks: Vec<Bytes>,
    starts: Vec<u32>,
}

impl Default for Writer {
    fn default() -> Writer {
        Writer {
            open: Vec::with_capacity(CHUNK),
            base: 0,
            chunks: Vec::new(),
            starts: Vec::new(),
        }
    }
}

impl Writer {
    pub fn reserve(&mut self, ads: usize) {
        self.starts.reserve(ads + 1);
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Writes the next ad's body with `write` (which appends it to the
    /// buffer it is given); returns its length.
    ///
    /// The logical space is addressed with 32 bits. A body is at most about
    /// 14 KiB (validation bounds ids and URLs), so a chunk wastes at most
    /// that much of its unit, and bodies are shorter than the feed entries
    /// they come from: `--feed-max-bytes` (at most 2 GiB) keeps the space
    /// under 4 GiB.
    pub fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> usize {
        let start = self.open.len();
        write(&mut self.open);
        let len = self.open.len() - start;
        if start > 0 && start + len.max(1) > CHUNK {
            // It does not fit: the chunk closes before it and it opens the next.
            let body = self.open.split_off(start);
            self.close();
            self.open = body;
        }
        let at = self.base + (self.open.len() - len) as u64;
        self.starts
            .push(u32::try_from(at).expect("bodies fit the 32-bit space"));
        len
    }

    /// Ad `n`'s body, written so far.
    pub fn get(&self, n: usize) -> &[u8] {
        let start = self.starts[n];
        // The last unit's chunk is the open one until it closes.
        let chunk = match self.chunks.get(unit_of(start)) {
            Some(chunk) => &chunk[..],
            None => &self.open[..],
        };
        &chunk[within_chunk(start, self.starts.get(n + 1).copied(), chunk.len())]
    }

    /// Makes the open chunk one shared allocation of exactly its size, at
    /// its unit, and moves the logical space past the units it covers.
    fn close(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let chunk = Bytes::copy_from_slice(&self.open);
        // The first clone makes the chunk's shared reference count; made
        // here, the request path's clones only increment it.
        drop(chunk.clone());
        let units = self.open.len().div_ceil(CHUNK);
        self.chunks.push(chunk);
        self.chunks
            .extend(std::iter::repeat(Bytes::new()).take(units - 1));
        self.base += (units * CHUNK) as u64;
        self.open.clear();
    }

    pub fn finish(mut self) -> Bodies {
        self.close();
        self.starts
            .push(u32::try_from(self.base).expect("bodies fit the 32-bit space"));
        Bodies {
            chunks: self.chunks.into_boxed_slice(),
            starts: self.starts.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(lengths: &[usize]) -> (Vec<Vec<u8>>, Bodies) {
        let mut writer = Writer::default();
        let bodies: Vec<Vec<u8>> = lengths
            .iter()
            .enumerate()
            .map(|(n, &len)| (0..len).map(|i| (n * 7 + i) as u8).collect())
            .collect();
        for (n, body) in bodies.iter().enumerate() {
            writer.push(|out| out.extend_from_slice(body));
            for (m, before) in bodies[..=n].iter().enumerate() {
                assert_eq!(writer.get(m), &before[..], "ad {m} while writing");
            }
        }
        (bodies, writer.finish())
    }

    #[test]
    fn bodies_read_back_across_chunks_and_long_ones() {
        let lengths = [
            70,
            CHUNK - 100,
            99,
            1,
            CHUNK,
            CHUNK * 3 + 5,
            0,
            40,
            CHUNK - 40,
            10,
            0,
            CHUNK,
            0,
            5,
        ];
        let (want, bodies) = write(&lengths);
        assert_eq!(bodies.len(), want.len());
        for (n, body) in want.iter().enumerate() {
            assert_eq!(bodies.get(n), &body[..], "ad {n}");
            assert_eq!(bodies.shared(n), &body[..], "ad {n}");
        }
    }

    #[test]
    fn no_bodies() {
        let (_, bodies) = write(&[]);
        assert_eq!(bodies.len(), 0);
        assert_eq!(Bodies::default().len(), 0);
    }

    #[test]
    fn many_small_bodies_share_few_chunks() {
        let (want, bodies) = write(&[71; 5_000]);
        assert_eq!(bodies.chunks.len(), 71 * 5_000 / CHUNK + 1);
        assert_eq!(bodies.shared(4_999), &want[4_999][..]);
    }
}
