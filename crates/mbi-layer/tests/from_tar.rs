//! Reading trees from tar streams made by GNU tar, and normalising them into layers.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{RawTar, run, scratch, snapshot};
use mbi_core::MemoryStore;
use mbi_layer::{
    Content, EntryKind, Error, FileTree, FromTarOptions, LayerOptions, LayerWriter, TreePath,
    UnpackOptions, unpack_tar,
};

fn p(s: &str) -> TreePath {
    TreePath::new(s).unwrap()
}

/// A source directory with the awkward cases: long names, hardlinks, symlinks, a fifo, a
/// setuid file, user xattrs, empty files and directories.
fn make_source(dir: &Path) {
    let script = r#"
        set -e
        mkdir -p usr/bin usr/share/doc/a-very-long-package-name-that-goes-on-and-on/examples/with/deep/nesting/inside/it etc empty
        printf 'hello\n' > etc/motd
        : > etc/empty-file
        head -c 300000 /dev/zero | tr '\0' 'z' > usr/share/big
        printf 'long\n' > usr/share/doc/a-very-long-package-name-that-goes-on-and-on/examples/with/deep/nesting/inside/it/a-file-with-a-long-name-as-well.txt
        printf '#!/bin/sh\n' > usr/bin/tool
        chmod 4755 usr/bin/tool
        ln usr/bin/tool usr/bin/tool-hard
        ln -s ../share/big usr/bin/link
        mkfifo etc/fifo
        chmod 0600 etc/fifo
        setfattr -n user.mbi -v value etc/motd 2>/dev/null || python3 -c 'import os; os.setxattr("etc/motd", "user.mbi", b"value")'
        find . -exec touch -h -d @1650000000 {} +
    "#;
    run(Command::new("sh").arg("-c").arg(script).current_dir(dir));
}

#[test]
fn gnu_tar_archives_normalise_to_the_same_layer_as_the_directory() {
    let src = scratch();
    make_source(src.path());
    let store = MemoryStore::new();
    let w = LayerWriter::new(LayerOptions::default().source_date_epoch(1_700_000_000));
    let (from_dir, _) = w.write_dir(src.path(), &store).unwrap();
    let work = scratch();
    for (i, args) in [
        &["--format=gnu", "--sort=none"][..],
        &["--format=pax", "--sort=name", "--xattrs", "--xattrs-include=user.*"][..],
        &["--format=posix", "--sort=inode", "--xattrs", "--xattrs-include=user.*"][..],
    ]
    .iter()
    .enumerate()
    {
        let f = work.path().join(format!("{i}.tar"));
        run(Command::new("tar").args(*args).arg("-cf").arg(&f).arg("-C").arg(src.path()).arg("."));
        let layer = w.write_tar(fs::File::open(&f).unwrap(), &store).unwrap();
        if args.iter().any(|a| a.starts_with("--xattrs")) {
            assert_eq!(layer, from_dir, "tar {args:?} normalises differently");
        } else {
            // GNU format has no xattrs: everything but the xattr matches.
            assert_ne!(layer.diff_id, from_dir.diff_id);
            let tree =
                FileTree::from_tar(fs::File::open(&f).unwrap(), &Default::default()).unwrap();
            let (dir_tree, _) = FileTree::from_dir(src.path(), &Default::default()).unwrap();
            let a: Vec<_> = tree.paths().collect();
            let b: Vec<_> = dir_tree.paths().collect();
            assert_eq!(a, b);
        }
    }
}

#[test]
fn large_files_are_spilled_not_held_in_memory() {
    let big = vec![7u8; 200_000];
    let tar = RawTar::new().file("small", b"tiny").file("big", &big).file("big2", &big).finish();
    let spill = scratch();
    let opts = FromTarOptions::default().spill_dir(spill.path()).memory(1024, 1 << 20);
    let tree = FileTree::from_tar(&tar[..], &opts).unwrap();
    assert!(matches!(&tree.get(&p("small")).unwrap().kind, EntryKind::File(Content::Bytes(_))));
    let EntryKind::File(c @ Content::FileRange { offset, len, .. }) =
        &tree.get(&p("big2")).unwrap().kind
    else {
        panic!("big2 should be spilled")
    };
    assert_eq!((*offset, *len), (200_000, 200_000));
    assert_eq!(c.read_all().unwrap(), big);
    assert_eq!(fs::read_dir(spill.path()).unwrap().count(), 1);
    // The spill file lives as long as the tree (and its clones).
    let clone = tree.clone();
    drop(tree);
    assert_eq!(fs::read_dir(spill.path()).unwrap().count(), 1);
    drop(clone);
    assert_eq!(fs::read_dir(spill.path()).unwrap().count(), 0);
    // The memory budget is total, not per file.
    let opts = FromTarOptions::default().spill_dir(spill.path()).memory(1 << 20, 250_000);
    let tree = FileTree::from_tar(&tar[..], &opts).unwrap();
    assert!(matches!(&tree.get(&p("big")).unwrap().kind, EntryKind::File(Content::Bytes(_))));
    assert!(matches!(
        &tree.get(&p("big2")).unwrap().kind,
        EntryKind::File(Content::FileRange { .. })
    ));
}

#[test]
fn normalising_keeps_the_meaning_of_a_layer_without_parent_entries() {
    // The lower layer has `lib -> usr/lib`; the upper writes `lib/x` without listing `lib/`.
    // Normalising the upper must not turn `lib` into a directory.
    let lower = RawTar::new().dir("usr/").dir("usr/lib/").symlink("lib", "usr/lib").finish();
    let upper = RawTar::new().file("lib/x", b"x").file("usr/bin/.wh..wh..opq", b"").finish();
    let store = MemoryStore::new();
    let normalised =
        LayerWriter::new(LayerOptions::default().compression(mbi_layer::LayerCompression::None))
            .write_tar(&upper[..], &store)
            .unwrap();
    let normalised =
        mbi_core::BlobStore::read_bytes(&store, &normalised.descriptor.digest, 1 << 20).unwrap();
    let a = scratch();
    let b = scratch();
    for (dir, top) in [(a.path(), &upper), (b.path(), &normalised)] {
        unpack_tar(&lower[..], dir, &UnpackOptions::default()).unwrap();
        unpack_tar(&top[..], dir, &UnpackOptions::default()).unwrap();
    }
    assert_eq!(snapshot(a.path()), snapshot(b.path()));
    assert_eq!(fs::read(a.path().join("usr/lib/x")).unwrap(), b"x");
}

#[test]
fn hostile_names_are_refused_when_reading_a_tree() {
    for (tar, entry) in [
        (RawTar::new().file("../x", b"").finish(), "../x"),
        (RawTar::new().hardlink("h", "../../etc/passwd").finish(), "h"),
        (RawTar::new().file(".wh..wh..opq", b"").finish(), ".wh..wh..opq"),
    ] {
        match FileTree::from_tar(&tar[..], &Default::default()) {
            Err(Error::UnsafeEntry { entry: e, .. }) => assert_eq!(e, entry),
            other => panic!("{entry}: {other:?}"),
        }
    }
}

#[test]
fn gnu_sparse_files_are_a_typed_error() {
    let dir = scratch();
    let f = dir.path().join("sparse");
    let file = fs::File::create(&f).unwrap();
    file.set_len(10 << 20).unwrap();
    drop(file);
    fs::write(dir.path().join("data"), b"x").unwrap();
    let t = dir.path().join("s.tar");
    run(Command::new("tar")
        .args(["--format=gnu", "-S", "-cf"])
        .arg(&t)
        .arg("-C")
        .arg(dir.path())
        .args(["sparse", "data"]));
    let e = FileTree::from_tar(fs::File::open(&t).unwrap(), &Default::default()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("sparse"), "{e}");
}
