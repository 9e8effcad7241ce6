//! Debian and Ubuntu: apt repositories, dpkg versions and relations.

pub mod package;
pub mod relation;
pub mod version;

pub use package::{BinaryPackage, IndexOrigin, MultiArch, Priority};
pub use relation::{Alternatives, ArchQualifier, PackageName, Relation, VersionOp};
pub use version::DebVersion;

pub mod cache;
pub mod control;
pub mod fetch;
pub mod http;
pub mod index;
pub mod release;
pub mod signature;
pub mod sources;
