//! The on-disk cache shared by builds:
//!
//! ```text
//! <root>/apt/lists/<dist-key>/InRelease | Release | Release.gpg | validators.json
//! <root>/apt/lists/<dist-key>/verified.json    last signature check of that file (see below)
//! <root>/apt/indexes/<sha256-of-uncompressed-Packages>      verified, decompressed
//! <root>/apt/indexes/z-<sha256-of-downloaded-file>          (when Release lists no plain hash)
//! <root>/debs/sha256/<hex>                                   verified .deb files
//! <root>/debs/partial/<hex>                                  interrupted downloads (resumed)
//! <root>/unpacked/<hex>.data | <hex>.json                    unpacked .deb (see `unpack_cache`)
//! ```
//!
//! The cache only grows while builds run; [`Cache::prune`] removes what no build needs any
//! more (indexes that no cached Release lists, `.deb` files no lockfile names, leftovers).
//!
//! Everything is written to a temporary name and renamed into place after verification, so
//! a reader never sees a partial or unverified file under a final name, and no file is ever
//! changed in place (cached indexes are mapped into memory while they are parsed).
//!
//! `verified.json` records what checking the signed metadata against its keyring established
//! (the signatures' mathematics and the keys' self-signatures, bindings and revocations), bound
//! to the SHA-256 of the signed file, its detached signature and the keyring files. A refresh
//! that finds the same three digests applies the key policy to it at the current time instead
//! of repeating the public-key work; anything else verifies from scratch. The cache directory is
//! trusted like everything in it: whoever can write it can already replace verified indexes.

use std::path::{Path, PathBuf};

use mbi_core::Digest;
use mbi_core::digest::is_sha256_hex;

use crate::Error;

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// Validators remembered for a conditional re-check of signed metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Validators {
    /// Which file the validators belong to (`InRelease` or `Release`).
    pub file: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Cache {
    /// A cache rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Cache, Error> {
        let root = root.into();
        for d in ["apt/lists", "apt/indexes", "debs/sha256", "debs/partial"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io("create cache directory", &p, e))?;
        }
        Ok(Cache { root })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory for one distribution's signed metadata.
    pub fn lists_dir(&self, dist_url: &str) -> PathBuf {
        let mut key = String::with_capacity(dist_url.len());
        let rest = dist_url.split_once("://").map_or(dist_url, |(_, r)| r);
        for c in rest.chars() {
            key.push(if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') {
                c
            } else {
                '_'
            });
        }
        // The sanitised name can collide ("a/b" vs "a_b"): add a short hash of the exact URL.
        let h = Digest::sha256(dist_url.as_bytes());
        let key = format!("{}-{}", key.trim_matches('_'), &h.hex()[..12]);
        self.root.join("apt/lists").join(key)
    }

    /// Path of a decompressed, verified index.
    pub fn index_path(&self, key: &str) -> PathBuf {
        self.root.join("apt/indexes").join(key)
    }

    /// Path of a verified `.deb` with this SHA-256.
    pub fn deb_path(&self, sha256: &Digest) -> PathBuf {
        self.root.join("debs/sha256").join(sha256.hex())
    }

    /// Path of an interrupted download of the `.deb` with this SHA-256.
    pub fn partial_path(&self, sha256: &Digest) -> PathBuf {
        self.root.join("debs/partial").join(sha256.hex())
    }

    /// Where unpacked packages are kept between builds
    /// ([`UnpackCache`](crate::apt::unpack_cache::UnpackCache)).
    pub fn unpacked_dir(&self) -> PathBuf {
        self.root.join("unpacked")
    }
}

/// What [`Cache::prune`] may remove besides indexes no cached Release lists.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Keep only the `.deb` files (and their unpacked copies) with these SHA-256s, e.g. every
    /// package of the lockfiles still in use; `None` keeps every `.deb`.
    pub keep_debs: Option<std::collections::BTreeSet<Digest>>,
    /// Temporary files and interrupted downloads are removed once they are this old: younger
    /// ones may belong to a build running right now. Default: one day.
    pub min_age: std::time::Duration,
    /// Only report what would be removed.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            keep_debs: None,
            min_age: std::time::Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

/// Why [`Cache::prune`] removed a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PruneReason {
    /// A decompressed index that no cached `InRelease`/`Release` lists any more (a newer
    /// Release replaced it).
    StaleIndex,
    /// A `.deb` not in [`PruneOptions::keep_debs`].
    UnkeptDeb,
    /// An unpacked copy whose `.deb` is gone (or not kept).
    UnpackedWithoutDeb,
    /// An interrupted download older than [`PruneOptions::min_age`].
    OldPartial,
    /// A temporary file older than [`PruneOptions::min_age`].
    OldTemporary,
}

impl std::fmt::Display for PruneReason {
    /// A short kebab-case label (`stale-index`, `unkept-package`, …), as `mbi cache prune`
    /// prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PruneReason::StaleIndex => "stale-index",
            PruneReason::UnkeptDeb => "unkept-package",
            PruneReason::UnpackedWithoutDeb => "unpacked-without-package",
            PruneReason::OldPartial => "old-partial-download",
            PruneReason::OldTemporary => "old-temporary",
        })
    }
}

/// One file [`Cache::prune`] removed (or would remove, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Why it went.
    pub reason: PruneReason,
}

impl Cache {
    /// Removes what no build needs any more and returns it, sorted by path:
    ///
    /// - decompressed indexes whose SHA-256 no cached `InRelease` or `Release` file lists (the
    ///   repository published a new Release since);
    /// - `.deb` files not in [`PruneOptions::keep_debs`] (when given);
    /// - unpacked copies whose `.deb` is not (or no longer) in the cache;
    /// - interrupted downloads and temporary files older than [`PruneOptions::min_age`] at
    ///   `now`.
    ///
    /// Signed metadata itself is kept (it is small, and a refresh needs it for conditional
    /// requests). Files whose names the cache does not use are left alone. Removing a file
    /// another build has mapped or open is safe: the data stays until that build closes it.
    pub fn prune(
        &self,
        options: &PruneOptions,
        now: std::time::SystemTime,
    ) -> Result<Vec<Pruned>, Error> {
        let mut out = Vec::new();
        let old = |meta: &std::fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= options.min_age)
        };
        let listed = self.listed_digests()?;
        for (path, name, meta) in files(&self.root.join("apt/indexes"))? {
            let hex = name.strip_prefix("z-").unwrap_or(&name);
            if is_sha256_hex(hex.as_bytes()) {
                if !listed.contains(hex) {
                    out.push(pruned(path, &meta, PruneReason::StaleIndex));
                }
            } else if name.starts_with('.') && old(&meta) {
                out.push(pruned(path, &meta, PruneReason::OldTemporary));
            }
        }
        let keep_hex: Option<std::collections::HashSet<&str>> =
            options.keep_debs.as_ref().map(|k| k.iter().map(|d| d.hex()).collect());
        let keep = |hex: &str| keep_hex.as_ref().is_none_or(|k| k.contains(hex));
        let mut debs = std::collections::BTreeSet::new();
        for (path, name, meta) in files(&self.root.join("debs/sha256"))? {
            if is_sha256_hex(name.as_bytes()) {
                if keep(&name) {
                    debs.insert(name);
                } else {
                    out.push(pruned(path, &meta, PruneReason::UnkeptDeb));
                }
            } else if name.starts_with('.') && old(&meta) {
                out.push(pruned(path, &meta, PruneReason::OldTemporary));
            }
        }
        for (path, _, meta) in files(&self.root.join("debs/partial"))? {
            if old(&meta) {
                out.push(pruned(path, &meta, PruneReason::OldPartial));
            }
        }
        for (path, name, meta) in files(&self.unpacked_dir())? {
            let hex = name.strip_suffix(".data").or_else(|| name.strip_suffix(".json"));
            match hex {
                Some(hex) if is_sha256_hex(hex.as_bytes()) && !debs.contains(hex) => {
                    out.push(pruned(path, &meta, PruneReason::UnpackedWithoutDeb));
                }
                Some(hex) if is_sha256_hex(hex.as_bytes()) => {}
                _ if name.starts_with('.') && old(&meta) => {
                    out.push(pruned(path, &meta, PruneReason::OldTemporary));
                }
                _ => {}
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        if !options.dry_run {
            for p in &out {
                match std::fs::remove_file(&p.path) {
                    Ok(()) => {}
                    // Another prune got there first.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &p.path, e)),
                }
            }
        }
        Ok(out)
    }

    /// Every SHA-256 (64 hex digits) that appears in a cached `InRelease` or `Release` file.
    /// A plain word scan, deliberately generous: a file it keeps by mistake costs disk space,
    /// one it removed by mistake would only be downloaded again.
    fn listed_digests(&self) -> Result<std::collections::HashSet<String>, Error> {
        let mut set = std::collections::HashSet::new();
        let lists = self.root.join("apt/lists");
        let dirs = std::fs::read_dir(&lists).map_err(|e| Error::io("read directory", &lists, e))?;
        for dir in dirs {
            let dir = dir.map_err(|e| Error::io("read directory", &lists, e))?;
            for name in ["InRelease", "Release"] {
                let path = dir.path().join(name);
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                    Err(e) => return Err(Error::io("read", &path, e)),
                };
                for word in bytes.split(|b| b.is_ascii_whitespace()) {
                    if is_sha256_hex(word)
                        && let Ok(w) = std::str::from_utf8(word)
                    {
                        set.insert(w.to_owned());
                    }
                }
            }
        }
        Ok(set)
    }
}

fn pruned(path: PathBuf, meta: &std::fs::Metadata, reason: PruneReason) -> Pruned {
    Pruned { path, bytes: meta.len(), reason }
}

/// The regular files directly in `dir` (none if it does not exist), with their names.
fn files(dir: &Path) -> Result<Vec<(PathBuf, String, std::fs::Metadata)>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        let meta = entry.metadata().map_err(|e| Error::io("stat", entry.path(), e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if meta.is_file() {
            out.push((entry.path(), name, meta));
        }
    }
    Ok(out)
}

impl Cache {
    /// Re-hashes every decompressed index named by its SHA-256 and deletes those whose content
    /// no longer matches their name (disk damage or tampering with the cache directory); the
    /// next refresh downloads them again. Returns how many were deleted. A refresh itself only
    /// checks the size of a cached index: it trusts the name, which only a verified, atomically
    /// renamed file gets.
    pub fn verify_indexes(&self) -> Result<usize, Error> {
        let dir = self.root.join("apt/indexes");
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read directory", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            if Digest::sha256(&bytes).hex() != name {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A cached file's bytes: mapped read-only when possible, else read into memory.
///
/// A warm `mbi lock` reads Debian's 50 MB `Packages` index on every run; copying it into a fresh
/// buffer costs a page fault per 4 KiB of that buffer on top of the copy, while a mapping of
/// the page cache is set up in one call (`MAP_POPULATE`) and copies nothing.
pub(crate) enum CachedBytes {
    Mapped { ptr: std::ptr::NonNull<u8>, len: usize },
    Owned(Vec<u8>),
}

// SAFETY: the mapping is read-only and owned by this value (unmapped on drop); sharing or moving
// it across threads is as safe as for a `Box<[u8]>`.
unsafe impl Send for CachedBytes {}
// SAFETY: see `Send`; `&CachedBytes` only gives `&[u8]`.
unsafe impl Sync for CachedBytes {}

impl CachedBytes {
    /// Maps (or reads) the file at `path`.
    ///
    /// Only files of the cache are mapped, and the cache never changes a file in place: every
    /// file is written under a temporary name and renamed into place, and removing one
    /// (damaged copies, [`Cache::verify_indexes`]) unlinks it, which leaves a mapping intact.
    /// The bytes therefore cannot change while mapped. (Another program truncating a cache
    /// file in place would make reading it fault; whoever can write the cache directory can
    /// already replace its verified contents, see [`Cache`].)
    pub(crate) fn read(path: &Path) -> std::io::Result<CachedBytes> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let Ok(len) = usize::try_from(len) else {
            return Err(std::io::Error::other("file too large to map"));
        };
        if len > 0 {
            // SAFETY: a fresh private, read-only mapping of a regular file we opened; the kernel
            // chooses the address; the result is checked before use.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_POPULATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr != libc::MAP_FAILED
                && let Some(ptr) = std::ptr::NonNull::new(ptr.cast::<u8>())
            {
                return Ok(CachedBytes::Mapped { ptr, len });
            }
        }
        let mut bytes = Vec::with_capacity(len);
        std::io::Read::read_to_end(&mut &file, &mut bytes)?;
        Ok(CachedBytes::Owned(bytes))
    }
}

impl std::ops::Deref for CachedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: `ptr` is a live mapping of `len` readable bytes (see `read`) until drop.
            CachedBytes::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts(ptr.as_ptr(), *len)
            },
            CachedBytes::Owned(v) => v,
        }
    }
}

impl Drop for CachedBytes {
    fn drop(&mut self) {
        if let CachedBytes::Mapped { ptr, len } = self {
            // SAFETY: unmaps exactly the mapping `read` made; no slice of it outlives `self`.
            unsafe {
                libc::munmap(ptr.as_ptr().cast(), *len);
            }
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temp file in", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    tmp.as_file().sync_data().map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
    tmp.persist(path).map_err(|e| Error::io("rename into", path, e.error))?;
    Ok(())
}

pub(crate) fn read_validators(dir: &Path) -> Option<Validators> {
    let b = std::fs::read(dir.join("validators.json")).ok()?;
    serde_json::from_slice(&b).ok()
}

pub(crate) fn write_validators(dir: &Path, v: &Validators) -> Result<(), Error> {
    let b = serde_json::to_vec(v)
        .map_err(|e| Error::Config(format!("serialising cache validators: {e}")))?;
    write_atomic(&dir.join("validators.json"), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_removes_what_no_release_or_lock_needs() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path()).unwrap();
        let h = |s: &str| Digest::sha256(s.as_bytes());
        let (listed, stale, zlisted) = (h("listed"), h("stale"), h("zlisted"));
        let lists = c.lists_dir("http://m.example/debian/dists/stable/");
        let release = format!(
            "Suite: stable\nSHA256:\n {} 10 main/binary-amd64/Packages\n {} 5 main/binary-amd64/Packages.xz\n",
            listed.hex(),
            zlisted.hex()
        );
        write_atomic(&lists.join("InRelease"), release.as_bytes()).unwrap();
        for name in
            [listed.hex().to_owned(), stale.hex().to_owned(), format!("z-{}", zlisted.hex())]
        {
            write_atomic(&c.index_path(&name), b"Package: a\n").unwrap();
        }
        let (kept, dropped) = (h("kept.deb"), h("dropped.deb"));
        for deb in [&kept, &dropped] {
            write_atomic(&c.deb_path(deb), b"!<arch>\n").unwrap();
            for ext in ["data", "json"] {
                let p = c.unpacked_dir().join(format!("{}.{ext}", deb.hex()));
                write_atomic(&p, b"{}").unwrap();
            }
        }
        let orphan = c.unpacked_dir().join(format!("{}.json", h("orphan").hex()));
        write_atomic(&orphan, b"{}").unwrap();
        write_atomic(&c.partial_path(&h("partial")), b"half").unwrap();
        write_atomic(&c.unpacked_dir().join(".mbi-unpacked-x"), b"").unwrap();
        write_atomic(&c.unpacked_dir().join("README"), b"not ours").unwrap();

        // Just now: partial downloads and temporary files may belong to a running build.
        let keep = [kept.clone()].into_iter().collect();
        let opts = PruneOptions { keep_debs: Some(keep), dry_run: true, ..Default::default() };
        let now = std::time::SystemTime::now();
        let names = |v: &[Pruned]| -> Vec<(String, PruneReason)> {
            v.iter()
                .map(|p| {
                    let rel = p.path.strip_prefix(d.path()).unwrap();
                    (rel.to_string_lossy().into_owned(), p.reason)
                })
                .collect()
        };
        let dry = c.prune(&opts, now).unwrap();
        let want = vec![
            (format!("apt/indexes/{}", stale.hex()), PruneReason::StaleIndex),
            (format!("debs/sha256/{}", dropped.hex()), PruneReason::UnkeptDeb),
            (format!("unpacked/{}.json", h("orphan").hex()), PruneReason::UnpackedWithoutDeb),
            (format!("unpacked/{}.data", dropped.hex()), PruneReason::UnpackedWithoutDeb),
            (format!("unpacked/{}.json", dropped.hex()), PruneReason::UnpackedWithoutDeb),
        ];
        let mut want_sorted = want.clone();
        want_sorted.sort();
        let mut got = names(&dry);
        got.sort();
        assert_eq!(got, want_sorted);
        assert!(c.deb_path(&dropped).exists(), "a dry run removes nothing");

        // A day later the leftovers go too; the unknown file stays.
        let later = now + std::time::Duration::from_secs(24 * 3600 + 1);
        let opts = PruneOptions { dry_run: false, ..opts };
        let removed = c.prune(&opts, later).unwrap();
        assert_eq!(removed.len(), want.len() + 2);
        assert!(removed.iter().any(|p| p.reason == PruneReason::OldPartial));
        assert!(removed.iter().any(|p| p.reason == PruneReason::OldTemporary));
        for p in &removed {
            assert!(!p.path.exists(), "{}", p.path.display());
        }
        assert!(c.deb_path(&kept).exists() && c.index_path(listed.hex()).exists());
        assert!(c.unpacked_dir().join("README").exists());
        // Nothing left to do.
        assert!(c.prune(&opts, later).unwrap().is_empty());
    }

    #[test]
    fn layout_and_atomic_write() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path()).unwrap();
        let a = c.lists_dir("http://m.example/debian/dists/stable/");
        let b = c.lists_dir("http://m.example/debian/dists/stable_/");
        assert_ne!(a, b);
        assert!(
            a.file_name().unwrap().to_str().unwrap().starts_with("m.example_debian_dists_stable-")
        );
        let p = c.index_path("x");
        write_atomic(&p, b"hello").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp files left behind");
    }

    #[test]
    fn cached_bytes_map_or_read_the_whole_file() {
        let d = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for (name, content) in [("big", &big[..]), ("small", b"Package: a\n"), ("empty", b"")] {
            let p = d.path().join(name);
            write_atomic(&p, content).unwrap();
            let bytes = CachedBytes::read(&p).unwrap();
            assert_eq!(&*bytes, content, "{name}");
            // Unlinking a mapped file (as a damaged-copy cleanup does) leaves the bytes intact.
            std::fs::remove_file(&p).unwrap();
            assert_eq!(&*bytes, content, "{name} after unlink");
        }
        assert!(CachedBytes::read(&d.path().join("missing")).is_err());
    }

    #[test]
    fn verify_indexes_drops_damaged_copies() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::new(d.path()).unwrap();
        let good = Digest::sha256(b"Package: a\n");
        write_atomic(&c.index_path(good.hex()), b"Package: a\n").unwrap();
        let bad = Digest::sha256(b"Package: b\n");
        write_atomic(&c.index_path(bad.hex()), b"Package: c\n").unwrap();
        write_atomic(&c.index_path("z-unrelated"), b"x").unwrap();
        assert_eq!(c.verify_indexes().unwrap(), 1);
        assert!(c.index_path(good.hex()).exists());
        assert!(!c.index_path(bad.hex()).exists());
        assert!(c.index_path("z-unrelated").exists());
        assert_eq!(c.verify_indexes().unwrap(), 0);
    }
}
