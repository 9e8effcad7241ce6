//! Manifest and index documents: limits, checked parsing, the annotation keys mbi writes, and the
//! graph walk (which blobs a manifest or index references).
//!
//! Parsing goes through `oci_spec`'s [`ImageManifest`] and [`ImageIndex`], but mbi never hashes
//! their serialisation: bytes that are hashed come either verbatim from a store or from
//! [`crate::canonical::to_vec`].

use std::collections::BTreeMap;

use serde::Deserialize;

pub use oci_spec::image::{ImageIndex, ImageManifest};

use crate::{BlobStore, Descriptor, Digest, Error, MediaType, Result};

/// Largest manifest or index mbi reads (4 MiB, as containers/image).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Largest image configuration mbi reads (8 MiB).
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
/// Largest `index.json` of an image layout mbi reads (16 MiB: many tags).
pub const MAX_LAYOUT_INDEX_BYTES: u64 = 16 << 20;
/// How deeply indexes may nest (index → index → … → manifest).
pub const MAX_NESTING: usize = 8;

/// Annotation keys defined by the OCI image specification that mbi reads or writes.
pub mod annotations {
    /// The tag of a manifest in an image layout's `index.json`.
    pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
    /// When the image was created (RFC 3339).
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// The reference of the image this one was built on.
    pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
    /// The manifest digest of the image this one was built on.
    pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
}

/// The media type of OCI artifact manifests (image-spec 1.1-rc, still found in the wild).
pub const ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// The fields of a manifest-like document that name other blobs. Everything else is ignored, so
/// this accepts image manifests, indexes, Docker manifest lists and artifact manifests alike.
#[derive(Debug, Default, Deserialize)]
struct Refs {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    blobs: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

/// What kind of document some bytes are, judged from their `mediaType` field or, failing that,
/// from their shape (`manifests` → index, `config` → manifest).
pub fn sniff_media_type(bytes: &[u8]) -> Option<MediaType> {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default, rename = "mediaType")]
        media_type: Option<MediaType>,
        #[serde(default)]
        manifests: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        config: Option<serde::de::IgnoredAny>,
    }
    let shape: Shape = serde_json::from_slice(bytes).ok()?;
    if let Some(m) = shape.media_type {
        return Some(m);
    }
    if shape.manifests.is_some() {
        Some(MediaType::OciIndex)
    } else if shape.config.is_some() {
        Some(MediaType::OciManifest)
    } else {
        None
    }
}

/// Whether blobs of this media type are documents that reference other blobs.
pub fn is_document(media_type: &MediaType) -> bool {
    media_type.is_manifest() || media_type.is_index() || media_type.as_str() == ARTIFACT_MANIFEST
}

/// The descriptors a manifest-like document references: for an index its manifests; for a
/// manifest its config and layers (and `blobs` of artifact manifests). The `subject` is returned
/// separately: it points at another image and is not part of this one.
pub fn references(bytes: &[u8], what: &str) -> Result<(Vec<Descriptor>, Option<Descriptor>)> {
    let refs: Refs = serde_json::from_slice(bytes)
        .map_err(|e| Error::Document { what: what.to_owned(), source: e })?;
    let mut out = Vec::new();
    out.extend(refs.manifests.unwrap_or_default());
    out.extend(refs.config);
    out.extend(refs.layers.unwrap_or_default());
    out.extend(refs.blobs.unwrap_or_default());
    Ok((out, refs.subject))
}

/// Reads a document blob described by `descriptor`: checks the size against the descriptor and
/// `limit` before reading, and the digest after.
pub fn read_document(
    store: &dyn BlobStore,
    descriptor: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>> {
    let what = || format!("{} {}", kind_name(&descriptor.media_type), descriptor.digest);
    if descriptor.size > limit {
        return Err(Error::TooLarge { what: what(), size: descriptor.size, limit });
    }
    let bytes = store.read_bytes(&descriptor.digest, limit)?;
    if bytes.len() as u64 != descriptor.size {
        return Err(Error::SizeMismatch {
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

pub(crate) fn kind_name(m: &MediaType) -> &'static str {
    if m.is_index() {
        "index"
    } else if m.is_manifest() {
        "manifest"
    } else if m.is_config() {
        "config"
    } else if m.is_layer() {
        "layer"
    } else {
        "blob"
    }
}

/// Parses and checks an image manifest (OCI or Docker schema2).
///
/// `expected` is the media type the referencing descriptor gave; the document's own `mediaType`
/// field, when present, must agree with it. Returns the parsed manifest, its config descriptor
/// and its layer descriptors (as mbi [`Descriptor`]s, with validated digests).
pub fn parse_manifest(
    bytes: &[u8],
    expected: &MediaType,
    what: &str,
) -> Result<(ImageManifest, Descriptor, Vec<Descriptor>)> {
    let manifest: ImageManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::Document { what: what.to_owned(), source: e })?;
    if manifest.schema_version() != 2 {
        return Err(Error::invalid(
            what,
            format!("schemaVersion is {}, expected 2", manifest.schema_version()),
        ));
    }
    if let Some(m) = manifest.media_type() {
        let m = MediaType::from(m);
        if !m.is_manifest() {
            return Err(Error::invalid(what, format!("mediaType {m} is not an image manifest")));
        }
        if expected.is_manifest() && m != *expected {
            return Err(Error::invalid(
                what,
                format!("document says mediaType {m}, its descriptor says {expected}"),
            ));
        }
    }
    let config = Descriptor::from_oci(manifest.config()).map_err(|e| in_doc(what, "config", e))?;
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for (i, l) in manifest.layers().iter().enumerate() {
        layers.push(Descriptor::from_oci(l).map_err(|e| in_doc(what, &format!("layers[{i}]"), e))?);
    }
    Ok((manifest, config, layers))
}

/// Parses and checks an image index (OCI index or Docker manifest list). Returns the parsed
/// index and its manifest descriptors.
pub fn parse_index(
    bytes: &[u8],
    expected: &MediaType,
    what: &str,
) -> Result<(ImageIndex, Vec<Descriptor>)> {
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| Error::Document { what: what.to_owned(), source: e })?;
    if index.schema_version() != 2 {
        return Err(Error::invalid(
            what,
            format!("schemaVersion is {}, expected 2", index.schema_version()),
        ));
    }
    if let Some(m) = index.media_type() {
        let m = MediaType::from(m);
        if !m.is_index() {
            return Err(Error::invalid(what, format!("mediaType {m} is not an image index")));
        }
        if expected.is_index() && m != *expected {
            return Err(Error::invalid(
                what,
                format!("document says mediaType {m}, its descriptor says {expected}"),
            ));
        }
    }
    let mut manifests = Vec::with_capacity(index.manifests().len());
    for (i, d) in index.manifests().iter().enumerate() {
        manifests.push(
            Descriptor::from_oci(d).map_err(|e| in_doc(what, &format!("manifests[{i}]"), e))?,
        );
    }
    Ok((index, manifests))
}

fn in_doc(what: &str, field: &str, e: Error) -> Error {
    Error::invalid(format!("{what} {field}"), e.to_string())
}

/// Converts an `oci_spec` annotation map to a sorted map.
pub fn sorted_annotations(
    a: &Option<std::collections::HashMap<String, String>>,
) -> BTreeMap<String, String> {
    a.as_ref().map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// Visits `root` and every blob it references, depth first, children before parents (so a
/// copy in this order never leaves a manifest whose blobs are missing). Documents are read from
/// `store` with their digests verified; leaf blobs (configs, layers) are only described, not read.
///
/// With `follow_subject`, the `subject` of manifests is visited too, if present in the store
/// (garbage collection keeps it; copies do not carry it). A blob reachable twice is visited
/// once.
pub fn walk(
    store: &dyn BlobStore,
    root: &Descriptor,
    follow_subject: bool,
    visit: &mut dyn FnMut(&Descriptor) -> Result<()>,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    walk_inner(store, root, follow_subject, visit, &mut seen, 0)
}

fn walk_inner(
    store: &dyn BlobStore,
    d: &Descriptor,
    follow_subject: bool,
    visit: &mut dyn FnMut(&Descriptor) -> Result<()>,
    seen: &mut std::collections::BTreeSet<Digest>,
    depth: usize,
) -> Result<()> {
    if !seen.insert(d.digest.clone()) {
        return Ok(());
    }
    if is_document(&d.media_type) {
        if depth > MAX_NESTING {
            return Err(Error::invalid(
                format!("{} {}", kind_name(&d.media_type), d.digest),
                format!("indexes nest more than {MAX_NESTING} deep"),
            ));
        }
        let bytes = read_document(store, d, MAX_MANIFEST_BYTES)?;
        let what = format!("{} {}", kind_name(&d.media_type), d.digest);
        let (children, subject) = references(&bytes, &what)?;
        for c in &children {
            walk_inner(store, c, follow_subject, visit, seen, depth + 1)?;
        }
        if follow_subject
            && let Some(s) = subject
            && store.contains(&s.digest)?
        {
            walk_inner(store, &s, follow_subject, visit, seen, depth + 1)?;
        }
    }
    visit(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff() {
        assert_eq!(sniff_media_type(br#"{"manifests":[]}"#), Some(MediaType::OciIndex));
        assert_eq!(
            sniff_media_type(br#"{"schemaVersion":2,"config":{}}"#),
            Some(MediaType::OciManifest)
        );
        assert_eq!(
            sniff_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            ),
            Some(MediaType::DockerManifest)
        );
        assert_eq!(sniff_media_type(b"not json"), None);
    }

    #[test]
    fn manifest_checks() {
        let bad_version = br#"{"schemaVersion":1,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(
            parse_manifest(bad_version, &MediaType::OciManifest, "m"),
            Err(Error::Invalid { .. })
        ));
        let wrong_type = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(parse_manifest(wrong_type, &MediaType::OciManifest, "m").is_err());
        let sha384 = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha384:38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b","size":0},"layers":[]}"#;
        assert!(parse_manifest(sha384, &MediaType::OciManifest, "m").is_err());
        assert!(matches!(
            parse_manifest(b"{", &MediaType::OciManifest, "m"),
            Err(Error::Document { .. })
        ));
    }
}
