//! A gzip member built while a batch grows: each request joining an encoded batch is fed to
//! one streaming deflate compressor, so when the batch is sent only the last few kilobytes
//! are left to compress and the trailer to write. The bytes are those one gzip pass over the
//! joined request gives (one stream, one window across all pieces), just computed earlier.

use std::fmt;

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The 10-byte gzip header: deflate, no name or time, unknown OS (as flate2 writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A gzip member being written, fed piece by piece.
pub struct GzipStream {
    level: u32,
    compress: Compress,
    /// Header and compressed data so far.
    out: Vec<u8>,
    crc: Crc,
    /// Pieces fed so far.
    fed: usize,
    /// The whole member, once finished.
    done: Option<Bytes>,
}

impl fmt::Debug for GzipStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GzipStream")
            .field("level", &self.level)
            .field("fed", &self.fed)
            .field("out", &self.out.len())
            .field("done", &self.done.is_some())
            .finish()
    }
}

impl GzipStream {
    /// A stream compressing at `level` (0–9), expecting about `hint` input bytes.
    pub fn new(level: u32, hint: usize) -> GzipStream {
        let mut out = Vec::with_capacity((hint / 8).clamp(4096, 1 << 20));
        out.extend_from_slice(&HEADER);
        GzipStream {
            level,
            compress: Compress::new(Compression::new(level.min(9)), false),
            out,
            crc: Crc::new(),
            fed: 0,
            done: None,
        }
    }

    /// The compression level.
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Pieces fed so far.
    pub fn fed(&self) -> usize {
        self.fed
    }

    /// True once [`GzipStream::finish`] ran; nothing more can be fed.
    pub fn is_finished(&self) -> bool {
        self.done.is_some()
    }

    /// Compresses the next piece of the request. Fails only if the compressor does, or if
    /// the stream was already finished.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), String> {
        if self.done.is_some() {
            return Err("gzip stream already finished".into());
        }
        self.crc.update(piece);
        self.deflate(piece, FlushCompress::None)?;
        self.fed += 1;
        Ok(())
    }

    /// Ends the member (final block, CRC-32 and length) and returns it; later calls return
    /// the same bytes.
    pub fn finish(&mut self) -> Result<Bytes, String> {
        if let Some(done) = &self.done {
            return Ok(done.clone());
        }
        self.deflate(&[], FlushCompress::Finish)?;
        let mut out = std::mem::take(&mut self.out);
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        let done = Bytes::from(out);
        self.done = Some(done.clone());
        Ok(done)
    }

    fn deflate(&mut self, mut input: &[u8], flush: FlushCompress) -> Result<(), String> {
        loop {
            if self.out.capacity() - self.out.len() < 1024 {
                self.out.reserve(self.out.len().max(8192));
            }
            let before = self.compress.total_in();
            let status = self
                .compress
                .compress_vec(input, &mut self.out, flush)
                .map_err(|e| format!("gzip: {e}"))?;
            input = &input[(self.compress.total_in() - before) as usize..];
            let room_left = self.out.len() < self.out.capacity();
            match flush {
                FlushCompress::Finish if status == Status::StreamEnd => return Ok(()),
                FlushCompress::Finish => {}
                _ if input.is_empty() && room_left => return Ok(()),
                _ => {}
            }
        }
    }
}

/// Gzips `pieces` (one member over their concatenation) at `level`.
pub fn gzip(level: u32, pieces: &[Bytes]) -> Result<Bytes, String> {
    let mut s = GzipStream::new(level, pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        s.feed(p)?;
    }
    s.finish()
}

/// Decompresses one gzip member (for tests).
#[cfg(test)]
pub(crate) fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random bytes (incompressible on their own).
    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn fed_pieces_gunzip_to_their_concatenation() {
        // Pieces alike each other but not within themselves, as requests of one service are.
        let base = noise(2000);
        let pieces: Vec<Bytes> = (0..40)
            .map(|i| Bytes::from([&base[..], format!("piece {i}").as_bytes()].concat()))
            .collect();
        let z = gzip(6, &pieces).unwrap();
        assert_eq!(gunzip(&z), pieces.concat());
        // One stream across pieces: about as small as compressing the concatenation at once
        // (block boundaries may differ), where separate members would be 40 times larger.
        let whole = gzip(6, &[Bytes::from(pieces.concat())]).unwrap();
        assert!(
            z.len() <= whole.len() + whole.len() / 100 + 64,
            "{} vs {}",
            z.len(),
            whole.len()
        );
        let separate: usize = pieces
            .iter()
            .map(|p| gzip(6, std::slice::from_ref(p)).unwrap().len())
            .sum();
        assert!(z.len() * 10 < separate, "{} vs {separate}", z.len());
    }

    #[test]
    fn empty_and_finished_streams() {
        assert_eq!(gunzip(&gzip(1, &[]).unwrap()), b"");
        let mut s = GzipStream::new(6, 0);
        s.feed(b"abc").unwrap();
        let a = s.finish().unwrap();
        assert_eq!(s.finish().unwrap(), a);
        assert!(s.feed(b"x").is_err());
        assert_eq!(gunzip(&a), b"abc");
    }

    #[test]
    fn incompressible_input_larger_than_the_output_buffer() {
        let noise = noise(300_000);
        let z = gzip(6, &[Bytes::from(noise.clone())]).unwrap();
        assert_eq!(gunzip(&z), noise);
    }
}
