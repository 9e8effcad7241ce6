//! The package universe: candidates deduplicated, given dense ids and indexed by name.
//!
//! Ids are assigned after sorting on the packages' own fields, so every id — and everything the
//! resolver derives from ids — is independent of the order the candidates came in.

use std::collections::HashMap;
use std::sync::Arc;

use crate::apt::package::{BinaryPackage, IndexOrigin, MultiArch, Priority};
use crate::apt::relation::{ArchQualifier, Relation, VersionOp};
use crate::apt::version::DebVersion;

/// Index of a deduplicated package version in [`Universe::entries`].
pub(crate) type PkgId = u32;
/// Index of a real package (one name on one architecture) in [`Universe::slots`].
pub(crate) type SlotId = u32;
/// Index of a name (real or virtual) in [`Universe::names`].
pub(crate) type NameId = u32;

/// One package version (name, version, architecture), possibly offered by several indexes.
pub(crate) struct Entry {
    pub pkg: Arc<BinaryPackage>,
    /// Every index offering the same .deb (same SHA256), sorted.
    pub origins: Vec<Arc<IndexOrigin>>,
    pub slot: SlotId,
    pub name: NameId,
    /// Index into [`Universe::archs`]; `all` counts as the native architecture (0).
    pub arch: u8,
}

/// A real package: one name on one architecture. At most one of its versions is installed.
pub(crate) struct Slot {
    pub name: NameId,
    pub arch: u8,
    /// Newest first (ids are assigned in that order, so also ascending ids).
    pub versions: Vec<PkgId>,
}

/// A package that provides a name: the entry and the index of the `Provides` relation.
#[derive(Clone, Copy)]
pub(crate) struct Provider {
    pub pkg: PkgId,
    pub provide: u32,
}

/// A package name as used in relations: the real packages of that name and its providers.
pub(crate) struct NameInfo {
    pub name: Box<str>,
    /// Real packages, native architecture first.
    pub slots: Vec<SlotId>,
    /// Packages that `Provides` this name, in id order.
    pub providers: Vec<Provider>,
    /// Some native (or `all`) version is `Essential: yes`.
    pub essential: bool,
    /// Priorities that some native (or `all`) version has (bit `p as u8`).
    pub priorities: u8,
}

/// Two indexes offering the same name, version and architecture with different contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateMismatch {
    /// `name version arch`.
    pub package: String,
    /// The index whose copy is used.
    pub kept: Arc<IndexOrigin>,
    /// The index whose differing copy is ignored.
    pub ignored: Arc<IndexOrigin>,
}

pub(crate) struct Universe {
    /// `[native, foreign…]`.
    pub archs: Vec<Box<str>>,
    pub entries: Vec<Entry>,
    pub slots: Vec<Slot>,
    pub names: Vec<NameInfo>,
    pub name_index: HashMap<Box<str>, NameId>,
    /// Candidates dropped because their architecture is not configured.
    pub dropped_foreign: usize,
    pub mismatches: Vec<DuplicateMismatch>,
}

fn origin_key(o: &IndexOrigin) -> (&str, &str, &str) {
    (&o.uri, &o.suite, &o.component)
}

impl Universe {
    pub fn new(
        candidates: impl IntoIterator<Item = Arc<BinaryPackage>>,
        native: &str,
        foreign: &[Box<str>],
    ) -> Universe {
        let mut archs: Vec<Box<str>> = vec![native.into()];
        for f in foreign {
            if !archs.contains(f) && &**f != "all" {
                archs.push(f.clone());
            }
        }
        let mut dropped_foreign = 0;
        let mut pkgs: Vec<(u8, Arc<BinaryPackage>)> = Vec::new();
        for p in candidates {
            let arch = if &*p.architecture == "all" {
                Some(0)
            } else {
                archs.iter().position(|a| *a == p.architecture).map(|i| i as u8)
            };
            match arch {
                Some(a) => pkgs.push((a, p)),
                None => dropped_foreign += 1,
            }
        }
        // Newest first within (name, arch); full key so the order is total.
        pkgs.sort_unstable_by(|(aa, a), (ab, b)| {
            a.name
                .cmp(&b.name)
                .then(aa.cmp(ab))
                .then_with(|| b.version.cmp(&a.version))
                .then_with(|| a.architecture.cmp(&b.architecture))
                .then_with(|| a.version.as_str().cmp(b.version.as_str()))
                .then_with(|| origin_key(&a.origin).cmp(&origin_key(&b.origin)))
                .then_with(|| a.sha256.cmp(&b.sha256))
        });

        let mut u = Universe {
            archs,
            entries: Vec::with_capacity(pkgs.len()),
            slots: Vec::new(),
            names: Vec::new(),
            name_index: HashMap::with_capacity(pkgs.len() + pkgs.len() / 4),
            dropped_foreign,
            mismatches: Vec::new(),
        };
        let mut i = 0;
        while i < pkgs.len() {
            let (arch, first) = &pkgs[i];
            let mut j = i + 1;
            while j < pkgs.len() {
                let (a2, p) = &pkgs[j];
                if a2 != arch
                    || p.name != first.name
                    || p.version != first.version
                    || p.architecture != first.architecture
                {
                    break;
                }
                j += 1;
            }
            // pkgs[i..j] are the same package version from several indexes. Keep the first
            // (smallest origin); merge the origins of identical copies.
            let mut origins = vec![first.origin.clone()];
            for (_, dup) in &pkgs[i + 1..j] {
                if dup.sha256 == first.sha256 && dup.size == first.size {
                    if !origins.contains(&dup.origin) {
                        origins.push(dup.origin.clone());
                    }
                } else {
                    u.mismatches.push(DuplicateMismatch {
                        package: format!("{} {} {}", first.name, first.version, first.architecture),
                        kept: first.origin.clone(),
                        ignored: dup.origin.clone(),
                    });
                }
            }
            origins.sort_by(|a, b| origin_key(a).cmp(&origin_key(b)));
            let name = u.intern(first.name.as_str());
            let id = u.entries.len() as PkgId;
            let slot = match u.slots.last() {
                Some(s) if s.name == name && s.arch == *arch => (u.slots.len() - 1) as SlotId,
                _ => {
                    u.slots.push(Slot { name, arch: *arch, versions: Vec::new() });
                    let s = (u.slots.len() - 1) as SlotId;
                    u.names[name as usize].slots.push(s);
                    s
                }
            };
            u.slots[slot as usize].versions.push(id);
            if *arch == 0 {
                let n = &mut u.names[name as usize];
                n.essential |= first.essential;
                n.priorities |= 1 << (first.priority as u8);
            }
            u.entries.push(Entry { pkg: first.clone(), origins, slot, name, arch: *arch });
            i = j;
        }
        for id in 0..u.entries.len() {
            let pkg = u.entries[id].pkg.clone();
            for (k, prov) in pkg.provides.iter().enumerate() {
                let n = u.intern(prov.name.as_str());
                u.names[n as usize]
                    .providers
                    .push(Provider { pkg: id as PkgId, provide: k as u32 });
            }
        }
        u
    }

    fn intern(&mut self, name: &str) -> NameId {
        if let Some(&n) = self.name_index.get(name) {
            return n;
        }
        let n = self.names.len() as NameId;
        self.names.push(NameInfo {
            name: name.into(),
            slots: Vec::new(),
            providers: Vec::new(),
            essential: false,
            priorities: 0,
        });
        self.name_index.insert(name.into(), n);
        n
    }

    pub fn name_id(&self, name: &str) -> Option<NameId> {
        self.name_index.get(name).copied()
    }

    pub fn entry(&self, id: PkgId) -> &Entry {
        &self.entries[id as usize]
    }

    pub fn pkg(&self, id: PkgId) -> &BinaryPackage {
        &self.entries[id as usize].pkg
    }

    pub fn slot_of(&self, id: PkgId) -> SlotId {
        self.entries[id as usize].slot
    }

    pub fn slot(&self, s: SlotId) -> &Slot {
        &self.slots[s as usize]
    }

    pub fn has_priority(&self, n: NameId, p: Priority) -> bool {
        self.names[n as usize].priorities & (1 << (p as u8)) != 0
    }

    /// `name` or `name:arch` for foreign architectures.
    pub fn slot_display(&self, s: SlotId) -> String {
        let slot = self.slot(s);
        let name = &self.names[slot.name as usize].name;
        if slot.arch == 0 {
            name.to_string()
        } else {
            format!("{name}:{}", self.archs[slot.arch as usize])
        }
    }

    /// `name version` (with `:arch` for foreign architectures).
    pub fn pkg_display(&self, id: PkgId) -> String {
        let e = self.entry(id);
        format!("{} {}", self.slot_display(e.slot), e.pkg.version)
    }

    /// `suite/component` of the entry's first origin, e.g. `bookworm/main`.
    pub fn origin_display(&self, id: PkgId) -> String {
        let e = self.entry(id);
        let mut s = String::new();
        for (i, o) in e.origins.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            s.push_str(&o.suite);
            s.push('/');
            s.push_str(&o.component);
        }
        s
    }

    /// Whether a relation written in a package of architecture `from_arch` accepts a package
    /// (or provider) `target`, as far as architectures go (dpkg's Multi-Arch rules).
    pub fn arch_ok(&self, from_arch: u8, qual: Option<&ArchQualifier>, target: &Entry) -> bool {
        let ma = target.pkg.multi_arch;
        match qual {
            None => target.arch == from_arch || ma == MultiArch::Foreign,
            Some(ArchQualifier::Any) => {
                target.arch == from_arch || matches!(ma, MultiArch::Allowed | MultiArch::Foreign)
            }
            Some(ArchQualifier::Native) => target.arch == 0,
            Some(ArchQualifier::Arch(a)) => {
                *self.archs[target.arch as usize] == **a || *target.pkg.architecture == **a
            }
        }
    }

    /// Whether `target` (a real package named like the relation) satisfies it.
    pub fn real_matches(&self, from_arch: u8, rel: &Relation, target: PkgId) -> bool {
        let e = self.entry(target);
        rel.version_matches(&e.pkg.version)
            && self.arch_ok(from_arch, rel.arch_qualifier.as_ref(), e)
    }

    /// Whether provider `p` satisfies `rel` through its `Provides`. An unversioned provide never
    /// satisfies a versioned relation.
    pub fn provide_matches(&self, from_arch: u8, rel: &Relation, p: Provider) -> bool {
        let e = self.entry(p.pkg);
        let Some(prov) = e.pkg.provides.get(p.provide as usize) else {
            return false;
        };
        let version_ok = match (&rel.version, provided_version(prov)) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(v)) => rel.version_matches(v),
        };
        version_ok && self.arch_ok(from_arch, rel.arch_qualifier.as_ref(), e)
    }

    /// Calls `f` for every package version satisfying `rel` (written in a package of
    /// architecture `from_arch`): real packages of that name first, then providers.
    pub fn for_each_target(&self, from_arch: u8, rel: &Relation, mut f: impl FnMut(PkgId)) {
        let Some(n) = self.name_id(rel.name.as_str()) else {
            return;
        };
        let info = &self.names[n as usize];
        for &s in &info.slots {
            for &v in &self.slot(s).versions {
                if self.real_matches(from_arch, rel, v) {
                    f(v);
                }
            }
        }
        for &p in &info.providers {
            if self.provide_matches(from_arch, rel, p) {
                f(p.pkg);
            }
        }
    }

    /// Whether the negative relation `rel` (`Conflicts`/`Breaks`) of `from` hits `target`. A
    /// package never conflicts with itself (nor with other versions or architectures of its own
    /// name), whether directly or through its own `Provides`. Without an architecture
    /// qualifier a negative relation applies to every architecture.
    pub fn negative_hits(&self, from: PkgId, rel: &Relation, target: PkgId) -> bool {
        let f = self.entry(from);
        let t = self.entry(target);
        if f.name == t.name {
            return false;
        }
        let arch_ok = |t: &Entry| match &rel.arch_qualifier {
            None => true,
            q => self.arch_ok(f.arch, q.as_ref(), t),
        };
        if t.pkg.name == rel.name && rel.version_matches(&t.pkg.version) && arch_ok(t) {
            return true;
        }
        t.pkg.provides.iter().any(|prov| {
            prov.name == rel.name
                && match (&rel.version, provided_version(prov)) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(_), Some(v)) => rel.version_matches(v),
                }
                && arch_ok(t)
        })
    }

    /// Calls `f` for every package version hit by the negative relation `rel` of `from`.
    pub fn for_each_negative_target(&self, from: PkgId, rel: &Relation, mut f: impl FnMut(PkgId)) {
        let Some(n) = self.name_id(rel.name.as_str()) else {
            return;
        };
        let info = &self.names[n as usize];
        for &s in &info.slots {
            for &v in &self.slot(s).versions {
                if self.negative_hits(from, rel, v) {
                    f(v);
                }
            }
        }
        for &p in &info.providers {
            if self.negative_hits(from, rel, p.pkg) {
                f(p.pkg);
            }
        }
    }

    /// All names (real or virtual) in id order, for suggestions.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|n| !n.slots.is_empty() || !n.providers.is_empty())
            .map(|n| &*n.name)
    }
}

/// The version a `Provides` entry provides: only `(= v)` counts (dpkg allows no other operator).
pub(crate) fn provided_version(prov: &Relation) -> Option<&DebVersion> {
    match &prov.version {
        Some((VersionOp::Eq, v)) => Some(v),
        _ => None,
    }
}
