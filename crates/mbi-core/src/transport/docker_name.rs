//! Docker image names as `docker-archive:` references and `RepoTags` use them: `NAME:TAG`,
//! normalised as docker and containers/image normalise them (`busybox` →
//! `docker.io/library/busybox:latest`).

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A normalised, tagged Docker image name, e.g. `docker.io/library/debian:bookworm` or
/// `localhost:5000/team/app:1.0`. Digests are not accepted (docker-archive names carry tags).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DockerName {
    domain: String,
    path: String,
    tag: String,
}

const DEFAULT_DOMAIN: &str = "docker.io";
const MAX_NAME: usize = 255;

impl DockerName {
    /// The registry host (and port), e.g. `docker.io`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, e.g. `library/debian`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, e.g. `docker.io/library/debian`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag (`latest` when none was given).
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for DockerName {
    /// The fully qualified form, `domain/path:tag`, as containers/image writes in `RepoTags`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.domain, self.path, self.tag)
    }
}

impl FromStr for DockerName {
    type Err = Error;

    /// Parses and normalises `[DOMAIN/]PATH[:TAG]`, following the rules of
    /// `reference.ParseNormalizedNamed` + `TagNameOnly`: the first component is a domain if it
    /// contains `.` or `:` or is `localhost` (or has uppercase letters); otherwise the domain is
    /// `docker.io`, and a single-component path gets `library/`. The tag defaults to `latest`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidReference {
            input: truncate(s),
            reason: reason.to_owned(),
        };
        if s.is_empty() {
            return Err(bad("empty image name"));
        }
        if s.contains('@') {
            return Err(bad("digests are not accepted here; give NAME:TAG"));
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("cannot specify 64-byte hexadecimal strings as a name"));
        }
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
            None => (s, None),
        };
        let tag = match tag {
            Some(t) => {
                if !valid_tag(t) {
                    return Err(bad("invalid tag (expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"));
                }
                t.to_owned()
            }
            None => "latest".to_owned(),
        };
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
        };
        let domain = if domain == "index.docker.io" { DEFAULT_DOMAIN.to_owned() } else { domain };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        if !valid_domain(&domain) {
            return Err(bad("invalid registry host"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(bad("invalid repository path component"));
        }
        if domain.len() + 1 + path.len() > MAX_NAME {
            return Err(bad("repository name longer than 255 characters"));
        }
        Ok(DockerName { domain, path, tag })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host[:port]`, host being dot-separated `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?` labels.
fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        let n = |s: &str| s.parse::<DockerName>().unwrap().to_string();
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(n("index.docker.io/debian"), "docker.io/library/debian:latest");
        assert_eq!(n("localhost:5000/a/b:tag"), "localhost:5000/a/b:tag");
        assert_eq!(n("localhost/a"), "localhost/a:latest");
        assert_eq!(n("quay.io/x/y__z-w.v:1"), "quay.io/x/y__z-w.v:1");
        assert_eq!(n("Registry/x"), "Registry/x:latest");
        for bad in [
            "",
            "UPPER",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "-a",
            "a/b-",
            "a..b",
            "host:port/x",
        ] {
            assert!(bad.parse::<DockerName>().is_err(), "{bad:?} should be rejected");
        }
    }
}
