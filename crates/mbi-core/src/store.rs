//! Content-addressed blob stores: the OCI image layout on disk and an in-memory store.
//!
//! Every blob is written through a [`BlobWriter`] that hashes while it writes and is committed
//! under its digest only once complete (temp file + rename), so a reader never sees a partial
//! blob and two writers of the same blob never corrupt each other.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::digest::{HashingReader, HashingWriter};
use crate::{Digest, Error, Result};

/// A readable, seekable blob.
pub trait BlobRead: Read + Seek + Send {}
impl<T: Read + Seek + Send> BlobRead for T {}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards what was written.
pub trait BlobWriter: Write + Send {
    /// Finishes the blob and stores it under its digest. With `expected`, the blob is stored only
    /// if it has exactly that digest; otherwise [`Error::DigestMismatch`] and nothing is stored.
    fn commit(self: Box<Self>, expected: Option<&Digest>) -> Result<(Digest, u64)>;

    /// Bytes written so far.
    fn written(&self) -> u64;
}

/// Where blobs live. Implementations must be safe to share between threads.
pub trait BlobStore: Send + Sync {
    /// The size of the blob with `digest`, or `None` if absent.
    fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Opens the blob with `digest` for reading.
    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>>;

    /// Starts writing a new blob.
    fn begin(&self) -> Result<Box<dyn BlobWriter>>;

    /// Removes a blob. Removing an absent blob is not an error.
    fn delete(&self, digest: &Digest) -> Result<()>;

    /// Every blob digest in the store, sorted.
    fn list(&self) -> Result<Vec<Digest>>;

    /// Whether the blob is present.
    fn contains(&self, digest: &Digest) -> Result<bool> {
        Ok(self.stat(digest)?.is_some())
    }

    /// Stores `bytes` and returns their digest and size.
    fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let mut w = self.begin()?;
        w.write_all(bytes)
            .map_err(|e| Error::Stream { context: "writing blob".into(), source: e })?;
        w.commit(None)
    }

    /// Streams `reader` into the store, checking it against `expected` if given.
    fn put_reader(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut w = self.begin()?;
        io::copy(reader, &mut w)
            .map_err(|e| Error::Stream { context: "copying blob into store".into(), source: e })?;
        w.commit(expected)
    }

    /// Opens a blob for streaming, checking as it is read that it has exactly `size` bytes and
    /// hashes to `digest`: the read that reaches the end fails with
    /// [`std::io::ErrorKind::InvalidData`] on a mismatch, so a consumer never accepts a
    /// corrupted or substituted blob (use it for layers, which are too big for
    /// [`BlobStore::read_bytes`]).
    fn open_verified(&self, digest: &Digest, size: u64) -> Result<VerifiedReader> {
        Ok(VerifiedReader {
            inner: HashingReader::new(self.open(digest)?.take(size.saturating_add(1))),
            digest: digest.clone(),
            size,
            done: false,
        })
    }

    /// Reads a whole blob into memory, refusing blobs over `limit` bytes (manifests and configs
    /// are small; a huge one is an attack or a mistake).
    fn read_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let size = self.stat(digest)?.ok_or_else(|| Error::BlobNotFound(digest.clone()))?;
        if size > limit {
            return Err(Error::TooLarge { what: format!("blob {digest}"), size, limit });
        }
        let mut buf = Vec::with_capacity(size as usize);
        // `take` guards against a blob that grew between `stat` and `open`.
        self.open(digest)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| Error::Stream { context: format!("reading blob {digest}"), source: e })?;
        if buf.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: format!("blob {digest}"),
                size: buf.len() as u64,
                limit,
            });
        }
        digest.verify(&buf)?;
        Ok(buf)
    }
}

/// A blob reader that checks size and digest when it reaches the end; see
/// [`BlobStore::open_verified`].
pub struct VerifiedReader {
    inner: HashingReader<io::Take<Box<dyn BlobRead>>>,
    digest: Digest,
    size: u64,
    done: bool,
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n > 0 && self.inner.len() <= self.size {
            return Ok(n);
        }
        // End of the blob, or more bytes than announced: check before reporting either.
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        if self.inner.len() != self.size {
            return Err(bad(format!(
                "blob {}: expected {} bytes, got {}{}",
                self.digest,
                self.size,
                self.inner.len(),
                if self.inner.len() > self.size { " or more" } else { "" }
            )));
        }
        let actual = self.inner.digest();
        if actual != self.digest {
            return Err(bad(format!("blob {}: content hashes to {actual}", self.digest)));
        }
        self.done = true;
        Ok(n)
    }
}

/// Blobs under `DIR/blobs/<alg>/<hex>`, as in an OCI image layout.
///
/// This is the blob half of [`crate::layout::OciLayout`]; it can also be used alone, e.g. as a
/// download cache.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// A store rooted at `root` (the directory that holds `blobs/`). Creates `blobs/sha256`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(DirStore { root })
    }

    /// The directory that holds `blobs/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the blob with `digest` (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().as_str()).join(digest.hex())
    }
}

impl BlobStore for DirStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        let p = self.path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", p, e)),
        }
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>> {
        let p = self.path(digest);
        match File::open(&p) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(Error::io("open", p, e)),
        }
    }

    fn begin(&self) -> Result<Box<dyn BlobWriter>> {
        let dir = self.root.join("blobs").join("sha256");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("create temp file in", &dir, e))?;
        Ok(Box::new(DirBlobWriter { store: self.clone(), inner: HashingWriter::new(tmp) }))
    }

    fn delete(&self, digest: &Digest) -> Result<()> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", p, e)),
        }
    }

    fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let blobs = self.root.join("blobs");
        for alg in ["sha256", "sha512"] {
            let dir = blobs.join(alg);
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read directory", dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| Error::io("read directory", &dir, e))?;
                let name = ent.file_name();
                // Temp files and stray names are not blobs.
                if let Some(d) = name.to_str().and_then(|n| format!("{alg}:{n}").parse().ok()) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

struct DirBlobWriter {
    store: DirStore,
    inner: HashingWriter<tempfile::NamedTempFile>,
}

impl Write for DirBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl BlobWriter for DirBlobWriter {
    fn commit(self: Box<Self>, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (tmp, digest, size) = self.inner.finish();
        if let Some(exp) = expected
            && *exp != digest
        {
            return Err(Error::DigestMismatch { expected: exp.clone(), actual: digest });
        }
        let dest = self.store.path(&digest);
        if fs::metadata(&dest).map(|m| m.len() == size).unwrap_or(false) {
            // Someone (maybe another process) already stored this content: nothing to do.
            return Ok((digest, size));
        }
        // Blobs are content-addressed and immutable: make them read-only for everyone.
        let file = tmp.as_file();
        file.sync_data().map_err(|e| Error::io("sync", tmp.path(), e))?;
        set_mode(file, 0o644).map_err(|e| Error::io("chmod", tmp.path(), e))?;
        tmp.persist(&dest).map_err(|e| Error::io("rename into", &dest, e.error))?;
        Ok((digest, size))
    }

    fn written(&self) -> u64 {
        self.inner.len()
    }
}

fn set_mode(f: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

/// An in-memory blob store, for tests and for small pipelines that never touch disk.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    blobs: Arc<Mutex<BTreeMap<Digest, Arc<[u8]>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl BlobStore for MemoryStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.blobs.lock().unwrap_or_else(|e| e.into_inner()).get(digest).map(|b| b.len() as u64))
    }

    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>> {
        let b = self.blobs.lock().unwrap_or_else(|e| e.into_inner()).get(digest).cloned();
        match b {
            Some(b) => Ok(Box::new(Cursor::new(b))),
            None => Err(Error::BlobNotFound(digest.clone())),
        }
    }

    fn begin(&self) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(MemoryBlobWriter {
            store: self.clone(),
            inner: HashingWriter::new(Vec::new()),
        }))
    }

    fn delete(&self, digest: &Digest) -> Result<()> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner()).remove(digest);
        Ok(())
    }

    fn list(&self) -> Result<Vec<Digest>> {
        Ok(self.blobs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect())
    }
}

struct MemoryBlobWriter {
    store: MemoryStore,
    inner: HashingWriter<Vec<u8>>,
}

impl Write for MemoryBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemoryBlobWriter {
    fn commit(self: Box<Self>, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (buf, digest, size) = self.inner.finish();
        if let Some(exp) = expected
            && *exp != digest
        {
            return Err(Error::DigestMismatch { expected: exp.clone(), actual: digest });
        }
        self.store
            .blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.clone(), buf.into());
        Ok((digest, size))
    }

    fn written(&self) -> u64 {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn BlobStore) {
        let (d, n) = store.put_bytes(b"hello").unwrap();
        assert_eq!(n, 5);
        assert_eq!(store.stat(&d).unwrap(), Some(5));
        assert_eq!(store.read_bytes(&d, 10).unwrap(), b"hello");
        assert!(store.read_bytes(&d, 4).is_err());
        let wrong = Digest::sha256(b"other");
        let mut w = store.begin().unwrap();
        w.write_all(b"hello!").unwrap();
        assert!(matches!(w.commit(Some(&wrong)), Err(Error::DigestMismatch { .. })));
        assert_eq!(store.list().unwrap(), vec![d.clone()]);
        store.delete(&d).unwrap();
        assert!(matches!(store.open(&d), Err(Error::BlobNotFound(_))));
    }

    #[test]
    fn verified_reader_checks_size_and_digest() {
        let store = MemoryStore::new();
        let (d, n) = store.put_bytes(b"hello world").unwrap();
        let read = |digest: &Digest, size: u64| {
            let mut v = Vec::new();
            store.open_verified(digest, size).unwrap().read_to_end(&mut v).map(|_| v)
        };
        assert_eq!(read(&d, n).unwrap(), b"hello world");
        for size in [0, 5, n - 1, n + 1, 1 << 40] {
            let e = read(&d, size).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{size}: {e}");
        }
        // Same size, other content: the digest catches it.
        let (other, _) = store.put_bytes(b"HELLO WORLD").unwrap();
        let mut r = store.open_verified(&other, n).unwrap();
        r.digest = d.clone();
        assert_eq!(r.read_to_end(&mut Vec::new()).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn memory_store() {
        exercise(&MemoryStore::new());
    }

    #[test]
    fn dir_store_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path()).unwrap();
        exercise(&store);
        let left: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256")).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
