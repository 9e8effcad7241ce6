//! Dependency resolution for apt repositories: which packages to install, why, and in what
//! order.
//!
//! ```
//! use mbi_distro::apt::{Request, Resolver, Variant};
//! # use std::sync::Arc;
//! # use mbi_distro::apt::{relation::parse_relations, BinaryPackage, DebVersion, IndexOrigin, PackageName};
//! # fn packages() -> Result<Vec<BinaryPackage>, mbi_distro::Error> {
//! #     let origin = Arc::new(IndexOrigin {
//! #         uri: "http://mirror.invalid/debian/".into(), suite: "bookworm".into(), component: "main".into(),
//! #     });
//! #     let mk = |name: &str, version: &str, depends: &str| -> Result<BinaryPackage, mbi_distro::Error> {
//! #         Ok(BinaryPackage {
//! #             name: PackageName::new(name)?, version: DebVersion::parse(version)?,
//! #             architecture: "amd64".into(), multi_arch: Default::default(), essential: false,
//! #             priority: Default::default(), section: None, source: name.into(), source_version: None,
//! #             pre_depends: Default::default(), depends: parse_relations("Depends", depends)?.into(),
//! #             recommends: Default::default(), conflicts: Default::default(), breaks: Default::default(),
//! #             provides: Default::default(), replaces: Default::default(),
//! #             filename: format!("pool/{name}_{version}_amd64.deb").into(), size: 1000,
//! #             sha256: mbi_distro::apt::Sha256([7; 32]), installed_size: None, origin: origin.clone(),
//! #         })
//! #     };
//! #     Ok(vec![mk("app", "1.0", "libfoo (>= 1.2)")?, mk("libfoo", "1.5", "libc6")?,
//! #             mk("libfoo", "1.1", "libc6")?, mk("libc6", "2.36-9", "")?])
//! # }
//!
//! // `packages()` stands for the parsed `Packages` indexes of every configured suite.
//! let resolver = Resolver::new(packages()?, "amd64");
//! let request = Request::new(Variant::Distroless).with_packages(["app"])?;
//! let resolution = resolver.resolve(&request)?;
//! let order: Vec<&str> = resolution.packages.iter().map(|p| p.package.name.as_str()).collect();
//! assert_eq!(order, ["libc6", "libfoo", "app"]); // install order
//! assert_eq!(resolution.why("libc6"), ["libc6", "libfoo", "app", "request app"]);
//! # Ok::<(), mbi_distro::Error>(())
//! ```
//!
//! # How it decides
//!
//! 1. **Policy.** Every package name has a *candidate*: the newest version across all
//!    configured indexes (so `-security` and `-updates` fixes win), unless a [pin](Request::pins)
//!    fixes the version, a [hold](Request::holds) prefers one, or an
//!    [exclude](Request::excludes) forbids the package. All indexes have equal priority (apt's
//!    default 500): leave `NotAutomatic` suites such as backports or experimental out of the
//!    universe, or request their packages by version.
//! 2. **apt's choice first.** The variant's base set, then the variant's priority set and the
//!    requested packages, are marked and their dependencies installed the way apt 2.x's
//!    `pkgDepCache::MarkInstall` does it (see `greedy.rs`): first alternative whose candidate is
//!    installable, providers ranked like apt ranks them, or-groups already satisfied skipped.
//!    When that succeeds, the install set is the one `apt-get install --no-install-recommends`
//!    (or mmdebstrap) selects.
//! 3. **Complete search when apt's greedy choice fails.** apt then gives up (or lets its
//!    problem resolver remove things); mbi hands the whole problem — every version of every
//!    package, first alternatives and newest versions preferred — to a CDCL SAT solver
//!    ([resolvo]). So mbi finds a solution whenever one exists, for instance an older version
//!    when the candidate's dependencies cannot be met, or the second alternative when the
//!    first conflicts with something requested. [`Resolution::strategy`] says which path
//!    produced the result.
//! 4. **No solution:** the error ([`Error::Unresolvable`]) lists
//!    the problems the solver proved, in words: `app 1.0 depends on libfoo (>= 2), but only
//!    libfoo 1.5 (bookworm/main) is available`, `web 2.0 conflicts with mta-a, so it cannot be
//!    installed together with …`. Unknown names come with spelling suggestions.
//!
//! # Semantics
//!
//! - `Depends` and `Pre-Depends` must be satisfied; `Recommends` only with
//!   [`Request::with_recommends`] (and then like apt: where possible).
//! - Virtual packages: `Provides: foo` satisfies `foo`; `Provides: foo (= 1.2)` also satisfies
//!   `foo (>= 1)`; an unversioned provide never satisfies a versioned dependency.
//! - `Conflicts` and `Breaks` (also against virtual names) exclude the packages they hit; a
//!   package never conflicts with itself, directly or through its own `Provides`. For a fresh
//!   install both mean the same thing.
//! - Multi-Arch: `Architecture: all` counts as the native architecture; a dependency is
//!   satisfied by a package of the same architecture, by a `Multi-Arch: foreign` one of any
//!   configured architecture, and for `:any` by a `Multi-Arch: allowed` one; `:native` and
//!   `:arch` qualifiers are honoured. Packages of architectures that are not configured are
//!   ignored (see [`Resolver::dropped_foreign`]).
//! - The same name, version and architecture offered by several indexes is one package; all
//!   indexes offering the identical file (same SHA256) are kept as its
//!   [`origins`](ResolvedPackage::origins).
//!
//! # Deliberate differences from apt
//!
//! - Where apt would give up or start removing packages, mbi searches all versions (step 3).
//! - A requested virtual package with one provider installs that provider (as apt does), in a
//!   version that provides the name; with several, mbi refuses like apt
//!   (`AmbiguousVirtualPackage`).
//! - Among equally ranked providers apt falls back to its cache's internal package ids (the
//!   order names first appear in the indexes); mbi takes the alphabetically first name, so the
//!   result does not depend on the order of the indexes.
//! - mmdebstrap's `apt` variant silently skips an `Essential: yes` package that cannot be
//!   installed; mbi reports it.
//! - Requested packages are processed in name order (apt uses its cache order), so the result
//!   does not depend on the order of the request either. Requesting one package twice
//!   (`foo (>= 1)`, `foo (<< 3)`) asks for a version both accept.
//! - When a candidate conflicts with a package already marked, apt un-marks that package and
//!   relies on its problem resolver afterwards; mbi treats the candidate as not installable and
//!   tries the next alternative (and, failing that, searches completely). A failed attempt at an
//!   alternative is rolled back entirely, where apt keeps what it marked on the way. Both only
//!   matter where apt's own marking would leave broken packages.
//! - `Recommends` (when enabled) are added on top of a complete-search result the way apt adds
//!   them: where possible, never at the expense of hard dependencies.
//!
//! # Install order
//!
//! [`Resolution::packages`] is in install order: every package after what it `Pre-Depends`
//! on, and after what it `Depends` on wherever dependency cycles allow; among packages ready at
//! the same time `Essential: yes` ones come first, then by name. Dependencies a cycle forced
//! the order to violate are listed in [`Resolution::broken_order`].

mod explain;
mod greedy;
mod order;
mod reach;
mod sat;
mod universe;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use explain::Explanation;
pub use universe::DuplicateMismatch;

use crate::Error;
use crate::apt::package::{BinaryPackage, IndexOrigin, Priority};
use crate::apt::relation::{Alternatives, PackageName, Relation, VersionOp};
use crate::apt::variant::Variant;
use crate::apt::version::DebVersion;
use universe::{PkgId, SlotId, Universe};

/// Which relationship field pulled a package in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DependencyKind {
    /// `Pre-Depends`
    PreDepends,
    /// `Depends`
    Depends,
    /// `Recommends` (only with [`Request::with_recommends`])
    Recommends,
}

impl DependencyKind {
    /// The field name.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::PreDepends => "Pre-Depends",
            DependencyKind::Depends => "Depends",
            DependencyKind::Recommends => "Recommends",
        }
    }
}

/// One requested package: `name`, `name:arch`, `name=version` or `name (op version)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageRequest {
    /// The package (or virtual package) name.
    pub name: PackageName,
    /// An architecture qualifier (`name:arm64`); `None` for the native architecture.
    pub arch: Option<Box<str>>,
    /// A version constraint; `name=version` is `(Eq, version)`.
    pub version: Option<(VersionOp, DebVersion)>,
}

impl PackageRequest {
    /// A request for the candidate version of `name`.
    pub fn name(name: PackageName) -> Self {
        PackageRequest { name, arch: None, version: None }
    }
}

impl PackageRequest {
    /// The request as a relation (`name[:arch] [(op version)]`).
    pub fn relation(&self) -> Relation {
        Relation {
            name: self.name.clone(),
            arch_qualifier: self.arch.clone().map(crate::apt::relation::ArchQualifier::Arch),
            version: self.version.clone(),
            arch_restrictions: Vec::new(),
        }
    }
}

/// A plain relation on the real package of `slot`.
fn slot_rel(u: &Universe, slot: SlotId) -> Option<Relation> {
    let first = *u.versions(slot).first()?;
    Some(Relation {
        name: u.pkg(first).name.clone(),
        arch_qualifier: None,
        version: None,
        arch_restrictions: Vec::new(),
    })
}

impl FromStr for PackageRequest {
    type Err = Error;

    /// Parses `name`, `name:arch`, `name=version` or `name (op version)` (apt's and
    /// Debian control-file syntax).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad =
            |reason: &'static str| Error::InvalidPackageRequest { input: s.to_owned(), reason };
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty request"));
        }
        let (head, version) = if let Some((h, v)) = t.split_once('=') {
            if h.ends_with(['<', '>']) || h.contains('(') {
                (t, None)
            } else {
                let v = DebVersion::parse(v.trim()).map_err(|_| bad("invalid version"))?;
                (h.trim(), Some((VersionOp::Eq, v)))
            }
        } else {
            (t, None)
        };
        if version.is_none() && head.contains(['(', '<', '>', ' ', '[', '|', ',']) {
            let rel = crate::apt::relation::parse_relation("request", head)
                .map_err(|_| bad("expected name, name:arch, name=version or name (op version)"))?;
            if !rel.arch_restrictions.is_empty() {
                return Err(bad("architecture restrictions are not allowed in a request"));
            }
            let arch = match rel.arch_qualifier {
                None => None,
                Some(crate::apt::relation::ArchQualifier::Arch(a)) => Some(a),
                Some(_) => return Err(bad("only an explicit architecture may qualify a request")),
            };
            return Ok(PackageRequest { name: rel.name, arch, version: rel.version });
        }
        let (name, arch) = match head.split_once(':') {
            Some((n, a)) => {
                if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(bad("invalid architecture qualifier"));
                }
                (n, Some(a.into()))
            }
            None => (head, None),
        };
        let name = PackageName::new(name).map_err(|_| bad("invalid package name"))?;
        Ok(PackageRequest { name, arch, version })
    }
}

impl fmt::Display for PackageRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        match &self.version {
            None => Ok(()),
            Some((VersionOp::Eq, v)) => write!(f, "={v}"),
            Some((op, v)) => write!(f, " ({} {v})", op.as_str()),
        }
    }
}

/// What to resolve: a variant's base set plus packages, under a version policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The base package set.
    pub variant: Variant,
    /// Packages to install on top of the variant.
    pub packages: Vec<PackageRequest>,
    /// Exact versions (for instance from a lockfile): if the package is installed at all, it
    /// is this version. Other versions of it are never chosen.
    pub pins: BTreeMap<PackageName, DebVersion>,
    /// Preferred versions: the resolver picks this version when it is available (instead of
    /// the newest) and moves away from it only when the request cannot be satisfied with it.
    /// Use this to re-resolve a lock while keeping its versions; use [`pins`](Self::pins)
    /// when the version must not move.
    pub holds: BTreeMap<PackageName, DebVersion>,
    /// Packages that must not be installed (also removed from the variant's base set).
    pub excludes: BTreeSet<PackageName>,
    /// Also install `Recommends` where possible (apt's `--install-recommends`). Off by default.
    pub with_recommends: bool,
}

impl Request {
    /// A request for `variant` alone.
    pub fn new(variant: Variant) -> Self {
        Request { variant, ..Request::default() }
    }

    /// Adds packages, parsed as [`PackageRequest`]s.
    pub fn with_packages<I, S>(mut self, packages: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for p in packages {
            self.packages.push(p.as_ref().parse()?);
        }
        Ok(self)
    }

    /// Pins `name` to `version`.
    pub fn pin(mut self, name: PackageName, version: DebVersion) -> Self {
        self.pins.insert(name, version);
        self
    }

    /// Prefers `version` of `name`.
    pub fn hold(mut self, name: PackageName, version: DebVersion) -> Self {
        self.holds.insert(name, version);
        self
    }

    /// Forbids `name`.
    pub fn exclude(mut self, name: PackageName) -> Self {
        self.excludes.insert(name);
        self
    }

    /// Turns `Recommends` on or off.
    pub fn recommends(mut self, on: bool) -> Self {
        self.with_recommends = on;
        self
    }

    fn summary(&self) -> String {
        let mut s = format!("variant {}", self.variant);
        if !self.packages.is_empty() {
            s.push_str(" + ");
            let p: Vec<String> = self.packages.iter().map(|p| p.to_string()).collect();
            s.push_str(&p.join(", "));
        }
        s
    }
}

/// Why a package is in a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It was requested.
    Requested(PackageRequest),
    /// It is `Essential: yes` (the variant's base set).
    Essential,
    /// The variant installs every package of this priority.
    Priority(Priority),
    /// The variant names it (`apt` in the `apt` variant).
    Variant(Variant),
    /// Another package in the resolution needs it.
    Dependency {
        /// The package whose relation pulled it in.
        of: PackageName,
        /// That package's version.
        version: DebVersion,
        /// Which field.
        kind: DependencyKind,
        /// The relation (or-group) it satisfies.
        relation: Alternatives,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requested(r) => write!(f, "requested ({r})"),
            Reason::Essential => f.write_str("Essential: yes"),
            Reason::Priority(p) => write!(f, "Priority: {}", priority_str(*p)),
            Reason::Variant(v) => write!(f, "part of the {v} variant"),
            Reason::Dependency { of, version, kind, relation } => {
                write!(f, "{of} {version} {}: {relation}", kind.as_str())
            }
        }
    }
}

fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Required => "required",
        Priority::Important => "important",
        Priority::Standard => "standard",
        Priority::Optional => "optional",
        Priority::Extra => "extra",
    }
}

/// One package of a [`Resolution`].
#[derive(Debug, Clone)]
pub struct ResolvedPackage {
    /// The chosen package version (from the first of its origins).
    pub package: Arc<BinaryPackage>,
    /// Every index offering this exact file (same name, version, architecture and SHA256),
    /// sorted.
    pub origins: Vec<Arc<IndexOrigin>>,
    /// Why it is installed (the first way it was reached, breadth first from the request).
    pub reason: Reason,
}

/// How a [`Resolution`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// apt's own algorithm succeeded: the set is what apt would select.
    AptCompatible,
    /// apt's algorithm would fail here; the complete SAT search found this set.
    Complete,
}

/// A dependency the install order does not respect because of a dependency cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenOrder {
    /// The package installed first.
    pub dependent: PackageName,
    /// What it depends on, installed later.
    pub dependency: PackageName,
    /// The field.
    pub kind: DependencyKind,
}

/// The result of [`Resolver::resolve`].
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The target architecture.
    pub architecture: Box<str>,
    /// The packages to install, in install order.
    pub packages: Vec<ResolvedPackage>,
    /// Dependencies the order had to violate to break cycles (never `Pre-Depends` unless the
    /// `Pre-Depends` themselves form a cycle).
    pub broken_order: Vec<BrokenOrder>,
    /// Which path found the set.
    pub strategy: Strategy,
}

impl Resolution {
    /// The resolved package called `name`: the native (or `all`) one if there is one, else
    /// one of another architecture.
    pub fn get(&self, name: &str) -> Option<&ResolvedPackage> {
        let native = |p: &&ResolvedPackage| {
            let a = &*p.package.architecture;
            a == "all" || a == &*self.architecture
        };
        let mut named = self.packages.iter().filter(|p| p.package.name.as_str() == name);
        let first = named.clone().next();
        named.find(native).or(first)
    }

    /// The names, sorted (`name:arch` for packages of another architecture than the target's).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .packages
            .iter()
            .map(|p| {
                let a = &*p.package.architecture;
                if a == "all" || a == &*self.architecture {
                    p.package.name.to_string()
                } else {
                    format!("{}:{a}", p.package.name)
                }
            })
            .collect();
        v.sort();
        v
    }

    /// The chain of reasons that brought `name` in: `["libfoo", "app", "request app"]`.
    pub fn why(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = self.get(name);
        while let Some(p) = cur {
            if out.len() > self.packages.len() {
                break;
            }
            out.push(p.package.name.to_string());
            cur = match &p.reason {
                Reason::Dependency { of, .. } => self.get(of.as_str()),
                other => {
                    out.push(match other {
                        Reason::Requested(r) => format!("request {r}"),
                        r => r.to_string(),
                    });
                    None
                }
            };
        }
        out
    }
}

/// Resolves requests against a fixed set of candidate packages for one architecture.
///
/// Build it once from the parsed indexes (all configured suites and components), then resolve
/// any number of requests. Building sorts and indexes the candidates (tens of milliseconds for
/// a full Debian suite); resolving the `apt` variant takes a few milliseconds.
pub struct Resolver {
    u: Universe,
}

/// Builds a [`Resolver`] with foreign architectures (dpkg's `--add-architecture`).
#[derive(Debug, Clone)]
pub struct ResolverBuilder {
    arch: Box<str>,
    foreign: Vec<Box<str>>,
}

impl ResolverBuilder {
    /// Also accept packages of `arch` (only `Multi-Arch: foreign`/`allowed` ones or packages
    /// named with `:arch` will ever be chosen).
    pub fn foreign_architecture(mut self, arch: &str) -> Self {
        self.foreign.push(arch.into());
        self
    }

    /// Builds the resolver over `candidates`.
    pub fn build<I, P>(self, candidates: I) -> Resolver
    where
        I: IntoIterator<Item = P>,
        P: Into<Arc<BinaryPackage>>,
    {
        Resolver {
            u: Universe::new(candidates.into_iter().map(Into::into), &self.arch, &self.foreign),
        }
    }

    /// [`Resolver::resolve_among`] with this builder's architectures.
    pub fn resolve_among(
        self,
        packages: &[BinaryPackage],
        request: &Request,
    ) -> Result<Resolution, Error> {
        let subset = reach::reachable(packages, request);
        if subset.len() < packages.len() {
            let r = self.clone().build(subset.iter().map(|&i| Arc::new(packages[i].clone())));
            if let Ok(res) = r.resolve(request)
                && res.strategy == Strategy::AptCompatible
            {
                return Ok(res);
            }
        }
        self.build(packages.iter().cloned()).resolve(request)
    }
}

struct Stage {
    roots: Vec<(SlotId, usize)>,
}

#[derive(Default)]
struct Roots {
    reasons: Vec<Reason>,
    sat: Vec<sat::Root>,
    in_roots: HashMap<SlotId, ()>,
}

impl Roots {
    fn add(
        &mut self,
        stage: &mut Stage,
        slot: SlotId,
        reason: Reason,
        rel: Relation,
        members: Vec<PkgId>,
    ) {
        if self.in_roots.insert(slot, ()).is_some() {
            return;
        }
        let text = match &reason {
            Reason::Requested(r) => r.to_string(),
            _ => rel.to_string(),
        };
        self.reasons.push(reason);
        stage.roots.push((slot, self.reasons.len() - 1));
        self.sat.push(sat::Root { text, rel, slots: vec![(slot, members)], missing: None });
    }
}

impl Resolver {
    /// A resolver for `arch` (the native architecture; `all` packages count as native) over
    /// `candidates`, the packages of every configured index. Packages of other architectures
    /// are ignored.
    pub fn new<I, P>(candidates: I, arch: &str) -> Resolver
    where
        I: IntoIterator<Item = P>,
        P: Into<Arc<BinaryPackage>>,
    {
        Resolver::builder(arch).build(candidates)
    }

    /// Resolves `request` for `arch` over `packages` like `Resolver::new(packages, arch)
    /// .resolve(request)` (the same result, byte for byte), but builds the resolver only from
    /// the packages the request can reach through names, dependencies and `Provides`: for an
    /// image's request that is a few percent of a distribution, so most of the cost of
    /// [`Resolver::new`] (sorting and indexing every package) disappears, and only the
    /// reachable packages are cloned. When apt's marking pass does not settle the request on
    /// that subset (a complete search is needed, or the request fails), the whole universe is
    /// used, so results, explanations and suggestions are those of [`Resolver::resolve`].
    pub fn resolve_among(
        packages: &[BinaryPackage],
        arch: &str,
        request: &Request,
    ) -> Result<Resolution, Error> {
        Resolver::builder(arch).resolve_among(packages, request)
    }

    /// A builder, for foreign architectures.
    pub fn builder(arch: &str) -> ResolverBuilder {
        ResolverBuilder { arch: arch.into(), foreign: Vec::new() }
    }

    /// The native architecture.
    pub fn architecture(&self) -> &str {
        &self.u.archs[0]
    }

    /// How many distinct package versions the resolver knows.
    pub fn len(&self) -> usize {
        self.u.entries.len()
    }

    /// Whether the resolver knows no package at all.
    pub fn is_empty(&self) -> bool {
        self.u.entries.is_empty()
    }

    /// How many candidates were ignored because of their architecture.
    pub fn dropped_foreign(&self) -> usize {
        self.u.dropped_foreign
    }

    /// Package versions offered with different contents by different indexes (only the first
    /// index's copy is used).
    pub fn duplicate_mismatches(&self) -> &[DuplicateMismatch] {
        &self.u.mismatches
    }

    /// The available versions of `name` (native architecture), newest first.
    pub fn versions(&self, name: &str) -> Vec<&BinaryPackage> {
        let Some(n) = self.u.name_id(name) else { return Vec::new() };
        self.u
            .name_slots(n)
            .iter()
            .flat_map(|&s| self.u.versions(s).iter().map(|&v| self.u.pkg(v)))
            .collect()
    }

    /// Resolves `request`. See the [module documentation](self) for the rules.
    pub fn resolve(&self, request: &Request) -> Result<Resolution, Error> {
        let u = &self.u;

        // 1. Policy.
        let policy = sat::Policy::new(u, request);
        let mut cand = policy.candidates();

        // 2. Roots, by stage.
        let mut roots = Roots::default();
        let mut stages: Vec<Stage> = Vec::new();
        let native_slot =
            |n: universe::NameId| u.name_slots(n).iter().copied().find(|&s| u.slot(s).arch == 0);
        let base_names = |pred: &dyn Fn(universe::NameId) -> Option<Reason>| {
            let mut v: Vec<(&str, SlotId, Reason)> = Vec::new();
            for n in 0..u.names.len() as universe::NameId {
                if let Some(r) = pred(n)
                    && let Some(s) = native_slot(n)
                    && !request.excludes.contains(u.name_str(n))
                {
                    v.push((u.name_str(n), s, r));
                }
            }
            v.sort_by(|a, b| a.0.cmp(b.0));
            v
        };
        if request.variant.includes_essential() {
            let mut stage = Stage { roots: Vec::new() };
            let mut base =
                base_names(&|n| u.names[n as usize].essential.then_some(Reason::Essential));
            for name in request.variant.base_packages() {
                if let Some(n) = u.name_id(name)
                    && let Some(s) = native_slot(n)
                    && !request.excludes.contains(*name)
                {
                    base.push((name, s, Reason::Variant(request.variant)));
                }
            }
            for (_, s, r) in base {
                let members = policy.allowed(s).into_owned();
                if let Some(rel) = slot_rel(u, s) {
                    roots.add(&mut stage, s, r, rel, members);
                }
            }
            stages.push(stage);
        }
        let mut stage = Stage { roots: Vec::new() };
        let prio = base_names(&|n| {
            [Priority::Required, Priority::Important, Priority::Standard]
                .into_iter()
                .find(|&p| request.variant.includes_priority(p) && u.has_priority(n, p))
                .map(Reason::Priority)
        });
        for (_, s, r) in prio {
            let members = policy.allowed(s).into_owned();
            if let Some(rel) = slot_rel(u, s) {
                roots.add(&mut stage, s, r, rel, members);
            }
        }
        let mut user: Vec<&PackageRequest> = request.packages.iter().collect();
        user.sort_by(|a, b| {
            (a.name.as_str(), &a.arch, a.to_string()).cmp(&(
                b.name.as_str(),
                &b.arch,
                b.to_string(),
            ))
        });
        for req in user {
            let (slot, members) = self.request_slot(req, &policy)?;
            if roots.in_roots.contains_key(&slot) {
                // Already a root (base set or an earlier request): narrow it to the versions
                // both accept.
                if let Some(r) = roots.sat.iter_mut().find(|r| r.slots[0].0 == slot) {
                    r.slots[0].1.retain(|v| members.contains(v));
                    if r.text == req.name.as_str() {
                        r.text = req.to_string();
                    } else {
                        r.text = format!("{}, {req}", r.text);
                    }
                }
            } else {
                roots.add(
                    &mut stage,
                    slot,
                    Reason::Requested(req.clone()),
                    req.relation(),
                    members,
                );
            }
            // apt: `name=version` (or a constraint) makes that version the candidate.
            let accepted = roots.sat.iter().find(|r| r.slots[0].0 == slot).map(|r| &r.slots[0].1);
            let c = &mut cand[slot as usize];
            match accepted {
                Some(v) if v.is_empty() => *c = None,
                Some(v) if !c.is_some_and(|c| v.contains(&c)) => *c = v.first().copied(),
                _ => {}
            }
        }
        stages.push(stage);

        // 3. apt's algorithm.
        let mut strategy = Strategy::AptCompatible;
        let mut g = greedy::Greedy::new(u, &cand, request.with_recommends);
        let mut ok = true;
        'stages: for stage in &stages {
            for &(s, _) in &stage.roots {
                if !g.mark_root(s) {
                    ok = false;
                    break 'stages;
                }
            }
            for &(s, _) in &stage.roots {
                if !g.complete_root(s) {
                    ok = false;
                    break 'stages;
                }
            }
        }
        let mut chosen = if ok { g.marked() } else { Vec::new() };
        if ok && check(u, &chosen).is_err() {
            ok = false;
        }

        // 4. The complete search.
        if !ok {
            strategy = Strategy::Complete;
            let provider = sat::Provider::new(u, &policy);
            chosen = provider.solve(&roots.sat).map_err(|explanation| Error::Unresolvable {
                request: request.summary(),
                explanation,
            })?;
            if request.with_recommends {
                let mut g = greedy::Greedy::new(u, &cand, true);
                for &p in &chosen {
                    g.preset(p);
                }
                for &p in &chosen {
                    g.install_recommends(p, 0);
                }
                chosen = g.marked();
            }
            if let Err(problem) = check(u, &chosen) {
                return Err(Error::Unresolvable {
                    request: request.summary(),
                    explanation: Explanation::new(vec![format!(
                        "internal error: the solver returned an inconsistent set ({problem})"
                    )]),
                });
            }
        }
        chosen.sort_unstable();

        // 5. Reasons, pruning, order.
        let root_pkgs: Vec<(usize, PkgId)> = stages
            .iter()
            .flat_map(|s| s.roots.iter())
            .filter_map(|&(slot, r)| {
                chosen.iter().find(|&&p| u.slot_of(p) == slot).map(|&p| (r, p))
            })
            .collect();
        let reached = order::reasons(u, &chosen, &root_pkgs, request.with_recommends);
        let mut reached_pkgs: Vec<PkgId> = reached.iter().map(|(p, _)| *p).collect();
        reached_pkgs.sort_unstable();
        let (ordered, broken) = order::install_order(u, &reached_pkgs);
        let mut reason_of: HashMap<PkgId, Reason> = HashMap::with_capacity(reached.len());
        for (p, r) in reached {
            let reason = match r {
                order::Reached::Root(i) => roots.reasons[i].clone(),
                order::Reached::Dep { of, kind, group } => Reason::Dependency {
                    of: u.pkg(of).name.clone(),
                    version: u.pkg(of).version.clone(),
                    kind,
                    relation: group,
                },
            };
            reason_of.insert(p, reason);
        }
        let packages = ordered
            .into_iter()
            .filter_map(|p| {
                let e = u.entry(p);
                Some(ResolvedPackage {
                    package: e.pkg.clone(),
                    origins: u.origins(p).to_vec(),
                    reason: reason_of.remove(&p)?,
                })
            })
            .collect();
        let broken_order = broken
            .into_iter()
            .map(|b| BrokenOrder {
                dependent: u.pkg(b.dependent).name.clone(),
                dependency: u.pkg(b.dependency).name.clone(),
                kind: b.kind,
            })
            .collect();
        Ok(Resolution { architecture: u.archs[0].clone(), packages, broken_order, strategy })
    }

    /// The slot a user request installs and the versions it accepts (policy applied).
    fn request_slot(
        &self,
        req: &PackageRequest,
        policy: &sat::Policy<'_>,
    ) -> Result<(SlotId, Vec<PkgId>), Error> {
        let u = &self.u;
        let unknown = || Error::UnknownPackage {
            name: match &req.arch {
                Some(a) => format!("{}:{a}", req.name),
                None => req.name.to_string(),
            },
            suggestions: explain::suggestions(req.name.as_str(), u.all_names()),
        };
        let n = u.name_id(req.name.as_str()).ok_or_else(unknown)?;
        let want_arch = |s: SlotId| match &req.arch {
            None => u.slot(s).arch == 0,
            Some(a) => {
                let arch = if &**a == "all" { 0 } else { u.slot(s).arch };
                *u.archs[arch as usize] == **a || (&**a == "all" && u.slot(s).arch == 0)
            }
        };
        let slot = match u.name_slots(n).iter().copied().find(|&s| want_arch(s)) {
            Some(s) => s,
            None => {
                // A virtual package: its single provider, as apt does.
                let mut provs: Vec<SlotId> = u
                    .providers(n)
                    .iter()
                    .map(|p| u.slot_of(p.pkg))
                    .filter(|&s| want_arch(s))
                    .collect();
                provs.sort_unstable();
                provs.dedup();
                match provs.as_slice() {
                    [] => return Err(unknown()),
                    [one] => *one,
                    many => {
                        let mut providers: Vec<String> =
                            many.iter().map(|&s| u.slot_display(s)).collect();
                        providers.sort();
                        return Err(Error::AmbiguousVirtualPackage {
                            name: req.name.to_string(),
                            providers,
                        });
                    }
                }
            }
        };
        let is_real = u.slot(slot).name == n;
        // For a virtual name, only the provider's versions that provide it (a newer version
        // may have dropped the Provides).
        let members = policy
            .allowed(slot)
            .iter()
            .copied()
            .filter(|&v| match &req.version {
                None if is_real => true,
                Some((op, bound)) if is_real => op.matches(&u.pkg(v).version, bound),
                version => u.pkg(v).provides.iter().any(|p| {
                    p.name == req.name
                        && version.as_ref().is_none_or(|(op, bound)| {
                            universe::provided_version(p).is_some_and(|pv| op.matches(pv, bound))
                        })
                }),
            })
            .collect();
        Ok((slot, members))
    }
}

/// Checks a chosen set: one version per package, every hard dependency satisfied by a chosen
/// package, no `Conflicts`/`Breaks` between chosen packages.
fn check(u: &Universe, chosen: &[PkgId]) -> Result<(), String> {
    let mut by_slot: HashMap<SlotId, PkgId> = HashMap::with_capacity(chosen.len());
    for &p in chosen {
        if by_slot.insert(u.slot_of(p), p).is_some() {
            return Err(format!("two versions of {}", u.pkg(p).name));
        }
    }
    let is_chosen = |t: PkgId| by_slot.get(&u.slot_of(t)) == Some(&t);
    for &p in chosen {
        let pkg = u.pkg(p);
        let arch = u.entry(p).arch;
        for g in pkg.pre_depends.iter().chain(&pkg.depends) {
            let mut ok = false;
            for rel in &g.0 {
                u.for_each_target(arch, rel, |t| ok |= is_chosen(t));
            }
            if !ok {
                return Err(format!("{} {}: unsatisfied {g}", pkg.name, pkg.version));
            }
        }
        for rel in pkg.conflicts.iter().chain(&pkg.breaks) {
            let mut hit = None;
            u.for_each_negative_target(p, rel, |t| {
                if is_chosen(t) {
                    hit = Some(t)
                }
            });
            if let Some(t) = hit {
                return Err(format!("{} {} vs {}: {rel}", pkg.name, pkg.version, u.pkg(t).name));
            }
        }
    }
    Ok(())
}
