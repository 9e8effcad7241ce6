//! Applying layers onto a directory, safely.
//!
//! Every path is resolved component by component from a descriptor of the target directory,
//! with `O_NOFOLLOW` at each step and symlinks expanded by hand as the kernel's
//! `RESOLVE_IN_ROOT` would: absolute targets restart at the target directory and `..` stops at
//! it. The last component of an entry is never followed: files are written to a temporary name
//! in the resolved parent and renamed over it. So no archive, and no sequence of layers, can
//! make the unpacker touch anything outside the target, while real images that write through
//! absolute symlinks such as `/var/run -> /run` unpack as they do in a container.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use mbi_core::Compression;

use crate::error::{Error, Result, lossy};
use crate::sys::{self, cstring};
use crate::tar::{LayerPath, TarEntry, TarKind, TarReader, clean_name};
use crate::tree::MAX_SYMLINK_HOPS;

/// Longest entry name accepted (Linux's `PATH_MAX` less the NUL).
pub const MAX_NAME_LEN: usize = 4095;

/// Options for [`unpack_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackOptions {
    /// Restore the archive's numeric owners (default: when running as root).
    pub same_owner: bool,
    /// Create device nodes (default: when running as root; otherwise they are skipped and
    /// reported).
    pub create_devices: bool,
    /// Restore extended attributes, best effort: those the filesystem or privileges refuse are
    /// reported, not fatal.
    pub xattrs: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        let root = sys::euid() == 0;
        UnpackOptions { same_owner: root, create_devices: root, xattrs: true }
    }
}

impl UnpackOptions {
    /// Restores (or not) owners.
    pub fn same_owner(mut self, yes: bool) -> Self {
        self.same_owner = yes;
        self
    }

    /// Creates (or skips) device nodes.
    pub fn create_devices(mut self, yes: bool) -> Self {
        self.create_devices = yes;
        self
    }

    /// Restores (or ignores) extended attributes.
    pub fn xattrs(mut self, yes: bool) -> Self {
        self.xattrs = yes;
        self
    }
}

/// An entry (or part of one) that was not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The entry's name in the archive.
    pub entry: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What [`unpack_layer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackReport {
    /// Archive entries applied (including directories, links and whiteouts).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Content bytes written.
    pub bytes: u64,
    /// Whiteouts and opaque markers applied.
    pub whiteouts: u64,
    /// Entries, or attributes of entries, that were skipped.
    pub skipped: Vec<SkippedEntry>,
}

/// Applies one layer (compressed as `compression`) onto `target`, which must exist. Call it
/// once per layer, lowest first, to unpack an image.
///
/// Whiteouts delete lower-layer content (`.wh.x`), opaque markers (`.wh..wh..opq`) empty a
/// directory of lower-layer content but keep what the same layer put there, as umoci does.
/// Compressed input is read to its end so that its checksum is verified (gzip's CRC-32, and a
/// zstd frame's when it has one). The blob's digest is the caller's to check
/// ([`mbi_core::BlobStore::open_verified`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mbi_core::{BlobStore, MemoryStore};
/// use mbi_layer::{Entry, FileTree, LayerWriter, TreePath, UnpackOptions, unpack_layer};
/// let mut tree = FileTree::new();
/// tree.insert(Entry::file(TreePath::new("etc/motd")?, "hi\n", 0o644))?;
/// tree.insert(Entry::symlink(TreePath::new("var/run")?, "/run"))?;
/// let store = MemoryStore::new();
/// let layer = LayerWriter::default().write_tree(&tree, &store)?;
///
/// let dir = tempfile::tempdir()?;
/// let blob = store.open(&layer.descriptor.digest)?;
/// let compression = layer.descriptor.media_type.layer_compression().unwrap();
/// let report = unpack_layer(blob, compression, dir.path(), &UnpackOptions::default())?;
/// assert_eq!(report.files, 1);
/// assert_eq!(std::fs::read(dir.path().join("etc/motd"))?, b"hi\n");
/// # Ok(()) }
/// ```
pub fn unpack_layer(
    reader: impl Read,
    compression: Compression,
    target: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport> {
    let drain = |r: &mut dyn Read, codec: &'static str| {
        io::copy(r, &mut io::sink()).map(drop).map_err(|e| Error::Codec {
            codec,
            reason: format!("after the end of the tar stream: {e}"),
        })
    };
    match compression {
        Compression::None => unpack_tar(reader, target, options),
        Compression::Gzip => {
            let mut d = flate2::read::MultiGzDecoder::new(reader);
            let report = unpack_tar(&mut d, target, options)?;
            drain(&mut d, "gzip")?;
            Ok(report)
        }
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(reader).map_err(|e| Error::Codec {
                codec: "zstd",
                reason: format!("setting up the decoder: {e}"),
            })?;
            let report = unpack_tar(&mut d, target, options)?;
            drain(&mut d, "zstd")?;
            Ok(report)
        }
    }
}

/// Applies one uncompressed tar layer onto `target` (see [`unpack_layer`]).
pub fn unpack_tar(
    reader: impl Read,
    target: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport> {
    let root = sys::open_path(target, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| Error::io("open target directory", target, e))?;
    let mut u = Unpacker {
        root: Rc::new(root),
        target,
        opts: options,
        report: UnpackReport::default(),
        upper: HashSet::new(),
        dirs: BTreeMap::new(),
        tmp_seq: 0,
        buf: vec![0; 256 * 1024],
    };
    let mut tar = TarReader::new(reader);
    while let Some(e) = tar.next_entry()? {
        u.entry(&e, &mut tar)?;
    }
    u.finish()?;
    Ok(u.report)
}

struct Meta {
    entry: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Default)]
struct DirFix {
    /// Metadata from this layer's entry for the directory.
    meta: Option<Meta>,
    /// Times before this layer changed the directory's content.
    orig: Option<(libc::timespec, libc::timespec)>,
}

/// A resolved directory: a descriptor and its path below the target.
struct Dir {
    fd: Rc<OwnedFd>,
    path: Vec<u8>,
}

struct Unpacker<'a> {
    root: Rc<OwnedFd>,
    target: &'a Path,
    opts: &'a UnpackOptions,
    report: UnpackReport,
    /// Resolved paths this layer created or changed, with their ancestors.
    upper: HashSet<Vec<u8>>,
    /// Directories whose metadata must be (re)applied once the layer is done.
    dirs: BTreeMap<Vec<u8>, DirFix>,
    tmp_seq: u64,
    buf: Vec<u8>,
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    if !dir.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn is_errno(e: &io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

fn refusable_xattr_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::ENOTSUP | libc::ERANGE | libc::E2BIG)
    )
}

impl Unpacker<'_> {
    fn fail(&self, entry: &str, op: &'static str, source: io::Error) -> Error {
        Error::Unpack { entry: entry.to_owned(), op, source }
    }

    fn skip(&mut self, entry: &str, reason: impl Into<String>) {
        self.report.skipped.push(SkippedEntry { entry: entry.to_owned(), reason: reason.into() });
    }

    fn mark_upper(&mut self, path: &[u8]) {
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                self.upper.insert(path[..i].to_vec());
            }
        }
        self.upper.insert(path.to_vec());
    }

    /// Remembers a directory's times before this layer changes what is in it.
    fn note_dir(&mut self, fd: BorrowedFd<'_>, path: &[u8], entry: &str) -> Result<()> {
        if self.dirs.get(path).is_some_and(|f| f.orig.is_some() || f.meta.is_some()) {
            return Ok(());
        }
        let st = sys::fstat(fd).map_err(|e| self.fail(entry, "stat directory", e))?;
        let a = libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec };
        let m = libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec };
        self.dirs.entry(path.to_vec()).or_default().orig = Some((a, m));
        Ok(())
    }

    /// Resolves directory components inside the target (see the module docs). With `create`,
    /// missing directories are made (0755); without, a missing or non-directory component
    /// gives `Ok(None)`.
    fn resolve(&mut self, comps: &[&[u8]], create: bool, entry: &str) -> Result<Option<Dir>> {
        let root = self.root.clone();
        let mut stack: Vec<(Rc<OwnedFd>, Vec<u8>)> = Vec::new();
        let mut queue: VecDeque<Vec<u8>> = comps.iter().map(|c| c.to_vec()).collect();
        let mut hops = 0usize;
        let path_of = |stack: &[(Rc<OwnedFd>, Vec<u8>)]| -> Vec<u8> {
            let mut v = Vec::new();
            for (_, n) in stack {
                if !v.is_empty() {
                    v.push(b'/');
                }
                v.extend_from_slice(n);
            }
            v
        };
        while let Some(c) = queue.pop_front() {
            match &c[..] {
                b"" | b"." => continue,
                b".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            let cname = cstring(&c).map_err(|e| self.fail(entry, "resolve", e))?;
            let cur = stack.last().map_or(root.clone(), |(fd, _)| fd.clone());
            let fd = match sys::open_at(cur.as_fd(), &cname, libc::O_PATH | libc::O_NOFOLLOW, 0) {
                Ok(fd) => fd,
                Err(e) if is_errno(&e, libc::ENOENT) && create => {
                    let parent = path_of(&stack);
                    self.note_dir(cur.as_fd(), &parent, entry)?;
                    match sys::mkdir_at(cur.as_fd(), &cname, 0o755) {
                        Ok(()) => {}
                        Err(e) if is_errno(&e, libc::EEXIST) => {}
                        Err(e) => return Err(self.fail(entry, "create parent directory", e)),
                    }
                    sys::chmod_at(cur.as_fd(), &cname, 0o755)
                        .map_err(|e| self.fail(entry, "chmod parent directory", e))?;
                    self.mark_upper(&join(&parent, &c));
                    sys::open_at(
                        cur.as_fd(),
                        &cname,
                        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
                        0,
                    )
                    .map_err(|e| self.fail(entry, "open parent directory", e))?
                }
                Err(e)
                    if !create && (is_errno(&e, libc::ENOENT) || is_errno(&e, libc::ENOTDIR)) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(self.fail(entry, "resolve parent directory", e)),
            };
            let st = sys::fstat(fd.as_fd()).map_err(|e| self.fail(entry, "stat", e))?;
            if sys::is_dir(&st) {
                stack.push((Rc::new(fd), c));
            } else if sys::is_symlink(&st) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::UnsafeEntry {
                        entry: entry.to_owned(),
                        reason: "too many levels of symbolic links in its parent path".into(),
                    });
                }
                let target = sys::readlink_at(cur.as_fd(), &cname)
                    .map_err(|e| self.fail(entry, "readlink", e))?;
                if target.first() == Some(&b'/') {
                    stack.clear();
                }
                for t in target.split(|&b| b == b'/').rev() {
                    queue.push_front(t.to_vec());
                }
            } else if create {
                return Err(self.fail(
                    entry,
                    "resolve parent directory",
                    io::Error::from_raw_os_error(libc::ENOTDIR),
                ));
            } else {
                return Ok(None);
            }
        }
        let path = path_of(&stack);
        let fd = stack.pop().map_or(root, |(fd, _)| fd);
        Ok(Some(Dir { fd, path }))
    }

    fn entry<R: Read>(&mut self, e: &TarEntry, tar: &mut TarReader<R>) -> Result<()> {
        let name = e.display_path();
        if e.path.len() > MAX_NAME_LEN {
            return Err(Error::UnsafeEntry {
                entry: name,
                reason: "name is longer than PATH_MAX".into(),
            });
        }
        let lp = clean_name(&e.path)
            .map_err(|r| Error::UnsafeEntry { entry: name.clone(), reason: r.into() })?;
        let meta = Meta {
            entry: name.clone(),
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
            xattrs: e.xattrs.clone(),
        };
        match lp {
            LayerPath::Root => {
                if e.kind != TarKind::Directory {
                    return Err(Error::UnsafeEntry {
                        entry: name,
                        reason: "the root can only be a directory".into(),
                    });
                }
                self.dirs.entry(Vec::new()).or_default().meta = Some(meta);
            }
            LayerPath::AufsMeta => self.skip(&name, "AUFS metadata entry ignored"),
            LayerPath::Whiteout(p) => {
                let parent = p.parent();
                let comps: Vec<&[u8]> =
                    parent.as_ref().map(|d| d.components().collect()).unwrap_or_default();
                if let Some(dir) = self.resolve(&comps, false, &name)? {
                    let victim = p.file_name().to_vec();
                    self.note_dir(dir.fd.as_fd(), &dir.path, &name)?;
                    self.remove_lower(vec![(dir.fd, dir.path, victim)], &name)?;
                }
                self.report.whiteouts += 1;
            }
            LayerPath::Opaque(d) => {
                let comps: Vec<&[u8]> =
                    d.as_ref().map(|d| d.components().collect()).unwrap_or_default();
                if let Some(dir) = self.resolve(&comps, false, &name)? {
                    self.note_dir(dir.fd.as_fd(), &dir.path, &name)?;
                    let children = sys::list_dir(dir.fd.as_fd())
                        .map_err(|e| self.fail(&name, "list directory", e))?;
                    let work = children
                        .into_iter()
                        .map(|c| (dir.fd.clone(), dir.path.clone(), c))
                        .collect();
                    self.remove_lower(work, &name)?;
                }
                self.report.whiteouts += 1;
            }
            LayerPath::Path(p) => {
                let parent = p.parent();
                let comps: Vec<&[u8]> =
                    parent.as_ref().map(|d| d.components().collect()).unwrap_or_default();
                let Some(dir) = self.resolve(&comps, true, &name)? else {
                    unreachable!("resolve with create returns a directory or an error")
                };
                self.place(e, meta, dir, p.file_name(), tar)?;
            }
        }
        self.report.entries += 1;
        Ok(())
    }

    /// Removes lower-layer content: each `(dir, dir path, name)` is removed unless this layer
    /// touched it, in which case only its untouched children are.
    fn remove_lower(
        &mut self,
        mut work: Vec<(Rc<OwnedFd>, Vec<u8>, Vec<u8>)>,
        entry: &str,
    ) -> Result<()> {
        while let Some((dfd, dpath, name)) = work.pop() {
            let full = join(&dpath, &name);
            let cname = cstring(&name).map_err(|e| self.fail(entry, "whiteout", e))?;
            if !self.upper.contains(&full) {
                self.note_dir(dfd.as_fd(), &dpath, entry)?;
                remove_all(dfd.as_fd(), &cname).map_err(|e| self.fail(entry, "remove", e))?;
                continue;
            }
            let st = sys::lstat_at(dfd.as_fd(), &cname).map_err(|e| self.fail(entry, "stat", e))?;
            if st.as_ref().is_some_and(sys::is_dir) {
                let sub = sys::open_at(
                    dfd.as_fd(),
                    &cname,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
                .map_err(|e| self.fail(entry, "open directory", e))?;
                let sub = Rc::new(sub);
                let children = sys::list_dir(sub.as_fd())
                    .map_err(|e| self.fail(entry, "list directory", e))?;
                for c in children {
                    work.push((sub.clone(), full.clone(), c));
                }
            }
        }
        Ok(())
    }

    fn tmp_name(&mut self) -> CString {
        self.tmp_seq += 1;
        CString::new(format!(".mbi-unpack-tmp.{}", self.tmp_seq))
            .expect("no NUL in a formatted name")
    }

    /// Runs `create` with fresh temporary names until one does not exist yet.
    fn with_tmp(
        &mut self,
        entry: &str,
        op: &'static str,
        mut create: impl FnMut(&CStr) -> io::Result<()>,
    ) -> Result<CString> {
        for _ in 0..1000 {
            let tmp = self.tmp_name();
            match create(&tmp) {
                Ok(()) => return Ok(tmp),
                Err(e) if is_errno(&e, libc::EEXIST) => continue,
                Err(e) => return Err(self.fail(entry, op, e)),
            }
        }
        Err(self.fail(entry, op, io::Error::from_raw_os_error(libc::EEXIST)))
    }

    fn place<R: Read>(
        &mut self,
        e: &TarEntry,
        meta: Meta,
        dir: Dir,
        name: &[u8],
        tar: &mut TarReader<R>,
    ) -> Result<()> {
        let entry = meta.entry.clone();
        let cname = cstring(name).map_err(|err| self.fail(&entry, "name", err))?;
        let dfd = dir.fd.clone();
        let d = dfd.as_fd();
        let full = join(&dir.path, name);
        self.note_dir(d, &dir.path, &entry)?;
        let existing = sys::lstat_at(d, &cname).map_err(|err| self.fail(&entry, "stat", err))?;
        let existing_is_dir = existing.as_ref().is_some_and(sys::is_dir);
        let mut tmp: Option<CString> = None;
        let result = (|| -> Result<()> {
            match &e.kind {
                TarKind::Directory => {
                    if !existing_is_dir {
                        if existing.is_some() {
                            remove_all(d, &cname)
                                .map_err(|err| self.fail(&entry, "remove", err))?;
                        }
                        sys::mkdir_at(d, &cname, 0o700)
                            .map_err(|err| self.fail(&entry, "mkdir", err))?;
                    }
                    self.dirs.entry(full.clone()).or_default().meta = Some(meta);
                    return Ok(());
                }
                TarKind::Regular => {
                    let mut fd = None;
                    let t = self.with_tmp(&entry, "create", |t| {
                        fd = Some(sys::open_at(
                            d,
                            t,
                            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                            0o600,
                        )?);
                        Ok(())
                    })?;
                    tmp = Some(t);
                    let Some(fd) = fd else { unreachable!("with_tmp succeeded") };
                    let mut file = File::from(fd);
                    let mut written = 0u64;
                    loop {
                        let n = tar.read_content(&mut self.buf)?;
                        if n == 0 {
                            break;
                        }
                        file.write_all(&self.buf[..n])
                            .map_err(|err| self.fail(&entry, "write", err))?;
                        written += n as u64;
                    }
                    self.apply_meta_fd(file.as_fd(), &meta)?;
                    self.report.files += 1;
                    self.report.bytes += written;
                }
                TarKind::Symlink(target) => {
                    let ct = cstring(target).map_err(|err| self.fail(&entry, "symlink", err))?;
                    let t = self.with_tmp(&entry, "symlink", |t| sys::symlink_at(&ct, d, t))?;
                    if self.opts.same_owner {
                        sys::lchown_at(d, &t, meta.uid, meta.gid)
                            .map_err(|err| self.fail(&entry, "chown", err))?;
                    }
                    sys::set_mtime_at_nofollow(d, &t, meta.mtime)
                        .map_err(|err| self.fail(&entry, "set times", err))?;
                    tmp = Some(t);
                    if self.opts.xattrs && !meta.xattrs.is_empty() {
                        self.skip(&entry, "extended attributes on symlinks are not restored");
                    }
                }
                TarKind::Hardlink(target) => {
                    let unsafe_link =
                        |reason: String| Error::UnsafeEntry { entry: entry.clone(), reason };
                    let tp = match clean_name(target) {
                        Ok(LayerPath::Path(tp)) => tp,
                        Ok(_) => {
                            return Err(unsafe_link("hardlink target is not a file path".into()));
                        }
                        Err(r) => return Err(unsafe_link(format!("hardlink target: {r}"))),
                    };
                    let tparent = tp.parent();
                    let tcomps: Vec<&[u8]> =
                        tparent.as_ref().map(|p| p.components().collect()).unwrap_or_default();
                    let missing =
                        || unsafe_link(format!("hardlink target {} does not exist", lossy(target)));
                    let tdir = self.resolve(&tcomps, false, &entry)?.ok_or_else(missing)?;
                    let tname =
                        cstring(tp.file_name()).map_err(|err| self.fail(&entry, "link", err))?;
                    let tst = sys::lstat_at(tdir.fd.as_fd(), &tname)
                        .map_err(|err| self.fail(&entry, "stat link target", err))?
                        .ok_or_else(missing)?;
                    if sys::is_dir(&tst) {
                        return Err(unsafe_link("hardlink target is a directory".into()));
                    }
                    if existing
                        .as_ref()
                        .is_some_and(|x| x.st_dev == tst.st_dev && x.st_ino == tst.st_ino)
                    {
                        return Ok(());
                    }
                    let t = self.with_tmp(&entry, "link", |t| {
                        sys::link_at(tdir.fd.as_fd(), &tname, d, t)
                    })?;
                    tmp = Some(t);
                }
                TarKind::CharDevice { .. } | TarKind::BlockDevice { .. } | TarKind::Fifo => {
                    let (ftype, dev) = match e.kind {
                        TarKind::CharDevice { major, minor } => {
                            (libc::S_IFCHR, sys::makedev(major, minor))
                        }
                        TarKind::BlockDevice { major, minor } => {
                            (libc::S_IFBLK, sys::makedev(major, minor))
                        }
                        _ => (libc::S_IFIFO, 0),
                    };
                    if ftype != libc::S_IFIFO && !self.opts.create_devices {
                        self.skip(&entry, "device nodes are created only when running as root");
                        return Ok(());
                    }
                    let made =
                        self.with_tmp(&entry, "mknod", |t| sys::mknod_at(d, t, ftype | 0o600, dev));
                    let t = match made {
                        Ok(t) => t,
                        Err(Error::Unpack { source, .. })
                            if ftype != libc::S_IFIFO && is_errno(&source, libc::EPERM) =>
                        {
                            self.skip(&entry, "not permitted to create device nodes");
                            return Ok(());
                        }
                        Err(err) => return Err(err),
                    };
                    tmp = Some(t.clone());
                    if self.opts.same_owner {
                        sys::lchown_at(d, &t, meta.uid, meta.gid)
                            .map_err(|err| self.fail(&entry, "chown", err))?;
                    }
                    sys::chmod_at(d, &t, meta.mode)
                        .map_err(|err| self.fail(&entry, "chmod", err))?;
                    sys::set_mtime_at_nofollow(d, &t, meta.mtime)
                        .map_err(|err| self.fail(&entry, "set times", err))?;
                }
            }
            let Some(t) = &tmp else { return Ok(()) };
            if existing_is_dir {
                remove_all(d, &cname).map_err(|err| self.fail(&entry, "remove", err))?;
            }
            sys::rename_at(d, t, d, &cname).map_err(|err| self.fail(&entry, "rename", err))?;
            // Renaming over another link to the same inode does nothing: drop the temp name.
            match sys::unlink_at(d, t, false) {
                Ok(()) => {}
                Err(err) if is_errno(&err, libc::ENOENT) => {}
                Err(err) => return Err(self.fail(&entry, "remove temporary", err)),
            }
            tmp = None;
            Ok(())
        })();
        if let Some(t) = tmp {
            let _ = sys::unlink_at(d, &t, false);
        }
        result?;
        self.mark_upper(&full);
        Ok(())
    }

    fn apply_meta_fd(&mut self, fd: BorrowedFd<'_>, meta: &Meta) -> Result<()> {
        if self.opts.same_owner {
            sys::fchown(fd, meta.uid, meta.gid).map_err(|e| self.fail(&meta.entry, "chown", e))?;
        }
        sys::fchmod(fd, meta.mode).map_err(|e| self.fail(&meta.entry, "chmod", e))?;
        if self.opts.xattrs {
            for (k, v) in &meta.xattrs {
                match sys::fsetxattr(fd, k, v) {
                    Ok(()) => {}
                    Err(e) if refusable_xattr_error(&e) => {
                        self.skip(&meta.entry, format!("xattr {k} not restored: {e}"));
                    }
                    Err(e) => return Err(self.fail(&meta.entry, "set xattr", e)),
                }
            }
        }
        sys::set_mtime_fd(fd, meta.mtime).map_err(|e| self.fail(&meta.entry, "set times", e))
    }

    /// Opens a resolved directory path again without following any symlink (a later entry may
    /// have replaced it); `None` if it is gone or no longer a directory.
    fn reopen_dir(&self, path: &[u8]) -> Option<OwnedFd> {
        let flags_mid = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        let flags_last = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        if path.is_empty() {
            return sys::open_path(self.target, libc::O_RDONLY | libc::O_DIRECTORY).ok();
        }
        let comps: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
        let mut cur: Option<OwnedFd> = None;
        for (i, c) in comps.iter().enumerate() {
            let cname = cstring(c).ok()?;
            let flags = if i + 1 == comps.len() { flags_last } else { flags_mid };
            let dirfd = cur.as_ref().map_or(self.root.as_fd(), |f| f.as_fd());
            cur = Some(sys::open_at(dirfd, &cname, flags, 0).ok()?);
        }
        cur
    }

    /// Applies directory metadata and restores the times of directories this layer changed,
    /// deepest first so that closing a parent's permissions never blocks a child.
    fn finish(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, fix) in dirs.into_iter().rev() {
            let Some(fd) = self.reopen_dir(&path) else { continue };
            if let Some(meta) = &fix.meta {
                self.apply_meta_fd(fd.as_fd(), meta)?;
            } else if let Some((a, m)) = fix.orig {
                sys::futimens(fd.as_fd(), a, m).map_err(|e| Error::Unpack {
                    entry: lossy(&path),
                    op: "restore directory times",
                    source: e,
                })?;
            }
        }
        Ok(())
    }
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following symlinks.
/// Iterative, so arbitrarily deep trees cannot exhaust the stack.
fn remove_all(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let Some(st) = sys::lstat_at(dir, name)? else { return Ok(()) };
    if !sys::is_dir(&st) {
        return sys::unlink_at(dir, name, false);
    }
    let root_uid = sys::euid() == 0;
    let open = |parent: BorrowedFd<'_>, n: &CStr| -> io::Result<(OwnedFd, Vec<Vec<u8>>)> {
        let fd = sys::open_at(parent, n, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
        if !root_uid {
            // Without privileges a read-only directory cannot be emptied: open it up first.
            let _ = sys::fchmod(fd.as_fd(), 0o700);
        }
        let names = sys::list_dir(fd.as_fd())?;
        Ok((fd, names))
    };
    struct Frame {
        fd: OwnedFd,
        name: CString,
        names: Vec<Vec<u8>>,
    }
    let (fd, names) = open(dir, name)?;
    let mut stack = vec![Frame { fd, name: name.to_owned(), names }];
    while let Some(top) = stack.last_mut() {
        match top.names.pop() {
            Some(n) => {
                let cn = cstring(&n)?;
                match sys::lstat_at(top.fd.as_fd(), &cn)? {
                    Some(st) if sys::is_dir(&st) => {
                        let (fd, names) = open(top.fd.as_fd(), &cn)?;
                        stack.push(Frame { fd, name: cn, names });
                    }
                    Some(_) => sys::unlink_at(top.fd.as_fd(), &cn, false)?,
                    None => {}
                }
            }
            None => {
                let done = stack.pop().expect("stack is not empty");
                let parent = stack.last().map_or(dir, |f| f.fd.as_fd());
                sys::unlink_at(parent, &done.name, true)?;
            }
        }
    }
    Ok(())
}
