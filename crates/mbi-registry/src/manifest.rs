//! The parts of manifests and indexes a registry client needs to walk an image graph.
//!
//! These structs only *read* documents: the bytes a registry sent or a store holds are kept and
//! forwarded verbatim (their digest is the image's identity), never re-serialised. The one
//! document mbi writes here is the referrers fallback index, built by [`Index::to_bytes`].

use std::collections::BTreeMap;

use mbi_core::{Descriptor, MediaType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest manifest or index accepted (the limit the CNCF registry enforces too).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// The `Accept` header for manifest requests: OCI and Docker schema2, manifests and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// An image manifest (OCI or Docker schema2), or an artifact manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's media type, when it states one.
    #[serde(default)]
    pub media_type: Option<MediaType>,
    /// The artifact type, for artifacts.
    #[serde(default)]
    pub artifact_type: Option<MediaType>,
    /// The configuration blob.
    pub config: Descriptor,
    /// The layer blobs, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, SBOMs, attestations).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's media type, when it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// The artifact type, for artifact indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// The manifests (or nested indexes) this index lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// An empty OCI index.
    pub fn empty() -> Self {
        Index {
            schema_version: 2,
            media_type: Some(MediaType::OciIndex),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The index serialised canonically (sorted keys, compact).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        mbi_core::canonical::to_vec(self).map_err(|e| Error::invalid_doc("index", e.to_string()))
    }
}

/// A parsed manifest or index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// An image or artifact manifest.
    Manifest(Box<Manifest>),
    /// An index or manifest list.
    Index(Box<Index>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    config: Option<serde::de::IgnoredAny>,
}

impl Document {
    /// Parses a manifest or index. `declared` is the media type from the descriptor or the
    /// `Content-Type` header, if known; the document's own `mediaType` must agree with it.
    /// `what` names the document in errors.
    pub fn parse(bytes: &[u8], declared: Option<&MediaType>, what: &str) -> Result<Document> {
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge { what: what.to_owned(), limit: MAX_MANIFEST_SIZE });
        }
        let bad = |reason: String| Error::invalid_doc(what, reason);
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let own = probe.media_type.as_deref().map(MediaType::from);
        let schema1 = |m: &MediaType| {
            m.as_str().starts_with("application/vnd.docker.distribution.manifest.v1")
        };
        if probe.schema_version == Some(1)
            || own.as_ref().is_some_and(schema1)
            || declared.is_some_and(schema1)
        {
            return Err(Error::Unsupported {
                what: what.to_owned(),
                reason: "Docker schema 1 manifests are not supported (deprecated since 2017)"
                    .into(),
            });
        }
        if probe.schema_version != Some(2) {
            return Err(bad("schemaVersion must be 2".into()));
        }
        if let (Some(own), Some(decl)) = (&own, declared) {
            // Registries may answer `application/json` or nothing useful; only two known,
            // different manifest types are a contradiction.
            let known = |m: &MediaType| m.is_manifest() || m.is_index();
            if known(own) && known(decl) && own != decl {
                return Err(bad(format!("mediaType {own} contradicts the declared {decl}")));
            }
        }
        let kind = own
            .as_ref()
            .filter(|m| m.is_manifest() || m.is_index())
            .or(declared.filter(|m| m.is_manifest() || m.is_index()));
        let is_index = match kind {
            Some(m) => m.is_index(),
            None => match (probe.manifests.is_some(), probe.config.is_some()) {
                (true, false) => true,
                (false, true) => false,
                _ => {
                    return Err(bad("neither a manifest (config) nor an index (manifests)".into()));
                }
            },
        };
        if is_index {
            let idx: Index = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
            Ok(Document::Index(Box::new(idx)))
        } else {
            let m: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
            Ok(Document::Manifest(Box::new(m)))
        }
    }

    /// The media type to use for this document: its own, else the declared one, else OCI's.
    pub fn media_type(&self, declared: Option<&MediaType>) -> MediaType {
        let (own, default) = match self {
            Document::Manifest(m) => (m.media_type.as_ref(), MediaType::OciManifest),
            Document::Index(i) => (i.media_type.as_ref(), MediaType::OciIndex),
        };
        let usable = |m: &&MediaType| m.is_manifest() || m.is_index();
        own.filter(usable).or(declared.filter(usable)).cloned().unwrap_or(default)
    }

    /// Every descriptor this document references that must exist for it to be complete:
    /// config and layers of a manifest, or the manifests of an index (never the `subject`).
    pub fn children(&self) -> Vec<&Descriptor> {
        match self {
            Document::Manifest(m) => std::iter::once(&m.config).chain(&m.layers).collect(),
            Document::Index(i) => i.manifests.iter().collect(),
        }
    }

    /// The subject, if this document refers to another manifest.
    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Document::Manifest(m) => m.subject.as_ref(),
            Document::Index(i) => i.subject.as_ref(),
        }
    }

    /// The artifact type: `artifactType`, else (for manifests) the config media type, as the
    /// referrers API defines it.
    pub fn artifact_type(&self) -> Option<MediaType> {
        match self {
            Document::Manifest(m) => {
                m.artifact_type.clone().or_else(|| Some(m.config.media_type.clone()))
            }
            Document::Index(i) => i.artifact_type.clone(),
        }
    }

    /// The annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match self {
            Document::Manifest(m) => &m.annotations,
            Document::Index(i) => &i.annotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn manifest_and_index() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D}","size":3}}]}}"#
        );
        let doc = Document::parse(m.as_bytes(), None, "m").unwrap();
        assert_eq!(doc.children().len(), 2);
        assert_eq!(doc.media_type(None), MediaType::OciManifest);
        assert_eq!(doc.artifact_type(), Some(MediaType::OciConfig));
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"{D}","size":2,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#
        );
        let doc = Document::parse(i.as_bytes(), Some(&MediaType::DockerManifestList), "i").unwrap();
        assert_eq!(
            doc.media_type(Some(&MediaType::DockerManifestList)),
            MediaType::DockerManifestList
        );
        let Document::Index(idx) = doc else { panic!() };
        assert_eq!(idx.manifests[0].platform.as_ref().unwrap().variant.as_deref(), Some("v8"));
    }

    #[test]
    fn rejects() {
        let cases: &[(&str, Option<MediaType>, &str)] = &[
            ("{", None, "EOF"),
            (r#"{"schemaVersion":1,"fsLayers":[]}"#, None, "schema 1"),
            (r#"{"schemaVersion":3,"config":{}}"#, None, "schemaVersion"),
            (r#"{"schemaVersion":2}"#, None, "neither"),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
                Some(MediaType::OciManifest),
                "contradicts",
            ),
            (r#"{"schemaVersion":2,"config":{"digest":"sha256:00"}}"#, None, "digest"),
        ];
        for (doc, decl, needle) in cases {
            let e = Document::parse(doc.as_bytes(), decl.as_ref(), "doc").unwrap_err().to_string();
            assert!(e.contains(needle), "{doc}: {e}");
        }
        let huge = vec![b' '; MAX_MANIFEST_SIZE as usize + 1];
        assert!(matches!(Document::parse(&huge, None, "x"), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn fallback_index_is_canonical() {
        let mut idx = Index::empty();
        idx.manifests.push(Descriptor::of_bytes(MediaType::OciManifest, b"x"));
        let b = idx.to_bytes().unwrap();
        assert!(b.starts_with(br#"{"manifests":[{"digest":"sha256:"#));
        let back = Document::parse(&b, Some(&MediaType::OciIndex), "i").unwrap();
        assert_eq!(back, Document::Index(Box::new(idx)));
    }
}
