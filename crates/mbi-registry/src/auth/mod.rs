//! Credentials and where they come from.
//!
//! [`AuthConfig`] is an explicit value: the credentials given on a command line, the credential
//! files to read (docker's `config.json`, podman's `auth.json`), and the `PATH` in which to look
//! for `docker-credential-*` helpers. The library never reads environment variables itself;
//! [`AuthConfig::from_env`] is a convenience for programs that want docker's and podman's usual
//! locations.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print `<redacted>`.

pub mod challenge;
mod files;
mod helper;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use challenge::{Challenge, parse_challenges};

use crate::error::Result;

/// A password or token. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Call this only where the value is sent to its server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// A user name and password (HTTP basic auth, or the token server's basic auth).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token server with
    /// `grant_type=refresh_token`.
    IdentityToken {
        /// The user name, if known (informational).
        username: Option<String>,
        /// The refresh token.
        token: Secret,
    },
    /// A ready-made bearer token (docker's `registrytoken`), sent as is.
    RegistryToken(Secret),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credentials::Basic { username: username.into(), password: password.into() }
    }

    /// Parses `USER:PASSWORD` as given to `--creds`. The password may contain ':'.
    pub fn from_user_pass(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Credentials::basic(u, p)),
            _ => Err(crate::Error::Credentials {
                origin: "command line".into(),
                reason: "expected USER:PASSWORD".into(),
            }),
        }
    }

    /// The user name, if these credentials have one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken { username, .. } => username.as_deref(),
            Credentials::RegistryToken(_) => None,
        }
    }
}

/// Where credentials come from. Lookups go, in order: credentials given explicitly; then each
/// credential file in the order added (per file: `credHelpers` for the registry, then `auths`
/// with the most specific `registry/repository` key, then `credsStore`); else anonymous.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    explicit: Vec<(String, Credentials)>,
    files: Vec<PathBuf>,
    helper_path: Option<OsString>,
    aliases: Vec<(String, String)>,
}

impl AuthConfig {
    /// No credentials: every registry is accessed anonymously.
    pub fn anonymous() -> Self {
        AuthConfig::default()
    }

    /// Uses `creds` for `scope`, which is a registry (`host[:port]`) or a
    /// `registry/repository` prefix. Explicit credentials win over files.
    pub fn with_credentials(mut self, scope: impl Into<String>, creds: Credentials) -> Self {
        self.explicit.push((scope.into(), creds));
        self
    }

    /// Adds a docker `config.json` or podman `auth.json` to read (missing files are skipped).
    pub fn with_auth_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// The search path (like `$PATH`) for `docker-credential-<name>` helpers. Without it,
    /// helpers are looked up in the process's `PATH` by the operating system.
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_path = Some(path.into());
        self
    }

    /// Also looks up credentials for `registry` under the key `alias` (e.g. a registry whose
    /// credentials are stored under a legacy host name).
    pub fn with_alias(mut self, registry: impl Into<String>, alias: impl Into<String>) -> Self {
        self.aliases.push((registry.into(), alias.into()));
        self
    }

    /// The credential files, in lookup order.
    pub fn auth_files(&self) -> &[PathBuf] {
        &self.files
    }

    /// docker's and podman's usual locations, from the process environment:
    /// `$REGISTRY_AUTH_FILE` (or `$XDG_RUNTIME_DIR/containers/auth.json`),
    /// `$HOME/.config/containers/auth.json`, `$DOCKER_CONFIG/config.json` (or
    /// `$HOME/.docker/config.json`), and `$PATH` for helpers.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let mut c = AuthConfig::default();
        if let Some(f) = var("REGISTRY_AUTH_FILE") {
            c = c.with_auth_file(PathBuf::from(f));
        } else if let Some(d) = var("XDG_RUNTIME_DIR") {
            c = c.with_auth_file(Path::new(&d).join("containers/auth.json"));
        }
        let home = var("HOME").map(PathBuf::from);
        if let Some(h) = &home {
            c = c.with_auth_file(h.join(".config/containers/auth.json"));
        }
        if let Some(d) = var("DOCKER_CONFIG") {
            c = c.with_auth_file(Path::new(&d).join("config.json"));
        } else if let Some(h) = &home {
            c = c.with_auth_file(h.join(".docker/config.json"));
        }
        if let Some(p) = var("PATH") {
            c = c.with_helper_path(p);
        }
        c
    }

    /// The credentials for `repository` on `registry`, or `None` for anonymous access.
    /// This may run a credential helper (a blocking call).
    pub fn resolve(&self, registry: &str, repository: &str) -> Result<Option<Credentials>> {
        let mut names = vec![registry.to_owned()];
        names.extend(self.aliases.iter().filter(|(r, _)| r == registry).map(|(_, a)| a.clone()));
        for name in &names {
            let full = format!("{name}/{repository}");
            let best = self
                .explicit
                .iter()
                .filter(|(scope, _)| files::scope_matches(scope, name, &full))
                .max_by_key(|(scope, _)| scope.len());
            if let Some((_, c)) = best {
                return Ok(Some(c.clone()));
            }
        }
        for path in &self.files {
            let Some(file) = files::AuthFile::load(path)? else { continue };
            for name in &names {
                let full = format!("{name}/{repository}");
                if let Some(c) = file.lookup(name, &full, self.helper_path.as_deref())? {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::basic("alice", "hunter2-secret");
        let cfg = AuthConfig::anonymous().with_credentials("r.test", c.clone());
        for s in
            [format!("{c:?}"), format!("{cfg:?}"), format!("{:?}", Secret::new("hunter2-secret"))]
        {
            assert!(!s.contains("hunter2"), "{s}");
        }
        assert!(format!("{c:?}").contains("alice"));
        let t = Credentials::IdentityToken { username: None, token: "tok-secret".into() };
        assert!(!format!("{t:?}").contains("tok-secret"));
    }

    #[test]
    fn explicit_most_specific_wins() {
        let cfg = AuthConfig::anonymous()
            .with_credentials("r.test", Credentials::basic("a", "1"))
            .with_credentials("r.test/team", Credentials::basic("b", "2"))
            .with_credentials("r.test/team/app", Credentials::basic("c", "3"));
        let user = |repo: &str| {
            cfg.resolve("r.test", repo).unwrap().map(|c| c.username().unwrap().to_owned())
        };
        assert_eq!(user("team/app").as_deref(), Some("c"));
        assert_eq!(user("team/other").as_deref(), Some("b"));
        assert_eq!(user("teamx").as_deref(), Some("a"));
        assert_eq!(cfg.resolve("other.test", "x").unwrap(), None);
    }

    #[test]
    fn user_pass() {
        let c = Credentials::from_user_pass("u:p:q").unwrap();
        assert_eq!(c, Credentials::basic("u", "p:q"));
        assert!(Credentials::from_user_pass("nopass").is_err());
        assert!(Credentials::from_user_pass(":p").is_err());
    }
}
