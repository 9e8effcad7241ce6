//! Refreshing repositories into a [`RepositorySnapshot`] and downloading packages into the
//! shared, verified cache.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mbi_distro::Error> {
//! use mbi_distro::apt::fetch::{Apt, CheckTime, FetchOptions, RefreshOptions};
//! use mbi_distro::apt::sources::load_host_sources;
//! let sources = load_host_sources(std::path::Path::new("/"))?;
//! let apt = Apt::new("/var/cache/mbi")?;
//! let now = 1_750_000_000; // the caller's clock: the library never reads it
//! let snapshot = apt
//!     .refresh(&sources, &RefreshOptions::new(&["amd64"], CheckTime::At(now)))
//!     .await?;
//! let hello: Vec<_> =
//!     snapshot.packages.iter().filter(|p| p.name.as_str() == "hello").cloned().collect();
//! let paths = apt.fetch_packages(&hello, &FetchOptions::default(), &|_event| {}).await?;
//! # let _ = paths; Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use mbi_core::{Digest, Sha256Hasher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::apt::cache::{
    Cache, CachedBytes, Validators, read_validators, write_atomic, write_validators,
};
use crate::apt::http::{Attempt, HttpClient, Small};
use crate::apt::index::{ParseOptions, parse_packages};
use crate::apt::package::{BinaryPackage, IndexOrigin};
use crate::apt::release::{Release, ReleaseFile};
use crate::apt::signature::{
    Keyring, SignatureCheck, Signer, VerifyPolicy, check_clearsigned, check_detached,
    clearsigned_text_unverified,
};
use crate::apt::sources::{SignedBy, SourceEntry};

/// The time Release `Date` / `Valid-Until` and key validity are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckTime {
    /// Check against this Unix time (the CLI passes the current time; a lock rebuild may pass
    /// the lock's date).
    At(i64),
    /// Skip every time check (expired `Valid-Until`, future `Date`, keys expired since).
    /// Signatures are still verified, and keys must still have been valid when they signed.
    SkipTimeChecks,
}

impl CheckTime {
    fn at(self) -> Option<i64> {
        match self {
            CheckTime::At(t) => Some(t),
            CheckTime::SkipTimeChecks => None,
        }
    }
}

/// What [`Apt::refresh`] fetches and how strictly it checks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RefreshOptions {
    /// Architectures to index (e.g. `amd64`, `arm64`); packages of architecture `all` come
    /// with them. A source's own `Architectures` narrows this list.
    pub architectures: Vec<String>,
    /// Time checks.
    pub time: CheckTime,
    /// Keys for sources without `Signed-By` (apt's trusted.gpg.d, if the caller wants it).
    pub default_keyring: Option<Keyring>,
    /// DANGEROUS: accept repositories that are unsigned or have no keyring, but only those whose
    /// entry also says `Trusted: yes` / `trusted=yes`. A bad signature is refused regardless.
    pub allow_insecure: bool,
    /// Accept data signatures made with SHA-1 (and worse). Off by default.
    pub allow_weak_hashes: bool,
    /// Use only the cache: no network at all.
    pub offline: bool,
    /// Index parser options.
    pub parse: ParseOptions,
}

impl RefreshOptions {
    /// Strict defaults for these architectures and time.
    pub fn new(architectures: &[&str], time: CheckTime) -> RefreshOptions {
        RefreshOptions {
            architectures: architectures.iter().map(|a| (*a).to_owned()).collect(),
            time,
            default_keyring: None,
            allow_insecure: false,
            allow_weak_hashes: false,
            offline: false,
            parse: ParseOptions::default(),
        }
    }
}

/// Where one index's packages came from and why they are trusted: what a lockfile records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexProvenance {
    /// Repository base URI.
    pub uri: String,
    /// Suite as configured.
    pub suite: String,
    /// Component (empty for flat repositories).
    pub component: String,
    /// Architecture of the index (`amd64`, `all`, …; `flat` for flat repositories).
    pub architecture: String,
    /// `InRelease` or `Release`.
    pub release_file: String,
    /// SHA-256 of the signed metadata file exactly as fetched.
    pub release_sha256: Digest,
    /// The signer, or `None` for an insecure (explicitly trusted) repository.
    pub signer: Option<Signer>,
    /// Release `Date` (Unix seconds).
    pub date: Option<i64>,
    /// Release `Valid-Until` (Unix seconds).
    pub valid_until: Option<i64>,
    /// Index path relative to the Release file (`main/binary-amd64/Packages`).
    pub index_path: String,
    /// SHA-256 of the uncompressed index when the Release lists it, else of the file fetched.
    pub index_sha256: Digest,
    /// Number of packages in the index.
    pub packages: usize,
}

/// Every package of every configured index, in configuration order, with provenance.
#[derive(Debug, Clone, Default)]
pub struct RepositorySnapshot {
    /// All packages (duplicates across suites kept: the resolver picks).
    pub packages: Vec<BinaryPackage>,
    /// One entry per index read.
    pub indexes: Vec<IndexProvenance>,
}

impl RepositorySnapshot {
    /// The newest Release `Date` of all indexes (a reproducible default image creation time).
    pub fn newest_date(&self) -> Option<i64> {
        self.indexes.iter().filter_map(|i| i.date).max()
    }
}

/// Download options for [`Apt::fetch_packages`].
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Concurrent downloads.
    pub concurrency: usize,
    /// Use only the cache; a missing package is an error naming it.
    pub offline: bool,
    /// Re-hash cached files before returning them (cheap insurance against a damaged cache).
    pub verify_cached: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { concurrency: 4, offline: false, verify_cached: true }
    }
}

/// One `.deb` to download: where it is and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebFile {
    /// `name_version_arch`, for progress events and errors.
    pub label: String,
    /// Full URL.
    pub url: String,
    /// Path below the repository (for messages).
    pub filename: String,
    /// SHA-256 from the signed index (or a lock taken from it).
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
}

impl DebFile {
    /// The file of a package from a `Packages` index.
    pub fn of(p: &BinaryPackage) -> DebFile {
        DebFile {
            label: format!("{}_{}_{}", p.name, p.version, p.architecture),
            url: format!("{}{}", p.origin.uri, p.filename),
            filename: p.filename.to_string(),
            sha256: p.sha256.to_digest(),
            size: p.size,
        }
    }
}

/// Progress of [`Apt::fetch_packages`], for progress bars.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// Found in the cache; no download.
    Cached {
        /// `name_version_arch`
        package: String,
        /// Bytes.
        size: u64,
    },
    /// A download starts (or resumes at `from`).
    Started {
        /// `name_version_arch`
        package: String,
        /// Total bytes.
        size: u64,
        /// Bytes already present from an interrupted download.
        from: u64,
    },
    /// Bytes received so far.
    Progress {
        /// `name_version_arch`
        package: String,
        /// Bytes present.
        done: u64,
        /// Total bytes.
        size: u64,
    },
    /// A transient failure; the download will be retried (resuming).
    Retrying {
        /// `name_version_arch`
        package: String,
        /// What failed.
        reason: String,
    },
    /// Downloaded and verified.
    Finished {
        /// `name_version_arch`
        package: String,
        /// Bytes.
        size: u64,
    },
}

/// An apt client: HTTP plus the verified cache.
#[derive(Debug, Clone)]
pub struct Apt {
    http: HttpClient,
    cache: Cache,
}

struct DistMeta {
    release: Release,
    release_file: &'static str,
    release_sha256: Digest,
    signer: Option<Signer>,
    context: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Comp {
    Zstd,
    Xz,
    Gzip,
    Plain,
}

impl Comp {
    fn ext(self) -> &'static str {
        match self {
            Comp::Zstd => ".zst",
            Comp::Xz => ".xz",
            Comp::Gzip => ".gz",
            Comp::Plain => "",
        }
    }
}

const MAX_RELEASE: u64 = 64 << 20;

impl Apt {
    /// A client with the default HTTP settings and a cache at `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<Apt, Error> {
        Ok(Apt { http: HttpClient::new()?, cache: Cache::new(cache_dir)? })
    }

    /// A client with a custom HTTP client and cache.
    pub fn with_parts(http: HttpClient, cache: Cache) -> Apt {
        Apt { http, cache }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Fetches (or re-checks with conditional requests) and verifies every source's signed
    /// metadata, then loads each component × architecture index from the cache or the network,
    /// verified against the Release's SHA256, and parses it.
    pub async fn refresh(
        &self,
        sources: &[SourceEntry],
        opts: &RefreshOptions,
    ) -> Result<RepositorySnapshot, Error> {
        if opts.architectures.is_empty() {
            return Err(Error::Config("no architectures requested".into()));
        }
        let dists =
            futures_util::future::join_all(sources.iter().map(|e| self.refresh_dist(e, opts)))
                .await;
        let dists = dists.into_iter().collect::<Result<Vec<_>, _>>()?;
        let total: usize = dists.iter().flatten().map(|(pkgs, _)| pkgs.len()).sum();
        let mut snap = RepositorySnapshot::default();
        for (pkgs, prov) in dists.into_iter().flatten() {
            if snap.packages.is_empty() {
                // The first index (the main suite's, usually by far the largest) becomes the
                // vector and the others are appended: growing it once is a reallocation, not
                // a copy of every package.
                snap.packages = pkgs;
                snap.packages.reserve(total - snap.packages.len());
            } else {
                snap.packages.extend(pkgs);
            }
            snap.indexes.push(prov);
        }
        Ok(snap)
    }

    async fn refresh_dist(
        &self,
        e: &SourceEntry,
        opts: &RefreshOptions,
    ) -> Result<Vec<(Vec<BinaryPackage>, IndexProvenance)>, Error> {
        let meta = self.load_dist(e, opts).await?;
        let archs: Vec<String> = if e.architectures.is_empty() {
            opts.architectures.clone()
        } else {
            opts.architectures.iter().filter(|a| e.architectures.contains(a)).cloned().collect()
        };
        // (component, architecture, path of the uncompressed index)
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        if e.is_flat() {
            wanted.push((String::new(), "flat".into(), "Packages".into()));
        } else {
            let r = &meta.release;
            let arch_list = archs.clone();
            for c in &e.components {
                // debian-security lists `updates/main` but serves `main/…`, as apt accepts.
                let listed =
                    r.components.iter().any(|rc| rc == c || rc.ends_with(&format!("/{c}")));
                if !r.components.is_empty() && !listed {
                    return Err(Error::Release {
                        context: meta.context.clone(),
                        reason: format!(
                            "component {c:?} is not in Components ({})",
                            r.components.join(" ")
                        ),
                    });
                }
                for a in &arch_list {
                    if a != "all" && !r.architectures.is_empty() && !r.architectures.contains(a) {
                        continue; // the repository does not carry this architecture
                    }
                    wanted.push((c.clone(), a.clone(), format!("{c}/binary-{a}/Packages")));
                }
            }
        }
        let load = |(comp, arch, path): (String, String, String)| {
            let meta = &meta;
            let archs = &archs;
            async move {
                let (bytes, index_sha256) = self.load_index(e, meta, &path, opts).await?;
                let origin = Arc::new(IndexOrigin {
                    uri: e.uri.clone(),
                    suite: e.suite.clone(),
                    component: comp.clone(),
                });
                let context = format!("{}{}", e.dist_url(), path);
                let parse = opts.parse.clone();
                let mut pkgs = tokio::task::spawn_blocking(move || {
                    parse_packages(&bytes, &origin, &context, &parse)
                })
                .await
                .map_err(|e| Error::Config(format!("parser task failed: {e}")))??;
                if e.is_flat() {
                    pkgs.retain(|p| {
                        &*p.architecture == "all" || archs.iter().any(|a| **a == *p.architecture)
                    });
                }
                let prov = IndexProvenance {
                    uri: e.uri.clone(),
                    suite: e.suite.clone(),
                    component: comp,
                    architecture: arch,
                    release_file: meta.release_file.into(),
                    release_sha256: meta.release_sha256.clone(),
                    signer: meta.signer.clone(),
                    date: meta.release.date,
                    valid_until: meta.release.valid_until,
                    index_path: path,
                    index_sha256,
                    packages: pkgs.len(),
                };
                Ok::<_, Error>((pkgs, prov))
            }
        };
        let mut out: Vec<(Vec<BinaryPackage>, IndexProvenance)> =
            futures_util::future::join_all(wanted.into_iter().map(load))
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
        // `No-Support-for-Architecture-all: Packages`: `all` packages live in binary-all. Debian
        // still repeats them in every architecture's index (then binary-all only duplicates
        // them); fetch binary-all only for components whose indexes carry no `all` package.
        let r = &meta.release;
        if !e.is_flat() && r.no_support_for_architecture_all {
            let mut extra = Vec::new();
            for c in &e.components {
                let path = format!("{c}/binary-all/Packages");
                let listed = [".xz", ".gz", ".zst", ""]
                    .iter()
                    .any(|x| r.file(&format!("{path}{x}")).is_some());
                let has_all = out
                    .iter()
                    .filter(|(_, p)| &p.component == c)
                    .any(|(pk, _)| pk.iter().any(|p| &*p.architecture == "all"));
                if listed && !has_all {
                    extra.push((c.clone(), "all".to_owned(), path));
                }
            }
            for x in futures_util::future::join_all(extra.into_iter().map(load)).await {
                out.push(x?);
            }
        }
        Ok(out)
    }

    /// The keyring of a source, read but not parsed: parsing it (and checking its keys) is
    /// only needed when the verification cache cannot answer. A file that cannot be read is an
    /// error here, as it always was; one that cannot be parsed never produced a cache record,
    /// so it still fails, in [`KeyMaterial::parse`].
    fn key_material(
        &self,
        e: &SourceEntry,
        opts: &RefreshOptions,
    ) -> Result<Option<KeyMaterial>, Error> {
        match &e.signed_by {
            Some(SignedBy::Keyrings(paths)) => {
                let mut files = Vec::with_capacity(paths.len());
                for p in paths {
                    let bytes =
                        std::fs::read(p).map_err(|err| Error::io("read keyring", p, err))?;
                    files.push((p.clone(), bytes));
                }
                Ok(Some(KeyMaterial::Files(files)))
            }
            Some(SignedBy::Inline(armour)) => Ok(Some(KeyMaterial::Inline {
                armour: armour.clone(),
                context: format!("inline Signed-By key of {}", e.defined_at),
            })),
            None => Ok(opts.default_keyring.clone().map(KeyMaterial::Parsed)),
        }
    }

    async fn load_dist(&self, e: &SourceEntry, opts: &RefreshOptions) -> Result<DistMeta, Error> {
        let dist_url = e.dist_url();
        let dir = self.cache.lists_dir(&dist_url);
        let keyring = self.key_material(e, opts)?;
        let insecure_ok = e.trusted && opts.allow_insecure;
        if keyring.is_none() && !insecure_ok {
            return Err(Error::Signature {
                context: dist_url,
                reason: format!(
                    "no keyring for the source defined at {} (add Signed-By)",
                    e.defined_at
                ),
            });
        }
        let policy =
            VerifyPolicy { allow_weak_hashes: opts.allow_weak_hashes, now: opts.time.at() };
        let inrelease_url = format!("{dist_url}InRelease");
        let cached_in = dir.join("InRelease");
        // Returns the signed metadata bytes and which file they are.
        let (file, bytes, detached): (&'static str, Vec<u8>, Option<Vec<u8>>) = if opts.offline {
            if let Ok(b) = std::fs::read(&cached_in) {
                ("InRelease", b, None)
            } else if let Ok(b) = std::fs::read(dir.join("Release")) {
                ("Release", b, std::fs::read(dir.join("Release.gpg")).ok())
            } else {
                return Err(Error::NotCached {
                    what: format!("signed metadata of {dist_url}"),
                    path: dir,
                });
            }
        } else {
            let v = read_validators(&dir).filter(|v| v.file == "InRelease" && cached_in.is_file());
            let (etag, lm) = match &v {
                Some(v) => (v.etag.as_deref(), v.last_modified.as_deref()),
                None => (None, None),
            };
            match self.http.get_small(&inrelease_url, etag, lm, MAX_RELEASE).await? {
                Small::NotModified => {
                    let b = std::fs::read(&cached_in)
                        .map_err(|err| Error::io("read", &cached_in, err))?;
                    ("InRelease", b, None)
                }
                Small::Body { bytes, etag, last_modified } => {
                    // Verify before caching (below); remember validators only after. A mirror
                    // that sends no validators answers 200 every time: when the bytes are the
                    // ones cached, nothing is rewritten (and the verification cache answers).
                    let unchanged = std::fs::read(&cached_in).is_ok_and(|b| b == bytes);
                    let m = self
                        .verify_blocking(
                            e,
                            "InRelease",
                            bytes.clone(),
                            None,
                            keyring,
                            policy,
                            insecure_ok,
                            inrelease_url,
                            dir.clone(),
                        )
                        .await?;
                    if !unchanged {
                        write_atomic(&cached_in, &bytes)?;
                        for stale in ["Release", "Release.gpg"] {
                            let _ = std::fs::remove_file(dir.join(stale));
                        }
                    }
                    let fresh = Validators { file: "InRelease".into(), etag, last_modified };
                    if read_validators(&dir).as_ref() != Some(&fresh) {
                        write_validators(&dir, &fresh)?;
                    }
                    return self.finish_meta(e, m, opts);
                }
                Small::NotFound => {
                    let rel_url = format!("{dist_url}Release");
                    let rel = match self.http.get_small(&rel_url, None, None, MAX_RELEASE).await? {
                        Small::Body { bytes, .. } => bytes,
                        _ => {
                            return Err(Error::Release {
                                context: dist_url,
                                reason: "neither InRelease nor Release exists".into(),
                            });
                        }
                    };
                    let gpg_url = format!("{dist_url}Release.gpg");
                    let sig = match self.http.get_small(&gpg_url, None, None, MAX_RELEASE).await? {
                        Small::Body { bytes, .. } => Some(bytes),
                        _ => None,
                    };
                    let m = self
                        .verify_blocking(
                            e,
                            "Release",
                            rel.clone(),
                            sig.clone(),
                            keyring,
                            policy,
                            insecure_ok,
                            rel_url,
                            dir.clone(),
                        )
                        .await?;
                    write_atomic(&dir.join("Release"), &rel)?;
                    match &sig {
                        Some(s) => write_atomic(&dir.join("Release.gpg"), s)?,
                        None => {
                            let _ = std::fs::remove_file(dir.join("Release.gpg"));
                        }
                    }
                    let _ = std::fs::remove_file(&cached_in);
                    write_validators(
                        &dir,
                        &Validators { file: "Release".into(), etag: None, last_modified: None },
                    )?;
                    return self.finish_meta(e, m, opts);
                }
            }
        };
        let ctx = format!("{dist_url}{file}");
        let m = self
            .verify_blocking(e, file, bytes, detached, keyring, policy, insecure_ok, ctx, dir)
            .await?;
        self.finish_meta(e, m, opts)
    }

    /// [`Apt::verify_meta`] on a blocking thread: signature checks are CPU work (RSA-4096, a
    /// few ms each), so the suites of one refresh verify in parallel.
    #[allow(clippy::too_many_arguments)]
    async fn verify_blocking(
        &self,
        e: &SourceEntry,
        file: &'static str,
        bytes: Vec<u8>,
        detached: Option<Vec<u8>>,
        keyring: Option<KeyMaterial>,
        policy: VerifyPolicy,
        insecure_ok: bool,
        context: String,
        dir: PathBuf,
    ) -> Result<DistMeta, Error> {
        let (this, entry) = (self.clone(), e.clone());
        tokio::task::spawn_blocking(move || {
            this.verify_meta(
                &entry,
                file,
                &bytes,
                detached.as_deref(),
                keyring.as_ref(),
                &policy,
                insecure_ok,
                &context,
                &dir,
            )
        })
        .await
        .map_err(|e| Error::Config(format!("signature task failed: {e}")))?
    }

    #[allow(clippy::too_many_arguments)]
    fn verify_meta(
        &self,
        e: &SourceEntry,
        file: &'static str,
        bytes: &[u8],
        detached: Option<&[u8]>,
        keyring: Option<&KeyMaterial>,
        policy: &VerifyPolicy,
        insecure_ok: bool,
        context: &str,
        dir: &Path,
    ) -> Result<DistMeta, Error> {
        let release_sha256 = Digest::sha256(bytes);
        let signed = match (file, keyring, detached) {
            ("InRelease", Some(k), _) => Some((k, None)),
            (_, Some(k), Some(sig)) => Some((k, Some(sig))),
            _ => None,
        };
        let (text, signer) = match signed {
            Some((k, sig)) => {
                let (t, s) =
                    verify_cached(bytes, &release_sha256, sig, k, file, policy, context, dir)?;
                (t, Some(s))
            }
            None if file == "InRelease" && keyring.is_none() => {
                (clearsigned_text_unverified(bytes)?, None)
            }
            None if insecure_ok => (utf8(bytes, context)?, None),
            None => {
                return Err(Error::Signature {
                    context: context.into(),
                    reason: format!(
                        "repository is unsigned (no InRelease, no Release.gpg); refusing it \
                         unless the source defined at {} says Trusted: yes AND allow_insecure is set",
                        e.defined_at
                    ),
                });
            }
        };
        let release = Release::parse(&text, context)?;
        Ok(DistMeta {
            release,
            release_file: file,
            release_sha256,
            signer,
            context: context.into(),
        })
    }

    fn finish_meta(
        &self,
        e: &SourceEntry,
        m: DistMeta,
        opts: &RefreshOptions,
    ) -> Result<DistMeta, Error> {
        if let Some(now) = opts.time.at() {
            m.release.check_time(now, &m.context)?;
        }
        if !e.is_flat() {
            let r = &m.release;
            let names = [r.suite.as_deref(), r.codename.as_deref()];
            if (r.suite.is_some() || r.codename.is_some())
                && !names.contains(&Some(e.suite.as_str()))
            {
                return Err(Error::Release {
                    context: m.context.clone(),
                    reason: format!(
                        "is for suite {:?} / codename {:?}, not the configured {:?} (replayed metadata?)",
                        r.suite.as_deref().unwrap_or(""),
                        r.codename.as_deref().unwrap_or(""),
                        e.suite
                    ),
                });
            }
        }
        Ok(m)
    }

    /// Returns the verified, decompressed index bytes and the digest that names them.
    async fn load_index(
        &self,
        e: &SourceEntry,
        meta: &DistMeta,
        path: &str,
        opts: &RefreshOptions,
    ) -> Result<(CachedBytes, Digest), Error> {
        let r = &meta.release;
        let plain = r.file(path);
        let candidates: Vec<(Comp, &ReleaseFile)> = [Comp::Zstd, Comp::Xz, Comp::Gzip, Comp::Plain]
            .into_iter()
            .filter_map(|c| r.file(&format!("{path}{}", c.ext())).map(|f| (c, f)))
            .collect();
        if candidates.is_empty() {
            return Err(Error::Release {
                context: meta.context.clone(),
                reason: format!("lists no {path} index (in any compression)"),
            });
        }
        let key_of = |c: &ReleaseFile| -> String {
            match plain {
                Some(p) => p.sha256.hex().to_owned(),
                None => format!("z-{}", c.sha256.hex()),
            }
        };
        // Warm cache: the decompressed copy. It is trusted by its name: a file appears under
        // `indexes/<sha256>` only through `download_index`, which renames it into place
        // (atomically) after both the compressed and the decompressed digests matched the
        // signed Release. Re-hashing 50 MB on every run would cost more than parsing it half
        // over, so only the size is checked here (a truncated or replaced file of another size
        // is dropped and fetched again); [`Cache::verify_indexes`] re-hashes on request.
        for (_, f) in &candidates {
            let cp = self.cache.index_path(&key_of(f));
            let path = cp.clone();
            let read = tokio::task::spawn_blocking(move || CachedBytes::read(&path)).await;
            if let Ok(Ok(bytes)) = read {
                match plain {
                    Some(p) if bytes.len() as u64 == p.size => {
                        return Ok((bytes, p.sha256.clone()));
                    }
                    Some(_) => {}
                    None => return Ok((bytes, f.sha256.clone())),
                }
                // A damaged cache entry is dropped and fetched again.
                let _ = std::fs::remove_file(&cp);
            }
        }
        if opts.offline {
            return Err(Error::NotCached {
                what: format!("index {}{path}", e.dist_url()),
                path: self.cache.index_path(&key_of(candidates[0].1)),
            });
        }
        let dir_url = match path.rfind('/') {
            Some(i) => format!("{}{}", e.dist_url(), &path[..=i]),
            None => e.dist_url(),
        };
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let mut last_err = None;
        for (comp, f) in &candidates {
            let canonical = format!("{dir_url}{file_name}{}", comp.ext());
            let mut urls = Vec::new();
            if r.acquire_by_hash {
                urls.push(format!("{dir_url}by-hash/SHA256/{}", f.sha256.hex()));
            }
            urls.push(canonical);
            for url in urls {
                let dest = self.cache.index_path(&key_of(f));
                let res = self
                    .http
                    .with_retries(|| self.download_index(&url, *comp, f, plain, &dest))
                    .await;
                match res {
                    Ok(true) => {
                        let path = dest.clone();
                        let bytes = tokio::task::spawn_blocking(move || CachedBytes::read(&path))
                            .await
                            .map_err(|e| Error::Config(format!("read task failed: {e}")))?
                            .map_err(|err| Error::io("read", &dest, err))?;
                        let d = plain.map_or_else(|| f.sha256.clone(), |p| p.sha256.clone());
                        return Ok((bytes, d));
                    }
                    Ok(false) => continue, // 404: try the next location / compression
                    Err(err @ Error::Integrity { .. }) => return Err(err),
                    Err(err) => last_err = Some(err),
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Http {
            url: format!("{dir_url}{file_name}"),
            reason: "no listed compression of this index could be downloaded (404)".into(),
        }))
    }

    /// Streams one index: hashes the compressed bytes, decompresses, hashes the output, writes
    /// it to a temp file and renames it to `dest` only if both digests and sizes match.
    /// `Ok(false)` means 404.
    async fn download_index(
        &self,
        url: &str,
        comp: Comp,
        file: &ReleaseFile,
        plain: Option<&ReleaseFile>,
        dest: &Path,
    ) -> Result<bool, Attempt> {
        let perm = |error: Error| Attempt { error, transient: false };
        let Some((_, stream)) = self.http.get_stream(url, 0).await? else {
            return Ok(false);
        };
        let hasher = Arc::new(Mutex::new(Sha256Hasher::new()));
        let h2 = hasher.clone();
        let limit = file.size;
        let stream = stream.map(move |r| {
            let b = r.map_err(|e| std::io::Error::other(e.to_string()))?;
            let mut h = h2.lock().unwrap_or_else(|e| e.into_inner());
            h.update(&b);
            if h.len() > limit {
                return Err(std::io::Error::other("more bytes than the Release lists"));
            }
            Ok::<_, std::io::Error>(b)
        });
        let reader = tokio_util::io::StreamReader::new(stream);
        let buf = tokio::io::BufReader::with_capacity(256 << 10, reader);
        let mut dec: Pin<Box<dyn AsyncRead + Send>> = match comp {
            Comp::Xz => Box::pin(async_compression::tokio::bufread::XzDecoder::new(buf)),
            Comp::Gzip => {
                let mut d = async_compression::tokio::bufread::GzipDecoder::new(buf);
                d.multiple_members(true);
                Box::pin(d)
            }
            Comp::Zstd => Box::pin(async_compression::tokio::bufread::ZstdDecoder::new(buf)),
            Comp::Plain => Box::pin(buf),
        };
        let dir = dest.parent().unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| perm(Error::io("create temp file in", dir, e)))?;
        let std_file =
            tmp.reopen().map_err(|e| perm(Error::io("open", tmp.path().to_path_buf(), e)))?;
        let mut out = tokio::fs::File::from_std(std_file);
        let mut out_hash = Sha256Hasher::new();
        let max_out = plain.map_or(8u64 << 30, |p| p.size);
        let mut chunk = vec![0u8; 256 << 10];
        loop {
            let n = match dec.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let msg = e.to_string();
                    let integrity = msg.contains("more bytes than the Release lists");
                    let error = if integrity {
                        Error::Integrity {
                            context: url.into(),
                            expected: format!("{} bytes (from the signed Release)", file.size),
                            actual: "more".into(),
                        }
                    } else if msg.contains("reading body") || msg.contains("HTTP") {
                        Error::Http { url: url.into(), reason: msg }
                    } else {
                        Error::Decompress { context: url.into(), reason: msg }
                    };
                    // Transport errors are retried; corrupt data is not.
                    let transient = matches!(error, Error::Http { .. });
                    return Err(Attempt { error, transient });
                }
            };
            out_hash.update(&chunk[..n]);
            if out_hash.len() > max_out {
                return Err(perm(Error::Integrity {
                    context: url.into(),
                    expected: format!("{max_out} bytes uncompressed"),
                    actual: "more".into(),
                }));
            }
            out.write_all(&chunk[..n])
                .await
                .map_err(|e| perm(Error::io("write", tmp.path().to_path_buf(), e)))?;
        }
        out.flush().await.map_err(|e| perm(Error::io("write", tmp.path().to_path_buf(), e)))?;
        let (got, got_len) = hasher.lock().unwrap_or_else(|e| e.into_inner()).clone().finish();
        if got != file.sha256 || got_len != file.size {
            return Err(perm(Error::Integrity {
                context: url.into(),
                expected: format!("{} ({} bytes, from the signed Release)", file.sha256, file.size),
                actual: format!("{got} ({got_len} bytes)"),
            }));
        }
        let (pgot, plen) = out_hash.finish();
        if let Some(p) = plain
            && (pgot != p.sha256 || plen != p.size)
        {
            return Err(perm(Error::Integrity {
                context: format!("{url} (decompressed)"),
                expected: format!("{} ({} bytes)", p.sha256, p.size),
                actual: format!("{pgot} ({plen} bytes)"),
            }));
        }
        out.sync_data().await.map_err(|e| perm(Error::io("sync", tmp.path().to_path_buf(), e)))?;
        drop(out);
        tmp.persist(dest).map_err(|e| perm(Error::io("rename into", dest, e.error)))?;
        Ok(true)
    }

    /// Downloads `packages` into the cache (concurrently, verified against their index SHA256,
    /// resuming interrupted downloads) and returns their cache paths in the same order.
    /// Nothing unverified is ever stored under a final name.
    pub async fn fetch_packages(
        &self,
        packages: &[BinaryPackage],
        opts: &FetchOptions,
        on_event: &(dyn Fn(&FetchEvent) + Send + Sync),
    ) -> Result<Vec<PathBuf>, Error> {
        let files: Vec<DebFile> = packages.iter().map(DebFile::of).collect();
        self.fetch_files(&files, opts, on_event).await
    }

    /// [`Apt::fetch_packages`] for files known by URL and digest alone, such as a lockfile's
    /// entries ([`crate::lock::LockedPackage::deb_file`]): no index needed.
    pub async fn fetch_files(
        &self,
        files: &[DebFile],
        opts: &FetchOptions,
        on_event: &(dyn Fn(&FetchEvent) + Send + Sync),
    ) -> Result<Vec<PathBuf>, Error> {
        // One download per distinct file, even if listed twice.
        let mut unique: BTreeMap<&Digest, &DebFile> = BTreeMap::new();
        for f in files {
            unique.entry(&f.sha256).or_insert(f);
        }
        let results: Vec<Result<(Digest, PathBuf), Error>> =
            futures_util::stream::iter(unique.into_values().map(|f| async move {
                self.fetch_one(f, opts, on_event).await.map(|path| (f.sha256.clone(), path))
            }))
            .buffered(opts.concurrency.max(1))
            .collect()
            .await;
        let mut done = BTreeMap::new();
        for r in results {
            let (digest, path) = r?;
            done.insert(digest, path);
        }
        Ok(files.iter().map(|f| done.get(&f.sha256).cloned().unwrap_or_default()).collect())
    }

    async fn fetch_one(
        &self,
        p: &DebFile,
        opts: &FetchOptions,
        on_event: &(dyn Fn(&FetchEvent) + Send + Sync),
    ) -> Result<PathBuf, Error> {
        let label = p.label.clone();
        let dest = self.cache.deb_path(&p.sha256);
        if let Ok(m) = tokio::fs::metadata(&dest).await
            && m.len() == p.size
        {
            let good = if opts.verify_cached {
                let d2 = dest.clone();
                let h = tokio::task::spawn_blocking(move || hash_file(&d2))
                    .await
                    .map_err(|e| Error::Config(format!("hash task failed: {e}")))??;
                h.0 == p.sha256
            } else {
                true
            };
            if good {
                on_event(&FetchEvent::Cached { package: label, size: p.size });
                return Ok(dest);
            }
            let _ = std::fs::remove_file(&dest);
        }
        if opts.offline {
            return Err(Error::NotCached {
                what: format!("package {label} ({})", p.filename),
                path: dest,
            });
        }
        let url = p.url.clone();
        let partial = self.cache.partial_path(&p.sha256);
        let res = self
            .http
            .with_retries(|| async {
                let r = self.download_deb(&url, p, &label, &partial, on_event).await;
                if let Err(a) = &r
                    && a.transient
                {
                    on_event(&FetchEvent::Retrying {
                        package: label.clone(),
                        reason: a.error.to_string(),
                    });
                }
                r
            })
            .await;
        if let Err(e) = res {
            if matches!(e, Error::Integrity { .. }) {
                let _ = std::fs::remove_file(&partial);
            }
            return Err(e);
        }
        on_event(&FetchEvent::Finished { package: label, size: p.size });
        Ok(dest)
    }

    async fn download_deb(
        &self,
        url: &str,
        p: &DebFile,
        label: &str,
        partial: &Path,
        on_event: &(dyn Fn(&FetchEvent) + Send + Sync),
    ) -> Result<(), Attempt> {
        let perm = |error: Error| Attempt { error, transient: false };
        let mut have = tokio::fs::metadata(partial).await.map(|m| m.len()).unwrap_or(0);
        if have > p.size {
            let _ = tokio::fs::remove_file(partial).await;
            have = 0;
        }
        let mut hasher = Sha256Hasher::new();
        if have > 0 && have < p.size {
            let pp = partial.to_path_buf();
            let (h, n) = tokio::task::spawn_blocking(move || {
                let mut h = Sha256Hasher::new();
                let mut f = std::fs::File::open(&pp)?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                let n = h.len();
                Ok::<_, std::io::Error>((h, n))
            })
            .await
            .map_err(|e| perm(Error::Config(format!("hash task failed: {e}"))))?
            .map_err(|e| perm(Error::io("read", partial, e)))?;
            hasher = h;
            have = n;
        }
        let from = if have == p.size { 0 } else { have };
        if from == 0 {
            hasher = Sha256Hasher::new();
            have = 0;
        }
        on_event(&FetchEvent::Started { package: label.into(), size: p.size, from: have });
        let Some((status, mut stream)) = self.http.get_stream(url, from).await? else {
            return Err(perm(Error::Http { url: url.into(), reason: "404 Not Found".into() }));
        };
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(partial)
            .await
            .map_err(|e| perm(Error::io("open", partial, e)))?;
        if from > 0 && status != 206 {
            // The server ignored the Range: start over.
            f.set_len(0).await.map_err(|e| perm(Error::io("truncate", partial, e)))?;
            hasher = Sha256Hasher::new();
            have = 0;
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| Attempt { error, transient: true })?;
            if have + chunk.len() as u64 > p.size {
                let _ = tokio::fs::remove_file(partial).await;
                return Err(perm(Error::Integrity {
                    context: format!("{url} ({label})"),
                    expected: format!("{} bytes", p.size),
                    actual: "more".into(),
                }));
            }
            f.write_all(&chunk).await.map_err(|e| perm(Error::io("write", partial, e)))?;
            hasher.update(&chunk);
            have += chunk.len() as u64;
            on_event(&FetchEvent::Progress { package: label.into(), done: have, size: p.size });
        }
        f.flush().await.map_err(|e| perm(Error::io("write", partial, e)))?;
        if have < p.size {
            return Err(Attempt {
                error: Error::Http {
                    url: url.into(),
                    reason: format!("body ended after {have} of {} bytes", p.size),
                },
                transient: true,
            });
        }
        let (digest, _) = hasher.finish();
        if digest != p.sha256 {
            drop(f);
            let _ = tokio::fs::remove_file(partial).await;
            return Err(perm(Error::Integrity {
                context: format!("{url} ({label})"),
                expected: format!("{} (from the signed index)", p.sha256),
                actual: digest.to_string(),
            }));
        }
        f.sync_data().await.map_err(|e| perm(Error::io("sync", partial, e)))?;
        drop(f);
        let dest = self.cache.deb_path(&p.sha256);
        tokio::fs::rename(partial, &dest)
            .await
            .map_err(|e| perm(Error::io("rename into", &dest, e)))?;
        Ok(())
    }
}

/// A source's keyring as read from its files (or text), parsed only on demand.
enum KeyMaterial {
    Files(Vec<(PathBuf, Vec<u8>)>),
    Inline { armour: String, context: String },
    Parsed(Keyring),
}

impl KeyMaterial {
    /// The same list [`Keyring::source_digests`] gives once parsed.
    fn digests(&self) -> Vec<Digest> {
        match self {
            KeyMaterial::Files(files) => files.iter().map(|(_, b)| Digest::sha256(b)).collect(),
            KeyMaterial::Inline { armour, .. } => vec![Digest::sha256(armour.as_bytes())],
            KeyMaterial::Parsed(k) => k.source_digests().to_vec(),
        }
    }

    fn parse(&self) -> Result<std::borrow::Cow<'_, Keyring>, Error> {
        Ok(match self {
            KeyMaterial::Files(files) => {
                let mut k = Keyring::new();
                for (path, bytes) in files {
                    k.extend(Keyring::from_bytes(bytes, &path.display().to_string())?);
                }
                std::borrow::Cow::Owned(k)
            }
            KeyMaterial::Inline { armour, context } => {
                std::borrow::Cow::Owned(Keyring::from_bytes(armour.as_bytes(), context)?)
            }
            KeyMaterial::Parsed(k) => std::borrow::Cow::Borrowed(k),
        })
    }
}

/// The file, next to the cached signed metadata, that remembers its last verification.
const VERIFIED: &str = "verified.json";

/// What checking a signed metadata file against a keyring established (see
/// [`verify_cached`]), bound to the digests of both.
#[derive(serde::Serialize, serde::Deserialize)]
struct VerifiedRecord {
    format: u32,
    /// `InRelease` or `Release`.
    file: String,
    /// SHA-256 of the signed file exactly as fetched.
    release_sha256: Digest,
    /// SHA-256 of `Release.gpg` for a detached signature.
    signature_sha256: Option<Digest>,
    /// [`Keyring::source_digests`] of the keyring it was checked against.
    keyring: Vec<Digest>,
    /// The time-independent result of the signature check.
    check: SignatureCheck,
    /// The signed text (what the Release is parsed from).
    text: String,
}

const VERIFIED_FORMAT: u32 = 1;

/// Verifies signed metadata, reusing the last verification of the same bytes against the same
/// keyring when there is one, and returns the signed text and the signer.
///
/// The public-key work (parsing the keyring, RSA over the signatures, the keys' self-signatures
/// and bindings) depends only on the signed file, the detached signature and the keyring
/// bytes, so its outcome ([`SignatureCheck`]) is stored in `dir/verified.json` with the SHA-256
/// of all three and reused only when all three digests are equal. The policy is applied again
/// on every run ([`SignatureCheck::judge`]: the key valid at signing time and now, signature
/// not expired or from the future, weak hashes), and so are the Release's `Date` /
/// `Valid-Until` checks ([`Apt::finish_meta`]): a record never lets through what verifying
/// from scratch today would refuse. Anything unusual (no record, another format, a digest
/// differs, the policy refuses) falls back to verifying from scratch, which rewrites the
/// record.
///
/// Trust: the record lives in the cache directory, which is already trusted to hold verified
/// data (cached indexes are trusted by their names, see [`Apt::load_index`]): whoever can write
/// there can already swap an index. The record therefore adds no new way in; a cache shared
/// with untrusted users is unsafe with or without it. A record is written (atomically) only
/// after a successful verification.
#[allow(clippy::too_many_arguments)]
fn verify_cached(
    data: &[u8],
    data_sha256: &Digest,
    detached: Option<&[u8]>,
    keys: &KeyMaterial,
    file: &str,
    policy: &VerifyPolicy,
    context: &str,
    dir: &Path,
) -> Result<(String, Signer), Error> {
    let keyring = keys.digests();
    let signature_sha256 = detached.map(Digest::sha256);
    let path = dir.join(VERIFIED);
    if let Some(rec) =
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<VerifiedRecord>(&b).ok())
        && rec.format == VERIFIED_FORMAT
        && rec.file == file
        && rec.release_sha256 == *data_sha256
        && rec.signature_sha256 == signature_sha256
        && rec.keyring == keyring
        && let Ok(signer) = rec.check.judge(policy, context)
    {
        return Ok((rec.text, signer));
    }
    let k = keys.parse()?;
    let (text, check) = match detached {
        None => check_clearsigned(data, &k, context)?,
        Some(sig) => {
            let check = check_detached(data, sig, &k, context)?;
            check.judge(policy, context)?; // a signature error comes before a UTF-8 one
            (utf8(data, context)?, check)
        }
    };
    let signer = check.judge(policy, context)?;
    let rec = VerifiedRecord {
        format: VERIFIED_FORMAT,
        file: file.to_owned(),
        release_sha256: data_sha256.clone(),
        signature_sha256,
        keyring,
        check,
        text,
    };
    // Best effort: a cache that cannot be written only costs the next run a verification.
    if let Ok(bytes) = serde_json::to_vec(&rec) {
        let _ = write_atomic(&path, &bytes);
    }
    Ok((rec.text, signer))
}

fn utf8(bytes: &[u8], context: &str) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::Release { context: context.into(), reason: "not UTF-8".into() })
}

fn hash_file(p: &Path) -> Result<(Digest, u64), Error> {
    let mut f = std::fs::File::open(p).map_err(|e| Error::io("open", p, e))?;
    let mut h = Sha256Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io("read", p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}
