//! Debian version numbers (`[epoch:]upstream[-revision]`) and dpkg's ordering of them.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::apt::intern::SharedStr;
use crate::apt::scan;

/// A Debian package version, ordered exactly as `dpkg --compare-versions` orders them.
///
/// Equality is dpkg equality: `1.0` and `0:1.0` are equal, and so are `1.0-0` and `1.0-0`;
/// the original spelling is kept for display.
///
/// Versions of up to 22 bytes (about 96 % of a Debian `Packages` index) are stored inline, so
/// parsing one allocates nothing; the value is 32 bytes either way.
#[derive(Clone)]
pub struct DebVersion {
    /// Only ASCII (checked by [`DebVersion::from_ascii`]).
    text: SharedStr,
    epoch: u32,
    /// Byte offset where upstream starts (after the epoch's `:`, else 0).
    up_start: u16,
    /// Byte offset where upstream ends: the last `-`, or the length when there is no revision.
    up_end: u16,
}

impl DebVersion {
    /// Parses a version. Accepts what dpkg accepts from package indexes: an optional numeric
    /// epoch, an upstream part of `[A-Za-z0-9.+~:-]` (`:` only with an epoch, `-` only with a
    /// revision), and an optional revision of `[A-Za-z0-9.+~]`. At most 65,535 bytes.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::from_ascii(s.as_bytes())
            .map_err(|reason| Error::InvalidVersion { input: s.to_owned(), reason })
    }

    /// [`DebVersion::parse`] on bytes: anything but the ASCII characters above is rejected, so
    /// the bytes need no UTF-8 validation first. The error is the reason.
    pub(crate) fn from_ascii(b: &[u8]) -> Result<Self, &'static str> {
        Self::from_span(b, 0, b.len())
    }

    /// [`DebVersion::from_ascii`] on `data[start..end]` (`data` lets a short version be copied
    /// with a fixed-size move).
    #[inline]
    pub(crate) fn from_span(data: &[u8], start: usize, end: usize) -> Result<Self, &'static str> {
        let b = data.get(start..end).ok_or("empty version")?;
        if b.is_empty() {
            return Err("empty version");
        }
        if b.len() > u16::MAX as usize {
            return Err("version too long");
        }
        // Every byte must be allowed in upstream; find the first `:`, the last `-` and the
        // last `:`. Sixteen bytes at once when the version fits in them (nearly all do).
        let block = data.get(start..).and_then(|d| d.first_chunk::<16>());
        let (all, first_colon, last_colon, last_dash) = match block {
            Some(block) if b.len() <= 16 => {
                let len = (1u32 << b.len()) - 1;
                let all = scan::class_mask::<{ scan::VERSION }>(block) & len == len;
                let colons = scan::eq_mask(block, b':') & len;
                let dashes = scan::eq_mask(block, b'-') & len;
                let last = |m: u32| (31 - m.leading_zeros()) as usize;
                (
                    all,
                    if colons == 0 { usize::MAX } else { colons.trailing_zeros() as usize },
                    if colons == 0 { 0 } else { last(colons) },
                    if dashes == 0 { usize::MAX } else { last(dashes) },
                )
            }
            _ => {
                let mut all = true;
                let (mut first_colon, mut last_colon, mut last_dash) =
                    (usize::MAX, 0usize, usize::MAX);
                for (i, &c) in b.iter().enumerate() {
                    all &= scan::in_class::<{ scan::VERSION }>(c);
                    if c == b':' {
                        if first_colon == usize::MAX {
                            first_colon = i;
                        }
                        last_colon = i;
                    } else if c == b'-' {
                        last_dash = i;
                    }
                }
                (all, first_colon, last_colon, last_dash)
            }
        };
        let (epoch, up_start) = if first_colon == usize::MAX {
            (0, 0)
        } else {
            let e = &b[..first_colon];
            if e.is_empty() || !e.iter().all(u8::is_ascii_digit) {
                return Err("epoch is not a number");
            }
            let mut n: u32 = 0;
            for &d in e {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u32::from(d - b'0')))
                    .ok_or("epoch too large")?;
            }
            (n, first_colon + 1)
        };
        let has_revision = last_dash != usize::MAX && last_dash >= up_start;
        let up_end = if has_revision { last_dash } else { b.len() };
        if up_end == up_start {
            return Err("empty upstream version");
        }
        if !all {
            // Find which part holds the bad byte, for the message.
            let up_ok = b[up_start..up_end].iter().all(|&c| scan::in_class::<{ scan::VERSION }>(c));
            return Err(if up_ok {
                "invalid revision"
            } else {
                "invalid character in upstream version"
            });
        }
        if has_revision && (last_dash + 1 == b.len() || last_colon > last_dash) {
            return Err("invalid revision");
        }
        let text = match SharedStr::inline_span(data, start, end) {
            Some(t) => t,
            // Checked above: only ASCII.
            None => SharedStr::new(std::str::from_utf8(b).map_err(|_| "invalid version")?),
        };
        Ok(DebVersion { text, epoch, up_start: up_start as u16, up_end: up_end as u16 })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        self.text.as_str().get(self.up_start as usize..self.up_end as usize).unwrap_or_default()
    }

    /// The Debian revision (empty when absent; dpkg treats absent and `0` alike).
    pub fn revision(&self) -> &str {
        self.text.as_str().get(self.revision_start()..).unwrap_or_default()
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// Whether the version carries a Debian revision.
    pub fn has_revision(&self) -> bool {
        (self.up_end as usize) < self.text.len()
    }

    #[inline]
    fn revision_start(&self) -> usize {
        let len = self.text.len();
        if (self.up_end as usize) < len { self.up_end as usize + 1 } else { len }
    }

    #[inline]
    fn upstream_bytes(&self) -> &[u8] {
        self.text.as_bytes().get(self.up_start as usize..self.up_end as usize).unwrap_or_default()
    }

    #[inline]
    fn revision_bytes(&self) -> &[u8] {
        self.text.as_bytes().get(self.revision_start()..).unwrap_or_default()
    }
}

/// dpkg's character order: `~` sorts before everything, even the end of the string; letters
/// sort before non-letters.
#[inline]
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream version or a revision.
pub fn compare_part(a: &str, b: &str) -> Ordering {
    compare_bytes(a.as_bytes(), b.as_bytes())
}

fn compare_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        let mut first_diff: i32 = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = a[i] as i32 - b[j] as i32;
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_bytes(self.upstream_bytes(), other.upstream_bytes()))
            .then_with(|| compare_bytes(self.revision_bytes(), other.revision_bytes()))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for DebVersion {}

impl std::hash::Hash for DebVersion {
    /// Hashes a normal form consistent with dpkg equality. dpkg compares a part as a sequence
    /// of (non-digit run, number) pairs, a missing pair counting as ("", 0); so the normal form
    /// is that sequence with leading zeros dropped and trailing ("", 0) pairs removed.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        fn norm<H: std::hash::Hasher>(b: &[u8], state: &mut H) {
            let mut i = 0;
            let mut pending_empty = 0usize;
            while i < b.len() {
                let s = i;
                while i < b.len() && !b[i].is_ascii_digit() {
                    i += 1;
                }
                let text = &b[s..i];
                while i < b.len() && b[i] == b'0' {
                    i += 1;
                }
                let d = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let num = &b[d..i];
                if text.is_empty() && num.is_empty() {
                    pending_empty += 1;
                    continue;
                }
                for _ in 0..pending_empty {
                    state.write_u8(0xff);
                    state.write_u8(0xff);
                }
                pending_empty = 0;
                state.write(text);
                state.write_u8(0xff);
                state.write(num);
                state.write_u8(0xff);
            }
            state.write_u8(0xfe);
        }
        self.epoch.hash(state);
        norm(self.upstream_bytes(), state);
        norm(self.revision_bytes(), state);
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebVersion({})", self.as_str())
    }
}

impl FromStr for DebVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        DebVersion::parse(s)
    }
}

impl serde::Serialize for DebVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for DebVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DebVersion::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> DebVersion {
        DebVersion::parse(s).unwrap()
    }

    #[test]
    fn dpkg_examples() {
        // (a, b, expected a.cmp(b)), cases from dpkg's own test-suite and policy.
        let cases = [
            ("1.0", "1.0", Ordering::Equal),
            ("0:1.0", "1.0", Ordering::Equal),
            ("1.0-0", "1.0", Ordering::Equal),
            ("1.0", "1.0-1", Ordering::Less),
            ("1:0.1", "2.0", Ordering::Greater),
            ("1.0~rc1", "1.0", Ordering::Less),
            ("1.0~~", "1.0~", Ordering::Less),
            ("1.0~", "1.0", Ordering::Less),
            ("1.0", "1.0a", Ordering::Less),
            ("1.0a", "1.0+", Ordering::Less),
            ("1.0+", "1.0.", Ordering::Less),
            ("1.01", "1.1", Ordering::Equal),
            ("1.10", "1.9", Ordering::Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Ordering::Less),
            ("1.2.3-1ubuntu1", "1.2.3-1", Ordering::Greater),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Ordering::Less),
            ("1:2.38.1-5+deb12u3", "2.39", Ordering::Greater),
            ("0.0", "0", Ordering::Greater),
            ("a", "1", Ordering::Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(v(a).cmp(&v(b)), want, "{a} vs {b}");
            assert_eq!(v(b).cmp(&v(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn parts() {
        let x = v("1:2.3-4-5");
        assert_eq!((x.epoch(), x.upstream(), x.revision()), (1, "2.3-4", "5"));
        let y = v("2.3");
        assert_eq!((y.epoch(), y.upstream(), y.revision()), (0, "2.3", ""));
    }

    #[test]
    fn rejects() {
        for bad in ["", ":1", "a:1", "1:", "1.0-", "1 0", "1.0-a_b", "99999999999:1"] {
            assert!(DebVersion::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hash_consistent_with_eq() {
        use std::collections::HashSet;
        let s: HashSet<DebVersion> = ["1.0", "0:1.0", "1.0-0", "1.00", "01.0"].map(v).into();
        assert_eq!(s.len(), 1);
        let t: HashSet<DebVersion> = ["1a", "1a0", "1a0b", "1ab", "1.0~", "1.0"].map(v).into();
        assert_eq!(t.len(), 5, "{t:?}");
    }

    proptest::proptest! {
        #[test]
        fn total_order(a in "[0-9]{1,2}(:)?[0-9a-z.+~]{1,6}(-[0-9a-z.+~]{1,4})?",
                       b in "[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,4})?") {
            if let (Ok(a), Ok(b)) = (DebVersion::parse(&a), DebVersion::parse(&b)) {
                proptest::prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
                proptest::prop_assert_eq!(a.cmp(&a), Ordering::Equal);
            }
        }
    }

    /// A version read from a longer input (sixteen bytes at once) parses exactly as the same
    /// version on its own (one byte at a time), errors included.
    #[test]
    fn block_and_byte_scans_agree() {
        let alphabet = b"0123456789::--..++~~aZ! _";
        let mut seed = 5u64;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = (seed >> 59) as usize % 17;
            let v: Vec<u8> = (0..len)
                .map(|k| alphabet[(seed >> (k * 3 % 50)) as usize % alphabet.len()])
                .collect();
            let mut padded = v.clone();
            padded.extend_from_slice(b":-~ 0123456789abcdef");
            let show = |r: Result<DebVersion, &'static str>| {
                r.map(|v| {
                    (
                        v.as_str().to_owned(),
                        v.epoch(),
                        v.upstream().to_owned(),
                        v.revision().to_owned(),
                    )
                })
            };
            assert_eq!(
                show(DebVersion::from_span(&padded, 0, len)),
                show(DebVersion::from_ascii(&v)),
                "{:?}",
                String::from_utf8_lossy(&v)
            );
        }
    }
}
