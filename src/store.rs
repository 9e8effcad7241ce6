//! Combining blob stores.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use mbi_core::{BlobRead, BlobStore, BlobWriter, Descriptor, Digest};

/// Two stores seen as one: reads look in `upper` first, then in `lower`; writes and deletes go
/// to `upper` only, so `lower` is never modified.
///
/// This is how an image built on top of a base is assembled without copying the base: the new
/// layer, config and manifest are written to a staging store (`upper`) while the base's blobs
/// are read where they are (`lower`, e.g. an archive opened in place), and the whole image is
/// then written to its destination from the overlay.
///
/// ```
/// use mbi::store::OverlayStore;
/// use mbi_core::{BlobStore, MemoryStore};
///
/// let lower = MemoryStore::new();
/// let upper = MemoryStore::new();
/// let (base, _) = lower.put_bytes(b"base layer").unwrap();
/// let both = OverlayStore::new(&upper, &lower);
/// let (new, _) = both.put_bytes(b"new layer").unwrap();
/// assert!(both.contains(&base).unwrap() && both.contains(&new).unwrap());
/// assert!(upper.contains(&new).unwrap() && !lower.contains(&new).unwrap());
/// ```
#[derive(Clone, Copy)]
pub struct OverlayStore<'a> {
    upper: &'a dyn BlobStore,
    lower: &'a dyn BlobStore,
}

impl std::fmt::Debug for OverlayStore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayStore").finish_non_exhaustive()
    }
}

impl<'a> OverlayStore<'a> {
    /// Reads from `upper`, then `lower`; writes to `upper`.
    pub fn new(upper: &'a dyn BlobStore, lower: &'a dyn BlobStore) -> Self {
        OverlayStore { upper, lower }
    }
}

impl BlobStore for OverlayStore<'_> {
    fn stat(&self, digest: &Digest) -> mbi_core::Result<Option<u64>> {
        match self.upper.stat(digest)? {
            Some(n) => Ok(Some(n)),
            None => self.lower.stat(digest),
        }
    }

    fn open(&self, digest: &Digest) -> mbi_core::Result<Box<dyn BlobRead>> {
        if self.upper.stat(digest)?.is_some() {
            self.upper.open(digest)
        } else {
            self.lower.open(digest)
        }
    }

    fn begin(&self) -> mbi_core::Result<Box<dyn BlobWriter>> {
        self.upper.begin()
    }

    fn delete(&self, digest: &Digest) -> mbi_core::Result<()> {
        self.upper.delete(digest)
    }

    fn list(&self) -> mbi_core::Result<Vec<Digest>> {
        let mut all = self.upper.list()?;
        all.extend(self.lower.list()?);
        all.sort();
        all.dedup();
        Ok(all)
    }
}

/// A store that owns what it needs (`'static`, shareable through an [`Arc`]) although part of
/// its content lives in a store that is only borrowed: the blobs of one image graph that are
/// missing from `upper` are **opened in advance** from the borrowed `lower`, and later reads
/// are served from those open handles (each reader keeps its own position, so a blob can be
/// read several times, e.g. when an upload is retried). Nothing is copied.
///
/// This is how an image built on a base opened in place (an archive, a layout, a pulled
/// image) is handed to [`mbi_registry::Client::push`], which needs an `Arc<dyn BlobStore>`.
/// Writes and deletes go to `upper`.
///
/// ```
/// use std::sync::Arc;
/// use mbi::store::PinnedStore;
/// use mbi_core::{BlobStore, ImageBuilder, MemoryStore, Platform};
///
/// let base = MemoryStore::new(); // borrowed only
/// let upper: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
/// let image = ImageBuilder::new(Platform::linux("amd64")).build(&base).unwrap();
/// let pinned = PinnedStore::new(upper, &base, image.descriptor()).unwrap();
/// drop(base); // the pinned store no longer needs it
/// assert!(pinned.contains(image.digest()).unwrap());
/// ```
pub struct PinnedStore {
    upper: Arc<dyn BlobStore>,
    pinned: BTreeMap<Digest, Pinned>,
}

struct Pinned {
    reader: Arc<Mutex<Box<dyn BlobRead>>>,
    size: u64,
}

impl std::fmt::Debug for PinnedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedStore").field("pinned", &self.pinned.len()).finish_non_exhaustive()
    }
}

impl PinnedStore {
    /// Walks `root` (manifests read from `upper`, then `lower`) and opens every blob of it that
    /// `upper` lacks and `lower` has. Blobs in neither are left out (the caller finds out when
    /// it needs them, or never, if the destination already has them).
    pub fn new(
        upper: Arc<dyn BlobStore>,
        lower: &dyn BlobStore,
        root: &Descriptor,
    ) -> mbi_core::Result<Self> {
        let mut pinned = BTreeMap::new();
        let both = OverlayStore::new(&*upper, lower);
        mbi_core::manifest::walk(&both, root, false, &mut |d| {
            if upper.stat(&d.digest)?.is_none()
                && !pinned.contains_key(&d.digest)
                && let Some(size) = lower.stat(&d.digest)?
            {
                let reader = Arc::new(Mutex::new(lower.open(&d.digest)?));
                pinned.insert(d.digest.clone(), Pinned { reader, size });
            }
            Ok(())
        })?;
        Ok(PinnedStore { upper, pinned })
    }
}

impl BlobStore for PinnedStore {
    fn stat(&self, digest: &Digest) -> mbi_core::Result<Option<u64>> {
        match self.upper.stat(digest)? {
            Some(n) => Ok(Some(n)),
            None => Ok(self.pinned.get(digest).map(|p| p.size)),
        }
    }

    fn open(&self, digest: &Digest) -> mbi_core::Result<Box<dyn BlobRead>> {
        if self.upper.stat(digest)?.is_some() {
            return self.upper.open(digest);
        }
        match self.pinned.get(digest) {
            Some(p) => Ok(Box::new(SharedReader { inner: p.reader.clone(), pos: 0, size: p.size })),
            None => Err(mbi_core::Error::BlobNotFound(digest.clone())),
        }
    }

    fn begin(&self) -> mbi_core::Result<Box<dyn BlobWriter>> {
        self.upper.begin()
    }

    fn delete(&self, digest: &Digest) -> mbi_core::Result<()> {
        self.upper.delete(digest)
    }

    fn list(&self) -> mbi_core::Result<Vec<Digest>> {
        let mut all = self.upper.list()?;
        all.extend(self.pinned.keys().cloned());
        all.sort();
        all.dedup();
        Ok(all)
    }
}

/// One reader of a shared open blob: every read seeks the shared handle to this reader's own
/// position first.
struct SharedReader {
    inner: Arc<Mutex<Box<dyn BlobRead>>>,
    pos: u64,
    size: u64,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut r = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("a reader of this blob panicked"))?;
        r.seek(SeekFrom::Start(self.pos))?;
        let n = r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.size, d),
        };
        let new = base.0.checked_add_signed(base.1).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use mbi_core::{BlobStore, Descriptor, MediaType, MemoryStore};

    use super::*;

    #[test]
    fn pinned_blobs_read_many_times_and_independently() {
        let lower = MemoryStore::new();
        let upper: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
        let layer = b"some layer bytes".repeat(100);
        let (ld, ln) = lower.put_bytes(&layer).unwrap();
        let (cd, cn) = upper.put_bytes(b"{}").unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": ln}],
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let (md, mn) = lower.put_bytes(&bytes).unwrap();
        let root = Descriptor::new(MediaType::OciManifest, md.clone(), mn);
        let pinned = PinnedStore::new(upper.clone(), &lower, &root).unwrap();
        drop(lower);
        assert_eq!(pinned.list().unwrap().len(), 3);
        assert_eq!(pinned.read_bytes(&md, 1 << 20).unwrap(), bytes);
        let (mut a, mut b) = (pinned.open(&ld).unwrap(), pinned.open(&ld).unwrap());
        let mut first = [0u8; 10];
        a.read_exact(&mut first).unwrap();
        let mut all = Vec::new();
        b.read_to_end(&mut all).unwrap();
        assert_eq!(all, layer);
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!([&first[..], &rest].concat(), layer);
        a.seek(SeekFrom::End(-5)).unwrap();
        rest.clear();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &layer[layer.len() - 5..]);
        assert!(a.seek(SeekFrom::Current(-10_000)).is_err());
        assert_eq!(pinned.stat(&cd).unwrap(), Some(cn));
        assert!(pinned.open(&mbi_core::Digest::sha256(b"absent")).is_err());
    }
}
