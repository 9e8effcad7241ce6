//! Turning a [`FileTree`] into a deterministic tar stream.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read, Write};

use super::header::{self, BLOCK, HeaderSpec, RECORD, flag};
use crate::error::{Error, Result};
use crate::path::TreePath;
use crate::tree::{Content, Entry, EntryKind, FileTree, MAX_SYMLINK_HOPS};

/// Where tar bytes go. Implemented by plain writers and by the block splitter of the parallel
/// pipeline, which reads file content straight into its blocks.
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]) -> Result<()>;
    /// Appends up to `len` bytes read from `src`; returns how many were available.
    fn put_from(&mut self, src: &mut dyn Read, len: u64) -> Result<u64, io::Error>;
}

/// A [`Sink`] over any writer.
pub(crate) struct WriteSink<W> {
    pub(crate) inner: W,
    buf: Vec<u8>,
}

impl<W: Write> WriteSink<W> {
    pub(crate) fn new(inner: W) -> Self {
        WriteSink { inner, buf: vec![0; 64 * 1024] }
    }
}

impl<W: Write> Sink for WriteSink<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner.write_all(bytes).map_err(|e| Error::stream("writing tar stream", e))
    }

    fn put_from(&mut self, src: &mut dyn Read, len: u64) -> Result<u64, io::Error> {
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(self.buf.len() as u64) as usize;
            let n = match src.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.inner.write_all(&self.buf[..n])?;
            done += n as u64;
        }
        Ok(done)
    }
}

pub(crate) enum Emit<'a> {
    /// A full entry at `name` described by `src` (a hardlink group's primary may take the
    /// content of another member).
    Full { src: &'a Entry },
    /// A hard link header to `target`, with `meta`'s metadata.
    Link { meta: &'a Entry, target: &'a TreePath },
    /// `.wh.<name>`.
    Whiteout { meta: &'a Entry },
    /// `.wh..wh..opq` inside an opaque directory.
    Opaque { meta: &'a Entry },
}

/// Writes `tree` as a tar stream into `sink`; returns the number of bytes written.
pub(crate) fn write_tree(
    tree: &FileTree,
    source_date_epoch: i64,
    sink: &mut dyn Sink,
) -> Result<u64> {
    let items = plan(tree)?;
    let mut tar = TarEmitter::new(source_date_epoch);
    for (key, emit) in &items {
        tar.emit(key, emit, sink)?;
    }
    tar.finish(sink)
}

/// Writes tar entries one at a time, in the order given (the caller sorts them), then the end
/// of the archive. Shared by [`write_tree`] and the streaming directory writer, so both make
/// the same bytes for the same entries.
pub(crate) struct TarEmitter {
    source_date_epoch: i64,
    total: u64,
    hdr: Vec<u8>,
    name: Vec<u8>,
}

const ZEROS: [u8; BLOCK] = [0u8; BLOCK];

impl TarEmitter {
    pub(crate) fn new(source_date_epoch: i64) -> Self {
        TarEmitter {
            source_date_epoch,
            total: 0,
            hdr: Vec::with_capacity(4 * BLOCK),
            name: Vec::new(),
        }
    }

    /// Writes the entry named `key` (a path without trailing `/`) as `emit` describes it.
    pub(crate) fn emit(&mut self, key: &[u8], emit: &Emit<'_>, sink: &mut dyn Sink) -> Result<()> {
        let sde = self.source_date_epoch;
        let clamp = |t: i64| t.clamp(0, sde.max(0));
        let (hdr, name) = (&mut self.hdr, &mut self.name);
        hdr.clear();
        name.clear();
        name.extend_from_slice(key);
        let meta = match emit {
            Emit::Full { src, .. } | Emit::Link { meta: src, .. } => *src,
            Emit::Whiteout { meta } | Emit::Opaque { meta } => *meta,
        };
        let mut spec = HeaderSpec {
            name: &[],
            typeflag: flag::REGULAR,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            size: 0,
            mtime: clamp(meta.mtime),
            linkname: &[],
            dev: (0, 0),
            xattrs: &meta.xattrs,
        };
        let empty = Default::default();
        let mut content: Option<&Content> = None;
        match emit {
            Emit::Full { src, .. } => match &src.kind {
                EntryKind::File(c) => content = Some(c),
                EntryKind::Dir | EntryKind::OpaqueDir => {
                    spec.typeflag = flag::DIR;
                    name.push(b'/');
                }
                EntryKind::Symlink(t) => {
                    spec.typeflag = flag::SYMLINK;
                    spec.linkname = t;
                }
                EntryKind::CharDevice { major, minor } => {
                    spec.typeflag = flag::CHAR;
                    spec.dev = (*major, *minor);
                }
                EntryKind::BlockDevice { major, minor } => {
                    spec.typeflag = flag::BLOCK;
                    spec.dev = (*major, *minor);
                }
                EntryKind::Fifo => spec.typeflag = flag::FIFO,
                // Callers resolve links and whiteouts into the other variants.
                EntryKind::Hardlink(_) | EntryKind::Whiteout => {
                    unreachable!("planned as Link/Whiteout")
                }
            },
            Emit::Link { target, .. } => {
                spec.typeflag = flag::HARDLINK;
                spec.linkname = target.as_bytes();
                spec.xattrs = &empty;
            }
            Emit::Whiteout { .. } => spec.xattrs = &empty,
            Emit::Opaque { .. } => {
                spec.mode = 0;
                spec.uid = 0;
                spec.gid = 0;
                spec.xattrs = &empty;
            }
        }
        spec.name = name;
        match content {
            None => {
                header::encode(&spec, hdr)?;
                sink.put(hdr)?;
                self.total += hdr.len() as u64;
            }
            Some(c) => {
                let (mut reader, len) = c.open()?;
                spec.size = len;
                header::encode(&spec, hdr)?;
                sink.put(hdr)?;
                self.total += hdr.len() as u64;
                let path = c.source_path();
                let changed = |reason: String| Error::SourceChanged {
                    path: path.map(|p| p.to_path_buf()).unwrap_or_default(),
                    reason,
                };
                let n = sink.put_from(&mut reader, len).map_err(|e| match path {
                    Some(p) => Error::io("read", p, e),
                    None => Error::stream("reading content", e),
                })?;
                if n != len {
                    return Err(changed(format!("expected {len} bytes, got {n}")));
                }
                if matches!(c, Content::File(_)) {
                    let mut probe = [0u8; 1];
                    if reader.read(&mut probe).map_err(|e| changed(e.to_string()))? != 0 {
                        return Err(changed(format!("grew beyond {len} bytes")));
                    }
                }
                let pad = header::padding(len) as usize;
                sink.put(&ZEROS[..pad])?;
                self.total += len + pad as u64;
            }
        }
        Ok(())
    }

    /// Ends the archive; returns its size.
    pub(crate) fn finish(self, sink: &mut dyn Sink) -> Result<u64> {
        let total = self.total;
        // End of archive: two zero blocks, then pad to GNU tar's record size.
        let end = 2 * BLOCK as u64;
        let padded = (total + end).div_ceil(RECORD) * RECORD;
        let mut left = padded - total;
        while left > 0 {
            let n = left.min(BLOCK as u64) as usize;
            sink.put(&ZEROS[..n])?;
            left -= n as u64;
        }
        Ok(padded)
    }
}

/// Validates `tree` and lists what to emit, sorted by entry name bytes.
fn plan(tree: &FileTree) -> Result<Vec<(Cow<'_, [u8]>, Emit<'_>)>> {
    // Hardlink groups: the member with the smallest path carries the content, the others link
    // to it, so a reader always meets the content before any link to it.
    let mut primary: HashMap<&TreePath, &TreePath> = HashMap::new();
    let mut link_root: HashMap<&TreePath, &Entry> = HashMap::new();
    for e in tree.iter() {
        if let EntryKind::Hardlink(_) = e.kind {
            let root = resolve_link(tree, e)?;
            link_root.insert(&e.path, root);
            let p = primary.entry(&root.path).or_insert(&root.path);
            if e.path < **p {
                *p = &e.path;
            }
        }
    }
    let mut items: Vec<(Cow<'_, [u8]>, Emit<'_>)> = Vec::with_capacity(tree.len() + 8);
    for e in tree.iter() {
        if tree.is_implicit(&e.path) {
            // Not listed in the archive it came from; only an opaque marker inside it is.
            if e.kind == EntryKind::OpaqueDir {
                let mut k = e.path.as_bytes().to_vec();
                k.extend_from_slice(b"/.wh..wh..opq");
                items.push((Cow::Owned(k), Emit::Opaque { meta: e }));
            }
            continue;
        }
        let name = e.path.file_name();
        if name.starts_with(b".wh.") {
            return Err(Error::ReservedName {
                path: e.path.to_string(),
                reason: "names starting with '.wh.' mark whiteouts in layers",
            });
        }
        if let Some(parent) = e.path.parent()
            && tree.get(&parent).is_some_and(|p| !p.is_dir())
        {
            return Err(Error::ParentNotDirectory {
                path: e.path.to_string(),
                parent: parent.to_string(),
            });
        }
        let key = Cow::Borrowed(e.path.as_bytes());
        match &e.kind {
            EntryKind::Hardlink(_) => {
                let root = link_root[&e.path];
                let p = primary[&root.path];
                if *p == e.path {
                    items.push((key, Emit::Full { src: root }));
                } else {
                    items.push((key, Emit::Link { meta: root, target: p }));
                }
            }
            EntryKind::Whiteout => {
                let mut k = Vec::with_capacity(e.path.as_bytes().len() + 4);
                if let Some(parent) = e.path.parent() {
                    k.extend_from_slice(parent.as_bytes());
                    k.push(b'/');
                }
                k.extend_from_slice(b".wh.");
                k.extend_from_slice(name);
                items.push((Cow::Owned(k), Emit::Whiteout { meta: e }));
            }
            EntryKind::OpaqueDir => {
                items.push((key, Emit::Full { src: e }));
                let mut k = e.path.as_bytes().to_vec();
                k.extend_from_slice(b"/.wh..wh..opq");
                items.push((Cow::Owned(k), Emit::Opaque { meta: e }));
            }
            _ => match primary.get(&e.path) {
                Some(p) if **p != e.path => items.push((key, Emit::Link { meta: e, target: p })),
                _ => items.push((key, Emit::Full { src: e })),
            },
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(items)
}

/// Follows a hardlink chain to the entry that holds the object.
fn resolve_link<'a>(tree: &'a FileTree, from: &'a Entry) -> Result<&'a Entry> {
    let bad = |target: &TreePath, reason| Error::BadHardlink {
        path: from.path.to_string(),
        target: target.to_string(),
        reason,
    };
    let mut cur = from;
    let mut hops = 0;
    while let EntryKind::Hardlink(t) = &cur.kind {
        cur = tree.get(t).ok_or_else(|| bad(t, "target is not in the tree"))?;
        hops += 1;
        if hops > MAX_SYMLINK_HOPS {
            return Err(bad(t, "hardlink chain is circular or too long"));
        }
    }
    match cur.kind {
        EntryKind::Dir | EntryKind::OpaqueDir => Err(bad(&cur.path, "target is a directory")),
        EntryKind::Whiteout => Err(bad(&cur.path, "target is a whiteout")),
        _ => Ok(cur),
    }
}

/// Writes `tree` as an uncompressed, deterministic tar stream into `writer` and returns its
/// size. Entries are sorted by path bytes, mtimes clamped to `[0, source_date_epoch]`, owners
/// numeric, PAX records used only where ustar cannot express something.
pub fn write_tar_to(tree: &FileTree, source_date_epoch: i64, writer: impl Write) -> Result<u64> {
    let mut sink = WriteSink::new(io::BufWriter::with_capacity(256 * 1024, writer));
    let n = write_tree(tree, source_date_epoch, &mut sink)?;
    sink.inner.flush().map_err(|e| Error::stream("writing tar stream", e))?;
    Ok(n)
}
