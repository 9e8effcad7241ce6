//! docker `config.json` / podman `auth.json`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

use super::{Credentials, Secret, helper};
use crate::error::{Error, Result};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthFile {
    #[serde(skip)]
    origin: String,
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// Whether a credentials key (`registry` or `registry/repo/prefix`) applies to `full`
/// (`registry/repository`) on `registry`.
pub(crate) fn scope_matches(scope: &str, registry: &str, full: &str) -> bool {
    scope == registry
        || full == scope
        || (full.starts_with(scope) && full.as_bytes().get(scope.len()) == Some(&b'/'))
}

/// `https://host/v1/` → `host`, as docker and podman normalise `auths` keys.
fn normalise_key(k: &str) -> &str {
    let k = k.strip_prefix("https://").or_else(|| k.strip_prefix("http://")).unwrap_or(k);
    let k = k.trim_end_matches('/');
    k.strip_suffix("/v1").or_else(|| k.strip_suffix("/v2")).unwrap_or(k)
}

impl AuthFile {
    /// Reads `path`; `None` if it does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<AuthFile>> {
        let origin = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Credentials { origin, reason: format!("cannot read: {e}") });
            }
        };
        // serde_json's messages can quote values ("invalid type: string \"…\""); report only
        // the position so a secret never reaches an error message.
        let mut f: AuthFile = serde_json::from_slice(&bytes).map_err(|e| Error::Credentials {
            origin: origin.clone(),
            reason: format!("malformed JSON near line {} column {}", e.line(), e.column()),
        })?;
        f.origin = origin;
        Ok(Some(f))
    }

    /// Credentials for `full` (`registry/repository`) on `registry` from this file.
    pub(crate) fn lookup(
        &self,
        registry: &str,
        full: &str,
        helper_path: Option<&OsStr>,
    ) -> Result<Option<Credentials>> {
        if let Some(h) = self.cred_helpers.get(registry)
            && let Some(c) = helper::get(h, registry, helper_path)?
        {
            return Ok(Some(c));
        }
        let best = self
            .auths
            .iter()
            .filter(|(k, _)| scope_matches(normalise_key(k), registry, full))
            .max_by_key(|(k, _)| normalise_key(k).len());
        if let Some((key, e)) = best
            && let Some(c) = self.entry_credentials(key, e)?
        {
            return Ok(Some(c));
        }
        if let Some(store) = &self.creds_store {
            return helper::get(store, registry, helper_path);
        }
        Ok(None)
    }

    fn entry_credentials(&self, key: &str, e: &Entry) -> Result<Option<Credentials>> {
        let bad = |reason: &str| Error::Credentials {
            origin: format!("{} (entry {key:?})", self.origin),
            reason: reason.to_owned(),
        };
        let (mut user, mut pass) = (e.username.clone(), e.password.clone());
        if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| bad("\"auth\" is not valid base64"))?;
            let s = String::from_utf8(raw).map_err(|_| bad("\"auth\" is not UTF-8"))?;
            let (u, p) = s.split_once(':').ok_or_else(|| bad("\"auth\" is not USER:PASSWORD"))?;
            user = Some(u.to_owned());
            pass = Some(p.to_owned());
        }
        if let Some(t) = e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::IdentityToken {
                username: user.filter(|u| !u.is_empty() && u != "<token>"),
                token: Secret::new(t),
            }));
        }
        if let Some(t) = e.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credentials::RegistryToken(Secret::new(t))));
        }
        match (user, pass) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::basic(u, p))),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthConfig;

    fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn docker_and_podman_files() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let podman = write(
            dir.path(),
            "auth.json",
            &format!(
                r#"{{"auths":{{"r.test/team":{{"auth":"{}"}},"r.test":{{"auth":"{}"}}}}}}"#,
                b64("teamuser:tp"),
                b64("user:p:w")
            ),
        );
        let docker = write(
            dir.path(),
            "config.json",
            &format!(
                r#"{{"auths":{{"https://d.test/v1/":{{"auth":"{}"}},"t.test":{{"auth":"{}","identitytoken":"refresh-xyz"}}}}}}"#,
                b64("duser:dp"),
                b64("<token>:")
            ),
        );
        let cfg = AuthConfig::anonymous().with_auth_file(&podman).with_auth_file(&docker);
        assert_eq!(
            cfg.resolve("r.test", "team/app").unwrap(),
            Some(Credentials::basic("teamuser", "tp"))
        );
        assert_eq!(
            cfg.resolve("r.test", "other").unwrap(),
            Some(Credentials::basic("user", "p:w"))
        );
        assert_eq!(cfg.resolve("d.test", "x").unwrap(), Some(Credentials::basic("duser", "dp")));
        assert_eq!(
            cfg.resolve("t.test", "x").unwrap(),
            Some(Credentials::IdentityToken { username: None, token: Secret::new("refresh-xyz") })
        );
        assert_eq!(cfg.resolve("none.test", "x").unwrap(), None);
        // Missing files are skipped.
        let cfg2 = AuthConfig::anonymous().with_auth_file(dir.path().join("absent.json"));
        assert_eq!(cfg2.resolve("r.test", "x").unwrap(), None);
        // Aliases.
        let cfg3 = AuthConfig::anonymous().with_auth_file(&docker).with_alias("hub.test", "d.test");
        assert_eq!(cfg3.resolve("hub.test", "x").unwrap(), Some(Credentials::basic("duser", "dp")));
    }

    #[test]
    fn malformed_files_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "c.json", r#"{"auths":"s3cret-value"}"#);
        let e =
            AuthConfig::anonymous().with_auth_file(&p).resolve("r", "x").unwrap_err().to_string();
        assert!(e.contains("c.json") && e.contains("line 1"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let p = write(dir.path(), "d.json", r#"{"auths":{"r":{"auth":"!!s3cret"}}}"#);
        let e =
            AuthConfig::anonymous().with_auth_file(&p).resolve("r", "x").unwrap_err().to_string();
        assert!(e.contains("base64") && !e.contains("s3cret"), "{e}");
    }
}
