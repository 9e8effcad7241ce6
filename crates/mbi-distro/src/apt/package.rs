//! One binary package as a `Packages` index describes it.

use std::sync::Arc;

use mbi_core::Digest;

use crate::apt::intern::SharedStr;
use crate::apt::relation::{Alternatives, PackageName, Relation, SharedSlice};
use crate::apt::version::DebVersion;

/// `Multi-Arch` of a package.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MultiArch {
    /// No `Multi-Arch` field.
    #[default]
    No,
    /// `same`: co-installable with other architectures' instances.
    Same,
    /// `foreign`: satisfies dependencies of packages of any architecture.
    Foreign,
    /// `allowed`: satisfies `:any` dependencies.
    Allowed,
}

/// `Priority` of a package.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// `required`
    Required,
    /// `important`
    Important,
    /// `standard`
    Standard,
    /// `optional` (also the default when absent)
    #[default]
    Optional,
    /// `extra` (obsolete)
    Extra,
}

/// A SHA-256 digest held as its 32 bytes (no allocation): the `SHA256` of a package.
///
/// It orders as the [`Digest`] it stands for, displays as one (`sha256:<hex>`) and compares
/// equal to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest's lower-case hex text.
    pub fn hex(&self) -> String {
        mbi_core::digest::to_hex(&self.0)
    }

    /// The same digest as a [`Digest`].
    pub fn to_digest(&self) -> Digest {
        Digest::from_sha256_bytes(&self.0)
    }

    /// `digest` held inline, if it is a SHA-256 digest.
    pub fn from_digest(digest: &Digest) -> Option<Sha256> {
        if digest.algorithm() != mbi_core::digest::Algorithm::Sha256 {
            return None;
        }
        Sha256::from_hex(digest.hex().as_bytes())
    }

    /// 64 hex digits (either case).
    #[inline]
    pub fn from_hex(hex: &[u8]) -> Option<Sha256> {
        let hex: &[u8; 64] = hex.try_into().ok()?;
        // Arithmetic instead of a table and no early exit, so the compiler vectorizes it.
        let mut nibbles = [0u8; 64];
        let mut ok = true;
        for (n, &c) in nibbles.iter_mut().zip(hex) {
            let digit = c.wrapping_sub(b'0');
            let letter = (c | 0x20).wrapping_sub(b'a');
            ok &= (digit < 10) | (letter < 6);
            *n = if digit < 10 { digit } else { letter.wrapping_add(10) };
        }
        let mut raw = [0u8; 32];
        for (r, [h, l]) in raw.iter_mut().zip(nibbles.as_chunks::<2>().0) {
            *r = h << 4 | (l & 15);
        }
        ok.then_some(Sha256(raw))
    }
}

impl From<Sha256> for Digest {
    fn from(s: Sha256) -> Digest {
        s.to_digest()
    }
}

impl From<&Sha256> for Digest {
    fn from(s: &Sha256) -> Digest {
        s.to_digest()
    }
}

impl PartialEq<Digest> for Sha256 {
    fn eq(&self, other: &Digest) -> bool {
        other.algorithm() == mbi_core::digest::Algorithm::Sha256 && other.hex() == self.hex()
    }
}

impl PartialEq<Sha256> for Digest {
    fn eq(&self, other: &Sha256) -> bool {
        other == self
    }
}

impl std::fmt::Display for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Which index a package came from: the repository, suite and component, as configured.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct IndexOrigin {
    /// The repository base URI, e.g. `http://mirror.example/debian/`.
    pub uri: String,
    /// The suite (distribution) as configured, e.g. `bookworm-security`.
    pub suite: String,
    /// The component, e.g. `main`.
    pub component: String,
}

/// A binary package stanza from a `Packages` index, with its relationships parsed.
///
/// Records from one parse share storage: relationship fields are ranges of one vector per
/// chunk of the index ([`SharedSlice`]), and long names are shared ([`SharedStr`]).
#[derive(Debug, Clone)]
pub struct BinaryPackage {
    /// `Package`
    pub name: PackageName,
    /// `Version`
    pub version: DebVersion,
    /// `Architecture` (`amd64`, `arm64`, `all`, …)
    pub architecture: SharedStr,
    /// `Multi-Arch`
    pub multi_arch: MultiArch,
    /// `Essential: yes`
    pub essential: bool,
    /// `Priority`
    pub priority: Priority,
    /// `Section`
    pub section: Option<SharedStr>,
    /// `Source` name (defaults to the package name).
    pub source: SharedStr,
    /// `Source` version when given in parentheses (defaults to the package version).
    pub source_version: Option<DebVersion>,
    /// `Pre-Depends`
    pub pre_depends: SharedSlice<Alternatives>,
    /// `Depends`
    pub depends: SharedSlice<Alternatives>,
    /// `Recommends`
    pub recommends: SharedSlice<Alternatives>,
    /// `Conflicts`
    pub conflicts: SharedSlice<Relation>,
    /// `Breaks`
    pub breaks: SharedSlice<Relation>,
    /// `Provides` (may carry `(= version)`)
    pub provides: SharedSlice<Relation>,
    /// `Replaces`
    pub replaces: SharedSlice<Relation>,
    /// `Filename`: path of the .deb relative to the repository base URI. (The parser packs
    /// the file names of about a thousand records into one shared buffer.)
    pub filename: SharedStr,
    /// `Size` of the .deb in bytes.
    pub size: u64,
    /// `SHA256` of the .deb (stored inline; [`Sha256::to_digest`] gives a [`Digest`]).
    pub sha256: Sha256,
    /// `Installed-Size` in KiB.
    pub installed_size: Option<u64>,
    /// The index this stanza came from.
    pub origin: Arc<IndexOrigin>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_both_cases_and_digest_agreement() {
        let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let s = Sha256::from_hex(lower.as_bytes()).unwrap();
        assert_eq!(s.hex(), lower);
        assert_eq!(Sha256::from_hex(lower.to_uppercase().as_bytes()), Some(s));
        let d = Digest::sha256(b"");
        assert_eq!((s, s.to_string()), (Sha256::from_digest(&d).unwrap(), d.to_string()));
        assert_eq!(s, d);
        assert_eq!(d, s);
        assert_eq!(s.to_digest(), d);
        for bad in ['g', 'G', ' ', '/', ':', '`', '@', '\u{7f}'] {
            let mut t = lower.to_owned();
            t.replace_range(10..11, &bad.to_string());
            assert_eq!(Sha256::from_hex(t.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(Sha256::from_hex(&lower.as_bytes()[1..]), None);
        // Orders as the digests' hex text does.
        let mut digests: Vec<Digest> = (0..50u8).map(|i| Digest::sha256(&[i])).collect();
        let mut ours: Vec<Sha256> = digests.iter().filter_map(Sha256::from_digest).collect();
        digests.sort();
        ours.sort();
        assert!(ours.iter().zip(&digests).all(|(a, b)| a == b));
    }
}
