//! The client: configuration, per-registry state (scheme, auth challenge, tokens), request
//! sending with authentication, and retries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use base64::Engine as _;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use url::Url;

use crate::auth::{AuthConfig, Credentials, Secret, parse_challenges};
use crate::error::{Error, Result, redact_url, truncate};
use crate::progress::{Progress, ProgressEvent};

/// How blobs are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadMode {
    /// One `PUT` carrying the whole blob (fastest; the default). An interrupted upload is
    /// resumed from the registry's reported offset with chunks when the registry kept the
    /// received bytes, restarted otherwise.
    Monolithic,
    /// `PATCH` chunks of this many bytes (raised to the registry's `OCI-Chunk-Min-Length`),
    /// then a closing `PUT`. Each acknowledged chunk is a resume point.
    Chunked(u64),
}

/// Retry policy: exponential backoff with jitter on connection errors, timeouts, truncated
/// bodies, 5xx and 429 (honouring `Retry-After`, capped at `max_retry_after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (≥ 1).
    pub max_attempts: u32,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The largest backoff delay.
    pub max_delay: Duration,
    /// The largest `Retry-After` honoured; longer requests are capped to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..Default::default() }
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

/// Builds a [`Client`]. Defaults: anonymous, HTTPS with the platform's roots, plain HTTP only
/// for loopback hosts, 4 concurrent blob transfers, monolithic uploads, [`RetryPolicy::default`].
pub struct ClientBuilder {
    auth: AuthConfig,
    insecure: Vec<String>,
    endpoints: Vec<(String, String)>,
    extra_roots: Vec<CertificateDer<'static>>,
    retry: RetryPolicy,
    concurrency: usize,
    upload: UploadMode,
    progress: Option<Arc<dyn Progress>>,
    connect_timeout: Duration,
    read_timeout: Duration,
    user_agent: String,
    oauth2_password_grant: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            auth: AuthConfig::anonymous(),
            insecure: Vec::new(),
            endpoints: Vec::new(),
            extra_roots: Vec::new(),
            retry: RetryPolicy::default(),
            concurrency: 4,
            upload: UploadMode::Monolithic,
            progress: None,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
            user_agent: concat!("mbi/", env!("CARGO_PKG_VERSION")).to_owned(),
            oauth2_password_grant: false,
        }
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("auth", &self.auth)
            .field("insecure", &self.insecure)
            .field("endpoints", &self.endpoints)
            .field("retry", &self.retry)
            .field("concurrency", &self.concurrency)
            .field("upload", &self.upload)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Where credentials come from.
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.auth = auth;
        self
    }

    /// Marks `registry` (`host[:port]`) insecure: plain HTTP is allowed after HTTPS fails, and
    /// HTTPS certificates are not verified (like skopeo's `--tls-verify=false`).
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> Self {
        self.insecure.push(registry.into());
        self
    }

    /// Sends requests for `registry` (as written in references) to `host[:port]` instead, e.g.
    /// a mirror or the API endpoint of a registry whose name is not its host.
    pub fn endpoint(mut self, registry: impl Into<String>, host: impl Into<String>) -> Self {
        self.endpoints.push((registry.into(), host.into()));
        self
    }

    /// Trusts these PEM-encoded CA certificates in addition to the platform's.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self> {
        let certs = pem_certificates(pem)?;
        if certs.is_empty() {
            return Err(Error::Tls { reason: "no CERTIFICATE block in the PEM data".into() });
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How many blobs are transferred at once (≥ 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How blobs are uploaded.
    pub fn upload_mode(mut self, mode: UploadMode) -> Self {
        self.upload = mode;
        self
    }

    /// Where progress events go.
    pub fn progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// TCP connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// The longest wait for any single read (a stalled connection fails after this and is
    /// retried).
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// With user name and password, ask bearer-token servers for a token with the OAuth2
    /// password grant (`POST`, `access_type=offline`) and use the refresh token it returns for
    /// later scopes, falling back to docker's `GET` flow if the server has no `POST` endpoint.
    pub fn oauth2_password_grant(mut self, yes: bool) -> Self {
        self.oauth2_password_grant = yes;
        self
    }

    /// Builds the client. TLS uses rustls with the *ring* provider, configured for this client
    /// only (no process-wide default provider is installed).
    pub fn build(self) -> Result<Client> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verified = tls_config(provider.clone(), &self.extra_roots, true)?;
        let unverified = tls_config(provider, &[], false)?;
        let mk = |tls: rustls::ClientConfig| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .connect_timeout(self.connect_timeout)
                .read_timeout(self.read_timeout)
                .user_agent(self.user_agent.clone())
                .pool_max_idle_per_host(16)
                .tcp_nodelay(true)
                .build()
                .map_err(Error::ClientSetup)
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http: mk(verified)?,
                http_unverified: mk(unverified)?,
                auth: self.auth,
                insecure: self.insecure,
                endpoints: self.endpoints.into_iter().collect(),
                retry: self.retry,
                concurrency: self.concurrency,
                upload: self.upload,
                progress: self.progress,
                oauth2_password_grant: self.oauth2_password_grant,
                registries: tokio::sync::Mutex::new(HashMap::new()),
            }),
        })
    }
}

fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let text =
        std::str::from_utf8(pem).map_err(|_| Error::Tls { reason: "PEM is not UTF-8".into() })?;
    let mut out = Vec::new();
    let mut rest = text;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    while let Some(b) = rest.find(BEGIN) {
        let after = &rest[b + BEGIN.len()..];
        let e = after
            .find(END)
            .ok_or_else(|| Error::Tls { reason: "unterminated PEM certificate".into() })?;
        let b64: String = after[..e].chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| Error::Tls { reason: "PEM certificate is not valid base64".into() })?;
        out.push(CertificateDer::from(der));
        rest = &after[e + END.len()..];
    }
    Ok(out)
}

fn tls_config(
    provider: Arc<rustls::crypto::CryptoProvider>,
    extra_roots: &[CertificateDer<'static>],
    verify: bool,
) -> Result<rustls::ClientConfig> {
    let tls_err = |e: rustls::Error| Error::Tls { reason: e.to_string() };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if verify {
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            provider.clone(),
        ) {
            Ok(v) => Arc::new(v),
            // No CA certificates on this machine: HTTPS cannot be verified, so it fails with
            // this reason; loopback and insecure registries still work.
            Err(e) => Arc::new(tls::RejectAll { reason: e.to_string(), provider }),
        }
    } else {
        Arc::new(tls::AcceptAny { provider })
    };
    Ok(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth())
}

mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// Skips certificate verification (insecure registries only), still checking handshake
    /// signatures.
    #[derive(Debug)]
    pub(super) struct AcceptAny {
        pub(super) provider: Arc<CryptoProvider>,
    }

    /// Rejects every certificate (no trust roots could be loaded).
    #[derive(Debug)]
    pub(super) struct RejectAll {
        pub(super) reason: String,
        pub(super) provider: Arc<CryptoProvider>,
    }

    macro_rules! sigs {
        () => {
            fn verify_tls12_signature(
                &self,
                message: &[u8],
                cert: &CertificateDer<'_>,
                dss: &DigitallySignedStruct,
            ) -> Result<HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls12_signature(
                    message,
                    cert,
                    dss,
                    &self.provider.signature_verification_algorithms,
                )
            }
            fn verify_tls13_signature(
                &self,
                message: &[u8],
                cert: &CertificateDer<'_>,
                dss: &DigitallySignedStruct,
            ) -> Result<HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls13_signature(
                    message,
                    cert,
                    dss,
                    &self.provider.signature_verification_algorithms,
                )
            }
            fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
                self.provider.signature_verification_algorithms.supported_schemes()
            }
        };
    }

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        sigs!();
    }

    impl ServerCertVerifier for RejectAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Err(rustls::Error::General(format!("no trusted CA certificates: {}", self.reason)))
        }
        sigs!();
    }
}

/// An OCI distribution client. Cheap to clone (shared state behind an `Arc`); one client keeps
/// connections, auth challenges and tokens per registry for its lifetime.
///
/// Operations ([`Client::pull`], [`Client::push`], [`Client::copy`], [`Client::tags`], …)
/// are in the modules that implement them; see the crate documentation for a guide.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("auth", &self.inner.auth)
            .field("insecure", &self.inner.insecure)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    http_unverified: reqwest::Client,
    auth: AuthConfig,
    insecure: Vec<String>,
    endpoints: HashMap<String, String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) concurrency: usize,
    pub(crate) upload: UploadMode,
    progress: Option<Arc<dyn Progress>>,
    oauth2_password_grant: bool,
    registries: tokio::sync::Mutex<HashMap<String, Arc<Registry>>>,
}

/// How a registry wants to be authenticated, learned from its `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
enum Scheme {
    Anonymous,
    Basic,
    Bearer { realm: Url, service: Option<String> },
}

struct CachedToken {
    token: Secret,
    fetched: Instant,
    expires: Instant,
}

/// Per-registry state.
pub(crate) struct Registry {
    /// The name as in references.
    pub(crate) name: String,
    /// `scheme://host[:port]/`.
    pub(crate) base: Url,
    http: reqwest::Client,
    scheme: Mutex<Scheme>,
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
    refresh_token: Mutex<Option<Secret>>,
    /// Serialises token requests, so concurrent transfers share one token (and one refresh
    /// token exchange) instead of racing to the token server.
    token_fetch: tokio::sync::Mutex<()>,
    plain_allowed: bool,
}

/// The access a request needs: token scopes, and the repository whose credentials to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    scopes: Vec<String>,
    creds_repo: String,
}

impl Access {
    /// `repository:<repo>:pull`.
    pub(crate) fn pull(repo: &str) -> Self {
        Access { scopes: vec![format!("repository:{repo}:pull")], creds_repo: repo.to_owned() }
    }
    /// `repository:<repo>:pull,push`.
    pub(crate) fn push(repo: &str) -> Self {
        Access { scopes: vec![format!("repository:{repo}:pull,push")], creds_repo: repo.to_owned() }
    }
    /// Push to `repo`, plus `repository:<from>:pull` for cross-repository mounts.
    pub(crate) fn push_mount(repo: &str, from: &str) -> Self {
        let mut a = Access::push(repo);
        if from != repo {
            a.scopes.push(format!("repository:{from}:pull"));
        }
        a
    }
    /// `registry:catalog:*`.
    pub(crate) fn catalog() -> Self {
        Access { scopes: vec!["registry:catalog:*".into()], creds_repo: String::new() }
    }
    fn key(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Whether plain HTTP may be used for `host[:port]` without being marked insecure.
pub(crate) fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Reads a response body up to `limit` bytes.
pub(crate) async fn read_limited(
    resp: Response,
    limit: u64,
    what: &str,
    method: &'static str,
) -> Result<Vec<u8>> {
    let url = redact_url(resp.url());
    if resp.content_length().is_some_and(|l| l > limit) {
        return Err(Error::TooLarge { what: what.to_owned(), limit });
    }
    let mut resp = resp;
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Error::Transport {
        method,
        url: url.clone(),
        source: e.without_url(),
    })? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(Error::TooLarge { what: what.to_owned(), limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

fn parse_retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // HTTP-date: honour it relative to the server's own Date header when present, so a skewed
    // local clock does not matter.
    let when = httpdate(v)?;
    let now = h.get(header::DATE).and_then(|d| d.to_str().ok()).and_then(httpdate)?;
    Some(Duration::from_secs(when.saturating_sub(now)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
fn httpdate(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = parts.as_slice() else { return None };
    let day: u64 = day.parse().ok()?;
    let mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m == mon)? as u64
        + 1;
    let year: u64 = year.parse().ok()?;
    let t: Vec<u64> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = t.as_slice() else { return None };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mon <= 2 { year.checked_sub(1)? } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mon + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day.checked_sub(1)?;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146097 + doe).checked_sub(719468)?;
    Some(days * 86400 + h * 3600 + m * 60 + sec)
}

/// Turns an unexpected response into an error (consumes a bounded amount of its body).
pub(crate) async fn status_error(
    resp: Response,
    method: &'static str,
    reg: &Registry,
    what: &str,
) -> Error {
    let status = resp.status();
    let url = redact_url(resp.url());
    let retry_after = parse_retry_after(resp.headers());
    let body = read_limited(resp, 64 * 1024, "error body", method).await.unwrap_or_default();
    let detail = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|b| {
            b.errors
                .iter()
                .map(|e| format!("{} {}", e.code, truncate(&e.message, 200)).trim().to_owned())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    match status {
        StatusCode::NOT_FOUND => {
            Error::NotFound { registry: reg.name.clone(), what: what.to_owned() }
        }
        StatusCode::FORBIDDEN => Error::Denied {
            registry: reg.name.clone(),
            what: what.to_owned(),
            detail: if detail.is_empty() { "403 Forbidden".into() } else { detail },
        },
        _ => Error::Status { method, url, status: status.as_u16(), detail, retry_after },
    }
}

#[derive(Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

fn method_str(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "request",
    }
}

impl Client {
    /// A builder with safe defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with default settings and the given credentials.
    pub fn new(auth: AuthConfig) -> Result<Client> {
        ClientBuilder::default().auth(auth).build()
    }

    pub(crate) fn emit(&self, ev: ProgressEvent) {
        if let Some(p) = &self.inner.progress {
            p.event(&ev);
        }
    }

    pub(crate) fn has_progress(&self) -> bool {
        self.inner.progress.is_some()
    }

    /// Runs `f` under the retry policy; a retryable error that persists becomes
    /// [`Error::RetriesExhausted`].
    pub(crate) async fn with_retry<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let policy = self.inner.retry;
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let mut f = f;
        let res = (|| {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f()
        })
        .retry(policy.backoff())
        .when(Error::is_retryable)
        .adjust(|e: &Error, d| {
            d.map(|d| e.retry_after().map(|ra| ra.min(policy.max_retry_after)).unwrap_or(d))
        })
        .notify(|e: &Error, d| {
            let attempt = attempts.load(std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(what, attempt, delay_ms = d.as_millis() as u64, error = %e, "retrying");
            self.emit(ProgressEvent::Retrying {
                what: what.to_owned(),
                attempt,
                delay_ms: d.as_millis() as u64,
                error: e.to_string(),
            });
        })
        .await;
        match res {
            Err(e) if e.is_retryable() && policy.max_attempts > 1 => Err(Error::RetriesExhausted {
                what: what.to_owned(),
                attempts: attempts.load(std::sync::atomic::Ordering::Relaxed),
                last: Box::new(e),
            }),
            other => other,
        }
    }

    /// The state of `name` (`host[:port]`), pinging `/v2/` the first time.
    pub(crate) async fn registry(&self, name: &str) -> Result<Arc<Registry>> {
        let mut map = self.inner.registries.lock().await;
        if let Some(r) = map.get(name) {
            return Ok(r.clone());
        }
        let r = Arc::new(self.with_retry(&format!("contacting {name}"), || self.ping(name)).await?);
        map.insert(name.to_owned(), r.clone());
        Ok(r)
    }

    async fn ping(&self, name: &str) -> Result<Registry> {
        let host = self.inner.endpoints.get(name).map(String::as_str).unwrap_or(name);
        let insecure = self.inner.insecure.iter().any(|i| i == name || i == host);
        let plain_allowed = insecure || is_loopback(host);
        let http = if insecure { &self.inner.http_unverified } else { &self.inner.http };
        let base = |scheme: &str| {
            Url::parse(&format!("{scheme}://{host}/")).map_err(|e| Error::InvalidReference {
                input: truncate(host, 120),
                reason: if e == url::ParseError::InvalidPort {
                    "invalid port"
                } else {
                    "invalid registry host"
                },
            })
        };
        let https = base("https")?;
        let mut url = https.join("v2/").map_err(|_| Error::InvalidReference {
            input: host.into(),
            reason: "invalid registry host",
        })?;
        let resp = match http.get(url.clone()).send().await {
            Ok(r) => r,
            Err(e) if plain_allowed && !e.is_timeout() => {
                let plain = base("http")?;
                url = plain.join("v2/").map_err(|_| Error::InvalidReference {
                    input: host.into(),
                    reason: "invalid registry host",
                })?;
                tracing::debug!(registry = name, "HTTPS failed ({e}); trying plain HTTP");
                let https_err = Error::Transport {
                    method: "GET",
                    url: redact_url(&https.join("v2/").unwrap_or_else(|_| https.clone())),
                    source: e.without_url(),
                };
                match http.get(url.clone()).send().await {
                    // Only a registry answer counts; anything else (e.g. a TLS server's 400
                    // to plain HTTP) means HTTPS was right and its error is the one to report.
                    Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => r,
                    Ok(r) => {
                        tracing::debug!(
                            registry = name,
                            status = r.status().as_u16(),
                            "plain HTTP is not a registry either"
                        );
                        return Err(https_err);
                    }
                    Err(e2) => {
                        tracing::debug!(registry = name, "plain HTTP failed too ({e2})");
                        return Err(https_err);
                    }
                }
            }
            Err(e) => {
                return Err(Error::Transport {
                    method: "GET",
                    url: redact_url(&url),
                    source: e.without_url(),
                });
            }
        };
        let base = url.join("/").map_err(|_| Error::InvalidReference {
            input: host.into(),
            reason: "invalid registry host",
        })?;
        let mut reg = Registry {
            name: name.to_owned(),
            base,
            http: http.clone(),
            scheme: Mutex::new(Scheme::Anonymous),
            creds: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            refresh_token: Mutex::new(None),
            token_fetch: tokio::sync::Mutex::new(()),
            plain_allowed,
        };
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let scheme = reg.challenge_scheme(resp.headers())?;
                reg.scheme = Mutex::new(scheme);
            }
            _ => return Err(status_error(resp, "GET", &reg, "the /v2/ API endpoint").await),
        }
        Ok(reg)
    }

    fn creds(&self, reg: &Registry, repo: &str) -> Result<Option<Credentials>> {
        if let Some(c) = lock(&reg.creds).get(repo) {
            return Ok(c.clone());
        }
        let c = self.inner.auth.resolve(&reg.name, repo)?;
        lock(&reg.creds).insert(repo.to_owned(), c.clone());
        Ok(c)
    }

    async fn creds_async(&self, reg: &Arc<Registry>, repo: &str) -> Result<Option<Credentials>> {
        if let Some(c) = lock(&reg.creds).get(repo) {
            return Ok(c.clone());
        }
        // Credential helpers are processes: run the lookup off the async threads.
        let (this, reg2, repo2) = (self.clone(), reg.clone(), repo.to_owned());
        tokio::task::spawn_blocking(move || this.creds(&reg2, &repo2))
            .await
            .map_err(|e| Error::Task { what: "credential lookup".into(), reason: e.to_string() })?
    }

    /// The `Authorization` header value for `access`, fetching a token if needed.
    async fn authorization(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        fresh: bool,
    ) -> Result<Option<HeaderValue>> {
        let scheme = lock(&reg.scheme).clone();
        let creds = match scheme {
            Scheme::Anonymous => return Ok(None),
            _ => self.creds_async(reg, &access.creds_repo).await?,
        };
        if let Some(Credentials::RegistryToken(t)) = &creds {
            return Ok(Some(sensitive(&format!("Bearer {}", t.expose()))?));
        }
        match scheme {
            Scheme::Anonymous => Ok(None),
            Scheme::Basic => match creds {
                Some(Credentials::Basic { username, password }) => {
                    let raw = format!("{username}:{}", password.expose());
                    let v = base64::engine::general_purpose::STANDARD.encode(raw);
                    Ok(Some(sensitive(&format!("Basic {v}"))?))
                }
                _ => Ok(None),
            },
            Scheme::Bearer { realm, service } => {
                let key = access.key();
                let requested = Instant::now();
                // `fetched_after`: only a token fetched after this instant will do (after a
                // 401, the cached one is known bad).
                let cached = |fetched_after: Option<Instant>| -> Option<Secret> {
                    lock(&reg.tokens)
                        .get(&key)
                        .filter(|t| t.expires > Instant::now())
                        .filter(|t| fetched_after.is_none_or(|f| t.fetched > f))
                        .map(|t| t.token.clone())
                };
                if !fresh && let Some(t) = cached(None) {
                    return Ok(Some(sensitive(&format!("Bearer {}", t.expose()))?));
                }
                let _guard = reg.token_fetch.lock().await;
                // Another task may have fetched one while this one waited.
                if let Some(t) = cached(if fresh { Some(requested) } else { None }) {
                    return Ok(Some(sensitive(&format!("Bearer {}", t.expose()))?));
                }
                let what = format!("token for {} from {}", key, redact_url(&realm));
                let token = self
                    .with_retry(&what, || {
                        self.fetch_token(reg, &realm, service.as_deref(), access, creds.as_ref())
                    })
                    .await?;
                let v = sensitive(&format!("Bearer {}", token.token.expose()))?;
                lock(&reg.tokens).insert(key, token);
                Ok(Some(v))
            }
        }
    }

    async fn fetch_token(
        &self,
        reg: &Registry,
        realm: &Url,
        service: Option<&str>,
        access: &Access,
        creds: Option<&Credentials>,
    ) -> Result<CachedToken> {
        let realm_str = redact_url(realm);
        let realm_host = realm.host_str().unwrap_or("");
        let realm_hp = match realm.port() {
            Some(p) => format!("{realm_host}:{p}"),
            None => realm_host.to_owned(),
        };
        if realm.scheme() != "https" && !(reg.plain_allowed || is_loopback(&realm_hp)) {
            return Err(Error::Token {
                realm: realm_str,
                detail: "refusing to send credentials to a token server over plain HTTP".into(),
            });
        }
        let user = creds.and_then(|c| c.username()).map(str::to_owned);
        let stored_refresh = lock(&reg.refresh_token).clone();
        let refresh = match creds {
            Some(Credentials::IdentityToken { token, .. }) => Some(token.clone()),
            _ => stored_refresh,
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = service {
            form.append_pair("service", s);
        }
        form.append_pair("scope", &access.scopes.join(" "));
        form.append_pair("client_id", "mbi");
        let post = match (&refresh, creds) {
            (Some(rt), _) => {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", rt.expose());
                Some(form.finish())
            }
            (None, Some(Credentials::Basic { username, password }))
                if self.inner.oauth2_password_grant =>
            {
                form.append_pair("grant_type", "password");
                form.append_pair("username", username);
                form.append_pair("password", password.expose());
                form.append_pair("access_type", "offline");
                Some(form.finish())
            }
            _ => None,
        };
        let mut resp = None;
        if let Some(body) = post {
            let r = reg
                .http
                .post(realm.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(|e| Error::Transport {
                    method: "POST",
                    url: realm_str.clone(),
                    source: e.without_url(),
                })?;
            // No OAuth2 endpoint: fall back to the GET flow (only meaningful with a password).
            let fallback =
                matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED)
                    && matches!(creds, Some(Credentials::Basic { .. }) | None);
            if !fallback {
                resp = Some((r, "POST"));
            }
        }
        let (resp, method) = match resp {
            Some(r) => r,
            None => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in &access.scopes {
                        q.append_pair("scope", s);
                    }
                    if let Some(u) = &user {
                        q.append_pair("account", u);
                    }
                }
                let mut rb = reg.http.get(url);
                if let Some(Credentials::Basic { username, password }) = creds {
                    rb = rb.basic_auth(username, Some(password.expose()));
                }
                let r = rb.send().await.map_err(|e| Error::Transport {
                    method: "GET",
                    url: realm_str.clone(),
                    source: e.without_url(),
                })?;
                (r, "GET")
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body =
                read_limited(resp, 64 * 1024, "token error", method).await.unwrap_or_default();
            let msg = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.errors.into_iter().next())
                .map(|e| truncate(&e.message, 200))
                .unwrap_or_else(|| status.to_string());
            return Err(Error::Unauthorized {
                registry: reg.name.clone(),
                user,
                detail: format!("token server {realm_str} refused: {msg}"),
            });
        }
        if !status.is_success() {
            return Err(status_error(resp, method, reg, "token").await);
        }
        let body = read_limited(resp, 1024 * 1024, "token response", method).await?;
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| Error::Token {
            realm: realm_str.clone(),
            detail: format!("malformed reply near line {} column {}", e.line(), e.column()),
        })?;
        let token =
            reply.access_token.or(reply.token).filter(|t| !t.is_empty()).ok_or_else(|| {
                Error::Token { realm: realm_str.clone(), detail: "reply has no token".into() }
            })?;
        if let Some(rt) = reply.refresh_token.filter(|t| !t.is_empty()) {
            *lock(&reg.refresh_token) = Some(Secret::new(rt));
        }
        // Tokens live at least 60 s (distribution spec); refresh 10 s early.
        let life = Duration::from_secs(reply.expires_in.unwrap_or(60).max(60));
        let now = Instant::now();
        Ok(CachedToken {
            token: Secret::new(token),
            fetched: now,
            expires: now + life - Duration::from_secs(10),
        })
    }

    /// Sends one request with authentication. `build` is called for each attempt (at most two:
    /// the second after a 401 refreshed the challenge or token), so it may create a fresh body.
    pub(crate) async fn send(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        method: Method,
        url: Url,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response> {
        self.send_inner(reg, access, method, url, build, true).await
    }

    /// Like [`Client::send`] for requests whose body can be sent only once (streams): a 401
    /// refreshes the challenge and token, then fails with a retryable error so the caller
    /// rebuilds the body.
    pub(crate) async fn send_once(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        method: Method,
        url: Url,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Response> {
        self.send_inner(reg, access, method, url, build, false).await
    }

    async fn send_inner(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        method: Method,
        url: Url,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
        replayable: bool,
    ) -> Result<Response> {
        let m = method_str(&method);
        let same_origin = url.origin() == reg.base.origin();
        let mut fresh = false;
        loop {
            let mut rb = reg.http.request(method.clone(), url.clone());
            if same_origin && let Some(a) = self.authorization(reg, access, fresh).await? {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            let resp = build(rb).send().await.map_err(|e| Error::Transport {
                method: m,
                url: redact_url(&url),
                source: e.without_url(),
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || !same_origin {
                return Ok(resp);
            }
            let new_scheme = reg.challenge_scheme(resp.headers())?;
            let creds = self.creds_async(reg, &access.creds_repo).await?;
            let old_scheme = lock(&reg.scheme).clone();
            let retry = !fresh
                && match (&old_scheme, &new_scheme) {
                    (Scheme::Basic, Scheme::Basic) => false,
                    (Scheme::Anonymous, Scheme::Basic) => creds.is_some(),
                    _ => true,
                };
            if !retry {
                let user = creds.as_ref().and_then(|c| c.username()).map(str::to_owned);
                let detail = match status_error(resp, m, reg, "").await {
                    Error::Status { detail, .. } if !detail.is_empty() => detail,
                    _ => "401 Unauthorized".to_owned(),
                };
                return Err(Error::Unauthorized { registry: reg.name.clone(), user, detail });
            }
            *lock(&reg.scheme) = new_scheme;
            lock(&reg.tokens).remove(&access.key());
            if !replayable {
                return Err(Error::Status {
                    method: m,
                    url: redact_url(&url),
                    status: 401,
                    detail: "authorization renewed; the streamed request must be sent again".into(),
                    retry_after: Some(Duration::ZERO),
                });
            }
            fresh = true;
        }
    }
}

impl Registry {
    fn challenge_scheme(&self, headers: &HeaderMap) -> Result<Scheme> {
        let mut basic = false;
        for v in headers.get_all(header::WWW_AUTHENTICATE) {
            let s = v.to_str().map_err(|_| Error::InvalidHeader {
                header: "WWW-Authenticate",
                origin: self.name.clone(),
                reason: "not ASCII".into(),
            })?;
            let challenges = parse_challenges(s).map_err(|reason| Error::InvalidHeader {
                header: "WWW-Authenticate",
                origin: self.name.clone(),
                reason,
            })?;
            for c in challenges {
                match c.scheme.as_str() {
                    "bearer" => {
                        let realm = c.param("realm").ok_or_else(|| Error::InvalidHeader {
                            header: "WWW-Authenticate",
                            origin: self.name.clone(),
                            reason: "Bearer challenge without realm".into(),
                        })?;
                        let realm = self.base.join(realm).map_err(|e| Error::InvalidHeader {
                            header: "WWW-Authenticate",
                            origin: self.name.clone(),
                            reason: format!("realm is not a URL: {e}"),
                        })?;
                        if !matches!(realm.scheme(), "http" | "https") {
                            return Err(Error::InvalidHeader {
                                header: "WWW-Authenticate",
                                origin: self.name.clone(),
                                reason: "realm must be an http(s) URL".into(),
                            });
                        }
                        return Ok(Scheme::Bearer {
                            realm,
                            service: c.param("service").map(str::to_owned),
                        });
                    }
                    "basic" => basic = true,
                    _ => {}
                }
            }
        }
        if basic {
            Ok(Scheme::Basic)
        } else {
            Err(Error::InvalidHeader {
                header: "WWW-Authenticate",
                origin: self.name.clone(),
                reason: "401 without a Basic or Bearer challenge".into(),
            })
        }
    }

    /// `base` + `v2/<path>`.
    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        self.base.join(&format!("v2/{path}")).map_err(|e| Error::InvalidReference {
            input: truncate(path, 120),
            reason: if e == url::ParseError::EmptyHost {
                "empty host"
            } else {
                "cannot form a URL"
            },
        })
    }

    /// Resolves a `Location` header against the registry's base URL.
    pub(crate) fn location(&self, resp: &Response) -> Result<Url> {
        let loc = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(
            || Error::InvalidHeader {
                header: "Location",
                origin: self.name.clone(),
                reason: "missing or not ASCII".into(),
            },
        )?;
        self.base.join(loc).map_err(|e| Error::InvalidHeader {
            header: "Location",
            origin: self.name.clone(),
            reason: e.to_string(),
        })
    }
}

fn sensitive(v: &str) -> Result<HeaderValue> {
    let mut h = HeaderValue::from_str(v).map_err(|_| Error::Credentials {
        origin: "credentials".into(),
        reason: "contain characters not allowed in an HTTP header".into(),
    })?;
    h.set_sensitive(true);
    Ok(h)
}

/// Locks a mutex, recovering from poisoning (the protected maps stay consistent: every
/// critical section is a single insert, remove or clone).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback() {
        for h in ["127.0.0.1:5000", "localhost", "LOCALHOST:1", "[::1]:5000", "127.1.2.3"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1:5000", "example.com", "[fe80::1]", "localhost.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn retry_after() {
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:40 GMT"));
        h.insert(header::DATE, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(httpdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(httpdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn pem() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        let c = pem_certificates(pem).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].as_ref(), &[0, 1, 2, 3]);
        assert!(
            pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
