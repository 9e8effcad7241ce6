//! Blob transfers: streaming downloads into a [`BlobStore`] (resumed by `Range` after a dropped
//! connection) and uploads from a store or another registry (monolithic or chunked, mounted when
//! possible, resumed from the registry's reported offset).

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use mbi_core::{BlobStore, Descriptor, Digest};
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::client::{Access, Client, Registry, UploadMode, status_error};
use crate::error::{Error, Result, redact_url};
use crate::progress::{BlobOutcome, Direction, ProgressEvent};

/// Bytes per message between the network and the blocking store reader/writer.
const IO_CHUNK: usize = 1 << 20;

/// Retries with the client's policy, for loops that keep state between attempts.
pub(crate) struct Retrier<'a> {
    client: &'a Client,
    what: String,
    backoff: backon::ExponentialBackoff,
    attempts: u32,
}

impl<'a> Retrier<'a> {
    pub(crate) fn new(client: &'a Client, what: String) -> Self {
        Retrier { client, what, backoff: client.inner.retry.backoff().build(), attempts: 1 }
    }

    /// Returns `Err` if `e` is final (not retryable, or attempts exhausted); otherwise waits
    /// (honouring `Retry-After`) and returns `Ok`.
    pub(crate) async fn pause(&mut self, e: Error) -> Result<()> {
        if !e.is_retryable() {
            return Err(e);
        }
        let policy = self.client.inner.retry;
        let Some(d) = self.backoff.next() else {
            if policy.max_attempts <= 1 {
                return Err(e);
            }
            return Err(Error::RetriesExhausted {
                what: self.what.clone(),
                attempts: self.attempts,
                last: Box::new(e),
            });
        };
        let d = e.retry_after().map(|ra| ra.min(policy.max_retry_after)).unwrap_or(d);
        tracing::debug!(what = %self.what, attempt = self.attempts, delay_ms = d.as_millis() as u64, error = %e, "retrying");
        self.client.emit(ProgressEvent::Retrying {
            what: self.what.clone(),
            attempt: self.attempts,
            delay_ms: d.as_millis() as u64,
            error: e.to_string(),
        });
        tokio::time::sleep(d).await;
        self.attempts += 1;
        Ok(())
    }
}

/// Counts bytes of one blob and reports them.
#[derive(Clone)]
struct Counter {
    client: Client,
    digest: Digest,
    direction: Direction,
    total: u64,
    done: Arc<AtomicU64>,
}

impl Counter {
    fn new(
        client: &Client,
        digest: &Digest,
        direction: Direction,
        total: u64,
        start: u64,
    ) -> Option<Self> {
        client.emit(ProgressEvent::BlobStarted {
            digest: digest.clone(),
            direction,
            total,
            offset: start,
        });
        client.has_progress().then(|| Counter {
            client: client.clone(),
            digest: digest.clone(),
            direction,
            total,
            done: Arc::new(AtomicU64::new(start)),
        })
    }

    fn add(&self, n: usize) {
        let done = self.done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.client.emit(ProgressEvent::BlobProgress {
            digest: self.digest.clone(),
            direction: self.direction,
            done,
            total: self.total,
        });
    }
}

enum SinkMsg {
    Data(Vec<Bytes>),
    Finish,
}

/// A blob being written to a store by a blocking task, fed through a bounded channel.
struct BlobSink {
    tx: tokio::sync::mpsc::Sender<SinkMsg>,
    task: Option<tokio::task::JoinHandle<mbi_core::Result<(Digest, u64)>>>,
    written: u64,
    pending: Vec<Bytes>,
    pending_len: usize,
}

impl BlobSink {
    fn start(store: Arc<dyn BlobStore>, expected: Digest) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SinkMsg>(4);
        let task = tokio::task::spawn_blocking(move || {
            let mut w = store.begin()?;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    SinkMsg::Data(parts) => {
                        for p in parts {
                            w.write_all(&p).map_err(|e| mbi_core::Error::Stream {
                                context: format!("writing blob {expected}"),
                                source: e,
                            })?;
                        }
                    }
                    SinkMsg::Finish => return w.commit(Some(&expected)),
                }
            }
            Err(mbi_core::Error::Stream {
                context: format!("writing blob {expected}"),
                source: std::io::Error::other("transfer abandoned"),
            })
        });
        BlobSink { tx, task: Some(task), written: 0, pending: Vec::new(), pending_len: 0 }
    }

    async fn write(&mut self, b: Bytes) -> Result<()> {
        self.written += b.len() as u64;
        self.pending_len += b.len();
        self.pending.push(b);
        if self.pending_len >= IO_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let parts = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        if self.tx.send(SinkMsg::Data(parts)).await.is_err() {
            // The writer stopped: its error says why.
            return Err(self.fail().await);
        }
        Ok(())
    }

    async fn fail(&mut self) -> Error {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(e)) => Error::store("writing a downloaded blob", e),
                Ok(Ok(_)) => {
                    Error::Task { what: "blob writer".into(), reason: "stopped early".into() }
                }
                Err(e) => Error::Task { what: "blob writer".into(), reason: e.to_string() },
            },
            None => Error::Task { what: "blob writer".into(), reason: "already finished".into() },
        }
    }

    async fn finish(mut self) -> Result<(Digest, u64)> {
        self.flush().await?;
        if self.tx.send(SinkMsg::Finish).await.is_err() {
            return Err(self.fail().await);
        }
        let Some(task) = self.task.take() else { return Err(self.fail().await) };
        match task.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(mbi_core::Error::DigestMismatch { expected, actual })) => {
                Err(Error::DigestMismatch { what: "downloaded blob".into(), expected, actual })
            }
            Ok(Err(e)) => Err(Error::store("committing a downloaded blob", e)),
            Err(e) => Err(Error::Task { what: "blob writer".into(), reason: e.to_string() }),
        }
    }
}

/// A request body streaming `len` bytes of a stored blob from `offset`, read by a blocking task.
fn store_body(
    store: Arc<dyn BlobStore>,
    digest: Digest,
    offset: u64,
    len: u64,
    counter: Option<Counter>,
) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let res = (|| -> std::io::Result<()> {
            let mut r = store.open(&digest).map_err(std::io::Error::other)?;
            r.seek(SeekFrom::Start(offset))?;
            let mut left = len;
            while left > 0 {
                let n = left.min(IO_CHUNK as u64) as usize;
                let mut buf = vec![0u8; n];
                r.read_exact(&mut buf)?;
                left -= n as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return Ok(()); // the request was dropped
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        )
        .inspect(move |r| {
            if let (Ok(b), Some(c)) = (r, &counter) {
                c.add(b.len());
            }
        });
    reqwest::Body::wrap_stream(stream)
}

/// Where blobs to upload come from.
#[derive(Clone)]
pub(crate) enum BlobSource {
    /// A local store.
    Store(Arc<dyn BlobStore>),
    /// Another repository (possibly on another registry), streamed through.
    Remote {
        /// The source registry.
        reg: Arc<Registry>,
        /// The source repository.
        repo: String,
    },
}

enum Started {
    Mounted,
    Session { location: Url, min_chunk: u64 },
}

fn header_u64(resp: &reqwest::Response, name: &str) -> Option<u64> {
    resp.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Parses an upload `Range: 0-<last>` header into the next offset. `0-0` means 0 or 1 bytes;
/// `confirmed` (the last offset the registry acknowledged) disambiguates.
fn parse_upload_range(v: Option<&HeaderValue>, confirmed: u64, origin: &str) -> Result<u64> {
    let bad = |reason: &str| Error::InvalidHeader {
        header: "Range",
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let s = v.ok_or_else(|| bad("missing"))?.to_str().map_err(|_| bad("not ASCII"))?;
    let s = s.trim().strip_prefix("bytes=").unwrap_or(s.trim());
    let (a, b) = s.split_once('-').ok_or_else(|| bad("expected <start>-<end>"))?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad("start is not a number"))?,
        b.trim().parse().map_err(|_| bad("end is not a number"))?,
    );
    if a != 0 || b < a {
        return Err(bad("expected 0-<end>"));
    }
    Ok(if b == 0 { confirmed.min(1) } else { b + 1 })
}

impl Client {
    /// The size of blob `digest` in `repo`, or `None` if absent.
    pub(crate) async fn blob_size(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>> {
        let url = reg.url(&format!("{repo}/blobs/{digest}"))?;
        let resp = self.send(reg, access, Method::HEAD, url, &|rb| rb).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(header_u64(&resp, "content-length").unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(resp, "HEAD", reg, &format!("blob {digest} in {repo}")).await),
        }
    }

    /// Downloads blob `desc` from `repo` into `store` (verifying digest and size), unless the
    /// store already has it.
    pub(crate) async fn download_blob(
        &self,
        reg: &Arc<Registry>,
        repo: &str,
        desc: &Descriptor,
        store: &Arc<dyn BlobStore>,
    ) -> Result<BlobOutcome> {
        let digest = &desc.digest;
        let have = store.stat(digest).map_err(|e| Error::store(format!("checking {digest}"), e))?;
        if have == Some(desc.size) {
            self.emit(ProgressEvent::BlobDone {
                digest: digest.clone(),
                direction: Direction::Pull,
                outcome: BlobOutcome::AlreadyPresent,
                size: desc.size,
            });
            return Ok(BlobOutcome::AlreadyPresent);
        }
        let access = Access::pull(repo);
        let url = reg.url(&format!("{repo}/blobs/{digest}"))?;
        let what = format!("download of blob {digest} from {}/{repo}", reg.name);
        let mut retrier = Retrier::new(self, what.clone());
        let mut sink: Option<BlobSink> = None;
        loop {
            match self.download_attempt(reg, &access, &url, repo, desc, store, &mut sink).await {
                Ok(()) => break,
                Err(e) => retrier.pause(e).await?,
            }
        }
        let Some(sink) = sink else {
            return Err(Error::Task { what, reason: "no data written".into() });
        };
        let (_, size) = sink.finish().await.map_err(|e| match e {
            Error::DigestMismatch { expected, actual, .. } => {
                Error::DigestMismatch { what: what.clone(), expected, actual }
            }
            e => e,
        })?;
        if size != desc.size {
            return Err(Error::SizeMismatch { what, expected: desc.size, actual: size });
        }
        self.emit(ProgressEvent::BlobDone {
            digest: digest.clone(),
            direction: Direction::Pull,
            outcome: BlobOutcome::Transferred,
            size,
        });
        Ok(BlobOutcome::Transferred)
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_attempt(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        url: &Url,
        repo: &str,
        desc: &Descriptor,
        store: &Arc<dyn BlobStore>,
        sink: &mut Option<BlobSink>,
    ) -> Result<()> {
        let offset = sink.as_ref().map_or(0, |s| s.written);
        let range = (offset > 0).then(|| format!("bytes={offset}-"));
        let resp = self
            .send(reg, access, Method::GET, url.clone(), &|rb| match &range {
                Some(r) => rb.header(header::RANGE, r),
                None => rb,
            })
            .await?;
        let what = format!("blob {} in {repo}", desc.digest);
        match resp.status() {
            StatusCode::OK => {
                if offset > 0 {
                    // The server ignored the range: start over.
                    *sink = None;
                }
            }
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                let cr = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let start = cr
                    .strip_prefix("bytes ")
                    .and_then(|r| r.split('-').next())
                    .and_then(|s| s.parse::<u64>().ok());
                if start != Some(offset) {
                    *sink = None;
                    return Err(Error::InvalidHeader {
                        header: "Content-Range",
                        origin: reg.name.clone(),
                        reason: format!("asked for bytes from {offset}, got {cr:?}"),
                    });
                }
            }
            _ => return Err(status_error(resp, "GET", reg, &what).await),
        }
        let s = sink.get_or_insert_with(|| BlobSink::start(store.clone(), desc.digest.clone()));
        let counter = Counter::new(self, &desc.digest, Direction::Pull, desc.size, s.written);
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::Transport {
                method: "GET",
                url: redact_url(url),
                source: e.without_url(),
            })?;
            if s.written + chunk.len() as u64 > desc.size {
                return Err(Error::TooLarge {
                    what: format!("{what} (descriptor says {} bytes)", desc.size),
                    limit: desc.size,
                });
            }
            let n = chunk.len();
            s.write(chunk).await?;
            if let Some(c) = &counter {
                c.add(n);
            }
        }
        if s.written < desc.size {
            s.flush().await?;
            return Err(Error::SizeMismatch {
                what: format!("{what}: body ended early"),
                expected: desc.size,
                actual: s.written,
            });
        }
        Ok(())
    }

    /// A request body with `len` bytes of blob `desc` from `offset`, from `src`.
    async fn source_body(
        &self,
        src: &BlobSource,
        desc: &Descriptor,
        offset: u64,
        len: u64,
    ) -> Result<reqwest::Body> {
        let counter = Counter::new(self, &desc.digest, Direction::Push, desc.size, offset);
        match src {
            BlobSource::Store(store) => {
                Ok(store_body(store.clone(), desc.digest.clone(), offset, len, counter))
            }
            BlobSource::Remote { reg, repo } => {
                let access = Access::pull(repo);
                let url = reg.url(&format!("{repo}/blobs/{}", desc.digest))?;
                let whole = offset == 0 && len == desc.size;
                let range = format!("bytes={offset}-{}", offset + len - 1);
                let resp = self
                    .send(reg, &access, Method::GET, url.clone(), &|rb| {
                        if whole { rb } else { rb.header(header::RANGE, &range) }
                    })
                    .await?;
                let st = resp.status();
                if !(st == StatusCode::OK && offset == 0
                    || st == StatusCode::PARTIAL_CONTENT && !whole)
                {
                    if st.is_success() {
                        return Err(Error::Unsupported {
                            what: format!(
                                "ranged read of {} from {}/{repo}",
                                desc.digest, reg.name
                            ),
                            reason: format!("registry answered {st} to a Range request"),
                        });
                    }
                    return Err(status_error(
                        resp,
                        "GET",
                        reg,
                        &format!("blob {} in {repo}", desc.digest),
                    )
                    .await);
                }
                // Pass at most `len` bytes through (a 200 answer carries the whole blob).
                let stream = resp.bytes_stream();
                let limited =
                    futures_util::stream::unfold((stream, len), move |(mut s, left)| async move {
                        if left == 0 {
                            return None;
                        }
                        match s.next().await {
                            None => Some((
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::UnexpectedEof,
                                    "source blob ended early",
                                )),
                                (s, 0),
                            )),
                            Some(Err(e)) => {
                                Some((Err(std::io::Error::other(e.without_url())), (s, 0)))
                            }
                            Some(Ok(mut b)) => {
                                if b.len() as u64 > left {
                                    b.truncate(left as usize);
                                }
                                let n = b.len() as u64;
                                Some((Ok(b), (s, left - n)))
                            }
                        }
                    })
                    .inspect(move |r| {
                        if let (Ok(b), Some(c)) = (r, &counter) {
                            c.add(b.len());
                        }
                    });
                Ok(reqwest::Body::wrap_stream(limited))
            }
        }
    }

    async fn start_upload(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        repo: &str,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<Started> {
        let mut url = reg.url(&format!("{repo}/blobs/uploads/"))?;
        if let Some(from) = mount_from {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from);
        }
        let resp = self
            .send(reg, access, Method::POST, url, &|rb| rb.header(header::CONTENT_LENGTH, "0"))
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount_from.is_some() => Ok(Started::Mounted),
            StatusCode::ACCEPTED => {
                let location = reg.location(&resp)?;
                let min_chunk = header_u64(&resp, "oci-chunk-min-length").unwrap_or(0);
                Ok(Started::Session { location, min_chunk })
            }
            _ => {
                Err(status_error(resp, "POST", reg, &format!("upload of {digest} to {repo}")).await)
            }
        }
    }

    /// The registry's view of an upload: its next offset and current location, or `None` if the
    /// session is gone or invalid (the upload must restart).
    async fn upload_status(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        location: &Url,
        confirmed: u64,
    ) -> Result<Option<(Url, u64)>> {
        let resp = self.send(reg, access, Method::GET, location.clone(), &|rb| rb).await?;
        match resp.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => {
                let off =
                    parse_upload_range(resp.headers().get(header::RANGE), confirmed, &reg.name)?;
                let loc = if resp.headers().contains_key(header::LOCATION) {
                    reg.location(&resp)?
                } else {
                    location.clone()
                };
                Ok(Some((loc, off)))
            }
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Ok(None),
            _ => Err(status_error(resp, "GET", reg, "upload status").await),
        }
    }

    fn with_digest(location: &Url, digest: &Digest) -> Url {
        let mut u = location.clone();
        u.query_pairs_mut().append_pair("digest", &digest.to_string());
        u
    }

    async fn put_whole(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        location: &Url,
        desc: &Descriptor,
        src: &BlobSource,
        repo: &str,
    ) -> Result<()> {
        let body = self.source_body(src, desc, 0, desc.size).await?;
        let slot = std::sync::Mutex::new(Some(body));
        let resp = self
            .send_once(reg, access, Method::PUT, Self::with_digest(location, &desc.digest), &|rb| {
                let rb = rb
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, desc.size.to_string());
                match crate::client::lock(&slot).take() {
                    Some(b) => rb.body(b),
                    None => rb,
                }
            })
            .await?;
        if resp.status() == StatusCode::CREATED || resp.status() == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            Err(status_error(resp, "PUT", reg, &format!("upload of {} to {repo}", desc.digest))
                .await)
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_chunks(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        location: &mut Url,
        offset: &mut u64,
        chunk: &mut u64,
        min_chunk: u64,
        desc: &Descriptor,
        src: &BlobSource,
        repo: &str,
    ) -> Result<()> {
        let what = format!("upload of {} to {repo}", desc.digest);
        while *offset < desc.size {
            let len = (*chunk).min(desc.size - *offset);
            let body = self.source_body(src, desc, *offset, len).await?;
            let slot = std::sync::Mutex::new(Some(body));
            let range = format!("{}-{}", *offset, *offset + len - 1);
            let resp = self
                .send_once(reg, access, Method::PATCH, location.clone(), &|rb| {
                    let rb = rb
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, len.to_string())
                        .header(header::CONTENT_RANGE, &range);
                    match crate::client::lock(&slot).take() {
                        Some(b) => rb.body(b),
                        None => rb,
                    }
                })
                .await?;
            match resp.status() {
                StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => {
                    let next = parse_upload_range(
                        resp.headers().get(header::RANGE),
                        *offset + len,
                        &reg.name,
                    )?;
                    *location = reg.location(&resp)?;
                    if next != *offset + len {
                        // The registry kept a different amount: continue from what it has.
                        tracing::debug!(%what, expected = *offset + len, got = next, "registry reported another offset");
                    }
                    *offset = next;
                }
                StatusCode::PAYLOAD_TOO_LARGE => {
                    let smaller = *chunk / 2;
                    if smaller == 0 || smaller < min_chunk {
                        return Err(Error::Unsupported {
                            what,
                            reason: format!(
                                "registry refuses {len}-byte chunks and requires at least {min_chunk}"
                            ),
                        });
                    }
                    tracing::debug!(%what, from = *chunk, to = smaller, "chunk too large; halving");
                    *chunk = smaller;
                }
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    match self.upload_status(reg, access, location, *offset).await? {
                        Some((loc, off)) if off <= desc.size => {
                            *location = loc;
                            *offset = off;
                        }
                        _ => {
                            return Err(Error::Status {
                                method: "PATCH",
                                url: redact_url(location),
                                status: 416,
                                detail: "upload session lost after a range mismatch".into(),
                                retry_after: Some(Duration::ZERO),
                            });
                        }
                    }
                }
                _ => return Err(status_error(resp, "PATCH", reg, &what).await),
            }
        }
        let resp = self
            .send(reg, access, Method::PUT, Self::with_digest(location, &desc.digest), &|rb| {
                rb.header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        if resp.status() == StatusCode::CREATED || resp.status() == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            Err(status_error(resp, "PUT", reg, &what).await)
        }
    }

    /// Makes sure blob `desc` exists in `repo`: existence check, then mount from `mount_from`
    /// (same registry) if given, else upload from `src`.
    pub(crate) async fn upload_blob(
        &self,
        reg: &Arc<Registry>,
        repo: &str,
        desc: &Descriptor,
        src: &BlobSource,
        mount_from: Option<&str>,
    ) -> Result<BlobOutcome> {
        let access = match mount_from {
            Some(from) => Access::push_mount(repo, from),
            None => Access::push(repo),
        };
        let what = format!("upload of blob {} to {}/{repo}", desc.digest, reg.name);
        let done = |outcome| {
            self.emit(ProgressEvent::BlobDone {
                digest: desc.digest.clone(),
                direction: Direction::Push,
                outcome,
                size: desc.size,
            });
            Ok(outcome)
        };
        let existing =
            self.with_retry(&what, || self.blob_size(reg, &access, repo, &desc.digest)).await?;
        if existing == Some(desc.size) {
            return done(BlobOutcome::AlreadyPresent);
        }
        let mut retrier = Retrier::new(self, what.clone());
        let mut mount = mount_from;
        'session: loop {
            let (mut location, min_chunk) =
                match self.start_upload(reg, &access, repo, &desc.digest, mount).await {
                    Ok(Started::Mounted) => return done(BlobOutcome::Mounted),
                    Ok(Started::Session { location, min_chunk }) => (location, min_chunk),
                    Err(e) => {
                        retrier.pause(e).await?;
                        continue;
                    }
                };
            // A registry that answered a mount request with a fresh session will not mount on
            // a retry either.
            mount = None;
            let mut offset = 0u64;
            let mut chunk = match self.inner.upload {
                UploadMode::Monolithic => None,
                UploadMode::Chunked(n) => Some(n.max(min_chunk).max(1)),
            };
            loop {
                let res = match chunk.as_mut() {
                    None => self.put_whole(reg, &access, &location, desc, src, repo).await,
                    Some(c) => {
                        self.put_chunks(
                            reg,
                            &access,
                            &mut location,
                            &mut offset,
                            c,
                            min_chunk,
                            desc,
                            src,
                            repo,
                        )
                        .await
                    }
                };
                let err = match res {
                    Ok(()) => return done(BlobOutcome::Transferred),
                    Err(e) => e,
                };
                retrier.pause(err).await?;
                match self.upload_status(reg, &access, &location, offset).await {
                    Ok(Some((loc, off))) if off <= desc.size => {
                        tracing::debug!(%what, offset = off, "resuming upload at the registry's offset");
                        location = loc;
                        offset = off;
                        if chunk.is_none() && off > 0 {
                            // Send the rest as one chunk.
                            chunk = Some(desc.size - off);
                        }
                    }
                    Ok(_) => continue 'session,
                    Err(e) => {
                        retrier.pause(e).await?;
                        continue 'session;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_range() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(parse_upload_range(Some(&h("0-99")), 0, "r").unwrap(), 100);
        assert_eq!(parse_upload_range(Some(&h("bytes=0-99")), 0, "r").unwrap(), 100);
        assert_eq!(parse_upload_range(Some(&h("0-0")), 0, "r").unwrap(), 0);
        assert_eq!(parse_upload_range(Some(&h("0-0")), 1, "r").unwrap(), 1);
        for bad in ["", "5-9", "0-x", "9", "0--1"] {
            assert!(parse_upload_range(Some(&h(bad)), 0, "r").is_err(), "{bad}");
        }
        assert!(parse_upload_range(None, 0, "r").is_err());
    }
}
