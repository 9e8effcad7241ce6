//! A small in-tree fuzzer (the real one is `fuzz/fuzz_targets/layer_reader.rs`): mutated
//! archives, with header checksums repaired so the mutations reach the parser's logic, must
//! never panic, and unpacking them must never touch anything outside the target.

mod common;

use std::fs;
use std::io::Read;

use common::{RawTar, scratch, snapshot};
use mbi_layer::tar::TarReader;
use mbi_layer::{Entry, FileTree, FromTarOptions, TreePath, UnpackOptions, unpack_tar};
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let p = |s: &str| TreePath::new(s).unwrap();
    let mut t = FileTree::new();
    t.insert(Entry::file(p("etc/passwd"), "root:x:0:0\n", 0o644)).unwrap();
    t.insert(Entry::symlink(p("abs"), "/")).unwrap();
    t.insert(Entry::symlink(p("up"), "../../..")).unwrap();
    t.insert(Entry::hardlink(p("etc/hard"), p("etc/passwd"))).unwrap();
    t.insert(Entry::whiteout(p("etc/gone"))).unwrap();
    t.insert(Entry::opaque_dir(p("opt"), 0o755)).unwrap();
    t.insert(Entry::file(p(&"n".repeat(180)), "long", 0o644).with_xattr("user.x", b"y".to_vec()))
        .unwrap();
    let mut ours = Vec::new();
    mbi_layer::write_tar_to(&t, 0, &mut ours).unwrap();
    vec![
        ours,
        RawTar::new()
            .symlink("l", "/")
            .file("l/x", b"through")
            .symlink("u", "..")
            .file("u/y", b"up")
            .hardlink("h", "l/x")
            .whiteout("u/.wh.x")
            .finish(),
        RawTar::new()
            .dir("d/")
            .file("d/f", &[1u8; 700])
            .symlink("d/s", "../d")
            .file("d/s/g", b"g")
            .finish(),
    ]
}

/// Recomputes the checksum of every block that carries the ustar magic.
fn repair_checksums(tar: &mut [u8]) {
    for block in tar.chunks_mut(512) {
        if block.len() == 512 && &block[257..262] == b"ustar" {
            block[148..156].fill(b' ');
            let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
            let s = format!("{sum:06o}\0 ");
            block[148..156].copy_from_slice(s.as_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_archives_are_contained(
        seed in 0usize..3,
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut tar = seeds().swap_remove(seed);
        for (i, b) in &mutations {
            let at = i.index(tar.len());
            tar[at] = *b;
        }
        repair_checksums(&mut tar);
        if let Some(c) = cut {
            tar.truncate(c.index(tar.len() + 1));
        }
        let mut r = TarReader::new(&tar[..]);
        while let Ok(Some(_)) = r.next_entry() {
            let mut sink = Vec::new();
            let _ = r.content().read_to_end(&mut sink);
        }
        let dir = scratch();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        fs::write(dir.path().join("sentinel"), b"outside").unwrap();
        let outside = |d: &std::path::Path| -> Vec<(std::path::PathBuf, String)> {
            snapshot(d).into_iter().filter(|(p, _)| !p.starts_with("target")).collect()
        };
        let before = outside(dir.path());
        let opts = FromTarOptions::default().spill_dir(dir.path()).memory(16, 1024);
        if let Ok(tree) = FileTree::from_tar(&tar[..], &opts) {
            let _ = mbi_layer::write_tar_to(&tree, 0, std::io::sink());
        }
        let uo = UnpackOptions::default().same_owner(false).create_devices(false);
        let _ = unpack_tar(&tar[..], &target, &uo);
        let _ = unpack_tar(&tar[..], &target, &uo);
        prop_assert_eq!(outside(dir.path()), before);
    }
}
