//! mbi-distro's error type.

/// Everything that can go wrong in mbi-distro. Each variant says what failed and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version string is malformed.
    #[error("invalid version {input:?}: {reason}")]
    InvalidVersion {
        /// The offending input.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A package name is malformed.
    #[error("invalid package name {input:?}")]
    InvalidPackageName {
        /// The offending input.
        input: String,
    },
    /// A relationship field is malformed.
    #[error("invalid {field} relation {input:?}: {reason}")]
    InvalidRelation {
        /// The field (`Depends`, …).
        field: &'static str,
        /// The offending text.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An error from mbi-core.
    #[error(transparent)]
    Core(#[from] mbi_core::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
