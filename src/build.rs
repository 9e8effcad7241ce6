//! Building images from a [`Spec`]: the whole pipeline, in three calls.
//!
//! ```text
//!  spec ──► lock() ─────────► Lockfile ──► fetch() ──► .deb files ──► assemble() ──► image / index
//!           sources, signed               verified                    install, scripts,
//!           indexes, resolve              downloads                   layers, config
//! ```
//!
//! 1. [`lock`] reads the spec's sources (or the host's), fetches and verifies the signed
//!    metadata, resolves the package set of every architecture and returns a [`Lockfile`]:
//!    the packages in install order with their SHA-256, and where trust in each index came
//!    from.
//! 2. [`fetch`] downloads the locked packages into the shared, content-addressed cache (or
//!    finds them there), each checked against the SHA-256 the lock took from the signed index.
//! 3. [`assemble`] installs them into a file tree per architecture (package database, maintainer
//!    script effects), splits it into layers, writes the layers and the image config into a
//!    [`BlobStore`], and returns the image (one architecture) or index (several).
//!
//! A lock made earlier can be passed to [`fetch`] and [`assemble`] directly: the build then
//! reproduces the image exactly, without resolving again (and offline, when the cache holds the
//! packages). Nothing here reads the clock or the environment: the time signatures are checked
//! against and `SOURCE_DATE_EPOCH` are fields of [`BuildOptions`].
//!
//! The image's creation time (config `created`, history, layer mtimes clamp) is the spec's
//! `source_date_epoch`, else [`BuildOptions::source_date_epoch`], else the one recorded in the
//! lock, which is the newest `Date` of the signed Release files: never the wall clock.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mbi_core::{BlobStore, Descriptor, HistoryEntry, Image, ImageBuilder, IndexBuilder, Platform};
use mbi_distro::apt::fetch::{
    Apt, CheckTime, FetchEvent, FetchOptions, RefreshOptions, RepositorySnapshot,
};
use mbi_distro::apt::install::{Flavour, Installer, PackageFile};
use mbi_distro::apt::layering::split;
use mbi_distro::apt::scripts::{ScriptAction, ScriptNote};
use mbi_distro::apt::signature::Keyring;
use mbi_distro::apt::{PackageName, Request, Resolver};
use mbi_distro::lock::{ArchLock, IndexProvenance, LockedPackage, Lockfile};
use mbi_distro::spec::{CompressionSpec, Spec};
use mbi_layer::{Content, EntryKind, LayerCompression, LayerOptions, LayerWriter, TreePath};

use crate::error::{Error, Result};

/// The `PATH` every image gets unless the spec sets one (Debian's default for root).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Annotation: the distribution, from the image's `/etc/os-release` (e.g. `debian 12 (bookworm)`).
pub const ANNOTATION_DISTRIBUTION: &str = "dev.mbi.distribution";
/// Annotation: the suites the packages came from, comma-separated.
pub const ANNOTATION_SUITES: &str = "dev.mbi.suites";
/// Annotation: the variant (`apt`, `distroless`, …).
pub const ANNOTATION_VARIANT: &str = "dev.mbi.variant";
/// Annotation: the digest of the locked package set of the image's architecture.
pub const ANNOTATION_PACKAGE_SET: &str = "dev.mbi.package-set.digest";

/// What a build needs besides the spec. [`BuildOptions::new`] has safe defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The cache for indexes and packages (shared by builds; content-addressed).
    pub cache_dir: PathBuf,
    /// The root whose `etc/apt` sources are used when the spec names none (`/` normally).
    pub host_root: PathBuf,
    /// Build only these architectures (default: the spec's, else the native one).
    pub architectures: Vec<String>,
    /// The native architecture, for specs that list none (Debian's name: `amd64`, `arm64`).
    pub native_architecture: String,
    /// `SOURCE_DATE_EPOCH` from the caller's environment, if set. The spec's own value wins.
    pub source_date_epoch: Option<i64>,
    /// The time signatures and `Valid-Until` are checked against (the caller passes now).
    pub now: CheckTime,
    /// Use only the cache: no network.
    pub offline: bool,
    /// Where spool files (unpacked package data) go while a build runs.
    pub temp_dir: PathBuf,
    /// Compression threads (default: the number of CPUs; capped as
    /// [`LayerOptions::threads`](mbi_layer::LayerOptions::threads) says). Never changes the
    /// output.
    pub threads: Option<usize>,
    /// Concurrent downloads.
    pub concurrency: usize,
    /// Keep unpacked packages in `<cache_dir>/unpacked` so later builds skip decompressing
    /// them (on by default; see [`mbi_distro::apt::unpack_cache`]).
    pub keep_unpacked: bool,
}

impl BuildOptions {
    /// Options with the cache at `cache_dir`, checking signatures at Unix time `now`, the
    /// host's sources under `/`, spool files under `temp_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>, now: i64, temp_dir: impl Into<PathBuf>) -> Self {
        BuildOptions {
            cache_dir: cache_dir.into(),
            host_root: PathBuf::from("/"),
            architectures: Vec::new(),
            native_architecture: native_architecture().to_owned(),
            source_date_epoch: None,
            now: CheckTime::At(now),
            offline: false,
            temp_dir: temp_dir.into(),
            threads: None,
            concurrency: 8,
            keep_unpacked: true,
        }
    }

    fn architectures(&self, spec: &Spec) -> Vec<String> {
        if self.architectures.is_empty() {
            spec.architectures_or(&self.native_architecture)
        } else {
            self.architectures.clone()
        }
    }
}

/// The cache directory mbi uses by default: `$XDG_CACHE_HOME/mbi`, else `$HOME/.cache/mbi`;
/// `None` when neither is set (or both are empty). The caller reads the two variables (the
/// library reads no environment): `default_cache_dir(var_os("XDG_CACHE_HOME"),
/// var_os("HOME"))`.
///
/// ```
/// use std::path::Path;
/// use mbi::build::default_cache_dir;
///
/// let dir = default_cache_dir(Some("/x/cache".into()), Some("/home/u".into()));
/// assert_eq!(dir.as_deref(), Some(Path::new("/x/cache/mbi")));
/// let dir = default_cache_dir(Some("".into()), Some("/home/u".into()));
/// assert_eq!(dir.as_deref(), Some(Path::new("/home/u/.cache/mbi")));
/// assert_eq!(default_cache_dir(None, None), None);
/// ```
pub fn default_cache_dir(
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let set = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    set(xdg_cache_home).map(|x| x.join("mbi")).or_else(|| set(home).map(|h| h.join(".cache/mbi")))
}

/// Debian's name for the architecture this program was compiled for
/// ([`Platform::host`] in Debian's spelling).
pub fn native_architecture() -> &'static str {
    Platform::host().debian_arch().unwrap_or(std::env::consts::ARCH)
}

/// What happened during a build, for progress bars and logs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BuildEvent {
    /// A step finished (one line for a log).
    Step(String),
    /// Something the user should know (e.g. a maintainer script neither run nor emulated).
    Warning(String),
    /// A step starts that has no byte count (a spinner).
    Working(String),
    /// Downloads start: this many packages, this many bytes in all.
    DownloadsStarted {
        /// Number of packages.
        packages: usize,
        /// Total bytes.
        bytes: u64,
    },
    /// Progress of one download.
    Fetch(FetchEvent),
}

/// A progress callback.
pub type OnEvent<'a> = &'a (dyn Fn(&BuildEvent) + Send + Sync);

/// Resolves `spec` into a lockfile: sources, signed indexes, one resolution per architecture.
pub async fn lock(spec: &Spec, options: &BuildOptions, on: OnEvent<'_>) -> Result<Lockfile> {
    Ok(lock_with_snapshot(spec, options, on).await?.0)
}

/// [`lock`], also handing back every package of every index read (the snapshot the lock was
/// resolved from) instead of freeing it.
///
/// A distribution's indexes hold tens of thousands of packages in hundreds of thousands of
/// small allocations, and freeing them takes tens of milliseconds, as long as resolving. A
/// program that inspects the packages keeps them; one that is about to exit (like the `mbi`
/// CLI) may `std::mem::forget` the snapshot and let the operating system reclaim the memory.
pub async fn lock_with_snapshot(
    spec: &Spec,
    options: &BuildOptions,
    on: OnEvent<'_>,
) -> Result<(Lockfile, RepositorySnapshot)> {
    let sources = spec.resolve_sources(&options.host_root)?;
    if sources.entries.is_empty() {
        return Err(Error::Build(format!("no apt sources in {}", sources.origin)));
    }
    let archs = options.architectures(spec);
    let arch_refs: Vec<&str> = archs.iter().map(String::as_str).collect();
    let mut refresh = RefreshOptions::new(&arch_refs, options.now);
    refresh.offline = options.offline;
    if !spec.keyrings.is_empty() {
        let mut keys = Keyring::new();
        for k in &spec.keyrings {
            keys.extend(Keyring::load(k)?);
        }
        refresh.default_keyring = Some(keys);
    }
    on(&BuildEvent::Working(format!("Reading indexes of {}", sources.origin)));
    let apt = Apt::new(&options.cache_dir)?;
    let snapshot = apt.refresh(&sources.entries, &refresh).await?;
    on(&BuildEvent::Step(format!(
        "Read {} indexes ({} packages) from {}",
        snapshot.indexes.len(),
        snapshot.packages.len(),
        sources.origin
    )));
    let epoch = spec.source_date_epoch.or(options.source_date_epoch).or(snapshot.newest_date());

    let mut request = Request::new(spec.variant)
        .with_packages(spec.packages.iter().map(String::as_str))?
        .recommends(spec.recommends);
    for x in &spec.exclude {
        request = request.exclude(PackageName::new(x)?);
    }
    let mut lock = Lockfile::new(spec.digest()?, spec.variant.as_str());
    lock.source_date_epoch = epoch;
    lock.indexes = snapshot.indexes.iter().map(IndexProvenance::from).collect();
    for arch in &archs {
        on(&BuildEvent::Working(format!("Resolving {arch}")));
        // Only the packages the request can reach become the resolver's universe (same result
        // as `Resolver::new(all).resolve`, see `resolve_among`).
        let resolution = Resolver::resolve_among(&snapshot.packages, arch, &request)?;
        on(&BuildEvent::Step(format!(
            "Resolved {arch}: {} packages ({} variant)",
            resolution.packages.len(),
            spec.variant
        )));
        let packages =
            resolution.packages.iter().map(|p| LockedPackage::from_binary(&p.package)).collect();
        lock.architectures.insert(arch.clone(), ArchLock { packages });
    }
    // Only the indexes packages came from (and those of every architecture built) matter for
    // an audit, but all were read: keep all, in configuration order.
    lock.validate().map_err(|r| Error::Build(format!("the new lock is inconsistent: {r}")))?;
    Ok((lock, snapshot))
}

/// Checks that `lock` was made from `spec` and covers the architectures to build.
pub fn check_lock(spec: &Spec, lock: &Lockfile, options: &BuildOptions) -> Result<()> {
    let digest = spec.digest()?;
    if lock.spec_digest != digest {
        return Err(Error::Build(format!(
            "the lockfile was made from another spec (its specDigest is {}, this spec's is \
             {digest}): run `mbi lock` again",
            lock.spec_digest
        )));
    }
    for arch in options.architectures(spec) {
        if !lock.architectures.contains_key(&arch) {
            return Err(Error::Build(format!("the lockfile has no packages for {arch}")));
        }
    }
    Ok(())
}

/// The `.deb` files of one architecture, in install order.
#[derive(Debug, Clone)]
pub struct FetchedArch {
    /// The architecture.
    pub architecture: String,
    /// One path per locked package, in the lock's order.
    pub files: Vec<PathBuf>,
}

/// Downloads (or finds in the cache) every package `lock` names for the architectures to build,
/// each verified against its locked SHA-256.
pub async fn fetch(
    spec: &Spec,
    lock: &Lockfile,
    options: &BuildOptions,
    on: OnEvent<'_>,
) -> Result<Vec<FetchedArch>> {
    let apt = Apt::new(&options.cache_dir)?;
    let fetch = FetchOptions {
        concurrency: options.concurrency.max(1),
        offline: options.offline,
        ..FetchOptions::default()
    };
    let mut out = Vec::new();
    for arch in options.architectures(spec) {
        let locked = lock
            .architectures
            .get(&arch)
            .ok_or_else(|| Error::Build(format!("the lockfile has no packages for {arch}")))?;
        let debs: Vec<_> = locked.packages.iter().map(LockedPackage::deb_file).collect();
        on(&BuildEvent::DownloadsStarted {
            packages: debs.len(),
            bytes: debs.iter().map(|p| p.size).sum(),
        });
        let forward = |e: &FetchEvent| on(&BuildEvent::Fetch(e.clone()));
        let files = apt.fetch_files(&debs, &fetch, &forward).await?;
        on(&BuildEvent::Step(format!("Fetched {} packages for {arch}", files.len())));
        out.push(FetchedArch { architecture: arch, files });
    }
    Ok(out)
}

/// What [`assemble`] made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image (one architecture) or index (several): what to tag.
    pub root: Descriptor,
    /// The image of each architecture, in build order.
    pub images: Vec<(String, Image)>,
    /// Maintainer scripts: what was run, emulated or skipped, per architecture.
    pub report: Vec<(String, ScriptNote)>,
    /// The creation time used.
    pub source_date_epoch: i64,
}

/// Installs the fetched packages, writes the layers and the image(s) into `store`.
pub fn assemble(
    spec: &Spec,
    lock: &Lockfile,
    fetched: &[FetchedArch],
    store: &dyn BlobStore,
    options: &BuildOptions,
    on: OnEvent<'_>,
) -> Result<Built> {
    let epoch = spec
        .source_date_epoch
        .or(options.source_date_epoch)
        .or(lock.source_date_epoch)
        .ok_or_else(|| {
            Error::Build(
                "no creation time: set SOURCE_DATE_EPOCH (the indexes have no Date)".into(),
            )
        })?;
    let created = u64::try_from(epoch)
        .map_err(|_| Error::Build(format!("SOURCE_DATE_EPOCH {epoch} is before 1970")))?;
    let suites: BTreeSet<&str> = lock
        .architectures
        .values()
        .flat_map(|a| a.packages.iter().map(|p| p.suite.as_str()))
        .collect();
    let suites = suites.into_iter().collect::<Vec<_>>().join(",");
    let mut images = Vec::new();
    let mut report = Vec::new();
    for f in fetched {
        let arch = f.architecture.as_str();
        let locked = lock
            .architectures
            .get(arch)
            .ok_or_else(|| Error::Build(format!("the lockfile has no packages for {arch}")))?;
        if locked.packages.len() != f.files.len() {
            return Err(Error::Build(format!(
                "{arch}: {} files for {} locked packages",
                f.files.len(),
                locked.packages.len()
            )));
        }
        let spool = tempfile::Builder::new()
            .prefix("mbi-build-")
            .tempdir_in(&options.temp_dir)
            .map_err(|e| Error::io("create a spool directory in", &options.temp_dir, e))?;
        let mut install = spec.install_options(arch, spool.path(), epoch)?;
        if let Some(t) = options.threads {
            install = install.threads(t);
        }
        if options.keep_unpacked {
            install = install.unpack_cache(options.cache_dir.join("unpacked"));
        }
        // `fetch` checked every file against the lock's SHA-256.
        let files: Vec<PackageFile> = locked
            .packages
            .iter()
            .zip(&f.files)
            .map(|(p, path)| {
                PackageFile::expecting(path, &p.name, &p.version, &p.architecture)
                    .verified_sha256(p.sha256.clone())
            })
            .collect();
        on(&BuildEvent::Working(format!("Installing {} packages for {arch}", files.len())));
        let installation = Installer::new(install).install(&files)?;
        on(&BuildEvent::Step(format!(
            "Installed {} packages for {arch} ({} entries)",
            installation.packages.len(),
            installation.tree.len()
        )));
        for note in &installation.report {
            if matches!(note.action, ScriptAction::Skipped | ScriptAction::Partial) {
                on(&BuildEvent::Warning(format!(
                    "{arch}: {} {}: {}",
                    note.package, note.script, note.detail
                )));
            }
            report.push((arch.to_owned(), note.clone()));
        }
        let distribution = os_release(&installation.tree);

        let groups = split(&installation, spec.layering)?;
        let mut layer_options = LayerOptions::default()
            .compression(compression(spec.compression))
            .source_date_epoch(epoch);
        if let Some(t) = options.threads {
            layer_options = layer_options.threads(t);
        }
        let writer = LayerWriter::new(layer_options);
        let platform = Platform::from_debian_arch(arch)?;
        let mut b = ImageBuilder::new(platform);
        b.created(created);
        let count = groups.len();
        for (i, g) in groups.iter().enumerate() {
            on(&BuildEvent::Working(format!(
                "Writing layer {}/{count} ({}) for {arch}",
                i + 1,
                g.name
            )));
            let layer = writer.write_tree(&g.tree, store)?;
            on(&BuildEvent::Step(format!(
                "Wrote layer {}/{count} {} ({}, {} bytes)",
                i + 1,
                layer.descriptor.digest,
                g.name,
                layer.descriptor.size
            )));
            let comment = if count == 1 {
                format!("{} packages", installation.packages.len())
            } else {
                g.sources.join(" ")
            };
            b.append_layer(
                layer.descriptor.clone(),
                layer.diff_id.clone(),
                HistoryEntry::new(format!("mbi build ({} variant)", spec.variant)).comment(comment),
            );
        }
        // Config: PATH first (a spec's env may override it), then the spec's settings.
        b.env("PATH", DEFAULT_PATH);
        if spec.variant.flavour() == Flavour::Distroless
            && installation.packages.iter().any(|p| p.name == "ca-certificates")
        {
            b.env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt");
        }
        for (k, v) in &spec.env {
            b.env(k, v);
        }
        if let Some(e) = &spec.entrypoint {
            b.entrypoint(e.iter().cloned());
        }
        if let Some(c) = &spec.cmd {
            b.cmd(c.iter().cloned());
        }
        if let Some(u) = &spec.user {
            b.user(u);
        }
        if let Some(w) = &spec.workdir {
            b.working_dir(w);
        }
        if let Some(d) = &distribution {
            b.annotation(ANNOTATION_DISTRIBUTION, d);
        }
        b.annotation(ANNOTATION_SUITES, &suites);
        b.annotation(ANNOTATION_VARIANT, spec.variant.as_str());
        if let Some(d) = lock.package_set_digest(arch) {
            b.annotation(ANNOTATION_PACKAGE_SET, d.to_string());
        }
        for (k, v) in &spec.annotations {
            b.annotation(k, v);
        }
        let image = b.build(store)?;
        on(&BuildEvent::Step(format!("Built {arch} image {}", image.digest())));
        drop(installation);
        drop(spool);
        images.push((arch.to_owned(), image));
    }
    let root = match images.as_slice() {
        [(_, one)] => one.descriptor().clone(),
        many => {
            let mut ib = IndexBuilder::new();
            ib.created(created);
            for (_, image) in many {
                ib.add(image);
            }
            for (k, v) in &spec.annotations {
                ib.annotation(k, v);
            }
            ib.build(store)?.descriptor().clone()
        }
    };
    Ok(Built { root, images, report, source_date_epoch: epoch })
}

fn compression(c: CompressionSpec) -> LayerCompression {
    match c {
        CompressionSpec::Gzip(level) => LayerCompression::Gzip { level },
        CompressionSpec::Zstd(level) => LayerCompression::Zstd { level },
        _ => LayerCompression::None,
    }
}

/// `ID VERSION_ID (VERSION_CODENAME)` from the tree's os-release (symlinks followed inside
/// the tree, as [`FileTree::resolve`](mbi_layer::FileTree::resolve) does).
fn os_release(tree: &mbi_layer::FileTree) -> Option<String> {
    let path = TreePath::new("etc/os-release").ok()?;
    let resolved = tree.resolve(&path, true).ok()??;
    let EntryKind::File(c) = &tree.get(&resolved)?.kind else { return None };
    let text = read_content(c)?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut out = field("ID")?;
    if let Some(v) = field("VERSION_ID") {
        out.push(' ');
        out.push_str(&v);
    }
    if let Some(c) = field("VERSION_CODENAME") {
        out.push_str(&format!(" ({c})"));
    }
    Some(out)
}

/// A small text file's content (os-release is a few hundred bytes; anything over 64 KiB is not
/// read, so a hostile package cannot make the build hold a huge file in memory).
fn read_content(c: &Content) -> Option<String> {
    use std::io::Read;
    let (reader, len) = c.open().ok()?;
    if len > 64 * 1024 {
        return None;
    }
    let mut text = String::new();
    reader.take(64 * 1024).read_to_string(&mut text).ok()?;
    Some(text)
}
