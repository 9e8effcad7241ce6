//! A small bearer-token server for the CNCF registry's `auth: token` mode.
//!
//! It signs RS256 JWTs with a key whose self-signed certificate the registry trusts through
//! `rootcertbundle`. The key and certificate are made with the `openssl` command-line tool;
//! signing uses *ring*. Tokens carry either an `x5c` header (the certificate) or a `kid` header
//! (the libtrust fingerprint of the public key), as the registry accepts both.
//!
//! Endpoints (both on `/token`):
//! - `GET ?service=&scope=…&scope=…[&account=]`, anonymous or with HTTP basic auth (docker's
//!   flow);
//! - `POST` form with `grant_type=password` (`username`, `password`, `access_type=offline` for a
//!   refresh token) or `grant_type=refresh_token` (`refresh_token`), the OAuth2 flow.
//!
//! Every request is logged ([`TokenServer::requests`]) with the scopes asked for and granted,
//! so tests can assert that clients ask for minimal scopes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::registry::{ServerThread, TestkitError};

/// The `service` name the registry and token server agree on.
pub const SERVICE: &str = "mbi-test-registry";
/// The token issuer name.
pub const ISSUER: &str = "mbi-testkit-token-server";

/// Which JWT header identifies the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `x5c`: the certificate chain (here the single self-signed certificate).
    X5c,
    /// `kid`: the libtrust key ID of the public key.
    Kid,
}

/// What a user (or anonymous clients) may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A repository name, or a prefix ending in `*` (`*` alone: every repository).
    pub repository: String,
    /// Allowed actions (`pull`, `push`, `delete`, `*`).
    pub actions: Vec<String>,
}

impl Grant {
    /// `repository` with `actions`.
    pub fn new(repository: &str, actions: &[&str]) -> Self {
        Grant {
            repository: repository.to_owned(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn allows(&self, repo: &str, action: &str) -> bool {
        let repo_ok = match self.repository.strip_suffix('*') {
            Some(prefix) => repo.starts_with(prefix),
            None => self.repository == repo,
        };
        repo_ok && self.actions.iter().any(|a| a == action || a == "*")
    }
}

/// A user of the token server.
#[derive(Debug, Clone)]
pub struct User {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
    /// What the user may do.
    pub grants: Vec<Grant>,
    /// Whether the user may list the catalog.
    pub catalog: bool,
}

/// One logged token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The OAuth2 grant type for `POST`s.
    pub grant_type: Option<String>,
    /// The authenticated user, if any.
    pub account: Option<String>,
    /// The scopes asked for, in order.
    pub scopes: Vec<String>,
    /// The scopes granted (`type:name:actions`).
    pub granted: Vec<String>,
    /// The HTTP status answered.
    pub status: u16,
}

/// Configuration of a [`TokenServer`].
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Users and their grants.
    pub users: Vec<User>,
    /// Grants for anonymous requests.
    pub anonymous: Vec<Grant>,
    /// Which header names the key.
    pub key_header: KeyHeader,
    /// Token lifetime.
    pub ttl: Duration,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            users: Vec::new(),
            anonymous: Vec::new(),
            key_header: KeyHeader::X5c,
            ttl: Duration::from_secs(300),
        }
    }
}

struct Key {
    pair: RsaKeyPair,
    cert_der: Vec<u8>,
    kid: String,
}

struct State {
    config: TokenConfig,
    key: Key,
    rng: SystemRandom,
    log: Mutex<Vec<TokenRequest>>,
    refresh: Mutex<HashMap<String, String>>,
    counter: Mutex<u64>,
}

/// A running token server. Stops when dropped.
pub struct TokenServer {
    state: Arc<State>,
    addr: SocketAddr,
    cert_path: PathBuf,
    _thread: ServerThread,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

fn pem_blocks(pem: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(b) = rest.find(&begin) {
        let after = &rest[b + begin.len()..];
        let Some(e) = after.find(&end) else { break };
        let b64: String = after[..e].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[e + end.len()..];
    }
    out
}

/// The libtrust key ID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32,
/// in colon-separated groups of four.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let b = &hash.as_ref()[..30];
    const ALPHA: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut s = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &byte in b {
        acc = (acc << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            s.push(ALPHA[((acc >> bits) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..s.len()).step_by(4).map(|i| &s[i..(i + 4).min(s.len())]).collect();
    groups.join(":")
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>, TestkitError> {
    let out = cmd
        .output()
        .map_err(|e| TestkitError::Tool { tool: what.to_owned(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(TestkitError::Tool {
            tool: what.to_owned(),
            reason: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

fn make_key(dir: &Path) -> Result<(Key, PathBuf), TestkitError> {
    let key_pem = dir.join("token.key");
    let cert_pem = dir.join("token.crt");
    run(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3",
                "-sha256",
                "-subj",
                "/CN=mbi-testkit-token",
            ])
            .arg("-keyout")
            .arg(&key_pem)
            .arg("-out")
            .arg(&cert_pem),
        "openssl req",
    )?;
    let spki_pem = run(
        Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&cert_pem),
        "openssl x509",
    )?;
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| TestkitError::Io { path: p.to_owned(), source: e })
    };
    let bad = |what: &str| TestkitError::Tool {
        tool: "openssl".into(),
        reason: format!("no {what} in its output"),
    };
    let pkcs8 =
        pem_blocks(&read(&key_pem)?, "PRIVATE KEY").pop().ok_or_else(|| bad("PKCS#8 key"))?;
    let cert_der =
        pem_blocks(&read(&cert_pem)?, "CERTIFICATE").pop().ok_or_else(|| bad("certificate"))?;
    let spki = pem_blocks(&String::from_utf8_lossy(&spki_pem), "PUBLIC KEY")
        .pop()
        .ok_or_else(|| bad("public key"))?;
    let pair = RsaKeyPair::from_pkcs8(&pkcs8)
        .map_err(|e| TestkitError::Tool { tool: "ring".into(), reason: e.to_string() })?;
    Ok((Key { pair, cert_der, kid: libtrust_key_id(&spki) }, cert_pem))
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl State {
    fn sign(&self, account: &str, access: &[serde_json::Value]) -> Result<String, String> {
        let now =
            SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
        let header = match self.config.key_header {
            KeyHeader::X5c => {
                serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.key.cert_der)]})
            }
            KeyHeader::Kid => {
                serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": self.key.kid})
            }
        };
        let jti = {
            let mut c = self.counter.lock().map_err(|e| e.to_string())?;
            *c += 1;
            format!("mbi-{now}-{}", *c)
        };
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": account, "aud": SERVICE,
            "exp": now + self.config.ttl.as_secs(), "nbf": now.saturating_sub(10), "iat": now,
            "jti": jti, "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.pair.public().modulus_len()];
        self.key
            .pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut sig)
            .map_err(|e| e.to_string())?;
        Ok(format!("{signing_input}.{}", b64url(&sig)))
    }

    fn grants_for(&self, account: Option<&str>) -> (Vec<Grant>, bool) {
        match account.and_then(|a| self.config.users.iter().find(|u| u.name == a)) {
            Some(u) => (u.grants.clone(), u.catalog),
            None => (self.config.anonymous.clone(), false),
        }
    }

    /// Grants the requested scopes as far as allowed. Returns the access claims and their
    /// string forms.
    fn grant(
        &self,
        account: Option<&str>,
        scopes: &[String],
    ) -> (Vec<serde_json::Value>, Vec<String>) {
        let (grants, catalog) = self.grants_for(account);
        let mut access = Vec::new();
        let mut granted = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')).filter(|s| !s.is_empty()) {
            let Some((typ, rest)) = scope.split_once(':') else { continue };
            let Some((name, actions)) = rest.rsplit_once(':') else { continue };
            let allowed: Vec<&str> = actions
                .split(',')
                .filter(|a| match typ {
                    "repository" => grants.iter().any(|g| g.allows(name, a)),
                    "registry" => catalog && name == "catalog",
                    _ => false,
                })
                .collect();
            if !allowed.is_empty() {
                access.push(serde_json::json!({"type": typ, "name": name, "actions": allowed}));
                granted.push(format!("{typ}:{name}:{}", allowed.join(",")));
            }
        }
        (access, granted)
    }

    fn check_password(&self, user: &str, pass: &str) -> bool {
        self.config.users.iter().any(|u| u.name == user && u.password == pass)
    }
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    r
}

async fn handle(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    let form: Vec<(String, String)> = if method == "POST" {
        match req.into_body().collect().await {
            Ok(b) => url::form_urlencoded::parse(&b.to_bytes()).into_owned().collect(),
            Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let get = |list: &[(String, String)], k: &str| {
        list.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
    };
    let mut entry = TokenRequest {
        method: method.clone(),
        grant_type: None,
        account: None,
        scopes: Vec::new(),
        granted: Vec::new(),
        status: 200,
    };
    let unauthorized = |state: &State, mut entry: TokenRequest| {
        entry.status = 401;
        if let Ok(mut l) = state.log.lock() {
            l.push(entry);
        }
        json_response(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]}),
        )
    };
    let mut offline = false;
    let mut new_refresh = false;
    match method.as_str() {
        "GET" => {
            entry.scopes =
                query.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.clone()).collect();
            if let Some((u, p)) = basic {
                if !state.check_password(&u, &p) {
                    entry.account = Some(u);
                    return unauthorized(&state, entry);
                }
                entry.account = Some(u);
                offline = get(&query, "offline_token").as_deref() == Some("true");
            }
        }
        "POST" => {
            entry.scopes = get(&form, "scope").map(|s| vec![s]).unwrap_or_default();
            entry.grant_type = get(&form, "grant_type");
            match entry.grant_type.as_deref() {
                Some("password") => {
                    let u = get(&form, "username").unwrap_or_default();
                    let p = get(&form, "password").unwrap_or_default();
                    entry.account = Some(u.clone());
                    if !state.check_password(&u, &p) {
                        return unauthorized(&state, entry);
                    }
                    offline = get(&form, "access_type").as_deref() == Some("offline");
                }
                Some("refresh_token") => {
                    let rt = get(&form, "refresh_token").unwrap_or_default();
                    let user = state.refresh.lock().ok().and_then(|m| m.get(&rt).cloned());
                    match user {
                        Some(u) => {
                            entry.account = Some(u);
                            new_refresh = true;
                        }
                        None => return unauthorized(&state, entry),
                    }
                }
                _ => {
                    entry.status = 400;
                    if let Ok(mut l) = state.log.lock() {
                        l.push(entry);
                    }
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({"error": "unsupported_grant_type"}),
                    );
                }
            }
        }
        _ => {
            return json_response(StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({}));
        }
    }
    let (access, granted) = state.grant(entry.account.as_deref(), &entry.scopes);
    entry.granted = granted;
    let token = match state.sign(entry.account.as_deref().unwrap_or(""), &access) {
        Ok(t) => t,
        Err(e) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"error": e}),
            );
        }
    };
    let mut body = serde_json::json!({
        "token": token, "access_token": token,
        "expires_in": state.config.ttl.as_secs(), "issued_at": "2000-01-01T00:00:00Z",
    });
    if (offline || new_refresh) && entry.account.is_some() {
        let rt = {
            let mut bytes = [0u8; 16];
            let _ = ring::rand::SecureRandom::fill(&state.rng, &mut bytes);
            b64url(&bytes)
        };
        if let (Ok(mut m), Some(a)) = (state.refresh.lock(), &entry.account) {
            m.insert(rt.clone(), a.clone());
        }
        body["refresh_token"] = serde_json::Value::String(rt);
    }
    if let Ok(mut l) = state.log.lock() {
        l.push(entry);
    }
    json_response(StatusCode::OK, body)
}

impl TokenServer {
    /// Generates a key and certificate in `dir` and starts serving on a free loopback port.
    pub fn start(dir: &Path, config: TokenConfig) -> Result<Self, TestkitError> {
        let (key, cert_path) = make_key(dir)?;
        let state = Arc::new(State {
            config,
            key,
            rng: SystemRandom::new(),
            log: Mutex::new(Vec::new()),
            refresh: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
        });
        let st = state.clone();
        let (thread, addr) = ServerThread::spawn("token server", move |req| {
            let st = st.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
        })?;
        Ok(TokenServer { state, addr, cert_path, _thread: thread })
    }

    /// The token endpoint URL (the registry's `realm`).
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The PEM certificate the registry must trust (`rootcertbundle`).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Forgets the logged requests.
    pub fn clear_log(&self) {
        if let Ok(mut l) = self.state.log.lock() {
            l.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_shape() {
        let id = libtrust_key_id(b"abc");
        assert_eq!(id.len(), 48 + 11);
        assert_eq!(id.split(':').count(), 12);
        assert!(
            id.bytes().all(|b| b == b':' || b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
    }

    #[test]
    fn grant_matching() {
        let g = Grant::new("team/*", &["pull"]);
        assert!(g.allows("team/app", "pull"));
        assert!(!g.allows("team/app", "push"));
        assert!(!g.allows("other", "pull"));
        assert!(Grant::new("*", &["*"]).allows("x", "push"));
    }
}
