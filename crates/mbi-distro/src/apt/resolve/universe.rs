//! The package universe: candidates deduplicated, given dense ids and indexed by name.
//!
//! Ids are assigned after sorting on the packages' own fields, so every id — and everything the
//! resolver derives from ids — is independent of the order the candidates came in.

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
    /// Range in [`Universe::origin_pool`]: every index offering the same .deb (same SHA256).
    origins: (u32, u32),
    pub slot: SlotId,
    pub name: NameId,
    /// Index into [`Universe::archs`]; `all` counts as the native architecture (0).
    pub arch: u8,
}

/// A real package: one name on one architecture. At most one of its versions is installed.
pub(crate) struct Slot {
    pub name: NameId,
    pub arch: u8,
    /// Range of entry ids, newest first (entries of a slot are contiguous).
    versions: (u32, u32),
}

/// A package that provides a name: the entry and the index of the `Provides` relation.
#[derive(Clone, Copy)]
pub(crate) struct Provider {
    pub pkg: PkgId,
    pub provide: u32,
}

/// A package name as used in relations: the real packages of that name and its providers.
pub(crate) struct NameInfo {
    /// [`name_hash`] of the text: names are ordered by (hash, text).
    hash: u64,
    /// Range of the name's text in [`Universe::name_arena`].
    text: (u32, u32),
    /// Range of slot ids (native architecture first; a name's slots are contiguous).
    slots: (u32, u32),
    /// Range in [`Universe::provider_pool`].
    providers: (u32, u32),
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
    /// `0..max(entries, slots)`: slices of it are the id ranges above.
    ids: Vec<u32>,
    origin_pool: Vec<Arc<IndexOrigin>>,
    provider_pool: Vec<Provider>,
    /// Every name's text, concatenated. Real names (ids `0..real_names`) are ordered by
    /// (hash, text), and so are the virtual names after them.
    name_arena: String,
    real_names: usize,
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
        // (name hash, index): sorting these settles almost every comparison without touching
        // the packages (one cache miss each, the dominant cost here).
        let mut keys: Vec<(u64, u32)> = Vec::new();
        for p in candidates {
            let arch = if &*p.architecture == "all" || *p.architecture == *archs[0] {
                Some(0)
            } else {
                archs.iter().position(|a| *a == p.architecture).map(|i| i as u8)
            };
            match arch {
                Some(a) => {
                    keys.push((name_hash(p.name.as_str()), pkgs.len() as u32));
                    pkgs.push((a, p));
                }
                None => dropped_foreign += 1,
            }
        }
        keys.sort_unstable();
        // Within a run of equal hashes, order by (name, arch), then newest first, then the
        // remaining fields: a total order that depends on the packages alone, not on the
        // input order.
        let full = |a: &u32, b: &u32| {
            let ((xa, pa), (xb, pb)) = (&pkgs[*a as usize], &pkgs[*b as usize]);
            pa.name
                .cmp(&pb.name)
                .then(xa.cmp(xb))
                .then_with(|| pb.version.cmp(&pa.version))
                .then_with(|| pa.architecture.cmp(&pb.architecture))
                .then_with(|| pa.version.as_str().cmp(pb.version.as_str()))
                .then_with(|| origin_key(&pa.origin).cmp(&origin_key(&pb.origin)))
                .then_with(|| pa.sha256.cmp(&pb.sha256))
                .then_with(|| pa.size.cmp(&pb.size))
        };
        let mut sorted: Vec<u32> = Vec::with_capacity(keys.len());
        let mut hashes: Vec<u64> = Vec::with_capacity(keys.len());
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len() && keys[j].0 == keys[i].0 {
                j += 1;
            }
            let start = sorted.len();
            sorted.extend(keys[i..j].iter().map(|k| k.1));
            hashes.extend(keys[i..j].iter().map(|k| k.0));
            if j - i > 1 {
                sorted[start..].sort_unstable_by(full);
            }
            i = j;
        }
        drop(keys);

        let mut u = Universe {
            archs,
            entries: Vec::with_capacity(pkgs.len()),
            slots: Vec::new(),
            names: Vec::new(),
            ids: Vec::new(),
            origin_pool: Vec::with_capacity(pkgs.len()),
            provider_pool: Vec::new(),
            name_arena: String::new(),
            real_names: 0,
            dropped_foreign,
            mismatches: Vec::new(),
        };
        let mut provided: Vec<(u64, &str, PkgId, u32)> = Vec::new();
        let mut prev: Option<(u64, &str)> = None;
        let mut i = 0;
        while i < sorted.len() {
            let (arch, first) = &pkgs[sorted[i] as usize];
            let mut j = i + 1;
            while j < sorted.len() {
                let (a2, p) = &pkgs[sorted[j] as usize];
                if a2 != arch
                    || p.name != first.name
                    || p.architecture != first.architecture
                    || p.version != first.version
                {
                    break;
                }
                j += 1;
            }
            // sorted[i..j] is one package version offered by several indexes: keep the first
            // (smallest origin) and merge the origins of identical copies.
            let o_start = u.origin_pool.len() as u32;
            u.origin_pool.push(first.origin.clone());
            for &k in &sorted[i + 1..j] {
                let dup = &pkgs[k as usize].1;
                if dup.sha256 == first.sha256 && dup.size == first.size {
                    if !u.origin_pool[o_start as usize..].contains(&dup.origin) {
                        u.origin_pool.push(dup.origin.clone());
                    }
                } else {
                    u.mismatches.push(DuplicateMismatch {
                        package: format!("{} {} {}", first.name, first.version, first.architecture),
                        kept: first.origin.clone(),
                        ignored: dup.origin.clone(),
                    });
                }
            }
            let id = u.entries.len() as u32;
            let key = (hashes[i], first.name.as_str());
            let new_name = prev != Some(key);
            prev = Some(key);
            for (k, prov) in first.provides.iter().enumerate() {
                let name = prov.name.as_str();
                provided.push((name_hash(name), name, id, k as u32));
            }
            if new_name {
                let n = u.slots.len() as u32;
                let a = u.name_arena.len() as u32;
                u.name_arena.push_str(first.name.as_str());
                u.names.push(NameInfo {
                    hash: name_hash(first.name.as_str()),
                    text: (a, u.name_arena.len() as u32),
                    slots: (n, n),
                    providers: (0, 0),
                    essential: false,
                    priorities: 0,
                });
            }
            let name = (u.names.len() - 1) as NameId;
            let new_slot = new_name || u.slots.last().is_none_or(|s| s.arch != *arch);
            if new_slot {
                u.slots.push(Slot { name, arch: *arch, versions: (id, id) });
                u.names[name as usize].slots.1 += 1;
            }
            if let Some(s) = u.slots.last_mut() {
                s.versions.1 += 1;
            }
            if *arch == 0 {
                let n = &mut u.names[name as usize];
                n.essential |= first.essential;
                n.priorities |= 1 << (first.priority as u8);
            }
            let slot = (u.slots.len() - 1) as SlotId;
            let origins = (o_start, u.origin_pool.len() as u32);
            u.entries.push(Entry { pkg: first.clone(), origins, slot, name, arch: *arch });
            i = j;
        }
        for e in &mut u.entries {
            u.origin_pool[e.origins.0 as usize..e.origins.1 as usize]
                .sort_by(|a, b| origin_key(a).cmp(&origin_key(b)));
        }
        // Real names are in sorted order already; provided names that are not real packages
        // become virtual names, appended in sorted order (a merge join, no lookups).
        let real = u.names.len();
        u.real_names = real;
        provided.sort_unstable();
        let mut virtual_texts: Vec<(u64, u32, u32)> = Vec::new();
        let mut pool: Vec<(NameId, Provider)> = Vec::with_capacity(provided.len());
        let mut r = 0usize;
        let mut last: Option<(&str, NameId)> = None;
        for (hash, name, pkg, provide) in provided {
            let n = match last {
                Some((l, n)) if l == name => n,
                _ => {
                    while r < real && u.key(r as NameId) < (hash, name) {
                        r += 1;
                    }
                    let n = if r < real && u.key(r as NameId) == (hash, name) {
                        r as NameId
                    } else {
                        let a = u.name_arena.len() as u32;
                        u.name_arena.push_str(name);
                        virtual_texts.push((hash, a, u.name_arena.len() as u32));
                        (real + virtual_texts.len() - 1) as NameId
                    };
                    last = Some((name, n));
                    n
                }
            };
            pool.push((n, Provider { pkg, provide }));
        }
        for (hash, a, b) in virtual_texts {
            u.names.push(NameInfo {
                hash,
                text: (a, b),
                slots: (0, 0),
                providers: (0, 0),
                essential: false,
                priorities: 0,
            });
        }
        // Providers grouped by name, each group in entry-id order.
        pool.sort_unstable_by_key(|(n, p)| (*n, p.pkg, p.provide));
        let mut k = 0;
        while k < pool.len() {
            let n = pool[k].0;
            let start = k;
            while k < pool.len() && pool[k].0 == n {
                k += 1;
            }
            u.names[n as usize].providers = (start as u32, k as u32);
        }
        u.provider_pool = pool.into_iter().map(|(_, p)| p).collect();
        u.ids = (0..u.entries.len().max(u.slots.len()) as u32).collect();
        u
    }

    fn key(&self, n: NameId) -> (u64, &str) {
        (self.names[n as usize].hash, self.text(n))
    }

    fn text(&self, n: NameId) -> &str {
        let (a, b) = self.names[n as usize].text;
        self.name_arena.get(a as usize..b as usize).unwrap_or("")
    }

    /// The text of a name.
    pub fn name_str(&self, n: NameId) -> &str {
        self.text(n)
    }

    /// The real packages (one per architecture) of a name.
    pub fn name_slots(&self, n: NameId) -> &[SlotId] {
        let (a, b) = self.names[n as usize].slots;
        self.ids.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// The packages providing a name.
    pub fn providers(&self, n: NameId) -> &[Provider] {
        let (a, b) = self.names[n as usize].providers;
        self.provider_pool.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// A slot's versions, newest first.
    pub fn versions(&self, s: SlotId) -> &[PkgId] {
        let (a, b) = self.slots[s as usize].versions;
        self.ids.get(a as usize..b as usize).unwrap_or(&[])
    }

    /// Every index offering an entry's file.
    pub fn origins(&self, id: PkgId) -> &[Arc<IndexOrigin>] {
        let (a, b) = self.entries[id as usize].origins;
        self.origin_pool.get(a as usize..b as usize).unwrap_or(&[])
    }

    pub fn name_id(&self, name: &str) -> Option<NameId> {
        let key = (name_hash(name), name);
        let search = |lo: usize, hi: usize| {
            let (mut lo, mut hi) = (lo, hi);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match self.key(mid as NameId).cmp(&key) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => return Some(mid as NameId),
                }
            }
            None
        };
        search(0, self.real_names).or_else(|| search(self.real_names, self.names.len()))
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
        let name = self.name_str(slot.name);
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
        let mut s = String::new();
        for (i, o) in self.origins(id).iter().enumerate() {
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
        for &s in self.name_slots(n) {
            for &v in self.versions(s) {
                if self.real_matches(from_arch, rel, v) {
                    f(v);
                }
            }
        }
        for &p in self.providers(n) {
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
        for &s in self.name_slots(n) {
            for &v in self.versions(s) {
                if self.negative_hits(from, rel, v) {
                    f(v);
                }
            }
        }
        for &p in self.providers(n) {
            if self.negative_hits(from, rel, p.pkg) {
                f(p.pkg);
            }
        }
    }

    /// All names (real or virtual) in id order, for suggestions.
    pub fn all_names(&self) -> impl Iterator<Item = &str> {
        (0..self.names.len() as NameId).map(|n| self.name_str(n))
    }
}

/// FNV-1a, 64 bits: a fixed function, so orders built on it are reproducible.
pub(crate) fn name_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The version a `Provides` entry provides: only `(= v)` counts (dpkg allows no other operator).
pub(crate) fn provided_version(prov: &Relation) -> Option<&DebVersion> {
    match &prov.version {
        Some((VersionOp::Eq, v)) => Some(v),
        _ => None,
    }
}
