//! mbi-core's error type.

use std::path::PathBuf;

use crate::Digest;

/// Everything that can go wrong in mbi-core. Each variant says what failed and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest string is malformed.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The offending input (truncated).
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Content did not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content should have had.
        expected: Digest,
        /// The digest it had.
        actual: Digest,
    },
    /// Content had another size than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size the descriptor gives.
        expected: u64,
        /// The size found.
        actual: u64,
    },
    /// A platform string is malformed.
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform {
        /// The offending input.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A blob is not in the store.
    #[error("blob {0} not found")]
    BlobNotFound(Digest),
    /// JSON could not be (de)serialised.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        /// Which document (e.g. "manifest sha256:…", "index.json").
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A document is well-formed JSON but not a valid instance of what it claims to be.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which document or field.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O error on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "create", "rename", …).
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error on a stream with no path (e.g. a reader passed in by the caller).
    #[error("{context}: {source}")]
    Stream {
        /// What was being read or written.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), reason: reason.into() }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
