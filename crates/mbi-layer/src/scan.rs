//! Reading a [`FileTree`] from a directory on disk.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::path::TreePath;
use crate::sys;
use crate::tar::write::Emit;
use crate::tree::{Content, Entry, EntryKind, FileTree};

/// Options for [`FileTree::from_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FromDirOptions {
    /// Keep the files' owners. By default every entry is owned by 0:0, as a rootfs built by an
    /// unprivileged user should be.
    pub keep_owners: bool,
    /// Extended attributes to keep, by name prefix. The default keeps `security.capability`
    /// (file capabilities, e.g. on `ping`) and `user.*`; host-specific ones such as
    /// `security.selinux` labels are left out. Empty keeps none.
    pub xattr_prefixes: Vec<String>,
}

impl Default for FromDirOptions {
    fn default() -> Self {
        FromDirOptions {
            keep_owners: false,
            xattr_prefixes: vec!["security.capability".into(), "user.".into()],
        }
    }
}

impl FromDirOptions {
    /// Keeps (or normalises) owners.
    pub fn keep_owners(mut self, keep: bool) -> Self {
        self.keep_owners = keep;
        self
    }

    /// Sets the xattr name prefixes to keep.
    pub fn xattr_prefixes(mut self, prefixes: Vec<String>) -> Self {
        self.xattr_prefixes = prefixes;
        self
    }
}

/// Something [`FileTree::from_dir`] left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file on disk.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: &'static str,
}

/// What a directory scan left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Sockets and other objects a layer cannot hold.
    pub skipped: Vec<Skipped>,
}

impl FileTree {
    /// Reads the tree below `dir` (not `dir` itself) without following symlinks.
    ///
    /// Regular files are referenced ([`Content::File`]), not read, so this is cheap; files with
    /// several links become one file plus [`EntryKind::Hardlink`]s (detected by device and
    /// inode). Sockets are skipped and listed in the report.
    ///
    /// To turn a directory straight into a layer, [`LayerWriter::write_dir_with`] is faster: it
    /// reads the directory while the layer is being compressed and gives the same bytes.
    ///
    /// [`LayerWriter::write_dir_with`]: crate::LayerWriter::write_dir_with
    pub fn from_dir(dir: &Path, options: &FromDirOptions) -> Result<(FileTree, ScanReport)> {
        check_dir(dir)?;
        let mut tree = FileTree::new();
        let mut report = ScanReport::default();
        let mut links: HashMap<(u64, u64), Entry> = HashMap::new();
        let mut stack: Vec<(PathBuf, Option<TreePath>)> = vec![(dir.to_path_buf(), None)];
        while let Some((abs, rel)) = stack.pop() {
            let rd = fs::read_dir(&abs).map_err(|e| Error::io("read directory", &abs, e))?;
            let mut names = Vec::new();
            for ent in rd {
                let ent = ent.map_err(|e| Error::io("read directory", &abs, e))?;
                names.push(ent.file_name());
            }
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                let child = abs.join(&name);
                let tp = join(rel.as_ref(), &name)?;
                let md = fs::symlink_metadata(&child).map_err(|e| Error::io("stat", &child, e))?;
                if md.is_dir() {
                    stack.push((child.clone(), Some(tp.clone())));
                }
                let Some(entry) = read_entry(child, tp, &md, options, &mut links, &mut report)?
                else {
                    continue;
                };
                tree.insert(entry)?;
            }
        }
        Ok((tree, report))
    }
}

fn check_dir(dir: &Path) -> Result<()> {
    let md = fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    if !md.is_dir() {
        return Err(Error::io(
            "scan",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    Ok(())
}

fn join(parent: Option<&TreePath>, name: &OsStr) -> Result<TreePath> {
    match parent {
        None => TreePath::from_name(name.as_bytes()),
        Some(r) => r.join(name.as_bytes()),
    }
}

/// Describes the object at `child` (whose `lstat` is `md`) as the entry `tp`, or `None` (and
/// a note in `report`) for what a layer cannot hold. The first member of a hardlink group met
/// is recorded in `links`; later ones become [`EntryKind::Hardlink`]s to it.
fn read_entry(
    child: PathBuf,
    tp: TreePath,
    md: &fs::Metadata,
    options: &FromDirOptions,
    links: &mut HashMap<(u64, u64), Entry>,
    report: &mut ScanReport,
) -> Result<Option<Entry>> {
    let ft = md.file_type();
    let mut first_link = false;
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_socket() {
        report.skipped.push(Skipped { path: child, reason: "sockets cannot be stored in a layer" });
        return Ok(None);
    } else if let Some(first) = (md.nlink() > 1).then(|| links.get(&(md.dev(), md.ino()))).flatten()
    {
        EntryKind::Hardlink(first.path.clone())
    } else {
        first_link = md.nlink() > 1;
        if ft.is_file() {
            if md.len() == 0 {
                EntryKind::File(Content::empty())
            } else {
                EntryKind::File(Content::File(child.clone()))
            }
        } else if ft.is_symlink() {
            let t = fs::read_link(&child).map_err(|e| Error::io("readlink", &child, e))?;
            EntryKind::Symlink(t.as_os_str().as_bytes().to_vec())
        } else if ft.is_char_device() || ft.is_block_device() {
            let (major, minor) = sys::dev_major_minor(md.rdev());
            if ft.is_char_device() {
                EntryKind::CharDevice { major, minor }
            } else {
                EntryKind::BlockDevice { major, minor }
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            report.skipped.push(Skipped { path: child, reason: "unknown file type" });
            return Ok(None);
        }
    };
    let xattrs = sys::lxattrs(&child, &options.xattr_prefixes)
        .map_err(|e| Error::io("read xattrs of", &child, e))?;
    let (uid, gid) = if options.keep_owners { (md.uid(), md.gid()) } else { (0, 0) };
    let mut entry =
        Entry::new(tp, kind).with_mode(md.mode()).with_owner(uid, gid).with_mtime(md.mtime());
    entry.xattrs = xattrs.into_iter().collect();
    if first_link {
        links.insert((md.dev(), md.ino()), entry.clone());
    }
    Ok(Some(entry))
}

/// A child of a directory being walked, at its place in layer order.
enum Item {
    /// The child itself.
    Entry { name: OsString, md: fs::Metadata },
    /// What is below the child directory (its place is `name/`).
    Below { name: OsString },
}

/// A directory being walked: its children in layer order, not yet visited.
struct Frame {
    abs: PathBuf,
    rel: Option<TreePath>,
    items: std::vec::IntoIter<Item>,
}

fn list(abs: PathBuf, rel: Option<TreePath>) -> Result<Frame> {
    let rd = fs::read_dir(&abs).map_err(|e| Error::io("read directory", &abs, e))?;
    let mut keyed: Vec<(Vec<u8>, Item)> = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("read directory", &abs, e))?;
        let name = ent.file_name();
        let child = abs.join(&name);
        let md = fs::symlink_metadata(&child).map_err(|e| Error::io("stat", &child, e))?;
        if md.is_dir() {
            let mut key = name.as_bytes().to_vec();
            key.push(b'/');
            keyed.push((key, Item::Below { name: name.clone() }));
        }
        keyed.push((name.as_bytes().to_vec(), Item::Entry { name, md }));
    }
    // Names are unique and hold no '/', so keys are unique too.
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(Frame { abs, rel, items: keyed.into_iter().map(|(_, i)| i).collect::<Vec<_>>().into_iter() })
}

/// Walks the tree below `dir` in layer order (path bytes), handing each entry to `emit` as
/// soon as it is read, so that writing can start before the walk ends. Gives the entries
/// [`FileTree::from_dir`] would, written as [`crate::tar::write`]'s planner would write them:
/// the first member of a hardlink group in path order carries the content, the others link
/// to it; names starting with `.wh.` are refused.
pub(crate) fn walk_dir(
    dir: &Path,
    options: &FromDirOptions,
    emit: &mut dyn FnMut(&[u8], &Emit<'_>) -> Result<()>,
) -> Result<ScanReport> {
    check_dir(dir)?;
    let mut report = ScanReport::default();
    let mut links: HashMap<(u64, u64), Entry> = HashMap::new();
    let mut stack = vec![list(dir.to_path_buf(), None)?];
    while let Some(top) = stack.last_mut() {
        let Some(item) = top.items.next() else {
            stack.pop();
            continue;
        };
        match item {
            Item::Below { name } => {
                let abs = top.abs.join(&name);
                let rel = join(top.rel.as_ref(), &name)?;
                let frame = list(abs, Some(rel))?;
                stack.push(frame);
            }
            Item::Entry { name, md } => {
                let child = top.abs.join(&name);
                let tp = join(top.rel.as_ref(), &name)?;
                let Some(entry) = read_entry(child, tp, &md, options, &mut links, &mut report)?
                else {
                    continue;
                };
                if entry.path.file_name().starts_with(b".wh.") {
                    return Err(Error::ReservedName {
                        path: entry.path.to_string(),
                        reason: "names starting with '.wh.' mark whiteouts in layers",
                    });
                }
                match (&entry.kind, links.get(&(md.dev(), md.ino()))) {
                    // `read_entry` makes a hardlink only to a member it recorded.
                    (EntryKind::Hardlink(_), Some(first)) => {
                        let link = Emit::Link { meta: first, target: &first.path };
                        emit(entry.path.as_bytes(), &link)?;
                    }
                    (EntryKind::Hardlink(target), None) => {
                        return Err(Error::BadHardlink {
                            path: entry.path.to_string(),
                            target: target.to_string(),
                            reason: "target is not in the tree",
                        });
                    }
                    _ => emit(entry.path.as_bytes(), &Emit::Full { src: &entry })?,
                }
            }
        }
    }
    Ok(report)
}
