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
    /// An `ar` archive (the container of a `.deb`) is malformed or truncated.
    #[error("ar archive {archive}: member {member:?} at offset {offset}: {reason}")]
    Ar {
        /// The archive (file or package name).
        archive: String,
        /// The member being read (empty before the first member).
        member: String,
        /// Offset of the member header (or of the error) in the archive.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A `.deb` package is malformed: a missing or misplaced member, a bad tar stream, bad
    /// control data, an unsupported compression.
    #[error("package {package}: {member}: {reason}")]
    Deb {
        /// The package (file name or `name_version_arch`).
        package: String,
        /// The member or control file concerned (`data.tar.xz`, `control`, …).
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry of a package's data archive would be unsafe to install: `..` components, an
    /// absolute path, a hard link outside the package, a write through a symlink the package
    /// itself created.
    #[error("package {package}: unsafe entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The package.
        package: String,
        /// The entry path as found in the archive.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// Two packages ship the same path and the later one does not declare `Replaces` on the
    /// earlier (dpkg's "trying to overwrite" error).
    #[error("{package}: trying to overwrite {path:?}, which is also in package {owner}")]
    FileConflict {
        /// The path in the image.
        path: String,
        /// The package being installed.
        package: String,
        /// The package that already owns the path.
        owner: String,
    },
    /// A path in the tree cannot be installed: a file where a directory is needed, a symlink
    /// loop, a directory replaced by a file.
    #[error("{package}: cannot install {path:?}: {reason}")]
    InstallPath {
        /// The package being installed.
        package: String,
        /// The path in the image.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A maintainer script or helper program run inside the new root failed.
    #[error("{package}: {script} failed: {reason}")]
    ScriptFailed {
        /// The package (or `-` for a whole-tree step such as `dpkg --configure -a`).
        package: String,
        /// The script or command.
        script: String,
        /// Exit status and the tail of its output.
        reason: String,
    },
    /// A build spec is invalid.
    #[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Spec {
        /// The spec file (or `<inline>`).
        file: String,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// A lockfile is invalid.
    #[error("lockfile {file}: {reason}")]
    Lock {
        /// The lockfile path (or `<inline>`).
        file: String,
        /// What is wrong (with the JSON path of the offending field when known).
        reason: String,
    },
    /// An error from mbi-layer (file tree, layer writer, unpacker).
    #[error(transparent)]
    Layer(#[from] mbi_layer::Error),
    /// An error from mbi-core.
    #[error(transparent)]
    Core(#[from] mbi_core::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
