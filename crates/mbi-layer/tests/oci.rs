//! Layers inside real OCI image layouts, checked by skopeo and umoci.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{RawTar, have, run, scratch, snapshot, store_raw_gzip, write_oci_layout};
use mbi_core::{BlobStore, DirStore};
use mbi_layer::{
    Content, Entry, EntryKind, FileTree, Layer, LayerCompression, LayerOptions, LayerWriter,
    TreePath, UnpackOptions, unpack_layer,
};

fn p(s: &str) -> TreePath {
    TreePath::new(s).unwrap()
}

fn tools_present() -> bool {
    let ok = have("umoci") && have("skopeo");
    if !ok {
        eprintln!("SKIP: umoci and skopeo are needed (apt-get install umoci skopeo)");
    }
    ok
}

fn base_tree(data: &Path) -> FileTree {
    fs::write(data.join("libc"), vec![0x42; 200_000]).unwrap();
    let mut t = FileTree::new();
    for d in ["bin", "etc", "opt/app/sub", "run", "tmp", "usr/lib", "var"] {
        t.insert(Entry::dir(p(d), 0o755).with_mtime(1_650_000_000)).unwrap();
    }
    t.insert(Entry::dir(p("tmp"), 0o1777)).unwrap();
    t.insert(Entry::file(p("etc/os-release"), "ID=mbi\n", 0o644).with_mtime(1_650_000_000))
        .unwrap();
    t.insert(Entry::file(p("etc/removed"), "bye\n", 0o644)).unwrap();
    t.insert(Entry::file(p("etc/shadow"), "root:*:\n", 0o640)).unwrap();
    t.insert(Entry::file(p("usr/lib/libc.so.6"), Content::File(data.join("libc")), 0o755)).unwrap();
    t.insert(Entry::hardlink(p("usr/lib/libc-hard.so"), p("usr/lib/libc.so.6"))).unwrap();
    t.insert(Entry::symlink(p("lib"), "usr/lib")).unwrap();
    t.insert(Entry::symlink(p("var/run"), "/run")).unwrap();
    t.insert(Entry::file(p("opt/app/lower1"), "1", 0o644)).unwrap();
    t.insert(Entry::file(p("opt/app/sub/lower2"), "2", 0o644)).unwrap();
    t.insert(Entry::file(p("usr/bin/su"), "su", 0o4755)).unwrap();
    t.insert(Entry::dir(p("empty"), 0o700)).unwrap();
    t
}

fn upper_tree() -> FileTree {
    let mut t = FileTree::new();
    t.insert(Entry::dir(p("etc"), 0o755).with_mtime(1_650_000_000)).unwrap();
    t.insert(Entry::whiteout(p("etc/removed"))).unwrap();
    t.insert(Entry::file(p("etc/os-release"), "ID=mbi\nVERSION=2\n", 0o644)).unwrap();
    t.insert(Entry::opaque_dir(p("opt/app"), 0o750)).unwrap();
    t.insert(Entry::file(p("opt/app/upper"), "u", 0o600)).unwrap();
    t.insert(Entry::whiteout(p("empty"))).unwrap();
    t
}

/// A hand-made third layer: writes through the absolute symlink `var/run -> /run` and through
/// `lib -> usr/lib` without listing the directories, and puts same-layer content before an
/// opaque marker (`-` sorts before `.`).
fn raw_layer() -> Vec<u8> {
    RawTar::new()
        .file("lib/libextra.so", b"extra")
        .file("usr/bin/-first", b"same layer")
        .whiteout("usr/bin/.wh..wh..opq")
        .file("usr/bin/new", b"new")
        .file("var/run/daemon.pid", b"42\n")
        .finish()
}

fn write_layers(dir: &Path, compression: LayerCompression) -> Vec<Layer> {
    let data = scratch();
    let store = DirStore::new(dir).unwrap();
    let w = LayerWriter::new(
        LayerOptions::default().compression(compression).source_date_epoch(1_700_000_000),
    );
    let l1 = w.write_tree(&base_tree(data.path()), &store).unwrap();
    let l2 = w.write_tree(&upper_tree(), &store).unwrap();
    let l3 = store_raw_gzip(&store, &raw_layer());
    vec![l1, l2, l3]
}

fn skopeo_layers(layout: &Path, tag: &str) -> Vec<String> {
    let out =
        run(Command::new("skopeo").arg("inspect").arg(format!("oci:{}:{tag}", layout.display())));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect()
}

#[test]
fn skopeo_reads_gzip_and_zstd_images() {
    if !tools_present() {
        return;
    }
    for compression in [LayerCompression::DEFAULT_GZIP, LayerCompression::DEFAULT_ZSTD] {
        let dir = scratch();
        let layout = dir.path().join("image");
        let data = scratch();
        let store = DirStore::new(&layout).unwrap();
        let layer = LayerWriter::new(LayerOptions::default().compression(compression))
            .write_tree(&base_tree(data.path()), &store)
            .unwrap();
        write_oci_layout(&layout, std::slice::from_ref(&layer), "t");
        assert_eq!(skopeo_layers(&layout, "t"), [layer.descriptor.digest.to_string()]);
        // Copying with recompression makes skopeo decode every byte and check the diff_id.
        let copy = dir.path().join("copy");
        run(Command::new("skopeo")
            .args(["copy", "--dest-compress-format", "gzip", "--dest-compress"])
            .arg(format!("oci:{}:t", layout.display()))
            .arg(format!("oci:{}:t", copy.display())));
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(copy.join("index.json")).unwrap()).unwrap();
        let mdigest = index["manifests"][0]["digest"].as_str().unwrap().parse().unwrap();
        let cstore = DirStore::new(&copy).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&cstore.read_bytes(&mdigest, 1 << 20).unwrap()).unwrap();
        let cdigest = manifest["config"]["digest"].as_str().unwrap().parse().unwrap();
        let config: serde_json::Value =
            serde_json::from_slice(&cstore.read_bytes(&cdigest, 1 << 20).unwrap()).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], layer.diff_id.to_string());
    }
}

/// Type, mode, size, content and link target of everything, plus mtimes of non-directories.
fn describe(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut s = snapshot(dir);
    for (rel, desc) in s.iter_mut() {
        let md = fs::symlink_metadata(dir.join(rel)).unwrap();
        if !md.is_dir() {
            desc.push_str(&format!(" mtime {}", md.mtime()));
        }
    }
    s
}

#[test]
fn umoci_and_unpack_layer_agree() {
    if !tools_present() {
        return;
    }
    let dir = scratch();
    let layout = dir.path().join("image");
    let layers = write_layers(&layout, LayerCompression::DEFAULT_GZIP);
    write_oci_layout(&layout, &layers, "multi");
    let digests: Vec<String> = layers.iter().map(|l| l.descriptor.digest.to_string()).collect();
    assert_eq!(skopeo_layers(&layout, "multi"), digests);

    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:multi", layout.display()))
        .arg(&bundle));
    let theirs = bundle.join("rootfs");

    let ours = dir.path().join("ours");
    fs::create_dir(&ours).unwrap();
    let store = DirStore::new(&layout).unwrap();
    // umoci runs rootless here: compare like with like (no owners, no devices).
    let opts = UnpackOptions::default().same_owner(false);
    for l in &layers {
        let blob = store.open(&l.descriptor.digest).unwrap();
        let compression = l.descriptor.media_type.layer_compression().unwrap();
        unpack_layer(blob, compression, &ours, &opts).unwrap();
    }
    let a = describe(&theirs);
    let b = describe(&ours);
    if a != b {
        let only_a: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
        let only_b: Vec<_> = b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
        panic!("umoci and unpack_layer differ:\numoci: {only_a:#?}\nours: {only_b:#?}");
    }
    // The expected overlay result, spelled out.
    let names: Vec<String> = b.keys().map(|k| k.display().to_string()).collect();
    for gone in ["etc/removed", "empty", "opt/app/lower1", "opt/app/sub", "usr/bin/su"] {
        assert!(!names.contains(&gone.to_string()), "{gone} should be gone: {names:?}");
    }
    for kept in
        ["opt/app/upper", "usr/bin/-first", "usr/bin/new", "run/daemon.pid", "usr/lib/libextra.so"]
    {
        assert!(names.contains(&kept.to_string()), "{kept} missing: {names:?}");
    }
    assert_eq!(fs::read_link(ours.join("var/run")).unwrap(), Path::new("/run"));
    assert_eq!(
        fs::metadata(ours.join("usr/lib/libc.so.6")).unwrap().ino(),
        fs::metadata(ours.join("usr/lib/libc-hard.so")).unwrap().ino()
    );

    // And the tree model agrees: from_tar + apply gives the same paths.
    let mut merged = FileTree::new();
    for l in &layers {
        let blob = store.open(&l.descriptor.digest).unwrap();
        let tar = flate2::read::MultiGzDecoder::new(blob);
        merged.apply(&FileTree::from_tar(tar, &Default::default()).unwrap()).unwrap();
    }
    let mut tree_names: Vec<String> = merged.paths().map(|p| p.to_string()).collect();
    tree_names.sort();
    assert_eq!(tree_names, names);
    assert!(matches!(merged.get(&p("var/run")).unwrap().kind, EntryKind::Symlink(_)));
}
