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
        let mut raw = [0u8; 32];
        let mut bad = 0u8;
        for (r, [h, l]) in raw.iter_mut().zip(hex.as_chunks::<2>().0) {
            let (h, l) = (HEX[*h as usize], HEX[*l as usize]);
            bad |= h | l;
            *r = h << 4 | (l & 15);
        }
        (bad & 0xf0 == 0).then_some(Sha256(raw))
    }
}

/// Hex digit values; 0xff for anything else.
static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0xff,
        };
        c += 1;
    }
    t
};

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
