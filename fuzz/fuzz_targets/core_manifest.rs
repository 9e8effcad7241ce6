//! Manifest, index and config parsing through mbi-core's loaders (`Image`, `Index`,
//! `ImageOrIndex`), which must return typed errors and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_core::{BlobStore, Descriptor, Image, ImageOrIndex, Index, MediaType, MemoryStore};

const TYPES: [MediaType; 5] = [
    MediaType::OciManifest,
    MediaType::DockerManifest,
    MediaType::OciIndex,
    MediaType::DockerManifestList,
    MediaType::OciConfig,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, doc)) = data.split_first() else { return };
    let media_type = TYPES[selector as usize % TYPES.len()].clone();
    let store = MemoryStore::new();

    // 1. The input as a manifest or index document, loaded by its descriptor.
    let Ok((digest, size)) = store.put_bytes(doc) else { return };
    let desc = Descriptor::new(media_type.clone(), digest, size);
    let _ = ImageOrIndex::load(&store, &desc);
    let _ = Image::load(&store, &desc);
    let _ = Index::from_bytes(desc.clone(), doc.to_vec());
    let _ = mbi_core::manifest::sniff_media_type(doc);
    let _ = mbi_core::manifest::references(doc, "fuzz");

    // 2. The input as an image config, behind a manifest that points at it, with as many
    //    layers as the config claims diff_ids (so the loader reaches the config checks).
    let _ = mbi_core::config::parse_config(doc, "fuzz");
    let layers = serde_json::from_slice::<serde_json::Value>(doc)
        .ok()
        .and_then(|v| v.get("rootfs")?.get("diff_ids")?.as_array().map(|a| a.len()))
        .unwrap_or(0)
        .min(64);
    let config = Descriptor::of_bytes(MediaType::OciConfig, doc);
    let layer = Descriptor::of_bytes(MediaType::OciLayerGzip, b"layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": vec![layer; layers],
    });
    let Ok(bytes) = mbi_core::canonical::to_vec(&manifest) else { return };
    let mdesc = Descriptor::of_bytes(MediaType::OciManifest, &bytes);
    if let Ok(img) = Image::from_parts(mdesc, bytes, doc.to_vec()) {
        // Accessors on whatever parsed must not panic either.
        let _ = (img.platform(), img.history(), img.env(), img.labels(), img.exposed_ports());
        let _ = mbi_core::ImageBuilder::from_image(&img).render();
    }
});
