#![no_main]
//! `WWW-Authenticate` challenge parser: never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(challenges) = mbi_registry::auth::parse_challenges(s) {
        for c in &challenges {
            let _ = c.param("realm");
        }
    }
});
