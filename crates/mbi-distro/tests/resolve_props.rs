//! Properties on random small universes: every answer is consistent, the same whatever the
//! input order, and "no solution" is only ever said when brute force over all package subsets
//! finds none either (completeness).

mod resolve_support;

use std::sync::Arc;

use mbi_distro::Error;
use mbi_distro::apt::{BinaryPackage, Relation, Request, Resolver, Variant, VersionOp};
use proptest::prelude::*;
use resolve_support::{origin, parse_packages, set_of};

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const VIRTUALS: [&str; 2] = ["v", "w"];

fn rel() -> impl Strategy<Value = String> {
    (0..8usize, prop::option::of((0..5usize, 1..4u32))).prop_map(|(n, ver)| {
        let name = if n < 6 { NAMES[n] } else { VIRTUALS[n - 6] };
        match ver {
            None => name.to_owned(),
            Some((op, v)) => format!("{name} ({} {v})", [">=", "<=", "=", ">>", "<<"][op]),
        }
    })
}

fn stanza() -> impl Strategy<Value = String> {
    (
        0..6usize,
        1..4u32,
        prop::collection::vec(prop::collection::vec(rel(), 1..3), 0..3),
        prop::option::of(rel()),
        prop::option::of((0..2usize, prop::option::of(1..4u32))),
        prop::option::of(rel()),
    )
        .prop_map(|(n, v, deps, conflict, provide, brk)| {
            let mut s = format!("Package: {}\nVersion: {v}\n", NAMES[n]);
            if !deps.is_empty() {
                let groups: Vec<String> = deps.iter().map(|g| g.join(" | ")).collect();
                s.push_str(&format!("Depends: {}\n", groups.join(", ")));
            }
            if let Some(c) = conflict {
                s.push_str(&format!("Conflicts: {c}\n"));
            }
            if let Some(b) = brk {
                s.push_str(&format!("Breaks: {b}\n"));
            }
            if let Some((p, pv)) = provide {
                match pv {
                    Some(pv) => s.push_str(&format!("Provides: {} (= {pv})\n", VIRTUALS[p])),
                    None => s.push_str(&format!("Provides: {}\n", VIRTUALS[p])),
                }
            }
            s
        })
}

fn satisfies(rel: &Relation, p: &BinaryPackage) -> bool {
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

fn consistent(set: &[&BinaryPackage]) -> bool {
    for (i, p) in set.iter().enumerate() {
        if set[..i].iter().any(|q| q.name == p.name) {
            return false;
        }
        for g in p.pre_depends.iter().chain(&p.depends) {
            if !g.0.iter().any(|r| set.iter().any(|q| satisfies(r, q))) {
                return false;
            }
        }
        for r in p.conflicts.iter().chain(&p.breaks) {
            if set.iter().any(|q| q.name != p.name && satisfies(r, q)) {
                return false;
            }
        }
    }
    true
}

/// Whether some subset of `universe` is consistent and contains each requested package.
fn brute_force_solvable(universe: &[BinaryPackage], requested: &[&str]) -> bool {
    let n = universe.len();
    (0u32..(1 << n)).any(|mask| {
        let set: Vec<&BinaryPackage> =
            (0..n).filter(|i| mask & (1 << i) != 0).map(|i| &universe[i]).collect();
        requested.iter().all(|r| set.iter().any(|p| p.name.as_str() == *r)) && consistent(&set)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn consistent_deterministic_complete(
        stanzas in prop::collection::vec(stanza(), 1..11),
        req in prop::collection::vec(0..6usize, 1..3),
        seed in any::<u64>(),
    ) {
        let text = stanzas.join("\n");
        let mut universe = parse_packages(&text, &origin("s"));
        // Keep one stanza per name+version (the index would not hold duplicates).
        universe.sort_by(|a, b| (a.name.as_str(), &a.version).cmp(&(b.name.as_str(), &b.version)));
        universe.dedup_by(|a, b| a.name == b.name && a.version == b.version);
        let requested: Vec<&str> = req.iter().map(|&i| NAMES[i]).collect();
        let request = Request::new(Variant::Distroless).with_packages(&requested).unwrap();
        let result = Resolver::new(universe.iter().cloned(), "amd64").resolve(&request);
        // The reachable-subset path gives the same answer, to the letter.
        let among = Resolver::resolve_among(&universe, "amd64", &request);
        prop_assert_eq!(format!("{among:?}"), format!("{result:?}"));
        match &result {
            Ok(r) => {
                let set: Vec<&BinaryPackage> = r.packages.iter().map(|p| &*p.package).collect();
                prop_assert!(consistent(&set), "inconsistent: {:?}\n{text}", set_of(r));
                for name in &requested {
                    prop_assert!(set.iter().any(|p| p.name.as_str() == *name));
                }
                let mut shuffled: Vec<Arc<BinaryPackage>> =
                    universe.iter().cloned().map(Arc::new).collect();
                resolve_support::shuffle(&mut shuffled, seed);
                let again = Resolver::new(shuffled, "amd64").resolve(&request).unwrap();
                prop_assert_eq!(set_of(r), set_of(&again));
            }
            Err(Error::Unresolvable { explanation, .. }) => {
                prop_assert!(
                    !brute_force_solvable(&universe, &requested),
                    "a solution exists but the resolver said:\n{explanation}\n{text}\nrequest {requested:?}"
                );
                prop_assert!(!explanation.problems.is_empty());
            }
            Err(Error::UnknownPackage { .. }) => {
                prop_assert!(requested.iter().any(|r| !universe.iter().any(|p| p.name.as_str() == *r)));
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
