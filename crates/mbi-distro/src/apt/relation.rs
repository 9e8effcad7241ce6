//! Package relationships: `Depends`, `Pre-Depends`, `Conflicts`, `Provides`, … fields.
//!
//! Grammar (Debian Policy §7.1): a field is a comma-separated list of *groups*; a group is a
//! `|`-separated list of alternatives; each alternative is
//! `name[:archqual] [(op version)] [[arch …]] [<profile …> …]`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::Error;
use crate::apt::intern::SharedStr;
use crate::apt::version::DebVersion;

/// A validated binary package name (`[a-z0-9][a-z0-9+.-]*`; dpkg also tolerates upper case in
/// old indexes, so upper case is accepted and kept).
///
/// The text is a [`SharedStr`]: names of up to 22 bytes are stored inline, longer ones are
/// shared, so neither parsing nor cloning a name allocates (the `Packages` parser shares one
/// copy of each long name per parse).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(SharedStr);

/// Whether `b` is a valid package name.
#[inline]
pub(crate) fn is_package_name(b: &[u8]) -> bool {
    match b.first() {
        Some(c) if c.is_ascii_alphanumeric() => b.iter().all(|&c| is_name_byte(c)),
        _ => false,
    }
}

/// `[A-Za-z0-9+.-]`
#[inline]
pub(crate) fn is_name_byte(c: u8) -> bool {
    crate::apt::scan::in_class::<{ crate::apt::scan::NAME }>(c)
}

impl PackageName {
    /// Validates `s` as a package name.
    pub fn new(s: &str) -> Result<Self, Error> {
        if is_package_name(s.as_bytes()) {
            Ok(PackageName(SharedStr::new(s)))
        } else {
            Err(Error::InvalidPackageName { input: s.to_owned() })
        }
    }

    /// An empty name that the `Packages` parser holds in place of a long name until the
    /// parser's shared copy of its long names exists; never handed out.
    pub(crate) fn pending() -> Self {
        PackageName(SharedStr::empty())
    }

    /// Wraps text already checked with [`is_package_name`] (the parser's interner).
    pub(crate) fn from_checked(s: SharedStr) -> Self {
        debug_assert!(is_package_name(s.as_bytes()));
        PackageName(s)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name as a [`SharedStr`] (a cheap copy).
    pub fn to_shared(&self) -> SharedStr {
        self.0.clone()
    }
}

impl TryFrom<String> for PackageName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        PackageName::new(&s)
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> String {
        n.0.into()
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::borrow::Borrow<str> for PackageName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionOp {
    /// `<<`
    Lt,
    /// `<=` (also the obsolete `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (also the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl VersionOp {
    /// Whether `candidate op bound` holds.
    pub fn matches(self, candidate: &DebVersion, bound: &DebVersion) -> bool {
        use std::cmp::Ordering::*;
        let o = candidate.cmp(bound);
        match self {
            VersionOp::Lt => o == Less,
            VersionOp::Le => o != Greater,
            VersionOp::Eq => o == Equal,
            VersionOp::Ge => o != Less,
            VersionOp::Gt => o == Greater,
        }
    }

    /// The operator as written in control files.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }
}

/// The architecture qualifier after a name: `foo:any`, `foo:native`, `foo:amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArchQualifier {
    /// `:any`: satisfied by a `Multi-Arch: allowed` package of any architecture.
    Any,
    /// `:native`: the native architecture.
    Native,
    /// An explicit architecture.
    Arch(Box<str>),
}

/// One alternative: a package name with optional qualifiers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The package (or virtual package) named.
    pub name: PackageName,
    /// `:any`, `:native` or an architecture.
    pub arch_qualifier: Option<ArchQualifier>,
    /// A version constraint.
    pub version: Option<(VersionOp, DebVersion)>,
    /// `[amd64 !i386]` restrictions (source packages only): (negated, architecture).
    pub arch_restrictions: Vec<(bool, Box<str>)>,
}

impl Relation {
    /// Whether `version` satisfies this relation's version constraint (true when it has none).
    pub fn version_matches(&self, version: &DebVersion) -> bool {
        match &self.version {
            None => true,
            Some((op, bound)) => op.matches(version, bound),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name.as_str())?;
        match &self.arch_qualifier {
            None => {}
            Some(ArchQualifier::Any) => f.write_str(":any")?,
            Some(ArchQualifier::Native) => f.write_str(":native")?,
            Some(ArchQualifier::Arch(a)) => write!(f, ":{a}")?,
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {})", op.as_str(), v)?;
        }
        if !self.arch_restrictions.is_empty() {
            f.write_str(" [")?;
            for (i, (neg, a)) in self.arch_restrictions.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{}{a}", if *neg { "!" } else { "" })?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// A group of alternatives (`a | b | c`), satisfied by any one of them.
///
/// `.0` is a [`RelationVec`], which dereferences to `[Relation]`: `&group.0` iterates,
/// `group.0.len()` and `group.0[i]` work as on a `Vec`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Alternatives(pub RelationVec);

impl Alternatives {
    /// A group of these alternatives, in order of preference.
    pub fn new(relations: Vec<Relation>) -> Self {
        Alternatives(relations.into())
    }
}

impl From<Vec<Relation>> for Alternatives {
    fn from(v: Vec<Relation>) -> Self {
        Alternatives::new(v)
    }
}

/// The relations of one [`Alternatives`] group: a vector that stores a single relation inline
/// (nine groups in ten have one), so most groups cost no allocation. It dereferences to
/// `[Relation]`; equality and hashing are those of the slice.
#[derive(Clone)]
pub struct RelationVec(Repr);

#[derive(Clone)]
enum Repr {
    One(Relation),
    /// Zero, or two and more.
    Many(Vec<Relation>),
}

impl RelationVec {
    /// An empty list.
    pub const fn new() -> Self {
        RelationVec(Repr::Many(Vec::new()))
    }

    /// A list of one relation (no allocation).
    pub fn one(r: Relation) -> Self {
        RelationVec(Repr::One(r))
    }

    /// Appends a relation.
    pub fn push(&mut self, r: Relation) {
        match &mut self.0 {
            Repr::Many(v) if v.is_empty() => self.0 = Repr::One(r),
            Repr::Many(v) => v.push(r),
            Repr::One(_) => {
                let mut v = std::mem::take(self).into_vec();
                v.push(r);
                self.0 = Repr::Many(v);
            }
        }
    }

    /// The relations as a `Vec`.
    pub fn into_vec(self) -> Vec<Relation> {
        match self.0 {
            Repr::One(r) => vec![r],
            Repr::Many(v) => v,
        }
    }

    /// The relations as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[Relation] {
        match &self.0 {
            Repr::One(r) => std::slice::from_ref(r),
            Repr::Many(v) => v,
        }
    }

    /// The relations as a mutable slice (a shared list is copied out first).
    pub fn as_mut_slice(&mut self) -> &mut [Relation] {
        match &mut self.0 {
            Repr::One(r) => std::slice::from_mut(r),
            Repr::Many(v) => v,
        }
    }
}

impl Default for RelationVec {
    fn default() -> Self {
        RelationVec::new()
    }
}

impl std::ops::Deref for RelationVec {
    type Target = [Relation];
    fn deref(&self) -> &[Relation] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for RelationVec {
    fn deref_mut(&mut self) -> &mut [Relation] {
        self.as_mut_slice()
    }
}

impl From<Vec<Relation>> for RelationVec {
    fn from(mut v: Vec<Relation>) -> Self {
        if v.len() == 1
            && let Some(r) = v.pop()
        {
            return RelationVec::one(r);
        }
        RelationVec(Repr::Many(v))
    }
}

impl From<RelationVec> for Vec<Relation> {
    fn from(v: RelationVec) -> Self {
        v.into_vec()
    }
}

impl FromIterator<Relation> for RelationVec {
    fn from_iter<I: IntoIterator<Item = Relation>>(iter: I) -> Self {
        let mut out = RelationVec::new();
        for r in iter {
            out.push(r);
        }
        out
    }
}

impl Extend<Relation> for RelationVec {
    fn extend<I: IntoIterator<Item = Relation>>(&mut self, iter: I) {
        for r in iter {
            self.push(r);
        }
    }
}

impl IntoIterator for RelationVec {
    type Item = Relation;
    type IntoIter = std::vec::IntoIter<Relation>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a RelationVec {
    type Item = &'a Relation;
    type IntoIter = std::slice::Iter<'a, Relation>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a> IntoIterator for &'a mut RelationVec {
    type Item = &'a mut Relation;
    type IntoIter = std::slice::IterMut<'a, Relation>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl PartialEq for RelationVec {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for RelationVec {}

impl PartialEq<Vec<Relation>> for RelationVec {
    fn eq(&self, other: &Vec<Relation>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<[Relation]> for RelationVec {
    fn eq(&self, other: &[Relation]) -> bool {
        self.as_slice() == other
    }
}

impl std::hash::Hash for RelationVec {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for RelationVec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for Alternatives {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// An immutable, cheaply cloned list: the relationship fields of a [`BinaryPackage`].
///
/// The `Packages` parser keeps, per chunk of the index, one table of the distinct groups of
/// alternatives (and one of the distinct relations) it met, each parsed once, plus one vector
/// of indexes into that table; a record's field is a range of the index vector. Most
/// dependencies repeat (`libc6 (>= 2.34)` thousands of times), so a record's relations cost
/// four bytes each and freeing a whole index is a few large frees. A `SharedSlice` made
/// [from a `Vec`](SharedSlice::from) owns it alone.
///
/// It behaves like a read-only `Vec`: `.iter()`, `.len()`, `.is_empty()`, `.get(i)`, `[i]`,
/// `.first()`, `for x in &s`, `.iter().chain(&other)` work; equality and hashing are those of
/// the elements in order.
///
/// [`BinaryPackage`]: crate::apt::BinaryPackage
pub struct SharedSlice<T> {
    /// `None` for an empty list. The table is published once, when the parse of its chunk
    /// ends; no record is handed out before that.
    all: Option<SliceArena<T>>,
    start: u32,
    len: u32,
}

/// The storage behind the [`SharedSlice`]s of one parse: the distinct elements and, unless it
/// is empty, the vector of indexes into them that the slices are ranges of (when it is empty,
/// slices are ranges of the elements themselves).
#[derive(Debug)]
pub(crate) struct SliceTable<T> {
    pub(crate) items: Vec<T>,
    pub(crate) ids: Vec<u32>,
}

impl<T> Default for SliceTable<T> {
    fn default() -> Self {
        SliceTable { items: Vec::new(), ids: Vec::new() }
    }
}

/// A table shared by the [`SharedSlice`]s of one parse, filled first and published after.
pub(crate) type SliceArena<T> = Arc<OnceLock<SliceTable<T>>>;

impl<T> SharedSlice<T> {
    /// An empty list (no allocation).
    pub const fn new() -> Self {
        SharedSlice { all: None, start: 0, len: 0 }
    }

    /// `arena.ids[start..end]`, once the arena is published (empty before, and when the range
    /// is empty or out of bounds).
    #[inline]
    pub(crate) fn span(arena: &SliceArena<T>, start: usize, end: usize) -> Self {
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(s), Ok(e)) if s < e => {
                SharedSlice { all: Some(arena.clone()), start: s, len: e - s }
            }
            _ => SharedSlice::new(),
        }
    }

    /// The number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.iter().len()
    }

    /// Whether the list is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `index`, if any.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&T> {
        let (items, ids) = self.parts();
        match ids {
            Some(ids) => items.get(*ids.get(index)? as usize),
            None => items.get(index),
        }
    }

    /// The first element, if any.
    pub fn first(&self) -> Option<&T> {
        self.get(0)
    }

    /// The elements in order.
    #[inline]
    pub fn iter(&self) -> SliceIter<'_, T> {
        let (items, ids) = self.parts();
        SliceIter {
            items,
            ids: match ids {
                Some(ids) => Ids::Indirect(ids.iter()),
                None => Ids::Direct(0..items.len()),
            },
        }
    }

    /// The elements, cloned into a `Vec`.
    pub fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.iter().cloned().collect()
    }

    /// The element table and, for an indexed list, this list's indexes into it; for a direct
    /// list, this list's elements.
    #[inline]
    fn parts(&self) -> (&[T], Option<&[u32]>) {
        let Some(t) = self.all.as_ref().and_then(|a| a.get()) else { return (&[], None) };
        let range = self.start as usize..self.start as usize + self.len as usize;
        if t.ids.is_empty() {
            (t.items.get(range).unwrap_or_default(), None)
        } else {
            (&t.items, Some(t.ids.get(range).unwrap_or_default()))
        }
    }
}

/// The iterator of [`SharedSlice::iter`].
#[derive(Debug)]
pub struct SliceIter<'a, T> {
    items: &'a [T],
    ids: Ids<'a>,
}

#[derive(Debug, Clone)]
enum Ids<'a> {
    Direct(std::ops::Range<usize>),
    Indirect(std::slice::Iter<'a, u32>),
}

impl<T> Clone for SliceIter<'_, T> {
    fn clone(&self) -> Self {
        SliceIter { items: self.items, ids: self.ids.clone() }
    }
}

impl<'a, T> Iterator for SliceIter<'a, T> {
    type Item = &'a T;
    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        let i = match &mut self.ids {
            Ids::Direct(r) => r.next()?,
            Ids::Indirect(it) => *it.next()? as usize,
        };
        self.items.get(i)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.ids {
            Ids::Direct(r) => r.len(),
            Ids::Indirect(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for SliceIter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let i = match &mut self.ids {
            Ids::Direct(r) => r.next_back()?,
            Ids::Indirect(it) => *it.next_back()? as usize,
        };
        self.items.get(i)
    }
}

impl<T> ExactSizeIterator for SliceIter<'_, T> {}

impl<T> std::iter::FusedIterator for SliceIter<'_, T> {}

impl<T> Default for SharedSlice<T> {
    fn default() -> Self {
        SharedSlice::new()
    }
}

impl<T> Clone for SharedSlice<T> {
    fn clone(&self) -> Self {
        SharedSlice { all: self.all.clone(), start: self.start, len: self.len }
    }
}

impl<T> std::ops::Index<usize> for SharedSlice<T> {
    type Output = T;
    /// The element at `index`; panics when out of bounds, as a slice does.
    #[track_caller]
    fn index(&self, index: usize) -> &T {
        match self.get(index) {
            Some(x) => x,
            None => panic!("index {index} out of bounds for a list of {}", self.len()),
        }
    }
}

impl<T> From<Vec<T>> for SharedSlice<T> {
    /// Takes `v` over (no copy); an empty vector is dropped.
    fn from(v: Vec<T>) -> Self {
        let (Ok(len), false) = (u32::try_from(v.len()), v.is_empty()) else {
            return SharedSlice::new();
        };
        let table = SliceTable { items: v, ids: Vec::new() };
        SharedSlice { all: Some(Arc::new(OnceLock::from(table))), start: 0, len }
    }
}

impl<T> FromIterator<T> for SharedSlice<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<'a, T> IntoIterator for &'a SharedSlice<T> {
    type Item = &'a T;
    type IntoIter = SliceIter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: PartialEq> PartialEq for SharedSlice<T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for SharedSlice<T> {}

impl<T: PartialEq> PartialEq<Vec<T>> for SharedSlice<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<T: PartialEq> PartialEq<[T]> for SharedSlice<T> {
    fn eq(&self, other: &[T]) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<T: std::hash::Hash> std::hash::Hash for SharedSlice<T> {
    /// Hashes as the slice of its elements would.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for x in self {
            x.hash(state);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Parses a relationship field (`Depends`, `Pre-Depends`, `Recommends`, `Conflicts`, `Breaks`,
/// `Provides`, `Replaces`, …) into groups of alternatives. `field` names the field in errors.
pub fn parse_relations(field: &'static str, text: &str) -> Result<Vec<Alternatives>, Error> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        let group = group.trim_matches(is_ws);
        if group.is_empty() {
            // dpkg tolerates a trailing comma; an empty group elsewhere is a syntax error.
            continue;
        }
        let mut alts = RelationVec::new();
        for alt in group.split('|') {
            alts.push(parse_relation(field, alt.trim_matches(is_ws))?);
        }
        groups.push(Alternatives(alts));
    }
    Ok(groups)
}

/// Parses a field that allows no alternatives (`Provides`, `Conflicts`, `Breaks`, `Replaces`).
pub fn parse_relation_list(field: &'static str, text: &str) -> Result<Vec<Relation>, Error> {
    let mut out = Vec::new();
    for group in parse_relations(field, text)? {
        if group.0.len() != 1 {
            return Err(Error::InvalidRelation {
                field,
                input: text.to_owned(),
                reason: "alternatives are not allowed in this field",
            });
        }
        out.extend(group.0);
    }
    Ok(out)
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Parses one alternative.
pub fn parse_relation(field: &'static str, text: &str) -> Result<Relation, Error> {
    let bad =
        |reason: &'static str| Error::InvalidRelation { field, input: text.to_owned(), reason };
    let b = text.as_bytes();
    let mut i = 0;
    let name_end = b
        .iter()
        .position(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'(' | b'[' | b'<' | b':'))
        .unwrap_or(b.len());
    let name = PackageName::new(&text[..name_end]).map_err(|_| bad("invalid package name"))?;
    i = i.max(name_end);
    let mut arch_qualifier = None;
    if b.get(i) == Some(&b':') {
        let start = i + 1;
        let end = b[start..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-'))
            .map_or(b.len(), |p| start + p);
        arch_qualifier = Some(match &text[start..end] {
            "" => return Err(bad("empty architecture qualifier")),
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            a => ArchQualifier::Arch(a.into()),
        });
        i = end;
    }
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let mut version = None;
    if b.get(i) == Some(&b'(') {
        let close = text[i..].find(')').ok_or_else(|| bad("unclosed '('"))? + i;
        let inner = text[i + 1..close].trim_matches(is_ws);
        let (op, rest) = if let Some(r) = inner.strip_prefix("<<") {
            (VersionOp::Lt, r)
        } else if let Some(r) = inner.strip_prefix("<=") {
            (VersionOp::Le, r)
        } else if let Some(r) = inner.strip_prefix(">>") {
            (VersionOp::Gt, r)
        } else if let Some(r) = inner.strip_prefix(">=") {
            (VersionOp::Ge, r)
        } else if let Some(r) = inner.strip_prefix('=') {
            (VersionOp::Eq, r)
        } else if let Some(r) = inner.strip_prefix('<') {
            (VersionOp::Le, r)
        } else if let Some(r) = inner.strip_prefix('>') {
            (VersionOp::Ge, r)
        } else {
            return Err(bad("missing version operator"));
        };
        let v = DebVersion::parse(rest.trim_matches(is_ws)).map_err(|_| bad("invalid version"))?;
        version = Some((op, v));
        i = close + 1;
        skip_ws(&mut i);
    }
    let mut arch_restrictions = Vec::new();
    if b.get(i) == Some(&b'[') {
        let close = text[i..].find(']').ok_or_else(|| bad("unclosed '['"))? + i;
        for a in text[i + 1..close].split(is_ws).filter(|a| !a.is_empty()) {
            let (neg, a) = match a.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, a),
            };
            if a.is_empty() {
                return Err(bad("empty architecture in restriction"));
            }
            arch_restrictions.push((neg, a.into()));
        }
        i = close + 1;
        skip_ws(&mut i);
    }
    // Build profiles (`<!nocheck> <stage1>`) only matter for source packages: validated, ignored.
    while b.get(i) == Some(&b'<') {
        let close = text[i..].find('>').ok_or_else(|| bad("unclosed '<'"))? + i;
        i = close + 1;
        skip_ws(&mut i);
    }
    if i != b.len() {
        return Err(bad("unexpected text after relation"));
    }
    Ok(Relation { name, arch_qualifier, version, arch_restrictions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_slice_indexed_behaves_like_a_slice() {
        use std::hash::{BuildHasher, RandomState};
        let items: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let arena: SliceArena<String> = Default::default();
        let _ = arena.set(SliceTable { items, ids: vec![2, 0, 0, 1, 2] });
        let s = SharedSlice::span(&arena, 1, 4);
        let want = vec!["a".to_string(), "a".into(), "b".into()];
        assert_eq!((s.len(), s.is_empty(), s.first()), (3, false, Some(&want[0])));
        assert_eq!((s.get(2), s.get(3), &s[1]), (Some(&want[2]), None, &want[1]));
        assert_eq!(s.to_vec(), want);
        assert_eq!(s.iter().rev().collect::<Vec<_>>(), want.iter().rev().collect::<Vec<_>>());
        assert_eq!(s.iter().len(), 3);
        assert_eq!(s, want);
        let direct = SharedSlice::from(want.clone());
        assert_eq!(s, direct);
        let rs = RandomState::new();
        assert_eq!(rs.hash_one(&s), rs.hash_one(&direct));
        assert_eq!(rs.hash_one(&s), rs.hash_one(want.as_slice()));
        assert_eq!(format!("{s:?}"), format!("{want:?}"));
        assert!(SharedSlice::span(&arena, 3, 3).is_empty());
        assert!(SharedSlice::<String>::new().iter().next().is_none());
    }

    #[test]
    fn parses_real_fields() {
        let g = parse_relations(
            "Depends",
            "libc6 (>= 2.34), libssl3 (>= 3.0.0),\n debconf (>= 0.5) | debconf-2.0, perl:any, \
             libfoo:amd64 (<< 1:2~rc1-1)",
        )
        .unwrap();
        assert_eq!(g.len(), 5);
        assert_eq!(g[2].0.len(), 2);
        assert_eq!(g[2].0[1].name.as_str(), "debconf-2.0");
        assert_eq!(g[3].0[0].arch_qualifier, Some(ArchQualifier::Any));
        let (op, v) = g[4].0[0].version.clone().unwrap();
        assert_eq!((op, v.as_str()), (VersionOp::Lt, "1:2~rc1-1"));
        assert_eq!(g[0].to_string(), "libc6 (>= 2.34)");
    }

    #[test]
    fn build_depends_syntax() {
        let g = parse_relations(
            "Build-Depends",
            "foo [amd64 !i386] <!nocheck>, bar (>= 1) [linux-any]",
        )
        .unwrap();
        assert_eq!(
            g[0].0[0].arch_restrictions,
            vec![(false, "amd64".into()), (true, "i386".into())]
        );
        assert_eq!(g[1].0[0].version.as_ref().unwrap().0, VersionOp::Ge);
    }

    #[test]
    fn obsolete_operators_and_spacing() {
        let r = parse_relation("Depends", "foo(<1.0)").unwrap();
        assert_eq!(r.version.unwrap().0, VersionOp::Le);
        let r = parse_relation("Depends", "foo ( >=  1.0 )").unwrap();
        assert_eq!(r.version.unwrap().1.as_str(), "1.0");
    }

    #[test]
    fn errors() {
        for bad in
            ["", "foo (", "foo (1.0)", "foo (>= )", "Foo_bar", "foo bar", "foo:", "foo [", "-x"]
        {
            assert!(parse_relation("Depends", bad).is_err(), "{bad:?}");
        }
        assert!(parse_relation_list("Provides", "a | b").is_err());
    }

    #[test]
    fn version_match() {
        let r = parse_relation("Depends", "foo (>= 2.0~)").unwrap();
        assert!(r.version_matches(&DebVersion::parse("2.0~rc1").unwrap()));
        assert!(!r.version_matches(&DebVersion::parse("1.9").unwrap()));
    }
}
