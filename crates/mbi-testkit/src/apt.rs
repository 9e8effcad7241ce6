//! Signed apt fixture repositories built with the real Debian tools: `dpkg-deb` for packages,
//! `apt-ftparchive` for `Packages` and `Release`, `gpg` (in a private `GNUPGHOME`) for keys,
//! `InRelease` and `Release.gpg`.
//!
//! A test states its scenario and nothing else:
//!
//! ```no_run
//! use mbi_testkit::apt::{Deb, FixtureRepo, Publish};
//! let mut repo = FixtureRepo::new().unwrap();
//! repo.add("stable", "main", Deb::new("libfoo", "1.0-1").file("/usr/lib/libfoo.so.1", "v1")).unwrap();
//! repo.add("stable-security", "main", Deb::new("libfoo", "1.0-1+deb1u1")).unwrap();
//! repo.add("stable", "main", Deb::new("app", "2.0").depends("libfoo (>= 1.0)")).unwrap();
//! repo.publish(&Publish::default()).unwrap();
//! let keyring = repo.public_keyring(); // binary .gpg of the signing key
//! // serve repo.root() with mbi_testkit::http::StaticServer …
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

/// Errors from building fixtures (a tool failed or a file could not be written).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// A command failed.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// An I/O error.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The fixture description is inconsistent.
    #[error("invalid fixture: {0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, FixtureError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> FixtureError {
    let what = what.into();
    move |source| FixtureError::Io { what, source }
}

/// The fixed timestamp used for `.deb` contents and the default Release `Date`
/// (2024-01-01T00:00:00Z), so fixtures are identical from run to run.
pub const FIXTURE_EPOCH: i64 = 1_704_067_200;

/// [`FIXTURE_EPOCH`] in gpg's `--faked-system-time` syntax.
pub const FIXTURE_GPG_TIME: &str = "20240101T000000";

/// `.deb` member compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DebCompression {
    /// `-Zxz` (dpkg's default).
    #[default]
    Xz,
    /// `-Zgzip`
    Gzip,
    /// `-Zzstd`
    Zstd,
    /// `-Znone`
    None,
}

impl DebCompression {
    fn flag(self) -> &'static str {
        match self {
            DebCompression::Xz => "-Zxz",
            DebCompression::Gzip => "-Zgzip",
            DebCompression::Zstd => "-Zzstd",
            DebCompression::None => "-Znone",
        }
    }
}

/// One entry of a package's data tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file.
    File {
        /// Absolute path in the installed system.
        path: String,
        /// Contents.
        content: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
    /// A directory.
    Dir {
        /// Absolute path.
        path: String,
        /// Permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// Absolute path.
        path: String,
        /// Link target.
        target: String,
    },
}

/// A declarative binary package, built with `dpkg-deb --root-owner-group --build`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deb {
    /// `Package`
    pub name: String,
    /// `Version`
    pub version: String,
    /// `Architecture` (default `amd64`)
    pub arch: String,
    /// Other control fields (`Depends`, `Provides`, `Multi-Arch`, …) in insertion order.
    pub fields: Vec<(String, String)>,
    /// Data entries.
    pub entries: Vec<Entry>,
    /// Maintainer scripts (`preinst`, `postinst`, `prerm`, `postrm`, `config`, …).
    pub scripts: Vec<(String, String)>,
    /// Conffiles (absolute paths; must also be files in `entries`).
    pub conffiles: Vec<String>,
    /// Member compression.
    pub compression: DebCompression,
}

impl Deb {
    /// A package with no files, architecture `amd64`, priority `optional`.
    pub fn new(name: &str, version: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            entries: Vec::new(),
            scripts: Vec::new(),
            conffiles: Vec::new(),
            compression: DebCompression::Xz,
        }
    }

    /// Sets a control field (replacing an earlier value).
    pub fn field(mut self, name: &str, value: &str) -> Deb {
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.fields.push((name.into(), value.into()));
        self
    }

    /// `Architecture`
    pub fn arch(mut self, arch: &str) -> Deb {
        self.arch = arch.into();
        self
    }
    /// `Depends`
    pub fn depends(self, v: &str) -> Deb {
        self.field("Depends", v)
    }
    /// `Pre-Depends`
    pub fn pre_depends(self, v: &str) -> Deb {
        self.field("Pre-Depends", v)
    }
    /// `Recommends`
    pub fn recommends(self, v: &str) -> Deb {
        self.field("Recommends", v)
    }
    /// `Provides`
    pub fn provides(self, v: &str) -> Deb {
        self.field("Provides", v)
    }
    /// `Conflicts`
    pub fn conflicts(self, v: &str) -> Deb {
        self.field("Conflicts", v)
    }
    /// `Breaks`
    pub fn breaks(self, v: &str) -> Deb {
        self.field("Breaks", v)
    }
    /// `Replaces`
    pub fn replaces(self, v: &str) -> Deb {
        self.field("Replaces", v)
    }
    /// `Multi-Arch` (`same`, `foreign`, `allowed`)
    pub fn multi_arch(self, v: &str) -> Deb {
        self.field("Multi-Arch", v)
    }
    /// `Essential: yes`
    pub fn essential(self) -> Deb {
        self.field("Essential", "yes")
    }
    /// `Priority`
    pub fn priority(self, v: &str) -> Deb {
        self.field("Priority", v)
    }
    /// `Source`
    pub fn source(self, v: &str) -> Deb {
        self.field("Source", v)
    }
    /// A regular file, mode 0644.
    pub fn file(self, path: &str, content: impl Into<Vec<u8>>) -> Deb {
        self.file_mode(path, content, 0o644)
    }
    /// A regular file with explicit mode.
    pub fn file_mode(mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> Deb {
        self.entries.push(Entry::File { path: path.into(), content: content.into(), mode });
        self
    }
    /// An executable, mode 0755.
    pub fn exec(self, path: &str, content: impl Into<Vec<u8>>) -> Deb {
        self.file_mode(path, content, 0o755)
    }
    /// A directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Deb {
        self.entries.push(Entry::Dir { path: path.into(), mode });
        self
    }
    /// A symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> Deb {
        self.entries.push(Entry::Symlink { path: path.into(), target: target.into() });
        self
    }
    /// A conffile (a file that is also listed in `DEBIAN/conffiles`).
    pub fn conffile(mut self, path: &str, content: impl Into<Vec<u8>>) -> Deb {
        self.conffiles.push(path.into());
        self.file(path, content)
    }
    /// A maintainer script.
    pub fn script(mut self, name: &str, body: &str) -> Deb {
        self.scripts.push((name.into(), body.into()));
        self
    }
    /// Member compression.
    pub fn compression(mut self, c: DebCompression) -> Deb {
        self.compression = c;
        self
    }

    /// The control file text.
    pub fn control(&self) -> String {
        let mut s = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: mbi tests <tests@mbi.invalid>\n",
            self.name, self.version, self.arch
        );
        let has = |n: &str| self.fields.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("Priority") {
            s.push_str("Priority: optional\n");
        }
        if !has("Section") {
            s.push_str("Section: misc\n");
        }
        let size: usize = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::File { content, .. } => content.len().div_ceil(1024).max(1),
                _ => 1,
            })
            .sum();
        let _ = writeln!(s, "Installed-Size: {}", size.max(1));
        for (k, v) in &self.fields {
            let _ = writeln!(s, "{k}: {v}");
        }
        let _ =
            writeln!(s, "Description: fixture package {}\n generated by mbi-testkit", self.name);
        s
    }

    /// File name in the pool: `name_version-without-epoch_arch.deb`.
    pub fn file_name(&self) -> String {
        let v = self.version.split_once(':').map_or(self.version.as_str(), |(_, v)| v);
        format!("{}_{}_{}.deb", self.name, v, self.arch)
    }

    /// Builds the `.deb` into `out_dir` with `dpkg-deb` and returns its path.
    pub fn build(&self, out_dir: &Path) -> Result<PathBuf> {
        let work = tempfile::tempdir().map_err(io("create temp dir"))?;
        let tree = work.path().join("tree");
        let debian = tree.join("DEBIAN");
        std::fs::create_dir_all(&debian).map_err(io("create DEBIAN"))?;
        std::fs::write(debian.join("control"), self.control()).map_err(io("write control"))?;
        for (name, body) in &self.scripts {
            if name.contains('/') {
                return Err(FixtureError::Invalid(format!("script name {name:?}")));
            }
            write_mode(&debian.join(name), body.as_bytes(), 0o755)?;
        }
        if !self.conffiles.is_empty() {
            let list: String = self.conffiles.iter().map(|c| format!("{c}\n")).collect();
            write_mode(&debian.join("conffiles"), list.as_bytes(), 0o644)?;
        }
        for e in &self.entries {
            let rel = |p: &str| -> Result<PathBuf> {
                let r = p.trim_start_matches('/');
                if r.is_empty() || r.split('/').any(|c| c == ".." || c.is_empty()) {
                    return Err(FixtureError::Invalid(format!("path {p:?}")));
                }
                Ok(tree.join(r))
            };
            match e {
                Entry::File { path, content, mode } => {
                    let p = rel(path)?;
                    mkparent(&p)?;
                    write_mode(&p, content, *mode)?;
                }
                Entry::Dir { path, mode } => {
                    let p = rel(path)?;
                    std::fs::create_dir_all(&p).map_err(io(format!("mkdir {path}")))?;
                    set_mode(&p, *mode)?;
                }
                Entry::Symlink { path, target } => {
                    let p = rel(path)?;
                    mkparent(&p)?;
                    std::os::unix::fs::symlink(target, &p)
                        .map_err(io(format!("symlink {path}")))?;
                }
            }
        }
        // Every directory 0755 unless set explicitly above; umask must not leak in.
        fix_dir_modes(&tree, &self.entries)?;
        std::fs::create_dir_all(out_dir).map_err(io("create pool dir"))?;
        let out = out_dir.join(self.file_name());
        run(Command::new("dpkg-deb")
            .env("SOURCE_DATE_EPOCH", FIXTURE_EPOCH.to_string())
            .arg("--root-owner-group")
            .arg(self.compression.flag())
            .arg("--build")
            .arg(&tree)
            .arg(&out))?;
        Ok(out)
    }
}

fn mkparent(p: &Path) -> Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(io(format!("mkdir {}", d.display())))?;
    }
    Ok(())
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(io(format!("chmod {}", p.display())))
}

fn write_mode(p: &Path, content: &[u8], mode: u32) -> Result<()> {
    std::fs::write(p, content).map_err(io(format!("write {}", p.display())))?;
    set_mode(p, mode)
}

fn fix_dir_modes(tree: &Path, entries: &[Entry]) -> Result<()> {
    let explicit: Vec<PathBuf> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Dir { path, .. } => Some(tree.join(path.trim_start_matches('/'))),
            _ => None,
        })
        .collect();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(d) = stack.pop() {
        if !explicit.contains(&d) {
            set_mode(&d, 0o755)?;
        }
        for ent in std::fs::read_dir(&d).map_err(io(format!("read {}", d.display())))? {
            let ent = ent.map_err(io("read dir entry"))?;
            let ft = ent.file_type().map_err(io("file type"))?;
            if ft.is_dir() {
                stack.push(ent.path());
            }
        }
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().map_err(io(format!("run {cmd:?}")))?;
    if !out.status.success() {
        return Err(FixtureError::Command {
            command: format!("{cmd:?}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

/// An OpenPGP key in the fixture's private GnuPG home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Primary key fingerprint (upper-case hex).
    pub fingerprint: String,
    /// Fingerprint of the signing subkey when the key has one, else the primary's.
    pub signing_fingerprint: String,
    /// `--faked-system-time` used when the key was made (and when it signs).
    pub faked_time: Option<String>,
}

/// How to make a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// User ID.
    pub uid: String,
    /// gpg algorithm name: `ed25519` (fast, default) or `rsa3072`, `rsa4096`, …
    pub algo: String,
    /// gpg expiry: `never`, `1d`, `seconds=N`, …
    pub expire: String,
    /// Make the key (and its signatures) at this time: gpg's `--faked-system-time`
    /// (`20200101T000000`).
    pub faked_time: Option<String>,
    /// Sign with a separate signing subkey (primary certify-only), as Debian's keys do.
    pub signing_subkey: bool,
}

impl KeySpec {
    /// An ed25519 key that never expires, signing with its primary, made (and signing) at
    /// [`FIXTURE_EPOCH`] so fixtures do not depend on the wall clock.
    pub fn new(uid: &str) -> KeySpec {
        KeySpec {
            uid: uid.into(),
            algo: "ed25519".into(),
            expire: "never".into(),
            faked_time: Some(FIXTURE_GPG_TIME.into()),
            signing_subkey: false,
        }
    }
}

/// Which signature files a publication writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// `InRelease` and `Release` + `Release.gpg` (as Debian does).
    #[default]
    Both,
    /// Only `InRelease`.
    InReleaseOnly,
    /// Only `Release` + `Release.gpg`.
    DetachedOnly,
    /// `Release` alone, unsigned.
    Unsigned,
}

/// Index compressions a publication serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexCompression {
    /// `Packages`
    Plain,
    /// `Packages.gz`
    Gzip,
    /// `Packages.xz`
    Xz,
    /// `Packages.zst`
    Zstd,
}

/// How to publish `dists/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Architectures indexed (packages of architecture `all` go into each).
    pub architectures: Vec<String>,
    /// Which `Packages` files are served. The `Release` lists the uncompressed index's hash
    /// even when `Plain` is not served, as Debian's does.
    pub compressions: Vec<IndexCompression>,
    /// `Date` (Unix seconds).
    pub date: i64,
    /// `Valid-Until` (Unix seconds).
    pub valid_until: Option<i64>,
    /// Write `Acquire-By-Hash: yes` and `by-hash/SHA256/<hex>` copies of every index.
    pub by_hash: bool,
    /// Remove the canonical index names so only by-hash paths work (needs `by_hash`).
    pub only_by_hash: bool,
    /// Signature files.
    pub signing: Signing,
    /// `--digest-algo` for signatures (`SHA256`, `SHA512`, `SHA1`).
    pub digest: String,
    /// `Origin` / `Label`.
    pub origin: String,
}

impl Default for Publish {
    fn default() -> Publish {
        Publish {
            architectures: vec!["amd64".into(), "arm64".into()],
            compressions: vec![IndexCompression::Xz, IndexCompression::Gzip],
            date: FIXTURE_EPOCH,
            valid_until: None,
            by_hash: false,
            only_by_hash: false,
            signing: Signing::Both,
            digest: "SHA256".into(),
            origin: "mbi-fixture".into(),
        }
    }
}

/// A signed apt repository on disk: `pool/` + `dists/`, with its own GnuPG home and key.
pub struct FixtureRepo {
    dir: tempfile::TempDir,
    gnupg: PathBuf,
    key: Key,
    /// suite → component → debs
    suites: BTreeMap<String, BTreeMap<String, Vec<Deb>>>,
}

impl FixtureRepo {
    /// An empty repository with a fresh ed25519 signing key.
    pub fn new() -> Result<FixtureRepo> {
        // Short paths: gpg-agent's socket path must fit in sun_path.
        let dir = tempfile::Builder::new().prefix("mbi-apt").tempdir().map_err(io("temp dir"))?;
        let gnupg = dir.path().join("g");
        std::fs::create_dir_all(&gnupg).map_err(io("create GNUPGHOME"))?;
        set_mode(&gnupg, 0o700)?;
        std::fs::create_dir_all(dir.path().join("repo")).map_err(io("create repo dir"))?;
        let mut repo = FixtureRepo {
            dir,
            gnupg,
            key: Key {
                fingerprint: String::new(),
                signing_fingerprint: String::new(),
                faked_time: None,
            },
            suites: BTreeMap::new(),
        };
        repo.key = repo.generate_key(&KeySpec::new("mbi fixture archive <archive@mbi.invalid>"))?;
        Ok(repo)
    }

    /// The served directory (holds `dists/` and `pool/`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// A scratch directory next to the repository (not served), for keyrings and the like.
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The key that signs publications.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Signs later publications with `key` (e.g. one the client does not trust).
    pub fn sign_with(&mut self, key: Key) {
        self.key = key;
    }

    fn gpg(&self, faked_time: Option<&str>) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", &self.gnupg)
            .arg("--batch")
            .arg("--quiet")
            .arg("--no-tty")
            .arg("--pinentry-mode")
            .arg("loopback")
            .arg("--passphrase")
            .arg("");
        if let Some(t) = faked_time {
            c.arg("--faked-system-time").arg(format!("{t}!")).arg("--ignore-time-conflict");
        }
        c
    }

    /// Makes a new key in the fixture's GnuPG home.
    pub fn generate_key(&self, spec: &KeySpec) -> Result<Key> {
        let ft = spec.faked_time.as_deref();
        let usage = if spec.signing_subkey { "cert" } else { "sign" };
        run(self.gpg(ft).args(["--quick-gen-key", &spec.uid, &spec.algo, usage, &spec.expire]))?;
        let list = run(self.gpg(ft).args(["--with-colons", "--list-keys", &spec.uid]))?;
        let text = String::from_utf8_lossy(&list);
        let fprs: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .filter_map(|l| l.split(':').nth(9).map(str::to_owned))
            .collect();
        let primary = fprs.last().cloned().ok_or_else(|| {
            FixtureError::Invalid(format!("no fingerprint listed for {}", spec.uid))
        })?;
        let mut signing = primary.clone();
        if spec.signing_subkey {
            run(self.gpg(ft).args([
                "--quick-add-key",
                &primary,
                &spec.algo,
                "sign",
                &spec.expire,
            ]))?;
            let list = run(self.gpg(ft).args(["--with-colons", "--list-keys", &primary]))?;
            let text = String::from_utf8_lossy(&list);
            signing = text
                .lines()
                .filter(|l| l.starts_with("fpr:"))
                .filter_map(|l| l.split(':').nth(9).map(str::to_owned))
                .next_back()
                .ok_or_else(|| FixtureError::Invalid("no subkey fingerprint".into()))?;
        }
        Ok(Key {
            fingerprint: primary,
            signing_fingerprint: signing,
            faked_time: spec.faked_time.clone(),
        })
    }

    /// Revokes `key` (a revocation certificate imported into the keyring); export afterwards
    /// to hand the revoked key to a client.
    pub fn revoke(&self, key: &Key) -> Result<()> {
        let rev = self.gnupg.join("openpgp-revocs.d").join(format!("{}.rev", key.fingerprint));
        let text = std::fs::read_to_string(&rev).map_err(io(format!("read {}", rev.display())))?;
        // gpg writes the certificate with a leading ':' to prevent accidental import.
        let cleaned = text.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let p = self.dir.path().join("rev.asc");
        std::fs::write(&p, cleaned).map_err(io("write revocation"))?;
        run(self.gpg(None).arg("--import").arg(&p))?;
        Ok(())
    }

    /// Exports `key`'s public part (binary if `!armor`) to a file in the scratch directory and
    /// returns its path.
    pub fn export_key(&self, key: &Key, armor: bool) -> Result<PathBuf> {
        let p = self.dir.path().join(format!(
            "{}.{}",
            &key.fingerprint[key.fingerprint.len().saturating_sub(16)..],
            if armor { "asc" } else { "gpg" }
        ));
        let mut c = self.gpg(None);
        if armor {
            c.arg("--armor");
        }
        let out = run(c.args(["--export", &key.fingerprint]))?;
        if out.is_empty() {
            return Err(FixtureError::Invalid(format!(
                "gpg exported nothing for {}",
                key.fingerprint
            )));
        }
        std::fs::write(&p, out).map_err(io(format!("write {}", p.display())))?;
        Ok(p)
    }

    /// The binary public keyring of the current signing key.
    pub fn public_keyring(&self) -> PathBuf {
        self.export_key(&self.key, false)
            .unwrap_or_else(|e| panic!("exporting the fixture key: {e}"))
    }

    /// Adds a package to `suite`/`component` (built at [`FixtureRepo::publish`]).
    pub fn add(&mut self, suite: &str, component: &str, deb: Deb) -> Result<()> {
        for s in [suite, component] {
            if s.is_empty() || s.contains("..") || s.starts_with('/') {
                return Err(FixtureError::Invalid(format!("name {s:?}")));
            }
        }
        self.suites.entry(suite.into()).or_default().entry(component.into()).or_default().push(deb);
        Ok(())
    }

    /// Pool path of a package added to `suite`/`component`, relative to [`FixtureRepo::root`].
    pub fn pool_path(&self, suite: &str, component: &str, deb: &Deb) -> String {
        format!("pool/{suite}/{component}/{}", deb.file_name())
    }

    /// Builds every `.deb`, every index, `Release`, and signs. Can be called again after
    /// changes (e.g. with another key or date).
    pub fn publish(&self, p: &Publish) -> Result<()> {
        let root = self.root();
        let dists = root.join("dists");
        if dists.exists() {
            std::fs::remove_dir_all(&dists).map_err(io("clean dists"))?;
        }
        for (suite, comps) in &self.suites {
            for (comp, debs) in comps {
                let pool = root.join("pool").join(suite).join(comp);
                for d in debs {
                    if !pool.join(d.file_name()).exists() {
                        d.build(&pool)?;
                    }
                }
            }
            self.publish_suite(p, suite, comps.keys().cloned().collect())?;
        }
        Ok(())
    }

    /// Publishes the packages added to suite `name` (any component) as a flat repository in
    /// `<root>/<name>/` (`deb URI name/`): `.deb`s, `Packages*`, `Release`, signatures.
    pub fn publish_flat(&self, name: &str, p: &Publish) -> Result<()> {
        let root = self.root();
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).map_err(io("create flat dir"))?;
        for debs in self.suites.get(name).into_iter().flat_map(|c| c.values()) {
            for d in debs {
                if !dir.join(d.file_name()).exists() {
                    d.build(&dir)?;
                }
            }
        }
        let out = run(Command::new("apt-ftparchive").current_dir(&root).args(["packages", name]))?;
        std::fs::write(dir.join("Packages"), &out).map_err(io("write Packages"))?;
        compress_all(&dir.join("Packages"))?;
        let mut cmd = Command::new("apt-ftparchive");
        cmd.current_dir(&root)
            .arg("-o")
            .arg(format!("APT::FTPArchive::Release::Date={}", format_date(p.date)))
            .arg("release")
            .arg(name);
        let release = run(&mut cmd)?;
        std::fs::write(dir.join("Release"), release).map_err(io("write Release"))?;
        self.sign_dir(p, &dir)
    }

    fn publish_suite(&self, p: &Publish, suite: &str, comps: Vec<String>) -> Result<()> {
        let root = self.root();
        let sdir = root.join("dists").join(suite);
        let mut index_dirs = Vec::new();
        for comp in &comps {
            for arch in &p.architectures {
                let rel = format!("pool/{suite}/{comp}");
                let out = run(Command::new("apt-ftparchive")
                    .current_dir(&root)
                    .args(["--arch", arch, "packages", &rel]))?;
                let d = sdir.join(comp).join(format!("binary-{arch}"));
                std::fs::create_dir_all(&d).map_err(io("mkdir index dir"))?;
                std::fs::write(d.join("Packages"), &out).map_err(io("write Packages"))?;
                compress_all(&d.join("Packages"))?;
                index_dirs.push(d);
            }
        }
        let o = |k: &str, v: &str| format!("APT::FTPArchive::Release::{k}={v}");
        let mut cmd = Command::new("apt-ftparchive");
        cmd.current_dir(&root);
        for (k, v) in [
            ("Origin", p.origin.as_str()),
            ("Label", p.origin.as_str()),
            ("Suite", suite),
            ("Codename", suite),
            ("Architectures", &p.architectures.join(" ")),
            ("Components", &comps.join(" ")),
            ("Date", &format_date(p.date)),
        ] {
            cmd.arg("-o").arg(o(k, v));
        }
        if p.by_hash {
            cmd.arg("-o").arg(o("Acquire-By-Hash", "yes"));
        }
        cmd.arg("release").arg(format!("dists/{suite}"));
        let mut release = String::from_utf8_lossy(&run(&mut cmd)?).into_owned();
        if let Some(v) = p.valid_until {
            release = release.replacen(
                "\nSuite:",
                &format!("\nValid-Until: {}\nSuite:", format_date(v)),
                1,
            );
        }
        // Serve only the wanted compressions (Release still lists them all, like Debian's).
        for d in &index_dirs {
            for (c, name) in [
                (IndexCompression::Plain, "Packages"),
                (IndexCompression::Gzip, "Packages.gz"),
                (IndexCompression::Xz, "Packages.xz"),
                (IndexCompression::Zstd, "Packages.zst"),
            ] {
                let f = d.join(name);
                if p.by_hash {
                    let bytes = std::fs::read(&f).map_err(io("read index"))?;
                    let hex = hex(&sha2::Sha256::digest(&bytes));
                    let bh = d.join("by-hash").join("SHA256");
                    std::fs::create_dir_all(&bh).map_err(io("mkdir by-hash"))?;
                    if p.compressions.contains(&c) {
                        std::fs::write(bh.join(hex), &bytes).map_err(io("write by-hash"))?;
                    }
                }
                if !p.compressions.contains(&c) || p.only_by_hash {
                    std::fs::remove_file(&f).map_err(io("remove index"))?;
                }
            }
        }
        std::fs::write(sdir.join("Release"), &release).map_err(io("write Release"))?;
        self.sign_release(p, suite)
    }

    fn sign_release(&self, p: &Publish, suite: &str) -> Result<()> {
        self.sign_dir(p, &self.root().join("dists").join(suite))
    }

    fn sign_dir(&self, p: &Publish, sdir: &Path) -> Result<()> {
        let rel = sdir.join("Release");
        for f in ["InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(sdir.join(f));
        }
        let ft = self.key.faked_time.as_deref();
        let signer = format!("{}!", self.key.signing_fingerprint);
        let common = |c: &mut Command| {
            c.args(["--yes", "--local-user", &signer, "--digest-algo", &p.digest]);
        };
        if matches!(p.signing, Signing::Both | Signing::InReleaseOnly) {
            let mut c = self.gpg(ft);
            common(&mut c);
            run(c.arg("--clearsign").arg("-o").arg(sdir.join("InRelease")).arg(&rel))?;
        }
        if matches!(p.signing, Signing::Both | Signing::DetachedOnly) {
            let mut c = self.gpg(ft);
            common(&mut c);
            run(c
                .args(["--armor", "--detach-sign", "-o"])
                .arg(sdir.join("Release.gpg"))
                .arg(&rel))?;
        }
        if matches!(p.signing, Signing::InReleaseOnly) {
            std::fs::remove_file(&rel).map_err(io("remove Release"))?;
        }
        Ok(())
    }

    /// Re-signs `suite`'s existing `Release` with the current key (after [`Self::sign_with`])
    /// without rebuilding anything.
    pub fn resign(&self, suite: &str, p: &Publish) -> Result<()> {
        self.sign_release(p, suite)
    }

    /// Flips one byte in the middle of every served `Packages*` file of `suite` (compressed
    /// files are re-compressed from a tampered plain text so they still decompress), leaving
    /// the signed `Release` unchanged.
    pub fn tamper_packages(&self, suite: &str) -> Result<()> {
        let sdir = self.root().join("dists").join(suite);
        let mut stack = vec![sdir];
        while let Some(d) = stack.pop() {
            for ent in std::fs::read_dir(&d).map_err(io("read dists"))? {
                let ent = ent.map_err(io("dir entry"))?;
                let p = ent.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = ent.file_name().to_string_lossy().into_owned();
                let in_by_hash = p.to_string_lossy().contains("/by-hash/");
                if !(name.starts_with("Packages") || in_by_hash) {
                    continue;
                }
                let plain = decompress(&p)?;
                let tampered =
                    String::from_utf8_lossy(&plain).replacen("Version: ", "Version: 9", 1);
                let kind = sniff(&std::fs::read(&p).map_err(io("read index"))?);
                std::fs::write(&p, compress(kind, tampered.as_bytes())?).map_err(io("write"))?;
            }
        }
        Ok(())
    }

    /// Flips a byte in the middle of the pool file of `deb` (in `suite`/`component`).
    pub fn tamper_deb(&self, suite: &str, component: &str, deb: &Deb) -> Result<PathBuf> {
        let p = self.root().join(self.pool_path(suite, component, deb));
        let mut b = std::fs::read(&p).map_err(io(format!("read {}", p.display())))?;
        let mid = b.len() / 2;
        if let Some(x) = b.get_mut(mid) {
            *x ^= 0xff;
        }
        std::fs::write(&p, b).map_err(io("write tampered deb"))?;
        Ok(p)
    }
}

impl Drop for FixtureRepo {
    fn drop(&mut self) {
        for _ in 0..2 {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", &self.gnupg)
                .args(["--kill", "all"])
                .output();
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Gz,
    Xz,
    Zst,
}

fn sniff(b: &[u8]) -> Kind {
    if b.starts_with(&[0x1f, 0x8b]) {
        Kind::Gz
    } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        Kind::Xz
    } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Kind::Zst
    } else {
        Kind::Plain
    }
}

fn tool(kind: Kind, decompress: bool) -> Option<Command> {
    let (prog, args): (&str, &[&str]) = match (kind, decompress) {
        (Kind::Plain, _) => return None,
        (Kind::Gz, false) => ("gzip", &["-9n", "-c"]),
        (Kind::Gz, true) => ("gzip", &["-dc"]),
        (Kind::Xz, false) => ("xz", &["-6", "-c"]),
        (Kind::Xz, true) => ("xz", &["-dc"]),
        (Kind::Zst, false) => ("zstd", &["-q", "-19", "-c"]),
        (Kind::Zst, true) => ("zstd", &["-q", "-dc"]),
    };
    let mut c = Command::new(prog);
    c.args(args);
    Some(c)
}

fn pipe(mut cmd: Command, input: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("spawn {cmd:?}")))?;
    let mut stdin = child.stdin.take().ok_or_else(|| FixtureError::Invalid("no stdin".into()))?;
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(io("wait for compressor"))?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(FixtureError::Command {
            command: format!("{cmd:?}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

fn compress(kind: Kind, data: &[u8]) -> Result<Vec<u8>> {
    match tool(kind, false) {
        None => Ok(data.to_vec()),
        Some(c) => pipe(c, data),
    }
}

fn decompress(p: &Path) -> Result<Vec<u8>> {
    let b = std::fs::read(p).map_err(io(format!("read {}", p.display())))?;
    match tool(sniff(&b), true) {
        None => Ok(b),
        Some(c) => pipe(c, &b),
    }
}

fn compress_all(plain: &Path) -> Result<()> {
    let data = std::fs::read(plain).map_err(io("read Packages"))?;
    for (k, ext) in [(Kind::Gz, "gz"), (Kind::Xz, "xz"), (Kind::Zst, "zst")] {
        let out = compress(k, &data)?;
        std::fs::write(plain.with_extension(ext), out).map_err(io("write compressed index"))?;
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// RFC 1123 date in UTC, as `Release` files carry.
pub fn format_date(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
