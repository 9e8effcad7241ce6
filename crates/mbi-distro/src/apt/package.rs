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
    /// `SHA256` of the .deb.
    pub sha256: Digest,
    /// `Installed-Size` in KiB.
    pub installed_size: Option<u64>,
    /// The index this stanza came from.
    pub origin: Arc<IndexOrigin>,
}
