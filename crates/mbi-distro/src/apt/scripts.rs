//! Maintainer scripts: their known effects emulated, or the real scripts run inside the root.
//!
//! **Emulation** ([`ScriptPolicy::Emulate`], always used for distroless images) runs no
//! script. It reproduces what the scripts of common base packages do on a fresh install:
//!
//! | package | effect |
//! |---|---|
//! | `base-passwd`, `passwd` | `/etc/passwd`, `/etc/group` (from base-passwd's masters, or a minimal root/nobody set), `/etc/shadow`, `/etc/gshadow` (locked passwords, last change = `SOURCE_DATE_EPOCH` day), accounts from the spec, the distroless `nonroot` (65532) user, home directories |
//! | `base-files` | `/root/.profile`, `/root/.bashrc`, `/etc/profile`, `/etc/motd` from `/usr/share/base-files`, `/etc/dpkg/origins/default`, `/mnt` `/srv` `/opt` `/media` …, `/var/mail` (2775 root:mail), `/run/lock`, `/var/run` → `/run`, `/var/lock` → `/run/lock`, `/usr/local/man`, `/var/log/{wtmp,btmp,lastlog}` |
//! | any (`update-alternatives --install …` lines in `preinst`/`postinst`) | `/etc/alternatives` links, master and slave links; highest priority wins, ties by path; `var/lib/dpkg/alternatives/<name>` for full images |
//! | `dash` | the `/bin/sh` diversions dpkg would record |
//! | `debianutils` | `/etc/shells` and `/var/lib/shells.state` as `update-shells` builds them (incl. merged-/usr variants) |
//! | `ca-certificates` | `/etc/ca-certificates.conf`, `/etc/ssl/certs/<name>.pem` links and the `ca-certificates.crt` bundle in `update-ca-certificates`' order (OpenSSL hash links are **not** created: reported) |
//! | `tzdata` | `/etc/localtime` → `/usr/share/zoneinfo/<zone>`, `/etc/timezone` |
//! | `usrmerge`, `usr-is-merged` | the merged-/usr layout (set up by the installer) |
//!
//! Every other script is listed in the returned report as [`ScriptAction::Skipped`] (or
//! [`ScriptAction::Partial`] when only its `update-alternatives` lines were emulated): nothing
//! is dropped silently. `ldconfig`'s cache is not generated when emulating (glibc works
//! without it for the standard directories): reported for `libc-bin`.
//!
//! **Running** ([`ScriptPolicy::Run`], full images only) writes the tree to a directory on the
//! spool filesystem, marks every package `unpacked`, runs each package's `preinst install` in
//! install order and then the real `dpkg --configure -a` inside the root (as mmdebstrap does
//! after its extraction phase), with `chroot` when running as root or `unshare
//! --map-root-user` otherwise, `/dev` bind-mounted and `/proc` mounted in a private mount
//! namespace, and a `policy-rc.d` that keeps services from starting. The new PID namespace's
//! init stays outside the root, so `ischroot` inside answers "yes" as in any chroot (otherwise
//! libc6's postinst tries to re-exec init and sleeps a second). What the scripts leave
//! is then normalised ([`normalise_root`]): logs, `*-old` backups, ldconfig's aux-cache, an
//! emptied `/etc/machine-id`, temporary files; modification times are clamped to
//! `SOURCE_DATE_EPOCH`. The directory is read back with [`FileTree::from_dir`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use mbi_layer::{Entry, EntryKind, FileTree, FromDirOptions, TreePath};

use crate::Error;
use crate::apt::install::{InstallOptions, Installation, NewEntry, Origin};

/// What to do with maintainer scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ScriptPolicy {
    /// Run nothing; emulate known effects and report the rest.
    #[default]
    Emulate,
    /// Run the real scripts inside the new root (full images).
    Run(Isolation),
}

/// How scripts are isolated when run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// `chroot` when running as root, else `unshare --map-root-user`.
    #[default]
    Auto,
    /// `unshare --mount --pid --fork` + `chroot` (needs root).
    Chroot,
    /// `unshare --map-root-user --mount --pid --fork` + `chroot` (unprivileged user
    /// namespaces; files keep the user's ownership, recorded as root).
    UserNamespace,
}

impl ScriptPolicy {
    /// [`ScriptPolicy::Run`] when this host can isolate scripts ([`probe_isolation`]), else
    /// [`ScriptPolicy::Emulate`].
    pub fn auto() -> ScriptPolicy {
        probe_isolation().map_or(ScriptPolicy::Emulate, ScriptPolicy::Run)
    }
}

/// Which isolation works on this host: [`Isolation::Chroot`] when a private mount and PID
/// namespace can be created (root), [`Isolation::UserNamespace`] when an unprivileged user
/// namespace can, `None` otherwise. Runs `unshare … true` to find out.
pub fn probe_isolation() -> Option<Isolation> {
    let works = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args(args)
            .arg("true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if is_root() && works(&["--mount", "--pid", "--fork"]) {
        Some(Isolation::Chroot)
    } else if works(&["--map-root-user", "--mount", "--pid", "--fork"]) {
        Some(Isolation::UserNamespace)
    } else {
        None
    }
}

/// A user account for `/etc/passwd`, `/etc/group` and the shadow files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id (a group of the same name is created when missing).
    pub gid: u32,
    /// Home directory (created, owned by the user, mode 0700, unless `/nonexistent`).
    #[serde(default = "default_home")]
    pub home: String,
    /// Login shell.
    #[serde(default = "default_shell")]
    pub shell: String,
    /// GECOS field.
    #[serde(default)]
    pub gecos: String,
    /// Supplementary groups (must exist).
    #[serde(default)]
    pub groups: Vec<String>,
}

fn default_home() -> String {
    "/nonexistent".into()
}

fn default_shell() -> String {
    "/usr/sbin/nologin".into()
}

impl Account {
    /// An account with home `/home/<name>` and shell `/usr/sbin/nologin`.
    pub fn new(name: impl Into<String>, uid: u32, gid: u32) -> Self {
        let name = name.into();
        Account {
            home: format!("/home/{name}"),
            name,
            uid,
            gid,
            shell: default_shell(),
            gecos: String::new(),
            groups: Vec::new(),
        }
    }

    /// The distroless `nonroot` user (65532:65532, home `/home/nonroot`).
    pub fn nonroot() -> Self {
        let mut a = Account::new("nonroot", 65532, 65532);
        a.gecos = "nonroot".into();
        a
    }
}

/// What happened to one maintainer script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ScriptAction {
    /// Its effects on a fresh install were reproduced.
    Emulated,
    /// Some of its effects were reproduced (see the detail); the rest was not run.
    Partial,
    /// It ran for real inside the root.
    Ran,
    /// Neither run nor emulated.
    Skipped,
}

/// One line of the script report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScriptNote {
    /// The package.
    pub package: String,
    /// The script (`preinst`, `postinst`, `config`, …) or effect (`ldconfig`).
    pub script: String,
    /// What happened.
    pub action: ScriptAction,
    /// Why, or what was done.
    pub detail: String,
}

/// Side results of emulation the database needs.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// Diversions (path, diverted-to, package) as dpkg would record them.
    pub diversions: Vec<(String, String, String)>,
}

/// Emulates maintainer-script effects on an [`Installation`].
#[derive(Debug)]
pub struct Emulation<'a> {
    o: &'a InstallOptions,
}

/// One `update-alternatives --install` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternativeInstall {
    /// The generic link (`/usr/bin/awk`).
    pub link: String,
    /// The alternative's name (`awk`).
    pub name: String,
    /// The alternative (`/usr/bin/mawk`).
    pub path: String,
    /// Its priority.
    pub priority: i64,
    /// Slaves: (link, name, path).
    pub slaves: Vec<(String, String, String)>,
}

/// Finds `update-alternatives --install` calls in a shell script (backslash continuations
/// joined). Calls using shell variables in their arguments are returned in the second list
/// as the raw text (they cannot be emulated).
pub fn parse_update_alternatives(script: &str) -> (Vec<AlternativeInstall>, Vec<String>) {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    let mut unresolved = Vec::new();
    for line in joined.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find("update-alternatives") {
            let after = &rest[pos + "update-alternatives".len()..];
            let words: Vec<&str> = shell_words(after);
            let Some(ipos) = words.iter().position(|w| *w == "--install") else {
                rest = after;
                continue;
            };
            // Options before --install (e.g. --quiet) are fine; stop at shell operators.
            if words[..ipos].iter().any(|w| is_operator(w)) {
                rest = after;
                continue;
            }
            let args: Vec<&str> =
                words[ipos + 1..].iter().take_while(|w| !is_operator(w)).copied().collect();
            let text =
                format!("update-alternatives{}", after.split(['|', ';', '&']).next().unwrap_or(""));
            if args.iter().any(|a| a.contains('$') || a.contains('`')) || args.len() < 4 {
                unresolved.push(text.trim().to_owned());
                rest = after;
                continue;
            }
            let Ok(priority) = args[3].parse::<i64>() else {
                unresolved.push(text.trim().to_owned());
                rest = after;
                continue;
            };
            let mut alt = AlternativeInstall {
                link: args[0].to_owned(),
                name: args[1].to_owned(),
                path: args[2].to_owned(),
                priority,
                slaves: Vec::new(),
            };
            let mut i = 4;
            while i < args.len() {
                if args[i] == "--slave" {
                    if let (Some(l), Some(n), Some(p)) =
                        (args.get(i + 1), args.get(i + 2), args.get(i + 3))
                    {
                        alt.slaves.push(((*l).to_owned(), (*n).to_owned(), (*p).to_owned()));
                    }
                    i += 4;
                } else {
                    i += 1;
                }
            }
            found.push(alt);
            rest = after;
        }
    }
    (found, unresolved)
}

fn is_operator(w: &str) -> bool {
    matches!(
        w,
        "||" | "&&"
            | ";"
            | "|"
            | ")"
            | "fi"
            | "then"
            | ";;"
            | ">"
            | "2>"
            | ">/dev/null"
            | "2>/dev/null"
    ) || w.starts_with('>')
        || w.starts_with("2>")
}

fn shell_words(s: &str) -> Vec<&str> {
    s.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
        .flat_map(|w| {
            // `foo;` → `foo`, `;`
            if w.len() > 1 && w.ends_with(';') { vec![&w[..w.len() - 1], ";"] } else { vec![w] }
        })
        .collect()
}

impl<'a> Emulation<'a> {
    /// An emulation for these install options.
    pub fn new(o: &'a InstallOptions) -> Self {
        Emulation { o }
    }

    /// Applies the known effects to `inst.tree` and appends notes to `inst.report`.
    pub fn emulate(&self, inst: &mut Installation) -> Result<Effects, Error> {
        let mut cx = Cx { inst, o: self.o, handled: BTreeMap::new(), effects: Effects::default() };
        cx.merged_usr();
        cx.accounts()?;
        cx.base_files()?;
        cx.dash();
        cx.alternatives()?;
        cx.shells()?;
        cx.ca_certificates()?;
        cx.tzdata()?;
        cx.small_ones()?;
        cx.ldconfig();
        cx.report_rest();
        Ok(cx.effects)
    }
}

struct Cx<'i, 'o> {
    inst: &'i mut Installation,
    o: &'o InstallOptions,
    /// (package index, script) → action decided by a package-specific emulation (if any) and
    /// what was done.
    handled: BTreeMap<(usize, String), (Option<ScriptAction>, Vec<String>)>,
    effects: Effects,
}

const SCRIPTS: [&str; 3] = ["preinst", "postinst", "config"];

impl Cx<'_, '_> {
    fn pkg(&self, name: &str) -> Option<usize> {
        self.inst.packages.iter().position(|p| p.name == name)
    }

    fn note(&mut self, idx: usize, script: &str, action: ScriptAction, detail: impl Into<String>) {
        if self.inst.packages[idx].control.script(script).is_some() || script == "ldconfig" {
            let e = self.handled.entry((idx, script.to_owned())).or_default();
            e.0 = Some(match (e.0, action) {
                (Some(ScriptAction::Skipped), a) | (Some(a), ScriptAction::Skipped)
                    if a != ScriptAction::Skipped =>
                {
                    ScriptAction::Partial
                }
                (_, a) => a,
            });
            e.1.push(detail.into());
        }
    }

    /// Records a generic effect (no verdict on the whole script).
    fn detail(&mut self, idx: usize, script: &str, detail: impl Into<String>) {
        self.handled.entry((idx, script.to_owned())).or_default().1.push(detail.into());
    }

    fn note_all(&mut self, idx: usize, action: ScriptAction, detail: &str) {
        for s in SCRIPTS {
            self.note(idx, s, action, detail);
        }
    }

    fn mtime(&self) -> i64 {
        self.o.source_date_epoch
    }

    fn path(p: &str) -> Result<TreePath, Error> {
        Ok(TreePath::new(p)?)
    }

    /// Reads a regular file of the tree (following symlinks).
    fn read(&self, p: &str) -> Result<Option<Vec<u8>>, Error> {
        let tp = Self::path(p)?;
        let Some(real) = self.inst.tree.resolve(&tp, true)? else { return Ok(None) };
        match self.inst.tree.get(&real).map(|e| &e.kind) {
            Some(EntryKind::File(c)) => Ok(Some(c.read_all()?)),
            _ => Ok(None),
        }
    }

    fn exists(&self, p: &str) -> Result<bool, Error> {
        let tp = Self::path(p)?;
        if self.inst.tree.contains(&tp) {
            return Ok(true);
        }
        Ok(match self.inst.tree.resolve(&tp, true)? {
            Some(real) => self.inst.tree.contains(&real),
            None => true,
        })
    }

    fn is_dir(&self, p: &str) -> Result<bool, Error> {
        let tp = Self::path(p)?;
        Ok(match self.inst.tree.resolve(&tp, true)? {
            Some(real) => self.inst.tree.get(&real).is_some_and(Entry::is_dir),
            None => true,
        })
    }

    fn put(&mut self, e: NewEntry, origin: Origin) -> Result<TreePath, Error> {
        let entry = e.to_entry(self.mtime())?;
        let at = self.inst.tree.insert_follow(entry)?;
        self.inst.origins.insert(at.clone(), origin);
        Ok(at)
    }

    fn origin(&self, name: &str) -> Origin {
        self.pkg(name).map_or(Origin::System, Origin::Package)
    }

    fn merged_usr(&mut self) {
        for name in ["usrmerge", "usr-is-merged"] {
            if let Some(i) = self.pkg(name) {
                let detail = if self.inst.merged_usr {
                    "merged-/usr layout set up by the installer"
                } else {
                    "merged-/usr not set up (the installer was told not to)"
                };
                let action = if self.inst.merged_usr {
                    ScriptAction::Emulated
                } else {
                    ScriptAction::Skipped
                };
                self.note_all(i, action, detail);
            }
        }
    }

    fn accounts(&mut self) -> Result<(), Error> {
        let distroless = self.o.flavour == crate::apt::install::Flavour::Distroless;
        let base_passwd = self.pkg("base-passwd");
        // A full image gets accounts from base-passwd's scripts; without it (and without
        // accounts asked for) dpkg would create none either.
        if !distroless
            && base_passwd.is_none()
            && self.o.accounts.is_empty()
            && !self.o.nonroot_account
        {
            return Ok(());
        }
        let mut users: Vec<Vec<String>> = Vec::new();
        let mut groups: Vec<Vec<String>> = Vec::new();
        let parse = |data: Option<Vec<u8>>, n: usize| -> Vec<Vec<String>> {
            let text = data.map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default();
            text.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
                .filter(|f| f.len() == n)
                .collect()
        };
        if base_passwd.is_some() {
            users = parse(self.read("usr/share/base-passwd/passwd.master")?, 7);
            groups = parse(self.read("usr/share/base-passwd/group.master")?, 4);
        }
        if users.is_empty() {
            let nologin = "/sbin/nologin".to_owned();
            users = vec![
                vec![
                    "root".into(),
                    "x".into(),
                    "0".into(),
                    "0".into(),
                    "root".into(),
                    "/root".into(),
                    nologin.clone(),
                ],
                vec![
                    "nobody".into(),
                    "x".into(),
                    "65534".into(),
                    "65534".into(),
                    "nobody".into(),
                    "/nonexistent".into(),
                    nologin,
                ],
            ];
            groups = ["root:x:0:", "tty:x:5:", "staff:x:50:", "nogroup:x:65534:"]
                .iter()
                .map(|l| l.split(':').map(str::to_owned).collect())
                .collect();
        }
        // apt before 1.x+bookworm creates _apt with adduser; base-passwd ≥ 3.6 lists it.
        if self.pkg("apt").is_some() && !users.iter().any(|u| u[0] == "_apt") {
            let mut uid = 100u32;
            while users.iter().any(|u| u[2] == uid.to_string()) {
                uid += 1;
            }
            users.push(vec![
                "_apt".into(),
                "x".into(),
                uid.to_string(),
                "65534".into(),
                String::new(),
                "/nonexistent".into(),
                "/usr/sbin/nologin".into(),
            ]);
            if let Some(i) = self.pkg("apt") {
                self.detail(i, "postinst", "_apt system user added");
            }
        }
        let mut extra: Vec<Account> = self.o.accounts.clone();
        if (distroless || self.o.nonroot_account) && !extra.iter().any(|a| a.name == "nonroot") {
            extra.insert(0, Account::nonroot());
        }
        for a in &extra {
            if users.iter().any(|u| u[0] == a.name || u[2] == a.uid.to_string()) {
                return Err(Error::Spec {
                    file: "<accounts>".into(),
                    line: None,
                    reason: format!(
                        "account {} (uid {}) clashes with an existing user",
                        a.name, a.uid
                    ),
                });
            }
            if !groups.iter().any(|g| g[2] == a.gid.to_string()) {
                groups.push(vec![a.name.clone(), "x".into(), a.gid.to_string(), String::new()]);
            }
            for sg in &a.groups {
                let g = groups.iter_mut().find(|g| &g[0] == sg).ok_or_else(|| Error::Spec {
                    file: "<accounts>".into(),
                    line: None,
                    reason: format!("account {}: unknown group {sg}", a.name),
                })?;
                if g[3].is_empty() {
                    g[3] = a.name.clone();
                } else {
                    g[3] = format!("{},{}", g[3], a.name);
                }
            }
            users.push(vec![
                a.name.clone(),
                "x".into(),
                a.uid.to_string(),
                a.gid.to_string(),
                a.gecos.clone(),
                a.home.clone(),
                a.shell.clone(),
            ]);
        }
        // Shadow: passwords move to /etc/shadow ("x" in passwd), locked.
        let day = self.o.source_date_epoch.max(0) / 86_400;
        let mut passwd = String::new();
        let mut shadow = String::new();
        for u in &users {
            let pw = if u[1] == "x" || u[1].is_empty() { "*" } else { u[1].as_str() };
            let _ = writeln!(passwd, "{}:x:{}:{}:{}:{}:{}", u[0], u[2], u[3], u[4], u[5], u[6]);
            let _ = writeln!(shadow, "{}:{pw}:{day}:0:99999:7:::", u[0]);
        }
        let mut group = String::new();
        let mut gshadow = String::new();
        for g in &groups {
            let pw = if g[1] == "x" || g[1].is_empty() { "*" } else { g[1].as_str() };
            let _ = writeln!(group, "{}:x:{}:{}", g[0], g[2], g[3]);
            let _ = writeln!(gshadow, "{}:{pw}::{}", g[0], g[3]);
        }
        let shadow_gid = groups.iter().find(|g| g[0] == "shadow").and_then(|g| g[2].parse().ok());
        let origin = self.origin("base-passwd");
        self.put(NewEntry::file("etc/passwd", passwd, 0o644), origin)?;
        self.put(NewEntry::file("etc/group", group, 0o644), origin)?;
        let porigin = self.origin("passwd");
        let (smode, sgid) = match shadow_gid {
            Some(g) => (0o640, g),
            None => (0o600, 0),
        };
        self.put(NewEntry::file("etc/shadow", shadow, smode).owner(0, sgid), porigin)?;
        self.put(NewEntry::file("etc/gshadow", gshadow, smode).owner(0, sgid), porigin)?;
        // Homes.
        for u in &users {
            let home = u[5].trim_start_matches('/');
            if home.is_empty() || u[5] == "/nonexistent" || !u[5].starts_with('/') {
                continue;
            }
            let is_root = u[2] == "0";
            let is_extra = extra.iter().any(|a| a.name == u[0]);
            if (is_root || is_extra) && !self.exists(home)? {
                let uid: u32 = u[2].parse().unwrap_or(0);
                let gid: u32 = u[3].parse().unwrap_or(0);
                self.put(NewEntry::dir(home, 0o700).owner(uid, gid), Origin::System)?;
            }
        }
        if let Some(i) = base_passwd {
            self.note_all(
                i,
                ScriptAction::Emulated,
                "/etc/passwd and /etc/group from base-passwd's masters",
            );
        }
        if let Some(i) = self.pkg("passwd") {
            self.note_all(
                i,
                ScriptAction::Emulated,
                "shadowconfig on: /etc/shadow and /etc/gshadow",
            );
        }
        Ok(())
    }

    fn base_files(&mut self) -> Result<(), Error> {
        let Some(i) = self.pkg("base-files") else { return Ok(()) };
        let o = Origin::Package(i);
        for origin in ["debian", "ubuntu"] {
            if !self.exists("etc/dpkg/origins/default")?
                && self.exists(&format!("etc/dpkg/origins/{origin}"))?
            {
                self.put(NewEntry::symlink("etc/dpkg/origins/default", origin), o)?;
            }
        }
        for (from, to) in [
            ("dot.profile", "root/.profile"),
            ("dot.bashrc", "root/.bashrc"),
            ("profile", "etc/profile"),
            ("motd", "etc/motd"),
        ] {
            if !self.exists(to)?
                && let Some(data) = self.read(&format!("usr/share/base-files/{from}"))?
            {
                self.put(NewEntry::file(to, data, 0o644), o)?;
            }
        }
        let mail_gid = self.group_id("mail").unwrap_or(8);
        let utmp_gid = self.group_id("utmp").unwrap_or(43);
        for (d, mode, gid) in [
            ("mnt", 0o755, 0),
            ("srv", 0o755, 0),
            ("opt", 0o755, 0),
            ("etc/opt", 0o755, 0),
            ("var/opt", 0o755, 0),
            ("media", 0o755, 0),
            ("var/mail", 0o2775, mail_gid),
            ("run/lock", 0o1777, 0),
        ] {
            if !self.exists(d)? {
                self.put(NewEntry::dir(d, mode).owner(0, gid), o)?;
            }
        }
        if !self.is_symlink("var/spool/mail")? && !self.exists("var/spool/mail")? {
            self.put(NewEntry::symlink("var/spool/mail", "../mail"), o)?;
        }
        for (d, target) in [("var/run", "/run"), ("var/lock", "/run/lock")] {
            if !self.is_symlink(d)? {
                let tp = Self::path(d)?;
                if self.inst.tree.children(Some(&tp)).next().is_none() {
                    self.inst.tree.remove(&tp);
                    self.put(NewEntry::symlink(d, target), o)?;
                }
            }
        }
        for d in [
            "usr/local",
            "usr/local/share",
            "usr/local/share/man",
            "usr/local/bin",
            "usr/local/games",
            "usr/local/lib",
            "usr/local/include",
            "usr/local/sbin",
            "usr/local/src",
            "usr/local/etc",
        ] {
            if !self.exists(d)? {
                self.put(NewEntry::dir(d, 0o755), o)?;
            }
        }
        if !self.is_symlink("usr/local/man")? && !self.exists("usr/local/man")? {
            self.put(NewEntry::symlink("usr/local/man", "share/man"), o)?;
        }
        for (f, mode) in
            [("var/log/wtmp", 0o664), ("var/log/btmp", 0o660), ("var/log/lastlog", 0o664)]
        {
            if !self.exists(f)? {
                self.put(NewEntry::file(f, Vec::new(), mode).owner(0, utmp_gid), o)?;
            }
        }
        if self.is_dir("usr/share/info")?
            && !self.exists("usr/share/info/dir")?
            && let Some(data) = self.read("usr/share/base-files/info.dir")?
        {
            self.put(NewEntry::file("usr/share/info/dir", data, 0o644), o)?;
        }
        self.note_all(
            i,
            ScriptAction::Emulated,
            "fresh-install postinst: default dotfiles, directories, log files",
        );
        Ok(())
    }

    fn is_symlink(&self, p: &str) -> Result<bool, Error> {
        let tp = Self::path(p)?;
        let at = self.inst.tree.resolve_parent(&tp)?;
        Ok(matches!(self.inst.tree.get(&at).map(|e| &e.kind), Some(EntryKind::Symlink(_))))
    }

    fn group_id(&self, name: &str) -> Option<u32> {
        let text = self.read("etc/group").ok().flatten()?;
        String::from_utf8_lossy(&text).lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() == 4 && f[0] == name).then(|| f[2].parse().ok()).flatten()
        })
    }

    fn dash(&mut self) {
        let Some(i) = self.pkg("dash") else { return };
        if self.o.flavour == crate::apt::install::Flavour::Full {
            self.effects.diversions.push((
                "/bin/sh".into(),
                "/bin/sh.distrib".into(),
                "dash".into(),
            ));
            self.effects.diversions.push((
                "/usr/share/man/man1/sh.1.gz".into(),
                "/usr/share/man/man1/sh.distrib.1.gz".into(),
                "dash".into(),
            ));
        }
        self.note_all(
            i,
            ScriptAction::Emulated,
            "/bin/sh is shipped by dash; its dpkg-divert bookkeeping recorded",
        );
    }

    fn alternatives(&mut self) -> Result<(), Error> {
        let mut all: BTreeMap<String, Vec<(usize, AlternativeInstall)>> = BTreeMap::new();
        let mut unresolved_calls = Vec::new();
        for (i, p) in self.inst.packages.iter().enumerate() {
            for script in ["preinst", "postinst"] {
                let Some(text) = p.control.script(script) else { continue };
                let (found, unresolved) = parse_update_alternatives(&String::from_utf8_lossy(text));
                for a in found {
                    all.entry(a.name.clone()).or_default().push((i, a));
                }
                for u in unresolved {
                    unresolved_calls.push((
                        i,
                        script,
                        format!("update-alternatives call with shell variables not emulated: {u}"),
                    ));
                }
            }
        }
        for (i, script, d) in unresolved_calls {
            self.detail(i, script, d);
        }
        let mut touched: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (name, mut choices) in all {
            // The same alternative installed twice (preinst and postinst): keep one.
            choices.sort_by(|a, b| a.1.path.cmp(&b.1.path).then(a.0.cmp(&b.0)));
            choices.dedup_by(|a, b| a.1.path == b.1.path);
            // Only alternatives whose target exists count.
            let mut available = Vec::new();
            for c in choices {
                if self.exists(c.1.path.trim_start_matches('/'))? {
                    available.push(c);
                }
            }
            let Some(best) = available
                .iter()
                .max_by(|a, b| a.1.priority.cmp(&b.1.priority).then(b.1.path.cmp(&a.1.path)))
                .cloned()
            else {
                continue;
            };
            let (bi, alt) = best;
            let o = Origin::Package(bi);
            let link = alt.link.trim_start_matches('/');
            let link_ok = !self.exists(link)? || self.is_symlink(link)?;
            if link_ok {
                self.put(NewEntry::symlink(link, format!("/etc/alternatives/{name}")), o)?;
                self.put(
                    NewEntry::symlink(format!("etc/alternatives/{name}"), alt.path.clone()),
                    o,
                )?;
            }
            let mut slaves: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
            for (_, a) in &available {
                for (l, n, _) in &a.slaves {
                    slaves.entry(n.clone()).or_insert((l.clone(), None));
                }
            }
            for (l, n, p) in &alt.slaves {
                if self.exists(p.trim_start_matches('/'))? {
                    slaves.insert(n.clone(), (l.clone(), Some(p.clone())));
                }
            }
            for (n, (l, p)) in &slaves {
                let Some(p) = p else { continue };
                let l = l.trim_start_matches('/');
                if !self.exists(l)? || self.is_symlink(l)? {
                    self.put(NewEntry::symlink(l, format!("/etc/alternatives/{n}")), o)?;
                    self.put(NewEntry::symlink(format!("etc/alternatives/{n}"), p.clone()), o)?;
                }
            }
            if self.o.flavour == crate::apt::install::Flavour::Full {
                // dpkg's administrative file: mode, master link, slaves, then each choice.
                let mut f = format!("auto\n{}\n", alt.link);
                for (n, (l, _)) in &slaves {
                    let _ = write!(f, "{n}\n{l}\n");
                }
                f.push('\n');
                for (_, a) in &available {
                    let _ = write!(f, "{}\n{}\n", a.path, a.priority);
                    for n in slaves.keys() {
                        let p =
                            a.slaves.iter().find(|s| &s.1 == n).map(|s| s.2.as_str()).unwrap_or("");
                        f.push_str(p);
                        f.push('\n');
                    }
                }
                f.push('\n');
                self.put(
                    NewEntry::file(format!("var/lib/dpkg/alternatives/{name}"), f, 0o644),
                    Origin::System,
                )?;
            }
            for (i, _) in &available {
                touched.entry(*i).or_default().insert(name.clone());
            }
        }
        for (i, names) in touched {
            let list: Vec<&str> = names.iter().map(String::as_str).collect();
            let detail = format!("update-alternatives links: {}", list.join(", "));
            for script in ["preinst", "postinst"] {
                let has = self.inst.packages[i]
                    .control
                    .script(script)
                    .is_some_and(|t| String::from_utf8_lossy(t).contains("update-alternatives"));
                if has {
                    self.detail(i, script, detail.clone());
                }
            }
        }
        Ok(())
    }

    fn shells(&mut self) -> Result<(), Error> {
        let Some(i) = self.pkg("debianutils") else { return Ok(()) };
        let Some(template) = self.read("usr/share/debianutils/shells")? else {
            self.note(i, "postinst", ScriptAction::Skipped, "no /usr/share/debianutils/shells (old debianutils): /etc/shells comes from the package");
            return Ok(());
        };
        let mut sources = vec![String::from_utf8_lossy(&template).into_owned()];
        let dir = Self::path("usr/share/debianutils/shells.d")?;
        let real_dir = self.inst.tree.resolve(&dir, true)?.unwrap_or(dir);
        let mut names: Vec<TreePath> =
            self.inst.tree.children(Some(&real_dir)).map(|e| e.path.clone()).collect();
        names.sort();
        for n in names {
            if let Some(t) = self.read(&n.to_string())? {
                sources.push(String::from_utf8_lossy(&t).into_owned());
            }
        }
        let mut pkg_shells: Vec<String> = Vec::new();
        for (k, src) in sources.iter().enumerate() {
            for line in src.lines() {
                let shell = line.split('#').next().unwrap_or("").trim_end();
                if shell.is_empty() {
                    continue;
                }
                pkg_shells.push(shell.to_owned());
                if let Some((d, b)) = shell.rsplit_once('/') {
                    let d = d.trim_start_matches('/');
                    let real = if d.is_empty() {
                        String::new()
                    } else {
                        match self.inst.tree.resolve(&Self::path(d)?, true)? {
                            Some(r) => format!("/{r}"),
                            None => String::new(),
                        }
                    };
                    let real = format!("{real}/{b}");
                    if real != shell {
                        pkg_shells.push(real);
                    }
                }
            }
            let _ = k;
        }
        let mut out = String::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for line in sources[0].lines() {
            let shell = line.split('#').next().unwrap_or("");
            if shell.is_empty() || seen.insert(shell.to_owned()) {
                out.push_str(line);
                out.push('\n');
            }
        }
        let mut state = String::new();
        for s in &pkg_shells {
            state.push_str(s);
            state.push('\n');
            if seen.insert(s.clone()) {
                out.push_str(s);
                out.push('\n');
            }
        }
        let o = Origin::Package(i);
        self.put(NewEntry::file("etc/shells", out, 0o644), o)?;
        self.put(NewEntry::file("var/lib/shells.state", state, 0o644), o)?;
        self.note_all(i, ScriptAction::Emulated, "update-shells: /etc/shells");
        Ok(())
    }

    fn ca_certificates(&mut self) -> Result<(), Error> {
        let Some(i) = self.pkg("ca-certificates") else { return Ok(()) };
        let o = Origin::Package(i);
        let base = Self::path("usr/share/ca-certificates")?;
        let real = self.inst.tree.resolve(&base, true)?.unwrap_or(base.clone());
        let mut certs: Vec<String> = self
            .inst
            .tree
            .descendants(Some(&real))
            .filter(|e| e.path.as_bytes().ends_with(b".crt"))
            .filter(|e| {
                matches!(e.kind, EntryKind::File(_)) || matches!(e.kind, EntryKind::Symlink(_))
            })
            .filter_map(|e| {
                let rel = &e.path.as_bytes()[real.as_bytes().len() + 1..];
                std::str::from_utf8(rel).ok().map(str::to_owned)
            })
            .collect();
        certs.sort();
        // /etc/ca-certificates.conf as the postinst writes it on a fresh install: its header,
        // then every available certificate, enabled, in byte order.
        let script = self.inst.packages[i]
            .control
            .script("postinst")
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        let header =
            heredoc_after(&script, "cat > /etc/ca-certificates.conf <<EOF").unwrap_or_default();
        let mut conf = header;
        for c in &certs {
            conf.push_str(c);
            conf.push('\n');
        }
        if !self.exists("etc/ca-certificates.conf")? {
            self.put(NewEntry::file("etc/ca-certificates.conf", conf, 0o644), o)?;
        }
        let mut bundle = Vec::new();
        for c in &certs {
            let Some(data) = self.read(&format!("usr/share/ca-certificates/{c}"))? else {
                continue;
            };
            let stem = c.rsplit('/').next().unwrap_or(c).trim_end_matches(".crt");
            let pem: String = stem
                .chars()
                .map(|ch| match ch {
                    ' ' | ',' => '_',
                    '(' | ')' => '=',
                    other => other,
                })
                .collect();
            self.put(
                NewEntry::symlink(
                    format!("etc/ssl/certs/{pem}.pem"),
                    format!("/usr/share/ca-certificates/{c}"),
                ),
                o,
            )?;
            bundle.extend_from_slice(&data);
            if !data.is_empty() && !data.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        self.put(NewEntry::file("etc/ssl/certs/ca-certificates.crt", bundle, 0o644), o)?;
        self.note(i, "postinst", ScriptAction::Emulated, format!(
            "update-ca-certificates: /etc/ca-certificates.conf, {} .pem links, ca-certificates.crt",
            certs.len()
        ));
        self.note(
            i,
            "postinst",
            ScriptAction::Skipped,
            "OpenSSL subject-hash links (openssl rehash) not created",
        );
        self.note(
            i,
            "config",
            ScriptAction::Emulated,
            "debconf defaults: every certificate enabled",
        );
        Ok(())
    }

    fn tzdata(&mut self) -> Result<(), Error> {
        let Some(i) = self.pkg("tzdata") else { return Ok(()) };
        let tz = self.o.timezone.clone();
        let zone = format!("usr/share/zoneinfo/{tz}");
        if !self.exists(&zone)? {
            return Err(Error::Spec {
                file: "<timezone>".into(),
                line: None,
                reason: format!("time zone {tz} is not in tzdata"),
            });
        }
        let o = Origin::Package(i);
        self.put(NewEntry::symlink("etc/localtime", format!("/{zone}")), o)?;
        self.put(NewEntry::file("etc/timezone", format!("{tz}\n"), 0o644), o)?;
        self.note_all(
            i,
            ScriptAction::Emulated,
            format!("/etc/localtime -> /{zone}, /etc/timezone").as_str(),
        );
        Ok(())
    }

    fn small_ones(&mut self) -> Result<(), Error> {
        if let Some(i) = self.pkg("libc-bin") {
            if !self.exists("etc/nsswitch.conf")?
                && let Some(d) = self.read("usr/share/libc-bin/nsswitch.conf")?
            {
                self.put(NewEntry::file("etc/nsswitch.conf", d, 0o644), Origin::Package(i))?;
            }
            self.note(
                i,
                "postinst",
                ScriptAction::Emulated,
                "/etc/nsswitch.conf from /usr/share/libc-bin",
            );
        }
        if let Some(i) = self.pkg("libpam-modules") {
            let o = Origin::Package(i);
            if !self.exists("etc/security/opasswd")? && self.is_dir("etc/security")? {
                self.put(NewEntry::file("etc/security/opasswd", Vec::new(), 0o600), o)?;
            }
            if !self.exists("etc/environment")? {
                self.put(NewEntry::file("etc/environment", Vec::new(), 0o644), o)?;
            }
            self.note_all(i, ScriptAction::Emulated, "/etc/security/opasswd, /etc/environment");
        }
        Ok(())
    }

    fn ldconfig(&mut self) {
        if let Some(i) = self.pkg("libc-bin") {
            let detail = "ldconfig not run: no /etc/ld.so.cache (glibc searches the standard directories without it)";
            self.note(i, "ldconfig", ScriptAction::Skipped, detail);
        }
    }

    fn report_rest(&mut self) {
        let mut notes = Vec::new();
        for (i, p) in self.inst.packages.iter().enumerate() {
            for script in ["preinst", "postinst", "config", "ldconfig"] {
                match self.handled.get(&(i, script.to_owned())) {
                    Some((action, details)) => {
                        let action = action.unwrap_or(ScriptAction::Partial);
                        let mut detail = details.join("; ");
                        if action == ScriptAction::Partial {
                            detail.push_str("; the rest of the script was not run");
                        }
                        notes.push(ScriptNote {
                            package: p.name.clone(),
                            script: script.into(),
                            action,
                            detail,
                        });
                    }
                    None if script != "ldconfig" && p.control.script(script).is_some() => {
                        notes.push(ScriptNote {
                            package: p.name.clone(),
                            script: script.into(),
                            action: ScriptAction::Skipped,
                            detail: "no emulation for this script; it was not run".into(),
                        });
                    }
                    None => {}
                }
            }
        }
        self.inst.report.extend(notes);
    }
}

/// The text of the here-document that follows `marker` in `script`, up to its `EOF` line.
fn heredoc_after(script: &str, marker: &str) -> Option<String> {
    let start = script.find(marker)? + marker.len();
    let rest = script[start..].strip_prefix('\n').unwrap_or(&script[start..]);
    let mut out = String::new();
    for line in rest.lines() {
        if line.trim() == "EOF" {
            return Some(out);
        }
        out.push_str(line);
        out.push('\n');
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Running the real scripts

/// Files removed after scripts ran because they differ between runs (as mmdebstrap does).
pub const UNREPRODUCIBLE_FILES: &[&str] = &[
    "var/log/dpkg.log",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/alternatives.log",
    "var/log/apt/eipp.log.xz",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dbus/machine-id",
];

/// Removes what scripts leave behind that would make the image differ between runs: logs,
/// `*-old` backups of dpkg and debconf, ldconfig's aux-cache, an emptied `/etc/machine-id`,
/// `/tmp` and `/var/tmp` contents.
pub fn normalise_root(root: &Path) -> Result<(), Error> {
    let io =
        |op: &'static str, p: &Path, e: std::io::Error| Error::from(mbi_core::Error::io(op, p, e));
    for f in UNREPRODUCIBLE_FILES {
        let p = root.join(f);
        if p.symlink_metadata().is_ok() {
            std::fs::remove_file(&p).map_err(|e| io("remove", &p, e))?;
        }
    }
    for dir in ["var/lib/dpkg", "var/cache/debconf"] {
        let d = root.join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.file_name().as_encoded_bytes().ends_with(b"-old") {
                let p = e.path();
                std::fs::remove_file(&p).map_err(|err| io("remove", &p, err))?;
            }
        }
    }
    let mid = root.join("etc/machine-id");
    if mid.symlink_metadata().is_ok() {
        std::fs::write(&mid, b"").map_err(|e| io("write", &mid, e))?;
    }
    for dir in ["tmp", "var/tmp"] {
        let d = root.join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            r.map_err(|err| io("remove", &p, err))?;
        }
    }
    Ok(())
}

/// Writes `tree` into the empty directory `dir` (through mbi-layer's safe unpacker).
pub fn write_tree_to_dir(tree: &FileTree, dir: &Path, source_date_epoch: i64) -> Result<(), Error> {
    let (reader, writer) = std::io::pipe().map_err(|e| mbi_core::Error::io("pipe", dir, e))?;
    let opts = mbi_layer::UnpackOptions::default().same_owner(is_root()).create_devices(is_root());
    std::thread::scope(|s| {
        let w = s.spawn(move || mbi_layer::write_tar_to(tree, source_date_epoch, writer));
        let r = mbi_layer::unpack_tar(reader, dir, &opts);
        let w = w.join().map_err(|_| Error::ScriptFailed {
            package: "-".into(),
            script: "write tree".into(),
            reason: "tar writer thread panicked".into(),
        })?;
        r?;
        w?;
        Ok(())
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the real maintainer scripts (see the [module documentation](self)) and replaces
/// `inst.tree` with the result.
pub fn run_scripts(
    inst: &mut Installation,
    o: &InstallOptions,
    isolation: Isolation,
) -> Result<(), Error> {
    let fail = |script: &str, reason: String| Error::ScriptFailed {
        package: "-".into(),
        script: script.into(),
        reason,
    };
    if !inst.packages.iter().any(|p| p.name == "dpkg") {
        return Err(fail(
            "dpkg --configure -a",
            "dpkg is not among the packages: scripts can only run with the image's own dpkg (emulate instead)".into(),
        ));
    }
    let use_userns = match isolation {
        Isolation::Chroot => false,
        Isolation::UserNamespace => true,
        Isolation::Auto => !is_root(),
    };
    let work = tempfile::Builder::new()
        .prefix(".mbi-root-")
        .tempdir_in(&o.spool_dir)
        .map_err(|e| mbi_core::Error::io("create root in", &o.spool_dir, e))?;
    let root = work.path().join("root");
    std::fs::create_dir(&root).map_err(|e| mbi_core::Error::io("create", &root, e))?;
    // policy-rc.d keeps daemons from starting inside the root.
    let mut tree = inst.tree.clone();
    let policy = TreePath::new("usr/sbin/policy-rc.d")?;
    let had_policy = tree.contains(&policy);
    if !had_policy {
        tree.insert_follow(Entry::file(policy.clone(), "#!/bin/sh\nexit 101\n", 0o755))?;
    }
    for d in ["dev", "proc", "tmp"] {
        let p = TreePath::new(d)?;
        if !tree.contains(&p) {
            tree.insert(Entry::dir(p, if d == "tmp" { 0o1777 } else { 0o755 }))?;
        }
    }
    write_tree_to_dir(&tree, &root, o.source_date_epoch)?;
    drop(tree);
    // preinst install, in install order, then dpkg --configure -a.
    let mut steps: Vec<(String, String)> = Vec::new();
    for p in &inst.packages {
        if p.control.script("preinst").is_some() {
            let info = crate::apt::dpkg_db::DbPackage {
                control: &p.control,
                paths: Vec::new(),
                conffiles: Vec::new(),
                md5sums: std::borrow::Cow::Borrowed(&[]),
                state: crate::apt::dpkg_db::PackageState::Unpacked,
            }
            .info_name()?;
            let arch = &p.architecture;
            let dpkg_version = inst
                .packages
                .iter()
                .find(|d| d.name == "dpkg")
                .map_or("1.21.0".to_owned(), |d| d.version.clone());
            steps.push((
                p.name.clone(),
                format!(
                    "DPKG_MAINTSCRIPT_PACKAGE={name} DPKG_MAINTSCRIPT_ARCH={arch} \
                     DPKG_MAINTSCRIPT_NAME=preinst DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 \
                     DPKG_RUNNING_VERSION={dpkg_version} DPKG_ADMINDIR=/var/lib/dpkg DPKG_ROOT= \
                     /var/lib/dpkg/info/{info}.preinst install",
                    name = p.name
                ),
            ));
        }
    }
    steps.push(("-".into(), "dpkg --configure -a --force-confdef --force-confold".into()));
    let mut script = String::from("set -e\n");
    for (pkg, cmd) in &steps {
        let _ = writeln!(script, "echo '>>> {pkg}: {cmd}'\n{cmd}");
    }
    let inner = format!(
        "set -e\nmount --rbind /dev \"$1/dev\"\nmount -t proc proc \"$1/proc\"\n\
         chroot \"$1\" /bin/sh -c '{}'",
        script.replace('\'', "'\\''")
    );
    let mut cmd = std::process::Command::new("unshare");
    if use_userns {
        cmd.arg("--map-root-user");
    }
    cmd.args(["--mount", "--pid", "--fork", "--kill-child", "/bin/sh", "-c", &inner, "sh"])
        .arg(&root)
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", "/root")
        .env("SOURCE_DATE_EPOCH", o.source_date_epoch.to_string());
    let out = cmd.output().map_err(|e| fail("unshare", format!("cannot start unshare: {e}")))?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = format!("{log}{err}")
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        let failed =
            log.lines().rev().find_map(|l| l.strip_prefix(">>> ")).unwrap_or("?").to_owned();
        return Err(Error::ScriptFailed {
            package: failed,
            script: "maintainer scripts".into(),
            reason: format!("{}\n{tail}", out.status),
        });
    }
    if !had_policy {
        let p = root.join("usr/sbin/policy-rc.d");
        let _ = std::fs::remove_file(&p);
    }
    normalise_root(&root)?;
    let (mut tree, _) =
        FileTree::from_dir(&root, &FromDirOptions::default().keep_owners(!use_userns))?;
    // Clamp times; keep origins of entries that were there before.
    let mut origins = BTreeMap::new();
    let paths: Vec<TreePath> = tree.paths().cloned().collect();
    for p in paths {
        let before = inst.tree.get(&p).map(|e| (e.uid, e.gid));
        if let Some(e) = tree.get_mut(&p) {
            e.mtime = e.mtime.min(o.source_date_epoch);
            // In a user namespace the files on disk all belong to the caller: owners of what
            // the packages shipped come from the tree; what scripts created belongs to root.
            if use_userns {
                (e.uid, e.gid) = before.unwrap_or((0, 0));
            }
        }
        let origin = inst.origins.get(&p).copied().unwrap_or(Origin::System);
        origins.insert(p, origin);
    }
    inst.tree = std::mem::take(&mut tree);
    inst.origins = origins;
    inst.keep_alive.push(Arc::new(work));
    for p in &inst.packages {
        for s in ["preinst", "postinst", "config"] {
            if p.control.script(s).is_some() {
                let detail = match s {
                    "preinst" => "preinst install (after unpacking)",
                    "postinst" => "dpkg --configure -a",
                    _ => "debconf config via dpkg --configure -a",
                };
                inst.report.push(ScriptNote {
                    package: p.name.clone(),
                    script: s.into(),
                    action: ScriptAction::Ran,
                    detail: detail.into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_update_alternatives() {
        let s = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n        update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \\\n            --slave /usr/bin/nawk nawk /usr/bin/mawk\nfi\nupdate-alternatives --quiet --install /usr/bin/pager pager /bin/more 50 || true\n# update-alternatives --install /x x /y 1\nupdate-alternatives --install /usr/bin/$X x /y 1\nupdate-alternatives --remove rename /usr/bin/prename\n";
        let (found, unresolved) = parse_update_alternatives(s);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].name, "awk");
        assert_eq!(found[0].priority, 5);
        assert_eq!(found[0].slaves.len(), 2);
        assert_eq!(
            found[0].slaves[1],
            ("/usr/bin/nawk".into(), "nawk".into(), "/usr/bin/mawk".into())
        );
        assert_eq!(found[1].link, "/usr/bin/pager");
        assert!(found[1].slaves.is_empty());
        assert_eq!(unresolved.len(), 1);
    }

    #[test]
    fn heredoc() {
        let s = "x\ncat > /etc/ca-certificates.conf <<EOF\n# a\n# b\nEOF\ny\n";
        assert_eq!(
            heredoc_after(s, "cat > /etc/ca-certificates.conf <<EOF").unwrap(),
            "# a\n# b\n"
        );
    }
}
