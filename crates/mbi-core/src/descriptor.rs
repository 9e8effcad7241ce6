//! Content descriptors: what a manifest or index says about a blob it references.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Digest, MediaType, Platform};

/// An OCI content descriptor.
///
/// Unlike `oci_spec`'s descriptor, annotations are a [`BTreeMap`], so serialising a descriptor
/// twice always gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The referenced content's media type.
    pub media_type: MediaType,
    /// The referenced content's digest.
    pub digest: Digest,
    /// The referenced content's size in bytes.
    pub size: u64,
    /// Alternative download locations (non-distributable layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata, e.g. `org.opencontainers.image.ref.name`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of an image referenced from an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of an artifact manifest referenced from an index or referrers list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
}

impl Descriptor {
    /// A descriptor with no annotations, URLs or platform.
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type,
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    /// Describes `bytes` with `media_type`.
    pub fn of_bytes(media_type: MediaType, bytes: &[u8]) -> Self {
        Descriptor::new(media_type, Digest::sha256(bytes), bytes.len() as u64)
    }

    /// Adds or replaces an annotation.
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Sets the platform.
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// Converts to oci-spec's descriptor type.
    pub fn to_oci(&self) -> oci_spec::image::Descriptor {
        let mut d = oci_spec::image::Descriptor::new(
            (&self.media_type).into(),
            self.size,
            oci_spec::image::Digest::from(&self.digest),
        );
        if !self.urls.is_empty() {
            d.set_urls(Some(self.urls.clone()));
        }
        if !self.annotations.is_empty() {
            d.set_annotations(Some(self.annotations.clone().into_iter().collect()));
        }
        if let Some(p) = &self.platform {
            d.set_platform(Some(p.to_oci()));
        }
        if let Some(a) = &self.artifact_type {
            d.set_artifact_type(Some(a.into()));
        }
        d
    }

    /// Converts from oci-spec's descriptor type.
    pub fn from_oci(d: &oci_spec::image::Descriptor) -> Result<Self, crate::Error> {
        Ok(Descriptor {
            media_type: d.media_type().into(),
            digest: d.digest().try_into()?,
            size: d.size(),
            urls: d.urls().clone().unwrap_or_default(),
            annotations: d
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            platform: d.platform().as_ref().map(Platform::from_oci),
            artifact_type: d.artifact_type().as_ref().map(MediaType::from),
        })
    }
}
