//! Debian and Ubuntu: apt repositories, dpkg versions and relations.

pub mod package;
pub mod relation;
pub mod resolve;
pub mod variant;
pub mod version;

pub use package::{BinaryPackage, IndexOrigin, MultiArch, Priority};
pub use relation::{Alternatives, ArchQualifier, PackageName, Relation, VersionOp};
pub use resolve::{Request, Resolution, Resolver};
pub use variant::Variant;
pub use version::DebVersion;
