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
//!   and reads the blobs of its base from wherever the base is, without copying them first.
//!
//! `docker://` references are refused here (registries are mbi-registry's business).

use std::fs;
use std::path::{Path, PathBuf};

use mbi_core::transport::{self, CopyOptions, ImageReference};
use mbi_core::{BlobStore, Descriptor, DirStore, OciLayout};

use crate::error::{Error, Result};
use crate::store::OverlayStore;

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
    Layout(OciLayout),
    /// A layout that does not exist yet: built at `staged` inside `_dir` (a temporary directory
    /// next to `path`) and renamed to `path` when published.
    NewLayout { _dir: tempfile::TempDir, staged: PathBuf, layout: OciLayout, path: PathBuf },
    /// An archive: blobs are staged in a temporary directory, the archive is written at the end.
    Archive { _dir: tempfile::TempDir, store: DirStore },
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
    pub fn prepare(reference: &ImageReference, temp_dir: &Path) -> Result<Destination> {
        let kind = match reference {
            ImageReference::Oci { path, .. } => match fs::symlink_metadata(path) {
                Ok(_) => Kind::Layout(OciLayout::create(path)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let (dir, staged) = stage_new_layout(path)?;
                    let layout = OciLayout::create(&staged)?;
                    Kind::NewLayout { _dir: dir, staged, layout, path: path.clone() }
                }
                Err(e) => return Err(Error::io("stat", path, e)),
            },
            ImageReference::OciArchive { path, .. }
            | ImageReference::DockerArchive { path, .. } => {
                check_archive_path(reference, path)?;
                let dir = tempfile::Builder::new()
                    .prefix("mbi-stage-")
                    .tempdir_in(temp_dir)
                    .map_err(|e| Error::io("create temporary directory in", temp_dir, e))?;
                let store = DirStore::new(dir.path())?;
                Kind::Archive { _dir: dir, store }
            }
            ImageReference::DockerRef(_) => return Err(registry_unsupported(reference)),
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
            Kind::Layout(l) => l,
            Kind::NewLayout { layout, .. } => layout,
            Kind::Archive { store, .. } => store,
        }
    }

    /// Writes the image or index `root` to the reference. Its blobs are read from
    /// [`Destination::store`] and, when missing there, from `lower` (e.g. the store of the
    /// base image). Returns the descriptor written.
    pub fn publish(self, root: &Descriptor, lower: Option<&dyn BlobStore>) -> Result<Descriptor> {
        let empty = mbi_core::MemoryStore::new();
        let overlay = OverlayStore::new(self.store(), lower.unwrap_or(&empty));
        match &self.kind {
            Kind::Layout(_) | Kind::Archive { .. } => {
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

/// Copies an image (or, with `options.all`, a whole index) between two local references, as
/// [`transport::copy_with_progress`] does, except that a new `oci:` layout appears only once
/// complete. `progress` is called with each blob copied.
pub fn copy(
    src: &ImageReference,
    dst: &ImageReference,
    options: &CopyOptions,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<Descriptor> {
    for r in [src, dst] {
        if matches!(r, ImageReference::DockerRef(_)) {
            return Err(registry_unsupported(r));
        }
    }
    match dst {
        ImageReference::Oci { path, reference } if !exists(path)? => {
            // Open the source first: a bad source must not create anything.
            transport::open(src)?;
            let (_dir, staged) = stage_new_layout(path)?;
            let staged_ref =
                ImageReference::Oci { path: staged.clone(), reference: reference.clone() };
            let d = transport::copy_with_progress(src, &staged_ref, options, progress)?;
            move_into_place(&staged, path)?;
            Ok(d)
        }
        ImageReference::OciArchive { path, .. } | ImageReference::DockerArchive { path, .. } => {
            check_archive_path(dst, path)?;
            Ok(transport::copy_with_progress(src, dst, options, progress)?)
        }
        _ => Ok(transport::copy_with_progress(src, dst, options, progress)?),
    }
}

fn registry_unsupported(r: &ImageReference) -> Error {
    Error::Destination {
        reference: r.to_string(),
        reason: "docker:// references need the registry client, which this build does not wire in"
            .into(),
    }
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
