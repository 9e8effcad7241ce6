//! Parallel, deterministic gzip (pigz-style) on top of zlib-rs.
//!
//! The uncompressed stream is cut into fixed [`GZIP_BLOCK`]-byte blocks. Each block is deflated
//! independently, primed with the 32 KiB that precede it as a preset dictionary (so matches
//! reach back across block boundaries as in a serial stream), and ends with a sync flush; the
//! last block ends the deflate stream. The pieces concatenate into one raw deflate stream inside
//! a single gzip member whose CRC-32 is combined from the blocks' CRCs. Every parameter that
//! shapes the bytes (block size, dictionary size, level, window, memory level, strategy, header
//! fields) is fixed, so the output is identical whatever the number of threads.

use zlib_rs::{Deflate, DeflateFlush, Status};

use crate::error::{Error, Result};

/// Uncompressed bytes per independently deflated block. Part of the output format: changing it
/// changes every gzip layer digest.
pub const GZIP_BLOCK: usize = 256 * 1024;

/// Preset dictionary taken from the end of the previous block (deflate's whole window).
pub const DICT_SIZE: usize = 32 * 1024;

/// Deflates blocks of one gzip stream.
///
/// Every block gets a freshly initialised deflate state. zlib-rs's `deflateReset` keeps the old
/// window contents, and match selection near the end of the input can look at those stale
/// bytes, so a reused state makes a block's bytes depend on which blocks the same thread
/// compressed before (measured: 2 of 72 blocks differed). A new state is zero-filled; its cost
/// (~350 KiB allocated and partly cleared) is small next to deflating 256 KiB.
pub(crate) struct BlockDeflater {
    level: u32,
}

/// One compressed block (of either codec).
pub(crate) struct Compressed {
    pub(crate) data: Vec<u8>,
    /// CRC-32 of the uncompressed block: gzip's trailer needs it; zstd leaves it 0.
    pub(crate) crc: u32,
    /// Uncompressed length.
    pub(crate) len: u64,
}

impl BlockDeflater {
    pub(crate) fn new(level: u32) -> Self {
        // Raw deflate (no zlib header), 32 KiB window; memory level 8 and the default strategy
        // come from zlib-rs's `DeflateConfig::default()`, as zlib's deflateInit does.
        BlockDeflater { level }
    }

    /// Deflates `data`, the next block of the stream, primed with `dict` (the bytes right
    /// before it, at most [`DICT_SIZE`]); `last` ends the deflate stream.
    pub(crate) fn compress(&self, dict: &[u8], data: &[u8], last: bool) -> Result<Compressed> {
        let err = |what: &str, e: zlib_rs::DeflateError| Error::Codec {
            codec: "gzip",
            reason: format!("{what} failed at level {}: {}", self.level, e.as_str()),
        };
        let mut deflate = Deflate::new(self.level as i32, false, 15);
        if !dict.is_empty() {
            let dict = &dict[dict.len().saturating_sub(DICT_SIZE)..];
            deflate.set_dictionary(dict).map_err(|e| err("set_dictionary", e))?;
        }
        let flush = if last { DeflateFlush::Finish } else { DeflateFlush::SyncFlush };
        let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
        let (mut used_in, mut used_out) = (0usize, 0usize);
        loop {
            let (in0, out0) = (deflate.total_in(), deflate.total_out());
            let status = deflate
                .compress(&data[used_in..], &mut out[used_out..], flush)
                .map_err(|e| err("deflate", e))?;
            used_in += (deflate.total_in() - in0) as usize;
            used_out += (deflate.total_out() - out0) as usize;
            let done = if last {
                status == Status::StreamEnd
            } else {
                used_in == data.len() && used_out < out.len()
            };
            if done {
                break;
            }
            if used_out == out.len() {
                out.resize(out.len() * 2, 0);
            } else if status == Status::BufError {
                return Err(Error::Codec {
                    codec: "gzip",
                    reason: "deflate made no progress".into(),
                });
            }
        }
        out.truncate(used_out);
        Ok(Compressed { data: out, crc: zlib_rs::crc32::crc32(0, data), len: data.len() as u64 })
    }
}

/// The fixed 10-byte gzip member header: no name, no comment, mtime 0, OS = Unix (3), and the
/// XFL byte gzip(1) writes for the level (2 for 9, 4 for 1, else 0).
pub(crate) fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3]
}

/// The gzip trailer: CRC-32 and length mod 2^32, little-endian.
pub(crate) fn trailer(crc: u32, len: u64) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

/// CRC of `a ++ b` from the CRCs of `a` and `b` and the length of `b`.
pub(crate) fn crc_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    zlib_rs::crc32::crc32_combine(crc_a, crc_b, len_b)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip_serial(data: &[u8], level: u32) -> Vec<u8> {
        let mut out = header(level).to_vec();
        let d = BlockDeflater::new(level);
        let mut crc = 0;
        let chunks: Vec<&[u8]> = data.chunks(GZIP_BLOCK).collect();
        let n = chunks.len().max(1);
        for i in 0..n {
            let cur = chunks.get(i).copied().unwrap_or(&[]);
            let dict = if i == 0 { &[][..] } else { chunks[i - 1] };
            let c = d.compress(dict, cur, i + 1 == n).unwrap();
            out.extend_from_slice(&c.data);
            crc = crc_combine(crc, c.crc, c.len);
        }
        out.extend_from_slice(&trailer(crc, data.len() as u64));
        out
    }

    #[test]
    fn blocks_round_trip_through_a_standard_decoder() {
        let mut data = Vec::new();
        for i in 0..(3 * GZIP_BLOCK / 7) {
            data.extend_from_slice(format!("line {} {}\n", i % 977, i % 13).as_bytes());
        }
        for level in [1, 6, 9] {
            for len in [0, 1, GZIP_BLOCK, GZIP_BLOCK + 1, data.len()] {
                let gz = gzip_serial(&data[..len], level);
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
                assert_eq!(back, &data[..len], "level {level} len {len}");
            }
        }
    }

    #[test]
    fn dictionary_helps() {
        // Two blocks with the same content: the second compresses to almost nothing when
        // primed with the first.
        let mut x = 12345u32;
        let block: Vec<u8> = (0..DICT_SIZE / 2)
            .map(|_| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                (x >> 24) as u8
            })
            .collect();
        let d = BlockDeflater::new(6);
        let without = d.compress(&[], &block, false).unwrap().data.len();
        let with = d.compress(&block, &block, false).unwrap().data.len();
        assert!(with * 10 < without, "with dict {with}, without {without}");
    }
}
