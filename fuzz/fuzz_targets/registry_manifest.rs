#![no_main]
//! Manifest / index parser: never panics, with and without a declared media type.
use libfuzzer_sys::fuzz_target;
use mbi_core::MediaType;
use mbi_registry::manifest::Document;

fuzz_target!(|data: &[u8]| {
    for declared in [None, Some(MediaType::OciManifest), Some(MediaType::OciIndex), Some(MediaType::DockerManifestList)] {
        if let Ok(doc) = Document::parse(data, declared.as_ref(), "fuzz") {
            let _ = doc.children();
            let _ = doc.artifact_type();
            let _ = doc.media_type(declared.as_ref());
        }
    }
});
