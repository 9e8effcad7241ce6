//! Image references named as skopeo names them, and reading, writing and copying images through
//! the local transports.
//!
//! | reference | meaning |
//! |---|---|
//! | `oci:DIR[:REF]` | an OCI image layout directory; `REF` is the `org.opencontainers.image.ref.name` tag |
//! | `oci-archive:FILE[:REF]` | a tar of an OCI image layout |
//! | `docker-archive:FILE[:NAME:TAG]` or `docker-archive:FILE[:@N]` | the `docker save` format |
//! | `docker://REF` | a registry: parsed here only as an opaque string, handled by mbi-registry |
//!
//! # Parsing rules (as containers/image, which skopeo uses)
//! - The transport is everything before the first `:`.
//! - `oci:` and `oci-archive:`: the path is everything up to the **first** `:` of the rest, and
//!   the reference is all after it; so the path cannot contain `:`. The reference must match
//!   the OCI `ref.name` grammar: components of `[A-Za-z0-9]+` joined by one of `-._:@+` or `--`,
//!   separated by `/`. `oci:DIR:sha256:abc` is therefore a *tag* named `sha256:abc`, as in
//!   skopeo 1.9 (which has no `@digest` or `@index` form for `oci:`).
//! - `docker-archive:`: the path is everything up to the first `:` of the rest; after it comes
//!   either `@N` (the N-th image of the archive's `manifest.json`, from 0) or an image name that
//!   may itself contain `:` and `/` (`docker-archive:x.tar:localhost:5000/a/b:tag` is the file
//!   `x.tar` and the name `localhost:5000/a/b:tag`). The name is normalised as docker does
//!   (`busybox` → `docker.io/library/busybox:latest`); a digest is refused.
//! - Unlike skopeo, an empty path is refused rather than meaning the current directory.
//!
//! # Reading and writing
//! [`open`] gives a [`Source`]: a read-only [`BlobStore`] view and the root descriptor, without
//! copying anything (archives are read in place, never extracted). [`read`] copies an image or
//! index from a reference into a store; [`write()`] writes one from a store to a reference;
//! [`copy`] does both between references. Archives are written to a temp file next to the
//! destination and renamed into place; their bytes depend only on the image.

mod docker_archive;
mod docker_name;
mod oci_archive;
pub(crate) mod tarfile;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use docker_name::DockerName;

use crate::image::ImageOrIndex;
use crate::layout::{self, OciLayout};
use crate::manifest;
use crate::{BlobStore, Descriptor, Error, Platform, Result};

/// A skopeo-style image reference. See the [module documentation](self) for the parsing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageReference {
    /// `oci:DIR[:REF]`.
    Oci {
        /// The layout directory.
        path: PathBuf,
        /// The tag (`org.opencontainers.image.ref.name`), if any.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`.
    OciArchive {
        /// The archive file.
        path: PathBuf,
        /// The tag inside the archive's layout, if any.
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:NAME:TAG]` or `docker-archive:FILE:@N`.
    DockerArchive {
        /// The archive file.
        path: PathBuf,
        /// Which image of the archive, if given.
        image: Option<DockerArchiveImage>,
    },
    /// `docker://REF`, kept verbatim (without the `docker://` prefix) for mbi-registry to parse.
    DockerRef(String),
}

/// Which image of a docker archive a reference means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerArchiveImage {
    /// The image tagged with this name (a `RepoTags` entry). When writing, the tag to give.
    Name(DockerName),
    /// The N-th entry (from 0) of `manifest.json`; only for reading.
    Index(usize),
}

const MAX_REFERENCE: usize = 4096;

impl FromStr for ImageReference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidReference {
            input: s.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        if s.len() > MAX_REFERENCE {
            return Err(bad("longer than 4096 bytes"));
        }
        if s.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let (transport, rest) =
            s.split_once(':').ok_or_else(|| bad("expected TRANSPORT:DETAILS, e.g. oci:DIR:TAG"))?;
        match transport {
            "oci" | "oci-archive" => {
                let (path, reference) = match rest.split_once(':') {
                    Some((p, r)) => (p, Some(r)),
                    None => (rest, None),
                };
                if path.is_empty() {
                    return Err(bad("empty path"));
                }
                let reference = match reference {
                    None | Some("") => None,
                    Some(r) => {
                        validate_oci_ref_name(r).map_err(|_| {
                            bad("invalid reference: expected components of [A-Za-z0-9]+ joined by one of -._:@+ or --, separated by /")
                        })?;
                        Some(r.to_owned())
                    }
                };
                let path = PathBuf::from(path);
                Ok(if transport == "oci" {
                    ImageReference::Oci { path, reference }
                } else {
                    ImageReference::OciArchive { path, reference }
                })
            }
            "docker-archive" => {
                if rest.is_empty() {
                    return Err(bad("expected docker-archive:PATH[:NAME:TAG]"));
                }
                let (path, image) = match rest.split_once(':') {
                    Some((p, i)) => (p, Some(i)),
                    None => (rest, None),
                };
                if path.is_empty() {
                    return Err(bad("empty path"));
                }
                let image = match image {
                    None => None,
                    Some(i) if i.starts_with('@') => {
                        let n = &i[1..];
                        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(bad("invalid source index: expected @N with N ≥ 0"));
                        }
                        let n: usize = n.parse().map_err(|_| bad("source index too large"))?;
                        Some(DockerArchiveImage::Index(n))
                    }
                    Some(name) => Some(DockerArchiveImage::Name(name.parse().map_err(
                        |e: Error| match e {
                            Error::InvalidReference { reason, .. } => bad(&reason),
                            other => other,
                        },
                    )?)),
                };
                Ok(ImageReference::DockerArchive { path: PathBuf::from(path), image })
            }
            "docker" => {
                let r = rest
                    .strip_prefix("//")
                    .ok_or_else(|| bad("docker references start with docker://"))?;
                if r.is_empty() {
                    return Err(bad("empty docker:// reference"));
                }
                Ok(ImageReference::DockerRef(r.to_owned()))
            }
            "dir" | "containers-storage" | "docker-daemon" | "ostree" | "sif" | "tarball" => {
                Err(bad(&format!("the {transport}: transport is not supported by mbi")))
            }
            _ => Err(bad(&format!(
                "unknown transport {transport:?} (mbi knows oci, oci-archive, docker-archive, docker)"
            ))),
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageReference::Oci { path, reference } => {
                write!(f, "oci:{}", path.display())?;
                if let Some(r) = reference {
                    write!(f, ":{r}")?;
                }
                Ok(())
            }
            ImageReference::OciArchive { path, reference } => {
                write!(f, "oci-archive:{}", path.display())?;
                if let Some(r) = reference {
                    write!(f, ":{r}")?;
                }
                Ok(())
            }
            ImageReference::DockerArchive { path, image } => {
                write!(f, "docker-archive:{}", path.display())?;
                match image {
                    Some(DockerArchiveImage::Name(n)) => write!(f, ":{n}"),
                    Some(DockerArchiveImage::Index(i)) => write!(f, ":@{i}"),
                    None => Ok(()),
                }
            }
            ImageReference::DockerRef(r) => write!(f, "docker://{r}"),
        }
    }
}

impl ImageReference {
    /// The transport name (`oci`, `oci-archive`, `docker-archive`, `docker`).
    pub fn transport(&self) -> &'static str {
        match self {
            ImageReference::Oci { .. } => "oci",
            ImageReference::OciArchive { .. } => "oci-archive",
            ImageReference::DockerArchive { .. } => "docker-archive",
            ImageReference::DockerRef(_) => "docker",
        }
    }
}

/// Checks a tag for `oci:DIR:TAG` / `org.opencontainers.image.ref.name`, with the grammar
/// containers/image enforces: `component(/component)*`, a component being `[A-Za-z0-9]+`
/// runs joined by exactly one of `-` `.` `_` `:` `@` `+` or by `--`.
pub fn validate_oci_ref_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('/').all(|c| {
            let b = c.as_bytes();
            if b.is_empty()
                || !b[0].is_ascii_alphanumeric()
                || !b[b.len() - 1].is_ascii_alphanumeric()
            {
                return false;
            }
            let mut i = 0;
            while i < b.len() {
                if b[i].is_ascii_alphanumeric() {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && !b[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                let sep = &c[start..i];
                if !(sep == "--" || (sep.len() == 1 && "-._:@+".contains(sep))) {
                    return false;
                }
            }
            true
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidReference {
            input: name.chars().take(200).collect(),
            reason: "not a valid OCI reference name (components of [A-Za-z0-9]+ joined by one of -._:@+ or --, separated by /)".into(),
        })
    }
}

fn registry_error(r: &ImageReference) -> Error {
    Error::Unsupported { what: format!("{r}: docker:// is handled by mbi-registry, not mbi-core") }
}

/// An opened image source: a read-only view of its blobs and the descriptor the reference
/// names (an image manifest or an index).
pub struct Source {
    store: Box<dyn BlobStore>,
    root: Descriptor,
    location: String,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("root", &self.root)
            .field("location", &self.location)
            .finish()
    }
}

impl Source {
    /// The source's blobs. For `docker-archive:` the manifest is synthesised (OCI, layers as
    /// stored in the archive) and layer digests were verified against the config on opening.
    pub fn store(&self) -> &dyn BlobStore {
        &*self.store
    }

    /// The descriptor the reference names.
    pub fn root(&self) -> &Descriptor {
        &self.root
    }

    /// Loads the root.
    pub fn load(&self) -> Result<ImageOrIndex> {
        ImageOrIndex::load(&*self.store, &self.root)
    }

    /// Picks the descriptor to use: with `platform`, the matching image of an index (or the
    /// image itself, which must match); without, the root as it is.
    pub fn select(&self, platform: Option<&Platform>) -> Result<Descriptor> {
        let Some(p) = platform else { return Ok(self.root.clone()) };
        match self.load()? {
            ImageOrIndex::Index(idx) => Ok(idx.select(p)?.clone()),
            ImageOrIndex::Image(img) => {
                if img.platform().matches(p) {
                    Ok(self.root.clone())
                } else {
                    Err(Error::Selection {
                        location: self.location.clone(),
                        reason: format!("the image is for {}, not {p}", img.platform()),
                    })
                }
            }
        }
    }

    /// The single image this source names: the root if it is an image; for an index, the image
    /// for `platform`, or the only image if `platform` is `None`.
    pub fn image(&self, platform: Option<&Platform>) -> Result<crate::Image> {
        match self.load()? {
            ImageOrIndex::Image(img) => {
                if let Some(p) = platform
                    && !img.platform().matches(p)
                {
                    return Err(Error::Selection {
                        location: self.location.clone(),
                        reason: format!("the image is for {}, not {p}", img.platform()),
                    });
                }
                Ok(img)
            }
            ImageOrIndex::Index(idx) => {
                let d = match platform {
                    Some(p) => idx.select(p)?.clone(),
                    None => only_image(&idx, &self.location)?,
                };
                crate::Image::load(&*self.store, &d)
            }
        }
    }
}

fn only_image(idx: &crate::Index, location: &str) -> Result<Descriptor> {
    let images: Vec<&Descriptor> =
        idx.manifests().iter().filter(|d| d.media_type.is_manifest()).collect();
    match images.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(Error::Selection {
            location: location.to_owned(),
            reason: format!(
                "it is an index of {} images; choose a platform (available: {})",
                images.len(),
                idx.platforms().iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Opens `reference` for reading without copying anything.
pub fn open(reference: &ImageReference) -> Result<Source> {
    let location = reference.to_string();
    match reference {
        ImageReference::Oci { path, reference: tag } => {
            let layout = OciLayout::open(path)?;
            let root = layout::select_manifest(&layout.manifests()?, tag.as_deref(), &location)?;
            Ok(Source { store: Box::new(layout), root, location })
        }
        ImageReference::OciArchive { path, reference: tag } => {
            let (store, manifests) = oci_archive::open(path)?;
            let root = layout::select_manifest(&manifests, tag.as_deref(), &location)?;
            Ok(Source { store: Box::new(store), root, location })
        }
        ImageReference::DockerArchive { path, image } => {
            let (store, root) = docker_archive::open(path, image.as_ref())?;
            Ok(Source { store: Box::new(store), root, location })
        }
        ImageReference::DockerRef(_) => Err(registry_error(reference)),
    }
}

/// Options for [`read`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// For an index, read only the image for this platform (and return it as an image). For an
    /// image, it must match.
    pub platform: Option<Platform>,
}

/// Copies the image or index `reference` names into `store` (all its blobs, verified) and
/// returns it loaded from there.
pub fn read(
    reference: &ImageReference,
    store: &dyn BlobStore,
    options: &ReadOptions,
) -> Result<ImageOrIndex> {
    let source = open(reference)?;
    let root = source.select(options.platform.as_ref())?;
    copy_blobs(source.store(), store, &root, &mut |_| {})?;
    ImageOrIndex::load(store, &root)
}

/// Writes the image or index `root` from `store` to `reference`:
/// - `oci:` adds the blobs to the layout (creating it if missing) and tags `root` (or lists it
///   untagged);
/// - `oci-archive:` writes a new archive holding only this image or index;
/// - `docker-archive:` writes a new archive in the `docker save` format (an image only; layers
///   are stored uncompressed, as docker expects).
///
/// Returns the descriptor written (for docker archives, the manifest mbi synthesised is not
/// stored anywhere; `root` is returned).
pub fn write(
    reference: &ImageReference,
    store: &dyn BlobStore,
    root: &Descriptor,
) -> Result<Descriptor> {
    write_with_progress(reference, store, root, &mut |_| {})
}

fn write_with_progress(
    reference: &ImageReference,
    store: &dyn BlobStore,
    root: &Descriptor,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<Descriptor> {
    match reference {
        ImageReference::Oci { path, reference: tag } => {
            let layout = OciLayout::create(path)?;
            copy_blobs(store, &layout, root, progress)?;
            match tag {
                Some(t) => layout.tag(t, root)?,
                None => layout.add(root)?,
            }
            Ok(root.clone())
        }
        ImageReference::OciArchive { path, reference: tag } => {
            oci_archive::write(path, tag.as_deref(), store, root, progress)?;
            Ok(root.clone())
        }
        ImageReference::DockerArchive { path, image } => {
            let name = match image {
                None => None,
                Some(DockerArchiveImage::Name(n)) => Some(n),
                Some(DockerArchiveImage::Index(_)) => {
                    return Err(Error::InvalidReference {
                        input: reference.to_string(),
                        reason: "a source index (@N) cannot be used as a destination".into(),
                    });
                }
            };
            docker_archive::write(path, name, store, root, progress)?;
            Ok(root.clone())
        }
        ImageReference::DockerRef(_) => Err(registry_error(reference)),
    }
}

/// Options for [`copy`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// When the source is an index: copy the image for this platform only.
    pub platform: Option<Platform>,
    /// When the source is an index: copy it whole, every platform (`oci:` and `oci-archive:`
    /// destinations only).
    pub all: bool,
}

/// Copies an image between two references. When the source is an index, `options` must pick
/// one platform or ask for `all`, unless the index holds a single image. Returns the
/// descriptor written (an image manifest, or the index with `all`).
pub fn copy(
    src: &ImageReference,
    dst: &ImageReference,
    options: &CopyOptions,
) -> Result<Descriptor> {
    copy_with_progress(src, dst, options, &mut |_| {})
}

/// [`copy`], calling `progress` with each blob as it is copied.
pub fn copy_with_progress(
    src: &ImageReference,
    dst: &ImageReference,
    options: &CopyOptions,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<Descriptor> {
    for r in [src, dst] {
        if matches!(r, ImageReference::DockerRef(_)) {
            return Err(registry_error(r));
        }
    }
    let source = open(src)?;
    let root = match (source.load()?, &options.platform) {
        (ImageOrIndex::Index(idx), _) if options.all => {
            if matches!(dst, ImageReference::DockerArchive { .. }) {
                return Err(Error::Unsupported {
                    what: format!(
                        "{dst}: a docker archive holds single-platform images; choose a platform instead of all"
                    ),
                });
            }
            idx.descriptor().clone()
        }
        (ImageOrIndex::Index(idx), Some(p)) => idx.select(p)?.clone(),
        (ImageOrIndex::Index(idx), None) => only_image(&idx, &source.location)?,
        (ImageOrIndex::Image(_), Some(p)) => source.select(Some(p))?,
        (ImageOrIndex::Image(img), None) => img.descriptor().clone(),
    };
    // A tag in the source's index.json is not part of what is copied.
    let mut root = root;
    root.annotations.remove(manifest::annotations::REF_NAME);
    write_with_progress(dst, source.store(), &root, progress)
}

/// Copies `root` and everything it references (not its `subject`) from `from` to `to`,
/// children first, skipping blobs `to` already has, verifying every digest and size.
/// `progress` is called for each blob actually copied.
pub fn copy_blobs(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    root: &Descriptor,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<()> {
    manifest::walk(from, root, false, &mut |d| {
        if to.stat(&d.digest)? == Some(d.size) {
            return Ok(());
        }
        let mut r = std::io::BufReader::with_capacity(1 << 20, from.open(&d.digest)?);
        let (_, n) = to.put_reader(&mut r, Some(&d.digest))?;
        if n != d.size {
            return Err(Error::SizeMismatch {
                digest: d.digest.clone(),
                expected: d.size,
                actual: n,
            });
        }
        progress(d);
        Ok(())
    })
}

/// The directory a temp file for `path` goes in (its parent, or `.`).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<ImageReference> {
        s.parse()
    }

    #[test]
    fn parse_like_skopeo() {
        assert_eq!(
            p("oci:/tmp/l:v1").unwrap(),
            ImageReference::Oci { path: "/tmp/l".into(), reference: Some("v1".into()) }
        );
        assert_eq!(
            p("oci:rel").unwrap(),
            ImageReference::Oci { path: "rel".into(), reference: None }
        );
        assert_eq!(
            p("oci:d:sha256:abc").unwrap(),
            ImageReference::Oci { path: "d".into(), reference: Some("sha256:abc".into()) }
        );
        assert_eq!(
            p("oci:d:example.com/a/b:1.0").unwrap(),
            ImageReference::Oci { path: "d".into(), reference: Some("example.com/a/b:1.0".into()) }
        );
        assert_eq!(
            p("oci-archive:x.tar:latest").unwrap(),
            ImageReference::OciArchive { path: "x.tar".into(), reference: Some("latest".into()) }
        );
        let ImageReference::DockerArchive { path, image: Some(DockerArchiveImage::Name(n)) } =
            p("docker-archive:x.tar:localhost:5000/a/b:tag").unwrap()
        else {
            panic!()
        };
        assert_eq!(path, PathBuf::from("x.tar"));
        assert_eq!(n.to_string(), "localhost:5000/a/b:tag");
        assert_eq!(
            p("docker-archive:x.tar:busybox").unwrap().to_string(),
            "docker-archive:x.tar:docker.io/library/busybox:latest"
        );
        assert_eq!(
            p("docker-archive:x.tar:@2").unwrap(),
            ImageReference::DockerArchive {
                path: "x.tar".into(),
                image: Some(DockerArchiveImage::Index(2))
            }
        );
        assert_eq!(p("docker://debian:12").unwrap(), ImageReference::DockerRef("debian:12".into()));
        for s in [
            "oci:/a:v1",
            "oci-archive:b.tar:x",
            "docker-archive:c.tar:@0",
            "docker://x/y:z",
            "oci:d",
        ] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn parse_errors_are_typed() {
        for s in [
            "",
            "oci",
            "oci:",
            "oci::tag",
            "oci:d:bad tag",
            "oci:d:-x",
            "oci:d:a//b",
            "oci:d:a..b",
            "docker-archive:",
            "docker-archive:x:@",
            "docker-archive:x:@-1",
            "docker-archive:x:UPPER",
            "docker-archive:x:a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "docker:x",
            "docker://",
            "dir:/tmp/x",
            "nope:x",
        ] {
            assert!(matches!(p(s), Err(Error::InvalidReference { .. })), "{s:?} -> {:?}", p(s));
        }
    }

    #[test]
    fn oci_ref_names() {
        for ok in ["latest", "v1.0", "a--b", "sha256:abc", "example.com/a/b:1.0", "a+b", "x@y"] {
            validate_oci_ref_name(ok).unwrap();
        }
        for bad in ["", "a b", "-a", "a-", "a---b", "a/", "/a", "a.-b", "é"] {
            assert!(validate_oci_ref_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_refs_are_refused_here() {
        let d = p("docker://x").unwrap();
        let o = p("oci:/nonexistent").unwrap();
        for r in [copy(&d, &o, &CopyOptions::default()), copy(&o, &d, &CopyOptions::default())] {
            let e = r.unwrap_err();
            assert!(e.to_string().contains("mbi-registry"), "{e}");
        }
        assert!(matches!(open(&d), Err(Error::Unsupported { .. })));
    }
}
