//! The docker credential helper protocol: `docker-credential-NAME get`, the server name on
//! stdin, `{"ServerURL","Username","Secret"}` on stdout.

use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::{Credentials, Secret};
use crate::error::{Error, Result, truncate};

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

fn find(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = path?;
    std::env::split_paths(path).map(|d| d.join(program)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Asks helper `name` for the credentials of `server`. `None` if it has none.
pub(crate) fn get(name: &str, server: &str, path: Option<&OsStr>) -> Result<Option<Credentials>> {
    let origin = format!("credential helper docker-credential-{}", truncate(name, 40));
    let bad = |reason: String| Error::Credentials { origin: origin.clone(), reason };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(bad("helper names are letters, digits, '-', '_' and '.'".into()));
    }
    let program = format!("docker-credential-{name}");
    let exe = match path {
        Some(_) => find(&program, path)
            .ok_or_else(|| bad("not found in the configured helper path".into()))?,
        None => PathBuf::from(&program),
    };
    let mut child = Command::new(&exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| bad(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is fine: its answer decides.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| bad(format!("cannot run: {e}")))?;
    if !out.status.success() {
        let msg =
            String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout });
        let msg = msg.trim();
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(bad(format!("exited with {}: {}", out.status, truncate(msg, 200))));
    }
    let reply: Reply = serde_json::from_slice(&out.stdout).map_err(|e| {
        bad(format!("malformed reply near line {} column {}", e.line(), e.column()))
    })?;
    if reply.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(if reply.username == "<token>" {
        Credentials::IdentityToken { username: None, token: Secret::new(reply.secret) }
    } else {
        Credentials::basic(reply.username, reply.secret)
    }))
}
