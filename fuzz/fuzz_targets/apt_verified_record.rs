//! Arbitrary bytes as the signature facts kept in the apt cache's `verified.json`
//! (`SignatureCheck`, serde JSON): parse them and judge them at several times. No panic, whatever
//! the numbers (times and expirations near the limits of their types included).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::signature::{SignatureCheck, VerifyPolicy};

fuzz_target!(|data: &[u8]| {
    let Ok(check) = serde_json::from_slice::<SignatureCheck>(data) else { return };
    for now in [None, Some(0), Some(1_700_000_000), Some(i64::MIN), Some(i64::MAX)] {
        for allow_weak_hashes in [false, true] {
            let policy = VerifyPolicy { allow_weak_hashes, now };
            let _ = check.judge(&policy, "fuzz/InRelease");
        }
    }
});
