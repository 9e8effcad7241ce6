//! Reading archives in place (an index of members, no extraction) and writing deterministic
//! tar files.
//!
//! Reading never writes anything to disk: members are located by offset and read straight from
//! the archive file, so a hostile archive cannot place files anywhere. Member names are
//! normalised (`./` and repeated slashes dropped); absolute names and `..` components are refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::store::{BlobRead, BlobWriter};
use crate::{BlobStore, Digest, Error, Result};

/// Most members an archive may have (bounds the index's memory).
const MAX_MEMBERS: usize = 1_000_000;
/// Most symlink hops followed when resolving a member.
const MAX_LINK_HOPS: usize = 16;

#[derive(Debug, Clone)]
enum Member {
    File { offset: u64, size: u64 },
    Link(String),
    Dir,
    Other(&'static str),
}

/// The members of a tar archive, by normalised name.
#[derive(Debug)]
pub(crate) struct TarIndex {
    path: PathBuf,
    members: BTreeMap<String, Member>,
}

impl TarIndex {
    /// Reads every header of the archive at `path` (skipping over member data).
    pub(crate) fn read(path: &Path) -> Result<TarIndex> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        let bad = |entry: Option<String>, reason: String| Error::Archive {
            path: path.to_owned(),
            entry,
            reason,
        };
        let mut archive = tar::Archive::new(file);
        let entries = archive
            .entries_with_seek()
            .map_err(|e| bad(None, format!("not a tar archive: {e}")))?;
        let mut members = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| bad(None, format!("malformed or truncated tar: {e}")))?;
            if members.len() >= MAX_MEMBERS {
                return Err(bad(None, format!("more than {MAX_MEMBERS} members")));
            }
            let raw = entry.path_bytes();
            let raw_name = String::from_utf8_lossy(&raw).into_owned();
            let name = normalise(&raw_name).map_err(|r| bad(Some(raw_name.clone()), r.into()))?;
            let t = entry.header().entry_type();
            let member = if t.is_file() || t == tar::EntryType::Continuous {
                let offset = entry.raw_file_position();
                let size = entry.size();
                if offset.checked_add(size).is_none_or(|end| end > len) {
                    return Err(bad(
                        Some(raw_name),
                        format!(
                            "truncated: {size} bytes at offset {offset}, archive is {len} bytes"
                        ),
                    ));
                }
                Member::File { offset, size }
            } else if t.is_symlink() || t.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if t.is_hard_link() {
                    // Hard link targets are archive-relative names.
                    Member::Link(format!("/{target}"))
                } else {
                    Member::Link(target)
                }
            } else if t.is_dir() {
                Member::Dir
            } else {
                Member::Other("not a regular file")
            };
            if name.is_empty() {
                continue; // "./" itself
            }
            let is_dir = matches!(member, Member::Dir);
            if let Some(old) = members.insert(name, member)
                && !(is_dir && matches!(old, Member::Dir))
            {
                return Err(bad(Some(raw_name), "duplicate member".into()));
            }
        }
        Ok(TarIndex { path: path.to_owned(), members })
    }

    /// The archive file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Names of members under `prefix` (normalised, e.g. `blobs/sha256/`).
    pub(crate) fn names_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.members
            .range(prefix.to_owned()..)
            .map(|(k, _)| k.as_str())
            .take_while(move |k| k.starts_with(prefix))
    }

    /// Locates the regular file `name`, following symlinks and hard links inside the archive.
    pub(crate) fn locate(&self, name: &str) -> Result<Option<(u64, u64)>> {
        let mut current = normalise(name).map_err(|r| self.err(name, r))?;
        for _ in 0..=MAX_LINK_HOPS {
            match self.members.get(&current) {
                None => return Ok(None),
                Some(Member::File { offset, size }) => return Ok(Some((*offset, *size))),
                Some(Member::Dir) => return Err(self.err(&current, "is a directory")),
                Some(Member::Other(why)) => return Err(self.err(&current, why)),
                Some(Member::Link(target)) => {
                    let joined = if let Some(abs) = target.strip_prefix('/') {
                        abs.to_owned()
                    } else {
                        match current.rsplit_once('/') {
                            Some((dir, _)) => format!("{dir}/{target}"),
                            None => target.clone(),
                        }
                    };
                    current = resolve_dots(&joined)
                        .ok_or_else(|| self.err(&current, "link points outside the archive"))?;
                }
            }
        }
        Err(self.err(name, "too many levels of links"))
    }

    /// Reads a whole member of at most `limit` bytes.
    pub(crate) fn read_member(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let Some((offset, size)) = self.locate(name)? else { return Ok(None) };
        if size > limit {
            return Err(Error::TooLarge {
                what: format!("{}: {name}", self.path.display()),
                size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.open_range(offset, size)?
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if buf.len() as u64 != size {
            return Err(self.err(name, "truncated"));
        }
        Ok(Some(buf))
    }

    /// Opens a byte range of the archive.
    pub(crate) fn open_range(&self, offset: u64, size: u64) -> Result<SubFile> {
        let mut file = File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        file.seek(SeekFrom::Start(offset)).map_err(|e| Error::io("seek", &self.path, e))?;
        Ok(SubFile { file, start: offset, len: size, pos: 0 })
    }

    fn err(&self, entry: &str, reason: &str) -> Error {
        Error::Archive {
            path: self.path.clone(),
            entry: Some(entry.to_owned()),
            reason: reason.to_owned(),
        }
    }
}

/// Normalises a member name: drops `.` components and empty ones (`./a//b` → `a/b`); refuses
/// absolute names and `..` components.
pub(crate) fn normalise(name: &str) -> std::result::Result<String, &'static str> {
    if name.starts_with('/') {
        return Err("absolute member name");
    }
    if name.contains('\0') {
        return Err("NUL in member name");
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("'..' in member name"),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves `.` and `..` lexically; `None` if `..` would climb above the root.
fn resolve_dots(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// A byte range of a file, readable and seekable on its own.
pub(crate) struct SubFile {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for SubFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(left.min(usize::MAX as u64) as usize);
        let got = self.file.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive member is truncated",
            ));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for SubFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        let target = target.min(self.len);
        self.file.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}

/// A read-only blob store over the `blobs/` of an OCI layout inside a tar archive.
#[derive(Debug)]
pub(crate) struct ArchiveStore {
    pub(crate) index: TarIndex,
}

impl ArchiveStore {
    fn name(d: &Digest) -> String {
        format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
    }

    fn read_only(&self) -> Error {
        Error::Unsupported {
            what: format!("writing into archive {} (it is read-only)", self.index.path.display()),
        }
    }
}

impl BlobStore for ArchiveStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.index.locate(&Self::name(digest))?.map(|(_, s)| s))
    }
    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>> {
        match self.index.locate(&Self::name(digest))? {
            Some((o, s)) => Ok(Box::new(self.index.open_range(o, s)?)),
            None => Err(Error::BlobNotFound(digest.clone())),
        }
    }
    fn begin(&self) -> Result<Box<dyn BlobWriter>> {
        Err(self.read_only())
    }
    fn delete(&self, _digest: &Digest) -> Result<()> {
        Err(self.read_only())
    }
    fn list(&self) -> Result<Vec<Digest>> {
        let mut out: Vec<Digest> = self
            .index
            .names_under("blobs/")
            .filter_map(|n| {
                let rest = n.strip_prefix("blobs/")?;
                let (alg, hex) = rest.split_once('/')?;
                format!("{alg}:{hex}").parse().ok()
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Writes a deterministic tar stream: ustar headers, mode 0644 files / 0755 directories, owner
/// 0:0 without names, mtime 0, in the order the caller gives (callers sort).
pub(crate) struct TarWriter<W: Write + Seek> {
    out: W,
}

impl<W: Write + Seek> TarWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        TarWriter { out }
    }

    fn header(name: &str, size: u64, dir: bool) -> io::Result<tar::Header> {
        let mut h = tar::Header::new_ustar();
        h.set_path(name)?;
        h.set_size(size);
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h.set_cksum();
        Ok(h)
    }

    pub(crate) fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        let mut h = Self::header(name, 0, false)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_link_name(target)?;
        h.set_cksum();
        self.out.write_all(h.as_bytes())
    }

    pub(crate) fn dir(&mut self, name: &str) -> io::Result<()> {
        let h = Self::header(name, 0, true)?;
        self.out.write_all(h.as_bytes())
    }

    /// Writes a file whose size is known up front.
    pub(crate) fn file(&mut self, name: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let h = Self::header(name, size, false)?;
        self.out.write_all(h.as_bytes())?;
        let n = io::copy(&mut data.take(size), &mut self.out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: expected {size} bytes, got {n}"),
            ));
        }
        self.pad(size)
    }

    /// Writes a file whose size is learnt while writing: a placeholder header, the data, then
    /// the real header over the placeholder. `fill` writes the data and returns its result.
    pub(crate) fn file_streamed<T>(
        &mut self,
        name: &str,
        fill: impl FnOnce(&mut W) -> io::Result<T>,
    ) -> io::Result<(T, u64)> {
        let start = self.out.stream_position()?;
        self.out.write_all(&[0u8; 512])?;
        let out = fill(&mut self.out)?;
        let end = self.out.stream_position()?;
        let size = end - start - 512;
        let h = Self::header(name, size, false)?;
        self.out.seek(SeekFrom::Start(start))?;
        self.out.write_all(h.as_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.pad(size)?;
        Ok((out, size))
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out.write_all(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalise("./blobs//sha256/./x").unwrap(), "blobs/sha256/x");
        assert!(normalise("/etc/passwd").is_err());
        assert!(normalise("a/../../b").is_err());
        assert_eq!(resolve_dots("a/b/../c"), Some("a/c".into()));
        assert_eq!(resolve_dots("a/../../c"), None);
    }
}
