//! Parallel, deterministic gzip (pigz-style) on top of zlib-rs.
//!
//! The uncompressed stream is cut into fixed [`GZIP_BLOCK`]-byte blocks. Each block is deflated
//! independently, primed with the 32 KiB that precede it as a preset dictionary (so matches
//! reach back across block boundaries as in a serial stream), and ends with a sync flush; the
//! last block ends the deflate stream. The pieces concatenate into one raw deflate stream inside
//! a single gzip member whose CRC-32 is combined from the blocks' CRCs. Every parameter that
//! shapes the bytes (block size, dictionary size, level, window, memory level, strategy, header
//! fields) is fixed, so the output is identical whatever the number of threads.

use std::alloc::Layout;
use std::ffi::{c_int, c_uint, c_void};
use std::ptr::NonNull;

use libz_rs_sys as z;

use crate::error::{Error, Result};

/// Uncompressed bytes per independently deflated block. Part of the output format: changing it
/// changes every gzip layer digest.
pub const GZIP_BLOCK: usize = 256 * 1024;

/// Preset dictionary taken from the end of the previous block (deflate's whole window).
pub const DICT_SIZE: usize = 32 * 1024;

/// Bytes one deflate state takes at any level (32 KiB window, memory level 8): 380,041 in
/// zlib-rs 0.6.8 (window, hash chains and heads, pending and symbol buffers, the state itself,
/// alignment), so 384 KiB with a little slack.
const ARENA_SIZE: usize = 384 * 1024;

/// Deflates blocks of one gzip stream, on one worker thread.
///
/// Every block gets a freshly initialised deflate state (`deflateInit2`). Reusing one with
/// `deflateReset` would not do: zlib-rs's reset keeps the old window contents, and match
/// selection near the end of the input can look at those stale bytes, so a block's bytes would
/// depend on which blocks the same thread compressed before (measured on a Debian root file
/// system: 101 of 1,306 blocks differed). Initialisation zeroes the window, hash chains and
/// hash heads, so the state is the same whatever memory it is given.
///
/// That memory comes from a buffer the deflater owns and hands out again for every block (a
/// bump allocator behind zlib's `zalloc` hook). Allocating a fresh ~380 KiB state per block
/// from the process allocator instead made glibc keep several MiB per worker thread (its
/// per-thread arenas grow once its dynamic mmap threshold rises), which broke the 64 MiB bound
/// above ~8 threads.
pub(crate) struct BlockDeflater {
    level: u32,
    /// Boxed: zlib-rs holds a pointer to it while a block is compressed.
    arena: Box<Arena>,
}

/// A bump allocator over one fixed buffer, reset before every block.
///
/// The buffer is a raw allocation: zlib-rs keeps pointers into it while a block is compressed,
/// so no Rust reference to the whole buffer may be made meanwhile.
struct Arena {
    base: NonNull<u8>,
    used: usize,
}

// SAFETY: the arena owns its buffer; it moves between threads only with its deflater.
unsafe impl Send for Arena {}

impl Arena {
    const LAYOUT: Layout = match Layout::from_size_align(ARENA_SIZE, 64) {
        Ok(l) => l,
        Err(_) => panic!("arena layout"),
    };

    fn new() -> Box<Arena> {
        // SAFETY: the layout has a non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(Self::LAYOUT) })
            .unwrap_or_else(|| std::alloc::handle_alloc_error(Self::LAYOUT));
        Box::new(Arena { base, used: 0 })
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `Arena::new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), Self::LAYOUT) };
    }
}

/// zlib's `zalloc` over an [`Arena`]; null when the request does not fit (deflateInit2 then
/// fails with `Z_MEM_ERROR`, reported as an error).
unsafe extern "C" fn arena_alloc(opaque: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    // SAFETY: `opaque` is the `Arena` set up in `BlockDeflater::compress`, alive and not
    // otherwise used while zlib-rs runs.
    let arena = unsafe { &mut *opaque.cast::<Arena>() };
    let Some(n) = (items as usize).checked_mul(size as usize) else {
        return std::ptr::null_mut();
    };
    let start = arena.used.next_multiple_of(64);
    match start.checked_add(n) {
        Some(end) if end <= ARENA_SIZE => {
            arena.used = end;
            // SAFETY: `start < end <= ARENA_SIZE`: inside the buffer.
            unsafe { arena.base.as_ptr().add(start) }.cast()
        }
        _ => std::ptr::null_mut(),
    }
}

/// zlib's `zfree` for an [`Arena`]: nothing to do, the whole arena is reused per block.
unsafe extern "C" fn arena_free(_opaque: *mut c_void, _ptr: *mut c_void) {}

/// One compressed block (of either codec).
pub(crate) struct Compressed {
    pub(crate) data: Vec<u8>,
    /// CRC-32 of the uncompressed block: gzip's trailer needs it; zstd leaves it 0.
    pub(crate) crc: u32,
    /// Uncompressed length.
    pub(crate) len: u64,
}

/// A deflate stream between `deflateInit2` and `deflateEnd` (which it calls when dropped, on
/// every path out of [`BlockDeflater::compress`], before the arena is touched again).
struct Stream {
    strm: z::z_stream,
    /// Set once deflateInit2 succeeded.
    live: bool,
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.live {
            // SAFETY: `strm` was initialised by deflateInit2_ and has not moved since.
            unsafe { z::deflateEnd(&mut self.strm) };
        }
    }
}

impl BlockDeflater {
    pub(crate) fn new(level: u32) -> Self {
        BlockDeflater { level, arena: Arena::new() }
    }

    /// Deflates `data`, the next block of the stream, primed with `dict` (the bytes right
    /// before it, at most [`DICT_SIZE`]); `last` ends the deflate stream.
    pub(crate) fn compress(&mut self, dict: &[u8], data: &[u8], last: bool) -> Result<Compressed> {
        let level = self.level;
        let err = |what: &str, code: c_int| Error::Codec {
            codec: "gzip",
            reason: format!("{what} failed at level {level}: zlib error {code}"),
        };
        self.arena.used = 0;
        // Initialised in place: zlib-rs's state points back at its z_stream, which must not
        // move afterwards.
        let mut stream = Stream {
            strm: z::z_stream {
                zalloc: Some(arena_alloc),
                zfree: Some(arena_free),
                opaque: (&raw mut *self.arena).cast(),
                ..z::z_stream::default()
            },
            live: false,
        };
        // Raw deflate (negative window bits: no zlib header), 32 KiB window, memory level 8,
        // default strategy: what zlib's deflateInit does.
        // SAFETY: `stream.strm` is a valid z_stream whose allocator hooks use `self.arena`,
        // which is not touched again until the stream has ended.
        let rc = unsafe {
            z::deflateInit2_(
                &mut stream.strm,
                level as c_int,
                z::Z_DEFLATED,
                -15,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                size_of::<z::z_stream>() as c_int,
            )
        };
        if rc != z::Z_OK {
            return Err(err("deflateInit2", rc));
        }
        stream.live = true;
        let strm = &mut stream.strm;
        if !dict.is_empty() {
            let dict = &dict[dict.len().saturating_sub(DICT_SIZE)..];
            // SAFETY: `dict` is valid for its length (≤ 32 KiB, fits a c_uint).
            let rc = unsafe { z::deflateSetDictionary(strm, dict.as_ptr(), dict.len() as c_uint) };
            if rc != z::Z_OK {
                return Err(err("deflateSetDictionary", rc));
            }
        }
        let flush = if last { z::Z_FINISH } else { z::Z_SYNC_FLUSH };
        let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
        // Blocks are GZIP_BLOCK bytes: lengths fit a c_uint.
        strm.next_in = data.as_ptr();
        strm.avail_in = data.len() as c_uint;
        loop {
            let used_out = strm.total_out as usize;
            strm.next_out = out[used_out..].as_mut_ptr();
            strm.avail_out = (out.len() - used_out) as c_uint;
            // SAFETY: next_in/avail_in describe the rest of `data`, next_out/avail_out the
            // rest of `out`; both stay alive and unmoved for the call.
            let rc = unsafe { z::deflate(strm, flush) };
            let used_out = strm.total_out as usize;
            let done = match rc {
                z::Z_STREAM_END => true,
                z::Z_OK | z::Z_BUF_ERROR => !last && strm.avail_in == 0 && used_out < out.len(),
                _ => return Err(err("deflate", rc)),
            };
            if done {
                out.truncate(used_out);
                break;
            }
            if used_out == out.len() {
                out.resize(out.len() * 2, 0);
            } else if rc == z::Z_BUF_ERROR {
                return Err(Error::Codec {
                    codec: "gzip",
                    reason: "deflate made no progress".into(),
                });
            }
        }
        drop(stream);
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
        let mut d = BlockDeflater::new(level);
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

    /// The arena-backed state gives the bytes of a brand-new zlib-rs state, whatever the same
    /// deflater compressed before (here: other data, other dictionaries, in reverse order).
    #[test]
    fn reused_deflater_matches_a_fresh_state() {
        let mut x = 7u32;
        let mut data = Vec::new();
        while data.len() < 5 * GZIP_BLOCK + 1234 {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            match x >> 30 {
                0 => data.extend_from_slice(&x.to_le_bytes()),
                1 => data
                    .extend_from_slice(format!("/usr/lib/lib{}.so.{}\n", x % 97, x % 7).as_bytes()),
                _ => {
                    let back = (x as usize >> 8) % 40_000 + 1;
                    let from = data.len().saturating_sub(back);
                    let piece = data[from..(from + (x as usize % 300)).min(data.len())].to_vec();
                    data.extend_from_slice(&piece);
                }
            }
        }
        let blocks: Vec<&[u8]> = data.chunks(GZIP_BLOCK).collect();
        let dict = |i: usize| if i == 0 { &[][..] } else { blocks[i - 1] };
        for level in [0, 1, 6, 9] {
            let fresh = |i: usize| {
                let mut d = zlib_rs::Deflate::new(level as i32, false, 15);
                if i > 0 {
                    d.set_dictionary(&dict(i)[dict(i).len() - DICT_SIZE..]).unwrap();
                }
                let last = i + 1 == blocks.len();
                let flush = if last {
                    zlib_rs::DeflateFlush::Finish
                } else {
                    zlib_rs::DeflateFlush::SyncFlush
                };
                let mut out = vec![0; zlib_rs::compress_bound(blocks[i].len()) + 64];
                d.compress(blocks[i], &mut out, flush).unwrap();
                out.truncate(d.total_out() as usize);
                out
            };
            let mut reused = BlockDeflater::new(level);
            for i in (0..blocks.len()).rev() {
                let last = i + 1 == blocks.len();
                let ours = reused.compress(dict(i), blocks[i], last).unwrap();
                assert_eq!(ours.data, fresh(i), "level {level}, block {i}");
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
        let mut d = BlockDeflater::new(6);
        let without = d.compress(&[], &block, false).unwrap().data.len();
        let with = d.compress(&block, &block, false).unwrap().data.len();
        assert!(with * 10 < without, "with dict {with}, without {without}");
    }
}
