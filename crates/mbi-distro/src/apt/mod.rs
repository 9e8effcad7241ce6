//! Debian and Ubuntu: apt repositories, dpkg versions and relations.
//!
//! The metadata and download half, in pipeline order:
//!
//! 1. [`sources`]: deb822 `.sources` and one-line `sources.list` into [`sources::SourceEntry`]
//!    values ([`sources::load_host_sources`] reads a host's files below a root you pass).
//! 2. [`signature`]: keyrings and `InRelease` / `Release.gpg` verification with apt's key
//!    policy (validity at signing time, expiry, revocation, subkey binding, no SHA-1).
//! 3. [`release`]: the verified `Release` text, its dates and index hashes.
//! 4. [`index`]: the fast `Packages` parser into [`BinaryPackage`] records
//!    ([`control`] is the general deb822 parser for small documents).
//! 5. [`fetch`]: [`fetch::Apt::refresh`] fetches, verifies, caches ([`cache`]) and parses
//!    every configured index into a [`fetch::RepositorySnapshot`] with per-index provenance;
//!    [`fetch::Apt::fetch_packages`] downloads `.deb`s into the content-addressed cache,
//!    verified against the signed index, resuming interrupted downloads ([`http`]).
//!
//! The install half, from downloaded `.deb` files to an image's file tree:
//!
//! 6. [`ar`] and [`deb`]: streaming, bounds-checked readers; a package's data is decompressed
//!    once into a spool file and described entry by entry, paths checked.
//! 7. [`install`]: [`install::Installer`] places packages (in install order) into an
//!    [`mbi_layer::FileTree`] with dpkg's rules (merged-/usr, `Replaces`, shared `Multi-Arch:
//!    same` files), applies maintainer-script effects ([`scripts`]: emulated, or run for real
//!    in the new root and normalised) and writes the package database ([`dpkg_db`]: full, or
//!    distroless' `status.d`).
//! 8. [`layering`]: one layer, one per source package, or a budget of N, with the same rootfs.
//!
//! ```no_run
//! use mbi_distro::apt::install::{Flavour, InstallOptions, Installer, PackageFile};
//! use mbi_distro::apt::layering::{Layering, split};
//! # fn main() -> Result<(), mbi_distro::Error> {
//! let packages = [PackageFile::new("base-files_12.4_amd64.deb"), PackageFile::new("tzdata_2024a_all.deb")];
//! let options = InstallOptions::new("amd64", "/dev/shm").flavour(Flavour::Distroless).source_date_epoch(1_700_000_000);
//! let installation = Installer::new(options).install(&packages)?;
//! for note in &installation.report {
//!     println!("{} {}: {:?} ({})", note.package, note.script, note.action, note.detail);
//! }
//! let layers = split(&installation, Layering::PerSource)?; // each has a FileTree to write
//! # Ok(()) }
//! ```
//!
//! Trust: the `InRelease` signature covers the `Release` text, which covers each index's
//! SHA256, which covers each package's SHA256. Each link is checked before anything is stored
//! under a final name; unsigned repositories need both `Trusted: yes` on the source and
//! [`fetch::RefreshOptions::allow_insecure`].

pub mod ar;
pub mod deb;
pub mod dpkg_db;
pub mod install;
pub mod layering;
pub mod package;
pub mod relation;
pub mod resolve;
pub mod scripts;
pub mod unpack_cache;
pub mod variant;
pub mod version;

pub use intern::SharedStr;
pub use package::{BinaryPackage, IndexOrigin, MultiArch, Priority, Sha256};
pub use relation::{
    Alternatives, ArchQualifier, PackageName, Relation, RelationVec, SharedSlice, SliceIter,
    VersionOp,
};
pub use resolve::{Request, Resolution, Resolver};
pub use variant::Variant;
pub use version::DebVersion;

pub mod cache;
pub mod control;
pub mod fetch;
pub mod http;
pub mod index;
mod intern;
pub mod release;
mod scan;
pub mod signature;
pub mod sources;
