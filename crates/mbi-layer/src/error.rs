//! mbi-layer's error type.

use std::path::PathBuf;

/// Everything that can go wrong while building, writing, reading or unpacking layers.
///
/// Each variant names what failed and where: the path in the tree or archive, the file on disk,
/// or the byte offset in a tar stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path given to the file-tree model is not a valid relative path.
    #[error("invalid tree path {path:?}: {reason}")]
    InvalidPath {
        /// The offending path (lossily decoded).
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An entry cannot be inserted because one of its parents exists and is not a directory.
    #[error("cannot insert {path}: parent {parent} is not a directory")]
    ParentNotDirectory {
        /// The entry being inserted.
        path: String,
        /// The parent that is in the way.
        parent: String,
    },
    /// A hardlink in a tree points to nothing, to a directory, or to a whiteout.
    #[error("hardlink {path} -> {target}: {reason}")]
    BadHardlink {
        /// The hardlink entry.
        path: String,
        /// What it points to.
        target: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A tree entry's name cannot be represented in a layer (e.g. it starts with `.wh.`).
    #[error("entry {path}: {reason}")]
    ReservedName {
        /// The entry.
        path: String,
        /// Why the name is reserved.
        reason: &'static str,
    },
    /// Resolving symlinks inside a tree or a target directory looped or went too deep.
    #[error("resolving {path}: {reason}")]
    Resolve {
        /// The path being resolved.
        path: String,
        /// What went wrong (loop, not a directory, …).
        reason: String,
    },
    /// A source file changed while it was being written into a layer.
    #[error("{path} changed while it was being read: {reason}")]
    SourceChanged {
        /// The file on disk.
        path: PathBuf,
        /// What changed.
        reason: String,
    },
    /// A tar stream is malformed.
    #[error("malformed tar at byte {offset}{}: {reason}", entry_suffix(entry))]
    Tar {
        /// Offset of the header block where the problem was found.
        offset: u64,
        /// The entry's name, when it was already known.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A tar feature mbi does not handle (GNU sparse files, multi-volume archives, …).
    #[error("unsupported tar feature at byte {offset}{}: {what}", entry_suffix(entry))]
    Unsupported {
        /// Offset of the header block.
        offset: u64,
        /// The entry's name, when known.
        entry: Option<String>,
        /// The feature.
        what: String,
    },
    /// An archive entry that cannot be placed safely inside the target was refused.
    #[error("refusing entry {entry}: {reason}")]
    UnsafeEntry {
        /// The entry's name as it appears in the archive.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// A filesystem operation failed while unpacking an entry.
    #[error("unpacking {entry}: {op}: {source}")]
    Unpack {
        /// The entry's name as it appears in the archive.
        entry: String,
        /// The operation ("create", "link", "rename", …).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Compressing or decompressing failed.
    #[error("{codec}: {reason}")]
    Codec {
        /// "gzip" or "zstd".
        codec: &'static str,
        /// What failed.
        reason: String,
    },
    /// Options are out of range (e.g. a gzip level of 12).
    #[error("invalid layer option {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// An I/O error on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error on a stream with no path.
    #[error("{context}: {source}")]
    Stream {
        /// What was being read or written.
        context: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The blob store failed.
    #[error("blob store: {0}")]
    Store(#[from] mbi_core::Error),
}

fn entry_suffix(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" (entry {e})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.into(), source }
    }

    pub(crate) fn stream(context: &'static str, source: std::io::Error) -> Self {
        Error::Stream { context, source }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Lossy display of raw path bytes for error messages.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
