//! The resolver against real apt: the same repository (built with `apt-ftparchive`, read by
//! `apt-get update` in an isolated root with an empty dpkg status), the same requests, and the
//! install sets compared with `apt-get install -s --no-install-recommends`.

mod resolve_support;

use mbi_distro::apt::resolve::Strategy;
use mbi_distro::apt::{Request, Resolution, Resolver, Variant};
use resolve_support::{AptFixture, VIRTUALS, apt_available, set_of};

const STABLE_HEAD: &str = "\
Package: app
Version: 1.0
Depends: libfoo (>= 1.2), tzdata

Package: libfoo
Version: 1.5
Depends: libc6 (>= 2.30)

Package: libfoo
Version: 1.1
Depends: libc6

Package: libc6
Version: 2.36-9
Priority: required

Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all

Package: alt-user
Version: 1
Depends: mawk | gawk, missing-pkg | fallback, broken | okay

Package: mawk
Version: 1.3.4

Package: gawk
Version: 5.2

Package: fallback
Version: 1

Package: broken
Version: 1
Depends: does-not-exist

Package: okay
Version: 1

";

const STABLE_TAIL: &str = "\
Package: web
Version: 1
Depends: ssl-a | ssl-b

Package: ssl-a
Version: 1
Breaks: legacy (<< 2)

Package: ssl-b
Version: 1

Package: legacy
Version: 1.5

Package: tool
Version: 1
Depends: db-a | db-b

Package: db-a
Version: 1

Package: db-b
Version: 1

Package: guard
Version: 1
Conflicts: db-a

Package: pd-app
Version: 1
Pre-Depends: pd-lib
Depends: libc6

Package: pd-lib
Version: 1
Depends: libc6

Package: e-a
Version: 2.0

Package: e-a
Version: 1:1.0

Package: t-user
Version: 1
Depends: t-lib (>= 1.0~)

Package: t-old
Version: 1
Depends: t-lib (>= 1.0)

Package: t-lib
Version: 1.0~rc1

Package: curl
Version: 7.88.1-10+deb12u5
Depends: libssl3 (>= 3.0.0), libc6

Package: libssl3
Version: 3.0.11-1~deb12u2

Package: dfs-x
Version: 1
Depends: dfs-c, dfs-a | dfs-b

Package: dfs-c
Version: 1
Depends: dfs-b

Package: dfs-a
Version: 1

Package: dfs-b
Version: 1

Package: dfs-y
Version: 1
Depends: dfs-a2 | dfs-b2, dfs-c2

Package: dfs-c2
Version: 1
Depends: dfs-b2

Package: dfs-a2
Version: 1

Package: dfs-b2
Version: 1

Package: deep
Version: 1
Depends: mid-a | mid-b

Package: mid-a
Version: 1
Depends: leaf (>= 2) | leaf-alt

Package: mid-b
Version: 1

Package: leaf
Version: 1

Package: leaf-alt
Version: 1
Conflicts: mid-a

Package: top
Version: 1
Depends: app2

Package: app2
Version: 2
Depends: libnew

Package: app2
Version: 1
Depends: libold

Package: libold
Version: 1

Package: cyc-a
Version: 1
Depends: cyc-b

Package: cyc-b
Version: 1
Depends: cyc-a, cyc-c | cyc-d

Package: cyc-c
Version: 1
Depends: cyc-a

Package: cyc-d
Version: 1

Package: rec-app
Version: 1
Depends: libc6
Recommends: rec-doc, rec-missing, rec-broken | rec-alt

Package: rec-doc
Version: 1
Architecture: all
Depends: rec-helper

Package: rec-helper
Version: 1

Package: rec-broken
Version: 1
Depends: nothing-here

Package: rec-alt
Version: 1
";

/// The stable suite: a head of its own, the shared virtual-package stanzas, a tail.
fn stable() -> String {
    format!("{STABLE_HEAD}{VIRTUALS}\n{STABLE_TAIL}")
}

const SECURITY: &str = "\
Package: libssl3
Version: 3.0.15-1~deb12u1

Package: tzdata
Version: 2025b-0+deb12u1
Architecture: all
";

fn fixture() -> Option<AptFixture> {
    if !apt_available() {
        eprintln!("SKIP: apt-get / apt-ftparchive not installed");
        return None;
    }
    Some(AptFixture::new(&[("stable", &stable()), ("stable-security", SECURITY)]))
}

fn mbi(fx: &AptFixture, pkgs: &[&str]) -> Result<Resolution, mbi_distro::Error> {
    let resolver = Resolver::new(fx.packages(), "amd64");
    resolver.resolve(&Request::new(Variant::Distroless).with_packages(pkgs)?)
}

/// Same set as apt, apt-compatible strategy; returns the set.
fn same_as_apt(fx: &AptFixture, pkgs: &[&str]) -> Vec<String> {
    let apt = fx.apt_install(pkgs).unwrap_or_else(|e| panic!("apt failed for {pkgs:?}: {e}"));
    let r = mbi(fx, pkgs).unwrap_or_else(|e| panic!("mbi failed for {pkgs:?}: {e}"));
    assert_eq!(set_of(&r), apt, "install set for {pkgs:?}");
    assert_eq!(r.strategy, Strategy::AptCompatible, "{pkgs:?}");
    apt
}

#[test]
fn matches_apt_install_sets() {
    let Some(fx) = fixture() else { return };
    // Chains; the security suite's newer tzdata wins.
    assert_eq!(
        same_as_apt(&fx, &["app"]),
        ["app=1.0", "libc6=2.36-9", "libfoo=1.5", "tzdata=2025b-0+deb12u1"]
    );
    // Alternatives: first available; missing first → second; uninstallable first → second.
    assert_eq!(
        same_as_apt(&fx, &["alt-user"]),
        ["alt-user=1", "fallback=1", "mawk=1.3.4", "okay=1"]
    );
    // Another request already satisfies the or-group.
    assert!(!same_as_apt(&fx, &["alt-user", "gawk"]).iter().any(|p| p.starts_with("mawk=")));
    // Virtual packages: several providers (priority decides), one provider, requested directly,
    // and a provider that is requested anyway.
    assert_eq!(same_as_apt(&fx, &["mailer"]), ["exim4=4.96", "mailer=1"]);
    assert_eq!(same_as_apt(&fx, &["mailer", "postfix"]), ["mailer=1", "postfix=3.7"]);
    assert_eq!(same_as_apt(&fx, &["only-one"]), ["nano=7.2", "only-one=1"]);
    assert_eq!(same_as_apt(&fx, &["editor"]), ["nano=7.2"]);
    // Versioned provides: only the versioned provide satisfies `libapi (>= 2)`.
    assert_eq!(same_as_apt(&fx, &["needs-v2"]), ["needs-v2=1", "new-impl=5"]);
    // Equally ranked providers: apt falls back to its cache's package ids (here the provider
    // declared last); mbi takes the first name (documented difference, order-independent).
    let apt = fx.apt_install(&["needs-any-api"]).unwrap();
    assert_eq!(apt, ["needs-any-api=1", "old-impl=9"]);
    assert_eq!(set_of(&mbi(&fx, &["needs-any-api"]).unwrap()), ["needs-any-api=1", "new-impl=5"]);
    // Breaks force the other alternative.
    assert_eq!(same_as_apt(&fx, &["web", "legacy"]), ["legacy=1.5", "ssl-b=1", "web=1"]);
    assert_eq!(same_as_apt(&fx, &["web"]), ["ssl-a=1", "web=1"]);
    // Pre-Depends.
    assert_eq!(same_as_apt(&fx, &["pd-app"]), ["libc6=2.36-9", "pd-app=1", "pd-lib=1"]);
    // Epochs and tildes.
    assert_eq!(same_as_apt(&fx, &["e-a"]), ["e-a=1:1.0"]);
    assert_eq!(same_as_apt(&fx, &["e-a=2.0"]), ["e-a=2.0"]);
    assert_eq!(same_as_apt(&fx, &["t-user"]), ["t-lib=1.0~rc1", "t-user=1"]);
    // Two suites: the security fix is picked.
    assert_eq!(
        same_as_apt(&fx, &["curl"]),
        ["curl=7.88.1-10+deb12u5", "libc6=2.36-9", "libssl3=3.0.15-1~deb12u1"]
    );
    // apt's depth-first order decides or-groups that a later dependency satisfies anyway.
    assert_eq!(same_as_apt(&fx, &["dfs-x"]), ["dfs-b=1", "dfs-c=1", "dfs-x=1"]);
    assert_eq!(same_as_apt(&fx, &["dfs-y"]), ["dfs-a2=1", "dfs-b2=1", "dfs-c2=1", "dfs-y=1"]);
    // Nested alternatives with a conflict inside.
    same_as_apt(&fx, &["deep"]);
    // Dependency cycles.
    same_as_apt(&fx, &["cyc-a"]);
    // Several requests at once.
    same_as_apt(&fx, &["app", "curl", "mailer", "web", "pd-app", "dfs-x", "dfs-y", "cyc-b"]);
}

#[test]
fn conflict_declared_by_the_other_side() {
    let Some(fx) = fixture() else { return };
    // guard conflicts with db-a; apt's marking installs db-a for tool and its problem
    // resolver then repairs the set. Whatever path, the result must agree.
    let apt = fx.apt_install(&["tool", "guard"]);
    let r = mbi(&fx, &["tool", "guard"]).unwrap();
    assert_eq!(set_of(&r), ["db-b=1", "guard=1", "tool=1"]);
    match apt {
        Ok(set) => assert_eq!(set, set_of(&r)),
        Err(e) => panic!("apt failed where mbi resolved: {e}"),
    }
}

#[test]
fn where_apt_gives_up() {
    let Some(fx) = fixture() else { return };
    // The candidate app2 2 depends on a package that does not exist: apt stops; the complete
    // search takes app2 1 (documented difference).
    assert!(fx.apt_install(&["top"]).is_err());
    let r = mbi(&fx, &["top"]).unwrap();
    assert_eq!(r.strategy, Strategy::Complete);
    assert_eq!(set_of(&r), ["app2=1", "libold=1", "top=1"]);
    // Both fail, for the same reason.
    let apt = fx.apt_install(&["t-old"]).unwrap_err();
    assert!(apt.contains("t-lib (>= 1.0)"), "{apt}");
    let err = mbi(&fx, &["t-old"]).unwrap_err().to_string();
    assert!(
        err.contains(
            "t-old 1 depends on t-lib (>= 1.0), but only t-lib 1.0~rc1 (stable/main) is available"
        ),
        "{err}"
    );
    assert!(fx.apt_install(&["no-such-package"]).is_err());
    assert!(matches!(
        mbi(&fx, &["no-such-package"]),
        Err(mbi_distro::Error::UnknownPackage { .. })
    ));
    // Two MTAs: both refuse.
    assert!(fx.apt_install(&["exim4", "postfix"]).is_err());
    assert!(mbi(&fx, &["exim4", "postfix"]).is_err());
}

#[test]
fn recommends_match_apt_install_recommends() {
    let Some(fx) = fixture() else { return };
    let out = fx
        .apt_get()
        .args(["-s", "-o", "APT::Install-Recommends=true", "install", "rec-app"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut apt: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(" (")?;
            Some(format!("{name}={}", rest.split_whitespace().next()?))
        })
        .collect();
    apt.sort();
    let resolver = Resolver::new(fx.packages(), "amd64");
    let req = Request::new(Variant::Distroless).with_packages(["rec-app"]).unwrap();
    let r = resolver.resolve(&req.clone().recommends(true)).unwrap();
    assert_eq!(set_of(&r), apt);
    assert_eq!(apt, ["libc6=2.36-9", "rec-alt=1", "rec-app=1", "rec-doc=1", "rec-helper=1"]);
    // Off by default, as with --no-install-recommends.
    assert_eq!(set_of(&resolver.resolve(&req).unwrap()), fx.apt_install(&["rec-app"]).unwrap());
}
