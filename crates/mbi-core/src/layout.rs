//! OCI image layouts on disk: `oci-layout`, `index.json` and `blobs/`.
//!
//! [`OciLayout`] is a [`BlobStore`] (it delegates to [`DirStore`]) plus the layout's
//! `index.json`, which names manifests, tagged through the `org.opencontainers.image.ref.name`
//! annotation as skopeo and umoci do.
//!
//! # Concurrency
//! Blobs are content-addressed and committed by rename, so any number of writers may store them
//! at once. `index.json` is changed only under an exclusive `flock(2)` lock taken on the layout
//! directory itself (no lock file is left in the layout), by reading, changing and atomically
//! replacing it (temp file + rename): two processes tagging at once never lose an update, and
//! readers never see a partial file.
//!
//! [`OciLayout::gc`] holds the same lock, so it never races with tagging; but a blob stored and
//! not yet referenced from `index.json` (an image being written) is garbage to it. Do not run
//! `gc` while another process is writing an image into the layout.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::{self, MAX_LAYOUT_INDEX_BYTES, annotations};
use crate::store::{BlobRead, BlobWriter};
use crate::{BlobStore, Descriptor, Digest, DirStore, Error, MediaType, Result};

/// The content of the `oci-layout` file mbi writes.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    store: DirStore,
}

/// `index.json`: the fields mbi reads and writes; anything else is kept as is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<MediaType>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl IndexJson {
    fn empty() -> Self {
        IndexJson {
            schema_version: 2,
            media_type: Some(MediaType::OciIndex),
            manifests: Vec::new(),
            rest: serde_json::Map::new(),
        }
    }
}

#[derive(Deserialize)]
struct LayoutFile {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

/// Checks the content of an `oci-layout` file: JSON with `imageLayoutVersion` 1.x.
pub fn check_oci_layout_file(bytes: &[u8], path: &Path) -> Result<()> {
    let bad = |reason: String| Error::InvalidLayout { path: path.to_owned(), reason };
    let f: LayoutFile = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("oci-layout is not valid JSON: {e}")))?;
    if f.image_layout_version != "1.0.0" && !f.image_layout_version.starts_with("1.") {
        return Err(bad(format!(
            "unsupported imageLayoutVersion {:?} (expected 1.0.0)",
            f.image_layout_version
        )));
    }
    Ok(())
}

/// Parses an `index.json` document and returns its manifest list.
pub(crate) fn parse_index_json(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>> {
    let idx: IndexJson = serde_json::from_slice(bytes)
        .map_err(|e| Error::Document { what: what.to_owned(), source: e })?;
    if idx.schema_version != 2 {
        return Err(Error::invalid(
            what,
            format!("schemaVersion is {}, expected 2", idx.schema_version),
        ));
    }
    Ok(idx.manifests)
}

/// The canonical bytes of an `index.json` listing `manifests`.
pub(crate) fn index_json_bytes(manifests: Vec<Descriptor>) -> Result<Vec<u8>> {
    let mut idx = IndexJson::empty();
    idx.manifests = manifests;
    crate::canonical::to_vec(&idx)
}

/// Picks the manifest a layout reference means: the one tagged `tag`, or, without a tag, the
/// only manifest listed. `location` names the layout in errors.
pub(crate) fn select_manifest(
    manifests: &[Descriptor],
    tag: Option<&str>,
    location: &str,
) -> Result<Descriptor> {
    match tag {
        Some(tag) => manifests
            .iter()
            .find(|d| d.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(tag))
            .cloned()
            .ok_or_else(|| Error::NotFound { name: tag.to_owned(), location: location.to_owned() }),
        None => match manifests {
            [only] => Ok(only.clone()),
            [] => Err(Error::Selection {
                location: location.to_owned(),
                reason: "it lists no manifests".into(),
            }),
            many => Err(Error::Selection {
                location: location.to_owned(),
                reason: format!(
                    "it lists {} manifests; name one by tag (tags: {})",
                    many.len(),
                    many.iter()
                        .filter_map(|d| d.annotations.get(annotations::REF_NAME).cloned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        },
    }
}

impl OciLayout {
    /// Opens an existing layout: `oci-layout` must exist with version 1.x.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let root = path.into();
        let lf = root.join("oci-layout");
        let bytes = match fs::read(&lf) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::InvalidLayout {
                    path: root,
                    reason: "no oci-layout file: not an OCI image layout".into(),
                });
            }
            Err(e) => return Err(Error::io("read", lf, e)),
        };
        check_oci_layout_file(&bytes, &root)?;
        let store = DirStore::new(&root)?;
        Ok(OciLayout { root, store })
    }

    /// Creates a layout at `path`, or opens it if it already is one. The directory must not
    /// exist, be empty, or already be a layout: mbi does not turn a directory holding other
    /// files into a layout.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self> {
        let root = path.into();
        fs::create_dir_all(&root).map_err(|e| Error::io("create", &root, e))?;
        let _lock = lock_dir(&root)?;
        if !root.join("oci-layout").exists() {
            let mut entries =
                fs::read_dir(&root).map_err(|e| Error::io("read directory", &root, e))?;
            if let Some(e) = entries.next() {
                let e = e.map_err(|e| Error::io("read directory", &root, e))?;
                return Err(Error::InvalidLayout {
                    path: root.clone(),
                    reason: format!(
                        "directory is not empty (it holds {:?}) and is not an OCI layout",
                        e.file_name()
                    ),
                });
            }
            write_atomic(&root, "oci-layout", OCI_LAYOUT_CONTENT)?;
        }
        let layout = OciLayout::open(&root)?;
        if !root.join("index.json").exists() {
            layout.write_index(&IndexJson::empty())?;
        }
        Ok(layout)
    }

    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The blob store under `blobs/`.
    pub fn dir_store(&self) -> &DirStore {
        &self.store
    }

    fn read_index(&self) -> Result<IndexJson> {
        let p = self.root.join("index.json");
        let f = match File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IndexJson::empty()),
            Err(e) => return Err(Error::io("open", p, e)),
        };
        let mut bytes = Vec::new();
        use std::io::Read;
        f.take(MAX_LAYOUT_INDEX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &p, e))?;
        if bytes.len() as u64 > MAX_LAYOUT_INDEX_BYTES {
            return Err(Error::TooLarge {
                what: p.display().to_string(),
                size: bytes.len() as u64,
                limit: MAX_LAYOUT_INDEX_BYTES,
            });
        }
        let idx: IndexJson = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Document { what: p.display().to_string(), source: e })?;
        if idx.schema_version != 2 {
            return Err(Error::InvalidLayout {
                path: self.root.clone(),
                reason: format!("index.json has schemaVersion {}, expected 2", idx.schema_version),
            });
        }
        Ok(idx)
    }

    fn write_index(&self, idx: &IndexJson) -> Result<()> {
        let bytes = crate::canonical::to_vec(idx)?;
        write_atomic(&self.root, "index.json", &bytes)
    }

    /// Runs `f` on the manifest list of `index.json` under the layout's exclusive lock, and
    /// writes the result back atomically if `f` succeeds.
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> Result<T>) -> Result<T> {
        let _lock = lock_dir(&self.root)?;
        let mut idx = self.read_index()?;
        let before = idx.manifests.clone();
        let out = f(&mut idx.manifests)?;
        if idx.manifests != before || !self.root.join("index.json").exists() {
            self.write_index(&idx)?;
        }
        Ok(out)
    }

    /// The manifests `index.json` lists, in order.
    pub fn manifests(&self) -> Result<Vec<Descriptor>> {
        Ok(self.read_index()?.manifests)
    }

    /// Tagged manifests as `(tag, descriptor)` pairs, in `index.json` order.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .manifests()?
            .into_iter()
            .filter_map(|d| d.annotations.get(annotations::REF_NAME).cloned().map(|t| (t, d)))
            .collect())
    }

    /// The descriptor tagged `tag`.
    pub fn resolve(&self, tag: &str) -> Result<Descriptor> {
        self.manifests()?
            .into_iter()
            .find(|d| d.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(tag))
            .ok_or_else(|| Error::NotFound {
                name: tag.to_owned(),
                location: format!("OCI layout {}", self.root.display()),
            })
    }

    /// Tags `descriptor` as `name`, replacing an existing entry of that name (in place). The
    /// name must be valid as skopeo's `oci:DIR:NAME` reference part.
    pub fn tag(&self, name: &str, descriptor: &Descriptor) -> Result<()> {
        crate::transport::validate_oci_ref_name(name)?;
        let mut d = descriptor.clone();
        d.annotations.insert(annotations::REF_NAME.to_owned(), name.to_owned());
        self.update_index(|m| {
            let is_name = |e: &Descriptor| {
                e.annotations.get(annotations::REF_NAME).map(String::as_str) == Some(name)
            };
            match m.iter().position(is_name) {
                Some(i) => {
                    m[i] = d;
                    let mut j = i + 1;
                    while j < m.len() {
                        if is_name(&m[j]) {
                            m.remove(j);
                        } else {
                            j += 1;
                        }
                    }
                }
                None => m.push(d),
            }
            Ok(())
        })
    }

    /// Removes the tag `name`; returns whether it existed. Blobs stay until [`OciLayout::gc`].
    pub fn untag(&self, name: &str) -> Result<bool> {
        self.update_index(|m| {
            let n = m.len();
            m.retain(|e| {
                e.annotations.get(annotations::REF_NAME).map(String::as_str) != Some(name)
            });
            Ok(m.len() != n)
        })
    }

    /// Lists `descriptor` in `index.json` without a tag (any `ref.name` annotation on it is
    /// dropped). Adding a digest that is already listed untagged does nothing.
    pub fn add(&self, descriptor: &Descriptor) -> Result<()> {
        let mut d = descriptor.clone();
        d.annotations.remove(annotations::REF_NAME);
        self.update_index(|m| {
            if !m
                .iter()
                .any(|e| e.digest == d.digest && !e.annotations.contains_key(annotations::REF_NAME))
            {
                m.push(d);
            }
            Ok(())
        })
    }

    /// Deletes every blob not reachable from `index.json` (through indexes, manifests, configs,
    /// layers and subjects) and returns their digests, sorted. Holds the index lock throughout.
    /// If a referenced document is missing or unreadable, nothing is deleted.
    pub fn gc(&self) -> Result<Vec<Digest>> {
        let _lock = lock_dir(&self.root)?;
        let idx = self.read_index()?;
        let mut live = BTreeSet::new();
        for d in &idx.manifests {
            manifest::walk(&self.store, d, true, &mut |d| {
                live.insert(d.digest.clone());
                Ok(())
            })?;
        }
        let mut removed = Vec::new();
        for d in self.store.list()? {
            if !live.contains(&d) {
                self.store.delete(&d)?;
                removed.push(d);
            }
        }
        Ok(removed)
    }
}

impl BlobStore for OciLayout {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        self.store.stat(digest)
    }
    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>> {
        self.store.open(digest)
    }
    fn begin(&self) -> Result<Box<dyn BlobWriter>> {
        self.store.begin()
    }
    fn delete(&self, digest: &Digest) -> Result<()> {
        self.store.delete(digest)
    }
    fn list(&self) -> Result<Vec<Digest>> {
        self.store.list()
    }
}

/// An exclusive flock on a directory, released on drop (when the file closes).
struct DirLock {
    _file: File,
}

fn lock_dir(dir: &Path) -> Result<DirLock> {
    let file = File::open(dir).map_err(|e| Error::io("open directory for locking", dir, e))?;
    file.lock().map_err(|e| Error::io("lock", dir, e))?;
    Ok(DirLock { _file: file })
}

/// Writes `dir/name` atomically: a temp file in `dir`, synced, then renamed over the target.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(dir)
        .map_err(|e| Error::io("create temp file in", dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io("write", tmp.path().to_owned(), e))?;
    tmp.as_file().sync_data().map_err(|e| Error::io("sync", tmp.path().to_owned(), e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("chmod", tmp.path().to_owned(), e))?;
    }
    let dest = dir.join(name);
    tmp.persist(&dest).map_err(|e| Error::io("rename into", &dest, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{HistoryEntry, ImageBuilder};
    use crate::{Image, Platform};

    fn image(layout: &OciLayout, seed: u8) -> Image {
        let (d, n) = layout.put_bytes(&[seed; 1024]).unwrap();
        ImageBuilder::new(Platform::linux("amd64"))
            .append_layer(
                Descriptor::new(MediaType::OciLayer, d.clone(), n),
                d,
                HistoryEntry::default(),
            )
            .build(layout)
            .unwrap()
    }

    #[test]
    fn create_open_tag_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("l");
        assert!(matches!(OciLayout::open(&root), Err(Error::InvalidLayout { .. })));
        let l = OciLayout::create(&root).unwrap();
        assert_eq!(fs::read(root.join("oci-layout")).unwrap(), OCI_LAYOUT_CONTENT);
        assert_eq!(
            fs::read(root.join("index.json")).unwrap(),
            br#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
        let a = image(&l, 1);
        let b = image(&l, 2);
        l.tag("v1", a.descriptor()).unwrap();
        l.tag("v2", b.descriptor()).unwrap();
        l.tag("v1", b.descriptor()).unwrap();
        assert_eq!(l.resolve("v1").unwrap().digest, *b.digest());
        assert_eq!(l.tags().unwrap().len(), 2);
        assert!(matches!(l.resolve("nope"), Err(Error::NotFound { .. })));
        assert!(l.tag("bad tag", a.descriptor()).is_err());
        l.add(a.descriptor()).unwrap();
        l.add(a.descriptor()).unwrap();
        assert_eq!(l.manifests().unwrap().len(), 3);
        // Re-creating an existing layout opens it.
        OciLayout::create(&root).unwrap();
        assert_eq!(l.manifests().unwrap().len(), 3);
        // A non-empty non-layout directory is refused.
        let other = dir.path().join("other");
        fs::create_dir(&other).unwrap();
        fs::write(other.join("x"), b"").unwrap();
        assert!(matches!(OciLayout::create(&other), Err(Error::InvalidLayout { .. })));
    }

    #[test]
    fn gc_removes_only_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let l = OciLayout::create(dir.path()).unwrap();
        let a = image(&l, 1);
        let b = image(&l, 2);
        let (stray, _) = l.put_bytes(b"stray").unwrap();
        l.tag("a", a.descriptor()).unwrap();
        let removed = l.gc().unwrap();
        let mut expect = vec![
            stray,
            b.digest().clone(),
            b.config_descriptor().digest.clone(),
            b.layers()[0].descriptor.digest.clone(),
        ];
        expect.sort();
        assert_eq!(removed, expect);
        assert!(Image::load(&l, a.descriptor()).is_ok());
        assert!(l.gc().unwrap().is_empty());
        // A missing referenced manifest aborts gc without deleting anything.
        l.tag("b", b.descriptor()).unwrap();
        assert!(l.gc().is_err());
        assert!(l.contains(a.digest()).unwrap());
    }

    #[test]
    fn concurrent_writers_with_separate_handles_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        OciLayout::create(&root).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let l = OciLayout::open(&root).unwrap();
                    for i in 0..25 {
                        // Every thread writes the same blobs and its own tags.
                        let img = image(&l, (i % 3) as u8);
                        l.tag(&format!("t{t}-{i}"), img.descriptor()).unwrap();
                        l.tag("shared", img.descriptor()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let l = OciLayout::open(&root).unwrap();
        let tags = l.tags().unwrap();
        assert_eq!(tags.len(), 4 * 25 + 1);
        for (_, d) in &tags {
            Image::load(&l, d).unwrap();
        }
        let stray: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .chain(fs::read_dir(root.join("blobs/sha256")).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "temp files left: {stray:?}");
    }
}
