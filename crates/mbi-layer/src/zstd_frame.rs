//! Independent zstd frames on libzstd (`zstd-sys`, pinned with `=`), every parameter fixed.
//!
//! A zstd layer is the tar stream cut into [`ZSTD_FRAME_SIZE`] blocks, each compressed into one
//! frame on its own, so any number of threads produce the same bytes. Every parameter that
//! shapes a frame is set explicitly rather than left to libzstd's defaults, so a libzstd update
//! that changed a default could not silently change layer digests (the pin already prevents
//! it; the tests here say which defaults were copied).

use std::ffi::{CStr, c_int};
use std::ptr::NonNull;

use zstd_sys as zs;

use crate::error::{Error, Result};

/// Uncompressed bytes per zstd frame. Part of the output format.
///
/// A zstd layer is a sequence of independent frames, each holding this many bytes of the tar
/// stream (the last one fewer), so any number of threads can compress them and always produce
/// the same bytes. 4 MiB frames cost ~5 % less CPU than libzstd's own multithreading (no
/// overlap to re-index, no copy into job buffers) and keep both cores of a small machine busy;
/// on a Debian root file system the layer comes out 1.1 % larger than `zstd -3 -T2`'s. Every
/// zstd decoder reads concatenated frames as one stream (RFC 8878, section 3.1).
pub const ZSTD_FRAME_SIZE: usize = 4 << 20;

/// zstd's window log for `level` on inputs of unknown size (its default parameter table), set
/// explicitly so a libzstd update cannot silently change it.
pub(crate) fn zstd_window_log(level: i32) -> u32 {
    match level {
        ..=1 => 19,
        2 => 20,
        3..=8 => 21,
        9..=16 => 22,
        17..=19 => 23,
        20 => 25,
        21 => 26,
        _ => 27,
    }
}

/// libzstd's `ZSTD_c_blockSplitterLevel` (zstd.h, 1.5.7): the "pre-block splitter", which cuts
/// a 128 KiB block into smaller ones before matching. It is an experimental parameter defined
/// as `ZSTD_c_experimentalParam20`, a macro bindgen cannot bind, so it is named here; the value
/// is fixed by the `zstd-sys` pin and checked by a test (bounds 0..=6).
const BLOCK_SPLITTER_LEVEL: zs::ZSTD_cParameter = zs::ZSTD_cParameter::ZSTD_c_experimentalParam20;

/// The highest level that compresses without the pre-block splitter. Levels 1–4 use libzstd's
/// fast and double-fast matchers, which are cheap enough that the splitter, new in libzstd
/// 1.5.7, is a large share of the work: at level 3 on a Debian root file system it costs ~7 %
/// of the whole layer's CPU time for a 1.6 % smaller layer. Without it these levels work as
/// in zstd 1.5.6 and earlier, which lack the splitter (each frame came out within 0.05 % of
/// `zstd -3` 1.5.4's size). Higher levels, chosen for size, keep libzstd's choice.
const MAX_LEVEL_WITHOUT_PRE_SPLITTER: i32 = 4;

/// `ZSTD_ps_disable`, for on/off/auto parameters.
const PARAM_SWITCH_DISABLE: c_int = 2;

/// Compresses whole frames at a fixed level. Each frame has its content size, no checksum (the
/// layer's blob digest and diff_id already cover every byte, and the XXH64 pass costs ~2 % of
/// the layer's CPU time), no dictionary ID, no long-distance matching, an explicit window log,
/// and the pre-block splitter off up to [`MAX_LEVEL_WITHOUT_PRE_SPLITTER`].
pub(crate) struct FrameCompressor {
    cctx: NonNull<zs::ZSTD_CCtx>,
}

// SAFETY: a `ZSTD_CCtx` has no thread affinity; it is only used through `&mut self`, so never
// from two threads at once.
unsafe impl Send for FrameCompressor {}

impl FrameCompressor {
    pub(crate) fn new(level: i32) -> Result<Self> {
        use zs::ZSTD_cParameter as P;
        let pre_splitter = if level <= MAX_LEVEL_WITHOUT_PRE_SPLITTER { 1 } else { 0 };
        let mut this = FrameCompressor::bare()?;
        for (param, value) in [
            (P::ZSTD_c_compressionLevel, level),
            (P::ZSTD_c_windowLog, zstd_window_log(level) as c_int),
            (P::ZSTD_c_checksumFlag, 0),
            (P::ZSTD_c_contentSizeFlag, 1),
            (P::ZSTD_c_dictIDFlag, 0),
            (P::ZSTD_c_enableLongDistanceMatching, PARAM_SWITCH_DISABLE),
            (BLOCK_SPLITTER_LEVEL, pre_splitter),
        ] {
            this.set(param, value)?;
        }
        Ok(this)
    }

    /// A context with libzstd's defaults.
    fn bare() -> Result<Self> {
        // SAFETY: no preconditions; a null return means out of memory.
        let cctx = NonNull::new(unsafe { zs::ZSTD_createCCtx() })
            .ok_or_else(|| codec_error("setting up", "out of memory".into()))?;
        Ok(FrameCompressor { cctx })
    }

    fn set(&mut self, param: zs::ZSTD_cParameter, value: c_int) -> Result<()> {
        // SAFETY: `cctx` is a live context owned by `self`.
        let code = unsafe { zs::ZSTD_CCtx_setParameter(self.cctx.as_ptr(), param, value) };
        check(code, "setting up").map(drop)
    }

    /// One frame holding `data`.
    pub(crate) fn compress(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::<u8>::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
        // SAFETY: `cctx` is live and ours alone; `out` has `capacity()` writable bytes and
        // `data` is readable for its length. ZSTD_compress2 starts a new frame, whatever the
        // context did before.
        let written = unsafe {
            zs::ZSTD_compress2(
                self.cctx.as_ptr(),
                out.as_mut_ptr().cast(),
                out.capacity(),
                data.as_ptr().cast(),
                data.len(),
            )
        };
        let written = check(written, "compressing")?;
        // SAFETY: libzstd initialised the first `written` bytes, and `written <= capacity()`.
        unsafe { out.set_len(written) };
        Ok(out)
    }
}

impl Drop for FrameCompressor {
    fn drop(&mut self) {
        // SAFETY: `cctx` came from ZSTD_createCCtx and is freed once.
        unsafe { zs::ZSTD_freeCCtx(self.cctx.as_ptr()) };
    }
}

/// `code` if it is a size, the error libzstd names if it is an error code.
fn check(code: usize, what: &'static str) -> Result<usize> {
    // SAFETY: a pure function of its argument.
    if unsafe { zs::ZSTD_isError(code) } == 0 {
        return Ok(code);
    }
    // SAFETY: for an error code, ZSTD_getErrorName returns a static NUL-terminated string.
    let name = unsafe { CStr::from_ptr(zs::ZSTD_getErrorName(code)) };
    Err(codec_error(what, name.to_string_lossy().into_owned()))
}

fn codec_error(what: &'static str, why: String) -> Error {
    Error::Codec { codec: "zstd", reason: format!("{what}: {why}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zs::ZSTD_cParameter as P;

    /// 4.4 MB of little-endian counters: compressible, and bigger than most levels' windows.
    fn regular_sample() -> Vec<u8> {
        (0..1_100_000u32).flat_map(|i| (i % 1000 + i / 7919).to_le_bytes()).collect()
    }

    /// 4.4 MB whose statistics change every 48 KiB (lower-case words, then counters): what the
    /// pre-block splitter looks for.
    fn mixed_sample() -> Vec<u8> {
        let mut out = Vec::with_capacity(4_400_000);
        let mut x = 1u32;
        while out.len() < 4_400_000 {
            if out.len() / 49_152 % 2 == 0 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let word = (x >> 16) % 97;
                out.extend((0..3 + word % 7).map(|i| b'a' + ((word * 7 + i) % 26) as u8));
                out.push(b' ');
            } else {
                let i = out.len() as u32 / 4;
                out.extend((i % 1000 + i / 7919).to_le_bytes());
            }
        }
        out
    }

    /// libzstd's defaults for `level`, plus the frame flags and splitter that are meant to
    /// differ from them.
    fn defaults(level: i32, pre_splitter: c_int) -> FrameCompressor {
        let mut c = FrameCompressor::bare().unwrap();
        c.set(P::ZSTD_c_compressionLevel, level).unwrap();
        c.set(P::ZSTD_c_checksumFlag, 0).unwrap();
        c.set(P::ZSTD_c_dictIDFlag, 0).unwrap();
        c.set(BLOCK_SPLITTER_LEVEL, pre_splitter).unwrap();
        c
    }

    #[test]
    fn explicit_parameters_match_the_default_tables() {
        let data = regular_sample();
        for level in [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 18, 19] {
            let pre_splitter = if level <= MAX_LEVEL_WITHOUT_PRE_SPLITTER { 1 } else { 0 };
            let a = defaults(level, pre_splitter).compress(&data).unwrap();
            let b = FrameCompressor::new(level).unwrap().compress(&data).unwrap();
            assert_eq!(a, b, "level {level}: explicit parameters differ from libzstd's defaults");
        }
    }

    #[test]
    fn the_splitter_parameter_is_the_pre_block_splitter_and_is_off_at_level_3() {
        // ZSTD_c_blockSplitterLevel takes 0 (auto) to ZSTD_BLOCKSPLITTER_LEVEL_MAX (6).
        // SAFETY: pure function.
        let bounds = unsafe { zs::ZSTD_cParam_getBounds(BLOCK_SPLITTER_LEVEL) };
        assert_eq!((bounds.error, bounds.lowerBound, bounds.upperBound), (0, 0, 6));
        // The splitter leaves the first block alone, so the sample spans several.
        let data = mixed_sample();
        let auto = defaults(3, 0).compress(&data).unwrap();
        let off = defaults(3, 1).compress(&data).unwrap();
        assert_ne!(auto, off, "the parameter changed nothing");
        assert_eq!(FrameCompressor::new(3).unwrap().compress(&data).unwrap(), off);
        // Above level 4 libzstd decides.
        assert_eq!(
            FrameCompressor::new(5).unwrap().compress(&data).unwrap(),
            defaults(5, 0).compress(&data).unwrap()
        );
    }

    #[test]
    fn frames_have_a_content_size_and_no_checksum_or_dictionary_id() {
        let data = mixed_sample();
        let frame = FrameCompressor::new(3).unwrap().compress(&data).unwrap();
        assert_eq!(frame[..4], 0xFD2F_B528u32.to_le_bytes());
        // Frame header descriptor (RFC 8878, 3.1.1.1.1): no checksum (bit 2), no dictionary ID
        // (bits 0–1).
        assert_eq!(frame[4] & 0b111, 0, "checksum or dictionary ID present");
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&frame).ok(),
            Some(Some(data.len() as u64))
        );
        assert_eq!(zstd::stream::decode_all(&frame[..]).unwrap(), data);
    }

    #[test]
    fn libzstd_errors_are_reported_not_panics() {
        let mut c = FrameCompressor::bare().unwrap();
        let err = c.set(P::ZSTD_c_windowLog, 99).unwrap_err();
        assert!(err.to_string().starts_with("zstd: setting up: "), "{err}");
    }
}
