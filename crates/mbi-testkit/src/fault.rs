//! A fault-injecting HTTP proxy to put in front of a registry.
//!
//! Requests are forwarded to the upstream unchanged (the `Host` header too, so the registry
//! builds `Location` URLs that point back at the proxy). A schedule of [`Rule`]s decides which
//! requests get a [`Fault`] instead: the n-th request matching a method and path substring, for
//! a given number of consecutive matches. Counting is per rule and deterministic.
//!
//! ```no_run
//! use mbi_testkit::fault::{Fault, FaultProxy, Rule};
//! # let upstream: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
//! let proxy = FaultProxy::start(upstream, vec![
//!     // The first blob GET is cut after 1000 bytes of body.
//!     Rule::new(Some("GET"), "/blobs/sha256:", 1, 1, Fault::TruncateResponse { after: 1000 }),
//!     // The second manifest PUT gets a 503 with Retry-After: 1.
//!     Rule::new(Some("PUT"), "/manifests/", 2, 1, Fault::Status { status: 503, retry_after: Some(1) }),
//! ]).unwrap();
//! println!("talk to {}", proxy.host());
//! ```

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};

use crate::registry::{ServerThread, TestkitError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds) without forwarding.
    Status {
        /// The status code.
        status: u16,
        /// The `Retry-After` value in seconds.
        retry_after: Option<u64>,
    },
    /// Close the connection without answering; the request is not forwarded.
    Reset,
    /// Forward, then cut the response body after this many bytes (connection closed).
    TruncateResponse {
        /// Body bytes passed through before the cut.
        after: u64,
    },
    /// Forward only this many bytes of the request body, then close both connections.
    TruncateRequest {
        /// Request body bytes passed through before the cut.
        after: u64,
    },
    /// Wait this long before forwarding.
    Stall(Duration),
}

/// One entry of the schedule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The method to match (`None`: any).
    pub method: Option<String>,
    /// A substring the request path (with query) must contain.
    pub path_contains: String,
    /// The first matching request (1-based) that gets the fault.
    pub nth: usize,
    /// How many consecutive matching requests, from `nth`, get it.
    pub times: usize,
    /// The fault.
    pub fault: Fault,
}

impl Rule {
    /// A rule; see the field docs.
    pub fn new(
        method: Option<&str>,
        path_contains: &str,
        nth: usize,
        times: usize,
        fault: Fault,
    ) -> Self {
        Rule {
            method: method.map(str::to_owned),
            path_contains: path_contains.to_owned(),
            nth,
            times,
            fault,
        }
    }
}

/// One proxied request, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLogEntry {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The upstream status (or the injected one), if a response was produced.
    pub status: Option<u16>,
    /// Request body bytes forwarded upstream (as counted when the log was read).
    pub request_bytes: u64,
}

struct Entry {
    method: String,
    path: String,
    fault: Option<Fault>,
    status: Option<u16>,
    request_bytes: Arc<std::sync::atomic::AtomicU64>,
}

struct State {
    upstream: SocketAddr,
    rules: Mutex<Vec<(Rule, usize)>>,
    log: Mutex<Vec<Entry>>,
}

/// A running proxy. Stops when dropped.
pub struct FaultProxy {
    state: Arc<State>,
    addr: SocketAddr,
    _thread: ServerThread,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// A body that passes `left` bytes of `inner` through, then fails.
struct Cut<B> {
    inner: B,
    left: u64,
    counter: Option<Arc<std::sync::atomic::AtomicU64>>,
    failed: bool,
}

impl<B> Body for Cut<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.failed {
            return Poll::Ready(Some(Err("fault proxy: connection cut".into())));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() as u64 >= self.left {
                        data.truncate(self.left as usize);
                        self.left = 0;
                        self.failed = true;
                    } else {
                        self.left -= data.len() as u64;
                    }
                    if let Some(c) = &self.counter {
                        c.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    if data.is_empty() {
                        return Poll::Ready(Some(Err("fault proxy: connection cut".into())));
                    }
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
        }
    }
}

fn status_response(status: u16, retry_after: Option<u64>) -> Response<BoxBody<Bytes, BoxError>> {
    let body = format!(r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected {status}"}}]}}"#);
    let mut r =
        Response::new(http_body_util::Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::SERVICE_UNAVAILABLE);
    r.headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    if let Some(s) = retry_after
        && let Ok(v) = hyper::header::HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert("retry-after", v);
    }
    r
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody<Bytes, BoxError>>, BoxError> {
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let fault = {
        let mut rules = state.rules.lock().map_err(|_| "poisoned")?;
        let mut chosen = None;
        for (rule, count) in rules.iter_mut() {
            let m = rule.method.as_deref().is_none_or(|rm| rm.eq_ignore_ascii_case(&method))
                && path.contains(&rule.path_contains);
            if m {
                *count += 1;
                if chosen.is_none() && *count >= rule.nth && *count < rule.nth + rule.times {
                    chosen = Some(rule.fault.clone());
                }
            }
        }
        chosen
    };
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let idx = {
        let mut log = state.log.lock().map_err(|_| "poisoned")?;
        log.push(Entry {
            method: method.clone(),
            path: path.clone(),
            fault: fault.clone(),
            status: None,
            request_bytes: counter.clone(),
        });
        log.len() - 1
    };
    let set_status = |s: u16| {
        if let Ok(mut log) = state.log.lock()
            && let Some(e) = log.get_mut(idx)
        {
            e.status = Some(s);
        }
    };
    match &fault {
        Some(Fault::Status { status, retry_after }) => {
            set_status(*status);
            return Ok(status_response(*status, *retry_after));
        }
        Some(Fault::Reset) => return Err("fault proxy: reset".into()),
        Some(Fault::Stall(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let cut_req = match &fault {
        Some(Fault::TruncateRequest { after }) => *after,
        _ => u64::MAX,
    };
    let body = Cut { inner: body, left: cut_req, counter: Some(counter.clone()), failed: false };
    let upstream_req = Request::from_parts(parts, body);
    let stream = tokio::net::TcpStream::connect(state.upstream).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(upstream_req).await?;
    set_status(resp.status().as_u16());
    let (parts, body) = resp.into_parts();
    let cut_resp = match &fault {
        Some(Fault::TruncateResponse { after }) => *after,
        _ => u64::MAX,
    };
    Ok(Response::from_parts(
        parts,
        Cut { inner: body, left: cut_resp, counter: None, failed: false }.boxed(),
    ))
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with `rules`, on a free loopback port.
    pub fn start(upstream: SocketAddr, rules: Vec<Rule>) -> Result<Self, TestkitError> {
        let state = Arc::new(State {
            upstream,
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            log: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let (thread, addr) =
            ServerThread::spawn("fault proxy", move |req| handle(st.clone(), req))?;
        Ok(FaultProxy { state, addr, _thread: thread })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Replaces the schedule (counters restart at zero).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        if let Ok(mut r) = self.state.rules.lock() {
            *r = rules.into_iter().map(|r| (r, 0)).collect();
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<ProxyLogEntry> {
        let Ok(l) = self.state.log.lock() else { return Vec::new() };
        l.iter()
            .map(|e| ProxyLogEntry {
                method: e.method.clone(),
                path: e.path.clone(),
                fault: e.fault.clone(),
                status: e.status,
                request_bytes: e.request_bytes.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }

    /// Forgets the log.
    pub fn clear_log(&self) {
        if let Ok(mut l) = self.state.log.lock() {
            l.clear();
        }
    }

    /// The requests that got a fault.
    pub fn faults(&self) -> Vec<ProxyLogEntry> {
        self.log().into_iter().filter(|e| e.fault.is_some()).collect()
    }
}
