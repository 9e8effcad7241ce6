//! The packages a request can reach: what [`super::Resolver::resolve_among`] builds its
//! universe from instead of every package of every index.
//!
//! A package is reachable when its name is, or when it provides a reachable name. Names are
//! reachable from the request (the variant's essential, priority and base sets, the requested
//! names) and through every `Pre-Depends`, `Depends`, `Recommends` and `Provides` of a
//! reachable package, every alternative and every version. All packages of a reachable name are
//! kept (every version, architecture and index), so within the subset each name has exactly
//! the versions, providers and flags it has in the whole universe.
//!
//! apt's marking pass only ever looks at names reached that way; the universe assigns ids
//! after sorting on the packages' own fields, so a subset keeps the relative order of ids;
//! and a negative relation (`Conflicts`, `Breaks`) can only hit a package that is installed,
//! hence reachable. So when that pass succeeds on the subset, it makes the same choices as on
//! the whole universe. The caller still falls back to the whole universe whenever it does not
//! (complete search, errors and their spelling suggestions).

use std::collections::HashMap;

use crate::apt::package::BinaryPackage;
use crate::apt::resolve::Request;

/// Name → (head of its chain in the links, visited).
type Heads<'a> = HashMap<&'a str, (u32, bool), foldhash::fast::FixedState>;

/// Indexes into `packages` of every package `request` can reach, in input order.
pub(crate) fn reachable(packages: &[BinaryPackage], request: &Request) -> Vec<usize> {
    // Name → head of a chain of (package, next) links: packages of that name and providers.
    let mut heads: Heads<'_> =
        HashMap::with_capacity_and_hasher(packages.len(), foldhash::fast::FixedState::default());
    let mut links: Vec<(u32, u32)> = Vec::with_capacity(packages.len() + packages.len() / 4);
    let mut seeds: Vec<&str> = Vec::new();
    fn link<'a>(heads: &mut Heads<'a>, links: &mut Vec<(u32, u32)>, name: &'a str, i: usize) {
        let head = heads.entry(name).or_insert((u32::MAX, false));
        links.push((i as u32, head.0));
        head.0 = (links.len() - 1) as u32;
    }
    for (i, p) in packages.iter().enumerate() {
        link(&mut heads, &mut links, p.name.as_str(), i);
        for prov in &p.provides {
            link(&mut heads, &mut links, prov.name.as_str(), i);
        }
        if (request.variant.includes_essential() && p.essential)
            || request.variant.includes_priority(p.priority)
        {
            seeds.push(p.name.as_str());
        }
    }
    seeds.extend(request.variant.base_packages().iter().copied());
    seeds.extend(request.packages.iter().map(|r| r.name.as_str()));

    let mut keep = vec![false; packages.len()];
    let mut queue = seeds;
    while let Some(name) = queue.pop() {
        let Some(head) = heads.get_mut(name) else { continue };
        if head.1 {
            continue;
        }
        head.1 = true;
        let mut l = head.0;
        while let Some(&(i, next)) = links.get(l as usize) {
            l = next;
            let i = i as usize;
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            let p = &packages[i];
            queue.push(p.name.as_str());
            for g in p.pre_depends.iter().chain(&p.depends).chain(&p.recommends) {
                queue.extend(g.0.iter().map(|r| r.name.as_str()));
            }
            queue.extend(p.provides.iter().map(|r| r.name.as_str()));
        }
    }
    keep.iter().enumerate().filter_map(|(i, k)| k.then_some(i)).collect()
}
