//! A loopback static HTTP/1.1 server for tests: serves a directory, answers `Range`,
//! `If-None-Match` and `If-Modified-Since` like a real mirror, counts requests per path, and
//! can inject faults (truncated bodies, error statuses).
//!
//! It runs on its own thread with its own Tokio runtime, so it works from sync and async tests
//! alike, and stops when dropped.
//!
//! ```no_run
//! use mbi_testkit::http::{Fault, StaticServer};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("hello.txt"), b"hello").unwrap();
//! let server = StaticServer::start(dir.path()).unwrap();
//! let url = server.url("hello.txt"); // http://127.0.0.1:PORT/hello.txt
//! server.inject("/hello.txt", Fault::Truncate { after: 2 });
//! // … the first GET now gets 2 bytes and a broken connection; later ones succeed …
//! assert_eq!(server.requests("/hello.txt"), 0);
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

type Body = BoxBody<Bytes, std::io::Error>;

/// A fault to inject into the next matching response(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Announce the full `Content-Length` but send only `after` bytes, then drop the
    /// connection.
    Truncate {
        /// Bytes sent before the connection breaks.
        after: usize,
    },
    /// Answer with this status and an empty body.
    Status(u16),
}

/// What the server saw for one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathStats {
    /// Requests received (all methods).
    pub requests: usize,
    /// Status codes answered, in order.
    pub statuses: Vec<u16>,
    /// `Range` headers received, in order.
    pub ranges: Vec<String>,
}

#[derive(Default)]
struct State {
    stats: HashMap<String, PathStats>,
    faults: HashMap<String, Vec<Fault>>,
}

/// The server. Dropping it stops it.
pub struct StaticServer {
    addr: SocketAddr,
    root: PathBuf,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    /// Serves `root` on `127.0.0.1` at a free port.
    pub fn start(root: &Path) -> std::io::Result<StaticServer> {
        let root = root.to_path_buf();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (st, rt_root) = (state.clone(), root.clone());
        let thread = std::thread::Builder::new()
            .name("mbi-testkit-http".into())
            .spawn(move || {
                let Ok(rt) =
                    tokio::runtime::Builder::new_current_thread().enable_all().build()
                else {
                    return;
                };
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = &mut stop_rx => break,
                            acc = listener.accept() => {
                                let Ok((stream, _)) = acc else { continue };
                                let (st, root) = (st.clone(), rt_root.clone());
                                tokio::spawn(async move {
                                    let svc = service_fn(move |req| {
                                        let (st, root) = (st.clone(), root.clone());
                                        async move { Ok::<_, std::convert::Infallible>(handle(req, &root, &st).await) }
                                    });
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
            })
            ?;
        Ok(StaticServer { addr, root, state, stop: Some(stop_tx), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT/` (with the trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The URL of `path` (relative to the served directory).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the next request for `path` (absolute, e.g. `/dists/stable/InRelease`) fail with
    /// `fault`. Several calls queue several faults.
    pub fn inject(&self, path: &str, fault: Fault) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.faults.entry(norm(path)).or_default().push(fault);
    }

    /// Everything seen for `path`.
    pub fn stats(&self, path: &str) -> PathStats {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.stats.get(&norm(path)).cloned().unwrap_or_default()
    }

    /// Requests received for `path`.
    pub fn requests(&self, path: &str) -> usize {
        self.stats(path).requests
    }

    /// How many times `path` was answered with `status`.
    pub fn count_status(&self, path: &str, status: u16) -> usize {
        self.stats(path).statuses.iter().filter(|s| **s == status).count()
    }

    /// Requests received for every path, sorted by path.
    pub fn all_requests(&self) -> Vec<(String, usize)> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = st.stats.iter().map(|(k, s)| (k.clone(), s.requests)).collect();
        v.sort();
        v
    }

    /// Forgets all counters.
    pub fn reset_stats(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stats.clear();
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn norm(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()).map_err(|n| match n {}).boxed());
    *r.status_mut() = status;
    r
}

async fn handle(req: Request<Incoming>, root: &Path, state: &Mutex<State>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let range = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let fault = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let s = st.stats.entry(path.clone()).or_default();
        s.requests += 1;
        if let Some(r) = &range {
            s.ranges.push(r.clone());
        }
        st.faults.get_mut(&path).and_then(|q| if q.is_empty() { None } else { Some(q.remove(0)) })
    };
    let resp = respond(&req, &path, range.as_deref(), root, fault).await;
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.stats.entry(path).or_default().statuses.push(resp.status().as_u16());
    resp
}

async fn respond(
    req: &Request<Incoming>,
    path: &str,
    range: Option<&str>,
    root: &Path,
    fault: Option<Fault>,
) -> Response<Body> {
    if let Some(Fault::Status(code)) = fault {
        return empty(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return empty(StatusCode::METHOD_NOT_ALLOWED);
    }
    // Percent-decoding is not needed for fixture names; refuse anything that could escape.
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return empty(StatusCode::NOT_FOUND);
    }
    let file = root.join(rel);
    let Ok(meta) = tokio::fs::metadata(&file).await else {
        return empty(StatusCode::NOT_FOUND);
    };
    if !meta.is_file() {
        return empty(StatusCode::NOT_FOUND);
    }
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let mtime_ns = mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", meta.len(), mtime_ns);
    let last_modified = httpdate::fmt_http_date(mtime);
    let h = req.headers();
    let not_modified = match h.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(inm) => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => h
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                let secs = |t: std::time::SystemTime| {
                    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
                };
                secs(mtime) <= secs(since)
            }),
    };
    let with_validators = |mut r: Response<Body>| {
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&last_modified) {
            r.headers_mut().insert(header::LAST_MODIFIED, v);
        }
        r.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        r
    };
    if not_modified {
        return with_validators(empty(StatusCode::NOT_MODIFIED));
    }
    let Ok(data) = tokio::fs::read(&file).await else {
        return empty(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let total = data.len();
    let (status, start, end) = match range.map(parse_range) {
        None => (StatusCode::OK, 0, total),
        Some(Some((s, e))) if s < total || (s == 0 && total == 0) => {
            (StatusCode::PARTIAL_CONTENT, s, e.map_or(total, |e| (e + 1).min(total)))
        }
        Some(_) => {
            let mut r = empty(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return with_validators(r);
        }
    };
    let slice = Bytes::from(data).slice(start..end);
    let len = slice.len();
    let body: Body = if req.method() == Method::HEAD {
        Full::new(Bytes::new()).map_err(|n| match n {}).boxed()
    } else if let Some(Fault::Truncate { after }) = fault {
        let part = slice.slice(..after.min(len));
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(part)),
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "injected truncation")),
        ];
        BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
    } else {
        Full::new(slice).map_err(|n| match n {}).boxed()
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len as u64));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end.max(1) - 1))
    {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    with_validators(r)
}

/// Parses `bytes=START-[END]` (one range; suffix ranges are not needed by the clients tested).
fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (s, e) = spec.split_once('-')?;
    let s: usize = s.trim().parse().ok()?;
    let e = match e.trim() {
        "" => None,
        e => Some(e.parse::<usize>().ok().filter(|e| *e >= s)?),
    };
    Some((s, e))
}
