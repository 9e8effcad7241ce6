//! Byte-class masks of 16-byte blocks for the `Packages` parser's hot loops: bit `i` of a
//! mask says whether byte `i` of the block is in the class. SSE2 (part of every x86_64 CPU)
//! on x86_64, a plain loop elsewhere; the two agree on every byte (see the tests).
//!
//! A loop that tests one byte at a time also ends with a branch the CPU mispredicts once per
//! span (names and versions have every length); a mask and `trailing_zeros` do not.

/// Bytes of a package name: `[A-Za-z0-9+.-]`.
pub(crate) const NAME: u8 = 1;
/// Bytes of a version: `[A-Za-z0-9.+~:-]`.
pub(crate) const VERSION: u8 = 2;

/// The class of each byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        if alnum || b == b'+' || b == b'-' || b == b'.' {
            t[c] |= NAME;
        }
        if alnum || matches!(b, b'.' | b'+' | b'~' | b':' | b'-') {
            t[c] |= VERSION;
        }
        c += 1;
    }
    t
};

/// Whether `c` is in `CLASS_` ([`NAME`] or [`VERSION`]).
#[inline]
pub(crate) fn in_class<const CLASS_: u8>(c: u8) -> bool {
    CLASS[c as usize] & CLASS_ != 0
}

/// Bit `i` set when `block[i]` is `b`.
#[inline]
pub(crate) fn eq_mask(block: &[u8; 16], b: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::eq_mask(block, b)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable(block, |c| c == b)
    }
}

/// Bit `i` set when `block[i]` is in `class` ([`NAME`] or [`VERSION`]).
#[inline]
pub(crate) fn class_mask<const CLASS_: u8>(block: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::class_mask::<CLASS_>(block)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable(block, in_class::<CLASS_>)
    }
}

/// Bit `i` set when `block[i]` is `\n`, for the first 64 bytes of `block` (all of it when it
/// is shorter).
#[inline]
pub(crate) fn newline_mask64(block: &[u8]) -> u64 {
    match block.first_chunk::<64>() {
        Some(b) => {
            let (quarters, _) = b.as_chunks::<16>();
            quarters
                .iter()
                .enumerate()
                .fold(0, |m, (i, q)| m | u64::from(eq_mask(q, b'\n')) << (16 * i))
        }
        None => block.iter().enumerate().fold(0, |m, (i, &c)| m | u64::from(c == b'\n') << i),
    }
}

/// The masks one byte at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn portable(block: &[u8; 16], is: impl Fn(u8) -> bool) -> u32 {
    block.iter().enumerate().fold(0, |m, (i, &c)| m | u32::from(is(c)) << i)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    use super::{NAME, VERSION};

    // SAFETY (every `unsafe` block below): SSE2 is part of every x86_64 CPU, and `block` is
    // 16 readable bytes (the loads are unaligned loads).

    #[inline]
    fn load(block: &[u8; 16]) -> __m128i {
        // SAFETY: see above.
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }

    #[inline]
    fn bits(v: __m128i) -> u32 {
        // SAFETY: see above.
        u32::from(unsafe { _mm_movemask_epi8(v) } as u16)
    }

    #[inline]
    pub(super) fn eq_mask(block: &[u8; 16], b: u8) -> u32 {
        // SAFETY: see above.
        bits(unsafe { _mm_cmpeq_epi8(load(block), _mm_set1_epi8(b as i8)) })
    }

    /// `lo <= v <= hi` for ASCII bounds (bytes of 0x80 and above compare as negative, so
    /// they are never in range).
    #[inline]
    fn in_range(v: __m128i, lo: u8, hi: u8) -> __m128i {
        // SAFETY: see above.
        unsafe {
            _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(lo as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(hi as i8 + 1)),
            )
        }
    }

    #[inline]
    fn is(v: __m128i, b: u8) -> __m128i {
        // SAFETY: see above.
        unsafe { _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)) }
    }

    #[inline]
    fn or(a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: see above.
        unsafe { _mm_or_si128(a, b) }
    }

    #[inline]
    pub(super) fn class_mask<const CLASS: u8>(block: &[u8; 16]) -> u32 {
        const { assert!(CLASS == NAME || CLASS == VERSION, "a class without a mask") };
        let v = load(block);
        // `| 0x20` folds A-Z onto a-z, and nothing else onto a-z.
        // SAFETY: see above.
        let lower = unsafe { _mm_or_si128(v, _mm_set1_epi8(0x20)) };
        let alnum = or(in_range(lower, b'a', b'z'), in_range(v, b'0', b'9'));
        let common = or(alnum, or(is(v, b'+'), or(is(v, b'-'), is(v, b'.'))));
        match CLASS {
            NAME => bits(common),
            _ => bits(or(common, or(is(v, b'~'), is(v, b':')))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value, at every position, gives the class table's answer.
    #[test]
    fn masks_agree_with_the_class_table() {
        for c in 0..=255u8 {
            for pos in [0, 5, 15] {
                let mut block = [b'a'; 16];
                block[pos] = c;
                let bit = |m: u32| m >> pos & 1 == 1;
                assert_eq!(bit(class_mask::<NAME>(&block)), CLASS[c as usize] & NAME != 0, "{c}");
                assert_eq!(
                    bit(class_mask::<VERSION>(&block)),
                    CLASS[c as usize] & VERSION != 0,
                    "{c}"
                );
                assert_eq!(bit(eq_mask(&block, b':')), c == b':', "{c}");
                assert_eq!(portable(&block, |x| x == c) >> pos & 1, 1);
            }
        }
        assert!("abc+-.XYZ09".bytes().all(|c| CLASS[c as usize] & NAME != 0));
        assert!("~:".bytes().all(|c| CLASS[c as usize] == VERSION));
        assert!(" ,|()[]<>=_/@`{".bytes().all(|c| CLASS[c as usize] == 0));
    }

    #[test]
    fn newline_mask_of_a_block() {
        let mut block = [b'x'; 64];
        for i in [0, 15, 16, 40, 63] {
            block[i] = b'\n';
        }
        assert_eq!(newline_mask64(&block), 1 | 1 << 15 | 1 << 16 | 1 << 40 | 1 << 63);
        assert_eq!(newline_mask64(&block[..41]), 1 | 1 << 15 | 1 << 16 | 1 << 40);
        assert_eq!(newline_mask64(&[]), 0);
    }
}
