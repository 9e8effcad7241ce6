#![no_main]
//! `Link` header parser: never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = mbi_registry::link::parse_link_header(s);
    let _ = mbi_registry::link::next_link(s);
});
