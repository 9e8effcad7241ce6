//! The Packages parser and the general deb822 parser: never panic, and the parallel parse
//! gives the same records, field for field, as the single-threaded one.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::IndexOrigin;
use mbi_distro::apt::index::{ParseOptions, parse_packages};

fuzz_target!(|data: &[u8]| {
    let origin = Arc::new(IndexOrigin { uri: "http://x/".into(), suite: "s".into(), component: "c".into() });
    let one = parse_packages(data, &origin, "fuzz", &ParseOptions { threads: 1 });
    let many = parse_packages(data, &origin, "fuzz", &ParseOptions { threads: 3 });
    assert_eq!(one.is_ok(), many.is_ok());
    if let (Ok(a), Ok(b)) = (one, many) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mbi_distro::apt::control::parse_paragraphs(text, "fuzz", true);
        let _ = mbi_distro::apt::sources::parse_sources(text, "fuzz");
    }
});
