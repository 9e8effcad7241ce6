//! Reading a [`FileTree`] from a directory on disk.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::path::TreePath;
use crate::sys;
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
    pub fn from_dir(dir: &Path, options: &FromDirOptions) -> Result<(FileTree, ScanReport)> {
        let md = fs::metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
        if !md.is_dir() {
            return Err(Error::io(
                "scan",
                dir,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        let mut tree = FileTree::new();
        let mut report = ScanReport::default();
        let mut inodes: HashMap<(u64, u64), TreePath> = HashMap::new();
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
                let tp = match &rel {
                    None => TreePath::from_name(name.as_bytes())?,
                    Some(r) => r.join(name.as_bytes())?,
                };
                let md = fs::symlink_metadata(&child).map_err(|e| Error::io("stat", &child, e))?;
                let ft = md.file_type();
                let kind = if ft.is_dir() {
                    stack.push((child.clone(), Some(tp.clone())));
                    EntryKind::Dir
                } else if ft.is_socket() {
                    report.skipped.push(Skipped {
                        path: child,
                        reason: "sockets cannot be stored in a layer",
                    });
                    continue;
                } else if let Some(first) =
                    (md.nlink() > 1).then(|| inodes.get(&(md.dev(), md.ino()))).flatten()
                {
                    EntryKind::Hardlink(first.clone())
                } else {
                    if md.nlink() > 1 {
                        inodes.insert((md.dev(), md.ino()), tp.clone());
                    }
                    if ft.is_file() {
                        if md.len() == 0 {
                            EntryKind::File(Content::empty())
                        } else {
                            EntryKind::File(Content::File(child.clone()))
                        }
                    } else if ft.is_symlink() {
                        let t =
                            fs::read_link(&child).map_err(|e| Error::io("readlink", &child, e))?;
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
                        continue;
                    }
                };
                let xattrs = sys::lxattrs(&child, &options.xattr_prefixes)
                    .map_err(|e| Error::io("read xattrs of", &child, e))?;
                let (uid, gid) = if options.keep_owners { (md.uid(), md.gid()) } else { (0, 0) };
                let mut entry = Entry::new(tp, kind)
                    .with_mode(md.mode())
                    .with_owner(uid, gid)
                    .with_mtime(md.mtime());
                entry.xattrs = xattrs.into_iter().collect();
                tree.insert(entry)?;
            }
        }
        Ok((tree, report))
    }
}
