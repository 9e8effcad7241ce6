#![no_main]
//! Image reference parser: never panics; what parses prints back to an equal reference.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(r) = mbi_registry::Reference::parse(s) {
        let again = mbi_registry::Reference::parse(&r.to_string()).expect("display output parses");
        assert_eq!(again, r);
        let _ = r.familiar();
        let _ = r.manifest_ref();
    }
});
