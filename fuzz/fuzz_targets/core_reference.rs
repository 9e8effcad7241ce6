//! Transport reference parsing (`oci:DIR:TAG`, `docker-archive:FILE:NAME:TAG`, …): typed errors,
//! no panics, and whatever parses prints back to a string that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_core::transport::{DockerName, ImageReference};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = s.parse::<ImageReference>() {
        let again: ImageReference = r.to_string().parse().expect("display output must parse");
        assert_eq!(again, r);
    }
    if let Ok(n) = s.parse::<DockerName>() {
        let again: DockerName = n.to_string().parse().expect("normalised name must parse");
        assert_eq!(again, n);
    }
    let _ = mbi_core::transport::validate_oci_ref_name(s);
    let _ = s.parse::<mbi_core::Platform>();
    let _ = s.parse::<mbi_core::ExposedPort>();
});
