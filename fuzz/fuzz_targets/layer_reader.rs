//! Arbitrary bytes into mbi-layer's tar reader, tree importer and unpacker.
//!
//! Properties: nothing panics; every error is a typed `mbi_layer::Error`; and unpacking never
//! creates, changes or removes anything outside the target directory (its parent holds the
//! target and a sentinel file, and must look exactly the same afterwards).
#![no_main]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use mbi_layer::tar::TarReader;
use mbi_layer::{FileTree, FromTarOptions, UnpackOptions, unpack_tar};

static SEQ: AtomicU64 = AtomicU64::new(0);

fn base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    root.join(format!("mbi-fuzz-layer-{}", std::process::id()))
}

fn listing(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let md = fs::symlink_metadata(&p).unwrap();
        let len = if md.is_file() { md.len() } else { 0 };
        out.push(format!("{} {:?} {len}", p.display(), md.file_type()));
        if md.is_dir() && p.file_name().is_some_and(|n| n != "target") {
            listing(&p, out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. The entry reader alone: read every entry and its content.
    let mut r = TarReader::new(data);
    let mut buf = vec![0u8; 4096];
    while let Ok(Some(_)) = r.next_entry() {
        let mut content = r.content();
        while matches!(content.read(&mut buf), Ok(n) if n > 0) {}
    }

    let work = base().join(SEQ.fetch_add(1, Ordering::Relaxed).to_string());
    fs::create_dir_all(work.join("target")).unwrap();
    fs::write(work.join("sentinel"), b"outside").unwrap();
    fs::create_dir_all(work.join("etc")).unwrap();
    fs::write(work.join("etc/passwd"), b"root").unwrap();

    // 2. The importer, spilling into the work directory with tiny in-memory limits.
    let opts = FromTarOptions::default().spill_dir(&work).memory(64, 4096);
    if let Ok(tree) = FileTree::from_tar(data, &opts) {
        let _ = mbi_layer::write_tar_to(&tree, 0, std::io::sink());
    }

    // 3. The unpacker, twice (a second layer over the first), then the containment check.
    let mut before = Vec::new();
    listing(&work, &mut before);
    before.retain(|l| !l.contains(".mbi-spill-"));
    let opts = UnpackOptions::default().same_owner(false).create_devices(false);
    let _ = unpack_tar(data, &work.join("target"), &opts);
    let _ = unpack_tar(data, &work.join("target"), &opts);
    let mut after = Vec::new();
    listing(&work, &mut after);
    after.retain(|l| !l.contains(".mbi-spill-"));
    assert_eq!(before, after, "unpacking changed something outside the target");
    assert_eq!(fs::read(work.join("sentinel")).unwrap(), b"outside");
    assert_eq!(fs::read(work.join("etc/passwd")).unwrap(), b"root");

    let _ = fs::remove_dir_all(&work);
});
