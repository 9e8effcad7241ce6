//! apt sources in both syntaxes (deb822 `.sources` and one-line `sources.list`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::sources::{parse_deb822_sources, parse_sources, parse_sources_list};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_sources(text, "fuzz");
    let _ = parse_deb822_sources(text, "fuzz");
    let _ = parse_sources_list(text, "fuzz");
});
