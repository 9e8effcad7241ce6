//! Debian version numbers (`[epoch:]upstream[-revision]`) and dpkg's ordering of them.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A Debian package version, ordered exactly as `dpkg --compare-versions` orders them.
///
/// Equality is dpkg equality: `1.0` and `0:1.0` are equal, and so are `1.0-0` and `1.0-0`;
/// the original spelling is kept for display.
#[derive(Clone)]
pub struct DebVersion {
    text: Box<str>,
    epoch: u32,
    /// Byte offsets of upstream within `text`.
    upstream: (u32, u32),
    /// Byte offset where the revision starts (after the `-`), or `text.len()` if none.
    revision_start: u32,
    has_revision: bool,
}

impl DebVersion {
    /// Parses a version. Accepts what dpkg accepts from package indexes: an optional numeric
    /// epoch, an upstream part of `[A-Za-z0-9.+~:-]` (`:` only with an epoch, `-` only with a
    /// revision), and an optional revision of `[A-Za-z0-9.+~]`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::InvalidVersion { input: s.to_owned(), reason };
        if s.is_empty() {
            return Err(bad("empty version"));
        }
        if s.len() > u32::MAX as usize / 2 {
            return Err(bad("version too long"));
        }
        let (epoch, rest_start) = match s.find(':') {
            Some(i) => {
                let e = &s[..i];
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("epoch is not a number"));
                }
                (e.parse::<u32>().map_err(|_| bad("epoch too large"))?, i + 1)
            }
            None => (0, 0),
        };
        let rest = &s[rest_start..];
        let (up_end, revision_start, has_revision) = match rest.rfind('-') {
            Some(i) => (rest_start + i, rest_start + i + 1, true),
            None => (s.len(), s.len(), false),
        };
        let upstream = &s[rest_start..up_end];
        if upstream.is_empty() {
            return Err(bad("empty upstream version"));
        }
        let ok_up =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'-' | b':');
        if !upstream.bytes().all(ok_up) {
            return Err(bad("invalid character in upstream version"));
        }
        let revision = &s[revision_start..];
        if has_revision
            && (revision.is_empty()
                || !revision
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~')))
        {
            return Err(bad("invalid revision"));
        }
        Ok(DebVersion {
            text: s.into(),
            epoch,
            upstream: (rest_start as u32, up_end as u32),
            revision_start: revision_start as u32,
            has_revision,
        })
    }

    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream version.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0 as usize..self.upstream.1 as usize]
    }

    /// The Debian revision (empty when absent; dpkg treats absent and `0` alike).
    pub fn revision(&self) -> &str {
        &self.text[self.revision_start as usize..]
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the version carries a Debian revision.
    pub fn has_revision(&self) -> bool {
        self.has_revision
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
    let (a, b) = (a.as_bytes(), b.as_bytes());
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
            .then_with(|| compare_part(self.upstream(), other.upstream()))
            .then_with(|| compare_part(self.revision(), other.revision()))
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
        fn norm<H: std::hash::Hasher>(part: &str, state: &mut H) {
            let b = part.as_bytes();
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
        norm(self.upstream(), state);
        norm(self.revision(), state);
    }
}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebVersion({})", self.text)
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
        s.serialize_str(&self.text)
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
}
