//! The in-memory file-tree model: what a layer contains, independent of any disk or privilege.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::path::TreePath;

/// Symlink hops allowed while resolving one path (Linux allows 40).
pub(crate) const MAX_SYMLINK_HOPS: usize = 40;

/// Where a regular file's bytes come from.
///
/// File-backed content is read only when the layer is written, so a tree describing gigabytes of
/// files costs a few hundred bytes per entry.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// Bytes held in memory.
    Bytes(Arc<[u8]>),
    /// A whole file on disk, read at write time. Its size is taken when it is opened; if it
    /// changes while being read, writing fails with [`Error::SourceChanged`].
    File(PathBuf),
    /// `len` bytes at `offset` of a bigger file, e.g. one member of an uncompressed `data.tar`
    /// spilled to disk, or a spill file made by [`FileTree::from_tar`].
    FileRange {
        /// The file holding the bytes.
        path: PathBuf,
        /// Where the content starts.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
}

impl Content {
    /// In-memory content.
    pub fn bytes(bytes: impl Into<Arc<[u8]>>) -> Content {
        Content::Bytes(bytes.into())
    }

    /// Empty content.
    pub fn empty() -> Content {
        Content::Bytes(Arc::from(&[][..]))
    }

    /// Opens the content for reading and returns the reader with the exact number of bytes it
    /// will yield.
    pub fn open(&self) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        match self {
            Content::Bytes(b) => Ok((Box::new(&b[..]), b.len() as u64)),
            Content::File(p) => {
                let (f, len) = open_regular(p)?;
                Ok((Box::new(f), len))
            }
            Content::FileRange { path, offset, len } => {
                let (mut f, size) = open_regular(path)?;
                if offset.checked_add(*len).is_none_or(|end| end > size) {
                    return Err(Error::SourceChanged {
                        path: path.clone(),
                        reason: format!("range {offset}+{len} is beyond its {size} bytes"),
                    });
                }
                f.seek(SeekFrom::Start(*offset)).map_err(|e| Error::io("seek", path, e))?;
                Ok((Box::new(f.take(*len)), *len))
            }
        }
    }

    /// Reads the whole content into memory (convenient for small files and tests).
    pub fn read_all(&self) -> Result<Vec<u8>> {
        let (mut r, len) = self.open()?;
        let mut v = Vec::with_capacity(len.min(1 << 20) as usize);
        r.read_to_end(&mut v).map_err(|e| match self.source_path() {
            Some(p) => Error::io("read", p, e),
            None => Error::stream("reading content", e),
        })?;
        if v.len() as u64 != len {
            return Err(Error::SourceChanged {
                path: self.source_path().map(Path::to_path_buf).unwrap_or_default(),
                reason: format!("expected {len} bytes, read {}", v.len()),
            });
        }
        Ok(v)
    }

    /// The file backing this content, if any.
    pub fn source_path(&self) -> Option<&Path> {
        match self {
            Content::Bytes(_) => None,
            Content::File(p) | Content::FileRange { path: p, .. } => Some(p),
        }
    }
}

/// Opens `path` for reading without blocking on FIFOs and checks that it is a regular file.
fn open_regular(path: &Path) -> Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let md = f.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !md.is_file() {
        return Err(Error::SourceChanged {
            path: path.to_path_buf(),
            reason: "is no longer a regular file".into(),
        });
    }
    Ok((f, md.len()))
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::File(p) => write!(f, "File({})", p.display()),
            Content::FileRange { path, offset, len } => {
                write!(f, "FileRange({}@{offset}+{len})", path.display())
            }
        }
    }
}

impl From<Vec<u8>> for Content {
    fn from(v: Vec<u8>) -> Self {
        Content::Bytes(v.into())
    }
}

impl From<&[u8]> for Content {
    fn from(v: &[u8]) -> Self {
        Content::Bytes(v.into())
    }
}

impl From<&str> for Content {
    fn from(v: &str) -> Self {
        Content::Bytes(v.as_bytes().into())
    }
}

/// What kind of filesystem object an [`Entry`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File(Content),
    /// A directory.
    Dir,
    /// A symbolic link with its raw target (relative or absolute, as the link says).
    Symlink(Vec<u8>),
    /// A hard link to another entry of the same tree (a file, symlink, device or fifo).
    Hardlink(TreePath),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A deletion marker: the path is removed from lower layers (written as `.wh.<name>`).
    Whiteout,
    /// A directory that hides everything lower layers have in it (a directory entry followed by
    /// `.wh..wh..opq`). Entries of the same tree below it are kept.
    OpaqueDir,
}

impl EntryKind {
    /// Directories and opaque directories.
    pub fn is_dir(&self) -> bool {
        matches!(self, EntryKind::Dir | EntryKind::OpaqueDir)
    }

    fn default_mode(&self) -> u32 {
        match self {
            EntryKind::Dir | EntryKind::OpaqueDir => 0o755,
            EntryKind::Symlink(_) => 0o777,
            EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } => 0o666,
            EntryKind::Whiteout => 0,
            _ => 0o644,
        }
    }
}

/// One filesystem object: path, kind and metadata.
///
/// Owners are plain numbers and modes include setuid/setgid/sticky, so a tree can describe a
/// root filesystem without root privileges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where the object lives.
    pub path: TreePath,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777`); other bits are ignored.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time in seconds since the Unix epoch (clamped when written).
    pub mtime: i64,
    /// Extended attributes, e.g. `security.capability`.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Entry {
    /// An entry of `kind` owned by 0:0 with mtime 0, no xattrs and the kind's usual mode
    /// (files 0644, directories 0755, symlinks 0777, devices 0666, whiteouts 0).
    pub fn new(path: TreePath, kind: EntryKind) -> Entry {
        let mode = kind.default_mode();
        Entry { path, kind, mode, uid: 0, gid: 0, mtime: 0, xattrs: BTreeMap::new() }
    }

    /// A regular file.
    pub fn file(path: TreePath, content: impl Into<Content>, mode: u32) -> Entry {
        Entry::new(path, EntryKind::File(content.into())).with_mode(mode)
    }

    /// A directory.
    pub fn dir(path: TreePath, mode: u32) -> Entry {
        Entry::new(path, EntryKind::Dir).with_mode(mode)
    }

    /// A symbolic link.
    pub fn symlink(path: TreePath, target: impl AsRef<[u8]>) -> Entry {
        Entry::new(path, EntryKind::Symlink(target.as_ref().to_vec()))
    }

    /// A hard link to `target`.
    pub fn hardlink(path: TreePath, target: TreePath) -> Entry {
        Entry::new(path, EntryKind::Hardlink(target))
    }

    /// A whiteout (deletion of `path` from lower layers).
    pub fn whiteout(path: TreePath) -> Entry {
        Entry::new(path, EntryKind::Whiteout)
    }

    /// An opaque directory.
    pub fn opaque_dir(path: TreePath, mode: u32) -> Entry {
        Entry::new(path, EntryKind::OpaqueDir).with_mode(mode)
    }

    /// Sets the mode (masked to `0o7777`).
    pub fn with_mode(mut self, mode: u32) -> Entry {
        self.mode = mode & 0o7777;
        self
    }

    /// Sets the owner.
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the modification time.
    pub fn with_mtime(mut self, mtime: i64) -> Entry {
        self.mtime = mtime;
        self
    }

    /// Adds an extended attribute.
    pub fn with_xattr(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Entry {
        self.xattrs.insert(name.into(), value.into());
        self
    }

    /// Whether this is a directory (plain or opaque).
    pub fn is_dir(&self) -> bool {
        self.kind.is_dir()
    }
}

/// A temporary file that lives as long as the trees referencing it.
pub(crate) struct SpillFile {
    pub(crate) path: tempfile::TempPath,
}

impl fmt::Debug for SpillFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpillFile({})", self.path.display())
    }
}

/// A set of entries keyed and iterated in path-byte order, with no root entry.
///
/// The tree keeps itself consistent: inserting creates missing parent directories (mode 0755,
/// owner 0:0, mtime 0), replacing a directory with a non-directory removes what was below it,
/// and removing an entry removes its descendants.
///
/// ```
/// use mbi_layer::{Entry, FileTree, TreePath};
/// let mut tree = FileTree::new();
/// let p = |s: &str| TreePath::new(s).unwrap();
/// tree.insert(Entry::file(p("usr/bin/hello"), "hi\n", 0o755)).unwrap();
/// tree.insert(Entry::symlink(p("bin"), "usr/bin")).unwrap();
/// let paths: Vec<String> = tree.iter().map(|e| e.path.to_string()).collect();
/// assert_eq!(paths, ["bin", "usr", "usr/bin", "usr/bin/hello"]);
/// // Symlinks in parents are followed as a chroot would.
/// assert_eq!(tree.resolve(&p("bin/hello"), true).unwrap().unwrap(), p("usr/bin/hello"));
/// ```
#[derive(Clone, Default)]
pub struct FileTree {
    entries: BTreeMap<TreePath, Entry>,
    /// Directories that exist only because [`FileTree::from_tar`] met a descendant whose
    /// parents the archive did not list (see [`FileTree::is_implicit`]).
    implicit: BTreeSet<TreePath>,
    spill: Vec<Arc<SpillFile>>,
}

impl fmt::Debug for FileTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.values()).finish()
    }
}

impl PartialEq for FileTree {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl FileTree {
    /// An empty tree.
    pub fn new() -> FileTree {
        FileTree::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `path`.
    pub fn get(&self, path: &TreePath) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Mutable access to the entry at `path`, e.g. to change its mode or owner.
    ///
    /// Changing `path` through this reference has no effect on where the entry is stored (the
    /// writer uses the key); turning a directory with children into a non-directory makes the
    /// tree unwritable ([`Error::ParentNotDirectory`]). Use [`FileTree::insert`] for that.
    pub fn get_mut(&mut self, path: &TreePath) -> Option<&mut Entry> {
        self.entries.get_mut(path)
    }

    /// Whether an entry exists at `path`.
    pub fn contains(&self, path: &TreePath) -> bool {
        self.entries.contains_key(path)
    }

    /// All entries in path-byte order (parents before their children).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.entries.values()
    }

    /// All paths in byte order.
    pub fn paths(&self) -> impl DoubleEndedIterator<Item = &TreePath> + '_ {
        self.entries.keys()
    }

    /// The entries strictly below `dir` (all of them for `None`, the root), in byte order.
    pub fn descendants<'a>(
        &'a self,
        dir: Option<&TreePath>,
    ) -> Box<dyn DoubleEndedIterator<Item = &'a Entry> + 'a> {
        match dir {
            None => Box::new(self.entries.values()),
            Some(d) => {
                let (lo, hi) = descendant_bounds(d);
                Box::new(
                    self.entries
                        .range::<[u8], _>((Bound::Included(&lo[..]), Bound::Excluded(&hi[..])))
                        .map(|(_, e)| e),
                )
            }
        }
    }

    /// The direct children of `dir` (of the root for `None`), in byte order.
    pub fn children<'a>(
        &'a self,
        dir: Option<&TreePath>,
    ) -> impl DoubleEndedIterator<Item = &'a Entry> + 'a {
        let depth = dir.map_or(0, TreePath::depth) + 1;
        self.descendants(dir).filter(move |e| e.path.depth() == depth)
    }

    /// Inserts `entry`, replacing what was at its path, and returns the replaced entry.
    ///
    /// Missing parents are created as directories (0755, 0:0, mtime 0). A directory replacing a
    /// directory keeps the children; anything else replacing a directory removes them. Fails
    /// with [`Error::ParentNotDirectory`] if a parent exists and is not a directory (see
    /// [`FileTree::insert_follow`] to go through symlinks instead).
    pub fn insert(&mut self, entry: Entry) -> Result<Option<Entry>> {
        let mut missing = Vec::new();
        for anc in entry.path.ancestors() {
            match self.entries.get(&anc) {
                Some(e) if e.is_dir() => {}
                Some(_) => {
                    return Err(Error::ParentNotDirectory {
                        path: entry.path.to_string(),
                        parent: anc.to_string(),
                    });
                }
                None => missing.push(anc),
            }
        }
        for anc in missing {
            self.entries.insert(anc.clone(), Entry::dir(anc, 0o755));
        }
        self.implicit.remove(&entry.path);
        let replaces_dir = self.entries.get(&entry.path).is_some_and(Entry::is_dir);
        if replaces_dir && !entry.is_dir() {
            self.remove_descendants(&entry.path);
        }
        Ok(self.entries.insert(entry.path.clone(), entry))
    }

    /// Inserts `entry` after resolving symlinks in its parent directories inside the tree, as
    /// a package manager writing into a chroot would (`lib/x` lands in `usr/lib/x` when `lib`
    /// is a symlink to `usr/lib`). Returns the path where the entry was stored.
    pub fn insert_follow(&mut self, mut entry: Entry) -> Result<TreePath> {
        let path = self.resolve_parent(&entry.path)?;
        entry.path = path.clone();
        self.insert(entry)?;
        Ok(path)
    }

    /// Removes the entry at `path` and everything below it; returns the entry.
    pub fn remove(&mut self, path: &TreePath) -> Option<Entry> {
        self.remove_descendants(path);
        self.implicit.remove(path);
        self.entries.remove(path)
    }

    /// Whether `path` is a directory the tree holds only because a tar read by
    /// [`FileTree::from_tar`] had entries below it without listing it. Such directories keep
    /// the archive's meaning: the writer does not emit them (an unpacker creates them, or
    /// follows a symlink already there) and [`FileTree::apply`] does not let them replace what
    /// the lower tree has at that path.
    pub fn is_implicit(&self, path: &TreePath) -> bool {
        self.implicit.contains(path)
    }

    pub(crate) fn mark_implicit(&mut self, path: TreePath) {
        self.implicit.insert(path);
    }

    /// Inserts `entry`, recording parents it had to create as implicit.
    pub(crate) fn insert_with_implicit_parents(&mut self, entry: Entry) -> Result<Option<Entry>> {
        let missing: Vec<TreePath> =
            entry.path.ancestors().filter(|a| !self.entries.contains_key(a)).collect();
        let replaced = self.insert(entry)?;
        self.implicit.extend(missing);
        Ok(replaced)
    }

    /// Removes everything strictly below `path`, keeping `path` itself.
    pub fn remove_descendants(&mut self, path: &TreePath) {
        let (lo, hi) = descendant_bounds(path);
        let keys: Vec<TreePath> = self
            .entries
            .range::<[u8], _>((Bound::Included(&lo[..]), Bound::Excluded(&hi[..])))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.implicit.remove(&k);
            self.entries.remove(&k);
        }
    }

    /// Resolves `path` inside the tree as if the tree were `/` of a chroot: symlinks in every
    /// component (and in the last one too when `follow_last`) are followed, absolute targets
    /// start again at the tree's root and `..` never climbs above it. Components that do not
    /// exist are kept as they are. Returns `None` when the path resolves to the root itself.
    pub fn resolve(&self, path: &TreePath, follow_last: bool) -> Result<Option<TreePath>> {
        let mut queue: VecDeque<Vec<u8>> = path.components().map(<[u8]>::to_vec).collect();
        let mut stack: Vec<u8> = Vec::new();
        let mut hops = 0usize;
        while let Some(comp) = queue.pop_front() {
            match &comp[..] {
                b"" | b"." => continue,
                b".." => {
                    let cut = stack.iter().rposition(|&b| b == b'/').unwrap_or(0);
                    stack.truncate(cut);
                    continue;
                }
                _ => {}
            }
            let mut candidate = stack.clone();
            if !candidate.is_empty() {
                candidate.push(b'/');
            }
            candidate.extend_from_slice(&comp);
            let is_last = queue.is_empty();
            if let Some(Entry { kind: EntryKind::Symlink(target), .. }) =
                self.entries.get(&candidate[..])
                && (!is_last || follow_last)
            {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::Resolve {
                        path: path.to_string(),
                        reason: "too many levels of symbolic links".into(),
                    });
                }
                if target.first() == Some(&b'/') {
                    stack.clear();
                }
                for c in target.split(|&b| b == b'/').rev() {
                    queue.push_front(c.to_vec());
                }
                continue;
            }
            if candidate.contains(&0) {
                return Err(Error::Resolve {
                    path: path.to_string(),
                    reason: "a symlink target contains a NUL byte".into(),
                });
            }
            stack = candidate;
        }
        Ok(if stack.is_empty() { None } else { Some(TreePath::from_normalised(stack)) })
    }

    /// Resolves the parent directories of `path` (see [`FileTree::resolve`]) and appends the
    /// unresolved last component.
    pub fn resolve_parent(&self, path: &TreePath) -> Result<TreePath> {
        let name = path.file_name();
        match path.parent() {
            None => Ok(path.clone()),
            Some(parent) => match self.resolve(&parent, true)? {
                None => TreePath::new(name),
                Some(dir) => dir.join(name),
            },
        }
    }

    /// Applies `upper` over `self` with overlay semantics, treating `self` as a complete
    /// filesystem: whiteouts delete, opaque directories drop what `self` had below them (and
    /// become plain directories), everything else is inserted through
    /// [`FileTree::insert_follow`], so the result matches unpacking `self` and then `upper`
    /// with [`crate::unpack_layer`]. Implicit directories of `upper` (see
    /// [`FileTree::is_implicit`]) are created only where `self` has nothing.
    pub fn apply(&mut self, upper: &FileTree) -> Result<()> {
        for e in upper.iter() {
            let path = self.resolve_parent(&e.path)?;
            if upper.is_implicit(&e.path) {
                // Keep what is there (a directory, or a symlink to follow); children of `upper`
                // create it if it is missing. An opaque marker still hides the lower content.
                if e.kind == EntryKind::OpaqueDir
                    && let Some(r) = self.resolve(&path, true)?
                    && self.get(&r).is_some_and(Entry::is_dir)
                {
                    self.remove_descendants(&r);
                }
                continue;
            }
            match &e.kind {
                EntryKind::Whiteout => {
                    self.remove(&path);
                }
                EntryKind::OpaqueDir => {
                    if self.get(&path).is_some_and(Entry::is_dir) {
                        self.remove_descendants(&path);
                    }
                    let mut d = e.clone();
                    d.path = path;
                    d.kind = EntryKind::Dir;
                    self.insert(d)?;
                }
                _ => {
                    let mut n = e.clone();
                    n.path = path;
                    self.insert(n)?;
                }
            }
        }
        for s in &upper.spill {
            if !self.spill.iter().any(|x| Arc::ptr_eq(x, s)) {
                self.spill.push(s.clone());
            }
        }
        Ok(())
    }

    /// Keeps a spill file alive as long as this tree (or a clone) exists.
    pub(crate) fn keep_spill(&mut self, spill: Arc<SpillFile>) {
        self.spill.push(spill);
    }
}

impl<'a> IntoIterator for &'a FileTree {
    type Item = &'a Entry;
    type IntoIter = std::collections::btree_map::Values<'a, TreePath, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.values()
    }
}

/// The byte range holding every descendant of `dir`: `[dir + "/", dir + "0")` ('0' follows '/').
fn descendant_bounds(dir: &TreePath) -> (Vec<u8>, Vec<u8>) {
    let mut lo = dir.as_bytes().to_vec();
    lo.push(b'/');
    let mut hi = dir.as_bytes().to_vec();
    hi.push(b'/' + 1);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TreePath {
        TreePath::new(s).unwrap()
    }

    #[test]
    fn insert_creates_parents_and_replaces() {
        let mut t = FileTree::new();
        t.insert(Entry::file(p("a/b/c"), "x", 0o600).with_owner(5, 6)).unwrap();
        assert_eq!(t.get(&p("a")).unwrap(), &Entry::dir(p("a"), 0o755));
        assert_eq!(t.get(&p("a/b")).unwrap().mode, 0o755);
        // Directory over directory keeps children.
        t.insert(Entry::dir(p("a/b"), 0o700)).unwrap();
        assert!(t.contains(&p("a/b/c")));
        assert_eq!(t.get(&p("a/b")).unwrap().mode, 0o700);
        // A file over a directory drops them.
        t.insert(Entry::file(p("a/b"), "f", 0o644)).unwrap();
        assert!(!t.contains(&p("a/b/c")));
        // A file parent refuses children.
        let err = t.insert(Entry::file(p("a/b/d"), "x", 0o644)).unwrap_err();
        assert!(matches!(err, Error::ParentNotDirectory { .. }), "{err}");
    }

    #[test]
    fn remove_is_recursive_and_exact() {
        let mut t = FileTree::new();
        for s in ["a/x", "a/y/z", "a-b", "a0", "ab"] {
            t.insert(Entry::file(p(s), "", 0o644)).unwrap();
        }
        t.remove(&p("a"));
        let left: Vec<_> = t.paths().map(|p| p.to_string()).collect();
        assert_eq!(left, ["a-b", "a0", "ab"]);
    }

    #[test]
    fn children_and_descendants() {
        let mut t = FileTree::new();
        for s in ["a/x", "a/y/z", "a-b", "b"] {
            t.insert(Entry::file(p(s), "", 0o644)).unwrap();
        }
        let c: Vec<_> = t.children(None).map(|e| e.path.to_string()).collect();
        assert_eq!(c, ["a", "a-b", "b"]);
        let c: Vec<_> = t.children(Some(&p("a"))).map(|e| e.path.to_string()).collect();
        assert_eq!(c, ["a/x", "a/y"]);
        assert_eq!(t.descendants(Some(&p("a"))).count(), 3);
    }

    #[test]
    fn resolve_like_a_chroot() {
        let mut t = FileTree::new();
        t.insert(Entry::dir(p("usr/lib"), 0o755)).unwrap();
        t.insert(Entry::symlink(p("lib"), "usr/lib")).unwrap();
        t.insert(Entry::symlink(p("var/run"), "/run")).unwrap();
        t.insert(Entry::symlink(p("up"), "../../../..")).unwrap();
        t.insert(Entry::symlink(p("loop1"), "loop2")).unwrap();
        t.insert(Entry::symlink(p("loop2"), "loop1/x")).unwrap();
        assert_eq!(t.resolve(&p("lib/x"), true).unwrap(), Some(p("usr/lib/x")));
        assert_eq!(t.resolve(&p("var/run/lock"), true).unwrap(), Some(p("run/lock")));
        assert_eq!(t.resolve(&p("up/etc/passwd"), true).unwrap(), Some(p("etc/passwd")));
        assert_eq!(t.resolve(&p("up"), true).unwrap(), None);
        assert_eq!(t.resolve(&p("lib"), false).unwrap(), Some(p("lib")));
        assert!(matches!(t.resolve(&p("loop1/a"), true), Err(Error::Resolve { .. })));
        let at = t.insert_follow(Entry::file(p("lib/libc.so"), "", 0o644)).unwrap();
        assert_eq!(at, p("usr/lib/libc.so"));
    }

    #[test]
    fn apply_overlay_semantics() {
        let mut lower = FileTree::new();
        for s in ["etc/a", "etc/b", "opt/x/1", "opt/x/2", "keep"] {
            lower.insert(Entry::file(p(s), "lower", 0o644)).unwrap();
        }
        let mut upper = FileTree::new();
        upper.insert(Entry::whiteout(p("etc/a"))).unwrap();
        upper.insert(Entry::opaque_dir(p("opt/x"), 0o700)).unwrap();
        upper.insert(Entry::file(p("opt/x/3"), "upper", 0o644)).unwrap();
        upper.insert(Entry::file(p("etc/b"), "upper", 0o600)).unwrap();
        lower.apply(&upper).unwrap();
        let paths: Vec<_> = lower.paths().map(|p| p.to_string()).collect();
        assert_eq!(paths, ["etc", "etc/b", "keep", "opt", "opt/x", "opt/x/3"]);
        assert_eq!(lower.get(&p("opt/x")).unwrap().kind, EntryKind::Dir);
        assert_eq!(lower.get(&p("opt/x")).unwrap().mode, 0o700);
        assert_eq!(lower.get(&p("etc/b")).unwrap().mode, 0o600);
    }
}
