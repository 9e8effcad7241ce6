//! mbi-registry's error type.
//!
//! Every variant names what failed and where (registry, repository, digest, header). No variant
//! ever carries a password, token or credential-bearing URL: URLs are redacted (query strings
//! dropped) before they are stored in an error, and credentials are never formatted.

use std::time::Duration;

use mbi_core::Digest;

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An image reference does not follow the docker reference grammar.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The offending input (truncated).
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A header the registry (or token server) sent could not be understood.
    #[error("invalid {header} header from {origin}: {reason}")]
    InvalidHeader {
        /// The header name.
        header: &'static str,
        /// Who sent it (registry host or URL without query).
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP exchange itself failed (connection refused or reset, timeout, truncated body, TLS).
    #[error("{method} {url}: {}", chain(source))]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// The URL, query string removed.
        url: String,
        /// The underlying error (its own URL removed).
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an unexpected status.
    #[error("{method} {url}: registry answered {status}{}", fmt_detail(detail))]
    Status {
        /// HTTP method.
        method: &'static str,
        /// The URL, query string removed.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's error codes and messages, if it sent any.
        detail: String,
        /// The `Retry-After` delay the registry asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The registry or token server rejected the credentials (or asked for some and none were
    /// configured).
    #[error("authentication to {registry} failed{}: {detail}", fmt_user(user))]
    Unauthorized {
        /// The registry.
        registry: String,
        /// The user name that was tried, if any (never the password).
        user: Option<String>,
        /// What the server said.
        detail: String,
    },
    /// Authenticated, but not allowed to do this.
    #[error("access denied by {registry} for {what}: {detail}")]
    Denied {
        /// The registry.
        registry: String,
        /// What was attempted (e.g. `push to library/app`).
        what: String,
        /// What the server said.
        detail: String,
    },
    /// A manifest, tag, blob or repository does not exist.
    #[error("{what} not found on {registry}")]
    NotFound {
        /// The registry.
        registry: String,
        /// What was looked for.
        what: String,
    },
    /// The token server could not be used.
    #[error("token request to {realm} failed: {detail}")]
    Token {
        /// The token server's URL (query removed).
        realm: String,
        /// What went wrong.
        detail: String,
    },
    /// A credentials file or credential helper could not be used.
    #[error("credentials from {origin}: {reason}")]
    Credentials {
        /// The file path or helper name.
        origin: String,
        /// What went wrong (never includes the secret).
        reason: String,
    },
    /// A manifest, index or other document is malformed.
    #[error("invalid {what}: {reason}")]
    InvalidDocument {
        /// Which document (e.g. `manifest sha256:… from 127.0.0.1:5000/app`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Content did not hash to the digest it was expected to have.
    #[error("{what}: expected digest {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The digest it should have.
        expected: Digest,
        /// The digest it had.
        actual: Digest,
    },
    /// Content had another size than expected.
    #[error("{what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// The expected size.
        expected: u64,
        /// The size found (so far).
        actual: u64,
    },
    /// A document is over the size limit for its kind.
    #[error("{what} is over the {limit}-byte limit")]
    TooLarge {
        /// Which document.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// No manifest in an index matches the requested platform.
    #[error("{reference} has no manifest for platform {wanted} (available: {available})")]
    PlatformNotFound {
        /// The reference that resolved to an index.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index offers.
        available: String,
    },
    /// The client refused to talk plain HTTP to a registry that is neither loopback nor marked
    /// insecure, after HTTPS failed.
    #[error(
        "HTTPS to {registry} failed and plain HTTP is only used for loopback or insecure registries: {reason}"
    )]
    InsecureRefused {
        /// The registry.
        registry: String,
        /// Why HTTPS failed.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS setup: {reason}")]
    Tls {
        /// What went wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client setup: {0}")]
    ClientSetup(#[source] reqwest::Error),
    /// The blob store failed.
    #[error("blob store: {context}: {source}")]
    Store {
        /// What was being done.
        context: String,
        /// The store's error.
        #[source]
        source: mbi_core::Error,
    },
    /// A retryable operation kept failing.
    #[error("{what}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The operation.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        #[source]
        last: Box<Error>,
    },
    /// The registry does not support something mbi needs, or the input asks for something mbi
    /// does not do (e.g. Docker schema 1 manifests).
    #[error("{what}: {reason}")]
    Unsupported {
        /// The operation or document.
        what: String,
        /// Why it is not supported.
        reason: String,
    },
    /// A background task failed (panicked or was cancelled).
    #[error("internal task for {what} failed: {reason}")]
    Task {
        /// What the task was doing.
        what: String,
        /// The join error.
        reason: String,
    },
}

/// An error and its sources, `: `-separated (reqwest's own message alone is terse: "error
/// sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn fmt_detail(d: &str) -> String {
    if d.is_empty() { String::new() } else { format!(": {d}") }
}

fn fmt_user(u: &Option<String>) -> String {
    match u {
        Some(u) => format!(" as {u:?}"),
        None => " (no credentials configured)".to_owned(),
    }
}

impl Error {
    /// Whether retrying the same operation may succeed: connection errors, timeouts, truncated
    /// bodies, 5xx (except 501 and 505), 429, and the internal 401/416 statuses that mean
    /// "send this streamed request again".
    pub fn is_retryable(&self) -> bool {
        match self {
            // Body errors surface as "decode" errors from reqwest's streams: retry them too.
            Error::Transport { source, .. } => {
                !source.is_builder() && !source.is_redirect() && !is_tls_rejection(source)
            }
            Error::Status { status, .. } => {
                matches!(status, 401 | 408 | 416 | 429 | 500 | 502 | 503 | 504)
            }
            Error::SizeMismatch { .. } => true,
            _ => false,
        }
    }

    /// The delay the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn store(context: impl Into<String>, source: mbi_core::Error) -> Self {
        Error::Store { context: context.into(), source }
    }

    pub(crate) fn invalid_doc(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidDocument { what: what.into(), reason: reason.into() }
    }
}

/// Whether a transport error is the TLS handshake refusing the server (an untrusted or
/// mismatched certificate, a protocol the server cannot speak): asking again gets the same
/// answer, so it is not retried.
fn is_tls_rejection(e: &reqwest::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // `io::Error`s wrapping other errors (rustls' inside tokio-rustls' inside hyper's) hide
        // the wrapped one from `source()`: step into them.
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Removes the query string and fragment from a URL (signed blob URLs carry signatures there).
pub(crate) fn redact_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Truncates outside input before it goes into an error message.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
