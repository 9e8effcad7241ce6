//! Whole-image operations: pull into a store, push from a store, copy between registries.
//!
//! Each walks the same graph (index → manifests → config and layers), verifying every document
//! against its descriptor. Blobs move first and concurrently; manifests follow, children before
//! parents, and the tag goes last, so a failure never leaves a tag pointing at missing content.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use mbi_core::{BlobStore, Descriptor, Digest, MediaType, Platform};

use crate::client::{Access, Client, Registry};
use crate::error::{Error, Result};
use crate::manifest::{Document, MAX_MANIFEST_SIZE};
use crate::ops::verify_digest;
use crate::progress::{BlobOutcome, Direction, ProgressEvent};
use crate::reference::Reference;
use crate::transfer::BlobSource;

/// The deepest nesting of indexes followed.
const MAX_DEPTH: usize = 8;

/// Which manifests of an index to take.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlatformSelector {
    /// Every manifest: the index itself is the result (`--all`).
    All,
    /// The one manifest for this platform: it is the result, the index is dropped. A reference
    /// that names a single manifest is taken whatever its platform.
    Platform(Platform),
}

impl PlatformSelector {
    /// The manifest of `index` entries to take for platform `want`: an exact match (variants
    /// normalised: `arm64` ≡ `arm64/v8`, `arm` ≡ `arm/v7`), else the first entry with the same
    /// OS and architecture when `want` names no variant.
    pub fn choose<'a>(want: &Platform, manifests: &'a [Descriptor]) -> Option<&'a Descriptor> {
        fn norm<'b>(arch: &str, v: Option<&'b str>) -> Option<&'b str> {
            match (arch, v) {
                ("arm64", None) => Some("v8"),
                ("arm", None) => Some("v7"),
                (_, v) => v,
            }
        }
        let same = |p: &Platform| p.os == want.os && p.architecture == want.architecture;
        let candidates: Vec<&Descriptor> =
            manifests.iter().filter(|d| d.platform.as_ref().is_some_and(same)).collect();
        let wv = norm(&want.architecture, want.variant.as_deref());
        candidates
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| norm(&p.architecture, p.variant.as_deref()) == wv)
            })
            .or_else(|| if want.variant.is_none() { candidates.first() } else { None })
            .copied()
    }
}

/// Counts of what happened to blobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobStats {
    /// Blobs whose bytes were transferred.
    pub transferred: usize,
    /// Blobs already present at the destination.
    pub present: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Bytes of the transferred blobs.
    pub bytes: u64,
}

/// The result of [`Client::pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The root that is now complete in the store: the selected manifest (with the platform
    /// its index gave it), or the index for [`PlatformSelector::All`]. Write it into the
    /// layout's `index.json`.
    pub descriptor: Descriptor,
    /// The digest of the document the reference named (the index, when a platform was
    /// selected from one).
    pub source_digest: Digest,
    /// Manifests and indexes stored.
    pub manifests: usize,
    /// What happened to the blobs.
    pub blobs: BlobStats,
}

/// The result of [`Client::push`] and [`Client::copy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The root pushed (manifest or index).
    pub descriptor: Descriptor,
    /// The destination pinned to the pushed digest (keeps the tag if one was given).
    pub reference: Reference,
    /// Manifests and indexes put.
    pub manifests_put: usize,
    /// Manifests and indexes that were already there (not put again).
    pub manifests_present: usize,
    /// What happened to the blobs.
    pub blobs: BlobStats,
}

/// A verified manifest or index.
pub(crate) struct Node {
    pub(crate) desc: Descriptor,
    pub(crate) bytes: Vec<u8>,
    pub(crate) doc: Document,
}

/// Everything an image consists of: manifests children-first (root last), blobs deduplicated.
pub(crate) struct Plan {
    pub(crate) manifests: Vec<Node>,
    pub(crate) blobs: Vec<Descriptor>,
}

/// Where manifests are read from while walking.
pub(crate) enum GraphSource<'a> {
    Store(&'a Arc<dyn BlobStore>),
    Remote { reg: &'a Arc<Registry>, repo: &'a str },
}

/// Checks `bytes` against `desc` and parses them.
pub(crate) fn node(desc: Descriptor, bytes: Vec<u8>, what: &str) -> Result<Node> {
    if bytes.len() as u64 != desc.size {
        return Err(Error::SizeMismatch {
            what: what.to_owned(),
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    verify_digest(&bytes, &desc.digest, what)?;
    let declared =
        (desc.media_type.is_manifest() || desc.media_type.is_index()).then_some(&desc.media_type);
    let doc = Document::parse(&bytes, declared, what)?;
    Ok(Node { desc, bytes, doc })
}

pub(crate) async fn read_store_bytes(
    store: &Arc<dyn BlobStore>,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>> {
    let (s, d) = (store.clone(), digest.clone());
    tokio::task::spawn_blocking(move || s.read_bytes(&d, limit))
        .await
        .map_err(|e| Error::Task { what: format!("reading {digest}"), reason: e.to_string() })?
        .map_err(|e| Error::store(format!("reading {digest}"), e))
}

pub(crate) async fn put_store_bytes(
    store: &Arc<dyn BlobStore>,
    bytes: Vec<u8>,
    expected: Digest,
) -> Result<()> {
    let s = store.clone();
    let what = format!("storing {expected}");
    tokio::task::spawn_blocking(move || {
        let mut w = s.begin()?;
        std::io::Write::write_all(&mut w, &bytes).map_err(|e| mbi_core::Error::Stream {
            context: format!("writing {expected}"),
            source: e,
        })?;
        w.commit(Some(&expected))
    })
    .await
    .map_err(|e| Error::Task { what: what.clone(), reason: e.to_string() })?
    .map_err(|e| Error::store(what, e))?;
    Ok(())
}

impl Client {
    async fn load(
        &self,
        src: &GraphSource<'_>,
        desc: &Descriptor,
        parent: &Digest,
    ) -> Result<Node> {
        let what = format!("manifest {} (listed in {parent})", desc.digest);
        if desc.size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge { what, limit: MAX_MANIFEST_SIZE });
        }
        let bytes = match src {
            GraphSource::Store(store) => {
                match read_store_bytes(store, &desc.digest, MAX_MANIFEST_SIZE).await {
                    Err(Error::Store { source: mbi_core::Error::BlobNotFound(_), .. }) => {
                        return Err(Error::invalid_doc(what, "not in the blob store"));
                    }
                    other => other?,
                }
            }
            GraphSource::Remote { reg, repo } => {
                self.get_manifest(reg, repo, &desc.digest.to_string()).await?.bytes
            }
        };
        node(desc.clone(), bytes, &what)
    }

    /// Walks the graph under `root`. With a platform selector, an index root is replaced by the
    /// selected manifest. Returns the effective root descriptor and the plan.
    pub(crate) async fn walk(
        &self,
        src: &GraphSource<'_>,
        mut root: Node,
        selector: Option<&PlatformSelector>,
        name: &str,
    ) -> Result<Plan> {
        if let Some(PlatformSelector::Platform(want)) = selector {
            for _ in 0..MAX_DEPTH {
                let Document::Index(idx) = &root.doc else { break };
                let chosen = PlatformSelector::choose(want, &idx.manifests).ok_or_else(|| {
                    Error::PlatformNotFound {
                        reference: name.to_owned(),
                        wanted: want.to_string(),
                        available: {
                            let v: Vec<String> = idx
                                .manifests
                                .iter()
                                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                                .collect();
                            if v.is_empty() { "none listed".into() } else { v.join(", ") }
                        },
                    }
                })?;
                let chosen = chosen.clone();
                root = self.load(src, &chosen, &root.desc.digest).await?;
            }
        }
        let mut levels: Vec<Vec<Node>> = vec![vec![root]];
        for depth in 0.. {
            let Some(level) = levels.last() else { break };
            let mut next = Vec::new();
            for n in level {
                if let Document::Index(idx) = &n.doc {
                    if depth + 1 >= MAX_DEPTH {
                        return Err(Error::invalid_doc(
                            format!("index {}", n.desc.digest),
                            format!("indexes nested deeper than {MAX_DEPTH}"),
                        ));
                    }
                    for child in &idx.manifests {
                        next.push(self.load(src, child, &n.desc.digest).await?);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            levels.push(next);
        }
        let mut seen = HashSet::new();
        let mut manifests = Vec::new();
        let mut blobs = Vec::new();
        let mut seen_blobs = HashSet::new();
        for n in levels.into_iter().rev().flatten() {
            if let Document::Manifest(m) = &n.doc {
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    if seen_blobs.insert(b.digest.clone()) {
                        blobs.push(b.clone());
                    }
                }
            }
            if seen.insert(n.desc.digest.clone()) {
                manifests.push(n);
            }
        }
        Ok(Plan { manifests, blobs })
    }

    async fn for_each_blob<F, Fut>(&self, blobs: &[Descriptor], f: F) -> Result<BlobStats>
    where
        F: Fn(Descriptor) -> Fut,
        Fut: std::future::Future<Output = Result<(BlobOutcome, u64)>>,
    {
        futures_util::stream::iter(blobs.iter().cloned().map(&f))
            .buffer_unordered(self.inner.concurrency)
            .try_fold(BlobStats::default(), |mut s, (outcome, size)| async move {
                match outcome {
                    BlobOutcome::Transferred => {
                        s.transferred += 1;
                        s.bytes += size;
                    }
                    BlobOutcome::AlreadyPresent => s.present += 1,
                    BlobOutcome::Mounted => s.mounted += 1,
                }
                Ok(s)
            })
            .await
    }

    /// Pulls the image `reference` names into `store`: manifests (exact bytes), config and
    /// layers, every one verified against its digest; blobs already in the store are not
    /// downloaded again. From an index, `platform` selects one manifest or keeps all.
    ///
    /// Blobs are stored before manifests, so the store never holds a manifest of this pull
    /// whose blobs are missing.
    ///
    /// ```no_run
    /// # async fn f() -> mbi_registry::Result<()> {
    /// use std::sync::Arc;
    /// use mbi_registry::{AuthConfig, Client, PlatformSelector};
    /// let client = Client::new(AuthConfig::anonymous())?;
    /// let store: Arc<dyn mbi_core::BlobStore> = Arc::new(mbi_core::DirStore::new("/tmp/layout").unwrap());
    /// let pulled = client
    ///     .pull(&"127.0.0.1:5000/app:v1".parse()?, &PlatformSelector::Platform("linux/amd64".parse().unwrap()), store)
    ///     .await?;
    /// println!("{}", pulled.descriptor.digest);
    /// # Ok(()) }
    /// ```
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: &PlatformSelector,
        store: Arc<dyn BlobStore>,
    ) -> Result<Pulled> {
        let reg = self.registry(reference.registry()).await?;
        let repo = reference.repository();
        let f = self.get_manifest(&reg, repo, &reference.manifest_ref()).await?;
        let what = format!("manifest {reference}");
        let doc = Document::parse(&f.bytes, f.content_type.as_ref(), &what)?;
        let mt = doc.media_type(f.content_type.as_ref());
        let source_digest = f.digest.clone();
        let root =
            Node { desc: Descriptor::new(mt, f.digest, f.bytes.len() as u64), bytes: f.bytes, doc };
        let plan = self
            .walk(
                &GraphSource::Remote { reg: &reg, repo },
                root,
                Some(platform),
                &reference.to_string(),
            )
            .await?;
        let blobs = self
            .for_each_blob(&plan.blobs, |d| {
                let (reg, store) = (reg.clone(), store.clone());
                async move {
                    let outcome = self.download_blob(&reg, repo, &d, &store).await?;
                    Ok((outcome, d.size))
                }
            })
            .await?;
        let count = plan.manifests.len();
        let mut descriptor = None;
        for n in plan.manifests {
            put_store_bytes(&store, n.bytes, n.desc.digest.clone()).await?;
            self.emit(ProgressEvent::ManifestDone {
                digest: n.desc.digest.clone(),
                direction: Direction::Pull,
                already_present: false,
            });
            descriptor = Some(n.desc);
        }
        let descriptor = descriptor
            .ok_or_else(|| Error::Task { what: "pull".into(), reason: "empty plan".into() })?;
        Ok(Pulled { descriptor, source_digest, manifests: count, blobs })
    }

    /// Pushes the image whose root (manifest or index) is `root` in `store` to `reference`:
    /// every blob is checked with `HEAD` and uploaded only if missing (streamed from the store,
    /// concurrently), then child manifests by digest, then the root by the reference's tag (or
    /// digest). Re-pushing an image already present costs only the existence checks.
    ///
    /// ```no_run
    /// # async fn f(store: std::sync::Arc<dyn mbi_core::BlobStore>, root: mbi_core::Descriptor) -> mbi_registry::Result<()> {
    /// let client = mbi_registry::Client::new(mbi_registry::AuthConfig::anonymous())?;
    /// let pushed = client.push(store, &root, &"127.0.0.1:5000/app:v1".parse()?).await?;
    /// println!("pushed {}", pushed.reference);
    /// # Ok(()) }
    /// ```
    pub async fn push(
        &self,
        store: Arc<dyn BlobStore>,
        root: &Descriptor,
        reference: &Reference,
    ) -> Result<Pushed> {
        check_target(reference, &root.digest)?;
        if !is_document(&root.media_type) {
            return Err(Error::invalid_doc(
                format!("push root {}", root.digest),
                format!("media type {} is not a manifest or index", root.media_type),
            ));
        }
        let reg = self.registry(reference.registry()).await?;
        let what = format!("manifest {} (root of the push to {reference})", root.digest);
        if root.size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge { what, limit: MAX_MANIFEST_SIZE });
        }
        let bytes = read_store_bytes(&store, &root.digest, MAX_MANIFEST_SIZE).await?;
        let root_node = node(root.clone(), bytes, &what)?;
        let plan =
            self.walk(&GraphSource::Store(&store), root_node, None, &reference.to_string()).await?;
        self.push_plan(&reg, reference, plan, &BlobSource::Store(store), None).await
    }

    /// Copies the image `src` names to `dst`, registry to registry, without a local store:
    /// blobs stream from source to destination (or are mounted when both repositories are on
    /// the same registry, falling back to streaming if the registry declines the mount).
    pub async fn copy(
        &self,
        src: &Reference,
        dst: &Reference,
        platform: &PlatformSelector,
    ) -> Result<Pushed> {
        let sreg = self.registry(src.registry()).await?;
        let dreg = self.registry(dst.registry()).await?;
        let srepo = src.repository();
        let f = self.get_manifest(&sreg, srepo, &src.manifest_ref()).await?;
        let what = format!("manifest {src}");
        let doc = Document::parse(&f.bytes, f.content_type.as_ref(), &what)?;
        let mt = doc.media_type(f.content_type.as_ref());
        let root =
            Node { desc: Descriptor::new(mt, f.digest, f.bytes.len() as u64), bytes: f.bytes, doc };
        let plan = self
            .walk(
                &GraphSource::Remote { reg: &sreg, repo: srepo },
                root,
                Some(platform),
                &src.to_string(),
            )
            .await?;
        if let Some(root) = plan.manifests.last() {
            check_target(dst, &root.desc.digest)?;
        }
        let mount_from = (sreg.name == dreg.name && srepo != dst.repository()).then_some(srepo);
        let source = BlobSource::Remote { reg: sreg.clone(), repo: srepo.to_owned() };
        self.push_plan(&dreg, dst, plan, &source, mount_from).await
    }

    pub(crate) async fn push_plan(
        &self,
        reg: &Arc<Registry>,
        target: &Reference,
        plan: Plan,
        source: &BlobSource,
        mount_from: Option<&str>,
    ) -> Result<Pushed> {
        let repo = target.repository();
        let blobs = self
            .for_each_blob(&plan.blobs, |d| async move {
                let outcome = self.upload_blob(reg, repo, &d, source, mount_from).await?;
                Ok((outcome, d.size))
            })
            .await?;
        let access = Access::push(repo);
        let (mut put, mut present) = (0, 0);
        let n = plan.manifests.len();
        let mut root_desc = None;
        for (i, node) in plan.manifests.into_iter().enumerate() {
            let is_root = i + 1 == n;
            let digest_ref = node.desc.digest.to_string();
            let reference = match (is_root, target.tag()) {
                (true, Some(tag)) => tag.to_owned(),
                _ => digest_ref.clone(),
            };
            let existing = self.head_manifest(reg, &access, repo, &reference).await?;
            let already = existing.is_some_and(|(d, _, _)| d == node.desc.digest);
            if already {
                present += 1;
            } else {
                self.put_manifest(reg, repo, &reference, &node.desc.media_type, &node.bytes)
                    .await?;
                put += 1;
            }
            self.emit(ProgressEvent::ManifestDone {
                digest: node.desc.digest.clone(),
                direction: Direction::Push,
                already_present: already,
            });
            if is_root {
                root_desc = Some(node.desc);
            }
        }
        let descriptor = root_desc
            .ok_or_else(|| Error::Task { what: "push".into(), reason: "empty plan".into() })?;
        Ok(Pushed {
            reference: target.with_digest(descriptor.digest.clone()),
            descriptor,
            manifests_put: put,
            manifests_present: present,
            blobs,
        })
    }
}

fn check_target(reference: &Reference, digest: &Digest) -> Result<()> {
    match reference.digest() {
        Some(d) if d != digest => Err(Error::DigestMismatch {
            what: format!("push target {reference}"),
            expected: d.clone(),
            actual: digest.clone(),
        }),
        _ => Ok(()),
    }
}

/// Whether `mt` is a manifest or index type (used to validate roots given by callers).
pub(crate) fn is_document(mt: &MediaType) -> bool {
    mt.is_manifest() || mt.is_index()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        let mut p = Platform::linux(arch);
        p.variant = variant.map(str::to_owned);
        Descriptor::of_bytes(MediaType::OciManifest, &[n]).with_platform(p)
    }

    #[test]
    fn platform_choice() {
        let list = vec![
            d("amd64", None, 1),
            d("arm", Some("v6"), 2),
            d("arm", Some("v7"), 3),
            d("arm64", Some("v8"), 4),
        ];
        let pick = |s: &str| {
            PlatformSelector::choose(&s.parse().unwrap(), &list).map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/amd64"), Some(list[0].digest.clone()));
        assert_eq!(pick("linux/arm"), Some(list[2].digest.clone()));
        assert_eq!(pick("linux/arm/v6"), Some(list[1].digest.clone()));
        assert_eq!(pick("linux/arm64"), Some(list[3].digest.clone()));
        assert_eq!(pick("linux/arm64/v8"), Some(list[3].digest.clone()));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("windows/amd64"), None);
        assert_eq!(pick("linux/arm/v5"), None);
    }
}
