//! Writing images to references without leaving half-written destinations behind.
//!
//! mbi-core's [`transport::write`] and [`transport::copy`] write archives atomically (a temp
//! file renamed into place) and add blobs to existing OCI layouts one verified blob at a time.
//! This module adds the rest of what a command-line program needs:
//!
//! - a **new** `oci:` layout is assembled in a temporary directory next to it and renamed into
//!   place at the end, so a failure never leaves a partial layout where the user asked for one;
//! - an **existing** layout receives blobs directly (each is committed atomically; a failure
//!   leaves at most unreferenced blobs, which [`OciLayout::gc`] removes) and its `index.json`
//!   changes only once the image is complete;
//! - an image being **built** (see [`Destination`]) stages its new blobs where they will end up,
//!   and reads the blobs of its base from wherever the base is, without copying them first;
//! - a **registry** (`docker://`) destination stages new blobs in a temporary directory and
//!   pushes at [`Destination::publish`]: blobs first, then manifests, the tag last, so a failed
//!   push never leaves a tag pointing at missing blobs; a `docker://` source is pulled into a
//!   temporary layout ([`open_source`]) or, registry to registry, streamed ([`copy`]).
//!
//! Registries need a [`Remote`]: an [`mbi_registry::Client`] and the handle of the tokio
//! runtime that drives it. The program builds both (credentials from its command line and
//! environment); nothing here reads the environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mbi_core::transport::{self, CopyOptions, ImageReference, Source};
use mbi_core::{BlobStore, Descriptor, DirStore, ImageOrIndex, OciLayout, Platform};
use mbi_registry::{Client, PlatformSelector, Reference};

use crate::error::{Error, Result};
use crate::store::{OverlayStore, PinnedStore};

/// A registry client and the tokio runtime it runs on, for the synchronous functions of this
/// module. The runtime must be multi-threaded (its workers drive the I/O while this module
/// blocks the calling thread, which must not be one of them).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = tokio::runtime::Runtime::new()?;
/// let client = mbi::registry::Client::new(mbi::registry::AuthConfig::anonymous())?;
/// let remote = mbi::publish::Remote::new(client, runtime.handle().clone());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Remote {
    client: Client,
    runtime: tokio::runtime::Handle,
}

impl Remote {
    /// Pairs `client` with the runtime `runtime` belongs to.
    pub fn new(client: Client, runtime: tokio::runtime::Handle) -> Self {
        Remote { client, runtime }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `future` on the runtime, blocking this thread until it finishes.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// The registry reference a `docker://` reference names.
pub fn registry_reference(reference: &ImageReference) -> Result<Option<Reference>> {
    match reference {
        ImageReference::DockerRef(r) => Ok(Some(r.parse()?)),
        _ => Ok(None),
    }
}

fn need_remote<'a>(remote: Option<&'a Remote>, r: &ImageReference) -> Result<&'a Remote> {
    remote.ok_or_else(|| Error::Destination {
        reference: r.to_string(),
        reason: "docker:// references need a registry client (none was given)".into(),
    })
}

/// Where an image being built is staged, and how it is published to its reference.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mbi::core::{ImageBuilder, Platform, transport::ImageReference};
/// use mbi::publish::Destination;
///
/// let tmp = tempfile::tempdir()?;
/// let dest: ImageReference = format!("oci:{}:v1", tmp.path().join("out").display()).parse()?;
/// let staging = Destination::prepare(&dest, tmp.path())?;
/// let image = ImageBuilder::new(Platform::linux("amd64")).build(staging.store())?;
/// assert!(!tmp.path().join("out").exists()); // nothing visible yet
/// staging.publish(image.descriptor(), None)?;
/// assert!(tmp.path().join("out/index.json").exists());
/// # Ok(()) }
/// ```
pub struct Destination {
    reference: ImageReference,
    kind: Kind,
}

enum Kind {
    /// An existing layout (or an empty directory): blobs go straight into it.
    Layout(Arc<OciLayout>),
    /// A layout that does not exist yet: built at `staged` inside `_dir` (a temporary directory
    /// next to `path`) and renamed to `path` when published.
    NewLayout { _dir: tempfile::TempDir, staged: PathBuf, layout: Arc<OciLayout>, path: PathBuf },
    /// An archive: blobs are staged in a temporary directory, the archive is written at the end.
    Archive { _dir: tempfile::TempDir, store: Arc<DirStore> },
    /// A registry: blobs are staged in a temporary directory and pushed at the end.
    Registry { _dir: tempfile::TempDir, store: Arc<DirStore>, target: Reference, remote: Remote },
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination").field("reference", &self.reference).finish_non_exhaustive()
    }
}

impl Destination {
    /// Prepares to write an image to `reference`. Archives stage their blobs in a new temporary
    /// directory under `temp_dir` (a program would pass [`std::env::temp_dir`]; the library
    /// reads no environment). Checks what can be checked early, so that a long build does not
    /// fail at its very end: the archive's directory exists, the path is not a directory, an
    /// existing `oci:` directory is a layout or empty.
    ///
    /// `docker://` references need [`Destination::prepare_with`].
    pub fn prepare(reference: &ImageReference, temp_dir: &Path) -> Result<Destination> {
        Self::prepare_with(reference, temp_dir, None)
    }

    /// [`Destination::prepare`], for any reference: `docker://` ones are pushed with `remote`
    /// at [`Destination::publish`] (and their new blobs are staged in a temporary directory
    /// under `temp_dir` until then).
    pub fn prepare_with(
        reference: &ImageReference,
        temp_dir: &Path,
        remote: Option<&Remote>,
    ) -> Result<Destination> {
        let kind = match reference {
            ImageReference::Oci { path, .. } => match fs::symlink_metadata(path) {
                Ok(_) => Kind::Layout(Arc::new(OciLayout::create(path)?)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let (dir, staged) = stage_new_layout(path)?;
                    let layout = Arc::new(OciLayout::create(&staged)?);
                    Kind::NewLayout { _dir: dir, staged, layout, path: path.clone() }
                }
                Err(e) => return Err(Error::io("stat", path, e)),
            },
            ImageReference::OciArchive { path, .. }
            | ImageReference::DockerArchive { path, .. } => {
                check_archive_path(reference, path)?;
                let (dir, store) = temp_store(temp_dir)?;
                Kind::Archive { _dir: dir, store }
            }
            ImageReference::DockerRef(r) => {
                let remote = need_remote(remote, reference)?.clone();
                let target: Reference = r.parse()?;
                let (dir, store) = temp_store(temp_dir)?;
                Kind::Registry { _dir: dir, store, target, remote }
            }
        };
        Ok(Destination { reference: reference.clone(), kind })
    }

    /// The reference this destination writes to.
    pub fn reference(&self) -> &ImageReference {
        &self.reference
    }

    /// The store new blobs (layers, config, manifest) should be written to.
    pub fn store(&self) -> &dyn BlobStore {
        match &self.kind {
            Kind::Layout(l) => &**l,
            Kind::NewLayout { layout, .. } => &**layout,
            Kind::Archive { store, .. } | Kind::Registry { store, .. } => &**store,
        }
    }

    /// [`Destination::store`], shared (what asynchronous writers such as
    /// [`Client::pull`] need).
    pub fn shared_store(&self) -> Arc<dyn BlobStore> {
        match &self.kind {
            Kind::Layout(l) => l.clone(),
            Kind::NewLayout { layout, .. } => layout.clone(),
            Kind::Archive { store, .. } | Kind::Registry { store, .. } => store.clone(),
        }
    }

    /// Writes the image or index `root` to the reference. Its blobs are read from
    /// [`Destination::store`] and, when missing there, from `lower` (e.g. the store of the
    /// base image). Returns the descriptor written.
    ///
    /// A registry receives every blob it lacks (the blobs of `lower` are read where they are,
    /// not copied), then the manifests, then the tag; blobs it already has cost one `HEAD`.
    pub fn publish(self, root: &Descriptor, lower: Option<&dyn BlobStore>) -> Result<Descriptor> {
        let empty = mbi_core::MemoryStore::new();
        if let Kind::Registry { store, target, remote, .. } = &self.kind {
            let upper: Arc<dyn BlobStore> = store.clone();
            let shared: Arc<dyn BlobStore> =
                Arc::new(PinnedStore::new(upper, lower.unwrap_or(&empty), root)?);
            let pushed = remote.block_on(remote.client.push(shared, root, target))?;
            return Ok(pushed.descriptor);
        }
        let overlay = OverlayStore::new(self.store(), lower.unwrap_or(&empty));
        match &self.kind {
            Kind::Layout(_) | Kind::Archive { .. } | Kind::Registry { .. } => {
                Ok(transport::write(&self.reference, &overlay, root)?)
            }
            Kind::NewLayout { staged, path, .. } => {
                let tag = match &self.reference {
                    ImageReference::Oci { reference, .. } => reference.clone(),
                    _ => None,
                };
                let staged_ref = ImageReference::Oci { path: staged.clone(), reference: tag };
                let d = transport::write(&staged_ref, &overlay, root)?;
                move_into_place(staged, path)?;
                Ok(d)
            }
        }
    }
}

/// What [`copy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The root written: an image manifest, or the index with `all`.
    pub descriptor: Descriptor,
    /// Blobs whose bytes were written to the destination (not those already there).
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Copies an image (or, with `options.all`, a whole index) between two references, `docker://`
/// ones included (they need `remote`):
///
/// - local to local: as [`transport::copy_with_progress`], except that a new `oci:` layout
///   appears only once complete;
/// - `docker://` to local: pulled (every blob verified) straight into the destination's
///   store, or a temporary directory under `temp_dir` for archives;
/// - local to `docker://`: pushed from where the source is, blobs first, tag last;
/// - registry to registry: streamed (or mounted, on the same registry), never stored locally.
///
/// When the source is an index and `options` names neither a platform nor `all`, an index of
/// a single image gives that image, and any other index the image for the host's platform (as
/// skopeo does). `progress` is called with each blob copied by the local paths (registry
/// transfers report through the client's own [`mbi_registry::Progress`]).
pub fn copy(
    src: &ImageReference,
    dst: &ImageReference,
    options: &CopyOptions,
    remote: Option<&Remote>,
    temp_dir: &Path,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<Copied> {
    if options.all && matches!(dst, ImageReference::DockerArchive { .. }) {
        return Err(Error::Destination {
            reference: dst.to_string(),
            reason:
                "a docker archive holds single-platform images; choose a platform instead of --all"
                    .into(),
        });
    }
    match (registry_reference(src)?, registry_reference(dst)?) {
        (Some(s), Some(d)) => {
            let remote = need_remote(remote, src)?;
            let (s, selector) = remote.block_on(selection(&remote.client, &s, options))?;
            let pushed = remote.block_on(remote.client.copy(&s, &d, &selector))?;
            Ok(Copied {
                descriptor: pushed.descriptor,
                blobs: pushed.blobs.transferred as u64,
                bytes: pushed.blobs.bytes,
            })
        }
        (Some(s), None) => {
            let remote = need_remote(remote, src)?;
            let (s, selector) = remote.block_on(selection(&remote.client, &s, options))?;
            let dest = Destination::prepare_with(dst, temp_dir, Some(remote))?;
            let pulled = remote.block_on(remote.client.pull(&s, &selector, dest.shared_store()))?;
            let mut root = pulled.descriptor;
            root.annotations.remove(mbi_core::manifest::annotations::REF_NAME);
            let descriptor = dest.publish(&root, None)?;
            Ok(Copied {
                descriptor,
                blobs: pulled.blobs.transferred as u64,
                bytes: pulled.blobs.bytes,
            })
        }
        (None, Some(_)) => {
            let source = transport::open(src)?;
            let root = select_root(&source, options)?;
            let dest = Destination::prepare_with(dst, temp_dir, remote)?;
            let descriptor = dest.publish(&root, Some(source.store()))?;
            Ok(Copied { descriptor, blobs: 0, bytes: 0 })
        }
        (None, None) => {
            let mut blobs = 0;
            let mut bytes = 0;
            let mut count = |d: &Descriptor| {
                blobs += 1;
                bytes += d.size;
                progress(d);
            };
            let descriptor = copy_local(src, dst, options, &mut count)?;
            Ok(Copied { descriptor, blobs, bytes })
        }
    }
}

/// The root to copy from an opened local source: see [`copy`] for the rules.
fn select_root(source: &Source, options: &CopyOptions) -> Result<Descriptor> {
    let mut root = match (source.load()?, &options.platform) {
        (ImageOrIndex::Index(idx), _) if options.all => idx.descriptor().clone(),
        (ImageOrIndex::Index(idx), Some(p)) => idx.select(p)?.clone(),
        (ImageOrIndex::Index(idx), None) => {
            let images: Vec<&Descriptor> =
                idx.manifests().iter().filter(|d| d.media_type.is_manifest()).collect();
            match images.as_slice() {
                [one] => (*one).clone(),
                _ => idx.select(&Platform::host())?.clone(),
            }
        }
        (ImageOrIndex::Image(_), Some(p)) => source.select(Some(p))?,
        (ImageOrIndex::Image(img), None) => img.descriptor().clone(),
    };
    root.annotations.remove(mbi_core::manifest::annotations::REF_NAME);
    Ok(root)
}

/// Which reference to pull and how to select from it: see [`copy`] for the rules. Without a
/// platform or `all`, the root is fetched once to see whether it is an index of one image.
async fn selection(
    client: &Client,
    src: &Reference,
    options: &CopyOptions,
) -> Result<(Reference, PlatformSelector)> {
    if options.all {
        return Ok((src.clone(), PlatformSelector::All));
    }
    if let Some(p) = &options.platform {
        return Ok((src.clone(), PlatformSelector::Platform(p.clone())));
    }
    let (desc, bytes) = client.manifest(src).await?;
    let doc = mbi_registry::manifest::Document::parse(
        &bytes,
        Some(&desc.media_type),
        &format!("manifest {src}"),
    )?;
    Ok(match doc {
        mbi_registry::manifest::Document::Index(idx) => {
            let images: Vec<&Descriptor> =
                idx.manifests.iter().filter(|d| d.media_type.is_manifest()).collect();
            match images.as_slice() {
                [one] => (src.with_digest(one.digest.clone()), PlatformSelector::All),
                _ => (src.clone(), PlatformSelector::Platform(Platform::host())),
            }
        }
        _ => (src.with_digest(desc.digest), PlatformSelector::All),
    })
}

/// Local to local: [`transport::copy_with_progress`], with new `oci:` layouts appearing only
/// once complete and the host's platform chosen from an index (see [`copy`]).
fn copy_local(
    src: &ImageReference,
    dst: &ImageReference,
    options: &CopyOptions,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<Descriptor> {
    // Open the source first: a bad source must not create anything.
    let source = transport::open(src)?;
    let root = select_root(&source, options)?;
    let options = if options.all || !source.root().media_type.is_index() {
        options.clone()
    } else {
        // The image chosen above, named for the transport's own selection.
        CopyOptions {
            platform: options.platform.clone().or_else(|| root.platform.clone()),
            all: false,
        }
    };
    drop(source);
    match dst {
        ImageReference::Oci { path, reference } if !exists(path)? => {
            let (_dir, staged) = stage_new_layout(path)?;
            let staged_ref =
                ImageReference::Oci { path: staged.clone(), reference: reference.clone() };
            let d = transport::copy_with_progress(src, &staged_ref, &options, progress)?;
            move_into_place(&staged, path)?;
            Ok(d)
        }
        ImageReference::OciArchive { path, .. } | ImageReference::DockerArchive { path, .. } => {
            check_archive_path(dst, path)?;
            Ok(transport::copy_with_progress(src, dst, &options, progress)?)
        }
        _ => Ok(transport::copy_with_progress(src, dst, &options, progress)?),
    }
}

/// A source opened for reading: local references in place (see [`transport::open`]),
/// `docker://` ones pulled into a temporary OCI layout that lives as long as this value.
/// Dereferences to the [`Source`].
pub struct OpenedSource {
    source: Source,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::ops::Deref for OpenedSource {
    type Target = Source;
    fn deref(&self) -> &Source {
        &self.source
    }
}

/// Opens `reference` for reading. A `docker://` reference is pulled with `remote` (every blob
/// verified) into a new temporary directory under `temp_dir`: only the image for `platform`
/// (the host's if `None`) when it names an index, so that [`Source::image`] finds it.
pub fn open_source(
    reference: &ImageReference,
    remote: Option<&Remote>,
    temp_dir: &Path,
    platform: Option<&Platform>,
) -> Result<OpenedSource> {
    let Some(r) = registry_reference(reference)? else {
        return Ok(OpenedSource { source: transport::open(reference)?, _dir: None });
    };
    let remote = need_remote(remote, reference)?;
    let options = CopyOptions { platform: platform.cloned(), all: false };
    let (r, selector) = remote.block_on(selection(&remote.client, &r, &options))?;
    let (dir, _) = temp_store(temp_dir)?;
    let layout_path = dir.path().join("layout");
    let layout = Arc::new(OciLayout::create(&layout_path)?);
    let pulled = remote.block_on(remote.client.pull(&r, &selector, layout.clone()))?;
    layout.add(&pulled.descriptor)?;
    let local = ImageReference::Oci { path: layout_path, reference: None };
    Ok(OpenedSource { source: transport::open(&local)?, _dir: Some(dir) })
}

/// A new temporary directory under `temp_dir` and a blob store in it.
fn temp_store(temp_dir: &Path) -> Result<(tempfile::TempDir, Arc<DirStore>)> {
    let dir = tempfile::Builder::new()
        .prefix("mbi-stage-")
        .tempdir_in(temp_dir)
        .map_err(|e| Error::io("create temporary directory in", temp_dir, e))?;
    let store = Arc::new(DirStore::new(dir.path().join("store"))?);
    Ok((dir, store))
}

fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A temporary directory next to `path` (creating missing parents, as `oci:` always did) and
/// the path of the layout to build inside it.
fn stage_new_layout(path: &Path) -> Result<(tempfile::TempDir, PathBuf)> {
    let parent = parent_of(path);
    fs::create_dir_all(&parent).map_err(|e| Error::io("create", &parent, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.mbi-"))
        .tempdir_in(&parent)
        .map_err(|e| Error::io("create temporary directory in", &parent, e))?;
    let staged = dir.path().join("layout");
    Ok((dir, staged))
}

/// Renames a finished layout into place. The rename fails if something non-empty appeared at
/// `path` in the meantime, so nothing is ever overwritten.
fn move_into_place(staged: &Path, path: &Path) -> Result<()> {
    fs::rename(staged, path).map_err(|e| Error::io("rename the finished layout to", path, e))
}

fn check_archive_path(reference: &ImageReference, path: &Path) -> Result<()> {
    let bad = |reason: String| Error::Destination { reference: reference.to_string(), reason };
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(bad(format!("directory {} does not exist", parent.display())));
    }
    if path.is_dir() {
        return Err(bad(format!("{} is a directory", path.display())));
    }
    Ok(())
}
