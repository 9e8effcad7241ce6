//! The umbrella crate's error type.

use std::path::PathBuf;

use mbi_core::Digest;

/// Everything the umbrella crate's own functions can report. Errors of the underlying crates
/// pass through unchanged in [`Error::Core`] and [`Error::Layer`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from mbi-core (stores, images, transports).
    #[error(transparent)]
    Core(#[from] mbi_core::Error),
    /// An error from mbi-layer (scanning, writing or unpacking layers).
    #[error(transparent)]
    Layer(#[from] mbi_layer::Error),
    /// An error from mbi-distro (sources, signatures, indexes, resolution, packages, specs,
    /// lockfiles).
    #[error(transparent)]
    Distro(#[from] mbi_distro::Error),
    /// A build could not go on (an inconsistent lockfile, no sources, …): the reason says why.
    #[error("{0}")]
    Build(String),
    /// An error from mbi-registry (talking to a registry: auth, transfer, verification).
    #[error(transparent)]
    Registry(#[from] mbi_registry::Error),
    /// An I/O error on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("create", "rename", …).
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A layer blob could not be read or decompressed while unpacking (which includes a blob
    /// whose content does not match its digest or size).
    #[error("layer {index} ({digest}): {reason}")]
    LayerStream {
        /// Position of the layer in the image, from 1 (bottom).
        index: usize,
        /// The layer blob.
        digest: Digest,
        /// What failed.
        reason: String,
    },
    /// Applying a layer failed (an unsafe or malformed entry, a filesystem error, …).
    #[error("layer {index} ({digest}): {source}")]
    Unpack {
        /// Position of the layer in the image, from 1 (bottom).
        index: usize,
        /// The layer blob.
        digest: Digest,
        /// What mbi-layer reported, naming the entry.
        #[source]
        source: mbi_layer::Error,
    },
    /// A layer's uncompressed content does not hash to the diff_id the image config lists.
    #[error(
        "layer {index} ({digest}): uncompressed content hashes to {actual}, but the config says {expected}"
    )]
    DiffIdMismatch {
        /// Position of the layer in the image, from 1 (bottom).
        index: usize,
        /// The layer blob.
        digest: Digest,
        /// The diff_id from the config.
        expected: Digest,
        /// What the content hashed to.
        actual: Digest,
    },
    /// A layer's media type is not one mbi can unpack.
    #[error("layer {index} ({digest}): media type {media_type} is not a known layer type")]
    UnknownLayerType {
        /// Position of the layer in the image, from 1 (bottom).
        index: usize,
        /// The layer blob.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// The unpack target exists and is not an empty directory.
    #[error("unpack target {path}: {reason}")]
    Target {
        /// The target directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A destination cannot be written (missing parent directory, unsupported transport, …).
    #[error("destination {reference}: {reason}")]
    Destination {
        /// The destination reference, as given.
        reference: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
