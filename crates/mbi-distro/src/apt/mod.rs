//! Debian and Ubuntu: apt repositories, dpkg versions and relations.

pub mod ar;
pub mod deb;
pub mod dpkg_db;
pub mod install;
pub mod layering;
pub mod package;
pub mod relation;
pub mod scripts;
pub mod version;

pub use package::{BinaryPackage, IndexOrigin, MultiArch, Priority};
pub use relation::{Alternatives, ArchQualifier, PackageName, Relation, VersionOp};
pub use version::DebVersion;

pub mod control;
pub mod index;
pub mod release;
pub mod signature;
pub mod sources;
