//! The safe unpacker: round trips, whiteouts, and archives built to escape the target.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{RawTar, scratch, snapshot};
use mbi_core::{BlobStore, Compression, MemoryStore};
use mbi_layer::{
    Content, Entry, EntryKind, Error, FileTree, FromDirOptions, LayerCompression, LayerOptions,
    LayerWriter, TreePath, UnpackOptions, unpack_layer, unpack_tar,
};

fn p(s: &str) -> TreePath {
    TreePath::new(s).unwrap()
}

/// A target directory inside a parent that also holds a sentinel, so tests can prove the
/// parent is untouched.
struct Arena {
    _dir: tempfile::TempDir,
    parent: std::path::PathBuf,
    target: std::path::PathBuf,
}

impl Arena {
    fn new() -> Self {
        let dir = scratch();
        let parent = dir.path().to_path_buf();
        fs::write(parent.join("sentinel"), b"outside").unwrap();
        fs::create_dir(parent.join("etc")).unwrap();
        fs::write(parent.join("etc/passwd"), b"root:x:0:0").unwrap();
        let target = parent.join("target");
        fs::create_dir(&target).unwrap();
        Arena { _dir: dir, parent, target }
    }

    /// Everything in the parent except the target itself.
    fn outside(&self) -> Vec<(std::path::PathBuf, String)> {
        snapshot(&self.parent).into_iter().filter(|(p, _)| !p.starts_with("target")).collect()
    }
}

fn sample_tree(src: &Path) -> FileTree {
    fs::write(src.join("big"), vec![b'x'; 300_000]).unwrap();
    let mut t = FileTree::new();
    t.insert(Entry::file(p("etc/motd"), "hello\n", 0o644).with_mtime(1_600_000_000)).unwrap();
    t.insert(Entry::file(p("usr/bin/sudo"), "#!/bin/sh\n", 0o4755)).unwrap();
    t.insert(Entry::file(p("usr/share/big"), Content::File(src.join("big")), 0o600)).unwrap();
    t.insert(Entry::hardlink(p("usr/bin/sudoedit"), p("usr/bin/sudo"))).unwrap();
    t.insert(Entry::symlink(p("bin"), "usr/bin")).unwrap();
    t.insert(Entry::symlink(p("var/run"), "/run")).unwrap();
    t.insert(Entry::dir(p("run"), 0o755)).unwrap();
    t.insert(Entry::dir(p("tmp"), 0o1777)).unwrap();
    t.insert(Entry::dir(p("empty"), 0o700).with_mtime(1_500_000_000)).unwrap();
    t.insert(
        Entry::new(p("dev/null"), EntryKind::CharDevice { major: 1, minor: 3 }).with_mode(0o666),
    )
    .unwrap();
    t.insert(Entry::new(p("run/initctl"), EntryKind::Fifo).with_mode(0o600)).unwrap();
    t.insert(
        Entry::file(p("usr/bin/ping"), "ping", 0o755).with_xattr("user.mbi.test", b"v1".to_vec()),
    )
    .unwrap();
    t.insert(Entry::file(p("home/user/file"), "u", 0o640).with_owner(1000, 1000)).unwrap();
    t
}

#[test]
fn round_trip_reproduces_the_tree() {
    let src = scratch();
    let tree = sample_tree(src.path());
    let store = MemoryStore::new();
    for compression in
        [LayerCompression::None, LayerCompression::DEFAULT_GZIP, LayerCompression::DEFAULT_ZSTD]
    {
        let layer = LayerWriter::new(
            LayerOptions::default().compression(compression).source_date_epoch(1_700_000_000),
        )
        .write_tree(&tree, &store)
        .unwrap();
        let arena = Arena::new();
        let before = arena.outside();
        let blob = store.open(&layer.descriptor.digest).unwrap();
        let report =
            unpack_layer(blob, compression.kind(), &arena.target, &UnpackOptions::default())
                .unwrap();
        assert_eq!(arena.outside(), before);
        assert_eq!(report.files, 5, "{report:?}");
        let t = &arena.target;
        assert_eq!(fs::read(t.join("etc/motd")).unwrap(), b"hello\n");
        assert_eq!(fs::read(t.join("usr/share/big")).unwrap().len(), 300_000);
        let md = |s: &str| fs::symlink_metadata(t.join(s)).unwrap();
        assert_eq!(md("usr/bin/sudo").mode() & 0o7777, 0o4755);
        assert_eq!(md("usr/share/big").mode() & 0o7777, 0o600);
        assert_eq!(md("tmp").mode() & 0o7777, 0o1777);
        assert_eq!(md("empty").mode() & 0o7777, 0o700);
        assert_eq!(md("empty").mtime(), 1_500_000_000);
        assert_eq!(md("etc/motd").mtime(), 1_600_000_000);
        assert_eq!(md("usr/bin/sudo").mtime(), 0);
        assert_eq!(md("usr/bin/sudo").ino(), md("usr/bin/sudoedit").ino());
        assert_eq!(fs::read_link(t.join("var/run")).unwrap(), Path::new("/run"));
        assert_eq!(fs::read_link(t.join("bin")).unwrap(), Path::new("usr/bin"));
        assert!(md("run/initctl").file_type().is_fifo_like());
        // Read back through the scanner: the unpacked directory describes the same tree.
        let (back, _) =
            FileTree::from_dir(t, &FromDirOptions::default().keep_owners(true)).unwrap();
        if is_root() {
            assert_eq!(back.get(&p("home/user/file")).unwrap().uid, 1000);
            assert!(matches!(
                back.get(&p("dev/null")).unwrap().kind,
                EntryKind::CharDevice { major: 1, minor: 3 }
            ));
            assert_eq!(
                back.get(&p("usr/bin/ping")).unwrap().xattrs.get("user.mbi.test").map(|v| &v[..]),
                Some(&b"v1"[..])
            );
        }
        let paths: Vec<String> = back.paths().map(|p| p.to_string()).collect();
        let want: Vec<String> = tree.paths().map(|p| p.to_string()).collect();
        assert_eq!(paths, want);
    }
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn devices_are_skipped_and_reported_without_privileges() {
    let mut t = FileTree::new();
    t.insert(Entry::new(p("dev/null"), EntryKind::CharDevice { major: 1, minor: 3 })).unwrap();
    t.insert(Entry::new(p("dev/sda"), EntryKind::BlockDevice { major: 8, minor: 0 })).unwrap();
    let mut tar = Vec::new();
    mbi_layer::write_tar_to(&t, 0, &mut tar).unwrap();
    let arena = Arena::new();
    let opts = UnpackOptions::default().create_devices(false).same_owner(false);
    let report = unpack_tar(&tar[..], &arena.target, &opts).unwrap();
    assert_eq!(report.skipped.len(), 2, "{report:?}");
    assert!(report.skipped[0].reason.contains("device"));
    assert!(!arena.target.join("dev/null").exists());
    assert!(arena.target.join("dev").is_dir());
}

/// Unpacks raw tars in order into a fresh arena; returns the arena and each layer's result.
fn unpack_all(layers: &[Vec<u8>]) -> (Arena, Vec<Result<mbi_layer::UnpackReport, Error>>) {
    let arena = Arena::new();
    let results = layers
        .iter()
        .map(|l| unpack_tar(&l[..], &arena.target, &UnpackOptions::default()))
        .collect();
    (arena, results)
}

fn assert_refused(r: &Result<mbi_layer::UnpackReport, Error>, entry: &str) {
    match r {
        Err(Error::UnsafeEntry { entry: e, .. }) => assert_eq!(e, entry),
        other => panic!("expected {entry} to be refused, got {other:?}"),
    }
}

#[test]
fn dotdot_names_are_refused() {
    let arena = Arena::new();
    let before = arena.outside();
    let tar = RawTar::new().file("../sentinel", b"pwned").finish();
    let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
    assert_refused(&r, "../sentinel");
    let tar = RawTar::new().file("a/../../sentinel", b"pwned").finish();
    let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
    assert_refused(&r, "a/../../sentinel");
    assert_eq!(arena.outside(), before);
    assert_eq!(fs::read(arena.parent.join("sentinel")).unwrap(), b"outside");
}

#[test]
fn absolute_names_land_inside() {
    let arena = Arena::new();
    let before = arena.outside();
    let tar = RawTar::new().file("/etc/passwd", b"inside").file("./a/./b", b"ab").finish();
    unpack_tar(&tar[..], &arena.target, &UnpackOptions::default()).unwrap();
    assert_eq!(arena.outside(), before);
    assert_eq!(fs::read(arena.target.join("etc/passwd")).unwrap(), b"inside");
    assert_eq!(fs::read(arena.target.join("a/b")).unwrap(), b"ab");
}

#[test]
fn writing_through_symlinks_stays_inside() {
    let layer = RawTar::new()
        .symlink("abs", "/")
        .symlink("up", "../../../..")
        .symlink("parent", "..")
        .symlink("etcdir", "/etc")
        .file("abs/via-abs", b"1")
        .file("up/via-up", b"2")
        .file("parent/sentinel", b"3")
        .file("etcdir/passwd", b"4")
        .finish();
    let (arena, r) = unpack_all(&[layer]);
    let before_sentinel = fs::read(arena.parent.join("sentinel")).unwrap();
    r[0].as_ref().unwrap();
    let t = &arena.target;
    assert_eq!(fs::read(t.join("via-abs")).unwrap(), b"1");
    assert_eq!(fs::read(t.join("via-up")).unwrap(), b"2");
    assert_eq!(fs::read(t.join("sentinel")).unwrap(), b"3");
    assert_eq!(fs::read(t.join("etc/passwd")).unwrap(), b"4");
    assert_eq!(before_sentinel, b"outside");
    assert_eq!(fs::read(arena.parent.join("etc/passwd")).unwrap(), b"root:x:0:0");
    assert!(!arena.parent.join("via-up").exists() && !arena.parent.join("via-abs").exists());
}

#[test]
fn a_symlink_from_an_earlier_layer_cannot_be_used_to_escape() {
    let l1 = RawTar::new()
        .symlink("lib", "/")
        .symlink("escape", "../..")
        .dir("var/")
        .symlink("var/run", "/run")
        .dir("run/")
        .finish();
    let l2 = RawTar::new()
        .file("lib/pwned", b"lib")
        .file("escape/pwned2", b"escape")
        .file("var/run/lock", b"run")
        .whiteout("escape/.wh.sentinel")
        .finish();
    let arena = Arena::new();
    let before = arena.outside();
    for l in [&l1, &l2] {
        unpack_tar(&l[..], &arena.target, &UnpackOptions::default()).unwrap();
    }
    assert_eq!(arena.outside(), before);
    let t = &arena.target;
    assert_eq!(fs::read(t.join("pwned")).unwrap(), b"lib");
    assert_eq!(fs::read(t.join("pwned2")).unwrap(), b"escape");
    // Writing through an absolute symlink works as it does in a container.
    assert_eq!(fs::read(t.join("run/lock")).unwrap(), b"run");
    assert_eq!(fs::read_link(t.join("var/run")).unwrap(), Path::new("/run"));
}

#[test]
fn overwriting_a_symlink_replaces_it_instead_of_following_it() {
    let l1 = RawTar::new().symlink("x", "../sentinel").symlink("y", "/etc/passwd").finish();
    let l2 = RawTar::new().file("x", b"new x").file("y", b"new y").finish();
    let arena = Arena::new();
    let before = arena.outside();
    for l in [&l1, &l2] {
        unpack_tar(&l[..], &arena.target, &UnpackOptions::default()).unwrap();
    }
    assert_eq!(arena.outside(), before);
    assert_eq!(fs::read(arena.target.join("x")).unwrap(), b"new x");
    assert!(fs::symlink_metadata(arena.target.join("y")).unwrap().is_file());
}

#[test]
fn hardlinks_cannot_reach_outside() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (RawTar::new().hardlink("h", "../sentinel").finish(), "h"),
        (RawTar::new().hardlink("h", "/etc/passwd").finish(), "h"),
        (RawTar::new().symlink("e", "/etc").hardlink("h", "e/passwd").finish(), "h"),
        (RawTar::new().symlink("e", "../etc").hardlink("h", "e/passwd").finish(), "h"),
        (RawTar::new().dir("d/").hardlink("h", "d").finish(), "h"),
    ];
    for (tar, entry) in cases {
        let arena = Arena::new();
        let before = arena.outside();
        let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
        assert_refused(&r, entry);
        assert_eq!(arena.outside(), before);
        assert_eq!(fs::metadata(arena.parent.join("etc/passwd")).unwrap().nlink(), 1);
        assert_eq!(fs::metadata(arena.parent.join("sentinel")).unwrap().nlink(), 1);
    }
    // A hardlink to a file inside the target is fine.
    let tar = RawTar::new()
        .file("etc/passwd", b"in")
        .symlink("e", "/etc")
        .hardlink("h", "e/passwd")
        .finish();
    let arena = Arena::new();
    unpack_tar(&tar[..], &arena.target, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(arena.target.join("h")).unwrap(), b"in");
    assert_eq!(fs::metadata(arena.target.join("h")).unwrap().nlink(), 2);
}

#[test]
fn symlink_loops_are_refused() {
    let tar = RawTar::new().symlink("a", "b").symlink("b", "a").file("a/x", b"loop").finish();
    let arena = Arena::new();
    let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
    assert_refused(&r, "a/x");
    let tar = RawTar::new().symlink("self", "self/x").file("self/y", b"loop").finish();
    let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
    assert_refused(&r, "self/y");
}

#[test]
fn whiteouts_never_delete_outside() {
    let l1 = RawTar::new()
        .symlink("up", "../..")
        .symlink("etcdir", "/etc")
        .file("etc/passwd", b"in")
        .finish();
    let l2 = RawTar::new()
        .whiteout("up/.wh.sentinel")
        .whiteout("etcdir/.wh.passwd")
        .whiteout("up/.wh..wh..opq")
        .finish();
    let arena = Arena::new();
    let before = arena.outside();
    for l in [&l1, &l2] {
        unpack_tar(&l[..], &arena.target, &UnpackOptions::default()).unwrap();
    }
    assert_eq!(arena.outside(), before);
    // `up/.wh..wh..opq` resolved to the target's root: lower content is gone.
    assert!(fs::read_dir(&arena.target).unwrap().next().is_none());
    let r = unpack_tar(
        &RawTar::new().whiteout("../.wh.sentinel").finish()[..],
        &arena.target,
        &UnpackOptions::default(),
    );
    assert_refused(&r, "../.wh.sentinel");
    assert_eq!(arena.outside(), before);
}

#[test]
fn whiteout_and_opaque_semantics() {
    let l1 = RawTar::new()
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .file("opt/x/1", b"1")
        .file("opt/x/sub/2", b"2")
        .file("keep", b"k")
        .finish();
    // The opaque marker comes after same-layer content in byte order ('-' < '.'): that content
    // must survive; lower content must not.
    let l2 = RawTar::new()
        .whiteout("etc/.wh.a")
        .file("opt/x/-same-layer", b"s")
        .whiteout("opt/x/.wh..wh..opq")
        .file("opt/x/3", b"3")
        .file("etc/c", b"c")
        .whiteout("etc/.wh.c")
        .finish();
    let (arena, r) = unpack_all(&[l1, l2]);
    for x in &r {
        x.as_ref().unwrap();
    }
    let got: Vec<String> =
        snapshot(&arena.target).keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        got,
        ["etc", "etc/b", "etc/c", "keep", "opt", "opt/x", "opt/x/-same-layer", "opt/x/3"]
    );
}

#[test]
fn a_file_replaces_a_directory_and_back() {
    let l1 = RawTar::new().file("d/x", b"x").file("f", b"f").finish();
    let l2 = RawTar::new().file("d", b"now a file").dir("f/").file("f/y", b"y").finish();
    let (arena, r) = unpack_all(&[l1, l2]);
    for x in &r {
        x.as_ref().unwrap();
    }
    assert_eq!(fs::read(arena.target.join("d")).unwrap(), b"now a file");
    assert_eq!(fs::read(arena.target.join("f/y")).unwrap(), b"y");
}

#[test]
fn truncated_and_corrupt_input_is_an_error() {
    let tar = RawTar::new().file("a", &[7u8; 3000]).finish();
    let arena = Arena::new();
    let r = unpack_tar(&tar[..1500], &arena.target, &UnpackOptions::default());
    assert!(matches!(r, Err(Error::Tar { .. })), "{r:?}");
    // No half-written file under the real name, no temporary left behind.
    assert!(!arena.target.join("a").exists());
    assert!(fs::read_dir(&arena.target).unwrap().next().is_none());
    // A gzip stream with a broken CRC.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let mut blob = gz.finish().unwrap();
    let n = blob.len();
    blob[n - 6] ^= 0xff;
    let arena = Arena::new();
    let r = unpack_layer(&blob[..], Compression::Gzip, &arena.target, &UnpackOptions::default());
    assert!(
        matches!(r, Err(Error::Codec { codec: "gzip", .. }) | Err(Error::Stream { .. })),
        "{r:?}"
    );
}

#[test]
fn umask_does_not_change_unpacked_modes() {
    // Parent directories the archive does not list are created 0755 whatever the umask.
    let tar = RawTar::new().file("a/b/c", b"c").finish();
    let arena = Arena::new();
    fs::set_permissions(&arena.target, fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: umask is process-wide; this test restores it and no other test in this binary
    // depends on the creation mask (the unpacker sets every mode explicitly).
    let old = unsafe { libc::umask(0o077) };
    let r = unpack_tar(&tar[..], &arena.target, &UnpackOptions::default());
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    r.unwrap();
    assert_eq!(fs::metadata(arena.target.join("a/b")).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::metadata(arena.target.join("a/b/c")).unwrap().mode() & 0o7777, 0o644);
}
