//! A persistent cache of unpacked package data, keyed by the `.deb`'s SHA-256.
//!
//! Decompressing the data archives is the largest fixed cost of installing packages (the 89
//! packages of Debian's `apt` variant hold 45 MB of xz that inflate to 166 MB: about 2 s of CPU).
//! An [`UnpackCache`] keeps what [`DebReader`] produces for a package — the spool of its
//! regular files' contents and the list of its entries — so a later build of the same package
//! reads it back instead of decompressing again.
//!
//! Layout, inside the cache directory (one pair per package):
//!
//! - `<deb-sha256-hex>.data`: the spool (the contents of the package's regular files, end to
//!   end, in archive order);
//! - `<deb-sha256-hex>.json`: format version, the spool's length and SHA-256, the member's
//!   compression and the entries (path, kind, mode, owner, mtime, byte range of each file).
//!
//! Both are written under temporary names in the cache directory and renamed into place, the
//! spool first: a `.json` is only ever seen next to its complete spool, and two processes
//! filling the same entry rename identical files over each other.
//!
//! Trust: the key is the SHA-256 of a `.deb` the caller already verified against a signed index
//! or a lockfile. On every use the spool is hashed again and compared with the digest its
//! `.json` records, every entry path is checked as [`DebReader`] checks a fresh archive, and
//! every byte range must lie inside the spool; anything that does not match is discarded and
//! the package is unpacked again from its `.deb`. This catches corruption and torn writes. The
//! cache directory is the user's own, like the package cache next to it: someone who can write
//! there could also replace both files consistently, which no local check can detect (the
//! same holds for apt's and dpkg's own caches). The control archive is always read from the
//! `.deb` itself.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mbi_core::Digest;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::apt::deb::{DataEntry, DataKind, Deb, DebData, DebReader, MemberCompression, Spool};

/// The version of the `.json` format; entries of other versions are ignored and rewritten.
const FORMAT: u32 = 1;

/// A directory of unpacked packages. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct UnpackCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Record {
    format: u32,
    deb: String,
    compression: MemberCompression,
    content_bytes: u64,
    data_digest: String,
    entries: Vec<DataEntry>,
}

/// How [`UnpackCache::open`] got a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheUse {
    /// Read back from the cache.
    Hit,
    /// Unpacked from the `.deb` and stored.
    Stored,
    /// The cached copy did not check out; unpacked again and replaced.
    Replaced,
}

impl UnpackCache {
    /// A cache in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        UnpackCache { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, sha256: &Digest) -> (PathBuf, PathBuf) {
        let hex = sha256.hex();
        (self.dir.join(format!("{hex}.data")), self.dir.join(format!("{hex}.json")))
    }

    /// The package at `deb_path`, whose SHA-256 the caller has verified to be `sha256`: its
    /// control archive read from the file, its data from the cache when present and intact,
    /// else unpacked with `reader` and stored.
    pub fn open(
        &self,
        reader: &DebReader,
        deb_path: &Path,
        sha256: &Digest,
    ) -> Result<(Deb, CacheUse), Error> {
        let (data_path, json_path) = self.paths(sha256);
        let mut replaced = false;
        if json_path.exists() {
            match load(&json_path, &data_path, sha256) {
                Some(data) => {
                    let control = reader.open_control(deb_path)?;
                    return Ok((Deb { control, data }, CacheUse::Hit));
                }
                None => {
                    // Stale, foreign or damaged: drop it and unpack again.
                    let _ = std::fs::remove_file(&json_path);
                    replaced = true;
                }
            }
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| mbi_core::Error::io("create", &self.dir, e))?;
        let deb = reader.spooling_into(&self.dir).open(deb_path)?;
        let deb = self.store(deb, sha256, &data_path, &json_path)?;
        Ok((deb, if replaced { CacheUse::Replaced } else { CacheUse::Stored }))
    }

    fn store(
        &self,
        deb: Deb,
        sha256: &Digest,
        data_path: &Path,
        json_path: &Path,
    ) -> Result<Deb, Error> {
        let Deb { control, data } = deb;
        let DebData { entries, spool, compression, content_bytes } = data;
        let io_err = |op: &'static str, p: &Path, e: io::Error| mbi_core::Error::io(op, p, e);
        let digest = hash_spool(&spool, content_bytes)
            .map_err(|e| io_err("read", spool.path(), e))?
            .ok_or_else(|| {
                io_err("read", spool.path(), io::Error::other("spool shorter than its contents"))
            })?;
        let spool = match Arc::try_unwrap(spool) {
            Ok(s) => s.persist(data_path).map_err(|e| io_err("rename into", data_path, e))?,
            // Not reachable (the reader hands over the only reference); keep it temporary.
            Err(shared) => {
                return Ok(Deb {
                    control,
                    data: DebData { entries, spool: shared, compression, content_bytes },
                });
            }
        };
        let record = Record {
            format: FORMAT,
            deb: sha256.to_string(),
            compression,
            content_bytes,
            data_digest: digest.to_string(),
            entries,
        };
        let json = serde_json::to_vec(&record).map_err(|e| Error::Deb {
            package: control.id(),
            member: "data".into(),
            reason: format!("recording the unpacked data: {e}"),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".mbi-unpacked-")
            .tempfile_in(&self.dir)
            .map_err(|e| io_err("create a temporary file in", &self.dir, e))?;
        tmp.write_all(&json).map_err(|e| io_err("write", tmp.path(), e))?;
        tmp.persist(json_path).map_err(|e| io_err("rename into", json_path, e.error))?;
        let Record { entries, .. } = record;
        Ok(Deb {
            control,
            data: DebData { entries, spool: Arc::new(spool), compression, content_bytes },
        })
    }
}

/// Reads and checks a cached record; `None` when it is missing, foreign or damaged.
fn load(json_path: &Path, data_path: &Path, sha256: &Digest) -> Option<DebData> {
    let bytes = std::fs::read(json_path).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    if record.format != FORMAT || record.deb != sha256.to_string() {
        return None;
    }
    let spool = Spool::open(data_path).ok()?;
    if spool.file().metadata().ok()?.len() != record.content_bytes {
        return None;
    }
    let digest = hash_spool(&spool, record.content_bytes).ok()??;
    if digest.to_string() != record.data_digest {
        return None;
    }
    check_entries(&record.entries, record.content_bytes)?;
    Some(DebData {
        entries: record.entries,
        spool: Arc::new(spool),
        compression: record.compression,
        content_bytes: record.content_bytes,
    })
}

/// The checks [`DebReader`] makes on a fresh archive that a record could break: normalised
/// paths, no duplicates (but directories), nothing below a symlink of the package, hard links
/// to earlier files, file ranges end to end inside the spool.
fn check_entries(entries: &[DataEntry], content_bytes: u64) -> Option<()> {
    use std::collections::{HashMap, HashSet};
    let mut seen: HashMap<&str, bool> = HashMap::with_capacity(entries.len());
    let mut symlinks: HashSet<&str> = HashSet::new();
    let mut next = 0u64;
    for e in entries {
        if crate::apt::deb::normalize(&e.path).ok()? != e.path {
            return None;
        }
        let mut p = e.path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if symlinks.contains(parent) {
                return None;
            }
            p = parent;
        }
        match &e.kind {
            DataKind::File { offset, size } => {
                if *offset != next {
                    return None;
                }
                next = offset.checked_add(*size)?;
            }
            DataKind::Hardlink { target } if seen.get(target.as_str()) != Some(&true) => {
                return None;
            }
            DataKind::Symlink { target } if target.is_empty() || target.contains('\0') => {
                return None;
            }
            DataKind::Symlink { .. } => {
                symlinks.insert(&e.path);
            }
            _ => {}
        }
        if e.path.is_empty() && e.kind != DataKind::Directory {
            return None;
        }
        let is_file = matches!(e.kind, DataKind::File { .. });
        if seen.insert(&e.path, is_file).is_some() {
            return None;
        }
    }
    (next == content_bytes).then_some(())
}

/// SHA-256 of the first `len` bytes of `spool` (read by position: the file offset does not
/// matter); `None` when it is shorter.
fn hash_spool(spool: &Spool, len: u64) -> io::Result<Option<Digest>> {
    let mut r = mbi_core::digest::HashingReader::new(io::BufReader::with_capacity(
        1 << 20,
        spool.range_reader(0, len),
    ));
    match io::copy(&mut r, &mut io::sink()) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    };
    Ok(Some(r.finish().1))
}
