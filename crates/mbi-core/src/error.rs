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
    /// A JSON document (manifest, config, index, `manifest.json`…) could not be parsed.
    #[error("invalid JSON in {what}: {source}")]
    Document {
        /// Which document, with its digest or path.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A document is larger than mbi accepts for its kind.
    #[error("{what} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Which document or blob.
        what: String,
        /// Its size.
        size: u64,
        /// The limit for its kind.
        limit: u64,
    },
    /// A directory is not a usable OCI image layout.
    #[error("OCI layout {path}: {reason}")]
    InvalidLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag (`org.opencontainers.image.ref.name`) or image name is not where it was looked for.
    #[error("{name:?} not found in {location}")]
    NotFound {
        /// The tag or name looked for.
        name: String,
        /// Where it was looked for (a path or reference).
        location: String,
    },
    /// An index, layout or archive holds several candidates, or none, and the request does not
    /// pick exactly one.
    #[error("cannot choose an image in {location}: {reason}")]
    Selection {
        /// Where the choice was made.
        location: String,
        /// Why no single image could be chosen.
        reason: String,
    },
    /// An image reference (`oci:DIR:TAG`, `docker-archive:FILE:NAME:TAG`, …) is malformed.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The offending input (truncated).
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The operation is not available for this transport or content.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked and why it cannot be done here.
        what: String,
    },
    /// An archive (`oci-archive`, `docker-archive`) is malformed or unsafe.
    #[error("archive {path}{}: {reason}", entry.as_ref().map(|e| format!(", entry {e:?}")).unwrap_or_default())]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// The entry concerned, if any.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
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
