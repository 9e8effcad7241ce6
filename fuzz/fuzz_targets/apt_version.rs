//! dpkg version parsing and ordering: antisymmetric, reflexive, consistent with Eq and Hash.
#![no_main]

use std::cmp::Ordering;
use std::hash::{BuildHasher, RandomState};

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::DebVersion;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let (a, b) = s.split_once('\n').unwrap_or((s, "1.0"));
    let (Ok(x), Ok(y)) = (DebVersion::parse(a), DebVersion::parse(b)) else { return };
    assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
    assert_eq!(x.cmp(&x), Ordering::Equal);
    if x == y {
        let h = RandomState::new();
        assert_eq!(h.hash_one(&x), h.hash_one(&y));
    }
    // Round trip.
    assert_eq!(DebVersion::parse(x.as_str()).ok().map(|v| v.cmp(&x)), Some(Ordering::Equal));
});
