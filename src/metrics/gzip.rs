//! Gzip members built from deflate segments compressed apart, so that a scrape compresses
//! only its live lines and reuses the business part compressed once per snapshot.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

use super::exposition::{Exposition, ScrapeError};

/// A piece of a gzip member: raw deflate that starts and ends on a byte boundary and
/// refers to nothing before it, so pieces compressed apart can follow one another in a
/// single deflate stream (as pigz does), with the CRC and length of what it holds.
pub(super) struct Segment {
    deflate: Bytes,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Segment {
    /// A segment that more follow: ends with a sync flush, no final block.
    pub(super) fn deflate(data: &[u8], level: Compression) -> Result<Segment, ScrapeError> {
        Segment::compress(data, level, FlushCompress::Sync)
    }

    /// The segment that ends the stream.
    pub(super) fn deflate_last(data: &[u8], level: Compression) -> Result<Segment, ScrapeError> {
        Segment::compress(data, level, FlushCompress::Finish)
    }

    /// Stored (uncompressed) blocks, that more follow. For the few kilobytes a scrape
    /// encodes itself: a fresh compressor allocates and clears some 300 KB of tables,
    /// which costs more than compressing them saves on the wire.
    pub(super) fn stored(data: &[u8]) -> Segment {
        const MAX_BLOCK: usize = u16::MAX as usize;
        let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / MAX_BLOCK + 1));
        for block in data.chunks(MAX_BLOCK) {
            // No truncation: a block is at most u16::MAX bytes.
            let len = block.len() as u16;
            // BFINAL 0 and BTYPE 00 (stored), then padding to the byte boundary the
            // segment starts on.
            out.push(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(block);
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Segment {
            deflate: Bytes::from(out),
            crc,
            len: data.len() as u64,
        }
    }

    fn compress(
        data: &[u8],
        level: Compression,
        flush: FlushCompress,
    ) -> Result<Segment, ScrapeError> {
        let mut compress = Compress::new(level, false);
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let progress = (compress.total_in(), compress.total_out(), out.capacity());
            let consumed = usize::try_from(compress.total_in()).unwrap_or(usize::MAX);
            let rest = data.get(consumed..).unwrap_or_default();
            let status = compress
                .compress_vec(rest, &mut out, flush)
                .map_err(|_| ScrapeError::Compress)?;
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                // A flush is complete once all is in and it no longer fills its room.
                _ => compress.total_in() == data.len() as u64 && out.len() < out.capacity(),
            };
            if done {
                break;
            }
            if progress == (compress.total_in(), compress.total_out(), out.capacity()) {
                return Err(ScrapeError::Compress);
            }
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        Ok(Segment {
            deflate: Bytes::from(out),
            crc,
            len: data.len() as u64,
        })
    }
}

/// RFC 1952 header: deflate, no name or comment, no modification time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// One gzip member of `segments`, the last of which ends the deflate stream.
pub(super) fn gzip_member(segments: &[&Segment]) -> Exposition {
    let mut crc = crc32fast::Hasher::new();
    let mut len: u64 = 0;
    for segment in segments {
        crc.combine(&segment.crc);
        len += segment.len;
    }
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32.
    trailer.extend_from_slice(&((len & 0xffff_ffff) as u32).to_le_bytes());
    let chunks = std::iter::once(Bytes::from_static(&GZIP_HEADER))
        .chain(segments.iter().map(|s| s.deflate.clone()))
        .chain(std::iter::once(Bytes::from(trailer)));
    Exposition::new(chunks, true)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The one gzip member of `body`, checked (CRC, length) and with nothing after it.
    pub(crate) fn gunzip(body: &[u8]) -> Vec<u8> {
        use std::io::Read as _;
        let mut decoder = flate2::bufread::GzDecoder::new(body);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).unwrap();
        assert!(
            decoder.into_inner().is_empty(),
            "bytes after the gzip member"
        );
        out
    }

    #[test]
    fn segments_compressed_apart_make_one_deflate_stream() {
        // Noise does not compress, so its output outgrows the room first given to it.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // Over 64 KiB, so stored, it takes more than one block.
        let text = b"iadvize_up 1\n".repeat(20_000);
        let segments = [
            Segment::stored(&text),
            Segment::deflate(&noise, Compression::fast()).unwrap(),
            Segment::stored(b""),
            Segment::deflate(&text, Compression::fast()).unwrap(),
            Segment::stored(&noise),
            Segment::deflate(b"", Compression::fast()).unwrap(),
            Segment::deflate_last(b"# EOF\n", Compression::fast()).unwrap(),
        ];
        let body = gzip_member(&segments.iter().collect::<Vec<_>>()).to_vec();
        let expected = [&text[..], &noise, &text, &noise, b"# EOF\n"].concat();
        assert_eq!(gunzip(&body), expected);
    }
}
