//! The apt resolver on arbitrary small universes and requests.
//!
//! Input: text. The first byte picks the variant and options; the first line is the request
//! (whitespace-separated package requests); every further line is one package:
//! `name version[!] ; depends ; conflicts ; provides ; breaks` (`!` = `Essential: yes`).
//! Lines that do not parse are skipped. The resolver must not panic, and whatever it returns
//! must be consistent: one version per name, every `Pre-Depends`/`Depends` satisfied by a
//! resolved package (by name and version, or by a matching `Provides`), no `Conflicts`/`Breaks`
//! between two different resolved packages, every requested name present.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mbi_core::Digest;
use mbi_distro::apt::relation::{parse_relation_list, parse_relations};
use mbi_distro::apt::resolve::PackageRequest;
use mbi_distro::apt::{
    BinaryPackage, Sha256, DebVersion, IndexOrigin, PackageName, Relation, Request, Resolver, Variant,
    VersionOp,
};

fn package(line: &str, origin: &Arc<IndexOrigin>) -> Option<BinaryPackage> {
    let mut parts = line.split(';');
    let head = parts.next()?.trim();
    let (name, version) = head.split_once(' ')?;
    let (version, essential) = match version.trim().strip_suffix('!') {
        Some(v) => (v, true),
        None => (version.trim(), false),
    };
    let depends = parse_relations("Depends", parts.next().unwrap_or("")).ok()?;
    let conflicts = parse_relation_list("Conflicts", parts.next().unwrap_or("")).ok()?;
    let provides = parse_relation_list("Provides", parts.next().unwrap_or("")).ok()?;
    let breaks = parse_relation_list("Breaks", parts.next().unwrap_or("")).ok()?;
    Some(BinaryPackage {
        name: PackageName::new(name).ok()?,
        version: DebVersion::parse(version).ok()?,
        architecture: "amd64".into(),
        multi_arch: Default::default(),
        essential,
        priority: Default::default(),
        section: None,
        source: name.into(),
        source_version: None,
        pre_depends: Default::default(),
        depends: depends.into(),
        recommends: Default::default(),
        conflicts: conflicts.into(),
        breaks: breaks.into(),
        provides: provides.into(),
        replaces: Default::default(),
        filename: "pool/x.deb".into(),
        size: 1,
        sha256: Sha256::from_digest(&Digest::sha256(line.as_bytes()))?,
        installed_size: None,
        origin: origin.clone(),
    })
}

fn satisfies(rel: &Relation, p: &BinaryPackage) -> bool {
    if rel.arch_qualifier.is_some() {
        // Architecture qualifiers are not modelled by this oracle.
        return true;
    }
    if p.name == rel.name && rel.version_matches(&p.version) {
        return true;
    }
    p.provides.iter().any(|pr| {
        pr.name == rel.name
            && match (&rel.version, &pr.version) {
                (None, _) => true,
                (Some(_), Some((VersionOp::Eq, v))) => rel.version_matches(v),
                _ => false,
            }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((&flags, _)) = data.split_first() else { return };
    let mut lines = text.get(1..).unwrap_or("").lines();
    let request_line = lines.next().unwrap_or("");
    let origin = Arc::new(IndexOrigin {
        uri: "file:/fuzz/".into(),
        suite: "s".into(),
        component: "main".into(),
    });
    let universe: Vec<BinaryPackage> =
        lines.take(48).filter_map(|l| package(l, &origin)).collect();
    let variant = match flags % 4 {
        0 => Variant::Distroless,
        1 => Variant::Essential,
        2 => Variant::Apt,
        _ => Variant::Minbase,
    };
    let mut request = Request::new(variant).recommends(flags & 4 != 0);
    for r in request_line.split_whitespace().take(6) {
        if let Ok(r) = r.parse::<PackageRequest>() {
            request.packages.push(r);
        }
    }
    let resolver = Resolver::new(universe, "amd64");
    let Ok(res) = resolver.resolve(&request) else { return };
    let pkgs: Vec<&BinaryPackage> = res.packages.iter().map(|p| &*p.package).collect();
    for (i, p) in pkgs.iter().enumerate() {
        assert!(!pkgs[..i].iter().any(|q| q.name == p.name), "two versions of {}", p.name);
        for g in p.pre_depends.iter().chain(&p.depends) {
            assert!(
                g.0.iter().any(|rel| pkgs.iter().any(|q| satisfies(rel, q))),
                "{} {}: unsatisfied {g}",
                p.name,
                p.version
            );
        }
        for rel in p.conflicts.iter().chain(&p.breaks) {
            for q in &pkgs {
                if q.name != p.name && rel.arch_qualifier.is_none() {
                    assert!(!satisfies(rel, q), "{} conflicts with {}", p.name, q.name);
                }
            }
        }
    }
    for r in &request.packages {
        if r.arch.is_none() {
            assert!(
                pkgs.iter().any(|q| satisfies(&r.relation(), q)),
                "request {r} not satisfied"
            );
        }
    }
});
