//! Live: the real Debian indexes from the host's mirror (fetched and verified by `apt-get
//! update` in an isolated root), resolved by mbi and by apt the way mmdebstrap asks apt.
//! Skips with a message when the host has no apt sources or no mirror answers.
//!
//! `MBI_LIVE_MMDEBSTRAP=1` also builds the `apt` variant with a real mmdebstrap (tens of
//! seconds, downloads ~40 MB) and compares its dpkg status with mbi's set.

mod resolve_support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use mbi_distro::apt::resolve::Strategy;
use mbi_distro::apt::{BinaryPackage, Request, Resolution, Resolver, Variant};
use resolve_support::{
    apt_get, apt_simulate, live_apt_root, load_lists, main_suite, set_of, shuffle,
};

struct Live {
    root: std::path::PathBuf,
    suite: String,
    packages: Vec<Arc<BinaryPackage>>,
    resolver: Resolver,
}

fn live() -> Option<&'static Live> {
    static LIVE: OnceLock<Option<Live>> = OnceLock::new();
    LIVE.get_or_init(|| {
        let root = live_apt_root()?;
        let Some(suite) = main_suite(&root) else {
            eprintln!("SKIP: no release suite among the host's sources");
            return None;
        };
        let t = Instant::now();
        let packages: Vec<Arc<BinaryPackage>> =
            load_lists(&root).into_iter().map(Arc::new).collect();
        let parsed = t.elapsed();
        let t = Instant::now();
        let resolver = Resolver::new(packages.iter().cloned(), "amd64");
        eprintln!(
            "live: {} stanzas parsed in {parsed:?} (test helper), resolver built in {:?}",
            packages.len(),
            t.elapsed()
        );
        Some(Live { root, suite, packages, resolver })
    })
    .as_ref()
}

fn resolve(l: &Live, req: &Request) -> Resolution {
    let t = Instant::now();
    let r = l.resolver.resolve(req).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("live: {} resolved in {:?}: {} packages", req.variant, t.elapsed(), r.packages.len());
    r
}

/// apt options mmdebstrap sets for every variant but `apt` (apt must not count as essential),
/// with the binary caches off so the option takes effect.
const NO_FORCE_ESSENTIAL: [&str; 6] = [
    "-o",
    "pkgCacheGen::ForceEssential=,",
    "-o",
    "Dir::Cache::pkgcache=",
    "-o",
    "Dir::Cache::srcpkgcache=",
];

fn narrow(suite: &str, what: &str) -> String {
    format!("?narrow(?or(?archive(^{suite}$),?codename(^{suite}$)),?architecture(amd64),{what})")
}

fn apt_sim(root: &Path, extra: &[&str], command: &str, args: &[&str]) -> Vec<String> {
    let out = apt_get(root)
        .args(extra)
        .args(["-s", "--no-install-recommends", command])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(" (")?;
            Some(format!("{}={}", name.trim_end_matches(":amd64"), rest.split_whitespace().next()?))
        })
        .collect();
    v.sort();
    v
}

fn diff(ours: &[String], theirs: &[String]) -> String {
    let only_ours: Vec<&String> = ours.iter().filter(|p| !theirs.contains(p)).collect();
    let only_theirs: Vec<&String> = theirs.iter().filter(|p| !ours.contains(p)).collect();
    format!("only mbi: {only_ours:?}\nonly apt: {only_theirs:?}")
}

#[test]
fn apt_variant_matches_apt_dist_upgrade() {
    let Some(l) = live() else { return };
    let r = resolve(l, &Request::new(Variant::Apt));
    // mmdebstrap's apt variant: `apt-get dist-upgrade` on an empty status file.
    let apt = apt_sim(&l.root, &[], "dist-upgrade", &[]);
    let ours = set_of(&r);
    assert_eq!(ours, apt, "{}", diff(&ours, &apt));
    assert_eq!(r.strategy, Strategy::AptCompatible);
    assert!(r.get("apt").is_some() && r.get("dpkg").is_some() && r.get("base-files").is_some());
    // Install order: every Pre-Depends satisfied before its package.
    let pos = |n: &str| r.packages.iter().position(|p| p.package.name.as_str() == n);
    for (i, p) in r.packages.iter().enumerate() {
        for g in &p.package.pre_depends {
            let before = g.0.iter().any(|rel| pos(rel.name.as_str()).is_some_and(|j| j < i))
                || g.0.iter().any(|rel| {
                    r.packages[..i]
                        .iter()
                        .any(|q| q.package.provides.iter().any(|pr| pr.name == rel.name))
                });
            assert!(before, "{} pre-depends on {g} but it comes later", p.package.name);
        }
    }
    assert!(
        r.broken_order
            .iter()
            .all(|b| b.kind != mbi_distro::apt::resolve::DependencyKind::PreDepends)
    );
}

#[test]
fn essential_variant_matches_mmdebstrap_apt_call() {
    let Some(l) = live() else { return };
    let r = resolve(l, &Request::new(Variant::Essential));
    let apt = apt_sim(&l.root, &NO_FORCE_ESSENTIAL, "install", &[&narrow(&l.suite, "?essential")]);
    let ours = set_of(&r);
    assert_eq!(ours, apt, "{}", diff(&ours, &apt));
    assert!(r.get("apt").is_none());
}

#[test]
fn minbase_variant_matches_mmdebstrap_two_stages() {
    let Some(l) = live() else { return };
    let r = resolve(l, &Request::new(Variant::Minbase));
    // Stage 1: the essential set, as above.
    let stage1 =
        apt_sim(&l.root, &NO_FORCE_ESSENTIAL, "install", &[&narrow(&l.suite, "?essential")]);
    // Stage 2 runs with stage 1 installed: a dpkg status holding those stanzas.
    let status = tempfile::NamedTempFile::new_in(&l.root).unwrap();
    std::fs::write(status.path(), status_for(l, &stage1)).unwrap();
    let opt = format!("Dir::State::Status={}", status.path().display());
    let mut extra: Vec<&str> = NO_FORCE_ESSENTIAL.to_vec();
    extra.extend(["-o", &opt]);
    let stage2 = apt_sim(
        &l.root,
        &extra,
        "install",
        &[&narrow(&l.suite, "?and(?priority(required),?not(?essential))")],
    );
    let mut apt: Vec<String> = stage1.into_iter().chain(stage2).collect();
    apt.sort();
    apt.dedup();
    let ours = set_of(&r);
    assert_eq!(ours, apt, "{}", diff(&ours, &apt));
}

/// dpkg status stanzas ("install ok installed") for `name=version` entries.
fn status_for(l: &Live, set: &[String]) -> String {
    let mut out = String::new();
    for (_, path) in resolve_support::list_files(&l.root) {
        let text = std::fs::read_to_string(path).unwrap();
        for stanza in text.split("\n\n") {
            let field = |k: &str| {
                stanza.lines().find_map(|line| line.strip_prefix(k).map(|v| v.trim().to_owned()))
            };
            let (Some(n), Some(v)) = (field("Package:"), field("Version:")) else { continue };
            if set.contains(&format!("{n}={v}")) && !out.contains(&format!("Package: {n}\nStatus:"))
            {
                let mut lines = stanza.lines();
                if let Some(first) = lines.next() {
                    out.push_str(first);
                    out.push_str("\nStatus: install ok installed\n");
                    for line in lines {
                        out.push_str(line);
                        out.push('\n');
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn distroless_requests_match_apt_install() {
    let Some(l) = live() else { return };
    for pkgs in [
        &["ca-certificates", "tzdata"][..],
        &["curl"],
        &["python3"],
        &["openssh-server"],
        &["nginx"],
        &["git", "make"],
    ] {
        let r = resolve(l, &Request::new(Variant::Distroless).with_packages(pkgs).unwrap());
        let apt = apt_simulate(&l.root, "install", pkgs).unwrap();
        let ours = set_of(&r);
        assert_eq!(ours, apt, "{pkgs:?}\n{}", diff(&ours, &apt));
        assert_eq!(r.strategy, Strategy::AptCompatible, "{pkgs:?}");
    }
}

#[test]
fn live_result_is_independent_of_input_order() {
    let Some(l) = live() else { return };
    let req = Request::new(Variant::Apt).with_packages(["curl", "ca-certificates"]).unwrap();
    let describe = |r: &Resolution| {
        r.packages
            .iter()
            .map(|p| format!("{} {} {}", p.package.name, p.package.version, p.reason))
            .collect::<Vec<_>>()
    };
    let first = describe(&resolve(l, &req));
    let mut shuffled = l.packages.clone();
    shuffle(&mut shuffled, 0x5eed);
    let again = Resolver::new(shuffled, "amd64").resolve(&req).unwrap();
    assert_eq!(describe(&again), first);
}

#[test]
fn live_explanations() {
    let Some(l) = live() else { return };
    let err = l
        .resolver
        .resolve(&Request::new(Variant::Distroless).with_packages(["libssl"]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean"), "{err}");
    let err = l
        .resolver
        .resolve(&Request::new(Variant::Distroless).with_packages(["bash (>= 99)"]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bash (>= 99) is requested, but"), "{err}");
}

#[test]
fn apt_variant_matches_real_mmdebstrap() {
    if std::env::var_os("MBI_LIVE_MMDEBSTRAP").is_none() {
        eprintln!("SKIP: set MBI_LIVE_MMDEBSTRAP=1 to compare with a real mmdebstrap run");
        return;
    }
    let Some(l) = live() else { return };
    let sources: Vec<String> = resolve_support::host_sources()
        .into_iter()
        .map(|s| format!("deb {} {} {}", s.uri, s.suite, s.components.join(" ")))
        .collect();
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let tar = dir.path().join("apt.tar");
    let out = Command::new("mmdebstrap")
        .args(["--variant=apt", "--quiet", &l.suite])
        .arg(&tar)
        .args(&sources)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status =
        Command::new("tar").arg("-xOf").arg(&tar).arg("./var/lib/dpkg/status").output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    let mut theirs: Vec<String> = status
        .split("\n\n")
        .filter_map(|s| {
            let f =
                |k: &str| s.lines().find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()));
            Some(format!("{}={}", f("Package:")?, f("Version:")?))
        })
        .collect();
    theirs.sort();
    let ours = set_of(&resolve(l, &Request::new(Variant::Apt)));
    assert_eq!(ours, theirs, "{}", diff(&ours, &theirs));
}
