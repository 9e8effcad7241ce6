//! # mbi-distro: package sources
//!
//! Turns a distribution's signed package repositories into file trees and package databases:
//! sources → signed metadata → resolution → lock → verified downloads → install tree.
//!
//! - [`apt`]: Debian and Ubuntu (dpkg versions, relations, `Packages` indexes, …).
//! - [`spec`]: the YAML build spec ([`spec::Spec`]).
//! - [`lock`]: the lockfile ([`lock::Lockfile`], format in `docs/lockfile.md`).

pub mod apt;
pub mod error;
pub mod lock;
pub mod spec;

pub use error::{Error, Result};
