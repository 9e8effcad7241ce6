//! The fast `Packages` index parser: bytes in, [`BinaryPackage`] records with parsed relations
//! out, in file order.
//!
//! How it is fast (bookworm main amd64, 50 MB, 63,000 stanzas, 380,000 relations):
//! - every line end of a piece comes from one scan that turns each 64-byte block into a bit
//!   mask of its newlines (lines average ~40 bytes: a `memchr` call per line costs more);
//!   only the fields mbi keeps are looked at, and field names are matched by their canonical
//!   spelling first (the common fields mbi skips, such as `Maintainer` or `MD5sum`, included)
//!   with one table lookup, case-insensitively only after that, as deb822 requires;
//! - the bytes of names, versions and field names are classified sixteen at a time
//!   (the `scan` module): a loop over one byte at a time ends in a mispredicted branch,
//!   once per name;
//! - no UTF-8 validation of relation fields: their grammar is ASCII and every byte is
//!   checked against it anyway (other kept fields are short and validated on their own);
//! - few allocations per stanza, and little memory (fresh memory costs a page fault per
//!   4 KiB). Each thread keeps one table of the distinct groups of alternatives
//!   and one of the distinct relations it met, each parsed once (a group's text is looked up
//!   first: `libc6 (>= 2.34)` appears thousands of times), and vectors of indexes into them;
//!   a record's relationship fields are ranges of those ([`SharedSlice`]). Short names are
//!   stored inline ([`PackageName`] is a [`SharedStr`]: up to 22 bytes); the long names of a
//!   thread's relations share one buffer, as do the file names of about a thousand records;
//!   versions are stored inline ([`DebVersion`]) and the SHA256 as its 32 bytes ([`Sha256`]).
//!   What is left per stanza is the rare long version or long record name, so freeing a whole
//!   index is mostly a few large frees;
//! - the lookups wait little for memory. With ~300,000 of them in tables of megabytes, a
//!   cache miss each would cost more than all the parsing: a relationship field is split into
//!   its items and each item's table slot is prefetched as soon as `run` meets the line, so
//!   the slots arrive while the rest of the stanza is scanned; a slot holds where its text
//!   is in a packed copy of the distinct texts (~3 MB for bookworm's, where comparing
//!   against the text's first place in the 50 MB input would miss the cache again);
//! - large inputs are cut at stanza boundaries into pieces, several per thread: the calling
//!   thread parses pieces from the front straight into the result, the other threads take
//!   them from the back, so a thread that is slower (a busy core, costlier stanzas) parses
//!   fewer; the output never depends on the thread count. Each helper writes the records of
//!   all its pieces into one vector, moved to the end of the result at the end;
//! - the large vectors (the result, the helpers' records, the groups) ask Linux for huge pages
//!   before they are first written: in a one-shot process such as `mbi lock` every page the
//!   parse writes is fresh (~50 MB for Debian's index), and the first parse in a process
//!   takes about twice as long as later ones (~40 ms); huge pages took its median from ~96
//!   to ~82 ms here.
//!
//! ```
//! use std::sync::Arc;
//! use mbi_distro::apt::{IndexOrigin, index::{parse_packages, ParseOptions}};
//! let text = b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
//! Depends: libc6 (>= 2.34)\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53\n\
//! SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
//! let origin = Arc::new(IndexOrigin { uri: "http://m.example/debian/".into(),
//!     suite: "stable".into(), component: "main".into() });
//! let pkgs = parse_packages(text, &origin, "example", &ParseOptions::default()).unwrap();
//! assert_eq!(pkgs[0].name.as_str(), "hello");
//! assert_eq!(pkgs[0].depends[0].to_string(), "libc6 (>= 2.34)");
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memchr;

use crate::Error;
use crate::apt::intern::{
    Interner, SharedStr, SpanHash, SpanIndex, hash_span, low_bytes, tail_word,
};
use crate::apt::package::{BinaryPackage, IndexOrigin, MultiArch, Priority, Sha256};
use crate::apt::relation::{
    Alternatives, ArchQualifier, PackageName, Relation, RelationVec, SharedSlice, SliceArena,
    SliceTable, VersionOp, parse_relation_list, parse_relations,
};
use crate::apt::scan;
use crate::apt::version::DebVersion;

/// Options for [`parse_packages`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Worker threads; 0 means the machine's available parallelism (at most 8). Inputs under
    /// 1 MiB are always parsed on the calling thread, larger ones on at most one thread per
    /// 256 KiB. The result is the same for any value.
    pub threads: usize,
}

const NAMES: [&str; 19] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Essential",
    "Priority",
    "Section",
    "Source",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Conflicts",
    "Breaks",
    "Provides",
    "Replaces",
    "Filename",
    "Size",
    "SHA256",
    "Installed-Size",
];
const F_PACKAGE: usize = 0;
const F_VERSION: usize = 1;
const F_ARCH: usize = 2;
const F_MULTIARCH: usize = 3;
const F_ESSENTIAL: usize = 4;
const F_PRIORITY: usize = 5;
const F_SECTION: usize = 6;
const F_SOURCE: usize = 7;
const F_PREDEPENDS: usize = 8;
const F_DEPENDS: usize = 9;
const F_RECOMMENDS: usize = 10;
const F_CONFLICTS: usize = 11;
const F_BREAKS: usize = 12;
const F_PROVIDES: usize = 13;
const F_REPLACES: usize = 14;
const F_FILENAME: usize = 15;
const F_SIZE: usize = 16;
const F_SHA256: usize = 17;
const F_INSTALLED_SIZE: usize = 18;
const NF: usize = NAMES.len();
/// The relationship fields: groups of alternatives first, then flat lists. Consecutive field
/// numbers: field `f` is the `f - F_PREDEPENDS`th.
const RELATION_FIELDS: [usize; 7] =
    [F_PREDEPENDS, F_DEPENDS, F_RECOMMENDS, F_CONFLICTS, F_BREAKS, F_PROVIDES, F_REPLACES];
const _: () = assert!(F_REPLACES - F_PREDEPENDS + 1 == RELATION_FIELDS.len());
/// How many of [`RELATION_FIELDS`] hold groups of alternatives.
const GROUP_FIELDS: usize = 3;

/// Which of [`RELATION_FIELDS`] field `f` is, if it is one.
#[inline]
fn relation_field(f: usize) -> Option<usize> {
    f.checked_sub(F_PREDEPENDS).filter(|&k| k < RELATION_FIELDS.len())
}
/// "A field mbi does not keep" (continuation lines of it are skipped).
const F_OTHER: usize = NF;

/// The field that `data[start..end]` names. Its canonical spelling is found with one table
/// lookup (a perfect hash of the name's length and first eight bytes, then a compare of
/// both eight-byte words): the lines of a stanza have names of every length, and a switch
/// on the length was a jump the CPU mispredicted on a good part of them. Anything else gets
/// a case-insensitive comparison (deb822 field names are case-insensitive) against the few
/// candidates of that length.
#[inline]
fn field_id(data: &[u8], start: usize, end: usize) -> usize {
    let n = end - start;
    match data.get(start..).and_then(|d| d.first_chunk::<16>()) {
        Some(block) if n <= 16 => {
            let (lo, hi) = block.split_at(8);
            let word = |w: &[u8], len: usize| {
                low_bytes(w.first_chunk::<8>().map_or(0, |w| u64::from_le_bytes(*w)), len)
            };
            let (lo, hi) = (word(lo, n.min(8)), word(hi, n.saturating_sub(8)));
            match FIELD_SLOTS.get(field_slot(lo, n)) {
                Some(s) if s.len == n && s.lo == lo && s.hi == hi => s.id,
                _ => field_id_folded(&data[start..end]),
            }
        }
        _ => field_id_folded(data.get(start..end).unwrap_or_default()),
    }
}

/// The names [`field_id`] finds by their canonical spelling: mbi's fields, and the ones it
/// does not keep that nearly every stanza has (so they skip the case-insensitive fallback).
const KNOWN_FIELDS: [(&str, usize); NF + 9] = {
    let mut t = [("", F_OTHER); NF + 9];
    let mut f = 0;
    while f < NF {
        t[f] = (NAMES[f], f);
        f += 1;
    }
    let others = [
        "Maintainer",
        "Description",
        "Description-md5",
        "MD5sum",
        "Homepage",
        "Tag",
        "Suggests",
        "Built-Using",
        "Enhances",
    ];
    let mut i = 0;
    while i < others.len() {
        t[NF + i] = (others[i], F_OTHER);
        i += 1;
    }
    t
};

/// The multiplier of [`field_slot`], picked so that no two of [`KNOWN_FIELDS`] share a slot
/// (building [`FIELD_SLOTS`] fails to compile otherwise).
const FIELD_HASH: u64 = 0x885f_cd27_159d_0e77;
/// log2 of the number of [`FIELD_SLOTS`].
const FIELD_BITS: u32 = 5;

/// A field name of at most 16 bytes: its two little-endian words (zero-padded), its length
/// and its field.
#[derive(Clone, Copy)]
struct FieldSlot {
    lo: u64,
    hi: u64,
    len: usize,
    id: usize,
}

/// [`KNOWN_FIELDS`], each in the slot [`field_slot`] gives it (an empty slot's length,
/// `usize::MAX`, matches no name).
static FIELD_SLOTS: [FieldSlot; 1 << FIELD_BITS] = {
    let mut t = [FieldSlot { lo: 0, hi: 0, len: usize::MAX, id: F_OTHER }; 1 << FIELD_BITS];
    let mut i = 0;
    while i < KNOWN_FIELDS.len() {
        let (name, id) = KNOWN_FIELDS[i];
        let b = name.as_bytes();
        assert!(!b.is_empty() && b.len() <= 16);
        let (mut lo, mut hi) = (0u64, 0u64);
        let mut j = 0;
        while j < b.len() {
            if j < 8 {
                lo |= (b[j] as u64) << (8 * j);
            } else {
                hi |= (b[j] as u64) << (8 * (j - 8));
            }
            j += 1;
        }
        let slot = field_slot(lo, b.len());
        assert!(t[slot].len == usize::MAX, "two field names share a slot: change FIELD_HASH");
        t[slot] = FieldSlot { lo, hi, len: b.len(), id };
        i += 1;
    }
    t
};

/// The slot of [`FIELD_SLOTS`] for a name of `len` bytes whose first eight are `lo`.
#[inline]
const fn field_slot(lo: u64, len: usize) -> usize {
    ((lo ^ len as u64).wrapping_mul(FIELD_HASH) >> (64 - FIELD_BITS)) as usize
}

#[cold]
#[inline(never)]
fn field_id_folded(name: &[u8]) -> usize {
    let cands: &[usize] = match name.len() {
        4 => &[F_SIZE],
        6 => &[F_SHA256, F_SOURCE, F_BREAKS],
        7 => &[F_VERSION, F_SECTION, F_PACKAGE, F_DEPENDS],
        8 => &[F_PRIORITY, F_FILENAME, F_PROVIDES, F_REPLACES],
        9 => &[F_CONFLICTS, F_ESSENTIAL],
        10 => &[F_MULTIARCH, F_RECOMMENDS],
        11 => &[F_PREDEPENDS],
        12 => &[F_ARCH],
        14 => &[F_INSTALLED_SIZE],
        _ => return F_OTHER,
    };
    for &f in cands {
        // A different first letter settles most unknown fields (Maintainer, MD5sum, …).
        if name.first().map(u8::to_ascii_lowercase)
            == NAMES[f].as_bytes().first().map(u8::to_ascii_lowercase)
            && NAMES[f].as_bytes().eq_ignore_ascii_case(name)
        {
            return f;
        }
    }
    F_OTHER
}

/// A parse failure before it is given a line number (offsets are absolute in the input).
struct RawError {
    offset: usize,
    package: Option<String>,
    field: Option<&'static str>,
    reason: String,
}

/// Parses a whole `Packages` index. Every record gets `origin` (records parsed on another
/// thread an equal copy of it). `context` (e.g. the index URL) names the document in errors,
/// which also give the line, package and field.
pub fn parse_packages(
    data: &[u8],
    origin: &Arc<IndexOrigin>,
    context: &str,
    options: &ParseOptions,
) -> Result<Vec<BinaryPackage>, Error> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
        n => n,
    };
    // No more threads than pieces of at least MIN_PIECE (a caller may ask for any number).
    let threads = if data.len() < (1 << 20) { 1 } else { threads.min(data.len() / MIN_PIECE) };
    // Stanzas differ in cost (one half of Debian's index takes 15 % longer than the other),
    // so the input is cut into more pieces than threads. This thread takes pieces from the
    // front, straight into the result; the others take them from the back. Whoever is
    // faster parses more, and the result needs no reordering.
    let pieces = match threads {
        1 => vec![(0, data.len())],
        n => split_pieces(data, (data.len() / MIN_PIECE).min(n * PIECES_PER_THREAD)),
    };
    let queue = PieceQueue::new(pieces.len());
    // Each thread has one parser for all its pieces (its tables of distinct relationship
    // groups fill once), sized for an equal share of the input.
    let share = data.len() / threads + 1;
    // Sized for the whole input: pages that stay unused are never touched.
    let mut out = huge(Vec::with_capacity(estimate(data.len())));
    let result: Result<(), RawError> = std::thread::scope(|s| {
        let (pieces, queue) = (&pieces, &queue);
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                s.spawn(move || {
                    // A copy of its own: two threads incrementing one reference count for
                    // every record would fight over its cache line.
                    let origin = Arc::new(IndexOrigin::clone(origin));
                    let mut parser = Parser::new(data, &origin, share);
                    let mut done = HelperOutput::new(estimate(share));
                    while let Some(i) = queue.take_back() {
                        let (start, end) = pieces[i];
                        done.pieces.push((i, done.records.len()));
                        if let Err(e) = parser.run(start, end, &mut done.records) {
                            done.error = Some((i, e));
                            break;
                        }
                    }
                    parser.finish();
                    done
                })
            })
            .collect();
        let mut parser = Parser::new(data, origin, share);
        let mut result = Ok(());
        while let Some(i) = queue.take_front() {
            let (start, end) = pieces[i];
            result = parser.run(start, end, &mut out);
            if result.is_err() {
                break;
            }
        }
        parser.finish();
        let mut helpers: Vec<HelperOutput> = helpers
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| HelperOutput {
                    error: Some((
                        0,
                        RawError {
                            offset: 0,
                            package: None,
                            field: None,
                            reason: "parser thread panicked".into(),
                        },
                    )),
                    ..HelperOutput::new(0)
                })
            })
            .collect();
        // Every piece before the first failure in the input was parsed: this thread's
        // pieces come first, and the helpers' pieces below a failed one were taken later.
        result?;
        if let Some((_, e)) =
            helpers.iter_mut().filter_map(|h| h.error.take()).min_by_key(|&(i, _)| i)
        {
            return Err(e);
        }
        // A helper's records hold its pieces from the highest to the lowest, so the lowest
        // piece not yet moved is at the end of one helper's records.
        while let Some(h) = helpers
            .iter_mut()
            .filter(|h| !h.pieces.is_empty())
            .min_by_key(|h| h.pieces.last().map(|&(i, _)| i))
        {
            let Some((_, begin)) = h.pieces.pop() else { break };
            out.extend(h.records.drain(begin..));
        }
        Ok(())
    });
    result.map(|()| out).map_err(|e| {
        let end = e.offset.min(data.len());
        let line = memchr::memchr_iter(b'\n', &data[..end]).count() + 1;
        Error::Control {
            context: context.to_owned(),
            line,
            package: e.package,
            field: e.field.map(str::to_owned),
            reason: e.reason,
        }
    })
}

/// What a helper thread of [`parse_packages`] parsed: the records of all its pieces in one
/// vector (one allocation, large enough for huge pages), in the order it took them.
struct HelperOutput {
    records: Vec<BinaryPackage>,
    /// Each piece taken and where its records start in `records`.
    pieces: Vec<(usize, usize)>,
    /// The piece that failed, and why.
    error: Option<(usize, RawError)>,
}

impl HelperOutput {
    /// Room for about `records` records.
    fn new(records: usize) -> Self {
        HelperOutput { records: huge(Vec::with_capacity(records)), pieces: Vec::new(), error: None }
    }
}

/// How many pieces [`parse_packages`] cuts each thread's share of the input into, at most: with
/// 32, the two threads parsing Debian's index end within a millisecond of each other (with 8,
/// up to 4 ms apart).
const PIECES_PER_THREAD: usize = 32;
/// The smallest piece worth its overhead (a turn at the queue, and its records moved into
/// the result at the end when a helper parsed it).
const MIN_PIECE: usize = 256 << 10;

/// The pieces of the input not yet taken, `front..back`, in one atomic word (`front` in the
/// high half), so that the two ends are taken without a lock and never overlap.
struct PieceQueue(AtomicU64);

impl PieceQueue {
    /// All of `0..n` (at most `u32::MAX`).
    fn new(n: usize) -> Self {
        PieceQueue(AtomicU64::new(u64::from(u32::try_from(n).unwrap_or(u32::MAX))))
    }

    /// Takes the first piece left.
    fn take_front(&self) -> Option<usize> {
        self.take(|front, back| (front < back).then(|| (front + 1, back, front)))
    }

    /// Takes the last piece left.
    fn take_back(&self) -> Option<usize> {
        self.take(|front, back| (front < back).then(|| (front, back - 1, back - 1)))
    }

    /// Updates `(front, back)` to the first two of what `step` gives, and returns the third.
    fn take(&self, step: impl Fn(u32, u32) -> Option<(u32, u32, u32)>) -> Option<usize> {
        let mut taken = 0;
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let (front, back, piece) = step((w >> 32) as u32, w as u32)?;
                taken = piece;
                Some(u64::from(front) << 32 | u64::from(back))
            })
            .ok()
            .map(|_| taken as usize)
    }
}

/// `v`, after [`advise_huge_pages`].
fn huge<T>(v: Vec<T>) -> Vec<T> {
    advise_huge_pages(&v);
    v
}

/// Asks Linux to back the whole 2 MiB pages of `v`'s buffer (not touched yet) with huge pages
/// where it can (`MADV_HUGEPAGE`; with transparent huge pages set to `never` it does nothing).
/// Only a hint: the contents and the result never depend on it. In a one-shot process
/// (`mbi lock`) every page a parse writes is fresh, and handing them out 4 KiB at a time is
/// much of why the first parse in a process takes about twice as long as later ones.
fn advise_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start.saturating_add(v.capacity().saturating_mul(std::mem::size_of::<T>()));
        let (first, last) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if last > first {
            // SAFETY: `first..last` lies within `v`'s allocation, which `v` owns, and
            // MADV_HUGEPAGE only changes how the kernel backs those pages, never what they
            // hold (unlike MADV_DONTNEED). Failure (an old kernel, no THP) changes nothing.
            unsafe { libc::madvise(first as *mut libc::c_void, last - first, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

fn estimate(bytes: usize) -> usize {
    // Debian stanzas average ~800 bytes (a little over-estimating costs only address space).
    bytes / 700 + 1
}

/// Splits `data` into up to `n` ranges that each start at a stanza boundary.
fn split_pieces(data: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..n {
        let target = data.len() / n * i;
        if target <= start {
            continue;
        }
        match memchr::memmem::find(&data[target..], b"\n\n") {
            Some(p) => {
                let cut = target + p + 2;
                out.push((start, cut));
                start = cut;
            }
            None => break,
        }
    }
    out.push((start, data.len()));
    out
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && is_ws(b[s]) {
        s += 1;
    }
    while e > s && is_ws(b[e - 1]) {
        e -= 1;
    }
    &b[s..e]
}

const UNSET: (usize, usize) = (usize::MAX, 0);

/// Eight-bytes-at-a-time byte search (SWAR): `w ^ (ONES * b)` has a zero byte where `w` has
/// `b`, and `(x - ONES) & !x & HIGHS` flags zero bytes of `x` (exactly at the lowest one;
/// borrows may flag bytes above it).
const ONES: u64 = 0x0101_0101_0101_0101;
/// See [`ONES`].
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first `:` in `data[start..end]`, or `end`. A field name nearly always ends within 16
/// bytes of the line's start: one vector compare finds its colon.
#[inline]
fn find_colon(data: &[u8], start: usize, end: usize) -> usize {
    match data.get(start..).and_then(|d| d.first_chunk::<16>()) {
        Some(block) => match scan::eq_mask(block, b':') {
            0 if start + 16 < end => find_byte::<b':'>(data, start + 16, end),
            0 => end,
            m => (start + m.trailing_zeros() as usize).min(end),
        },
        None => find_byte::<b':'>(data, start, end),
    }
}

/// The first `B` in `data[start..end]`, or `end`. For the short spans of field names and
/// relationship groups: this looks at eight bytes at a time, cheaper there than a call to
/// `memchr`.
#[inline]
fn find_byte<const B: u8>(data: &[u8], start: usize, end: usize) -> usize {
    let mut p = start;
    while p + 8 <= end {
        let Some(w) = data.get(p..p + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) else {
            break;
        };
        let x = u64::from_le_bytes(w) ^ (ONES * u64::from(B));
        // Bytes equal to `B` are now zero; the lowest flagged byte is the first of them.
        let z = x.wrapping_sub(ONES) & !x & HIGHS;
        if z != 0 {
            return p + (z.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    // Fewer than eight bytes left.
    data.get(p..end).and_then(|t| t.iter().position(|&c| c == B)).map_or(end, |i| p + i)
}

/// The positions of every `\n` in a byte string, in order: a bit mask of the newlines of each
/// 64-byte block (a loop the compiler turns into vector compares), then one bit at a time.
/// Packages lines average ~40 bytes, too short for a `memchr` call per line to pay off.
struct Newlines<'a> {
    data: &'a [u8],
    /// Where the current block starts.
    base: usize,
    /// The newlines of the current block not yet returned.
    mask: u64,
}

impl<'a> Newlines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Newlines { data, base: 0, mask: scan::newline_mask64(data) }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            let block = self.data.get(self.base..)?;
            if block.is_empty() {
                return None;
            }
            self.mask = scan::newline_mask64(block);
        }
        let i = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + i)
    }
}

/// The comma-separated item of `data[i..end]` that starts at `i`: its span without surrounding
/// whitespace, the [`hash_span`] of that, and where the item ends (its comma, or `end`). One
/// pass eight bytes at a time both finds the comma and hashes the words before it; only an
/// item with whitespace before its comma (not how indexes are written) is hashed again.
#[inline]
fn next_item(data: &[u8], mut i: usize, end: usize) -> (usize, usize, u64, usize) {
    while i < end && data.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    let start = i;
    let mut h = SpanHash::new();
    let mut p = start;
    let comma = loop {
        let word = if p + 8 <= end { data.get(p..p + 8) } else { None };
        let Some(w) = word.and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_le_bytes) else {
            // Fewer than eight bytes left before `end`.
            let comma = find_byte::<b','>(data, p, end);
            if comma > p {
                h = h.word(tail_word(data, p, comma));
            }
            break comma;
        };
        let x = w ^ (ONES * u64::from(b','));
        // Bytes equal to ',' are now zero; the lowest flagged byte is the first of them.
        let z = x.wrapping_sub(ONES) & !x & HIGHS;
        if z == 0 {
            h = h.word(w);
            p += 8;
            continue;
        }
        let j = (z.trailing_zeros() / 8) as usize;
        if j > 0 {
            h = h.word(low_bytes(w, j));
        }
        break p + j;
    };
    if comma > start && data.get(comma - 1).is_some_and(|&c| is_ws(c)) {
        let (s, e) = trim_span(data, start, comma);
        return (s, e, hash_span(data, s, e), comma);
    }
    (start, comma, h.finish(comma - start), comma)
}

/// The end of the run of bytes of class `C` (see [`scan`]) that starts at `data[i]`, at most
/// `limit`: the span's bytes after `limit` are looked at sixteen at a time but not taken.
#[inline]
fn class_run_end<const C: u8>(data: &[u8], mut i: usize, limit: usize) -> usize {
    while i < limit {
        let Some(block) = data.get(i..).and_then(|d| d.first_chunk::<16>()) else {
            // The last few bytes of the input.
            let rest = data.get(i..limit).unwrap_or_default();
            let run = rest.iter().take_while(|&&c| scan::in_class::<C>(c)).count();
            return i + run;
        };
        let m = scan::class_mask::<C>(block);
        if m != 0xffff {
            return (i + m.trailing_ones() as usize).min(limit);
        }
        i += 16;
    }
    limit.min(i)
}

/// Parses one thread's pieces of the input; offsets are absolute in `data` (the whole
/// input), so interned names and errors refer to it directly.
struct Parser<'a> {
    data: &'a [u8],
    origin: &'a Arc<IndexOrigin>,
    intern: Interner,
    /// The distinct groups of alternatives the parser met (`Depends`, …) and, for each group a
    /// field lists, its index there. Published into `group_arena` when the parser finishes.
    groups: SliceTable<Alternatives>,
    /// Finds a group parsed before from its text.
    group_index: SpanIndex,
    group_arena: SliceArena<Alternatives>,
    /// The same for the members of flat lists (`Conflicts`, …).
    rels: SliceTable<Relation>,
    rel_index: SpanIndex,
    rel_arena: SliceArena<Relation>,
    /// The comma-separated items of the stanza's relationship fields (trimmed span and
    /// [`hash_span`]), split as soon as their line is met (see [`Parser::split_field`]).
    items: Vec<(usize, usize, u64)>,
    /// The range of `items` of each of [`RELATION_FIELDS`] (empty when absent).
    item_ranges: [(usize, usize); RELATION_FIELDS.len()],
    /// Bit `k`: the `k`th relationship field has continuation lines, so it is split again,
    /// whole, when the stanza is built.
    resplit: u8,
    /// The names too long to store inline of the relations this parser's fast path parsed,
    /// packed; those relations hold [`PackageName::pending`] until [`Parser::finish`] gives
    /// each its range of one shared copy. (Interning them instead cost a hash-table lookup
    /// per name, in a table too large for the cache.)
    long_names: Vec<u8>,
    /// Which relation each of those names belongs to, and where it is in `long_names`.
    long_name_uses: Vec<LongName>,
    /// The file names of the records built since the last [`Parser::flush_names`], packed;
    /// those records hold an empty name until the flush.
    names: Vec<u8>,
    /// Where each of those names starts in `names`.
    name_starts: Vec<usize>,
}

/// How many bytes of file names one shared buffer holds (about a thousand records').
const NAME_BLOCK: usize = 64 << 10;

impl<'a> Parser<'a> {
    /// A parser for about `share` bytes of `data`, in pieces.
    fn new(data: &'a [u8], origin: &'a Arc<IndexOrigin>, share: usize) -> Self {
        // Groups: ~1 per 170 bytes, ~1 in 4 distinct; flat-list members ~1 per 750 bytes,
        // ~2 in 3 distinct. Capacity that stays unused is never touched.
        Parser {
            data,
            origin,
            // Only long `Source` (and `Section`, `Architecture`) values come here.
            intern: Interner::with_capacity(share / 20_000 + 16),
            groups: SliceTable {
                items: huge(Vec::with_capacity(share / 600)),
                ids: Vec::with_capacity(share / 150),
            },
            group_index: SpanIndex::with_capacity(share / 600),
            group_arena: Default::default(),
            rels: SliceTable {
                items: Vec::with_capacity(share / 1500),
                ids: Vec::with_capacity(share / 600),
            },
            rel_index: SpanIndex::with_capacity(share / 1500),
            rel_arena: Default::default(),
            items: Vec::new(),
            item_ranges: Default::default(),
            resplit: 0,
            long_names: Vec::new(),
            long_name_uses: Vec::new(),
            names: Vec::with_capacity(NAME_BLOCK.min(share) + 256),
            name_starts: Vec::new(),
        }
    }

    /// Publishes the parser's shared storage: the records handed out read their strings and
    /// relations from now on.
    fn finish(&mut self) {
        self.give_long_names();
        let _ = self.rel_arena.set(std::mem::take(&mut self.rels));
        let _ = self.group_arena.set(std::mem::take(&mut self.groups));
    }

    fn run(
        &mut self,
        start: usize,
        end: usize,
        out: &mut Vec<BinaryPackage>,
    ) -> Result<(), RawError> {
        let data = self.data.get(..end).unwrap_or(self.data);
        let mut spans = [UNSET; NF];
        let mut in_stanza = false;
        let mut stanza_start = 0usize;
        let mut cur = F_OTHER;
        let mut pos = start;
        // One scan for every line end of the piece (each line consumes the next one).
        let mut newlines = Newlines::new(data.get(start..).unwrap_or_default());
        while let Some(&first) = data.get(pos) {
            let nl = newlines.next().map_or(end, |i| start + i);
            let blank = first == b'\n'
                || (matches!(first, b' ' | b'\t' | b'\r')
                    && data[pos..nl].iter().all(|&c| is_ws(c)));
            if blank {
                if in_stanza {
                    self.build(stanza_start, &spans, out)?;
                    self.items.clear();
                    self.item_ranges = Default::default();
                    self.resplit = 0;
                    if self.names.len() >= NAME_BLOCK {
                        self.flush_names(out);
                    }
                    spans = [UNSET; NF];
                    in_stanza = false;
                    cur = F_OTHER;
                }
            } else if first == b' ' || first == b'\t' {
                if !in_stanza {
                    return Err(RawError {
                        offset: pos,
                        package: None,
                        field: None,
                        reason: "continuation line without a field".into(),
                    });
                }
                if cur != F_OTHER {
                    spans[cur].1 = nl;
                    if let Some(k) = relation_field(cur) {
                        self.resplit |= 1 << k;
                    }
                }
            } else {
                let colon = find_colon(data, pos, nl);
                if colon == nl {
                    return Err(RawError {
                        offset: pos,
                        package: package_name(data, &spans),
                        field: None,
                        reason: "expected 'Field: value'".into(),
                    });
                }
                if !in_stanza {
                    in_stanza = true;
                    stanza_start = pos;
                }
                cur = field_id(data, pos, colon);
                if cur != F_OTHER {
                    if spans[cur].0 != usize::MAX {
                        return Err(RawError {
                            offset: pos,
                            package: package_name(data, &spans),
                            field: Some(NAMES[cur]),
                            reason: "duplicate field".into(),
                        });
                    }
                    spans[cur] = (colon + 1, nl);
                    if let Some(k) = relation_field(cur) {
                        self.split_field(k, colon + 1, nl);
                    }
                }
            }
            pos = nl + 1;
        }
        if in_stanza {
            self.build(stanza_start, &spans, out)?;
        }
        self.flush_names(out);
        Ok(())
    }

    /// Gives each relation waiting for its long name ([`Parser::long_names`]) its range of a
    /// shared copy of them.
    fn give_long_names(&mut self) {
        if self.long_name_uses.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.long_names);
        // Checked when each name was added: name bytes are ASCII.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let buf = Arc::new(text);
        for u in self.long_name_uses.drain(..) {
            let rel = match u.owner {
                NameOwner::Group { item, alt } => {
                    self.groups.items.get_mut(item as usize).and_then(|g| g.0.get_mut(alt as usize))
                }
                NameOwner::Relation { item } => self.rels.items.get_mut(item as usize),
            };
            if let Some(rel) = rel {
                let name = SharedStr::slice(&buf, u.start as usize, u.len as usize);
                rel.name = PackageName::from_checked(name);
            }
        }
    }

    /// Forgets the long names added since `mark` (the lengths of [`Parser::long_names`] and
    /// [`Parser::long_name_uses`]): their relations were not kept.
    fn forget_long_names(&mut self, mark: (usize, usize)) {
        self.long_names.truncate(mark.0);
        self.long_name_uses.truncate(mark.1);
    }

    /// Moves the packed file names into a shared buffer and gives each of their records (the
    /// last ones of `out`) its range of it.
    fn flush_names(&mut self, out: &mut [BinaryPackage]) {
        let n = self.name_starts.len();
        let Some(first) = out.len().checked_sub(n) else { return };
        let bytes = std::mem::replace(&mut self.names, Vec::with_capacity(NAME_BLOCK + 256));
        // Checked when each name was added: printable ASCII.
        let text = String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let buf = Arc::new(text);
        let ends = self.name_starts.iter().skip(1).copied().chain([buf.len()]);
        for ((p, &start), end) in out.iter_mut().skip(first).zip(&self.name_starts).zip(ends) {
            p.filename = SharedStr::slice(&buf, start, end - start);
        }
        self.name_starts.clear();
    }

    /// Builds the record of a stanza and appends it to `out` (built in place: a record is a
    /// few hundred bytes).
    fn build(
        &mut self,
        stanza_start: usize,
        spans: &[(usize, usize); NF],
        out: &mut Vec<BinaryPackage>,
    ) -> Result<(), RawError> {
        let data = self.data;
        let err = |f: Option<usize>, reason: String| RawError {
            offset: f.map_or(stanza_start, |f| spans[f].0),
            package: package_name(data, spans),
            field: f.map(|f| NAMES[f]),
            reason,
        };
        // The trimmed span of a field, if present.
        let span = |f: usize| -> Option<(usize, usize)> {
            let (s, e) = spans[f];
            (s != usize::MAX).then(|| trim_span(data, s, e))
        };
        // The trimmed bytes of a field, if present.
        let raw = |f: usize| -> Option<&'a [u8]> { span(f).map(|(s, e)| &data[s..e]) };
        // A field as a shared string (checked to be UTF-8), if present.
        let shared = |intern: &mut Interner, f: usize| -> Result<Option<SharedStr>, RawError> {
            let Some((s, e)) = span(f) else { return Ok(None) };
            if !utf8(&data[s..e]) {
                return Err(err(Some(f), "not valid UTF-8".into()));
            }
            Ok(Some(intern.get(data, s, e)))
        };
        let req_raw = |f: usize| -> Result<&'a [u8], RawError> {
            match raw(f) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(err(None, format!("missing {} field", NAMES[f]))),
            }
        };
        let (name_s, name_e) = match span(F_PACKAGE) {
            Some((s, e)) if s < e => (s, e),
            _ => return Err(err(None, "missing Package field".into())),
        };
        // `is_package_name`, sixteen bytes at a time.
        let name_ok = data[name_s].is_ascii_alphanumeric()
            && class_run_end::<{ scan::NAME }>(data, name_s, name_e) == name_e;
        if !name_ok {
            let input = String::from_utf8_lossy(&data[name_s..name_e]).into_owned();
            return Err(err(Some(F_PACKAGE), Error::InvalidPackageName { input }.to_string()));
        }
        // A record's own name is rarely met again as a record's name: not worth interning
        // (relations that name it intern their copy).
        let name = PackageName::from_checked(match SharedStr::inline_span(data, name_s, name_e) {
            Some(n) => n,
            None => SharedStr::new(std::str::from_utf8(&data[name_s..name_e]).unwrap_or_default()),
        });
        let version = match span(F_VERSION) {
            Some((s, e)) if s < e => {
                version_field(data, s, e).map_err(|e| err(Some(F_VERSION), e))?
            }
            _ => return Err(err(None, "missing Version field".into())),
        };
        let architecture = match shared(&mut self.intern, F_ARCH)? {
            Some(a) if !a.is_empty() => a,
            _ => return Err(err(None, "missing Architecture field".into())),
        };
        let multi_arch = match raw(F_MULTIARCH) {
            None | Some(b"no") => MultiArch::No,
            Some(b"same") => MultiArch::Same,
            Some(b"foreign") => MultiArch::Foreign,
            Some(b"allowed") => MultiArch::Allowed,
            Some(v) => {
                let v = String::from_utf8_lossy(v);
                return Err(err(Some(F_MULTIARCH), format!("unknown value {v:?}")));
            }
        };
        let essential = match raw(F_ESSENTIAL) {
            None | Some(b"no") => false,
            Some(b"yes") => true,
            Some(v) => {
                let v = String::from_utf8_lossy(v);
                return Err(err(Some(F_ESSENTIAL), format!("expected yes or no, got {v:?}")));
            }
        };
        // Unknown priorities (some derivatives invent them) count as the default, as in apt.
        let priority = match raw(F_PRIORITY) {
            Some(b"required") => Priority::Required,
            Some(b"important") => Priority::Important,
            Some(b"standard") => Priority::Standard,
            Some(b"extra") => Priority::Extra,
            _ => Priority::Optional,
        };
        let section = shared(&mut self.intern, F_SECTION)?.filter(|s| !s.is_empty());
        let (source, source_version) = match span(F_SOURCE) {
            None => (name.to_shared(), None),
            Some((s, e)) => {
                if !utf8(&data[s..e]) {
                    return Err(err(Some(F_SOURCE), "not valid UTF-8".into()));
                }
                match memchr(b'(', &data[s..e]) {
                    _ if s == e => (name.to_shared(), None),
                    None => (self.intern.get(data, s, e), None),
                    Some(p) => {
                        let (ns, ne) = trim_span(data, s, s + p);
                        if data[e - 1] != b')' {
                            return Err(err(Some(F_SOURCE), "unclosed '('".into()));
                        }
                        let (vs, ve) = trim_span(data, s + p + 1, e - 1);
                        let v = version_field(data, vs, ve).map_err(|e| err(Some(F_SOURCE), e))?;
                        (self.intern.get(data, ns, ne), Some(v))
                    }
                }
            }
        };
        for k in 0..RELATION_FIELDS.len() {
            if self.resplit & (1 << k) != 0 {
                let (s, e) = spans[RELATION_FIELDS[k]];
                self.split_field(k, s, e);
            }
        }
        let mut groups = |k: usize,
                          field: &'static str|
         -> Result<SharedSlice<Alternatives>, RawError> {
            let f = RELATION_FIELDS[k];
            let Some((s, e)) = span(f) else { return Ok(SharedSlice::new()) };
            let start = self.groups.ids.len();
            if self.fast_items::<Alternatives>(k).is_none() {
                parse_in_full(&mut self.groups, start, &data[s..e], |t| parse_relations(field, t))
                    .map_err(|r| err(Some(f), r))?;
            }
            Ok(SharedSlice::span(&self.group_arena, start, self.groups.ids.len()))
        };
        let pre_depends = groups(0, "Pre-Depends")?;
        let depends = groups(1, "Depends")?;
        let recommends = groups(2, "Recommends")?;
        let mut list = |k: usize, field: &'static str| -> Result<SharedSlice<Relation>, RawError> {
            let f = RELATION_FIELDS[k];
            let Some((s, e)) = span(f) else { return Ok(SharedSlice::new()) };
            let start = self.rels.ids.len();
            if self.fast_items::<Relation>(k).is_none() {
                parse_in_full(&mut self.rels, start, &data[s..e], |t| {
                    parse_relation_list(field, t)
                })
                .map_err(|r| err(Some(f), r))?;
            }
            Ok(SharedSlice::span(&self.rel_arena, start, self.rels.ids.len()))
        };
        let conflicts = list(3, "Conflicts")?;
        let breaks = list(4, "Breaks")?;
        let provides = list(5, "Provides")?;
        let replaces = list(6, "Replaces")?;
        let filename = req_raw(F_FILENAME)?;
        if filename.first() == Some(&b'/') || !safe_path_bytes(filename) {
            let f = String::from_utf8_lossy(filename);
            return Err(err(Some(F_FILENAME), format!("unsafe path {f:?}")));
        }
        // Packed with the others; the record gets its range when they are flushed.
        self.name_starts.push(self.names.len());
        self.names.extend_from_slice(filename);
        let size =
            number(req_raw(F_SIZE)?).ok_or_else(|| err(Some(F_SIZE), "not a number".into()))?;
        let sha = req_raw(F_SHA256)?;
        let sha256 = Sha256::from_hex(sha).ok_or_else(|| {
            err(Some(F_SHA256), format!("invalid {:?}", String::from_utf8_lossy(sha)))
        })?;
        let installed_size = match raw(F_INSTALLED_SIZE) {
            None => None,
            Some(v) => {
                Some(number(v).ok_or_else(|| err(Some(F_INSTALLED_SIZE), "not a number".into()))?)
            }
        };
        out.push(BinaryPackage {
            name,
            version,
            architecture,
            multi_arch,
            essential,
            priority,
            section,
            source,
            source_version,
            pre_depends,
            depends,
            recommends,
            conflicts,
            breaks,
            provides,
            replaces,
            filename: SharedStr::empty(),
            size,
            sha256,
            installed_size,
            origin: self.origin.clone(),
        });
        Ok(())
    }

    /// Splits the `k`th of [`RELATION_FIELDS`], `data[start..end]`, into its comma-separated
    /// items (trimmed, and hashed), and starts loading the index slot each item's lookup will
    /// read. `run` does this when it meets the field's line, so the slots are on their way
    /// while the rest of the stanza is scanned, and the lookups in `build` rarely wait for
    /// memory.
    fn split_field(&mut self, k: usize, start: usize, end: usize) {
        let data = self.data;
        let begin = self.items.len();
        let (start, end) = trim_span(data, start, end);
        let index = if k < GROUP_FIELDS { &self.group_index } else { &self.rel_index };
        let mut i = start;
        loop {
            let (s, e, hash, comma) = next_item(data, i, end);
            index.prefetch(hash);
            self.items.push((s, e, hash));
            if comma == end {
                break;
            }
            i = comma + 1;
        }
        if let Some(r) = self.item_ranges.get_mut(k) {
            *r = (begin, self.items.len());
        }
    }

    /// The fast path for relation fields as Packages indexes write them: `name[:arch]
    /// [(op version)]` alternatives separated by `|` (groups only) and `,`, for the `k`th of
    /// [`RELATION_FIELDS`] (split by [`Parser::split_field`]). Each item's text is looked
    /// up among the parser's items of its kind (groups, or flat-list relations) first and
    /// parsed only when new; its index is appended to the parser's indexes of that kind.
    /// Returns `None` for anything else (architecture restrictions,
    /// build profiles, odd syntax, errors), having appended part of the field: the caller
    /// truncates and uses the general parser, so results and error messages are the general
    /// parser's.
    fn fast_items<T: FastItem>(&mut self, k: usize) -> Option<()> {
        let data = self.data;
        let (begin, end) = self.item_ranges[k];
        for n in begin..end {
            let (s, e, hash) = self.items[n];
            if s == e {
                return None;
            }
            let id = match T::tables(self).1.find(data, hash, s, e) {
                Some(id) => id,
                None => {
                    let item = u32::try_from(T::tables(self).0.items.len()).ok()?;
                    let mark = (self.long_names.len(), self.long_name_uses.len());
                    let Some(id) =
                        T::parse(self, item, s, e).and_then(|x| push_item(T::tables(self).0, x))
                    else {
                        self.forget_long_names(mark);
                        return None;
                    };
                    T::tables(self).1.insert(data, hash, id, s, e);
                    id
                }
            };
            T::tables(self).0.ids.push(id);
        }
        Some(())
    }

    /// One group of alternatives, `data[start..end]` exactly, on the fast path, to be the
    /// `item`th of the parser's groups.
    fn fast_group(&mut self, item: u32, start: usize, end: usize) -> Option<Alternatives> {
        let b = self.data.get(..end)?;
        let (rel, mut next) = self.fast_relation(b, start, NameOwner::Group { item, alt: 0 })?;
        match b.get(next) {
            None => return Some(Alternatives(RelationVec::one(rel))),
            Some(b'|') => {}
            Some(_) => return None,
        }
        let mut alts = vec![rel];
        loop {
            let alt = u32::try_from(alts.len()).ok()?;
            let (rel, n) = self.fast_relation(b, next + 1, NameOwner::Group { item, alt })?;
            alts.push(rel);
            next = n;
            match b.get(next) {
                None => return Some(Alternatives(alts.into())),
                Some(b'|') => {}
                Some(_) => return None,
            }
        }
    }

    /// The name `data[start..end]`, too long to store inline: [`PackageName::pending`], with
    /// the bytes packed into [`Parser::long_names`] until the parser finishes. (Past 4 GiB of
    /// them, a name of its own.)
    fn long_name(&mut self, start: usize, end: usize, owner: NameOwner) -> PackageName {
        let bytes = self.data.get(start..end).unwrap_or_default();
        match (u32::try_from(self.long_names.len()), u32::try_from(bytes.len())) {
            (Ok(at), Ok(len)) if at.checked_add(len).is_some() => {
                self.long_names.extend_from_slice(bytes);
                self.long_name_uses.push(LongName { owner, start: at, len });
                PackageName::pending()
            }
            _ => PackageName::from_checked(SharedStr::new(
                std::str::from_utf8(bytes).unwrap_or_default(),
            )),
        }
    }

    /// Parses one alternative starting at `i` in `b` (a prefix of the whole input ending where
    /// the field ends), which will be `owner`; returns it and the index of the separator after
    /// it (or `b.len()`).
    #[inline]
    fn fast_relation(&mut self, b: &[u8], i: usize, owner: NameOwner) -> Option<(Relation, usize)> {
        let start = skip_ws(b, i);
        let mut i = class_run_end::<{ scan::NAME }>(self.data, start, b.len());
        if !b.get(start)?.is_ascii_alphanumeric() {
            return None;
        }
        let name = match SharedStr::inline_span(self.data, start, i) {
            Some(n) => PackageName::from_checked(n),
            None => self.long_name(start, i, owner),
        };
        let mut arch_qualifier = None;
        if b.get(i) == Some(&b':') {
            let s = i + 1;
            i = s;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                i += 1;
            }
            arch_qualifier = Some(match &b[s..i] {
                b"" => return None,
                b"any" => ArchQualifier::Any,
                b"native" => ArchQualifier::Native,
                a => ArchQualifier::Arch(std::str::from_utf8(a).ok()?.into()),
            });
        }
        i = skip_ws(b, i);
        let mut version = None;
        if b.get(i) == Some(&b'(') {
            i = skip_ws(b, i + 1);
            let (op, len) = match (b.get(i), b.get(i + 1)) {
                (Some(b'<'), Some(b'<')) => (VersionOp::Lt, 2),
                (Some(b'<'), Some(b'=')) => (VersionOp::Le, 2),
                (Some(b'>'), Some(b'>')) => (VersionOp::Gt, 2),
                (Some(b'>'), Some(b'=')) => (VersionOp::Ge, 2),
                (Some(b'='), _) => (VersionOp::Eq, 1),
                _ => return None,
            };
            i = skip_ws(b, i + len);
            let vs = i;
            // Anything else than version bytes, spaces and `)` fails below, and the general
            // parser explains it.
            i = class_run_end::<{ scan::VERSION }>(self.data, vs, b.len());
            let v = DebVersion::from_span(self.data, vs, i).ok()?;
            i = skip_ws(b, i);
            if b.get(i) != Some(&b')') {
                return None;
            }
            version = Some((op, v));
            i = skip_ws(b, i + 1);
        }
        Some((Relation { name, arch_qualifier, version, arch_restrictions: Vec::new() }, i))
    }
}

/// What the `Packages` parser's fast path shares by text within one parser: groups of
/// alternatives (`Depends`, …) and the relations of flat lists (`Conflicts`, …).
trait FastItem: Sized {
    /// The parser's distinct items of this kind and the index that finds them by text.
    fn tables<'p>(p: &'p mut Parser<'_>) -> (&'p mut SliceTable<Self>, &'p mut SpanIndex);
    /// `data[start..end]`, exactly, parsed on the fast path as the `item`th of its kind.
    fn parse(p: &mut Parser<'_>, item: u32, start: usize, end: usize) -> Option<Self>;
}

impl FastItem for Alternatives {
    #[inline]
    fn tables<'p>(p: &'p mut Parser<'_>) -> (&'p mut SliceTable<Self>, &'p mut SpanIndex) {
        (&mut p.groups, &mut p.group_index)
    }

    #[inline]
    fn parse(p: &mut Parser<'_>, item: u32, start: usize, end: usize) -> Option<Self> {
        p.fast_group(item, start, end)
    }
}

impl FastItem for Relation {
    #[inline]
    fn tables<'p>(p: &'p mut Parser<'_>) -> (&'p mut SliceTable<Self>, &'p mut SpanIndex) {
        (&mut p.rels, &mut p.rel_index)
    }

    #[inline]
    fn parse(p: &mut Parser<'_>, item: u32, start: usize, end: usize) -> Option<Self> {
        let b = p.data.get(..end)?;
        let (rel, next) = p.fast_relation(b, start, NameOwner::Relation { item })?;
        (next == end).then_some(rel)
    }
}

/// Which relation of a parser a long name belongs to (see [`Parser::long_names`]).
#[derive(Clone, Copy)]
enum NameOwner {
    /// Alternative `alt` of the `item`th group.
    Group { item: u32, alt: u32 },
    /// The `item`th relation of the flat lists.
    Relation { item: u32 },
}

/// A long name waiting for its shared copy: its owner and its range of
/// [`Parser::long_names`].
struct LongName {
    owner: NameOwner,
    start: u32,
    len: u32,
}

/// Appends `item` to the table's distinct items; returns its index (`None` past `u32::MAX`
/// items).
fn push_item<T>(table: &mut SliceTable<T>, item: T) -> Option<u32> {
    let id = u32::try_from(table.items.len()).ok()?;
    table.items.push(item);
    Some(id)
}

/// The slow path of a relationship field: drops what the fast path listed from `start` on,
/// parses `text` with the full parser and lists every item it gives. The error is the message
/// for the field.
fn parse_in_full<T>(
    table: &mut SliceTable<T>,
    start: usize,
    text: &[u8],
    parse: impl FnOnce(&str) -> Result<Vec<T>, Error>,
) -> Result<(), String> {
    table.ids.truncate(start);
    let text = std::str::from_utf8(text).map_err(|_| "not valid UTF-8".to_owned())?;
    for item in parse(text).map_err(|e| e.to_string())? {
        push_new(table, item).ok_or_else(|| "too many relations".to_owned())?;
    }
    Ok(())
}

/// [`push_item`], and lists the item (appends its index to the table's indexes).
fn push_new<T>(table: &mut SliceTable<T>, item: T) -> Option<u32> {
    let id = push_item(table, item)?;
    table.ids.push(id);
    Some(id)
}

fn package_name(data: &[u8], spans: &[(usize, usize); NF]) -> Option<String> {
    let (s, e) = spans[F_PACKAGE];
    (s != usize::MAX).then(|| String::from_utf8_lossy(trim(&data[s..e])).into_owned())
}

/// The version in `data[start..end]`, with [`Error::InvalidVersion`]'s message on failure.
fn version_field(data: &[u8], start: usize, end: usize) -> Result<DebVersion, String> {
    DebVersion::from_span(data, start, end).map_err(|reason| {
        let input = String::from_utf8_lossy(data.get(start..end).unwrap_or_default()).into_owned();
        Error::InvalidVersion { input, reason }.to_string()
    })
}

/// Whether `b` is valid UTF-8 (ASCII, the usual case, is checked a word at a time).
#[inline]
fn utf8(b: &[u8]) -> bool {
    b.is_ascii() || std::str::from_utf8(b).is_ok()
}

/// Whether a relative path is printable ASCII without a `..` component. Two passes the
/// compiler vectorizes (no early exit): printable bytes, and whether any two dots touch;
/// only a path where they do (never in a real index) is split into components.
#[inline]
fn safe_path_bytes(path: &[u8]) -> bool {
    let graphic = path.iter().fold(true, |ok, &b| ok & (b.wrapping_sub(0x21) < 0x5e));
    let dots = |&(&a, &b): &(&u8, &u8)| (a == b'.') & (b == b'.');
    let two_dots = path.iter().zip(path.iter().skip(1)).fold(false, |f, p| f | dots(&p));
    graphic && (!two_dots || path.split(|&b| b == b'/').all(|c| c != b".."))
}

/// `data[start..end]` without surrounding whitespace.
#[inline]
fn trim_span(data: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    // The usual shape of a field's value: one space, then bytes that end with neither space
    // nor control characters (whitespace is all at or below b' ').
    if start + 1 < end
        && data.get(start) == Some(&b' ')
        && data.get(start + 1).is_some_and(|&c| c > b' ')
        && data.get(end - 1).is_some_and(|&c| c > b' ')
    {
        return (start + 1, end);
    }
    while start < end && data.get(start).is_some_and(|&c| is_ws(c)) {
        start += 1;
    }
    while end > start && data.get(end - 1).is_some_and(|&c| is_ws(c)) {
        end -= 1;
    }
    (start, end)
}

/// A decimal number as `str::parse::<u64>` accepts it (an optional `+`, then digits).
#[inline]
fn number(b: &[u8]) -> Option<u64> {
    let digits = b.strip_prefix(b"+").unwrap_or(b);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Arc<IndexOrigin> {
        Arc::new(IndexOrigin {
            uri: "http://x/".into(),
            suite: "s".into(),
            component: "main".into(),
        })
    }

    fn fast_relations(t: &str) -> Option<Vec<Alternatives>> {
        let o = origin();
        let mut p = Parser::new(t.as_bytes(), &o, 0);
        p.split_field(1, 0, t.len());
        p.fast_items::<Alternatives>(1)?;
        let n = p.groups.ids.len();
        p.finish();
        Some(SharedSlice::span(&p.group_arena, 0, n).to_vec())
    }

    fn fast_relation_list(t: &str) -> Option<Vec<Relation>> {
        let o = origin();
        let mut p = Parser::new(t.as_bytes(), &o, 0);
        p.split_field(3, 0, t.len());
        p.fast_items::<Relation>(3)?;
        let n = p.rels.ids.len();
        p.finish();
        Some(SharedSlice::span(&p.rel_arena, 0, n).to_vec())
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn stanza(name: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\n{extra}Filename: pool/{name}.deb\n\
             Size: 10\nSHA256: {SHA}\nDescription: x\n more\n .\n text\n"
        )
    }

    #[test]
    fn fields() {
        let t = stanza(
            "foo",
            "Source: foo-src (1.0-0)\nMulti-Arch: same\nEssential: yes\nPriority: required\n\
             Section: libs\nPre-Depends: a\nDepends: b (>= 1) | c,\n d:any\nRecommends: r\n\
             Conflicts: x (<< 2)\nBreaks: y\nProvides: v (= 1.0)\nReplaces: z\nInstalled-Size: 42\n",
        ) + "\n"
            + &stanza("bar", "");
        let p = parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions::default()).unwrap();
        assert_eq!(p.len(), 2);
        let f = &p[0];
        assert_eq!(&*f.source, "foo-src");
        assert_eq!(f.source_version.as_ref().unwrap().as_str(), "1.0-0");
        assert_eq!(f.multi_arch, MultiArch::Same);
        assert!(f.essential);
        assert_eq!(f.priority, Priority::Required);
        assert_eq!(f.depends.len(), 2);
        assert_eq!(f.depends[0].0.len(), 2);
        assert_eq!(f.provides[0].to_string(), "v (= 1.0)");
        assert_eq!(f.installed_size, Some(42));
        assert_eq!(f.sha256.hex(), SHA);
        assert_eq!((&*f.filename, &*p[1].filename), ("pool/foo.deb", "pool/bar.deb"));
        assert_eq!(&*p[1].source, "bar");
        // A relationship text met again is parsed once: both records point at one group.
        let t = stanza("a", "Depends: libc6 (>= 2.34), x\n")
            + "\n"
            + &stanza("b", "Depends: y,\n libc6 (>= 2.34)\n");
        let p = parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions::default()).unwrap();
        assert!(std::ptr::eq(&p[0].depends[0], &p[1].depends[1]));
        assert_eq!(p[1].depends[1].to_string(), "libc6 (>= 2.34)");
        assert_eq!(p[1].depends[0].to_string(), "y");
        assert_eq!(p[1].priority, Priority::Optional);
    }

    #[test]
    fn errors_name_stanza_field_line() {
        let t = stanza("ok", "") + "\n" + &stanza("broken", "Depends: a (>= )\n");
        let e = parse_packages(t.as_bytes(), &origin(), "idx", &ParseOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("idx, line 15") && e.contains("broken") && e.contains("Depends"), "{e}");
        let t = stanza("nosha", "").replace("SHA256: ", "MD5sum: ");
        let e = parse_packages(t.as_bytes(), &origin(), "idx", &ParseOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing SHA256"), "{e}");
        for (path, ok) in [
            ("pool/a..b/x.deb", true),
            ("pool/..a/x...deb", true),
            ("..", false),
            ("pool/../x.deb", false),
            ("pool/x/..", false),
            ("pool/x y.deb", false),
            ("pool/\u{e9}.deb", false),
        ] {
            assert_eq!(safe_path_bytes(path.as_bytes()), ok, "{path}");
        }
        // A `..` component at every offset, and generated paths up to 80 bytes with dots
        // touching and bad bytes here and there.
        let mut seed = 9u64;
        for offset in 0..40 {
            let pad = "a".repeat(offset);
            assert!(!safe_path_bytes(format!("{pad}/../b").as_bytes()), "{offset}");
            assert!(safe_path_bytes(format!("{pad}/..b/.c").as_bytes()), "{offset}");
        }
        let mut good = 0;
        for len in 0..80 {
            for _ in 0..40 {
                let path: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let r = (seed >> 56) as usize;
                        match r % 64 {
                            0 => b' ',
                            1 => 0x7f,
                            2 => 0xc3,
                            _ => b"aaaaaa...//"[r % 11],
                        }
                    })
                    .collect();
                let want = path.iter().all(u8::is_ascii_graphic)
                    && path.split(|&b| b == b'/').all(|c| c != b"..");
                assert_eq!(safe_path_bytes(&path), want, "{:?}", String::from_utf8_lossy(&path));
                good += usize::from(want && len > 32);
            }
        }
        assert!(good > 50, "{good}");
        let t = stanza("evil", "").replace("pool/evil.deb", "../../etc/passwd");
        assert!(parse_packages(t.as_bytes(), &origin(), "i", &ParseOptions::default()).is_err());
        for bad in ["Package foo\n", " cont\n", "Package: a\nPackage: b\n"] {
            assert!(
                parse_packages(bad.as_bytes(), &origin(), "i", &ParseOptions::default()).is_err()
            );
        }
    }

    #[test]
    fn fast_relation_path_agrees_with_general_parser() {
        for t in [
            "a",
            "libc6 (>= 2.34), libssl3 (>= 3.0.0)",
            "debconf (>= 0.5) | debconf-2.0, perl:any, libfoo:amd64 (<< 1:2~rc1-1)",
            " a ,\n b|c ( = 1.0-1 ) ",
            "python3:native (>= 3.11~), x (<= 2), y (>> 0)",
            "a,",
            "a (<1.0)",
            "a [amd64]",
            "a <!nocheck>",
            "a (>= 1 0)",
            "",
            "Foo_bar",
            "a:",
            "a | | b",
            "libboost-filesystem1.74.0 (>= 1.74.0) | libboost-filesystem1.74.0-dev, x",
            "a | libreoffice-style-elementary-extra, libreoffice-help-common-extra-long",
            "libreoffice-help-common-extra-long | b [amd64]",
        ] {
            let general = parse_relations("Depends", t).ok();
            if let Some(fast) = fast_relations(t) {
                assert_eq!(Some(fast), general, "{t:?}");
            }
            let general = parse_relation_list("Provides", t).ok();
            if let Some(fast) = fast_relation_list(t) {
                assert_eq!(Some(fast), general, "{t:?}");
            }
        }
        assert!(fast_relations("a (<1.0)").is_none());
        assert!(fast_relations("a, b (= 1)").is_some());
    }

    /// Every record's relationship fields, as the general parser reads the stanza's text: the
    /// fast path (field split as its line is met, groups and relations shared by their text,
    /// long names packed and handed out at the end, fields with continuation lines split
    /// again) changes nothing.
    #[test]
    fn records_agree_with_general_parser() {
        let long = |i: usize| format!("lib-a-rather-long-package-name-{}", i % 37);
        let values = |i: usize| -> [String; 4] {
            [
                format!("libc6 (>= 2.{}), {} (= {i}-1) | b{}", i % 5, long(i), i % 3),
                format!("{}, {}:any | {}", long(i + 1), long(i * 7), long(i * 3)),
                // The fast path gives up on the second group, after it met a long name.
                format!("x{}, {} | c{} [amd64]", i % 4, long(i), i % 4),
                format!("{} (>= 1),\n {}", long(i * 5), long(i + 2)),
            ]
        };
        let mut t = String::new();
        for i in 0..3000 {
            let v = values(i);
            let extra = format!(
                "Depends: {}\nRecommends: {}\nConflicts: {}\nBreaks: {}\nProvides: {}\n",
                v[i % 4],
                v[(i + 1) % 4],
                v[(i + 2) % 4].replace(" | ", ", "),
                v[(i + 3) % 4].replace(" | ", ", "),
                long(i + 11)
            );
            t += &stanza(&format!("p{i}"), &extra);
            t += "\n";
        }
        for threads in [1, 3] {
            let pkgs =
                parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions { threads }).unwrap();
            assert_eq!(pkgs.len(), 3000);
            for (i, p) in pkgs.iter().enumerate() {
                let v = values(i);
                let flat = |s: &str| parse_relation_list("Conflicts", &s.replace(" | ", ", "));
                let want_provides = parse_relation_list("Provides", &long(i + 11)).unwrap();
                assert_eq!(p.depends.to_vec(), parse_relations("Depends", &v[i % 4]).unwrap());
                assert_eq!(
                    p.recommends.to_vec(),
                    parse_relations("Recommends", &v[(i + 1) % 4]).unwrap()
                );
                assert_eq!(p.conflicts.to_vec(), flat(&v[(i + 2) % 4]).unwrap());
                assert_eq!(p.breaks.to_vec(), flat(&v[(i + 3) % 4]).unwrap());
                assert_eq!(p.provides.to_vec(), want_provides);
                assert!(p.pre_depends.is_empty() && p.replaces.is_empty());
            }
        }
    }

    /// Newlines from 64-byte bit masks are the newlines, in order, for any length and
    /// alignment of the input (whole blocks, a partial last block, none at all).
    #[test]
    fn newlines_are_memchr_newlines() {
        let mut seed = 11u64;
        let bytes: Vec<u8> = (0..700)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if (seed >> 60) < 3 { b'\n' } else { b'a' + (seed >> 59) as u8 % 26 }
            })
            .collect();
        for start in [0, 1, 7, 63, 64, 65] {
            for len in (0..bytes.len() - start).step_by(13).chain([0, 64, 128, 129]) {
                let data = &bytes[start..start + len];
                let want: Vec<usize> = memchr::memchr_iter(b'\n', data).collect();
                assert_eq!(Newlines::new(data).collect::<Vec<_>>(), want, "{start} {len}");
            }
        }
        assert_eq!(Newlines::new(&[b'\n'; 128]).count(), 128);
    }

    /// One pass that finds an item's comma and hashes it gives what finding the comma,
    /// trimming and hashing one after another gives.
    #[test]
    fn next_item_is_find_trim_hash() {
        let mut seed = 7u64;
        let alphabet = b"ab,, (>=)|\t\n\r:~-0123456789";
        for len in 0..200 {
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            for end in [text.len(), text.len().saturating_sub(3)] {
                let mut i = 0;
                loop {
                    let comma = find_byte::<b','>(&text, i, end);
                    let (s, e) = trim_span(&text, i, comma);
                    let want = (s, e, hash_span(&text, s, e), comma);
                    assert_eq!(next_item(&text, i, end), want, "{:?} at {i}", text);
                    if comma == end {
                        break;
                    }
                    i = comma + 1;
                }
            }
        }
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let mut t = String::new();
        for i in 0..30_000 {
            t += &stanza(&format!("p{i}"), &format!("Depends: q{i} (>= {i})\n"));
            t += "\n";
        }
        // Several pieces for each of three threads, so helpers' records are merged back.
        assert!(t.len() / MIN_PIECE >= 12, "{}", t.len());
        let one =
            parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions { threads: 1 }).unwrap();
        for n in [2, 3, 7, usize::MAX] {
            let many =
                parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions { threads: n }).unwrap();
            assert_eq!(many.len(), 30_000);
            for (a, b) in one.iter().zip(&many) {
                assert_eq!((&a.name, &a.depends), (&b.name, &b.depends));
                assert_eq!(a.filename, b.filename);
            }
        }
        // File names are packed into shared buffers of many records each: every record
        // still gets its own.
        for (i, p) in one.iter().enumerate() {
            assert_eq!(&*p.filename, format!("pool/p{i}.deb"));
        }
        // An error in a late piece still reports the right line.
        let bad = t.clone() + "Package: z\nVersion: !\n";
        let e = parse_packages(bad.as_bytes(), &origin(), "t", &ParseOptions { threads: 4 })
            .unwrap_err()
            .to_string();
        let want = t.matches('\n').count() + 2;
        assert!(e.contains(&format!("line {want}")), "{e} (want {want})");
        // With two bad stanzas, the first is reported whoever parses which piece first.
        let cut = t[..t.len() * 2 / 5].rfind("\n\n").unwrap() + 2;
        let two_bad = format!("{}Package: y\nVersion: ?\n\n{}", &t[..cut], bad.get(cut..).unwrap());
        let want = t[..cut].matches('\n').count() + 2;
        for n in [1, 2, 3, 7] {
            let e =
                parse_packages(two_bad.as_bytes(), &origin(), "t", &ParseOptions { threads: n })
                    .unwrap_err()
                    .to_string();
            assert!(
                e.contains(&format!("line {want}")) && e.contains("package y"),
                "{e} (want {want})"
            );
        }
    }

    /// The front and the back of the queue, taken from several threads at once, share out
    /// every piece exactly once, and the front's pieces are a prefix.
    #[test]
    fn piece_queue_shares_out_every_piece_once() {
        for n in [0, 1, 2, 5, 64, 1000] {
            let queue = PieceQueue::new(n);
            let (front, mut back) = std::thread::scope(|s| {
                let helpers: Vec<_> = (0..3)
                    .map(|_| {
                        s.spawn(|| std::iter::from_fn(|| queue.take_back()).collect::<Vec<_>>())
                    })
                    .collect();
                let front: Vec<_> = std::iter::from_fn(|| queue.take_front()).collect();
                let back: Vec<_> = helpers.into_iter().flat_map(|h| h.join().unwrap()).collect();
                (front, back)
            });
            assert_eq!(front, (0..front.len()).collect::<Vec<_>>());
            back.sort_unstable();
            assert_eq!(back, (front.len()..n).collect::<Vec<_>>());
        }
    }

    /// The table lookup finds every field by its canonical name, wherever the line is (also
    /// within 16 bytes of the input's end), and agrees with the case-insensitive comparison
    /// on other spellings and on unknown names.
    #[test]
    fn field_ids_by_table_and_by_comparison_agree() {
        for (name, id) in KNOWN_FIELDS {
            let lower = name.to_ascii_lowercase();
            // Same length and first eight bytes, another last byte.
            let last_changed = format!("{}q", &name[..name.len() - 1]);
            let cases = [
                (name.to_owned(), id),
                (lower, id),
                (format!("{name}x"), F_OTHER),
                (last_changed, F_OTHER),
            ];
            for (text, want) in cases {
                for tail in ["", ": v\n", ": a long enough value\n"] {
                    let line = format!("{text}{tail}");
                    let got = field_id(line.as_bytes(), 0, text.len());
                    assert_eq!(got, want, "{line:?}");
                    assert_eq!(field_id_folded(text.as_bytes()), want, "{text:?}");
                }
            }
        }
        for unknown in ["", "X", "Ghc-Package", "Packages", "Descriptio", "Gstreamer-Uri-Sources"] {
            let line = format!("{unknown}: some value here\n");
            assert_eq!(field_id(line.as_bytes(), 0, unknown.len()), F_OTHER, "{unknown:?}");
        }
    }

    /// Runs of name and version bytes end where a byte-at-a-time loop ends them, at any
    /// limit and near the input's end.
    #[test]
    fn class_runs_are_byte_loops() {
        let alphabet = b"ab+-.~:Z9 ,|()\n";
        let mut seed = 3u64;
        let data: Vec<u8> = (0..400)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let c = (seed >> 60) as usize;
                if c < 10 { b'a' } else { alphabet[c % alphabet.len()] }
            })
            .collect();
        for i in 0..data.len() {
            for limit in [i, i + 1, i + 7, i + 16, i + 40, data.len()] {
                let limit = limit.min(data.len());
                let by_byte = |class: fn(u8) -> bool| {
                    i + data[i..limit].iter().take_while(|&&c| class(c)).count()
                };
                assert_eq!(
                    class_run_end::<{ scan::NAME }>(&data, i, limit),
                    by_byte(scan::in_class::<{ scan::NAME }>)
                );
                assert_eq!(
                    class_run_end::<{ scan::VERSION }>(&data, i, limit),
                    by_byte(scan::in_class::<{ scan::VERSION }>)
                );
            }
        }
    }
}
