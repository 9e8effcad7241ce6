//! Loaded images and indexes: parsed documents together with the exact bytes they came from.
//!
//! An [`Image`] is what a manifest describes: the manifest, its config, and its layers, each
//! checked against the digest and size its descriptor gives. An [`Index`] is a multi-platform
//! list of manifests. Both keep their original bytes, so re-writing them elsewhere never changes a
//! digest.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{self, History, ImageConfiguration};
use crate::manifest::{self, ImageIndex, ImageManifest, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};
use crate::{BlobStore, Compression, Descriptor, Digest, Error, MediaType, Platform, Result};

/// A filesystem layer of an image: the blob's descriptor and the digest of its uncompressed tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The (possibly compressed) layer blob.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar (`rootfs.diff_ids` in the config).
    pub diff_id: Digest,
}

impl Layer {
    /// How the blob is compressed, or `None` if the media type is not a known layer type.
    pub fn compression(&self) -> Option<Compression> {
        self.descriptor.media_type.layer_compression()
    }
}

/// A single-platform image: manifest and config, parsed and verified, with their bytes.
#[derive(Debug, Clone)]
pub struct Image {
    descriptor: Descriptor,
    manifest: ImageManifest,
    manifest_bytes: Vec<u8>,
    config_descriptor: Descriptor,
    config: ImageConfiguration,
    config_bytes: Vec<u8>,
    layers: Vec<Layer>,
}

impl Image {
    /// Loads the image that `descriptor` points to from `store`: reads the manifest and the
    /// config (each at most [`MAX_MANIFEST_BYTES`] / [`MAX_CONFIG_BYTES`]), verifies their
    /// digests and sizes, and checks that the layers and `rootfs.diff_ids` agree. Accepts OCI
    /// and Docker schema2 manifests. Layer blobs are not read.
    pub fn load(store: &dyn BlobStore, descriptor: &Descriptor) -> Result<Image> {
        let manifest_bytes = manifest::read_document(store, descriptor, MAX_MANIFEST_BYTES)?;
        let what = format!("manifest {}", descriptor.digest);
        let (_, config_desc, _) =
            manifest::parse_manifest(&manifest_bytes, &descriptor.media_type, &what)?;
        if !config_desc.media_type.is_config() {
            return Err(Error::invalid(
                &what,
                format!("config media type {} is not an image config", config_desc.media_type),
            ));
        }
        let config_bytes = manifest::read_document(store, &config_desc, MAX_CONFIG_BYTES)?;
        Image::from_parts(descriptor.clone(), manifest_bytes, config_bytes)
    }

    /// Builds an image from a manifest's and a config's bytes, checking both against their
    /// descriptors (the manifest's against `descriptor`, the config's against the manifest).
    /// No store is needed: this is what [`Image::load`] does after reading.
    pub fn from_parts(
        descriptor: Descriptor,
        manifest_bytes: Vec<u8>,
        config_bytes: Vec<u8>,
    ) -> Result<Image> {
        check_bytes(&descriptor, &manifest_bytes, MAX_MANIFEST_BYTES)?;
        let what = format!("manifest {}", descriptor.digest);
        let media_type = effective_type(&descriptor.media_type, &manifest_bytes);
        if !media_type.is_manifest() {
            return Err(Error::invalid(
                &what,
                format!("media type {} is not an image manifest", descriptor.media_type),
            ));
        }
        let (manifest, config_descriptor, layer_descs) =
            manifest::parse_manifest(&manifest_bytes, &media_type, &what)?;
        if !config_descriptor.media_type.is_config() {
            return Err(Error::invalid(
                &what,
                format!(
                    "config media type {} is not an image config",
                    config_descriptor.media_type
                ),
            ));
        }
        check_bytes(&config_descriptor, &config_bytes, MAX_CONFIG_BYTES)?;
        let config_what = format!("config {}", config_descriptor.digest);
        let config = config::parse_config(&config_bytes, &config_what)?;
        let diff_ids = config::diff_ids(&config, &config_what)?;
        if diff_ids.len() != layer_descs.len() {
            return Err(Error::invalid(
                &what,
                format!(
                    "{} layers but the config lists {} diff_ids",
                    layer_descs.len(),
                    diff_ids.len()
                ),
            ));
        }
        let layers = layer_descs
            .into_iter()
            .zip(diff_ids)
            .map(|(descriptor, diff_id)| Layer { descriptor, diff_id })
            .collect();
        Ok(Image {
            descriptor,
            manifest,
            manifest_bytes,
            config_descriptor,
            config,
            config_bytes,
            layers,
        })
    }

    /// The manifest's descriptor (as given to [`Image::load`], annotations included).
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The manifest digest: the image's identity in registries and layouts.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// The manifest's media type (OCI or Docker schema2).
    pub fn media_type(&self) -> &MediaType {
        &self.descriptor.media_type
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &ImageManifest {
        &self.manifest
    }

    /// The manifest exactly as stored.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    /// The config blob's descriptor.
    pub fn config_descriptor(&self) -> &Descriptor {
        &self.config_descriptor
    }

    /// The parsed config.
    pub fn config(&self) -> &ImageConfiguration {
        &self.config
    }

    /// The config exactly as stored. Keys `oci_spec` does not model (e.g. `Healthcheck`) are
    /// only here.
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }

    /// The layers, bottom first, each with its diff_id.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The manifest's annotations, sorted.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        manifest::sorted_annotations(self.manifest.annotations())
    }

    /// The manifest's `subject` (for artifacts attached to another image), if any.
    pub fn subject(&self) -> Result<Option<Descriptor>> {
        self.manifest.subject().as_ref().map(Descriptor::from_oci).transpose()
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        config::platform_of(&self.config)
    }

    /// The config's history, oldest first.
    pub fn history(&self) -> &[History] {
        self.config.history().as_deref().unwrap_or(&[])
    }

    /// The config's `created` time, verbatim.
    pub fn created(&self) -> Option<&str> {
        self.config.created().as_deref()
    }

    fn exec(&self) -> Option<&config::Config> {
        self.config.config().as_ref()
    }

    /// `KEY=VALUE` environment entries.
    pub fn env(&self) -> &[String] {
        self.exec().and_then(|c| c.env().as_deref()).unwrap_or(&[])
    }

    /// The entrypoint, if set.
    pub fn entrypoint(&self) -> Option<&[String]> {
        self.exec().and_then(|c| c.entrypoint().as_deref())
    }

    /// The default command (arguments to the entrypoint), if set.
    pub fn cmd(&self) -> Option<&[String]> {
        self.exec().and_then(|c| c.cmd().as_deref())
    }

    /// The user (`name`, `uid`, `uid:gid`, …), if set.
    pub fn user(&self) -> Option<&str> {
        self.exec().and_then(|c| c.user().as_deref())
    }

    /// The working directory, if set.
    pub fn working_dir(&self) -> Option<&str> {
        self.exec().and_then(|c| c.working_dir().as_deref())
    }

    /// Labels, sorted.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.exec()
            .and_then(|c| c.labels().as_ref())
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Exposed ports as written (`80/tcp`), sorted.
    pub fn exposed_ports(&self) -> BTreeSet<String> {
        self.exec()
            .and_then(|c| c.exposed_ports().as_ref())
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Volumes, sorted.
    pub fn volumes(&self) -> BTreeSet<String> {
        self.exec()
            .and_then(|c| c.volumes().as_ref())
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The stop signal, if set.
    pub fn stop_signal(&self) -> Option<&str> {
        self.exec().and_then(|c| c.stop_signal().as_deref())
    }
}

/// A multi-platform index (OCI index or Docker manifest list), parsed, with its bytes.
#[derive(Debug, Clone)]
pub struct Index {
    descriptor: Descriptor,
    index: ImageIndex,
    bytes: Vec<u8>,
    manifests: Vec<Descriptor>,
}

impl Index {
    /// Loads and verifies the index `descriptor` points to. Child manifests are not read.
    pub fn load(store: &dyn BlobStore, descriptor: &Descriptor) -> Result<Index> {
        let bytes = manifest::read_document(store, descriptor, MAX_MANIFEST_BYTES)?;
        Index::from_bytes(descriptor.clone(), bytes)
    }

    /// Builds an index from its bytes, checking them against `descriptor`.
    pub fn from_bytes(descriptor: Descriptor, bytes: Vec<u8>) -> Result<Index> {
        check_bytes(&descriptor, &bytes, MAX_MANIFEST_BYTES)?;
        let what = format!("index {}", descriptor.digest);
        let media_type = effective_type(&descriptor.media_type, &bytes);
        if !media_type.is_index() {
            return Err(Error::invalid(
                &what,
                format!("media type {} is not an image index", descriptor.media_type),
            ));
        }
        let (index, manifests) = manifest::parse_index(&bytes, &media_type, &what)?;
        Ok(Index { descriptor, index, bytes, manifests })
    }

    /// The index's descriptor.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The index digest.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// The parsed index.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The index exactly as stored.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The manifests it lists, in order.
    pub fn manifests(&self) -> &[Descriptor] {
        &self.manifests
    }

    /// The index's annotations, sorted.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        manifest::sorted_annotations(self.index.annotations())
    }

    /// The image manifest for `platform`: the first entry whose platform
    /// [matches](Platform::matches) it. Entries without a platform (attestations, artifacts)
    /// never match.
    pub fn select(&self, platform: &Platform) -> Result<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| {
                d.media_type.is_manifest()
                    && d.platform.as_ref().is_some_and(|p| p.matches(platform))
            })
            .ok_or_else(|| Error::Selection {
                location: format!("index {}", self.descriptor.digest),
                reason: format!(
                    "no image for platform {platform} (available: {})",
                    self.platforms().iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// The platforms of the image manifests it lists.
    pub fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .filter(|d| d.media_type.is_manifest())
            .filter_map(|d| d.platform.clone())
            .collect()
    }
}

/// Either an image or an index, as a tag may point to either.
// Loaded once per operation and moved rarely: boxing the image would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ImageOrIndex {
    /// A single-platform image.
    Image(Image),
    /// A multi-platform index.
    Index(Index),
}

impl ImageOrIndex {
    /// Loads what `descriptor` points to, deciding by its media type (or, for an unknown media
    /// type, by the document itself).
    pub fn load(store: &dyn BlobStore, descriptor: &Descriptor) -> Result<ImageOrIndex> {
        let bytes = manifest::read_document(store, descriptor, MAX_MANIFEST_BYTES)?;
        let media_type = effective_type(&descriptor.media_type, &bytes);
        if media_type.is_index() {
            Ok(ImageOrIndex::Index(Index::from_bytes(descriptor.clone(), bytes)?))
        } else if media_type.is_manifest() {
            Ok(ImageOrIndex::Image(Image::load(store, descriptor)?))
        } else {
            Err(Error::invalid(
                format!("blob {}", descriptor.digest),
                format!(
                    "media type {} is neither an image manifest nor an index",
                    descriptor.media_type
                ),
            ))
        }
    }

    /// The descriptor of the manifest or index.
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            ImageOrIndex::Image(i) => i.descriptor(),
            ImageOrIndex::Index(i) => i.descriptor(),
        }
    }
}

/// A descriptor's media type, or the document's own when the descriptor's is not one mbi
/// recognises as a manifest or index.
fn effective_type(given: &MediaType, bytes: &[u8]) -> MediaType {
    if given.is_manifest() || given.is_index() {
        return given.clone();
    }
    match manifest::sniff_media_type(bytes) {
        Some(m) if (m.is_manifest() || m.is_index()) && matches!(given, MediaType::Other(_)) => m,
        _ => given.clone(),
    }
}

fn check_bytes(d: &Descriptor, bytes: &[u8], limit: u64) -> Result<()> {
    let what = || format!("{} {}", manifest::kind_name(&d.media_type), d.digest);
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge { what: what(), size: bytes.len() as u64, limit });
    }
    if bytes.len() as u64 != d.size {
        return Err(Error::SizeMismatch {
            digest: d.digest.clone(),
            expected: d.size,
            actual: bytes.len() as u64,
        });
    }
    d.digest.verify(bytes)
}
