//! Opening arbitrary bytes as an `oci-archive:` and a `docker-archive:` (tar indexing, member
//! lookup through links, manifest.json / index.json parsing, layer verification): typed errors,
//! no panics, nothing written.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mbi_core::transport::{self, ImageReference};

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::NamedTempFile::new() else { return };
    if f.write_all(data).is_err() {
        return;
    }
    let path = f.path().display().to_string();
    for r in [format!("oci-archive:{path}"), format!("docker-archive:{path}")] {
        let Ok(r) = r.parse::<ImageReference>() else { continue };
        if let Ok(source) = transport::open(&r) {
            let _ = source.load();
            let _ = source.image(None);
        }
    }
});
