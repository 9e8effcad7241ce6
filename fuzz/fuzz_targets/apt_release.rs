//! Release parsing, including the clearsign framing of InRelease and verification against an
//! empty keyring (which must always refuse).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::release::{Release, parse_date};
use mbi_distro::apt::signature::{Keyring, VerifyPolicy, clearsigned_text_unverified, verify_clearsigned, verify_detached};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = clearsigned_text_unverified(data) {
        let _ = Release::parse(&text, "fuzz");
    }
    let empty = Keyring::new();
    assert!(verify_clearsigned(data, &empty, &VerifyPolicy::default(), "fuzz").is_err());
    assert!(verify_detached(b"data", data, &empty, &VerifyPolicy::default(), "fuzz").is_err());
    let _ = Keyring::from_bytes(data, "fuzz");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = Release::parse(text, "fuzz") {
            let _ = r.check_time(0, "fuzz");
        }
        let _ = parse_date(text);
    }
});
