//! The dpkg database of an image, written the way dpkg itself writes it.
//!
//! Two layouts:
//!
//! - **full** ([`full_database`]): what `dpkg` leaves in `/var/lib/dpkg` after installing
//!   packages, so `dpkg-query --admindir`, `dpkg --audit`, `dpkg --verify` and later
//!   `apt-get install` inside the image work: `status` (one stanza per package, sorted by name
//!   and architecture, fields in dpkg's order, `Status: install ok installed`, `Conffiles:` with
//!   md5 sums), `info/<pkg>[:<arch>].list` (every path of the package in archive order, `/.` for
//!   the root), `.md5sums` (as shipped, or generated as dpkg does when a package ships none),
//!   `.conffiles`, the maintainer scripts and other control members, `info/format`, `triggers/`
//!   (`File` for file-trigger interests, one file per named trigger, `Unincorp`, `Lock`), empty
//!   `available`, `diversions`, `statoverride`, `arch`, `updates/`, `alternatives/`, `parts/` and
//!   the two lock files.
//! - **distroless** ([`distroless_database`]): Google distroless' layout, which syft and trivy
//!   read: `/var/lib/dpkg/status.d/<pkg>` holding the package's control stanza and
//!   `/var/lib/dpkg/status.d/<pkg>.md5sums`.
//!
//! The database is returned as a list of [`NewEntry`] values for the installer to place in the
//! tree; nothing here touches the filesystem.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Error;
use crate::apt::deb::{Conffile, DebControl};
use crate::apt::install::{NewEntry, NewNode};
use crate::apt::relation::parse_relations;
use crate::apt::version::DebVersion;

/// Where the dpkg database lives in an image.
pub const ADMIN_DIR: &str = "var/lib/dpkg";

/// The `Status` dpkg records for a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PackageState {
    /// `install ok installed`: unpacked and configured.
    #[default]
    Installed,
    /// `install ok unpacked`: files in place, `dpkg --configure` still to run.
    Unpacked,
}

impl PackageState {
    /// The `Status` field value.
    pub fn status(self) -> &'static str {
        match self {
            PackageState::Installed => "install ok installed",
            PackageState::Unpacked => "install ok unpacked",
        }
    }
}

/// One installed package as the database records it.
#[derive(Debug, Clone)]
pub struct DbPackage<'a> {
    /// The package's control information (fields and control members).
    pub control: &'a DebControl,
    /// Every path of the package's data archive in archive order, normalised (`""` for the
    /// root), as shipped (before any merged-/usr redirection: dpkg records shipped paths).
    pub paths: Vec<&'a str>,
    /// The package's conffiles with the md5 (lower-case hex) of the content installed.
    pub conffiles: Vec<(Conffile, String)>,
    /// The `md5sums` to record: the shipped member, or one generated from the contents.
    pub md5sums: Cow<'a, [u8]>,
    /// The state to record.
    pub state: PackageState,
}

impl DbPackage<'_> {
    /// `Package` field.
    pub fn name(&self) -> Result<&str, Error> {
        self.control.package()
    }

    /// The name used for `info/` files: `pkg:arch` for `Multi-Arch: same` packages, else `pkg`.
    pub fn info_name(&self) -> Result<String, Error> {
        let name = self.control.package()?;
        let ma = self.control.fields.get("Multi-Arch").unwrap_or("");
        Ok(if ma.eq_ignore_ascii_case("same") {
            format!("{name}:{}", self.control.architecture()?)
        } else {
            name.to_owned()
        })
    }
}

/// Field order of dpkg's status file (dpkg's `fieldinfos[]`); unknown fields follow in their
/// original order.
const FIELD_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

const RELATION_FIELDS: &[&str] = &[
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
];

/// Fields dpkg computes itself and never copies from a package's control file.
const GENERATED_FIELDS: &[&str] = &[
    "Status",
    "Config-Version",
    "Conffiles",
    "Triggers-Pending",
    "Triggers-Awaited",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
];

/// A version as dpkg writes it (`vdew_nonambig`): the epoch only when non-zero (or needed).
pub fn dpkg_version_string(v: &DebVersion) -> String {
    let mut s = String::new();
    if v.epoch() != 0 || v.upstream().contains(':') {
        let _ = write!(s, "{}:", v.epoch());
    }
    s.push_str(v.upstream());
    if !v.revision().is_empty() {
        s.push('-');
        s.push_str(v.revision());
    }
    s
}

fn normalise_relations(field: &'static str, value: &str) -> String {
    // dpkg rewrites relationship fields in canonical form: `a (>= 1), b | c`.
    match parse_relations(field, value) {
        Ok(groups) => {
            let mut out = String::new();
            for (i, g) in groups.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                for (j, r) in g.0.iter().enumerate() {
                    if j > 0 {
                        out.push_str(" | ");
                    }
                    out.push_str(r.name.as_str());
                    match &r.arch_qualifier {
                        None => {}
                        Some(crate::apt::ArchQualifier::Any) => out.push_str(":any"),
                        Some(crate::apt::ArchQualifier::Native) => out.push_str(":native"),
                        Some(crate::apt::ArchQualifier::Arch(a)) => {
                            out.push(':');
                            out.push_str(a);
                        }
                    }
                    if let Some((op, v)) = &r.version {
                        let _ = write!(out, " ({} {})", op.as_str(), dpkg_version_string(v));
                    }
                }
            }
            out
        }
        Err(_) => value.to_owned(),
    }
}

fn static_field(name: &str) -> Option<&'static str> {
    FIELD_ORDER.iter().copied().find(|f| f.eq_ignore_ascii_case(name))
}

/// The `status` stanza dpkg writes for `pkg` (ends with a newline, no blank line).
pub fn status_stanza(pkg: &DbPackage<'_>) -> Result<String, Error> {
    let fields = &pkg.control.fields;
    let mut known: BTreeMap<usize, (String, String)> = BTreeMap::new();
    let mut unknown: Vec<(&str, &str)> = Vec::new();
    for (name, value) in fields.iter() {
        if GENERATED_FIELDS.iter().any(|g| g.eq_ignore_ascii_case(name)) {
            continue;
        }
        let Some(canon) = static_field(name) else {
            unknown.push((name, value));
            continue;
        };
        let value: String = match canon {
            "Essential" | "Protected" => {
                if value.trim().eq_ignore_ascii_case("yes") {
                    "yes".into()
                } else {
                    continue;
                }
            }
            "Multi-Arch" => {
                let v = value.trim().to_ascii_lowercase();
                if v == "no" || v.is_empty() {
                    continue;
                }
                v
            }
            "Version" => match DebVersion::parse(value.trim()) {
                Ok(v) => dpkg_version_string(&v),
                Err(_) => value.trim().to_owned(),
            },
            f if RELATION_FIELDS.contains(&f) => {
                let f: &'static str =
                    RELATION_FIELDS.iter().copied().find(|r| *r == f).unwrap_or("");
                normalise_relations(f, value)
            }
            _ => value.to_owned(),
        };
        if value.is_empty() {
            continue;
        }
        let pos = FIELD_ORDER.iter().position(|f| *f == canon).unwrap_or(usize::MAX);
        known.insert(pos, (canon.to_owned(), value));
    }
    let status_pos = FIELD_ORDER.iter().position(|f| *f == "Status").unwrap_or(0);
    known.insert(status_pos, ("Status".into(), pkg.state.status().into()));
    if !pkg.conffiles.is_empty() {
        let mut v = String::new();
        for (c, md5) in &pkg.conffiles {
            let _ = write!(v, "\n {} {}", c.path, md5);
            for flag in &c.flags {
                let _ = write!(v, " {flag}");
            }
        }
        let pos = FIELD_ORDER.iter().position(|f| *f == "Conffiles").unwrap_or(0);
        known.insert(pos, ("Conffiles".into(), v));
    }
    let mut out = String::new();
    for (name, value) in known.values() {
        write_field(&mut out, name, value);
    }
    for (name, value) in unknown {
        write_field(&mut out, name, value);
    }
    Ok(out)
}

fn write_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    if !value.starts_with('\n') {
        out.push(' ');
    }
    out.push_str(value);
    out.push('\n');
}

/// The `info/<pkg>.list` contents: `/.` then `/path` for every entry, in archive order.
pub fn list_file(paths: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(paths.len() * 40);
    for p in paths {
        if p.is_empty() {
            out.extend_from_slice(b"/.\n");
        } else {
            out.push(b'/');
            out.extend_from_slice(p.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// A trigger interest declared in a package's `triggers` control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerInterest {
    /// Trigger name, or an absolute path for file triggers.
    pub name: String,
    /// `interest-noawait`.
    pub noawait: bool,
}

/// A trigger activation declared in a package's `triggers` control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerActivation {
    /// Trigger name.
    pub name: String,
    /// `activate-noawait`.
    pub noawait: bool,
}

/// Parses a `triggers` control file into (interests, activations).
pub fn parse_triggers(
    control: &DebControl,
) -> Result<(Vec<TriggerInterest>, Vec<TriggerActivation>), Error> {
    let Some(data) = control.member("triggers") else { return Ok((Vec::new(), Vec::new())) };
    let bad =
        |reason: String| Error::Deb { package: control.id(), member: "triggers".into(), reason };
    let text = std::str::from_utf8(data).map_err(|_| bad("not UTF-8".into()))?;
    let mut interests = Vec::new();
    let mut activations = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(directive), Some(name), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad(format!("line {}: expected `directive name`", i + 1)));
        };
        let name = name.to_owned();
        match directive {
            "interest" | "interest-await" => {
                interests.push(TriggerInterest { name, noawait: false })
            }
            "interest-noawait" => interests.push(TriggerInterest { name, noawait: true }),
            "activate" | "activate-await" => {
                activations.push(TriggerActivation { name, noawait: false })
            }
            "activate-noawait" => activations.push(TriggerActivation { name, noawait: true }),
            other => return Err(bad(format!("line {}: unknown directive {other:?}", i + 1))),
        }
    }
    Ok((interests, activations))
}

fn file(path: String, content: impl Into<Vec<u8>>, mode: u32) -> NewEntry {
    NewEntry { path, node: NewNode::File(content.into()), mode, uid: 0, gid: 0 }
}

fn dir(path: &str) -> NewEntry {
    NewEntry { path: path.to_owned(), node: NewNode::Directory, mode: 0o755, uid: 0, gid: 0 }
}

/// Options of the full database.
#[derive(Debug, Clone, Default)]
pub struct FullDbOptions {
    /// The native architecture (`amd64`, …), written to `arch`.
    pub native_arch: String,
    /// Foreign architectures enabled (`dpkg --add-architecture`), written to `arch` after the
    /// native one.
    pub foreign_archs: Vec<String>,
    /// `diversions` contents (three lines per diversion: path, diverted-to, package or `:`).
    pub diversions: Vec<(String, String, String)>,
    /// `triggers/Unincorp` contents: pending activations `(trigger, awaiting packages)` for
    /// a later `dpkg --configure -a` to process.
    pub unincorporated: Vec<(String, Vec<String>)>,
}

/// The full `/var/lib/dpkg` database for `packages` (in install order).
pub fn full_database(
    packages: &[DbPackage<'_>],
    options: &FullDbOptions,
) -> Result<Vec<NewEntry>, Error> {
    let a = ADMIN_DIR;
    let mut out = vec![
        dir("var"),
        dir("var/lib"),
        dir(a),
        dir(&format!("{a}/info")),
        dir(&format!("{a}/triggers")),
        dir(&format!("{a}/updates")),
        dir(&format!("{a}/alternatives")),
        dir(&format!("{a}/parts")),
        file(format!("{a}/info/format"), "1\n", 0o644),
        file(format!("{a}/available"), "", 0o644),
        file(format!("{a}/statoverride"), "", 0o644),
        file(format!("{a}/lock"), "", 0o640),
        file(format!("{a}/lock-frontend"), "", 0o640),
        file(format!("{a}/triggers/Lock"), "", 0o600),
    ];
    let mut arch = String::new();
    if !options.native_arch.is_empty() {
        arch.push_str(&options.native_arch);
        arch.push('\n');
    }
    for f in &options.foreign_archs {
        arch.push_str(f);
        arch.push('\n');
    }
    out.push(file(format!("{a}/arch"), arch, 0o644));
    let mut diversions = String::new();
    for (from, to, pkg) in &options.diversions {
        let _ = write!(diversions, "{from}\n{to}\n{pkg}\n");
    }
    out.push(file(format!("{a}/diversions"), diversions, 0o644));
    let mut unincorp = String::new();
    for (trigger, awaiters) in &options.unincorporated {
        unincorp.push_str(trigger);
        if awaiters.is_empty() {
            unincorp.push_str(" -");
        }
        for p in awaiters {
            unincorp.push(' ');
            unincorp.push_str(p);
        }
        unincorp.push('\n');
    }
    out.push(file(format!("{a}/triggers/Unincorp"), unincorp, 0o644));

    // status: sorted by name, then architecture.
    let mut order: Vec<(&str, &str, usize)> = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        order.push((p.control.package()?, p.control.architecture()?, i));
    }
    order.sort();
    for w in order.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 == w[1].1 {
            return Err(Error::Deb {
                package: packages[w[1].2].control.id(),
                member: "control".into(),
                reason: "package installed twice".into(),
            });
        }
    }
    // dpkg ends every stanza, the last one included, with a blank line.
    let mut status = String::new();
    for (_, _, i) in &order {
        status.push_str(&status_stanza(&packages[*i])?);
        status.push('\n');
    }
    out.push(file(format!("{a}/status"), status, 0o644));

    // info/ and triggers/
    let mut file_triggers = String::new();
    let mut named: BTreeMap<String, String> = BTreeMap::new();
    for p in packages {
        let info = p.info_name()?;
        out.push(file(format!("{a}/info/{info}.list"), list_file(&p.paths), 0o644));
        if !p.md5sums.is_empty() || p.control.member("md5sums").is_some() {
            out.push(file(format!("{a}/info/{info}.md5sums"), p.md5sums.to_vec(), 0o644));
        }
        for (member, m) in &p.control.members {
            if member.contains('.') || member == "md5sums" || member == "list" {
                continue;
            }
            // dpkg keeps the mode of scripts (executable) and writes data files 0644.
            let mode = if m.mode & 0o111 != 0 { 0o755 } else { 0o644 };
            out.push(file(format!("{a}/info/{info}.{member}"), m.data.clone(), mode));
        }
        let (interests, _) = parse_triggers(p.control)?;
        for t in interests {
            let suffix = if t.noawait { "/noawait" } else { "" };
            if t.name.starts_with('/') {
                let _ = writeln!(file_triggers, "{} {info}{suffix}", t.name);
            } else {
                let _ = writeln!(named.entry(t.name).or_default(), "{info}{suffix}");
            }
        }
    }
    out.push(file(format!("{a}/triggers/File"), file_triggers, 0o644));
    for (name, content) in named {
        if name.contains('/')
            || name.starts_with('.')
            || name == "File"
            || name == "Unincorp"
            || name == "Lock"
        {
            return Err(Error::Deb {
                package: "-".into(),
                member: "triggers".into(),
                reason: format!("invalid trigger name {name:?}"),
            });
        }
        out.push(file(format!("{a}/triggers/{name}"), content, 0o644));
    }
    Ok(out)
}

/// The distroless database: `var/lib/dpkg/status.d/<pkg>` (the control stanza) and
/// `<pkg>.md5sums` per package. A package installed for two architectures gets
/// `<pkg>:<arch>` names.
pub fn distroless_database(packages: &[DbPackage<'_>]) -> Result<Vec<NewEntry>, Error> {
    let mut out =
        vec![dir("var"), dir("var/lib"), dir(ADMIN_DIR), dir(&format!("{ADMIN_DIR}/status.d"))];
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for p in packages {
        *count.entry(p.control.package()?).or_default() += 1;
    }
    for p in packages {
        let name = p.control.package()?;
        let file_name = if count.get(name).copied().unwrap_or(0) > 1 {
            format!("{name}:{}", p.control.architecture()?)
        } else {
            name.to_owned()
        };
        let mut stanza = String::new();
        for (k, v) in p.control.fields.iter() {
            if GENERATED_FIELDS.iter().any(|g| g.eq_ignore_ascii_case(k)) {
                continue;
            }
            write_field(&mut stanza, k, v);
            if k.eq_ignore_ascii_case("Package") {
                // dpkg-style readers (and trivy) look for Status; distroless' files have it
                // implicitly; recording it keeps every reader's view "installed".
                write_field(&mut stanza, "Status", PackageState::Installed.status());
            }
        }
        out.push(file(format!("{ADMIN_DIR}/status.d/{file_name}"), stanza, 0o644));
        if !p.md5sums.is_empty() {
            out.push(file(
                format!("{ADMIN_DIR}/status.d/{file_name}.md5sums"),
                p.md5sums.to_vec(),
                0o644,
            ));
        }
    }
    Ok(out)
}

/// Generates an `md5sums` file as dpkg does for a package that ships none: `hash  path` for
/// every regular file in archive order. `files` yields (path, md5 hex).
pub fn generate_md5sums<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, md5) in files {
        out.extend_from_slice(md5.as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::deb::{ControlFields, ControlMember};

    fn control(text: &str) -> DebControl {
        DebControl {
            fields: ControlFields::parse(text, "t").unwrap(),
            members: BTreeMap::from([(
                "postinst".to_owned(),
                ControlMember { mode: 0o755, data: b"#!/bin/sh\n".to_vec() },
            )]),
        }
    }

    #[test]
    fn stanza_follows_dpkg_field_order_and_normalises() {
        let c = control(
            "Package: foo\nVersion: 0:1.0-1\nArchitecture: amd64\nMaintainer: M <m@x>\n\
             Installed-Size: 12\nDepends: libc6(>=2.34),  bar|baz\nPriority: optional\n\
             Section: libs\nMulti-Arch: same\nEssential: no\nHomepage: https://h\n\
             Description: short\n long\n .\n more\nSource: foo-src\n",
        );
        let p = DbPackage {
            control: &c,
            paths: vec!["", "etc", "etc/foo.conf"],
            conffiles: vec![(
                Conffile { path: "/etc/foo.conf".into(), flags: vec![] },
                "d41d8cd98f00b204e9800998ecf8427e".into(),
            )],
            md5sums: Cow::Borrowed(b""),
            state: PackageState::Installed,
        };
        assert_eq!(
            status_stanza(&p).unwrap(),
            "Package: foo\nStatus: install ok installed\nPriority: optional\nSection: libs\n\
             Installed-Size: 12\nMaintainer: M <m@x>\nArchitecture: amd64\nMulti-Arch: same\n\
             Source: foo-src\nVersion: 1.0-1\nDepends: libc6 (>= 2.34), bar | baz\n\
             Conffiles:\n /etc/foo.conf d41d8cd98f00b204e9800998ecf8427e\n\
             Description: short\n long\n .\n more\nHomepage: https://h\n"
        );
        assert_eq!(p.info_name().unwrap(), "foo:amd64");
        assert_eq!(list_file(&p.paths), b"/.\n/etc\n/etc/foo.conf\n");
    }

    #[test]
    fn triggers_parse() {
        let mut c = control("Package: t\nVersion: 1\nArchitecture: all\n");
        c.members.insert(
            "triggers".into(),
            ControlMember {
                mode: 0o644,
                data: b"# c\ninterest-await ldconfig\ninterest-noawait /usr/share/x\nactivate-noawait ldconfig\n".to_vec(),
            },
        );
        let (i, a) = parse_triggers(&c).unwrap();
        assert_eq!(i.len(), 2);
        assert!(i[1].noawait && i[1].name == "/usr/share/x");
        assert_eq!(a[0].name, "ldconfig");
        c.members.get_mut("triggers").unwrap().data = b"bogus x\n".to_vec();
        assert!(parse_triggers(&c).is_err());
    }
}
