//! Reading a [`FileTree`] from an existing tar stream, with bounded memory.

use std::io::{self, BufWriter, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::tar::{LayerPath, TarKind, TarReader, clean_name};
use crate::tree::{Content, Entry, EntryKind, FileTree, SpillFile};

/// Options for [`FileTree::from_tar`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FromTarOptions {
    /// Where large file contents are spilled (one temporary file per tree, deleted when the
    /// last clone of the tree is dropped). `None` uses the system temporary directory.
    pub spill_dir: Option<PathBuf>,
    /// Files up to this size are kept in memory (while `memory_budget` allows).
    pub inline_limit: u64,
    /// Total bytes of file content kept in memory; beyond it everything is spilled.
    pub memory_budget: u64,
}

impl Default for FromTarOptions {
    fn default() -> Self {
        FromTarOptions { spill_dir: None, inline_limit: 64 * 1024, memory_budget: 16 << 20 }
    }
}

impl FromTarOptions {
    /// Sets the spill directory.
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Sets the in-memory limits (per file, total).
    pub fn memory(mut self, inline_limit: u64, memory_budget: u64) -> Self {
        self.inline_limit = inline_limit;
        self.memory_budget = memory_budget;
        self
    }
}

struct Spill {
    writer: BufWriter<tempfile::NamedTempFile>,
    offset: u64,
}

impl FileTree {
    /// Reads an uncompressed tar stream (a layer, a `data.tar`, …) into a tree.
    ///
    /// Names are cleaned as [`crate::unpack_layer`] cleans them (`./`, leading `/`, inner
    /// `..`), and a name climbing above the root is refused with [`Error::UnsafeEntry`].
    /// `.wh.<name>` entries become [`EntryKind::Whiteout`] and `.wh..wh..opq` turns its
    /// directory into [`EntryKind::OpaqueDir`]; a later entry for the same path replaces an
    /// earlier one. Small files stay in memory, larger ones are copied into one spill file and
    /// referenced as [`Content::FileRange`], so memory stays bounded whatever the tar's size.
    pub fn from_tar(reader: impl Read, options: &FromTarOptions) -> Result<FileTree> {
        let mut tar = TarReader::new(reader);
        let mut tree = FileTree::new();
        let mut spill: Option<Spill> = None;
        let mut in_memory = 0u64;
        while let Some(e) = tar.next_entry()? {
            let name = e.display_path();
            let unsafe_entry = |reason: &str| Error::UnsafeEntry {
                entry: name.clone(),
                reason: reason.to_owned(),
            };
            let lp = clean_name(&e.path).map_err(unsafe_entry)?;
            let meta = |path, kind| {
                let mut en = Entry::new(path, kind).with_mode(e.mode).with_owner(e.uid, e.gid);
                en.mtime = e.mtime;
                en.xattrs = e.xattrs.clone();
                en
            };
            match lp {
                LayerPath::Root | LayerPath::AufsMeta => {}
                LayerPath::Whiteout(p) => {
                    tree.insert_with_implicit_parents(meta(p, EntryKind::Whiteout))?;
                }
                LayerPath::Opaque(None) => {
                    return Err(unsafe_entry(
                        "an opaque marker for the root cannot be represented in a file tree",
                    ));
                }
                LayerPath::Opaque(Some(dir)) => match tree.get_mut(&dir) {
                    Some(d) if d.is_dir() => d.kind = EntryKind::OpaqueDir,
                    _ => {
                        // The marker alone does not create the directory in an unpacker.
                        tree.insert_with_implicit_parents(Entry::opaque_dir(dir.clone(), 0o755))?;
                        tree.mark_implicit(dir);
                    }
                },
                LayerPath::Path(p) => {
                    let kind = match &e.kind {
                        TarKind::Regular => {
                            let size = e.size;
                            let content = if size <= options.inline_limit
                                && in_memory + size <= options.memory_budget
                            {
                                let mut v = Vec::with_capacity(size as usize);
                                tar.content()
                                    .read_to_end(&mut v)
                                    .map_err(|err| Error::stream("reading tar content", err))?;
                                in_memory += size;
                                Content::Bytes(v.into())
                            } else {
                                let s = match &mut spill {
                                    Some(s) => s,
                                    None => spill.insert(new_spill(options)?),
                                };
                                let path = s.writer.get_ref().path().to_path_buf();
                                let n = io::copy(&mut tar.content(), &mut s.writer)
                                    .map_err(|err| Error::io("write spill file", &path, err))?;
                                let offset = s.offset;
                                s.offset += n;
                                Content::FileRange { path, offset, len: n }
                            };
                            EntryKind::File(content)
                        }
                        TarKind::Directory => match tree.get(&p) {
                            Some(d) if d.kind == EntryKind::OpaqueDir => EntryKind::OpaqueDir,
                            _ => EntryKind::Dir,
                        },
                        TarKind::Symlink(t) => EntryKind::Symlink(t.clone()),
                        TarKind::Hardlink(t) => match clean_name(t) {
                            Ok(LayerPath::Path(target)) => EntryKind::Hardlink(target),
                            Ok(_) => {
                                return Err(unsafe_entry("hardlink target is not a file path"));
                            }
                            Err(r) => return Err(unsafe_entry(&format!("hardlink target: {r}"))),
                        },
                        TarKind::CharDevice { major, minor } => {
                            EntryKind::CharDevice { major: *major, minor: *minor }
                        }
                        TarKind::BlockDevice { major, minor } => {
                            EntryKind::BlockDevice { major: *major, minor: *minor }
                        }
                        TarKind::Fifo => EntryKind::Fifo,
                    };
                    tree.insert_with_implicit_parents(meta(p, kind))?;
                }
            }
        }
        if let Some(s) = spill {
            let path = s.writer.get_ref().path().to_path_buf();
            let file = s
                .writer
                .into_inner()
                .map_err(|e| Error::io("write spill file", path, e.into_error()))?;
            tree.keep_spill(Arc::new(SpillFile { path: file.into_temp_path() }));
        }
        Ok(tree)
    }
}

fn new_spill(options: &FromTarOptions) -> Result<Spill> {
    let dir = options.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let f = tempfile::Builder::new()
        .prefix(".mbi-spill-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create spill file in", &dir, e))?;
    Ok(Spill { writer: BufWriter::with_capacity(1 << 20, f), offset: 0 })
}
