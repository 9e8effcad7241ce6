//! Cheap strings for the ~450,000 names, versions and labels of a `Packages` index.
//!
//! [`SharedStr`] stores a string of up to 22 bytes inline (about four names in five) and a
//! longer one as a shared `Arc<str>` or as a range of a buffer many strings share. The
//! `Packages` parser packs the long names of a parser's relations (and its file names) into
//! such buffers, and the per-parse [`Interner`] makes every occurrence of another long string
//! (a `Source`, say) share one allocation. So a parsed name costs a 24-byte copy, a copy into
//! a shared buffer, or a hash lookup plus a reference-count increment, never its own
//! allocation (and, later, free). [`SpanIndex`] finds a relationship text met before, so it
//! is parsed once. Nothing is global: two parses share nothing.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest string stored inline.
const INLINE: usize = 22;

/// An immutable string that is cheap to create and to clone: up to 22 bytes are stored inline
/// (no allocation), longer strings are shared (`Arc<str>`, or a range of a buffer many strings
/// share). It dereferences to `str` and
/// compares, orders and hashes exactly as the `str` it holds, so it can stand where a
/// `Box<str>` stood: `&*s`, `s == "amd64"`, `s.len()`, `format!("{s}")` all work.
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    /// Invariant: `buf[..len]` is valid UTF-8 (bytes after `len` are never read).
    Inline {
        len: u8,
        buf: [u8; INLINE],
    },
    Shared(Arc<str>),
    /// `buf[start..start + len]`: one of many strings packed into one shared buffer.
    /// Invariant: the range is in bounds and on character boundaries.
    Slice {
        buf: Arc<String>,
        start: u32,
        len: u32,
    },
}

impl SharedStr {
    /// A string holding `s`.
    pub fn new(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            SharedStr(Repr::Inline { len: s.len() as u8, buf })
        } else {
            SharedStr(Repr::Shared(Arc::from(s)))
        }
    }

    /// The empty string.
    pub const fn empty() -> Self {
        SharedStr(Repr::Inline { len: 0, buf: [0; INLINE] })
    }

    /// `data[start..end]` stored inline, if it is at most 22 bytes long. The caller guarantees
    /// that the span is valid UTF-8 (the parser calls this on bytes it checked to be ASCII).
    /// Copies a fixed 22 bytes when `data` extends that far, which is cheaper than a copy of
    /// variable length.
    #[inline]
    pub(crate) fn inline_span(data: &[u8], start: usize, end: usize) -> Option<Self> {
        let len = end.checked_sub(start)?;
        if len > INLINE {
            return None;
        }
        let span = data.get(start..end)?;
        debug_assert!(std::str::from_utf8(span).is_ok());
        let buf =
            match data.get(start..start + INLINE).and_then(|s| <[u8; INLINE]>::try_from(s).ok()) {
                Some(buf) => buf,
                None => {
                    let mut buf = [0u8; INLINE];
                    buf[..len].copy_from_slice(span);
                    buf
                }
            };
        Some(SharedStr(Repr::Inline { len: len as u8, buf }))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, buf } => {
                let b = buf.get(..*len as usize).unwrap_or_default();
                // SAFETY: `buf[..len]` is valid UTF-8: every constructor copies it from a
                // `&str` (`new`) or from a span its caller checked (`inline_span`, which the
                // parser only calls on ASCII it validated byte by byte).
                unsafe { std::str::from_utf8_unchecked(b) }
            }
            Repr::Shared(s) => s,
            Repr::Slice { buf, start, len } => {
                let start = *start as usize;
                buf.get(start..start + *len as usize).unwrap_or_default()
            }
        }
    }

    /// `buf[start..start + len]`, sharing `buf` (many strings packed into one allocation).
    /// Empty when the range is out of bounds or not on character boundaries.
    pub(crate) fn slice(buf: &Arc<String>, start: usize, len: usize) -> Self {
        match (u32::try_from(start), u32::try_from(len)) {
            (Ok(s), Ok(l)) if buf.get(start..start + len).is_some() => {
                SharedStr(Repr::Slice { buf: buf.clone(), start: s, len: l })
            }
            _ => SharedStr::empty(),
        }
    }
}

impl Default for SharedStr {
    fn default() -> Self {
        SharedStr::empty()
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for SharedStr {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SharedStr {
    /// Hashes as the `str` does (so maps keyed by it can be queried with a `&str`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

macro_rules! eq_str {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for SharedStr {
            fn eq(&self, other: &$t) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<SharedStr> for $t {
            fn eq(&self, other: &SharedStr) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}
eq_str!(str, String, Box<str>, Arc<str>);

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == other.as_str()
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr::new(s)
    }
}

impl From<&String> for SharedStr {
    fn from(s: &String) -> Self {
        SharedStr::new(s)
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr::new(&s)
    }
}

impl From<Box<str>> for SharedStr {
    fn from(s: Box<str>) -> Self {
        SharedStr::new(&s)
    }
}

impl From<Arc<str>> for SharedStr {
    /// Keeps sharing `s` when it is too long to store inline.
    fn from(s: Arc<str>) -> Self {
        if s.len() <= INLINE { SharedStr::new(&s) } else { SharedStr(Repr::Shared(s)) }
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> String {
        s.as_str().to_owned()
    }
}

impl From<SharedStr> for Box<str> {
    fn from(s: SharedStr) -> Box<str> {
        s.as_str().into()
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SharedStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(SharedStr::new(&s))
    }
}

const K: u64 = 0xf135_7aea_2e62_a9c5;
#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(26) ^ w).wrapping_mul(K)
}

/// Hashes `data[start..end]` eight bytes at a time. The last partial word is loaded whole
/// from `data` when it extends far enough, and masked, which avoids a byte loop.
#[inline]
pub(crate) fn hash_span(data: &[u8], start: usize, end: usize) -> u64 {
    let mut h = SpanHash::new();
    let mut p = start;
    while p + 8 <= end {
        if let Some(w) = data.get(p..p + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            h = h.word(u64::from_le_bytes(w));
        }
        p += 8;
    }
    if p < end {
        h = h.word(tail_word(data, p, end));
    }
    h.finish(end - start)
}

/// The low `n` bytes of `w` (all eight when `n` is 8 or more), the others zero.
#[inline]
pub(crate) fn low_bytes(w: u64, n: usize) -> u64 {
    w & u64::MAX.checked_shr(64 - 8 * n.min(8) as u32).unwrap_or(0)
}

/// `data[start..end]` (fewer than 8 bytes) as a little-endian word, zero above them.
#[inline]
pub(crate) fn tail_word(data: &[u8], start: usize, end: usize) -> u64 {
    debug_assert!(start < end && end - start < 8);
    let rem = end - start;
    match data.get(start..start + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
        Some(w) => low_bytes(u64::from_le_bytes(w), rem),
        None => {
            let mut buf = [0u8; 8];
            for (d, s) in buf.iter_mut().zip(data.get(start..end).unwrap_or_default()) {
                *d = *s;
            }
            u64::from_le_bytes(buf)
        }
    }
}

/// [`hash_span`] fed a word at a time, for a scan that hashes a span while it looks for its
/// end: the span's words in order (the last one masked by [`tail_word`], and none for an
/// empty span), then its length.
#[derive(Clone, Copy)]
pub(crate) struct SpanHash(u64);

impl SpanHash {
    /// The hash of nothing yet.
    #[inline]
    pub(crate) const fn new() -> Self {
        SpanHash(0)
    }

    /// Feeds the next eight bytes (or the masked last few).
    #[inline]
    pub(crate) fn word(self, w: u64) -> Self {
        SpanHash(mix(self.0, w))
    }

    /// The hash of a span of `len` bytes that was fed whole.
    #[inline]
    pub(crate) fn finish(self, len: usize) -> u64 {
        let h = mix(self.0, len as u64);
        h ^ (h >> 31)
    }
}

/// `a == b` for the short strings the parser compares, eight bytes at a time (a call to
/// `memcmp` costs more than the comparison itself).
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| s.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last, partial word: the eight bytes that end the strings (they overlap the last
    // whole word compared).
    word(a, n - 8) == word(b, n - 8)
}

/// The slots of an open-addressing table shared by [`Interner`] and [`SpanIndex`]: linear
/// probing over a power-of-two table of small slots `(hash >> 32, id + 1, extra)` (id `0`
/// marks an empty slot), so a probe that does not match rarely looks at the text behind an
/// id, and the table stays small enough for the cache. `extra` is what the owner wants at
/// hand without a second memory access ([`SpanIndex`]: where the text is); the owner keeps
/// the texts.
struct TagSlots<P = ()> {
    slots: Vec<Slot<P>>,
    len: usize,
    /// Grows past `len * 4 > slots * max_quarters`.
    max_quarters: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot<P> {
    tag: u32,
    /// The id plus one; 0 for an empty slot.
    id1: u32,
    extra: P,
}

impl<P: Copy + Default> TagSlots<P> {
    /// Slots for about `items` ids, kept at most `max_quarters`/4 full.
    fn with_capacity(items: usize, max_quarters: usize) -> Self {
        let cap = (items.max(8) * 4 / max_quarters).next_power_of_two();
        TagSlots { slots: vec![Slot::default(); cap], len: 0, max_quarters }
    }

    /// The first id in `hash`'s probe sequence whose tag matches and for which `same` holds.
    #[inline]
    fn find(&self, hash: u64, mut same: impl FnMut(u32, P) -> bool) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let tag = (hash >> 32) as u32;
        let mut i = hash as usize & mask;
        loop {
            let s = *self.slots.get(i)?;
            let id = s.id1.checked_sub(1)?;
            if s.tag == tag && same(id, s.extra) {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts loading the slot where a lookup of `hash` begins, so that several lookups'
    /// cache misses overlap instead of following one another.
    #[inline]
    fn prefetch(&self, hash: u64) {
        prefetch(self.slots.get(hash as usize & (self.slots.len() - 1)));
    }

    /// Adds `id` (at most `u32::MAX - 1`); `hash_of` gives every slot's hash when the table
    /// grows.
    fn insert(&mut self, hash: u64, id: u32, extra: P, hash_of: impl Fn(u32, P) -> Option<u64>) {
        let Some(id1) = id.checked_add(1) else { return };
        self.place(hash, Slot { tag: (hash >> 32) as u32, id1, extra });
        self.len += 1;
        if self.len * 4 > self.slots.len() * self.max_quarters {
            let bigger = vec![Slot::default(); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            for s in old.into_iter().filter(|s| s.id1 != 0) {
                if let Some(h) = hash_of(s.id1 - 1, s.extra) {
                    self.place(h, s);
                }
            }
        }
    }

    fn place(&mut self, hash: u64, slot: Slot<P>) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while let Some(s) = self.slots.get_mut(i) {
            if s.id1 == 0 {
                *s = slot;
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Interns the long strings of one parse (see [`SharedStr`]; short ones are stored inline and
/// never come here), in a [`TagSlots`] table at most half full.
pub(crate) struct Interner {
    slots: TagSlots,
    /// The strings, with their full hash, by id.
    strings: Vec<(u64, Arc<str>)>,
}

impl Interner {
    /// An interner sized for about `strings` distinct long strings.
    pub(crate) fn with_capacity(strings: usize) -> Self {
        Interner {
            slots: TagSlots::with_capacity(strings, 2),
            strings: Vec::with_capacity(strings),
        }
    }

    /// `data[start..end]` as a [`SharedStr`]: inline when short, else the parse's shared
    /// copy. The span must be valid UTF-8 (the parser checks the bytes first).
    #[inline]
    pub(crate) fn get(&mut self, data: &[u8], start: usize, end: usize) -> SharedStr {
        match SharedStr::inline_span(data, start, end) {
            Some(s) => s,
            None => SharedStr(Repr::Shared(self.shared(data, start, end))),
        }
    }

    fn shared(&mut self, data: &[u8], start: usize, end: usize) -> Arc<str> {
        let b = data.get(start..end).unwrap_or_default();
        let hash = hash_span(data, start, end);
        let strings = &self.strings;
        let same =
            |id: u32, ()| strings.get(id as usize).is_some_and(|(_, s)| bytes_eq(s.as_bytes(), b));
        if let Some(id) = self.slots.find(hash, same) {
            return self.strings[id as usize].1.clone();
        }
        let text: Arc<str> = match std::str::from_utf8(b) {
            Ok(s) => Arc::from(s),
            Err(_) => Arc::from(String::from_utf8_lossy(b)),
        };
        // Past u32::MAX - 1 strings, new ones are shared no more (never on a real index).
        if let Ok(id) = u32::try_from(self.strings.len())
            && id < u32::MAX
        {
            self.strings.push((hash, text.clone()));
            let strings = &self.strings;
            self.slots.insert(hash, id, (), |id, ()| strings.get(id as usize).map(|s| s.0));
        }
        text
    }
}

/// Asks the CPU to start loading the cache line of `item` (a hint with no effect on results;
/// nothing on architectures other than x86_64).
#[inline]
fn prefetch<T>(item: Option<&T>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(item) = item {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE, which `prefetcht0` belongs to, is part of every x86_64 CPU; a prefetch
        // reads nothing the program sees and cannot fault.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// Finds, among the spans of one input seen before, one with the same bytes as a new span:
/// how the `Packages` parser parses each distinct relationship text once.
///
/// Most lookups find a text met before, so a lookup must touch little memory: its
/// [`TagSlots`] slot (16 bytes, the table at most three quarters full) also holds where the
/// text is in a packed copy of the distinct texts. Comparing there, not at the text's first
/// place in the input (megabytes back, long out of the cache), is what makes a lookup cheap.
pub(crate) struct SpanIndex {
    /// Each id's slot holds `(at, len)`: its text is `text[at..at + len]`.
    slots: TagSlots<(u32, u32)>,
    /// The distinct texts, one after another.
    text: Vec<u8>,
}

impl SpanIndex {
    /// An index sized for about `spans` distinct texts.
    pub(crate) fn with_capacity(spans: usize) -> Self {
        // Distinct texts average ~25 bytes.
        SpanIndex { slots: TagSlots::with_capacity(spans, 3), text: Vec::with_capacity(spans * 25) }
    }

    /// The id of a span inserted before whose bytes equal `data[start..end]` (`hash` is
    /// [`hash_span`] of it).
    #[inline]
    pub(crate) fn find(&self, data: &[u8], hash: u64, start: usize, end: usize) -> Option<u32> {
        let key = data.get(start..end)?;
        self.slots.find(hash, |_, (at, len)| {
            len as usize == key.len()
                && self
                    .text
                    .get(at as usize..at as usize + key.len())
                    .is_some_and(|t| bytes_eq(t, key))
        })
    }

    /// Starts loading the slot a lookup of `hash` begins at (see [`TagSlots::prefetch`]). Only
    /// a hint: it changes no result.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u64) {
        self.slots.prefetch(hash);
    }

    /// Records that `id` stands for the text of `data[start..end]` (`hash` is [`hash_span`]
    /// of it). Ids up to `u32::MAX - 1`, and up to 4 GiB of distinct text; past that, new
    /// texts are not recorded (and are parsed again when met again).
    pub(crate) fn insert(&mut self, data: &[u8], hash: u64, id: u32, start: usize, end: usize) {
        let Some(bytes) = data.get(start..end) else { return };
        let (Ok(at), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(bytes.len())) else {
            return;
        };
        if id == u32::MAX || at.checked_add(len).is_none() {
            return;
        }
        self.text.extend_from_slice(bytes);
        let text = &self.text;
        self.slots.insert(hash, id, (at, len), |_, (at, len)| {
            Some(hash_span(text, at as usize, at as usize + len as usize))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(i: &mut Interner, text: &[u8]) -> Vec<SharedStr> {
        let mut out = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b' ', text).chain([text.len()]) {
            out.push(i.get(text, start, end));
            start = end + 1;
        }
        out
    }

    #[test]
    fn inline_shared_and_interned() {
        let text = b"libc6 libboost-filesystem1.74.0 libc6 libboost-filesystem1.74.0 x";
        let mut i = Interner::with_capacity(1);
        let w = words(&mut i, text);
        let s: Vec<&str> = w.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            s,
            ["libc6", "libboost-filesystem1.74.0", "libc6", "libboost-filesystem1.74.0", "x"]
        );
        assert!(matches!(w[0].0, Repr::Inline { .. }));
        match (&w[1].0, &w[3].0) {
            (Repr::Shared(a), Repr::Shared(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("long strings are shared"),
        }
        assert_eq!(i.strings.len(), 1);
        // Growing keeps every string findable.
        let many: Vec<String> =
            (0..1000).map(|n| format!("a-rather-long-package-name-{n}")).collect();
        words(&mut i, many.join(" ").as_bytes());
        assert_eq!(i.strings.len(), 1001);
        let again = i.get(b"a-rather-long-package-name-999", 0, 30);
        assert_eq!(again, "a-rather-long-package-name-999");
        assert_eq!(i.strings.len(), 1001);
    }

    #[test]
    fn behaves_like_str() {
        use std::collections::HashMap;
        for s in [
            "",
            "amd64",
            "exactly-22-bytes-long!",
            "twenty-three-bytes-long",
            "ü-ß-long-non-ascii-text-é",
        ] {
            let a = SharedStr::new(s);
            assert_eq!(a.as_str(), s);
            assert_eq!(a, s);
            assert_eq!(a, String::from(s));
            assert_eq!(Box::<str>::from(s), a);
            assert_eq!(format!("{a}|{a:?}"), format!("{s}|{s:?}"));
            let mut m = HashMap::new();
            m.insert(a.clone(), 1);
            assert_eq!(m.get(s), Some(&1));
            assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(s).unwrap());
            let back: SharedStr = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            assert_eq!(back, a);
        }
        assert!(SharedStr::new("a") < SharedStr::new("b"));
        assert_eq!(std::mem::size_of::<SharedStr>(), 24);
        assert_eq!(std::mem::size_of::<Option<SharedStr>>(), 24);
        // The fixed-size copy never leaks bytes beyond the span.
        let data = b"abc,defghijklmnopqrstuvwxyz";
        let s = SharedStr::inline_span(data, 0, 3).unwrap();
        assert_eq!(s, "abc");
        assert_eq!(SharedStr::inline_span(data, 24, 27).unwrap(), "xyz");
        assert!(SharedStr::inline_span(data, 0, 27).is_none());
    }

    #[test]
    fn span_index_finds_equal_texts_only() {
        let many: Vec<String> = (0..500).map(|n| format!("pkg{n} (>= {n})")).collect();
        let text =
            format!("libc6 (>= 2.34),libc6 (>= 2.34),libc6 (>= 2.35),libc6,{}", many.join(","));
        let data = text.as_bytes();
        let h = |s: usize, e: usize| hash_span(data, s, e);
        let mut idx = SpanIndex::with_capacity(1);
        assert_eq!(idx.find(data, h(0, 15), 0, 15), None);
        idx.insert(data, h(0, 15), 0, 0, 15);
        assert_eq!(idx.find(data, h(16, 31), 16, 31), Some(0));
        assert_eq!(idx.find(data, h(32, 47), 32, 47), None);
        // A prefix of a known text is another text.
        assert_eq!(idx.find(data, h(48, 53), 48, 53), None);
        // Growing keeps every text findable; ids need not be dense.
        let spans: Vec<(usize, usize)> = many
            .iter()
            .scan(54, |start, m| {
                let s = *start;
                *start += m.len() + 1;
                Some((s, s + m.len()))
            })
            .collect();
        for (n, &(s, e)) in spans.iter().enumerate() {
            idx.insert(data, h(s, e), 2 * n as u32 + 5, s, e);
        }
        for (n, &(s, e)) in spans.iter().enumerate() {
            assert_eq!(idx.find(data, h(s, e), s, e), Some(2 * n as u32 + 5), "{n}");
        }
        assert_eq!(idx.find(data, h(16, 31), 16, 31), Some(0));
    }

    #[test]
    fn hash_ignores_bytes_outside_the_span() {
        let a = b"xxlibfoo-dev,yyyyyyyyy";
        let b = b"libfoo-dev";
        assert_eq!(hash_span(a, 2, 12), hash_span(b, 0, 10));
        assert_ne!(hash_span(a, 2, 12), hash_span(a, 2, 11));
        for n in 0..=16 {
            let s: Vec<u8> = (0..n as u8).map(|c| b'a' + c).collect();
            let mut padded = s.clone();
            padded.extend_from_slice(b"!!!!!!!!!!");
            assert_eq!(hash_span(&s, 0, n), hash_span(&padded, 0, n), "{n}");
        }
    }
}
