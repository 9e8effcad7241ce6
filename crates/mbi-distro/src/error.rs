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
    /// A deb822 / control-file document is malformed.
    #[error("{context}, line {line}{}{}: {reason}", package.as_ref().map(|p| format!(" (package {p})")).unwrap_or_default(), field.as_ref().map(|f| format!(", field {f}")).unwrap_or_default())]
    Control {
        /// Which document (file path, index URL, …).
        context: String,
        /// 1-based line number of the stanza or field.
        line: usize,
        /// The package the stanza describes, when known.
        package: Option<String>,
        /// The field, when the problem is in one field.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// An apt source entry (`.sources` / `sources.list`) is malformed or unsupported.
    #[error("{context}, line {line}: {reason}")]
    Source {
        /// The file (or "inline sources").
        context: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A keyring could not be read or holds no usable key.
    #[error("keyring {context}: {reason}")]
    Keyring {
        /// The keyring file or "inline Signed-By key".
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// Signed metadata failed verification (bad signature, unknown or unusable key, weak
    /// algorithm, missing signature).
    #[error("signature verification of {context} failed: {reason}")]
    Signature {
        /// The document (e.g. the InRelease URL).
        context: String,
        /// Why it was refused.
        reason: String,
    },
    /// A Release file is malformed, lacks an entry, or is outside its validity window.
    #[error("Release file {context}: {reason}")]
    Release {
        /// The Release / InRelease URL or path.
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// Downloaded or cached content did not have the digest or size the signed metadata gives.
    #[error("{context}: expected {expected}, got {actual}")]
    Integrity {
        /// What was checked (URL, package, cache file).
        context: String,
        /// The expected digest/size.
        expected: String,
        /// What was found.
        actual: String,
    },
    /// An HTTP request failed (connection, status, body).
    #[error("HTTP {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What happened (status code or transport error).
        reason: String,
    },
    /// An I/O error on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "rename", …).
        op: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Decompressing an index failed.
    #[error("decompressing {context}: {reason}")]
    Decompress {
        /// The URL or path.
        context: String,
        /// What went wrong.
        reason: String,
    },
    /// Offline mode: something needed is not in the cache.
    #[error("offline: {what} is not in the cache ({path})")]
    NotCached {
        /// What is missing (a package name and version, an index, …).
        what: String,
        /// Where it was looked for.
        path: std::path::PathBuf,
    },
    /// A configuration value given by the caller is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A variant name is not one of `essential`, `apt`, `minbase`, `important`, `standard`,
    /// `distroless`.
    #[error(
        "unknown variant {input:?} (expected essential, apt, minbase, important, standard or distroless)"
    )]
    InvalidVariant {
        /// The offending input.
        input: String,
    },
    /// A package request (`name`, `name=version`, `name (>= version)`, `name:arch`) is
    /// malformed.
    #[error("invalid package request {input:?}: {reason}")]
    InvalidPackageRequest {
        /// The offending input.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A requested package is neither a package nor a virtual package in any configured index.
    #[error("package {name} is not available in any configured index{}", did_you_mean(suggestions))]
    UnknownPackage {
        /// The requested name.
        name: String,
        /// Close names that do exist (typo suggestions), closest first.
        suggestions: Vec<String>,
    },
    /// A requested name is a virtual package with several providers; apt refuses to guess too.
    #[error("{name} is a virtual package provided by {}: request one of them", providers.join(", "))]
    AmbiguousVirtualPackage {
        /// The requested virtual name.
        name: String,
        /// The packages providing it.
        providers: Vec<String>,
    },
    /// No set of packages satisfies the request.
    #[error("cannot satisfy the request ({request}):\n{explanation}")]
    Unresolvable {
        /// The request, summarised (variant and packages).
        request: String,
        /// What went wrong, one problem per line.
        explanation: crate::apt::resolve::Explanation,
    },
    /// An error from mbi-core.
    #[error(transparent)]
    Core(#[from] mbi_core::Error),
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(
        op: &'static str,
        path: impl Into<std::path::PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io { op, path: path.into(), source }
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
