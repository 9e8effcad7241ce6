//! Validated relative paths inside a file tree or layer.

use std::borrow::Borrow;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result, lossy};

/// A normalised path relative to the root of a file tree, kept as raw bytes.
///
/// Invariants: at least one component; components separated by single `/`; no empty, `.` or
/// `..` component; no NUL byte; no leading or trailing `/`. The root itself is not a `TreePath`.
///
/// Constructors normalise harmless spellings (`./a//b/`, `/usr/bin`) and reject anything that
/// could climb out of the tree (`..`). Ordering is plain byte order, which is the order in which
/// layers list their entries (parents always sort before their descendants).
///
/// ```
/// use mbi_layer::TreePath;
/// let p = TreePath::new("./usr//bin/").unwrap();
/// assert_eq!(p.as_bytes(), b"usr/bin");
/// assert_eq!(p.parent().unwrap().as_bytes(), b"usr");
/// assert!(TreePath::new("usr/../../etc").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreePath(Vec<u8>);

impl TreePath {
    /// Parses and normalises `path` (a `&str`, `&[u8]`, `Vec<u8>`, …).
    pub fn new(path: impl AsRef<[u8]>) -> Result<TreePath> {
        let raw = path.as_ref();
        let bad = |reason| Error::InvalidPath { path: lossy(raw), reason };
        if raw.contains(&0) {
            return Err(bad("contains a NUL byte"));
        }
        let mut out = Vec::with_capacity(raw.len());
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => continue,
                b".." => return Err(bad("contains a '..' component")),
                c => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(c);
                }
            }
        }
        if out.is_empty() {
            return Err(bad("names the root (empty after normalisation)"));
        }
        Ok(TreePath(out))
    }

    /// Builds a path from a single file name (no `/`).
    pub fn from_name(name: impl AsRef<[u8]>) -> Result<TreePath> {
        let name = name.as_ref();
        if name.contains(&b'/') {
            return Err(Error::InvalidPath { path: lossy(name), reason: "a name contains '/'" });
        }
        TreePath::new(name)
    }

    /// The path as bytes, e.g. `usr/bin/env`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as a relative [`Path`].
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0))
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The parent path, or `None` for a top-level entry (whose parent is the root).
    pub fn parent(&self) -> Option<TreePath> {
        self.0.iter().rposition(|&b| b == b'/').map(|i| TreePath(self.0[..i].to_vec()))
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.0.split(|&b| b == b'/')
    }

    /// Number of components.
    pub fn depth(&self) -> usize {
        self.0.iter().filter(|&&b| b == b'/').count() + 1
    }

    /// Appends a relative path (normalised like [`TreePath::new`]).
    pub fn join(&self, rest: impl AsRef<[u8]>) -> Result<TreePath> {
        let rest = rest.as_ref();
        let mut v = Vec::with_capacity(self.0.len() + 1 + rest.len());
        v.extend_from_slice(&self.0);
        v.push(b'/');
        v.extend_from_slice(rest);
        TreePath::new(v)
    }

    /// Whether `self` is `other` or lies below it (component-wise).
    pub fn starts_with(&self, other: &TreePath) -> bool {
        self.0.starts_with(&other.0)
            && (self.0.len() == other.0.len() || self.0.get(other.0.len()) == Some(&b'/'))
    }

    /// Every proper ancestor, outermost first (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> impl Iterator<Item = TreePath> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'/')
            .map(move |(i, _)| TreePath(self.0[..i].to_vec()))
    }

    /// Builds a path from bytes already known to satisfy the invariants.
    pub(crate) fn from_normalised(bytes: Vec<u8>) -> TreePath {
        debug_assert!(TreePath::new(&bytes).map(|p| p.0 == bytes).unwrap_or(false));
        TreePath(bytes)
    }
}

impl AsRef<[u8]> for TreePath {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `Borrow<[u8]>` is sound because `TreePath`'s `Ord`, `Eq` and `Hash` are those of its bytes;
/// it lets maps keyed by `TreePath` be searched with byte ranges.
impl Borrow<[u8]> for TreePath {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl FromStr for TreePath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TreePath::new(s)
    }
}

impl TryFrom<&str> for TreePath {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        TreePath::new(s)
    }
}

impl TryFrom<&[u8]> for TreePath {
    type Error = Error;
    fn try_from(s: &[u8]) -> Result<Self> {
        TreePath::new(s)
    }
}

impl TryFrom<&Path> for TreePath {
    type Error = Error;
    fn try_from(p: &Path) -> Result<Self> {
        TreePath::new(p.as_os_str().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        for (input, want) in [
            ("a", "a"),
            ("./a//b/", "a/b"),
            ("/usr/bin", "usr/bin"),
            ("a/./b/.", "a/b"),
            ("./.wh.x", ".wh.x"),
            ("...", "..."),
        ] {
            assert_eq!(TreePath::new(input).unwrap().as_bytes(), want.as_bytes(), "{input}");
        }
    }

    #[test]
    fn rejects() {
        for bad in ["", ".", "/", "./", "..", "a/..", "../a", "a/../b", "a\0b"] {
            assert!(TreePath::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(TreePath::from_name("a/b").is_err());
    }

    #[test]
    fn relations() {
        let p = TreePath::new("a/b/c").unwrap();
        assert_eq!(p.file_name(), b"c");
        assert_eq!(p.depth(), 3);
        let anc: Vec<_> = p.ancestors().map(|a| a.to_string()).collect();
        assert_eq!(anc, ["a", "a/b"]);
        assert!(p.starts_with(&TreePath::new("a/b").unwrap()));
        assert!(!TreePath::new("a/bc").unwrap().starts_with(&TreePath::new("a/b").unwrap()));
        assert!(TreePath::new("a").unwrap().parent().is_none());
        // Byte order puts parents before children.
        assert!(TreePath::new("a").unwrap() < TreePath::new("a-b").unwrap());
        assert!(TreePath::new("a-b").unwrap() < TreePath::new("a/b").unwrap());
    }

    proptest::proptest! {
        #[test]
        fn new_is_idempotent(s in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'/', b'.', 0xffu8, b'-']), 0..24)) {
            if let Ok(p) = TreePath::new(&s) {
                let again = TreePath::new(p.as_bytes()).unwrap();
                proptest::prop_assert_eq!(&again, &p);
                proptest::prop_assert!(!p.as_bytes().starts_with(b"/"));
                proptest::prop_assert!(!p.as_bytes().ends_with(b"/"));
                proptest::prop_assert!(p.components().all(|c| !c.is_empty() && c != b"." && c != b".."));
            }
        }
    }
}
