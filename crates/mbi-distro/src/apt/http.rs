//! The HTTP side of apt fetching: a reqwest client over rustls (ring provider, webpki roots),
//! retries with exponential backoff, conditional GETs and ranged GETs. `file:` URIs are read
//! from disk so local mirrors work too.

use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::Error;

/// How many times a failed request is retried and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    /// First delay; it doubles after each retry.
    pub min_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries)
            .build()
    }
}

/// An HTTP client for repositories. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    /// Retry policy for every request.
    pub retry: RetryPolicy,
}

/// The answer to a conditional GET of a small document.
#[derive(Debug)]
pub(crate) enum Small {
    /// 304: the cached copy is current.
    NotModified,
    /// 404 / 410.
    NotFound,
    /// 200 with the body and the validators to send next time.
    Body { bytes: Vec<u8>, etag: Option<String>, last_modified: Option<String> },
}

/// A transient error is worth retrying; a permanent one is not.
pub(crate) struct Attempt {
    pub(crate) error: Error,
    pub(crate) transient: bool,
}

impl HttpClient {
    /// A client trusting the webpki (Mozilla) roots, with the ring crypto provider.
    pub fn new() -> Result<HttpClient, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let inner = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .user_agent(concat!("mbi/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(HttpClient { inner, retry: RetryPolicy::default() })
    }

    /// Wraps an existing reqwest client (custom proxies, roots, timeouts).
    pub fn from_reqwest(inner: reqwest::Client) -> HttpClient {
        HttpClient { inner, retry: RetryPolicy::default() }
    }

    /// Runs `f` until it succeeds, fails permanently, or retries run out.
    pub(crate) async fn with_retries<T, F, Fut>(&self, mut f: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut delays = self.retry.delays();
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(a) if a.transient => match delays.next() {
                    Some(d) => tokio::time::sleep(d).await,
                    None => return Err(a.error),
                },
                Err(a) => return Err(a.error),
            }
        }
    }

    /// GETs a small document (at most `limit` bytes) with optional validators.
    pub(crate) async fn get_small(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        limit: u64,
    ) -> Result<Small, Error> {
        if let Some(path) = file_path(url) {
            return match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Small::Body { bytes, etag: None, last_modified: None }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Small::NotFound),
                Err(e) => Err(Error::io("read", path, e)),
            };
        }
        self.with_retries(|| async {
            let mut req = self.inner.get(url);
            if let Some(e) = etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, e);
            }
            if let Some(lm) = last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
            let resp = req.send().await.map_err(|e| transport(url, e))?;
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Small::NotModified);
            }
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                return Ok(Small::NotFound);
            }
            if !status.is_success() {
                return Err(status_err(url, status));
            }
            let header = |h| {
                resp.headers()
                    .get(h)
                    .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let etag = header(reqwest::header::ETAG);
            let last_modified = header(reqwest::header::LAST_MODIFIED);
            let mut bytes = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| transport(url, e))?;
                if bytes.len() as u64 + chunk.len() as u64 > limit {
                    return Err(Attempt {
                        error: Error::Http {
                            url: url.into(),
                            reason: format!("larger than {limit} bytes"),
                        },
                        transient: false,
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Small::Body { bytes, etag, last_modified })
        })
        .await
    }

    /// Starts a GET (from byte `from` when > 0) and returns the status and the body stream.
    /// 404 is reported as `Ok(None)`.
    pub(crate) async fn get_stream(
        &self,
        url: &str,
        from: u64,
    ) -> Result<Option<(u16, BodyStream)>, Attempt> {
        if let Some(path) = file_path(url) {
            let data = match tokio::fs::read(&path).await {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => {
                    return Err(Attempt { error: Error::io("read", path, e), transient: false });
                }
            };
            let start = (from as usize).min(data.len());
            let status = if from > 0 { 206 } else { 200 };
            let body = Bytes::from(data).slice(start..);
            let s: BodyStream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
            return Ok(Some((status, s)));
        }
        let mut req = self.inner.get(url);
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = req.send().await.map_err(|e| transport(url, e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_err(url, status));
        }
        let u = url.to_owned();
        let s: BodyStream = Box::pin(resp.bytes_stream().map(move |r| {
            r.map_err(|e| Error::Http { url: u.clone(), reason: format!("reading body: {e}") })
        }));
        Ok(Some((status.as_u16(), s)))
    }
}

/// A response body as a stream of chunks.
pub(crate) type BodyStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

fn file_path(url: &str) -> Option<std::path::PathBuf> {
    url.strip_prefix("file://").map(std::path::PathBuf::from)
}

fn transport(url: &str, e: reqwest::Error) -> Attempt {
    Attempt { error: Error::Http { url: url.into(), reason: e.to_string() }, transient: true }
}

fn status_err(url: &str, status: reqwest::StatusCode) -> Attempt {
    let transient = status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
    Attempt {
        error: Error::Http { url: url.into(), reason: format!("status {status}") },
        transient,
    }
}
