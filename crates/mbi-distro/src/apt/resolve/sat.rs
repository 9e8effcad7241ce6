//! The complete search: the problem encoded for resolvo's CDCL solver.
//!
//! - A resolvo *name* is a real package on one architecture (a [`Slot`](super::universe::Slot)),
//!   so at most one version of it is chosen. Relation targets that exist nowhere get a name of
//!   their own with no candidates, which resolvo reports as a missing dependency.
//! - A *version set* is an explicit sorted list of the slot's versions that match.
//! - A dependency group `a (>= 1) | b` becomes a union, in order, of: `a`'s matching versions,
//!   then each provider of `a` with the versions whose `Provides` match, then the same for `b`.
//!   resolvo tries the union's sets in order and each set newest first, which is apt's
//!   preference (first alternative, newest version).
//! - `Conflicts`/`Breaks` become constraints: if the package is installed, each hit slot (real
//!   package of that name, or a provider of it) must come from the versions *not* hit.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Display};

use resolvo::conflict::{Conflict, ConflictCause, ConflictEdge, ConflictNode};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, DenseIndex, Dependencies,
    DependencyProvider, Interner, KnownDependencies, NameId, Problem, Requirement, SolvableId,
    Solver, SolverCache, StringId, UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use crate::apt::relation::{Alternatives, PackageName, Relation};
use crate::apt::resolve::Request;
use crate::apt::resolve::explain::Explanation;
use crate::apt::resolve::universe::{PkgId, SlotId, Universe};
use crate::apt::version::DebVersion;

/// The request's version policy: which versions of a slot may be chosen. Only pinned, held
/// and excluded names differ from "every version, newest first".
pub(crate) struct Policy<'u> {
    u: &'u Universe,
    overrides: HashMap<SlotId, Override>,
}

enum Override {
    Excluded,
    Pinned(DebVersion),
    Held(PkgId),
}

impl<'u> Policy<'u> {
    pub fn new(u: &'u Universe, request: &Request) -> Self {
        let mut overrides = HashMap::new();
        let slots = |name: &PackageName| {
            u.name_id(name.as_str()).map(|n| u.name_slots(n).to_vec()).unwrap_or_default()
        };
        for (name, v) in &request.holds {
            for s in slots(name) {
                if let Some(&p) = u.versions(s).iter().find(|&&p| u.pkg(p).version == *v) {
                    overrides.insert(s, Override::Held(p));
                }
            }
        }
        for (name, v) in &request.pins {
            for s in slots(name) {
                overrides.insert(s, Override::Pinned(v.clone()));
            }
        }
        for name in &request.excludes {
            for s in slots(name) {
                overrides.insert(s, Override::Excluded);
            }
        }
        Policy { u, overrides }
    }

    /// Versions the search may choose, newest first.
    pub fn allowed(&self, s: SlotId) -> Cow<'u, [PkgId]> {
        let all = self.u.versions(s);
        match self.overrides.get(&s) {
            None | Some(Override::Held(_)) => Cow::Borrowed(all),
            Some(Override::Excluded) => Cow::Borrowed(&[]),
            Some(Override::Pinned(v)) => {
                Cow::Owned(all.iter().copied().filter(|&p| self.u.pkg(p).version == *v).collect())
            }
        }
    }

    /// Versions it may not choose, with the reason shown in explanations.
    pub fn excluded(&self, s: SlotId) -> Vec<(PkgId, String)> {
        let all = self.u.versions(s);
        match self.overrides.get(&s) {
            None | Some(Override::Held(_)) => Vec::new(),
            Some(Override::Excluded) => {
                all.iter().map(|&p| (p, "excluded by the request".to_owned())).collect()
            }
            Some(Override::Pinned(v)) => all
                .iter()
                .filter(|&&p| self.u.pkg(p).version != *v)
                .map(|&p| (p, format!("not the pinned version {v}")))
                .collect(),
        }
    }

    /// A version to try first (a hold).
    pub fn favored(&self, s: SlotId) -> Option<PkgId> {
        match self.overrides.get(&s) {
            Some(Override::Held(p)) => Some(*p),
            _ => None,
        }
    }

    /// apt's candidate: the held version, else the newest allowed one.
    pub fn candidates(&self) -> Vec<Option<PkgId>> {
        let mut c: Vec<Option<PkgId>> = (0..self.u.slots.len() as SlotId)
            .map(|s| self.u.versions(s).first().copied())
            .collect();
        for (&s, o) in &self.overrides {
            c[s as usize] = match o {
                Override::Held(p) => Some(*p),
                _ => self.allowed(s).first().copied(),
            };
        }
        c
    }
}

/// A root requirement: a relation (or a fixed set of versions) with its text for messages.
pub(crate) struct Root {
    pub text: String,
    /// The relation the root stands for (name and version constraint), for messages.
    pub rel: Relation,
    pub slots: Vec<(SlotId, Vec<PkgId>)>,
    /// When the root names nothing that exists.
    pub missing: Option<String>,
}

struct VersionSet {
    name: NameId,
    members: Box<[PkgId]>,
    label: String,
    /// The relations behind the set (for availability notes in explanations).
    rels: Vec<Relation>,
    from_arch: u8,
}

#[derive(Default)]
struct Interned {
    sets: Vec<VersionSet>,
    set_index: HashMap<(u32, String, Box<[PkgId]>), u32>,
    unions: Vec<(Vec<VersionSetId>, String)>,
    strings: Vec<String>,
    string_index: HashMap<String, u32>,
    phantoms: Vec<String>,
    phantom_index: HashMap<String, u32>,
}

pub(crate) struct Provider<'a> {
    u: &'a Universe,
    policy: &'a Policy<'a>,
    interned: RefCell<Interned>,
}

fn sid(p: PkgId) -> SolvableId {
    SolvableId::from_index(p as usize)
}

fn pid(s: SolvableId) -> PkgId {
    s.to_index() as PkgId
}

impl<'a> Provider<'a> {
    pub fn new(u: &'a Universe, policy: &'a Policy<'a>) -> Self {
        Provider { u, policy, interned: RefCell::new(Interned::default()) }
    }

    fn string(&self, s: String) -> StringId {
        let mut i = self.interned.borrow_mut();
        if let Some(&id) = i.string_index.get(&s) {
            return StringId(id);
        }
        let id = i.strings.len() as u32;
        i.strings.push(s.clone());
        i.string_index.insert(s, id);
        StringId(id)
    }

    fn phantom(&self, name: &str) -> NameId {
        let mut i = self.interned.borrow_mut();
        let n = self.u.slots.len() as u32;
        if let Some(&id) = i.phantom_index.get(name) {
            return NameId::from_index((n + id) as usize);
        }
        let id = i.phantoms.len() as u32;
        i.phantoms.push(name.to_owned());
        i.phantom_index.insert(name.to_owned(), id);
        NameId::from_index((n + id) as usize)
    }

    fn version_set(
        &self,
        name: NameId,
        label: String,
        members: Vec<PkgId>,
        rels: &[Relation],
        from_arch: u8,
    ) -> VersionSetId {
        let mut i = self.interned.borrow_mut();
        let members: Box<[PkgId]> = members.into();
        let key = (name.to_index() as u32, label, members);
        if let Some(&id) = i.set_index.get(&key) {
            return VersionSetId(id);
        }
        let id = i.sets.len() as u32;
        i.sets.push(VersionSet {
            name,
            members: key.2.clone(),
            label: key.1.clone(),
            rels: rels.to_vec(),
            from_arch,
        });
        i.set_index.insert(key, id);
        VersionSetId(id)
    }

    fn requirement(&self, sets: Vec<VersionSetId>, text: String) -> Requirement {
        let mut dedup: Vec<VersionSetId> = Vec::with_capacity(sets.len());
        for s in sets {
            if !dedup.contains(&s) {
                dedup.push(s);
            }
        }
        if dedup.len() == 1 {
            return Requirement::Single(dedup[0]);
        }
        let mut i = self.interned.borrow_mut();
        let id = i.unions.len() as u32;
        i.unions.push((dedup, text));
        Requirement::Union(VersionSetUnionId(id))
    }

    /// The requirement for one dependency group of a package of architecture `arch`.
    fn group_requirement(&self, arch: u8, group: &Alternatives) -> Requirement {
        let u = self.u;
        let mut sets = Vec::new();
        for rel in &group.0 {
            let before = sets.len();
            if let Some(n) = u.name_id(rel.name.as_str()) {
                for &s in u.name_slots(n) {
                    let members: Vec<PkgId> = u
                        .versions(s)
                        .iter()
                        .copied()
                        .filter(|&v| u.real_matches(arch, rel, v))
                        .collect();
                    let accepts_arch = u
                        .versions(s)
                        .first()
                        .is_some_and(|&v| u.arch_ok(arch, rel.arch_qualifier.as_ref(), u.entry(v)));
                    if !members.is_empty() || accepts_arch {
                        let label = version_label(rel);
                        sets.push(self.version_set(
                            NameId::from_index(s as usize),
                            label,
                            members,
                            std::slice::from_ref(rel),
                            arch,
                        ));
                    }
                }
                // Providers, grouped by slot, in the order apt ranks them.
                let mut by_slot: Vec<(SlotId, Vec<PkgId>)> = Vec::new();
                for &p in u.providers(n) {
                    if u.entry(p.pkg).name == n || !u.provide_matches(arch, rel, p) {
                        continue;
                    }
                    let s = u.slot_of(p.pkg);
                    match by_slot.iter_mut().find(|(t, _)| *t == s) {
                        Some((_, v)) => {
                            if !v.contains(&p.pkg) {
                                v.push(p.pkg)
                            }
                        }
                        None => by_slot.push((s, vec![p.pkg])),
                    }
                }
                by_slot.sort_by_cached_key(|(s, _)| {
                    let slot = u.slot(*s);
                    let best = u.versions(*s).first().map(|&v| u.pkg(v).priority);
                    (!u.names[slot.name as usize].essential, slot.arch, best, u.name_str(slot.name))
                });
                for (s, mut members) in by_slot {
                    members.sort_unstable();
                    sets.push(self.version_set(
                        NameId::from_index(s as usize),
                        format!("(provides {rel})"),
                        members,
                        std::slice::from_ref(rel),
                        arch,
                    ));
                }
            }
            if sets.len() == before {
                // Nothing of that name exists (for this architecture): a name with no
                // candidates, so the solver reports the relation as unsatisfiable.
                let phantom = self.phantom(rel.name.as_str());
                sets.push(self.version_set(
                    phantom,
                    version_label(rel),
                    Vec::new(),
                    std::slice::from_ref(rel),
                    arch,
                ));
            }
        }
        self.requirement(sets, group.to_string())
    }

    pub fn root_requirement(&self, root: &Root) -> Requirement {
        let mut sets = Vec::new();
        for (s, members) in &root.slots {
            sets.push(self.version_set(
                NameId::from_index(*s as usize),
                format!("(request {})", root.text),
                members.clone(),
                std::slice::from_ref(&root.rel),
                0,
            ));
        }
        if let Some(missing) = &root.missing {
            let phantom = self.phantom(missing);
            sets.push(self.version_set(
                phantom,
                String::new(),
                Vec::new(),
                std::slice::from_ref(&root.rel),
                0,
            ));
        }
        self.requirement(sets, root.text.clone())
    }

    /// Runs the search. `Ok` holds the chosen packages; `Err` an explanation.
    pub fn solve(self, roots: &[Root]) -> Result<Vec<PkgId>, Explanation> {
        let root_reqs: Vec<Requirement> = roots.iter().map(|r| self.root_requirement(r)).collect();
        let requirements: Vec<ConditionalRequirement> =
            root_reqs.iter().map(|&r| r.into()).collect();
        let mut solver = Solver::new(self);
        match solver.solve(Problem::new().requirements(requirements)) {
            Ok(chosen) => {
                let mut out: Vec<PkgId> = chosen.into_iter().map(pid).collect();
                out.sort_unstable();
                Ok(out)
            }
            Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
                Err(solver.provider().explain(&conflict, &solver, roots, &root_reqs))
            }
            Err(UnsolvableOrCancelled::Cancelled(_)) => {
                Err(Explanation::new(vec!["the dependency search was cancelled".to_owned()]))
            }
        }
    }

    fn requirement_text(&self, r: Requirement) -> String {
        let i = self.interned.borrow();
        match r {
            Requirement::Single(vs) => {
                let set = &i.sets[vs.0 as usize];
                match set.rels.as_slice() {
                    [rel] => rel.to_string(),
                    _ => format!("{} {}", self.name_text(set.name), set.label),
                }
            }
            Requirement::Union(u) => i.unions[u.0 as usize].1.clone(),
        }
    }

    fn name_text(&self, n: NameId) -> String {
        let idx = n.to_index();
        if idx < self.u.slots.len() {
            self.u.slot_display(idx as SlotId)
        } else {
            let i = self.interned.borrow();
            i.phantoms.get(idx - self.u.slots.len()).cloned().unwrap_or_default()
        }
    }

    /// "only libfoo 1.5 (bookworm/main) is available" and the like, for every relation of an
    /// unsatisfiable requirement.
    fn availability(&self, r: Requirement) -> String {
        let sets: Vec<VersionSetId> = match r {
            Requirement::Single(vs) => vec![vs],
            Requirement::Union(u) => self.interned.borrow().unions[u.0 as usize].0.clone(),
        };
        let mut rels: Vec<(Relation, u8)> = Vec::new();
        {
            let i = self.interned.borrow();
            for vs in sets {
                let set = &i.sets[vs.0 as usize];
                for rel in &set.rels {
                    if !rels.iter().any(|(r, _)| r == rel) {
                        rels.push((rel.clone(), set.from_arch));
                    }
                }
            }
        }
        let notes: Vec<String> =
            rels.iter().map(|(rel, arch)| self.rel_availability(rel, *arch)).collect();
        notes.join("; ")
    }

    fn rel_availability(&self, rel: &Relation, _arch: u8) -> String {
        let u = self.u;
        let Some(n) = u.name_id(rel.name.as_str()) else {
            return format!("{} is not available in any configured index", rel.name);
        };
        let mut available = Vec::new();
        let mut excluded = Vec::new();
        for &s in u.name_slots(n) {
            let allowed = self.policy.allowed(s);
            let not = self.policy.excluded(s);
            for &v in u.versions(s) {
                if allowed.contains(&v) {
                    available.push(format!("{} ({})", u.pkg_display(v), u.origin_display(v)));
                } else if let Some((_, why)) = not.iter().find(|(p, _)| *p == v) {
                    excluded.push(format!("{} is {why}", u.pkg_display(v)));
                }
            }
        }
        let mut providers = Vec::new();
        for p in u.providers(n) {
            let e = u.entry(p.pkg);
            if e.name == n {
                continue;
            }
            let prov = &e.pkg.provides[p.provide as usize];
            let d = format!("{} provides {prov}", u.pkg_display(p.pkg));
            if !providers.contains(&d) {
                providers.push(d);
            }
        }
        let mut parts = Vec::new();
        match available.len() {
            0 if excluded.is_empty() && providers.is_empty() => {
                parts.push(format!("{} is not available in any configured index", rel.name))
            }
            0 => {}
            1 => parts.push(format!("only {} is available", available[0])),
            _ => parts.push(format!("available: {}", available.join(", "))),
        }
        parts.extend(excluded);
        if !providers.is_empty() {
            providers.truncate(6);
            parts.push(providers.join(", "));
        }
        parts.join("; ")
    }

    fn explain(
        &self,
        conflict: &Conflict,
        solver: &Solver<Self>,
        roots: &[Root],
        root_reqs: &[Requirement],
    ) -> Explanation {
        let cg = conflict.graph(solver);
        let g = &cg.graph;
        let nodes = g.raw_nodes();
        let edges = g.raw_edges();
        let label = |i: usize| -> String {
            match nodes.get(i).map(|n| n.weight) {
                Some(ConflictNode::Solvable(s)) => self.u.pkg_display(pid(s)),
                Some(ConflictNode::Root) => "the request".to_owned(),
                Some(ConflictNode::UnresolvedDependency) => "nothing".to_owned(),
                Some(ConflictNode::Excluded(s)) => self.display_string(s).to_string(),
                None => String::new(),
            }
        };
        // Breadth-first from the root over "requires" edges: how each node was reached.
        let root = cg.root_node.index();
        let mut pred: Vec<Option<usize>> = vec![None; nodes.len()];
        let mut seen = vec![false; nodes.len()];
        let mut queue = std::collections::VecDeque::new();
        if root < seen.len() {
            seen[root] = true;
            queue.push_back(root);
        }
        while let Some(n) = queue.pop_front() {
            for e in edges {
                if e.source().index() == n
                    && matches!(e.weight, ConflictEdge::Requires(_))
                    && !seen[e.target().index()]
                {
                    seen[e.target().index()] = true;
                    pred[e.target().index()] = Some(n);
                    queue.push_back(e.target().index());
                }
            }
        }
        // "requested" or "needed by a 1 ← b 2 ← request", for a node.
        let needed_by = |mut n: usize| -> Option<String> {
            let mut parts = Vec::new();
            while let Some(p) = pred.get(n).copied().flatten() {
                if p == root {
                    if parts.is_empty() {
                        return Some("requested".to_owned());
                    }
                    break;
                }
                parts.push(label(p));
                n = p;
                if parts.len() > nodes.len() {
                    break;
                }
            }
            (!parts.is_empty()).then(|| format!("needed by {}", parts.join(" ← ")))
        };
        let chain = |n: usize| needed_by(n).map_or(String::new(), |t| format!(" ({t})"));
        let mut problems = Vec::new();
        for e in edges {
            let (s, t) = (e.source().index(), e.target().index());
            let (Some(src), Some(dst)) = (nodes.get(s), nodes.get(t)) else { continue };
            match (src.weight, e.weight, dst.weight) {
                (
                    ConflictNode::Root,
                    ConflictEdge::Requires(r),
                    ConflictNode::UnresolvedDependency,
                ) => {
                    let text = root_reqs
                        .iter()
                        .position(|&q| q == r)
                        .and_then(|i| roots.get(i))
                        .map_or_else(|| self.requirement_text(r), |root| root.text.clone());
                    problems.push(format!("{text} is requested, but {}", self.availability(r)));
                }
                (_, ConflictEdge::Requires(r), ConflictNode::UnresolvedDependency) => {
                    problems.push(format!(
                        "{} depends on {}, but {}{}",
                        label(s),
                        self.requirement_text(r),
                        self.availability(r),
                        chain(s)
                    ));
                }
                (
                    ConflictNode::Solvable(a),
                    ConflictEdge::Conflict(ConflictCause::Constrains(vs)),
                    ConflictNode::Solvable(b),
                ) => {
                    let (a, b) = (pid(a), pid(b));
                    let i = self.interned.borrow();
                    let rel =
                        i.sets.get(vs.0 as usize).map(|s| s.label.clone()).unwrap_or_default();
                    drop(i);
                    let mut msg = format!(
                        "{} {rel}, so it cannot be installed together with {}",
                        self.u.pkg_display(a),
                        self.u.pkg_display(b)
                    );
                    for (who, n) in [(a, s), (b, t)] {
                        if let Some(why) = needed_by(n) {
                            msg.push_str(&format!("; {} is {why}", self.u.pkg_display(who)));
                        }
                    }
                    problems.push(msg);
                }
                (
                    ConflictNode::Solvable(a),
                    ConflictEdge::Conflict(ConflictCause::ForbidMultipleInstances),
                    ConflictNode::Solvable(b),
                ) => {
                    let (a, b) = (pid(a), pid(b));
                    let mut msg = format!(
                        "only one version of {} can be installed, but {} and {} are both needed",
                        self.u.slot_display(self.u.slot_of(a)),
                        self.u.pkg(a).version,
                        self.u.pkg(b).version,
                    );
                    for (who, n) in [(a, s), (b, t)] {
                        if let Some(why) = needed_by(n) {
                            msg.push_str(&format!("; {} is {why}", self.u.pkg_display(who)));
                        }
                    }
                    problems.push(msg);
                }
                (
                    _,
                    ConflictEdge::Conflict(ConflictCause::Excluded),
                    ConflictNode::Excluded(why),
                ) => {
                    problems.push(format!(
                        "{} is {}{}",
                        label(s),
                        self.display_string(why),
                        chain(s)
                    ));
                }
                (_, ConflictEdge::Conflict(ConflictCause::Locked(_)), _) => {
                    problems.push(format!("{} is locked{}", label(s), chain(s)));
                }
                _ => {}
            }
        }
        problems.sort();
        problems.dedup();
        if problems.is_empty() {
            problems.push(conflict.display_user_friendly(solver).to_string());
        }
        Explanation::new(problems)
    }
}

/// `(>= 2)` or empty: the version part of a relation.
fn version_label(rel: &Relation) -> String {
    match &rel.version {
        Some((op, v)) => format!("({} {v})", op.as_str()),
        None => String::new(),
    }
}

struct Text(String);

impl Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Interner for Provider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        Text(self.u.pkg_display(pid(solvable)))
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        Text(self.name_text(name))
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        let i = self.interned.borrow();
        Text(i.sets.get(version_set.0 as usize).map(|s| s.label.clone()).unwrap_or_default())
    }

    fn display_string(&self, string_id: StringId) -> impl Display + '_ {
        let i = self.interned.borrow();
        Text(i.strings.get(string_id.0 as usize).cloned().unwrap_or_default())
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        let i = self.interned.borrow();
        i.sets.get(version_set.0 as usize).map_or(NameId::from_index(0), |s| s.name)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        NameId::from_index(self.u.slot_of(pid(solvable)) as usize)
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        let i = self.interned.borrow();
        i.unions
            .get(version_set_union.0 as usize)
            .map(|u| u.0.clone())
            .unwrap_or_default()
            .into_iter()
    }

    fn resolve_condition(&self, _condition: ConditionId) -> Condition {
        // No conditional requirements are ever created.
        Condition::Requirement(VersionSetId(0))
    }
}

impl DependencyProvider for Provider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let i = self.interned.borrow();
        let Some(set) = i.sets.get(version_set.0 as usize) else { return Vec::new() };
        candidates
            .iter()
            .copied()
            .filter(|&c| set.members.binary_search(&pid(c)).is_ok() != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        let idx = name.to_index();
        if idx >= self.u.slots.len() {
            return None;
        }
        let s = idx as SlotId;
        let excluded = self
            .policy
            .excluded(s)
            .into_iter()
            .map(|(p, why)| (sid(p), self.string(why)))
            .collect();
        Some(Candidates {
            candidates: self.policy.allowed(s).iter().map(|&p| sid(p)).collect(),
            favored: self.policy.favored(s).map(sid),
            excluded,
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // Ids within a slot are assigned newest first.
        solvables.sort_unstable();
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let u = self.u;
        let p = pid(solvable);
        let e = u.entry(p);
        let pkg = &e.pkg;
        let mut requirements = Vec::with_capacity(pkg.pre_depends.len() + pkg.depends.len());
        for group in pkg.pre_depends.iter().chain(&pkg.depends) {
            requirements.push(self.group_requirement(e.arch, group).into());
        }
        let mut constrains = Vec::new();
        for (k, rel) in pkg.conflicts.iter().chain(&pkg.breaks).enumerate() {
            let verb = if k < pkg.conflicts.len() { "conflicts with" } else { "breaks" };
            let mut hits: Vec<PkgId> = Vec::new();
            u.for_each_negative_target(p, rel, |t| hits.push(t));
            hits.sort_unstable();
            hits.dedup();
            let mut slots: Vec<SlotId> = hits.iter().map(|&t| u.slot_of(t)).collect();
            slots.sort_unstable();
            slots.dedup();
            for s in slots {
                let rest: Vec<PkgId> = u
                    .versions(s)
                    .iter()
                    .copied()
                    .filter(|v| hits.binary_search(v).is_err())
                    .collect();
                constrains.push(self.version_set(
                    NameId::from_index(s as usize),
                    format!("{verb} {rel}"),
                    rest,
                    std::slice::from_ref(rel),
                    e.arch,
                ));
            }
        }
        Dependencies::Known(KnownDependencies { requirements, constrains })
    }
}
