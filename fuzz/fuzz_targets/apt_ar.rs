//! Arbitrary bytes into the ar reader: no panic, members never read past their size.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::ar::ArReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut ar) = ArReader::new(data, "fuzz.a") else { return };
    let mut total = 0u64;
    loop {
        match ar.next_member() {
            Ok(Some(mut m)) => {
                let size = m.header().size;
                let mut buf = Vec::new();
                if m.read_to_end(&mut buf).is_ok() {
                    assert_eq!(buf.len() as u64, size);
                }
                total += buf.len() as u64;
                assert!(total <= data.len() as u64);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
