//! A summary of an image or index, as `mbi inspect` prints it.
//!
//! [`Inspection`] serialises to JSON with stable field order and sorted maps. Field names are
//! camelCase, as in OCI documents. Its shape:
//!
//! ```text
//! image:  { kind: "image", reference, digest, mediaType, size, platform, created,
//!           config: { digest, mediaType, size, author, env, entrypoint, cmd, user,
//!                     workingDir, labels, exposedPorts, volumes, stopSignal },
//!           layers: [ { digest, diffId, size, mediaType } ],
//!           history: [ { created, createdBy, comment, author, emptyLayer } ],
//!           annotations }
//! index:  { kind: "index", reference, digest, mediaType, size, annotations,
//!           manifests: [ { digest, mediaType, size, platform, annotations } ] }
//! ```
//! Absent optional values are omitted; lists and maps are always present (possibly empty).

use std::collections::BTreeMap;

use mbi_core::{Digest, Image, ImageOrIndex, Index, MediaType, Platform};
use serde::Serialize;

/// What `mbi inspect` prints for an image or an index.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Inspection {
    /// A single-platform image.
    Image(Box<ImageSummary>),
    /// A multi-platform index.
    Index(IndexSummary),
}

/// An image's manifest, config and layers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ImageSummary {
    /// The reference it was read from, as given.
    pub reference: String,
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest media type (OCI or Docker schema2).
    pub media_type: MediaType,
    /// The manifest size in bytes.
    pub size: u64,
    /// The platform the config declares.
    pub platform: Platform,
    /// The config's `created` time, verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The config blob and the run-time settings it holds.
    pub config: ConfigSummary,
    /// The layers, bottom first.
    pub layers: Vec<LayerSummary>,
    /// The config's history, oldest first.
    pub history: Vec<HistorySummary>,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The config blob and its run-time settings.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConfigSummary {
    /// The config digest (the image ID in docker's terms).
    pub digest: Digest,
    /// The config media type.
    pub media_type: MediaType,
    /// The config size in bytes.
    pub size: u64,
    /// The author, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `KEY=VALUE` environment entries.
    pub env: Vec<String>,
    /// The entrypoint, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The default command, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// The user, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The working directory, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Exposed ports (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// Volumes.
    pub volumes: Vec<String>,
    /// The stop signal, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// One layer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LayerSummary {
    /// The blob digest.
    pub digest: Digest,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// The blob size in bytes.
    pub size: u64,
    /// The blob media type (says how it is compressed).
    pub media_type: MediaType,
}

/// One history entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HistorySummary {
    /// When, verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// What made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Whether it made no layer.
    pub empty_layer: bool,
}

/// An index and the manifests it lists.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IndexSummary {
    /// The reference it was read from, as given.
    pub reference: String,
    /// The index digest.
    pub digest: Digest,
    /// The index media type (OCI index or Docker manifest list).
    pub media_type: MediaType,
    /// The index size in bytes.
    pub size: u64,
    /// The index's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The manifests it lists, in order.
    pub manifests: Vec<ManifestEntry>,
}

/// One entry of an index.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ManifestEntry {
    /// The manifest digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: MediaType,
    /// Its size in bytes.
    pub size: u64,
    /// The platform the index gives for it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The entry's annotations.
    pub annotations: BTreeMap<String, String>,
}

impl Inspection {
    /// Summarises an image or index read from `reference` (used only as a label).
    pub fn of(root: &ImageOrIndex, reference: &str) -> Inspection {
        match root {
            ImageOrIndex::Image(i) => Inspection::Image(Box::new(ImageSummary::of(i, reference))),
            ImageOrIndex::Index(i) => Inspection::Index(IndexSummary::of(i, reference)),
        }
    }
}

impl ImageSummary {
    /// Summarises `image`.
    pub fn of(image: &Image, reference: &str) -> ImageSummary {
        let c = image.config_descriptor();
        ImageSummary {
            reference: reference.to_owned(),
            digest: image.digest().clone(),
            media_type: image.media_type().clone(),
            size: image.descriptor().size,
            platform: image.platform(),
            created: image.created().map(str::to_owned),
            config: ConfigSummary {
                digest: c.digest.clone(),
                media_type: c.media_type.clone(),
                size: c.size,
                author: image.config().author().clone(),
                env: image.env().to_vec(),
                entrypoint: image.entrypoint().map(<[String]>::to_vec),
                cmd: image.cmd().map(<[String]>::to_vec),
                user: image.user().map(str::to_owned),
                working_dir: image.working_dir().map(str::to_owned),
                labels: image.labels(),
                exposed_ports: image.exposed_ports().into_iter().collect(),
                volumes: image.volumes().into_iter().collect(),
                stop_signal: image.stop_signal().map(str::to_owned),
            },
            layers: image
                .layers()
                .iter()
                .map(|l| LayerSummary {
                    digest: l.descriptor.digest.clone(),
                    diff_id: l.diff_id.clone(),
                    size: l.descriptor.size,
                    media_type: l.descriptor.media_type.clone(),
                })
                .collect(),
            history: image
                .history()
                .iter()
                .map(|h| HistorySummary {
                    created: h.created().clone(),
                    created_by: h.created_by().clone(),
                    comment: h.comment().clone(),
                    author: h.author().clone(),
                    empty_layer: h.empty_layer().unwrap_or(false),
                })
                .collect(),
            annotations: image.annotations(),
        }
    }
}

impl IndexSummary {
    /// Summarises `index`.
    pub fn of(index: &Index, reference: &str) -> IndexSummary {
        IndexSummary {
            reference: reference.to_owned(),
            digest: index.digest().clone(),
            media_type: index.descriptor().media_type.clone(),
            size: index.descriptor().size,
            annotations: index.annotations(),
            manifests: index
                .manifests()
                .iter()
                .map(|d| ManifestEntry {
                    digest: d.digest.clone(),
                    media_type: d.media_type.clone(),
                    size: d.size,
                    platform: d.platform.clone(),
                    annotations: d.annotations.clone(),
                })
                .collect(),
        }
    }
}
