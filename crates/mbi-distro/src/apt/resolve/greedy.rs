//! apt's marking algorithm (`pkgDepCache::MarkInstall`, apt 2.x), over candidate versions only.
//!
//! This is what `apt-get install` does before its problem resolver runs: requested packages are
//! marked first, then each one's dependencies are installed depth first, in field order
//! (`Pre-Depends` before `Depends`), an or-group being skipped when something already marked
//! satisfies it and otherwise satisfied by the first alternative whose candidate can be
//! installed (providers of one alternative ranked as apt's `CompareProviders` ranks them).
//!
//! Differences, all confined to cases where apt itself would end up in its problem resolver:
//! a candidate that conflicts with something already marked (in either direction) is treated
//! as not installable, so the next alternative is tried; and a failed attempt is rolled back
//! completely (apt leaves the dependencies it marked on the way). When this pass fails the
//! caller falls back to the complete SAT search.

use std::collections::HashMap;

use crate::apt::relation::{Alternatives, Relation};
use crate::apt::resolve::universe::{NameId, PkgId, SlotId, Universe};

/// Recursion limit; deeper chains fall back to the SAT search.
const MAX_DEPTH: usize = 400;

pub(crate) struct Greedy<'a> {
    u: &'a Universe,
    cand: &'a [Option<PkgId>],
    recommends: bool,
    discarded: Vec<bool>,
    marked: Vec<Option<PkgId>>,
    trail: Vec<SlotId>,
    /// Negative relations of marked packages, by the name they target: (package, index into
    /// its conflicts ++ breaks).
    negatives: HashMap<NameId, Vec<(PkgId, u32)>>,
}

impl<'a> Greedy<'a> {
    pub fn new(u: &'a Universe, cand: &'a [Option<PkgId>], recommends: bool) -> Self {
        Greedy {
            u,
            cand,
            recommends,
            discarded: vec![false; u.slots.len()],
            marked: vec![None; u.slots.len()],
            trail: Vec::new(),
            negatives: HashMap::new(),
        }
    }

    /// The marked packages, in the order they were marked.
    pub fn marked(&self) -> Vec<PkgId> {
        self.trail.iter().filter_map(|&s| self.marked[s as usize]).collect()
    }

    fn is_marked(&self, p: PkgId) -> bool {
        self.marked[self.u.slot_of(p) as usize] == Some(p)
    }

    fn negative(&self, p: PkgId, i: u32) -> Option<&'a Relation> {
        let pkg = self.u.pkg(p);
        let i = i as usize;
        pkg.conflicts.get(i).or_else(|| pkg.breaks.get(i.checked_sub(pkg.conflicts.len())?))
    }

    fn mark(&mut self, p: PkgId) {
        let slot = self.u.slot_of(p);
        self.marked[slot as usize] = Some(p);
        self.trail.push(slot);
        let pkg = self.u.pkg(p);
        for (i, rel) in pkg.conflicts.iter().chain(&pkg.breaks).enumerate() {
            if let Some(n) = self.u.name_id(rel.name.as_str()) {
                self.negatives.entry(n).or_default().push((p, i as u32));
            }
        }
    }

    fn unmark_to(&mut self, len: usize) {
        while self.trail.len() > len {
            let Some(slot) = self.trail.pop() else { break };
            let Some(p) = self.marked[slot as usize].take() else { continue };
            let pkg = self.u.pkg(p);
            for rel in pkg.conflicts.iter().chain(&pkg.breaks) {
                if let Some(n) = self.u.name_id(rel.name.as_str())
                    && let Some(v) = self.negatives.get_mut(&n)
                {
                    v.retain(|&(q, _)| q != p);
                }
            }
        }
    }

    /// Whether installing `p` would conflict with a marked package, in either direction.
    fn conflicts_with_marked(&self, p: PkgId) -> bool {
        let u = self.u;
        let pkg = u.pkg(p);
        for rel in pkg.conflicts.iter().chain(&pkg.breaks) {
            let mut hit = false;
            u.for_each_negative_target(p, rel, |t| hit |= self.is_marked(t));
            if hit {
                return true;
            }
        }
        let names = std::iter::once(&pkg.name).chain(pkg.provides.iter().map(|r| &r.name));
        for name in names {
            let Some(n) = u.name_id(name.as_str()) else { continue };
            if let Some(list) = self.negatives.get(&n) {
                for &(q, i) in list {
                    if let Some(rel) = self.negative(q, i)
                        && u.negative_hits(q, rel, p)
                    {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn satisfied_by_marked(&self, from: PkgId, group: &Alternatives) -> bool {
        let arch = self.u.entry(from).arch;
        group.0.iter().any(|rel| {
            let mut hit = false;
            self.u.for_each_target(arch, rel, |t| hit |= self.is_marked(t));
            hit
        })
    }

    /// apt's `DepInstall | DepCVer`: satisfied by something marked or by some candidate.
    fn satisfiable(&self, from: PkgId, group: &Alternatives) -> bool {
        let arch = self.u.entry(from).arch;
        group.0.iter().any(|rel| {
            let mut hit = false;
            self.u.for_each_target(arch, rel, |t| {
                hit |= self.is_marked(t) || self.cand[self.u.slot_of(t) as usize] == Some(t)
            });
            hit
        })
    }

    /// Candidate versions satisfying the group, alternatives in order, each alternative's
    /// solutions ranked like apt's `CompareProviders`.
    fn solutions(&self, from: PkgId, group: &Alternatives) -> Vec<PkgId> {
        let u = self.u;
        let arch = u.entry(from).arch;
        let mut out: Vec<PkgId> = Vec::new();
        for rel in &group.0 {
            let start = out.len();
            u.for_each_target(arch, rel, |t| {
                if self.cand[u.slot_of(t) as usize] == Some(t) && !out[start..].contains(&t) {
                    out.push(t);
                }
            });
            out[start..].sort_by_cached_key(|&t| {
                let e = u.entry(t);
                (
                    e.pkg.name != rel.name,
                    !u.names[e.name as usize].essential,
                    e.arch,
                    e.pkg.priority,
                    u.name_str(e.name),
                )
            });
        }
        let mut seen = Vec::with_capacity(out.len());
        out.retain(|t| {
            if seen.contains(t) {
                false
            } else {
                seen.push(*t);
                true
            }
        });
        out
    }

    /// Marks `slot`'s candidate without its dependencies (apt's first pass over requested
    /// packages). Returns false when the slot has no candidate.
    pub fn mark_root(&mut self, slot: SlotId) -> bool {
        let Some(c) = self.cand[slot as usize] else { return false };
        match self.marked[slot as usize] {
            Some(m) => m == c,
            None => {
                self.mark(c);
                true
            }
        }
    }

    /// Installs the dependencies of an already marked root (apt's second pass). False when a
    /// hard dependency cannot be satisfied or the root conflicts with something marked.
    pub fn complete_root(&mut self, slot: SlotId) -> bool {
        let Some(p) = self.marked[slot as usize] else { return false };
        if self.conflicts_with_marked(p) {
            return false;
        }
        self.install_deps(p, 0)
    }

    /// apt's `MarkInstall(slot, AutoInst=true)`.
    pub fn mark_install(&mut self, slot: SlotId, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let Some(c) = self.cand[slot as usize] else { return false };
        if self.discarded[slot as usize] {
            return false;
        }
        if let Some(m) = self.marked[slot as usize] {
            return m == c;
        }
        // IsInstallOkDependenciesSatisfiableByCandidates: a candidate with a hard dependency
        // that no candidate can satisfy is discarded for good.
        let pkg = self.u.pkg(c);
        if !pkg.pre_depends.iter().chain(&pkg.depends).all(|g| self.satisfiable(c, g)) {
            self.discarded[slot as usize] = true;
            return false;
        }
        if self.conflicts_with_marked(c) {
            return false;
        }
        let save = self.trail.len();
        self.mark(c);
        if !self.install_deps(c, depth) {
            self.unmark_to(save);
            return false;
        }
        true
    }

    fn install_deps(&mut self, p: PkgId, depth: usize) -> bool {
        let pkg = self.u.pkg(p);
        for group in pkg.pre_depends.iter().chain(&pkg.depends) {
            if self.satisfied_by_marked(p, group) {
                continue;
            }
            let mut found = false;
            for s in self.solutions(p, group) {
                if self.mark_install(self.u.slot_of(s), depth + 1) {
                    found = true;
                    break;
                }
            }
            if !found {
                return false;
            }
        }
        if self.recommends {
            self.install_recommends(p, depth);
        }
        true
    }

    /// Installs what `p` recommends where possible; failures are ignored, as apt does.
    pub fn install_recommends(&mut self, p: PkgId, depth: usize) {
        let pkg = self.u.pkg(p);
        for group in &pkg.recommends {
            if self.satisfied_by_marked(p, group) {
                continue;
            }
            for s in self.solutions(p, group) {
                if self.mark_install(self.u.slot_of(s), depth + 1) {
                    break;
                }
            }
        }
    }

    /// Marks a package chosen elsewhere (the SAT search) so recommends can be added on top.
    pub fn preset(&mut self, p: PkgId) {
        if self.marked[self.u.slot_of(p) as usize].is_none() {
            self.mark(p);
        }
    }
}
