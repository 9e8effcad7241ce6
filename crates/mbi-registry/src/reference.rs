//! Image references: `[registry/]repository[:tag][@digest]`, parsed and normalised as docker does.
//!
//! The grammar is docker's (`distribution/reference`): a registry is a host name (dot-separated
//! components of letters, digits and inner hyphens) or a bracketed IPv6 address, with an
//! optional port; a repository is one or more `/`-separated lowercase path components whose
//! inner separators are `.`, `_`, `__` or runs of `-`; a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
//! a digest is `algorithm:hex`.
//!
//! Normalisation: the first path component is a registry only if it contains `.` or `:`, is
//! `localhost`, or has an uppercase letter; otherwise the reference is on
//! [`DEFAULT_REGISTRY`], where single-component repositories get the `library/` prefix.

use std::fmt;
use std::str::FromStr;

use mbi_core::Digest;

use crate::error::{Error, Result, truncate};

/// The registry that unqualified names (`debian`, `user/app`) refer to. It is part of the docker
/// reference grammar, not a configuration choice; this is the only registry name in mbi's code.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The repository prefix for single-component names on [`DEFAULT_REGISTRY`].
pub const OFFICIAL_REPO_PREFIX: &str = "library/";

/// The tag used when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
///
/// ```
/// use mbi_registry::Reference;
/// let r: Reference = "debian:bookworm".parse().unwrap();
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.repository(), "library/debian");
/// assert_eq!(r.tag(), Some("bookworm"));
/// let r: Reference = "127.0.0.1:5000/team/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
/// assert_eq!(r.registry(), "127.0.0.1:5000");
/// assert!(r.digest().is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises a reference (same as [`str::parse`]).
    pub fn parse(input: &str) -> Result<Self> {
        parse(input)
    }

    /// A reference to `repository` on `registry` with neither tag nor digest, validating both.
    pub fn repo(registry: &str, repository: &str) -> Result<Self> {
        let input = format!("{registry}/{repository}");
        let bad = |reason| Error::InvalidReference { input: truncate(&input, 120), reason };
        validate_registry(registry).map_err(bad)?;
        validate_path(repository).map_err(bad)?;
        if split_registry(&format!("{registry}/x")).0 != registry {
            return Err(bad("a registry name needs a '.' or ':', or is localhost"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{repository}")
        } else {
            repository.to_owned()
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad("name is longer than 255 characters"));
        }
        Ok(Reference { registry: registry.to_owned(), repository, tag: None, digest: None })
    }

    /// The registry host (and port), e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `library/debian`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if one was given.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What a manifest request should ask for: the digest if given (it pins the content), else
    /// the tag, else [`DEFAULT_TAG`].
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository with `tag` instead of any tag or digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self> {
        validate_tag(tag)
            .map_err(|reason| Error::InvalidReference { input: truncate(tag, 140), reason })?;
        Ok(Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() })
    }

    /// The same repository pinned to `digest`, keeping the tag (if any) for display.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference { digest: Some(digest), ..self.clone() }
    }

    /// The same repository with neither tag nor digest.
    pub fn without_tag_or_digest(&self) -> Self {
        Reference { tag: None, digest: None, ..self.clone() }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form docker prints: [`DEFAULT_REGISTRY`] and `library/` dropped.
    pub fn familiar(&self) -> String {
        let mut s = if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix(OFFICIAL_REPO_PREFIX)
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.name()
        };
        push_suffix(&mut s, self);
        s
    }
}

fn push_suffix(s: &mut String, r: &Reference) {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse(s)
    }
}

fn parse(input: &str) -> Result<Reference> {
    let bad = |reason| Error::InvalidReference { input: truncate(input, 120), reason };
    if input.is_empty() {
        return Err(bad("empty reference"));
    }
    let (rest, digest) = match input.split_once('@') {
        Some((r, d)) => {
            let digest: Digest = d.parse().map_err(|_| {
                bad("digest must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>")
            })?;
            (r, Some(digest))
        }
        None => (input, None),
    };
    // A ':' after the last '/' starts the tag; one before it is a port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].find(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if name.is_empty() {
        return Err(bad("missing repository name"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("name is longer than 255 characters"));
    }
    if let Some(t) = tag {
        validate_tag(t).map_err(bad)?;
    }
    let (registry, repository) = split_registry(name);
    validate_registry(registry).map_err(bad)?;
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad("repository name must be lowercase"));
    }
    validate_path(repository).map_err(bad)?;
    if repository.len() == 64 && repository.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("a 64-character hex string is an image ID, not a repository name"));
    }
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{repository}")
    } else {
        repository.to_owned()
    };
    // The limit applies to the normalised name, as docker checks it.
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(bad("name is longer than 255 characters"));
    }
    Ok(Reference { registry: registry.to_owned(), repository, tag: tag.map(str::to_owned), digest })
}

fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    }
}

fn validate_tag(t: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = t.as_bytes();
    match bytes.first() {
        None => Err("empty tag"),
        Some(_) if bytes.len() > MAX_TAG_LEN => Err("tag is longer than 128 characters"),
        Some(&b) if !word(b) => Err("tag must start with a letter, digit or '_'"),
        Some(_) if !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') => {
            Err("tag may only contain letters, digits, '_', '.' and '-'")
        }
        Some(_) => Ok(()),
    }
}

fn validate_registry(r: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(v6) = r.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unterminated IPv6 address in registry")?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("invalid IPv6 address in registry");
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("unexpected text after IPv6 address")?),
        };
        (None, port)
    } else {
        match r.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(r), None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("registry port must be digits");
    }
    if let Some(h) = host {
        if h.is_empty() {
            return Err("empty registry host");
        }
        for comp in h.split('.') {
            let b = comp.as_bytes();
            let ok = !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-';
            if !ok {
                return Err("registry host components are letters, digits and inner '-'");
            }
        }
    }
    Ok(())
}

fn validate_path(p: &str) -> Result<(), &'static str> {
    if p.is_empty() {
        return Err("empty repository name");
    }
    for comp in p.split('/') {
        validate_component(comp)?;
    }
    Ok(())
}

fn validate_component(c: &str) -> Result<(), &'static str> {
    const MSG: &str = "repository path components are lowercase letters and digits separated by '.', '_', '__' or '-'";
    let b = c.as_bytes();
    if b.is_empty() {
        return Err("empty repository path component");
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    // component := alnum+ (sep alnum+)*
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return Err(MSG);
        }
        if i == b.len() {
            return Ok(());
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return Err(MSG),
        }
        if i == b.len() {
            return Err(MSG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalisation() {
        let cases = [
            ("debian", "docker.io", "library/debian", None),
            ("debian:bookworm", "docker.io", "library/debian", Some("bookworm")),
            ("user/app", "docker.io", "user/app", None),
            ("docker.io/debian", "docker.io", "library/debian", None),
            ("docker.io/library/debian:12", "docker.io", "library/debian", Some("12")),
            ("localhost/app", "localhost", "app", None),
            ("localhost:5000/app:v1", "localhost:5000", "app", Some("v1")),
            ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000", "a/b/c", Some("t")),
            ("Registry/app", "Registry", "app", None),
            ("example.com/team/app", "example.com", "team/app", None),
            ("[::1]:5000/app", "[::1]:5000", "app", None),
            ("[fe80::1]/app", "[fe80::1]", "app", None),
            ("localhost:5000", "docker.io", "library/localhost", Some("5000")),
            ("a__b/c-d---e.f_g", "docker.io", "a__b/c-d---e.f_g", None),
        ];
        for (input, reg, repo, tag) in cases {
            let r = p(input);
            assert_eq!((r.registry(), r.repository(), r.tag()), (reg, repo, tag), "{input}");
        }
        let r = p(&format!("127.0.0.1:5000/app:v1@{D}"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.manifest_ref(), D);
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app:v1@{D}"));
        assert_eq!(p("debian").manifest_ref(), "latest");
        assert_eq!(p("debian:12").familiar(), "debian:12");
        assert_eq!(p("debian:12").to_string(), "docker.io/library/debian:12");
        assert_eq!(p("user/app").familiar(), "user/app");
    }

    #[test]
    fn display_roundtrips() {
        for s in ["docker.io/library/debian:12", "127.0.0.1:5000/a/b", "h.example:1/x_y@"] {
            let s = if s.ends_with('@') { format!("{s}{D}") } else { s.to_owned() };
            assert_eq!(p(&s).to_string(), s);
            assert_eq!(p(&p(&s).to_string()), p(&s));
        }
    }

    #[test]
    fn rejects_with_reason() {
        let cases = [
            ("", "empty"),
            ("Debian", "lowercase"),
            ("docker.io/Library/debian", "lowercase"),
            ("app:", "empty tag"),
            ("app:-x", "start"),
            ("app:a+b", "tag may only"),
            ("app@sha256:abc", "digest"),
            ("app@md5:d41d8cd98f00b204e9800998ecf8427e", "digest"),
            ("host:port/app", "port"),
            ("-host.com/app", "registry host"),
            ("host.com/-app", "path components"),
            ("host.com/app-", "path components"),
            ("host.com/a..b", "path components"),
            ("host.com/a___b", "path components"),
            ("host.com//app", "empty repository path"),
            ("host.com/", "empty repository"),
            ("[::1/app", "IPv6"),
            ("[zz]:5000/app", "IPv6"),
            ("[zz]/app", "path components"),
            (":tag", "missing repository"),
            ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "image ID"),
        ];
        for (input, needle) in cases {
            let e = Reference::parse(input).expect_err(input).to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
        let long = format!("h.com/{}", "a".repeat(260));
        assert!(Reference::parse(&long).unwrap_err().to_string().contains("255"));
        // The limit counts the normalised name (docker.io/library/… added).
        assert!(Reference::parse(&"a".repeat(250)).unwrap_err().to_string().contains("255"));
        let long_tag = format!("app:{}", "a".repeat(129));
        assert!(Reference::parse(&long_tag).unwrap_err().to_string().contains("128"));
        assert!(Reference::parse(&format!("app:{}", "a".repeat(128))).is_ok());
    }

    #[test]
    fn constructors() {
        let r = Reference::repo("127.0.0.1:5000", "team/app").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app");
        assert_eq!(r.with_tag("v1").unwrap().to_string(), "127.0.0.1:5000/team/app:v1");
        assert!(r.with_tag("bad tag").is_err());
        assert!(Reference::repo("127.0.0.1:5000", "Team").is_err());
        assert!(Reference::repo("bad host", "team").is_err());
        assert!(Reference::repo("nodots", "team").is_err());
        assert_eq!(
            Reference::repo(DEFAULT_REGISTRY, "debian").unwrap().repository(),
            "library/debian"
        );
    }

    proptest::proptest! {
        /// What parses prints back to an equal reference; nothing panics.
        #[test]
        fn display_roundtrip(s in "[a-zA-Z0-9._:/@\\[\\]-]{0,40}(@sha256:[0-9a-f]{64})?") {
            if let Ok(r) = Reference::parse(&s) {
                let again = Reference::parse(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(again, r);
            }
        }
    }
}
