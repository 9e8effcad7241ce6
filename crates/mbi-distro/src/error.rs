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

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", suggestions.join(", "))
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
