//! Installing resolved, downloaded `.deb` packages into a [`FileTree`].
//!
//! [`Installer::install`] takes packages **in install order** (as the resolver returns them)
//! with their local `.deb` files and produces an [`Installation`]: the file tree of the image,
//! what each package installed, who put each path there (for [layering](crate::apt::layering)),
//! and a report of every maintainer script: emulated, run, or skipped with the reason.
//!
//! What it does, in order:
//!
//! 1. reads every package in parallel ([`DebReader`]: control data in memory, file contents
//!    spooled to the spool directory, paths checked);
//! 2. sets up merged-/usr when the release uses it ([`MergedUsr`]): `bin`, `sbin`, `lib` (and
//!    `lib64`… when packages ship them) become symlinks into `usr/`, so files shipped under
//!    `/bin/x` land in `/usr/bin/x`, as dpkg does by following the symlinks;
//! 3. places each package's entries with dpkg's rules: directories merge (a directory over a
//!    symlink to a directory keeps the symlink), a path already owned by another package may be
//!    taken over only if the new package `Replaces` the old one (else
//!    [`Error::FileConflict`]), `Multi-Arch: same` instances may share identical files;
//! 4. applies maintainer-script effects ([`scripts`]): emulated for
//!    distroless images (and full images without a way to run scripts), or run for real inside
//!    the new root;
//! 5. writes the dpkg database ([`dpkg_db`]), full or distroless.
//!
//! The tree's regular files refer to the spool files ([`Content::FileRange`]); they stay valid
//! as long as the [`Installation`] (or a clone of its `keep_alive`) lives.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mbi_layer::{Content, Entry, EntryKind, FileTree, TreePath};
use md5::Digest as _;

use crate::Error;
use crate::apt::deb::{Conffile, DataKind, Deb, DebControl, DebReader};
use crate::apt::dpkg_db::{self, DbPackage, FullDbOptions, PackageState};
use crate::apt::relation::parse_relation_list;
use crate::apt::scripts::{self, Account, ScriptNote, ScriptPolicy};
use crate::apt::unpack_cache::UnpackCache;
use crate::apt::version::DebVersion;

/// What a generated entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNode {
    /// A directory.
    Directory,
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(String),
}

/// An entry the installer adds to the tree on top of the packages' own files: the package
/// database, emulated script effects, extra files from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Path relative to the root, without a leading `/`.
    pub path: String,
    /// Kind and content.
    pub node: NewNode,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl NewEntry {
    /// A regular file owned by root.
    pub fn file(path: impl Into<String>, content: impl Into<Vec<u8>>, mode: u32) -> Self {
        NewEntry { path: path.into(), node: NewNode::File(content.into()), mode, uid: 0, gid: 0 }
    }

    /// A directory owned by root.
    pub fn dir(path: impl Into<String>, mode: u32) -> Self {
        NewEntry { path: path.into(), node: NewNode::Directory, mode, uid: 0, gid: 0 }
    }

    /// A symbolic link.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        NewEntry {
            path: path.into(),
            node: NewNode::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }

    /// Sets the owner.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The [`Entry`] for a tree, with modification time `mtime`.
    pub fn to_entry(&self, mtime: i64) -> Result<Entry, Error> {
        let path = TreePath::new(&self.path)?;
        let kind = match &self.node {
            NewNode::Directory => EntryKind::Dir,
            NewNode::File(b) => EntryKind::File(Content::bytes(b.clone())),
            NewNode::Symlink(t) => EntryKind::Symlink(t.as_bytes().to_vec()),
        };
        Ok(Entry::new(path, kind)
            .with_mode(self.mode)
            .with_owner(self.uid, self.gid)
            .with_mtime(mtime))
    }
}

/// Which kind of image is being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Flavour {
    /// A full Debian/Ubuntu system: complete dpkg database, usable `dpkg`/`apt` inside.
    #[default]
    Full,
    /// Only the packages an application needs: no maintainer scripts run, their known effects
    /// emulated, distroless' `status.d` database.
    Distroless,
}

/// Whether the `/bin`, `/sbin`, `/lib*` directories are symlinks into `/usr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum MergedUsr {
    /// Decide from the packages: merged when `usrmerge` or `usr-is-merged` is installed, or
    /// `base-files` is Debian's ≥ 12 or Ubuntu's ≥ 11 (20.04); otherwise not (Debian 9,
    /// Ubuntu 16.04 are not merged).
    #[default]
    Auto,
    /// Always merged.
    Yes,
    /// Never merged.
    No,
}

/// One package to install: its `.deb` file and, optionally, what the index said it is (the
/// installer refuses a file whose control data disagrees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// The local `.deb` file.
    pub path: PathBuf,
    /// Expected (name, version, architecture).
    pub expect: Option<(String, String, String)>,
    /// The file's SHA-256, when the caller has verified it: lets an
    /// [`UnpackCache`] serve the unpacked data.
    pub sha256: Option<mbi_core::Digest>,
}

impl PackageFile {
    /// A package file with no expectations.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PackageFile { path: path.into(), expect: None, sha256: None }
    }

    /// A package file that must be `name` `version` for `arch`.
    pub fn expecting(
        path: impl Into<PathBuf>,
        name: impl Into<String>,
        version: impl Into<String>,
        arch: impl Into<String>,
    ) -> Self {
        PackageFile {
            path: path.into(),
            expect: Some((name.into(), version.into(), arch.into())),
            sha256: None,
        }
    }

    /// Records the file's SHA-256, which the caller has verified.
    pub fn verified_sha256(mut self, sha256: mbi_core::Digest) -> Self {
        self.sha256 = Some(sha256);
        self
    }
}

impl PackageFile {
    /// The downloaded file of a package from an index: the installer checks that the file's
    /// control data names the same package, version and architecture.
    pub fn for_package(package: &crate::apt::BinaryPackage, path: impl Into<PathBuf>) -> Self {
        PackageFile::expecting(
            path,
            package.name.as_str(),
            package.version.as_str(),
            &*package.architecture,
        )
    }
}

impl From<PathBuf> for PackageFile {
    fn from(p: PathBuf) -> Self {
        PackageFile::new(p)
    }
}

impl From<&Path> for PackageFile {
    fn from(p: &Path) -> Self {
        PackageFile::new(p)
    }
}

/// Options of an [`Installer`]. Build with [`InstallOptions::new`] and the setters; the
/// defaults are a full image with emulated scripts, merged-/usr decided from the packages,
/// UTC, and no extra accounts.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Full or distroless.
    pub flavour: Flavour,
    /// What to do with maintainer scripts (full images; distroless always emulates).
    pub scripts: ScriptPolicy,
    /// The native architecture (`amd64`, `arm64`, …).
    pub native_arch: String,
    /// Merged-/usr layout.
    pub merged_usr: MergedUsr,
    /// Where `.deb` data is spooled (and, when scripts run, where the root is assembled):
    /// tmpfs is best.
    pub spool_dir: PathBuf,
    /// Timestamp for generated files and for the `/etc/shadow` "last change" day.
    pub source_date_epoch: i64,
    /// Accounts to add to `/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/gshadow`.
    pub accounts: Vec<Account>,
    /// Add the distroless `nonroot` (65532) account even for full images.
    pub nonroot_account: bool,
    /// The time zone tzdata is configured for (`Etc/UTC`).
    pub timezone: String,
    /// Extra files placed last (from the spec).
    pub extra_files: Vec<NewEntry>,
    /// Threads reading packages (0: available parallelism).
    pub threads: usize,
    /// Let later packages overwrite files of earlier ones without `Replaces` (dpkg's
    /// `--force-overwrite`). Off by default.
    pub allow_overwrite: bool,
    /// Written to `/etc/os-release` when no package provides one.
    pub os_release_fallback: Option<Vec<u8>>,
    /// Where unpacked packages are kept between builds (packages with a verified SHA-256
    /// only); `None` unpacks into the spool directory every time.
    pub unpack_cache: Option<PathBuf>,
}

impl InstallOptions {
    /// Defaults for `native_arch`, spooling into `spool_dir`.
    pub fn new(native_arch: impl Into<String>, spool_dir: impl Into<PathBuf>) -> Self {
        InstallOptions {
            flavour: Flavour::Full,
            scripts: ScriptPolicy::Emulate,
            native_arch: native_arch.into(),
            merged_usr: MergedUsr::Auto,
            spool_dir: spool_dir.into(),
            source_date_epoch: 0,
            accounts: Vec::new(),
            nonroot_account: false,
            timezone: "Etc/UTC".into(),
            extra_files: Vec::new(),
            threads: 0,
            allow_overwrite: false,
            os_release_fallback: None,
            unpack_cache: None,
        }
    }

    /// Keeps unpacked packages in `dir` between builds (see
    /// [`UnpackCache`]).
    pub fn unpack_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.unpack_cache = Some(dir.into());
        self
    }

    /// Sets the flavour.
    pub fn flavour(mut self, f: Flavour) -> Self {
        self.flavour = f;
        self
    }

    /// Sets the script policy.
    pub fn scripts(mut self, s: ScriptPolicy) -> Self {
        self.scripts = s;
        self
    }

    /// Sets the merged-/usr layout.
    pub fn merged_usr(mut self, m: MergedUsr) -> Self {
        self.merged_usr = m;
        self
    }

    /// Sets `SOURCE_DATE_EPOCH`.
    pub fn source_date_epoch(mut self, t: i64) -> Self {
        self.source_date_epoch = t;
        self
    }

    /// Adds an account.
    pub fn account(mut self, a: Account) -> Self {
        self.accounts.push(a);
        self
    }

    /// Adds the `nonroot` account (always present in distroless images).
    pub fn nonroot_account(mut self, yes: bool) -> Self {
        self.nonroot_account = yes;
        self
    }

    /// Sets the time zone.
    pub fn timezone(mut self, tz: impl Into<String>) -> Self {
        self.timezone = tz.into();
        self
    }

    /// Adds an extra file.
    pub fn extra_file(mut self, e: NewEntry) -> Self {
        self.extra_files.push(e);
        self
    }

    /// Sets the number of reader threads.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Allows overwriting without `Replaces`.
    pub fn allow_overwrite(mut self, yes: bool) -> Self {
        self.allow_overwrite = yes;
        self
    }

    /// Sets the `/etc/os-release` used when no package ships one.
    pub fn os_release_fallback(mut self, content: impl Into<Vec<u8>>) -> Self {
        self.os_release_fallback = Some(content.into());
        self
    }
}

/// Who put an entry into the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// The package at this index of [`Installation::packages`] (its files, or the effects of
    /// its scripts).
    Package(usize),
    /// The installer itself: package database, merged-/usr links, accounts, extra files.
    System,
}

/// What one package installed.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    /// `Package`.
    pub name: String,
    /// `Version` as written in the package.
    pub version: String,
    /// `Architecture`.
    pub architecture: String,
    /// Source package name (`Source` without its version; the package name if absent).
    pub source: String,
    /// The control information (fields, scripts, conffiles, md5sums, …).
    pub control: DebControl,
    /// Shipped paths in archive order (`""` is the root), as dpkg records them.
    pub paths: Vec<String>,
    /// Conffiles with the md5 of their installed content.
    pub conffiles: Vec<(Conffile, String)>,
    /// `md5sums` as recorded (shipped, or generated when the package has none).
    pub md5sums: Vec<u8>,
    /// Total bytes of regular file content.
    pub content_bytes: u64,
}

/// The result of [`Installer::install`].
#[derive(Debug, Clone)]
pub struct Installation {
    /// The image's files.
    pub tree: FileTree,
    /// The packages, in install order.
    pub packages: Vec<InstalledPackage>,
    /// Who put each path of `tree` there.
    pub origins: BTreeMap<TreePath, Origin>,
    /// Every maintainer script: emulated, run or skipped, and why.
    pub report: Vec<ScriptNote>,
    /// Whether the tree uses merged-/usr.
    pub merged_usr: bool,
    /// What the tree's contents refer to (spool files, the root directory scripts ran in);
    /// kept alive as long as this value or a clone of it.
    pub keep_alive: KeepAlive,
}

/// Owners of the temporary files a [`FileTree`]'s contents point into.
#[derive(Clone, Default)]
pub struct KeepAlive(Vec<Arc<dyn std::any::Any + Send + Sync>>);

impl KeepAlive {
    /// Keeps `value` alive with this set.
    pub fn push(&mut self, value: Arc<dyn std::any::Any + Send + Sync>) {
        self.0.push(value);
    }

    /// Number of values kept alive.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is kept alive.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeepAlive({} values)", self.0.len())
    }
}

/// Installs packages into a file tree. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Installer {
    options: InstallOptions,
}

/// Directories that become symlinks into `/usr` on merged-/usr systems.
const MERGED_DIRS: [&str; 3] = ["bin", "sbin", "lib"];
/// Architecture-specific library directories linked when some package ships them.
const MERGED_LIB_DIRS: [&str; 4] = ["lib32", "lib64", "libx32", "libo32"];

impl Installer {
    /// An installer with these options.
    pub fn new(options: InstallOptions) -> Self {
        Installer { options }
    }

    /// The options.
    pub fn options(&self) -> &InstallOptions {
        &self.options
    }

    /// Reads `packages` (in install order) and installs them. See the [module docs](self).
    pub fn install(&self, packages: &[PackageFile]) -> Result<Installation, Error> {
        let debs = self.read_all(packages)?;
        self.install_debs(debs)
    }

    /// Installs packages already read with a [`DebReader`] (in install order).
    pub fn install_debs(&self, debs: Vec<Deb>) -> Result<Installation, Error> {
        let o = &self.options;
        let merged = match o.merged_usr {
            MergedUsr::Yes => true,
            MergedUsr::No => false,
            MergedUsr::Auto => detect_merged_usr(&debs),
        };
        let mut st = State {
            tree: FileTree::new(),
            origins: BTreeMap::new(),
            owners: HashMap::new(),
            allow_overwrite: o.allow_overwrite,
        };
        let mtime = o.source_date_epoch;
        if merged {
            let mut dirs: Vec<&str> = MERGED_DIRS.to_vec();
            for d in MERGED_LIB_DIRS {
                if debs.iter().any(|deb| {
                    deb.data
                        .entries
                        .iter()
                        .any(|e| e.path == d || e.path.starts_with(&format!("{d}/")))
                }) {
                    dirs.push(d);
                }
            }
            for d in dirs {
                st.put(NewEntry::dir(format!("usr/{d}"), 0o755).to_entry(mtime)?, Origin::System)?;
                st.put(NewEntry::symlink(d, format!("usr/{d}")).to_entry(mtime)?, Origin::System)?;
            }
        }
        let mut installed = Vec::with_capacity(debs.len());
        let mut keep_alive = KeepAlive::default();
        for (i, deb) in debs.iter().enumerate() {
            st.place_package(i, deb, &debs)?;
        }
        for deb in &debs {
            installed.push(installed_package(deb)?);
            keep_alive.push(deb.data.spool.clone());
        }
        let mut inst = Installation {
            tree: st.tree,
            packages: installed,
            origins: st.origins,
            report: Vec::new(),
            merged_usr: merged,
            keep_alive,
        };
        // Maintainer scripts: emulated or run.
        let policy = match o.flavour {
            Flavour::Distroless => ScriptPolicy::Emulate,
            Flavour::Full => o.scripts,
        };
        let emu = scripts::Emulation::new(o);
        let effects = match policy {
            ScriptPolicy::Emulate => emu.emulate(&mut inst)?,
            _ => scripts::Effects::default(),
        };
        // Extra files and os-release fallback.
        if let Some(os) = &o.os_release_fallback {
            let p = TreePath::new("etc/os-release")?;
            if inst.tree.resolve(&p, true)?.and_then(|r| inst.tree.get(&r).cloned()).is_none()
                && !inst.tree.contains(&p)
            {
                put_system(&mut inst, NewEntry::file("etc/os-release", os.clone(), 0o644), mtime)?;
            }
        }
        // The package database.
        let state = match policy {
            ScriptPolicy::Emulate => PackageState::Installed,
            _ => PackageState::Unpacked,
        };
        let db: Vec<DbPackage<'_>> = inst
            .packages
            .iter()
            .map(|p| DbPackage {
                control: &p.control,
                paths: p.paths.iter().map(String::as_str).collect(),
                conffiles: p.conffiles.clone(),
                md5sums: std::borrow::Cow::Borrowed(&p.md5sums[..]),
                state,
            })
            .collect();
        let db_entries = match o.flavour {
            Flavour::Full => dpkg_db::full_database(
                &db,
                &FullDbOptions {
                    native_arch: o.native_arch.clone(),
                    foreign_archs: foreign_archs(&inst.packages, &o.native_arch),
                    diversions: effects.diversions.clone(),
                    unincorporated: Vec::new(),
                },
            )?,
            Flavour::Distroless => dpkg_db::distroless_database(&db)?,
        };
        drop(db);
        for e in db_entries {
            put_system(&mut inst, e, mtime)?;
        }
        if let ScriptPolicy::Run(isolation) = policy {
            scripts::run_scripts(&mut inst, o, isolation)?;
        }
        for e in &o.extra_files {
            put_system(&mut inst, e.clone(), mtime)?;
        }
        Ok(inst)
    }

    /// Reads the packages in parallel, checking expectations.
    pub fn read_all(&self, packages: &[PackageFile]) -> Result<Vec<Deb>, Error> {
        let reader = DebReader::new(&self.options.spool_dir);
        let cache = self.options.unpack_cache.as_ref().map(UnpackCache::new);
        let open = |p: &PackageFile| match (&cache, &p.sha256) {
            (Some(c), Some(sha)) => c.open(&reader, &p.path, sha).map(|(d, _)| d),
            _ => reader.open(&p.path),
        };
        let threads = match self.options.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
        .min(packages.len().max(1));
        // Biggest packages first, so the last one to finish is a small one.
        let mut queue: Vec<usize> = (0..packages.len()).collect();
        let size = |i: usize| std::fs::metadata(&packages[i].path).map_or(0, |m| m.len());
        let sizes: Vec<u64> = queue.iter().map(|&i| size(i)).collect();
        queue.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<Result<Deb, Error>>> =
            (0..packages.len()).map(|_| None).collect();
        let results: Vec<Vec<(usize, Result<Deb, Error>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&i) = queue.get(k) else { break };
                            let p = &packages[i];
                            let r = open(p).and_then(|deb| check_expect(p, deb));
                            let failed = r.is_err();
                            out.push((i, r));
                            if failed {
                                // Stop this worker early; others finish their current package.
                                next.store(packages.len(), Ordering::Relaxed);
                                break;
                            }
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        for (i, r) in results.into_iter().flatten() {
            slots[i] = Some(r);
        }
        let mut debs = Vec::with_capacity(packages.len());
        // Report the first failure in install order.
        for (i, slot) in slots.into_iter().enumerate() {
            match slot {
                Some(Ok(d)) => debs.push(d),
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Deb {
                        package: packages[i].path.display().to_string(),
                        member: String::new(),
                        reason: "not read (an earlier package failed)".into(),
                    });
                }
            }
        }
        Ok(debs)
    }
}

fn check_expect(p: &PackageFile, deb: Deb) -> Result<Deb, Error> {
    if let Some((name, version, arch)) = &p.expect {
        let c = &deb.control;
        let same_version = match (DebVersion::parse(version), DebVersion::parse(c.version()?)) {
            (Ok(a), Ok(b)) => a == b,
            _ => version == c.version()?,
        };
        if c.package()? != name || !same_version || c.architecture()? != arch {
            return Err(Error::Deb {
                package: p.path.display().to_string(),
                member: "control".into(),
                reason: format!("expected {name} {version} ({arch}), the file is {}", c.id()),
            });
        }
    }
    Ok(deb)
}

fn put_system(inst: &mut Installation, e: NewEntry, mtime: i64) -> Result<(), Error> {
    let entry = e.to_entry(mtime)?;
    let at = inst.tree.insert_follow(entry)?;
    inst.origins.entry(at).or_insert(Origin::System);
    Ok(())
}

fn foreign_archs(packages: &[InstalledPackage], native: &str) -> Vec<String> {
    let mut v: Vec<String> = packages
        .iter()
        .map(|p| p.architecture.clone())
        .filter(|a| a != "all" && a != native)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether the packages call for merged-/usr (see [`MergedUsr::Auto`]).
pub fn detect_merged_usr(debs: &[Deb]) -> bool {
    for d in debs {
        let Ok(name) = d.control.package() else { continue };
        if name == "usrmerge" || name == "usr-is-merged" {
            return true;
        }
        if name == "base-files" {
            let Ok(v) = d.control.version() else { continue };
            let Ok(v) = DebVersion::parse(v) else { continue };
            let major: u32 = v
                .upstream()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ubuntu = v.as_str().contains("ubuntu");
            if (ubuntu && major >= 11) || (!ubuntu && major >= 12) {
                return true;
            }
        }
    }
    false
}

fn md5_hex(r: &mut dyn Read) -> std::io::Result<String> {
    let mut h = md5::Md5::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(mbi_core::digest::to_hex(&h.finalize()))
}

fn installed_package(deb: &Deb) -> Result<InstalledPackage, Error> {
    let c = &deb.control;
    let io_err = |e: std::io::Error| Error::Deb {
        package: c.id(),
        member: "data".into(),
        reason: format!("reading spooled contents: {e}"),
    };
    let mut conffiles = Vec::new();
    for cf in c.conffiles()? {
        let rel = cf.path.trim_start_matches('/');
        let entry = deb.data.find(rel);
        let md5 = match entry.map(|e| &e.kind) {
            Some(DataKind::File { offset, size }) => {
                md5_hex(&mut deb.data.spool.range_reader(*offset, *size)).map_err(io_err)?
            }
            // dpkg refuses conffiles that are not plain files of the package.
            _ => {
                return Err(Error::Deb {
                    package: c.id(),
                    member: "conffiles".into(),
                    reason: format!("conffile {} is not a plain file of the package", cf.path),
                });
            }
        };
        conffiles.push((cf, md5));
    }
    let md5sums = match c.member("md5sums") {
        Some(m) => m.to_vec(),
        None => {
            // As dpkg does: hashes of every regular file, in archive order.
            let mut lines = Vec::new();
            for e in &deb.data.entries {
                if let DataKind::File { offset, size } = e.kind {
                    let md5 =
                        md5_hex(&mut deb.data.spool.range_reader(offset, size)).map_err(io_err)?;
                    lines.push((e.path.clone(), md5));
                }
            }
            dpkg_db::generate_md5sums(lines.iter().map(|(p, m)| (p.as_str(), m.as_str())))
        }
    };
    let source = c
        .fields
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(c.package()?)
        .to_owned();
    Ok(InstalledPackage {
        name: c.package()?.to_owned(),
        version: c.version()?.to_owned(),
        architecture: c.architecture()?.to_owned(),
        source,
        control: c.clone(),
        paths: deb.data.entries.iter().map(|e| e.path.clone()).collect(),
        conffiles,
        md5sums,
        content_bytes: deb.data.content_bytes,
    })
}

struct State {
    tree: FileTree,
    origins: BTreeMap<TreePath, Origin>,
    /// Non-directory paths owned by a package (index into the package list).
    owners: HashMap<TreePath, usize>,
    allow_overwrite: bool,
}

impl State {
    fn put(&mut self, entry: Entry, origin: Origin) -> Result<TreePath, Error> {
        let at = self.tree.insert_follow(entry)?;
        self.origins.entry(at.clone()).or_insert(origin);
        Ok(at)
    }

    fn place_package(&mut self, idx: usize, deb: &Deb, all: &[Deb]) -> Result<(), Error> {
        let pkg = deb.control.id();
        let name = deb.control.package()?.to_owned();
        let replaces = match deb.control.fields.get("Replaces") {
            Some(r) => parse_relation_list("Replaces", r)?,
            None => Vec::new(),
        };
        let spool_path = deb.data.spool.path().to_path_buf();
        // Shipped path → where it landed (for hard links).
        let mut landed: HashMap<&str, TreePath> = HashMap::new();
        for e in &deb.data.entries {
            if e.path.is_empty() {
                continue;
            }
            let bad = |reason: String| Error::InstallPath {
                package: pkg.clone(),
                path: format!("/{}", e.path),
                reason,
            };
            let shipped = TreePath::new(&e.path)?;
            let at = self.tree.resolve_parent(&shipped).map_err(|err| bad(err.to_string()))?;
            // Every parent of `at` must be a directory (or missing).
            for anc in at.ancestors() {
                if let Some(x) = self.tree.get(&anc)
                    && !x.is_dir()
                {
                    return Err(bad(format!("parent /{anc} is not a directory")));
                }
            }
            let existing = self.tree.get(&at).cloned();
            let kind = match &e.kind {
                DataKind::Directory => {
                    match existing {
                        Some(x) if x.is_dir() => {
                            // dpkg applies the latest package's permissions.
                            if let Some(d) = self.tree.get_mut(&at) {
                                d.mode = e.mode;
                                d.uid = e.uid;
                                d.gid = e.gid;
                                d.mtime = e.mtime as i64;
                            }
                            landed.insert(&e.path, at);
                            continue;
                        }
                        Some(Entry { kind: EntryKind::Symlink(_), .. }) => {
                            // A symlink to a directory stays (how merged-/usr works).
                            let target =
                                self.tree.resolve(&at, true).map_err(|err| bad(err.to_string()))?;
                            match target.as_ref().and_then(|t| self.tree.get(t)) {
                                Some(t) if t.is_dir() => {
                                    landed.insert(&e.path, at);
                                    continue;
                                }
                                Some(_) => {
                                    return Err(bad(
                                        "a directory is shipped where a symlink to a non-directory exists"
                                            .into(),
                                    ));
                                }
                                None => {
                                    if let Some(t) = target {
                                        let d = Entry::dir(t.clone(), e.mode)
                                            .with_owner(e.uid, e.gid)
                                            .with_mtime(e.mtime as i64);
                                        self.put(d, Origin::Package(idx))?;
                                    }
                                    landed.insert(&e.path, at);
                                    continue;
                                }
                            }
                        }
                        Some(_) => {
                            let owner =
                                self.owners.get(&at).map_or("-".into(), |&o| all[o].control.id());
                            return Err(bad(format!(
                                "a directory is shipped where {owner} installed a non-directory"
                            )));
                        }
                        None => EntryKind::Dir,
                    }
                }
                DataKind::File { offset, size } => EntryKind::File(Content::FileRange {
                    path: spool_path.clone(),
                    offset: *offset,
                    len: *size,
                }),
                DataKind::Symlink { target } => EntryKind::Symlink(target.as_bytes().to_vec()),
                DataKind::Hardlink { target } => {
                    let t = landed.get(target.as_str()).cloned().ok_or_else(|| {
                        bad(format!("hard link target /{target} was not installed"))
                    })?;
                    EntryKind::Hardlink(t)
                }
                DataKind::CharDevice { major, minor } => {
                    EntryKind::CharDevice { major: *major, minor: *minor }
                }
                DataKind::BlockDevice { major, minor } => {
                    EntryKind::BlockDevice { major: *major, minor: *minor }
                }
                DataKind::Fifo => EntryKind::Fifo,
            };
            if !matches!(kind, EntryKind::Dir) {
                if let Some(x) = &existing {
                    if x.is_dir() {
                        let has_children = self.tree.children(Some(&at)).next().is_some();
                        if has_children || !self.allow_overwrite {
                            return Err(bad(
                                "a non-directory is shipped where a directory exists".into()
                            ));
                        }
                    }
                    if let Some(&owner) = self.owners.get(&at)
                        && owner != idx
                    {
                        self.check_takeover(idx, owner, deb, all, &replaces, &at, e)?;
                    }
                }
                self.owners.insert(at.clone(), idx);
            }
            let entry = Entry::new(at.clone(), kind)
                .with_mode(e.mode)
                .with_owner(e.uid, e.gid)
                .with_mtime(e.mtime as i64);
            self.tree.insert(entry)?;
            self.origins.insert(at.clone(), Origin::Package(idx));
            landed.insert(&e.path, at);
        }
        let _ = name;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn check_takeover(
        &self,
        idx: usize,
        owner: usize,
        deb: &Deb,
        all: &[Deb],
        replaces: &[crate::apt::Relation],
        at: &TreePath,
        e: &crate::apt::deb::DataEntry,
    ) -> Result<(), Error> {
        if self.allow_overwrite {
            return Ok(());
        }
        let old = &all[owner].control;
        let old_name = old.package()?;
        let old_version = DebVersion::parse(old.version()?)?;
        if replaces.iter().any(|r| r.name.as_str() == old_name && r.version_matches(&old_version)) {
            return Ok(());
        }
        // Multi-Arch: same instances of one package may share identical files.
        let same_ma = |c: &DebControl| {
            c.fields.get("Multi-Arch").is_some_and(|m| m.eq_ignore_ascii_case("same"))
        };
        if old_name == deb.control.package()? && same_ma(old) && same_ma(&deb.control) {
            let new_md5 = match e.kind {
                DataKind::File { offset, size } => {
                    md5_hex(&mut deb.data.spool.range_reader(offset, size)).ok()
                }
                _ => None,
            };
            let old_md5 = match self.tree.get(at).map(|x| &x.kind) {
                Some(EntryKind::File(c)) => {
                    c.open().ok().and_then(|(mut r, _)| md5_hex(&mut r).ok())
                }
                _ => None,
            };
            if new_md5.is_some() && new_md5 == old_md5 {
                return Ok(());
            }
        }
        let _ = idx;
        Err(Error::FileConflict {
            path: format!("/{at}"),
            package: deb.control.id(),
            owner: old.id(),
        })
    }
}
