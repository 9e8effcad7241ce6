//! Resolver behaviour on small universes written as `Packages` text.

mod resolve_support;

use std::sync::Arc;

use mbi_distro::Error;
use mbi_distro::apt::resolve::{DependencyKind, Reason, Strategy};
use mbi_distro::apt::{
    BinaryPackage, DebVersion, PackageName, Request, Resolution, Resolver, Variant,
};
use resolve_support::{VIRTUALS, origin, parse_packages, set_of, shuffle};

fn n(s: &str) -> PackageName {
    PackageName::new(s).unwrap()
}

fn v(s: &str) -> DebVersion {
    DebVersion::parse(s).unwrap()
}

fn universe(suites: &[(&str, &str)]) -> Vec<BinaryPackage> {
    let mut v = Vec::new();
    for (suite, text) in suites {
        v.extend(parse_packages(text, &origin(suite)));
    }
    v
}

/// Resolves over the whole universe, and checks that resolving over the packages the request
/// can reach (`resolve_among`, what `mbi lock` does) gives the same answer, to the letter.
fn resolve(pkgs: &[BinaryPackage], req: &Request) -> Result<Resolution, Error> {
    let full = Resolver::new(pkgs.iter().cloned(), "amd64").resolve(req);
    let among = Resolver::resolve_among(pkgs, "amd64", req);
    assert_eq!(format!("{among:?}"), format!("{full:?}"), "resolve_among differs");
    full
}

fn install(pkgs: &[BinaryPackage], names: &[&str]) -> Result<Resolution, Error> {
    resolve(pkgs, &Request::new(Variant::Distroless).with_packages(names).unwrap())
}

fn names_in_order(r: &Resolution) -> Vec<&str> {
    r.packages.iter().map(|p| p.package.name.as_str()).collect()
}

const CHAIN: &str = "\
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

Package: unrelated
Version: 1
";

#[test]
fn chain_order_and_reasons() {
    let u = universe(&[("bookworm", CHAIN)]);
    let r = install(&u, &["app"]).unwrap();
    assert_eq!(r.strategy, Strategy::AptCompatible);
    assert_eq!(set_of(&r), ["app=1.0", "libc6=2.36-9", "libfoo=1.5", "tzdata=2024a-0+deb12u1"]);
    assert_eq!(names_in_order(&r), ["libc6", "libfoo", "tzdata", "app"]);
    assert_eq!(r.why("libc6"), ["libc6", "libfoo", "app", "request app"]);
    match &r.get("libfoo").unwrap().reason {
        Reason::Dependency { of, kind, relation, .. } => {
            assert_eq!(of.as_str(), "app");
            assert_eq!(*kind, DependencyKind::Depends);
            assert_eq!(relation.to_string(), "libfoo (>= 1.2)");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(r.get("app").unwrap().reason, Reason::Requested(_)));
    assert!(r.broken_order.is_empty());
}

#[test]
fn newest_across_suites_wins_and_duplicates_merge() {
    let main = "Package: libssl3\nVersion: 3.0.11-1~deb12u2\n\nPackage: curl\nVersion: 7.88.1-10\nDepends: libssl3\n";
    let security = "Package: libssl3\nVersion: 3.0.15-1~deb12u1\n\nPackage: curl\nVersion: 7.88.1-10\nDepends: libssl3\n";
    let u = universe(&[("bookworm", main), ("bookworm-security", security)]);
    let r = install(&u, &["curl"]).unwrap();
    assert_eq!(set_of(&r), ["curl=7.88.1-10", "libssl3=3.0.15-1~deb12u1"]);
    let ssl = r.get("libssl3").unwrap();
    assert_eq!(ssl.package.origin.suite, "bookworm-security");
    // curl is the same file in both suites: one package, two origins.
    let suites: Vec<&str> = r.get("curl").unwrap().origins.iter().map(|o| &*o.suite).collect();
    assert_eq!(suites, ["bookworm", "bookworm-security"]);
    assert_eq!(Resolver::new(u.iter().cloned(), "amd64").len(), 3);
}

#[test]
fn epochs_and_tildes() {
    let text = "\
Package: a
Version: 2.0
Depends: b (>= 1.0)

Package: a
Version: 1:1.0

Package: b
Version: 1.0~rc1

Package: c
Version: 1.0~rc1
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["a"]).unwrap();
    // The epoch makes 1:1.0 newer than 2.0.
    assert_eq!(set_of(&r), ["a=1:1.0"]);
    // 1.0~rc1 is older than 1.0: `a=2.0` cannot be satisfied.
    let err = install(&u, &["a=2.0"]).unwrap_err().to_string();
    assert!(
        err.contains("a 2.0 depends on b (>= 1.0), but only b 1.0~rc1 (s/main) is available"),
        "{err}"
    );
    assert!(install(&u, &["c (>= 1.0)"]).is_err());
    let r = install(&u, &["c (>= 1.0~)"]).unwrap();
    assert_eq!(set_of(&r), ["c=1.0~rc1"]);
}

const ALTERNATIVES: &str = "\
Package: app
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

#[test]
fn alternatives_prefer_first_installable() {
    let u = universe(&[("s", ALTERNATIVES)]);
    let r = install(&u, &["app"]).unwrap();
    assert_eq!(r.strategy, Strategy::AptCompatible);
    assert_eq!(set_of(&r), ["app=1", "fallback=1", "mawk=1.3.4", "okay=1"]);
    // Something else already selected satisfies the group: no second awk.
    let r = install(&u, &["app", "gawk"]).unwrap();
    assert!(!r.names().contains(&"mawk".to_owned()), "{:?}", r.names());
}

#[test]
fn virtual_packages() {
    let u = universe(&[("s", VIRTUALS)]);
    // Several providers: the higher priority one (apt's ranking); its self-conflict through
    // its own Provides does not count.
    let r = install(&u, &["mailer"]).unwrap();
    assert_eq!(set_of(&r), ["exim4=4.96", "mailer=1"]);
    // Versioned provide satisfies a versioned dependency; an unversioned one never does.
    let r = install(&u, &["needs-v2"]).unwrap();
    assert_eq!(set_of(&r), ["needs-v2=1", "new-impl=5"]);
    let r = install(&u, &["only-one"]).unwrap();
    assert_eq!(set_of(&r), ["nano=7.2", "only-one=1"]);
    // The two MTAs conflict through the virtual name.
    let err = install(&u, &["exim4", "postfix"]).unwrap_err().to_string();
    assert!(err.contains("conflicts with mail-transport-agent"), "{err}");
    // A requested virtual package: its single provider, or a refusal like apt's.
    let r = install(&u, &["editor"]).unwrap();
    assert_eq!(set_of(&r), ["nano=7.2"]);
    match install(&u, &["mail-transport-agent"]).unwrap_err() {
        Error::AmbiguousVirtualPackage { name, providers } => {
            assert_eq!(name, "mail-transport-agent");
            assert_eq!(providers, ["exim4", "postfix"]);
        }
        e => panic!("{e}"),
    }
}

/// Found by the `apt_resolve` fuzz target: a requested virtual name whose only provider
/// dropped the `Provides` in its newest version installs the version that provides it.
#[test]
fn requested_virtual_package_takes_a_version_that_provides_it() {
    let text = "\
Package: impl
Version: 2
Provides: other

Package: impl
Version: 1
Provides: api
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["api"]).unwrap();
    assert_eq!(set_of(&r), ["impl=1"]);
    // Asked for by its own name, the newest version as usual.
    let r = install(&u, &["impl"]).unwrap();
    assert_eq!(set_of(&r), ["impl=2"]);
    // Both at once cannot be had: an error, not a package that lacks the name.
    assert!(install(&u, &["api", "impl=2"]).is_err());
}

#[test]
fn versioned_dependency_on_unversioned_provide_is_explained() {
    let text = "Package: needs\nVersion: 1\nDepends: api (>= 1)\n\nPackage: impl\nVersion: 1\nProvides: api\n";
    let u = universe(&[("s", text)]);
    let err = install(&u, &["needs"]).unwrap_err().to_string();
    assert!(err.contains("needs 1 depends on api (>= 1), but impl 1 provides api"), "{err}");
}

#[test]
fn conflicts_and_breaks_force_the_other_alternative() {
    let text = "\
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
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["web"]).unwrap();
    assert_eq!(set_of(&r), ["ssl-a=1", "web=1"]);
    let r = install(&u, &["web", "legacy"]).unwrap();
    assert_eq!(set_of(&r), ["legacy=1.5", "ssl-b=1", "web=1"]);
    // The conflict is declared by the other side.
    let r = install(&u, &["tool", "guard"]).unwrap();
    assert_eq!(set_of(&r), ["db-b=1", "guard=1", "tool=1"]);
}

#[test]
fn complete_search_finds_older_version() {
    // apt would fail: the candidate app 2 needs a library that does not exist; app 1 works.
    let text = "\
Package: app
Version: 2
Depends: libnew

Package: app
Version: 1
Depends: libold

Package: libold
Version: 1

Package: top
Version: 1
Depends: app
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["top"]).unwrap();
    assert_eq!(r.strategy, Strategy::Complete);
    assert_eq!(set_of(&r), ["app=1", "libold=1", "top=1"]);
}

#[test]
fn complete_search_on_alternative_conflict_chain() {
    // x needs (a | b); a needs c; c conflicts with d; d is requested. apt's greedy picks a,
    // then c fails; a is rolled back and b chosen.
    let text = "\
Package: x
Version: 1
Depends: a | b

Package: a
Version: 1
Depends: c

Package: b
Version: 1

Package: c
Version: 1
Conflicts: d

Package: d
Version: 1
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["x", "d"]).unwrap();
    assert_eq!(set_of(&r), ["b=1", "d=1", "x=1"]);
}

#[test]
fn pre_depends_order_and_cycles() {
    let text = "\
Package: app
Version: 1
Pre-Depends: init-helper
Depends: cyc-a

Package: init-helper
Version: 1
Depends: libc6

Package: libc6
Version: 2.36

Package: cyc-a
Version: 1
Depends: cyc-b

Package: cyc-b
Version: 1
Pre-Depends: cyc-c

Package: cyc-c
Version: 1
Depends: cyc-a

Package: base
Version: 1
Essential: yes
";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["app", "base"]).unwrap();
    let order = names_in_order(&r);
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert_eq!(order[0], "base", "essential first: {order:?}");
    assert!(pos("init-helper") < pos("app"));
    assert!(pos("libc6") < pos("init-helper"));
    assert!(pos("cyc-c") < pos("cyc-b"), "pre-depends inside a cycle: {order:?}");
    // The cycle a → b ⇒ c → a is broken at a plain Depends edge, reported.
    assert_eq!(r.broken_order.len(), 1, "{:?}", r.broken_order);
    assert_eq!(r.broken_order[0].kind, DependencyKind::Depends);
}

#[test]
fn pins_holds_excludes() {
    let text = "\
Package: app
Version: 1
Depends: lib

Package: lib
Version: 3

Package: lib
Version: 2

Package: lib
Version: 1

Package: opt
Version: 1
Depends: x | y

Package: x
Version: 1

Package: y
Version: 1
";
    let u = universe(&[("s", text)]);
    let base = Request::new(Variant::Distroless).with_packages(["app"]).unwrap();
    let r = resolve(&u, &base.clone().pin(n("lib"), v("2"))).unwrap();
    assert_eq!(set_of(&r), ["app=1", "lib=2"]);
    let r = resolve(&u, &base.clone().hold(n("lib"), v("1"))).unwrap();
    assert_eq!(set_of(&r), ["app=1", "lib=1"]);
    let r = install(&u, &["app", "lib=2"]).unwrap();
    assert_eq!(set_of(&r), ["app=1", "lib=2"]);
    // A pin to a version that does not exist is explained.
    let err = resolve(&u, &base.clone().pin(n("lib"), v("9"))).unwrap_err().to_string();
    assert!(err.contains("app 1 depends on lib, but lib 3 is not the pinned version 9"), "{err}");
    let opt = Request::new(Variant::Distroless).with_packages(["opt"]).unwrap();
    let r = resolve(&u, &opt.clone().exclude(n("x"))).unwrap();
    assert_eq!(set_of(&r), ["opt=1", "y=1"]);
    let err = resolve(&u, &base.exclude(n("lib"))).unwrap_err().to_string();
    assert!(err.contains("excluded by the request"), "{err}");
}

#[test]
fn explanations_and_suggestions() {
    let u = universe(&[("bookworm", CHAIN)]);
    match install(&u, &["libfo"]).unwrap_err() {
        Error::UnknownPackage { name, suggestions } => {
            assert_eq!(name, "libfo");
            assert_eq!(suggestions, ["libfoo"]);
        }
        e => panic!("{e}"),
    }
    let err = install(&u, &["libfoo (>= 2)"]).unwrap_err().to_string();
    assert!(
        err.contains("libfoo (>= 2) is requested, but available: libfoo 1.5 (bookworm/main), libfoo 1.1 (bookworm/main)"),
        "{err}"
    );
    let text = "\
Package: app
Version: 1.0
Depends: libfoo (>= 2)

Package: libfoo
Version: 1.5

Package: top
Version: 1
Depends: app
";
    let u = universe(&[("bookworm", text)]);
    let err = install(&u, &["top"]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "app 1.0 depends on libfoo (>= 2), but only libfoo 1.5 (bookworm/main) is available (needed by top 1)"
        ),
        "{msg}"
    );
    assert!(matches!(err, Error::Unresolvable { .. }));
}

#[test]
fn deterministic_under_shuffles() {
    let mut u = universe(&[("bookworm", CHAIN), ("x", ALTERNATIVES), ("y", VIRTUALS)]);
    let req = Request::new(Variant::Distroless)
        .with_packages(["app", "mailer", "needs-v2", "only-one"])
        .unwrap();
    let describe = |u: &[BinaryPackage]| {
        let r = resolve(u, &req).unwrap();
        r.packages
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} [{}]",
                    p.package.name, p.package.version, p.package.origin.suite, p.reason
                )
            })
            .collect::<Vec<_>>()
    };
    let first = describe(&u);
    for seed in 1..12 {
        shuffle(&mut u, seed * 7919);
        assert_eq!(describe(&u), first, "seed {seed}");
    }
}

const BASE: &str = "\
Package: base-files
Version: 12.4
Essential: yes
Priority: required
Pre-Depends: awk

Package: mawk
Version: 1.3.4
Priority: required
Provides: awk

Package: gawk
Version: 5.2
Priority: optional
Provides: awk

Package: dpkg
Version: 1.21
Essential: yes
Priority: required
Pre-Depends: libc6, tar

Package: tar
Version: 1.34
Essential: yes
Priority: required

Package: libc6
Version: 2.36
Priority: required

Package: apt
Version: 2.6.1
Priority: required
Depends: libapt-pkg6.0

Package: libapt-pkg6.0
Version: 2.6.1
Priority: required

Package: e2fsprogs
Version: 1.47
Priority: required

Package: iproute2
Version: 6.1
Priority: important

Package: hello
Version: 2.10
Depends: libc6
Recommends: hello-doc

Package: hello-doc
Version: 2.10
Architecture: all
";

#[test]
fn variants() {
    let u = universe(&[("bookworm", BASE)]);
    let names = |v: Variant, pkgs: &[&str]| {
        let r = resolve(&u, &Request::new(v).with_packages(pkgs).unwrap()).unwrap();
        let mut n: Vec<String> = r.packages.iter().map(|p| p.package.name.to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(Variant::Essential, &[]), ["base-files", "dpkg", "libc6", "mawk", "tar"]);
    assert_eq!(
        names(Variant::Apt, &[]),
        ["apt", "base-files", "dpkg", "libapt-pkg6.0", "libc6", "mawk", "tar"]
    );
    assert_eq!(
        names(Variant::Minbase, &[]),
        ["apt", "base-files", "dpkg", "e2fsprogs", "libapt-pkg6.0", "libc6", "mawk", "tar"]
    );
    assert!(names(Variant::Important, &[]).contains(&"iproute2".to_owned()));
    assert_eq!(names(Variant::Distroless, &["hello"]), ["hello", "libc6"]);
    assert_eq!(
        names(Variant::Essential, &["hello"]),
        ["base-files", "dpkg", "hello", "libc6", "mawk", "tar"]
    );
    let r = resolve(
        &u,
        &Request::new(Variant::Distroless).with_packages(["hello"]).unwrap().recommends(true),
    )
    .unwrap();
    assert_eq!(set_of(&r), ["hello-doc=2.10", "hello=2.10", "libc6=2.36"]);
    assert!(matches!(
        r.get("hello-doc").unwrap().reason,
        Reason::Dependency { kind: DependencyKind::Recommends, .. }
    ));
    let r = resolve(&u, &Request::new(Variant::Apt)).unwrap();
    assert_eq!(r.get("tar").unwrap().reason, Reason::Essential);
    assert_eq!(r.get("apt").unwrap().reason, Reason::Variant(Variant::Apt));
    // Essential packages and what they need come first, essential ones first when ready.
    let order = names_in_order(&r);
    assert_eq!(order, ["tar", "libc6", "dpkg", "mawk", "base-files", "libapt-pkg6.0", "apt"]);
    // Excluding an essential package removes it from the base set.
    let r = resolve(&u, &Request::new(Variant::Essential).exclude(n("tar")));
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("dpkg 1.21 depends on tar, but tar 1.34 is excluded by the request"),
        "{err}"
    );
}

#[test]
fn foreign_architectures() {
    let text = "\
Package: app
Version: 1
Depends: helper, libz

Package: helper
Version: 1
Architecture: i386
Multi-Arch: foreign

Package: libz
Version: 1
Architecture: i386
Multi-Arch: same

Package: libz
Version: 1
Architecture: amd64
Multi-Arch: same

Package: py
Version: 1
Depends: python3:any

Package: python3
Version: 3.11
Architecture: i386
Multi-Arch: allowed
";
    let u = universe(&[("s", text)]);
    // Single-arch: i386 packages are ignored, helper is missing.
    let single = Resolver::new(u.iter().cloned(), "amd64");
    assert_eq!(single.dropped_foreign(), 3);
    let err = single.resolve(&Request::new(Variant::Distroless).with_packages(["app"]).unwrap());
    assert!(err.unwrap_err().to_string().contains("helper is not available"));
    // With i386 added, Multi-Arch: foreign satisfies the amd64 dependency; libz stays amd64.
    let multi = Resolver::builder("amd64").foreign_architecture("i386").build(u.iter().cloned());
    let r =
        multi.resolve(&Request::new(Variant::Distroless).with_packages(["app"]).unwrap()).unwrap();
    assert_eq!(set_of(&r), ["app=1", "helper:i386=1", "libz=1"]);
    let r =
        multi.resolve(&Request::new(Variant::Distroless).with_packages(["py"]).unwrap()).unwrap();
    assert_eq!(set_of(&r), ["py=1", "python3:i386=3.11"]);
    let r = multi
        .resolve(&Request::new(Variant::Distroless).with_packages(["libz:i386"]).unwrap())
        .unwrap();
    assert_eq!(set_of(&r), ["libz:i386=1"]);
}

#[test]
fn requests_parse() {
    use mbi_distro::apt::resolve::PackageRequest;
    for (input, shown) in [
        ("curl", "curl"),
        ("curl=7.88.1-10", "curl=7.88.1-10"),
        ("curl (>= 7)", "curl (>= 7)"),
        ("libc6:i386", "libc6:i386"),
        (" curl ", "curl"),
    ] {
        assert_eq!(input.parse::<PackageRequest>().unwrap().to_string(), shown);
    }
    for bad in ["", "Curl_", "curl=", "curl (>= )", "curl [amd64]", "a | b", "curl:"] {
        assert!(bad.parse::<PackageRequest>().is_err(), "{bad:?}");
    }
}

#[test]
fn arc_input_and_empty() {
    let u: Vec<Arc<BinaryPackage>> = universe(&[("s", CHAIN)]).into_iter().map(Arc::new).collect();
    let r = Resolver::new(u, "amd64");
    assert!(!r.is_empty());
    assert_eq!(r.versions("libfoo").len(), 2);
    let empty = Resolver::new(Vec::<BinaryPackage>::new(), "amd64");
    assert!(empty.is_empty());
    let r = empty.resolve(&Request::new(Variant::Distroless)).unwrap();
    assert!(r.packages.is_empty());
}

#[test]
fn repeated_requests_intersect_and_types_are_shareable() {
    let text = "Package: lib\nVersion: 3\n\nPackage: lib\nVersion: 2\n\nPackage: lib\nVersion: 1\n";
    let u = universe(&[("s", text)]);
    let r = install(&u, &["lib (>= 2)", "lib (<< 3)"]).unwrap();
    assert_eq!(set_of(&r), ["lib=2"]);
    let err = install(&u, &["lib (>= 3)", "lib (<< 2)"]).unwrap_err().to_string();
    assert!(err.contains("lib (<< 2), lib (>= 3) is requested, but"), "{err}");
    match install(&u, &["lib:arm64"]).unwrap_err() {
        Error::UnknownPackage { name, .. } => assert_eq!(name, "lib:arm64"),
        e => panic!("{e}"),
    }
    fn shareable<T: Send + Sync>() {}
    shareable::<Resolver>();
    shareable::<Resolution>();
    shareable::<Error>();
}
