//! Test support for the resolver: a minimal `Packages` parser (stand-in for the real one, which
//! lives elsewhere) and an isolated apt root to ask real apt the same question.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mbi_core::Digest;
use mbi_distro::apt::relation::{parse_relation_list, parse_relations};
use mbi_distro::apt::{BinaryPackage, DebVersion, IndexOrigin, MultiArch, PackageName, Priority};

/// Parses `Packages`-format text (only the fields the resolver uses). Missing `SHA256`s are
/// derived from name, version and architecture.
pub fn parse_packages(text: &str, origin: &Arc<IndexOrigin>) -> Vec<BinaryPackage> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        if stanza.trim().is_empty() {
            continue;
        }
        out.push(parse_stanza(stanza, origin).unwrap_or_else(|e| panic!("{e}\n{stanza}")));
    }
    out
}

fn fields(stanza: &str) -> Vec<(&str, String)> {
    let mut v: Vec<(&str, String)> = Vec::new();
    for line in stanza.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = v.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, val)) = line.split_once(':') {
            v.push((k.trim(), val.trim().to_owned()));
        }
    }
    v
}

fn parse_stanza(stanza: &str, origin: &Arc<IndexOrigin>) -> Result<BinaryPackage, String> {
    let f = fields(stanza);
    let get = |k: &str| f.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str());
    let name = PackageName::new(get("Package").ok_or("no Package")?).map_err(|e| e.to_string())?;
    let version =
        DebVersion::parse(get("Version").ok_or("no Version")?).map_err(|e| e.to_string())?;
    let architecture: mbi_distro::apt::SharedStr = get("Architecture").unwrap_or("amd64").into();
    let rels =
        |k: &'static str| parse_relations(k, get(k).unwrap_or("")).map_err(|e| e.to_string());
    let list =
        |k: &'static str| parse_relation_list(k, get(k).unwrap_or("")).map_err(|e| e.to_string());
    let (source, source_version) = match get("Source") {
        None => (name.as_str().into(), None),
        Some(s) => match s.split_once(' ') {
            Some((n, v)) => (
                n.into(),
                DebVersion::parse(v.trim_matches(|c| c == '(' || c == ')' || c == ' ')).ok(),
            ),
            None => (s.into(), None),
        },
    };
    let sha256 = match get("SHA256") {
        Some(h) => format!("sha256:{h}").parse().map_err(|e: mbi_core::Error| e.to_string())?,
        None => Digest::sha256(format!("{name} {version} {architecture}").as_bytes()),
    };
    Ok(BinaryPackage {
        multi_arch: match get("Multi-Arch") {
            Some("same") => MultiArch::Same,
            Some("foreign") => MultiArch::Foreign,
            Some("allowed") => MultiArch::Allowed,
            _ => MultiArch::No,
        },
        essential: get("Essential") == Some("yes"),
        priority: match get("Priority") {
            Some("required") => Priority::Required,
            Some("important") => Priority::Important,
            Some("standard") => Priority::Standard,
            Some("extra") => Priority::Extra,
            _ => Priority::Optional,
        },
        section: get("Section").map(Into::into),
        source,
        source_version,
        pre_depends: rels("Pre-Depends")?.into(),
        depends: rels("Depends")?.into(),
        recommends: rels("Recommends")?.into(),
        conflicts: list("Conflicts")?.into(),
        breaks: list("Breaks")?.into(),
        provides: list("Provides")?.into(),
        replaces: list("Replaces")?.into(),
        filename: get("Filename")
            .map(Into::into)
            .unwrap_or_else(|| format!("pool/{name}_{version}_{architecture}.deb").into()),
        size: get("Size").and_then(|s| s.parse().ok()).unwrap_or(1000),
        sha256: mbi_distro::apt::Sha256::from_digest(&sha256).ok_or("not a sha256 digest")?,
        installed_size: get("Installed-Size").and_then(|s| s.parse().ok()),
        origin: origin.clone(),
        name,
        version,
        architecture,
    })
}

/// An origin for fixtures.
pub fn origin(suite: &str) -> Arc<IndexOrigin> {
    Arc::new(IndexOrigin {
        uri: "file:/fixture/".into(),
        suite: suite.into(),
        component: "main".into(),
    })
}

/// Fills in `Filename`/`Size`/`SHA256`/`Architecture`/`Priority` defaults so apt accepts the
/// stanzas as an index.
pub fn complete_stanzas(text: &str) -> String {
    let mut out = String::new();
    for stanza in text.split("\n\n") {
        let stanza = stanza.trim_matches('\n');
        if stanza.trim().is_empty() {
            continue;
        }
        let f = fields(stanza);
        let has = |k: &str| f.iter().any(|(n, _)| n.eq_ignore_ascii_case(k));
        let get =
            |k: &str| f.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
        let name = get("Package").unwrap_or_default();
        let version = get("Version").unwrap_or_default();
        let arch = get("Architecture").unwrap_or_else(|| "amd64".into());
        out.push_str(stanza);
        out.push('\n');
        if !has("Architecture") {
            out.push_str("Architecture: amd64\n");
        }
        if !has("Priority") {
            out.push_str("Priority: optional\n");
        }
        if !has("Filename") {
            out.push_str(&format!(
                "Filename: pool/{name}_{}_{arch}.deb\n",
                version.replace(':', "%3a")
            ));
        }
        if !has("Size") {
            out.push_str("Size: 1000\n");
        }
        if !has("SHA256") {
            let d = Digest::sha256(format!("{name} {version} {arch}").as_bytes());
            out.push_str(&format!("SHA256: {}\n", d.hex()));
        }
        if !has("Description") {
            out.push_str(&format!("Description: fixture {name}\n"));
        }
        out.push('\n');
    }
    out
}

/// A repository on disk (dists/SUITE/main/binary-amd64/Packages + Release per suite) and an
/// isolated apt root configured for it, with an empty dpkg status.
pub struct AptFixture {
    pub dir: tempfile::TempDir,
    pub suites: Vec<(String, String)>,
}

pub fn apt_available() -> bool {
    ["apt-get", "apt-ftparchive"].iter().all(|t| {
        Command::new(t).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl AptFixture {
    /// `suites`: (suite name, Packages stanzas, completed by [`complete_stanzas`]).
    pub fn new(suites: &[(&str, &str)]) -> AptFixture {
        let base = if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let dir = tempfile::Builder::new().prefix("mbi-resolve-").tempdir_in(base).unwrap();
        let repo = dir.path().join("repo");
        for (suite, text) in suites {
            let bin = repo.join("dists").join(suite).join("main/binary-amd64");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("Packages"), complete_stanzas(text)).unwrap();
            let release = run(Command::new("apt-ftparchive")
                .arg("-o")
                .arg(format!("APT::FTPArchive::Release::Suite={suite}"))
                .arg("-o")
                .arg(format!("APT::FTPArchive::Release::Codename={suite}"))
                .arg("-o")
                .arg("APT::FTPArchive::Release::Architectures=amd64")
                .arg("-o")
                .arg("APT::FTPArchive::Release::Components=main")
                .arg("release")
                .arg(repo.join("dists").join(suite)));
            std::fs::write(repo.join("dists").join(suite).join("Release"), release).unwrap();
        }
        let root = dir.path().join("root");
        for d in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        let names: Vec<&str> = suites.iter().map(|(s, _)| *s).collect();
        std::fs::write(
            root.join("etc/apt/sources.list.d/fixture.sources"),
            format!(
                "Types: deb\nURIs: file:{}\nSuites: {}\nComponents: main\nTrusted: yes\n",
                repo.display(),
                names.join(" ")
            ),
        )
        .unwrap();
        write_apt_conf(&root);
        let fx = AptFixture {
            dir,
            suites: suites.iter().map(|(s, t)| (s.to_string(), t.to_string())).collect(),
        };
        run(fx.apt_get().arg("update"));
        fx
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn apt_get(&self) -> Command {
        apt_get(&self.root())
    }

    /// The packages as the resolver sees them.
    pub fn packages(&self) -> Vec<BinaryPackage> {
        let mut v = Vec::new();
        for (suite, text) in &self.suites {
            v.extend(parse_packages(&complete_stanzas(text), &origin(suite)));
        }
        v
    }

    /// `apt-get install -s --no-install-recommends PKGS`: the packages apt would install, as
    /// sorted `name=version`, or apt's error output.
    pub fn apt_install(&self, pkgs: &[&str]) -> Result<Vec<String>, String> {
        apt_simulate(&self.root(), "install", pkgs)
    }
}

/// Writes `apt.conf` for an isolated root under `root`.
pub fn write_apt_conf(root: &Path) {
    std::fs::write(
        root.join("apt.conf"),
        format!(
            "Dir \"{root}/\";\nDir::State::Status \"{root}/var/lib/dpkg/status\";\n\
             APT::Architecture \"amd64\";\nAPT::Architectures \"amd64\";\n\
             Debug::NoLocking \"1\";\nAcquire::Languages \"none\";\n\
             APT::Install-Recommends \"false\";\nAcquire::GzipIndexes \"false\";\n\
             Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled \"false\";\n",
            root = root.display()
        ),
    )
    .unwrap();
}

pub fn apt_get(root: &Path) -> Command {
    let mut c = Command::new("apt-get");
    c.env("APT_CONFIG", root.join("apt.conf")).env("LC_ALL", "C.UTF-8").arg("-q");
    c
}

/// Runs `apt-get -s COMMAND --no-install-recommends PKGS` in the isolated root and returns the
/// `Inst` lines as sorted `name=version` (`name:arch=version` for foreign architectures).
pub fn apt_simulate(root: &Path, command: &str, pkgs: &[&str]) -> Result<Vec<String>, String> {
    let out = apt_get(root)
        .args(["-s", "--no-install-recommends", command])
        .args(pkgs)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(" (")?;
            let version = rest.split_whitespace().next()?;
            let name = name.strip_suffix(":amd64").unwrap_or(name);
            Some(format!("{name}={version}"))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// `name=version`, sorted, for a resolution.
pub fn set_of(r: &mbi_distro::apt::Resolution) -> Vec<String> {
    let mut v: Vec<String> = r
        .packages
        .iter()
        .map(|p| {
            let a = &*p.package.architecture;
            if a == "all" || a == &*r.architecture {
                format!("{}={}", p.package.name, p.package.version)
            } else {
                format!("{}:{a}={}", p.package.name, p.package.version)
            }
        })
        .collect();
    v.sort();
    v
}

/// A deterministic shuffle (xorshift), for order-independence tests.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// One `deb` source of the host: (URI, suite, components).
#[derive(Debug, Clone)]
pub struct HostSource {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

/// The host's apt sources (`/etc/apt/sources.list.d/*.sources` in deb822 syntax,
/// `/etc/apt/sources.list` and `*.list` in one-line syntax), `deb` entries only.
pub fn host_sources() -> Vec<HostSource> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        if f.extension().is_some_and(|e| e == "sources") {
            for stanza in text.split("\n\n") {
                let clean =
                    stanza.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
                let fs = fields(&clean);
                let get = |k: &str| {
                    fs.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone())
                };
                if get("Enabled").is_some_and(|e| e == "no")
                    || !get("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
                {
                    continue;
                }
                let comps: Vec<String> = get("Components")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(Into::into)
                    .collect();
                for uri in get("URIs").unwrap_or_default().split_whitespace() {
                    for suite in get("Suites").unwrap_or_default().split_whitespace() {
                        out.push(HostSource {
                            uri: uri.into(),
                            suite: suite.into(),
                            components: comps.clone(),
                        });
                    }
                }
            }
        } else if f.extension().is_some_and(|e| e == "list") || f.ends_with("sources.list") {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                let Some(rest) = line.strip_prefix("deb ") else { continue };
                let rest = match rest.trim_start().strip_prefix('[') {
                    Some(r) => r.split_once(']').map_or("", |(_, r)| r),
                    None => rest,
                };
                let mut words = rest.split_whitespace();
                let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
                out.push(HostSource {
                    uri: uri.into(),
                    suite: suite.into(),
                    components: words.map(Into::into).collect(),
                });
            }
        }
    }
    out
}

/// An isolated apt root configured with the host's sources and updated (`apt-get update`;
/// apt verifies the indexes against the host's keyrings). Kept between runs under
/// `MBI_LIVE_APT_ROOT` or the cargo target's tmp dir, so later updates are conditional.
/// `None` (with a message on stderr) when the host has no sources or no mirror answers.
pub fn live_apt_root() -> Option<PathBuf> {
    static ROOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let sources = host_sources();
        if sources.is_empty() {
            eprintln!("SKIP: no deb sources in the host's /etc/apt (live tests need a mirror)");
            return None;
        }
        if !apt_available() {
            eprintln!("SKIP: apt-get not installed");
            return None;
        }
        let root = std::env::var_os("MBI_LIVE_APT_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("mbi-live-apt-root"));
        for d in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(d)).ok()?;
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").ok()?;
        if let Ok(t) = std::fs::read("/etc/apt/sources.list") {
            std::fs::write(root.join("etc/apt/sources.list"), t).ok()?;
        }
        for e in std::fs::read_dir("/etc/apt/sources.list.d").ok()?.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sources" || x == "list") {
                std::fs::copy(&p, root.join("etc/apt/sources.list.d").join(e.file_name())).ok()?;
            }
        }
        write_apt_conf(&root);
        let mut conf = std::fs::read_to_string(root.join("apt.conf")).ok()?;
        for t in ["DEP-11", "DEP-11-icons", "DEP-11-icons-small", "DEP-11-icons-hidpi"] {
            conf.push_str(&format!("Acquire::IndexTargets::deb::{t}::DefaultEnabled \"false\";\n"));
        }
        std::fs::write(root.join("apt.conf"), conf).ok()?;
        let out = apt_get(&root).arg("update").output().ok()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || stderr.contains("W: Failed") || stderr.contains("E: ") {
            eprintln!("SKIP: apt-get update against the host's mirror failed:\n{stderr}");
            return None;
        }
        Some(root)
    })
    .clone()
}

/// The `Packages` lists an updated apt root holds, as (origin, path).
pub fn list_files(root: &Path) -> Vec<(Arc<IndexOrigin>, PathBuf)> {
    let dir = root.join("var/lib/apt/lists");
    let mut v: Vec<(Arc<IndexOrigin>, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix("_Packages") else { continue };
        let Some((site, rest)) = stem.split_once("_dists_") else { continue };
        let parts: Vec<&str> = rest.split('_').collect();
        let [suite, component, _binary] = parts[..] else { continue };
        v.push((
            Arc::new(IndexOrigin {
                uri: format!("http://{}/", site.replace('_', "/")),
                suite: suite.into(),
                component: component.into(),
            }),
            e.path(),
        ));
    }
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// Every package of the root's lists.
pub fn load_lists(root: &Path) -> Vec<BinaryPackage> {
    let mut v = Vec::new();
    for (origin, path) in list_files(root) {
        let text = std::fs::read_to_string(&path).unwrap();
        v.extend(parse_packages(&text, &origin));
    }
    v
}

/// The release's codename: the configured suite without a `-updates`/`-security` suffix.
pub fn main_suite(root: &Path) -> Option<String> {
    let mut suites: Vec<String> =
        list_files(root).into_iter().map(|(o, _)| o.suite.clone()).collect();
    suites.sort();
    suites.into_iter().find(|s| !s.contains('-'))
}

/// Virtual packages: one provider among conflicting ones, versioned and unversioned
/// provides (shared by the resolver's own tests and the comparison with apt).
pub const VIRTUALS: &str = "\
Package: mailer
Version: 1
Depends: mail-transport-agent

Package: exim4
Version: 4.96
Priority: standard
Provides: mail-transport-agent
Conflicts: mail-transport-agent

Package: postfix
Version: 3.7
Priority: optional
Provides: mail-transport-agent
Conflicts: mail-transport-agent

Package: needs-v2
Version: 1
Depends: libapi (>= 2)

Package: new-impl
Version: 5
Provides: libapi (= 2.1)

Package: old-impl
Version: 9
Provides: libapi

Package: needs-any-api
Version: 1
Depends: libapi

Package: only-one
Version: 1
Depends: editor

Package: nano
Version: 7.2
Provides: editor
";
