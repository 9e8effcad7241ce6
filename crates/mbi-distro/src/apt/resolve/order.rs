//! Why each package is there, and the order to install them in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::apt::relation::{Alternatives, SharedSlice};
use crate::apt::resolve::DependencyKind;
use crate::apt::resolve::universe::{PkgId, Universe};

/// How a chosen package was first reached from the roots.
pub(crate) enum Reached {
    Root(usize),
    Dep { of: PkgId, kind: DependencyKind, group: Alternatives },
}

/// The chosen packages that satisfy `group` of `from`, in preference order.
pub(crate) fn satisfiers(
    u: &Universe,
    chosen: &HashMap<PkgId, usize>,
    from: PkgId,
    group: &Alternatives,
) -> Vec<PkgId> {
    let arch = u.entry(from).arch;
    let mut out = Vec::new();
    for rel in &group.0 {
        u.for_each_target(arch, rel, |t| {
            if chosen.contains_key(&t) && !out.contains(&t) {
                out.push(t);
            }
        });
    }
    out
}

/// Breadth-first from the roots (in order) along the chosen satisfiers of every dependency:
/// the first way each package is reached is its reason. Packages not reachable are left out.
pub(crate) fn reasons(
    u: &Universe,
    chosen: &[PkgId],
    roots: &[(usize, PkgId)],
    recommends: bool,
) -> Vec<(PkgId, Reached)> {
    let index: HashMap<PkgId, usize> = chosen.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let mut out: Vec<(PkgId, Reached)> = Vec::with_capacity(chosen.len());
    let mut seen = vec![false; chosen.len()];
    let mut queue = VecDeque::new();
    for &(r, p) in roots {
        if let Some(&i) = index.get(&p)
            && !seen[i]
        {
            seen[i] = true;
            out.push((p, Reached::Root(r)));
            queue.push_back(p);
        }
    }
    while let Some(p) = queue.pop_front() {
        let pkg = u.pkg(p);
        let none = SharedSlice::new();
        let kinds: [(DependencyKind, &SharedSlice<Alternatives>); 3] = [
            (DependencyKind::PreDepends, &pkg.pre_depends),
            (DependencyKind::Depends, &pkg.depends),
            (DependencyKind::Recommends, if recommends { &pkg.recommends } else { &none }),
        ];
        for (kind, groups) in kinds {
            for group in groups {
                for s in satisfiers(u, &index, p, group) {
                    let i = index[&s];
                    if !seen[i] {
                        seen[i] = true;
                        out.push((s, Reached::Dep { of: p, kind, group: group.clone() }));
                        queue.push_back(s);
                    }
                }
            }
        }
    }
    out
}

/// A dependency the install order could not respect (a cycle had to be broken).
pub(crate) struct BrokenEdge {
    pub dependent: PkgId,
    pub dependency: PkgId,
    pub kind: DependencyKind,
}

/// Orders `pkgs` for installation: every package after what it `Pre-Depends` on (strict) and,
/// as far as cycles allow, after what it `Depends` on; among packages that are ready at the
/// same time, the essential set and what it depends on first (`Essential: yes` ones first
/// among those), then by name. Cycles (strongly connected
/// components) are broken inside the component only, dropping `Depends` edges before
/// `Pre-Depends` edges, deterministically by name.
pub(crate) fn install_order(u: &Universe, pkgs: &[PkgId]) -> (Vec<PkgId>, Vec<BrokenEdge>) {
    let n = pkgs.len();
    let index: HashMap<PkgId, usize> = pkgs.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    // edges[i] = (j, hard): i must come after j.
    let mut deps: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
    for (i, &p) in pkgs.iter().enumerate() {
        let pkg = u.pkg(p);
        for (groups, hard) in [(&pkg.pre_depends, true), (&pkg.depends, false)] {
            for g in groups {
                if let Some(&s) = satisfiers(u, &index, p, g).first() {
                    let j = index[&s];
                    if j != i && !deps[i].contains(&(j, hard)) {
                        deps[i].push((j, hard));
                    }
                }
            }
        }
    }
    // The essential set and everything it needs go first ("base system" class 0).
    let mut base = vec![false; n];
    let mut stack: Vec<usize> = (0..n).filter(|&i| u.pkg(pkgs[i]).essential).collect();
    for &i in &stack {
        base[i] = true;
    }
    while let Some(i) = stack.pop() {
        for &(j, _) in &deps[i] {
            if !base[j] {
                base[j] = true;
                stack.push(j);
            }
        }
    }
    let key = |i: usize| {
        let e = u.entry(pkgs[i]);
        (!base[i], !e.pkg.essential, e.pkg.name.as_str(), e.arch)
    };
    let comp = tarjan(&deps);
    let ncomp = comp.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
    for (i, &c) in comp.iter().enumerate() {
        members[c].push(i);
    }
    // Condensation: component c waits for the components its members depend on.
    let mut waiting = vec![0usize; ncomp];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ncomp];
    for i in 0..n {
        for &(j, _) in &deps[i] {
            let (ci, cj) = (comp[i], comp[j]);
            if ci != cj && !dependents[cj].contains(&ci) {
                dependents[cj].push(ci);
                waiting[ci] += 1;
            }
        }
    }
    let comp_key = |c: usize| members[c].iter().map(|&i| key(i)).min();
    let mut heap = BinaryHeap::new();
    for (c, &w) in waiting.iter().enumerate() {
        if w == 0 {
            heap.push(Reverse((comp_key(c), c)));
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    while let Some(Reverse((_, c))) = heap.pop() {
        order_component(&members[c], &deps, &key, &mut placed, &mut order);
        for &d in &dependents[c] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                heap.push(Reverse((comp_key(d), d)));
            }
        }
    }
    let mut position = vec![0usize; n];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut broken = Vec::new();
    for i in 0..n {
        for &(j, hard) in &deps[i] {
            if position[j] > position[i] {
                broken.push(BrokenEdge {
                    dependent: pkgs[i],
                    dependency: pkgs[j],
                    kind: if hard { DependencyKind::PreDepends } else { DependencyKind::Depends },
                });
            }
        }
    }
    broken.sort_by_key(|b| (position[index[&b.dependent]], position[index[&b.dependency]]));
    (order.into_iter().map(|i| pkgs[i]).collect(), broken)
}

fn order_component<K: Ord>(
    members: &[usize],
    deps: &[Vec<(usize, bool)>],
    key: &impl Fn(usize) -> K,
    placed: &mut [bool],
    order: &mut Vec<usize>,
) {
    if let [only] = members {
        placed[*only] = true;
        order.push(*only);
        return;
    }
    let inside = |j: usize| members.contains(&j);
    let mut left: Vec<usize> = members.to_vec();
    left.sort_by_key(|&i| key(i));
    while !left.is_empty() {
        let ready = |i: usize, hard_only: bool| {
            deps[i].iter().all(|&(j, hard)| !inside(j) || placed[j] || (hard_only && !hard))
        };
        let pick = left
            .iter()
            .position(|&i| ready(i, false))
            .or_else(|| left.iter().position(|&i| ready(i, true)))
            .unwrap_or(0);
        let i = left.remove(pick);
        placed[i] = true;
        order.push(i);
    }
}

/// Tarjan's strongly connected components, iterative. Returns the component of each node.
fn tarjan(deps: &[Vec<(usize, bool)>]) -> Vec<usize> {
    let n = deps.len();
    const NONE: usize = usize::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![NONE; n];
    let mut next_index = 0;
    let mut next_comp = 0;
    for start in 0..n {
        if index[start] != NONE {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(start, 0)];
        index[start] = next_index;
        low[start] = next_index;
        next_index += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut k)) = call.last_mut() {
            if let Some(&(w, _)) = deps[v].get(*k) {
                *k += 1;
                if index[w] == NONE {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp[w] = next_comp;
                        if w == v {
                            break;
                        }
                    }
                    next_comp += 1;
                }
            }
        }
    }
    comp
}

#[cfg(test)]
mod tests {
    use super::tarjan;

    #[test]
    fn components() {
        // 0 -> 1 -> 2 -> 0, 3 -> 0
        let deps = vec![vec![(1, false)], vec![(2, false)], vec![(0, true)], vec![(0, false)]];
        let c = tarjan(&deps);
        assert_eq!(c[0], c[1]);
        assert_eq!(c[1], c[2]);
        assert_ne!(c[3], c[0]);
    }
}
