//! The real CNCF distribution registry (`docker-registry serve`, Debian package
//! `docker-registry`) on a free loopback port, with filesystem storage in a temp dir and deletes
//! enabled, in three auth modes: none, htpasswd basic auth (`htpasswd -Bbn`, apache2-utils), and
//! bearer tokens from a [`TokenServer`].
//!
//! ```no_run
//! use mbi_testkit::registry::{RegistryAuth, TestRegistry};
//! let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
//! println!("push to {}/app:v1", reg.host());
//! // The process is killed when `reg` is dropped.
//! ```

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::token::{TokenConfig, TokenServer};

/// Errors of the registry, token server and fault proxy fixtures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An external tool failed or is missing.
    #[error("{tool}: {reason}")]
    Tool {
        /// The tool.
        tool: String,
        /// What happened.
        reason: String,
    },
    /// The registry did not come up.
    #[error("registry did not start: {reason}\n--- registry log ---\n{log}")]
    Startup {
        /// Why.
        reason: String,
        /// The registry's output.
        log: String,
    },
    /// A server socket or runtime could not be set up.
    #[error("{what}: {source}")]
    Server {
        /// Which server.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A hyper server on its own thread and runtime, on a free loopback port. Stops when dropped.
pub(crate) struct ServerThread {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    pub(crate) fn spawn<F, Fut, B, E>(
        what: &str,
        handler: F,
    ) -> Result<(Self, SocketAddr), TestkitError>
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<B>, E>> + Send + 'static,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let err = |source| TestkitError::Server { what: what.to_owned(), source };
        let listener = TcpListener::bind("127.0.0.1:0").map_err(err)?;
        let addr = listener.local_addr().map_err(err)?;
        listener.set_nonblocking(true).map_err(err)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("mbi-testkit {what}"))
            .enable_all()
            .build()
            .map_err(err)?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let handler = Arc::new(handler);
        let join = std::thread::Builder::new()
            .name(format!("mbi-testkit {what}"))
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            acc = listener.accept() => {
                                let Ok((stream, _)) = acc else { continue };
                                let _ = stream.set_nodelay(true);
                                let h = handler.clone();
                                tokio::spawn(async move {
                                    let svc = hyper::service::service_fn(move |req| (h)(req));
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(err)?;
        Ok((ServerThread { shutdown: Some(tx), join: Some(join) }, addr))
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// How clients must authenticate.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// No authentication.
    Anonymous,
    /// HTTP basic auth against an htpasswd file with these users.
    Htpasswd(Vec<(String, String)>),
    /// Bearer tokens from a token server with this configuration.
    Token(TokenConfig),
}

/// A running registry process. Killed (and its storage removed) when dropped.
pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    host: String,
    token: Option<TokenServer>,
    tls_cert: Option<PathBuf>,
}

impl std::fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRegistry").field("host", &self.host).finish_non_exhaustive()
    }
}

/// Whether the registry binary is installed.
pub fn registry_available() -> bool {
    Command::new("docker-registry")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> Result<u16, TestkitError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| TestkitError::Server { what: "free port".into(), source })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|source| TestkitError::Server { what: "free port".into(), source })
}

/// A temp dir on tmpfs when there is one (the root filesystem here is slow for many files).
pub fn fast_tempdir(prefix: &str) -> Result<tempfile::TempDir, TestkitError> {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix(prefix).to_owned();
    let r = if shm.is_dir() { b.tempdir_in(shm) } else { b.tempdir() };
    r.map_err(|source| TestkitError::Io { path: shm.to_owned(), source })
}

fn http_ready(host: &str, tls: bool) -> bool {
    let Ok(mut s) = TcpStream::connect(host) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    // A TLS registry answers plain HTTP with 400 once it is up.
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.") && (tls || buf[9..12] == *b"200" || buf[9..12] == *b"401"))
}

impl TestRegistry {
    /// Starts a registry with `auth` and waits until `/v2/` answers.
    pub fn start(auth: RegistryAuth) -> Result<Self, TestkitError> {
        Self::start_inner(auth, false)
    }

    /// Like [`TestRegistry::start`], serving HTTPS with a fresh self-signed certificate for
    /// `127.0.0.1` (made with `openssl`); see [`TestRegistry::tls_cert_path`].
    pub fn start_tls(auth: RegistryAuth) -> Result<Self, TestkitError> {
        Self::start_inner(auth, true)
    }

    fn start_inner(auth: RegistryAuth, tls: bool) -> Result<Self, TestkitError> {
        let mut last = None;
        for _ in 0..4 {
            match Self::try_start(auth.clone(), tls) {
                Ok(r) => return Ok(r),
                Err(TestkitError::Startup { reason, log })
                    if log.contains("address already in use") =>
                {
                    last = Some(TestkitError::Startup { reason, log });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or(TestkitError::Startup { reason: "no free port".into(), log: String::new() }))
    }

    fn try_start(auth: RegistryAuth, tls: bool) -> Result<Self, TestkitError> {
        let dir = fast_tempdir("mbi-registry-")?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TestkitError::Io { path, source }
        };
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).map_err(io(&data))?;
        let mut token = None;
        let auth_yaml = match auth {
            RegistryAuth::Anonymous => String::new(),
            RegistryAuth::Htpasswd(users) => {
                let path = dir.path().join("htpasswd");
                let mut lines = String::new();
                for (u, p) in users {
                    let out =
                        Command::new("htpasswd").args(["-Bbn", &u, &p]).output().map_err(|e| {
                            TestkitError::Tool {
                                tool: "htpasswd (apache2-utils)".into(),
                                reason: e.to_string(),
                            }
                        })?;
                    if !out.status.success() {
                        return Err(TestkitError::Tool {
                            tool: "htpasswd".into(),
                            reason: String::from_utf8_lossy(&out.stderr).into_owned(),
                        });
                    }
                    lines.push_str(String::from_utf8_lossy(&out.stdout).trim());
                    lines.push('\n');
                }
                std::fs::write(&path, lines).map_err(io(&path))?;
                format!("auth:\n  htpasswd:\n    realm: mbi-test\n    path: {}\n", path.display())
            }
            RegistryAuth::Token(cfg) => {
                let t = TokenServer::start(dir.path(), cfg)?;
                let y = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    t.realm(),
                    crate::token::SERVICE,
                    crate::token::ISSUER,
                    t.cert_path().display()
                );
                token = Some(t);
                y
            }
        };
        let mut tls_cert = None;
        let tls_yaml = if tls {
            let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
            tool(
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
                        "/CN=127.0.0.1",
                    ])
                    .args([
                        "-addext",
                        "subjectAltName=IP:127.0.0.1",
                        "-addext",
                        "basicConstraints=critical,CA:FALSE",
                    ])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
                "openssl req",
            )?;
            let y = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            tls_cert = Some(cert);
            y
        } else {
            String::new()
        };
        let cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {host}\n  secret: mbi-testkit-upload-state-secret\n{tls_yaml}{auth_yaml}",
            data.display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).map_err(io(&cfg_path))?;
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
        let log2 = log.try_clone().map_err(io(&log_path))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| TestkitError::Tool {
                tool: "docker-registry (Debian package docker-registry)".into(),
                reason: e.to_string(),
            })?;
        let mut reg = TestRegistry { child, dir, host, token, tls_cert };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = reg.child.try_wait() {
                return Err(TestkitError::Startup {
                    reason: format!("exited with {status}"),
                    log: reg.log(),
                });
            }
            if http_ready(&reg.host, reg.tls_cert.is_some()) {
                return Ok(reg);
            }
            if Instant::now() > deadline {
                return Err(TestkitError::Startup {
                    reason: "/v2/ did not answer within 20 s".into(),
                    log: reg.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.host.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The PEM certificate of a registry started with [`TestRegistry::start_tls`].
    pub fn tls_cert_path(&self) -> Option<&Path> {
        self.tls_cert.as_deref()
    }

    /// The token server, in token mode.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// The registry's storage directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The registry's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), incompressible enough to make gzip layers
/// about as large as their content.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn tool(cmd: &mut Command, name: &str) -> Result<Vec<u8>, TestkitError> {
    let out = cmd
        .output()
        .map_err(|e| TestkitError::Tool { tool: name.to_owned(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(TestkitError::Tool {
            tool: name.to_owned(),
            reason: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(out.stdout)
}

/// The descriptor tagged `tag` in the OCI layout at `layout` (its `index.json`).
pub fn layout_descriptor(layout: &Path, tag: &str) -> Result<mbi_core::Descriptor, TestkitError> {
    let p = layout.join("index.json");
    let bytes = std::fs::read(&p).map_err(|source| TestkitError::Io { path: p.clone(), source })?;
    let bad =
        |reason: String| TestkitError::Tool { tool: format!("reading {}", p.display()), reason };
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let entry = v["manifests"]
        .as_array()
        .and_then(|m| {
            m.iter().find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        })
        .ok_or_else(|| bad(format!("no manifest tagged {tag:?}")))?;
    serde_json::from_value(entry.clone()).map_err(|e| bad(e.to_string()))
}

/// Writes `oci-layout` and an `index.json` listing `entries` (descriptor, tag) into `layout`,
/// whose `blobs/` a store already filled — enough for skopeo and umoci to read it.
pub fn write_layout_index(
    layout: &Path,
    entries: &[(mbi_core::Descriptor, &str)],
) -> Result<(), TestkitError> {
    let io = |path: PathBuf| move |source| TestkitError::Io { path, source };
    let p = layout.join("oci-layout");
    std::fs::write(&p, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io(p.clone()))?;
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(d, tag)| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            v["annotations"]["org.opencontainers.image.ref.name"] =
                serde_json::Value::String((*tag).to_owned());
            v
        })
        .collect();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    let p = layout.join("index.json");
    std::fs::write(&p, index.to_string()).map_err(io(p.clone()))
}

/// Builds an image with umoci in the OCI layout `layout` (created if needed) under `tag`: one
/// layer per entry of `layers` (files given as path relative to `/data/layerN` and content),
/// for `linux/<arch>`. Returns the manifest's descriptor.
pub fn umoci_image(
    layout: &Path,
    tag: &str,
    arch: &str,
    layers: &[Vec<(String, Vec<u8>)>],
) -> Result<mbi_core::Descriptor, TestkitError> {
    if !layout.join("index.json").exists() {
        tool(Command::new("umoci").args(["init", "--layout"]).arg(layout), "umoci init")?;
    }
    let image = format!("{}:{tag}", layout.display());
    tool(Command::new("umoci").args(["new", "--image", &image]), "umoci new")?;
    let scratch = fast_tempdir("mbi-umoci-src-")?;
    for (i, files) in layers.iter().enumerate() {
        let src = scratch.path().join(format!("layer{i}"));
        for (rel, content) in files {
            let p = src.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| TestkitError::Io { path: parent.to_owned(), source })?;
            }
            std::fs::write(&p, content)
                .map_err(|source| TestkitError::Io { path: p.clone(), source })?;
        }
        std::fs::create_dir_all(&src)
            .map_err(|source| TestkitError::Io { path: src.clone(), source })?;
        tool(
            Command::new("umoci")
                .args(["insert", "--rootless", "--image", &image])
                .arg(&src)
                .arg(format!("/data/layer{i}")),
            "umoci insert",
        )?;
    }
    tool(
        Command::new("umoci").args([
            "config",
            "--image",
            &image,
            "--os",
            "linux",
            "--architecture",
            arch,
            "--config.cmd",
            "/bin/true",
        ]),
        "umoci config",
    )?;
    layout_descriptor(layout, tag)
}
