//! Combining blob stores.

use mbi_core::{BlobRead, BlobStore, BlobWriter, Digest};

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
