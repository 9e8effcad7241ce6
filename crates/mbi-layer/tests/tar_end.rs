//! Where a tar stream may end: umoci writes layers that stop right after the last entry's
//! content (no padding, no end-of-archive blocks); Go's and GNU tar's readers take that as the
//! end, and so must ours. Content itself cut short stays an error.

mod common;

use std::io::Read;

use common::RawTar;
use mbi_layer::tar::TarReader;

fn names_and_bodies(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut r = TarReader::new(bytes);
    let mut out = Vec::new();
    while let Some(e) = r.next_entry().map_err(|e| e.to_string())? {
        let mut body = Vec::new();
        r.content().read_to_end(&mut body).map_err(|e| e.to_string())?;
        out.push((e.display_path(), body));
    }
    Ok(out)
}

#[test]
fn stream_ending_after_the_last_content_is_a_clean_end() {
    let full = RawTar::new().file("inner", b"inner\n").finish();
    let want = vec![("inner".to_string(), b"inner\n".to_vec())];
    assert_eq!(names_and_bodies(&full).unwrap(), want);
    for cut in [512 + 6, 512 + 100, 1024, 1536] {
        assert_eq!(names_and_bodies(&full[..cut]).unwrap(), want, "cut at {cut}");
    }
    let err = names_and_bodies(&full[..512 + 3]).unwrap_err();
    assert!(err.contains("ends inside an entry's content"), "{err}");
    // Also when the content is skipped rather than read.
    let mut r = TarReader::new(&full[..512 + 3]);
    r.next_entry().unwrap().unwrap();
    assert!(r.next_entry().is_err());
}
