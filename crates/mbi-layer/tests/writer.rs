//! The deterministic writer: byte-identical output, golden digests, and what GNU tar sees.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{run, scratch};
use mbi_core::{BlobStore, MemoryStore};
use mbi_layer::tar::{TarKind, TarReader};
use mbi_layer::{
    Content, Entry, EntryKind, Error, FileTree, FromDirOptions, LayerCompression, LayerOptions,
    LayerWriter, TreePath, write_tar_to,
};

fn p(s: &str) -> TreePath {
    TreePath::new(s).unwrap()
}

/// Deterministic pseudo-random bytes that compress like real files: words from a small
/// vocabulary mixed with noise.
fn mixed_bytes(seed: u32, len: usize) -> Vec<u8> {
    let words: [&[u8]; 8] = [
        b"libc ",
        b"usr/share/doc ",
        b"\x7fELF\x02\x01\x01",
        b"copyright ",
        b"0000",
        b"\n",
        b"debian ",
        b"\x00\x00\x00\x00",
    ];
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        x = x.wrapping_mul(1664525).wrapping_add(1013904223);
        if x >> 29 == 0 {
            v.push((x >> 16) as u8);
        } else {
            v.extend_from_slice(words[(x >> 24) as usize % words.len()]);
        }
    }
    v.truncate(len);
    v
}

/// A fixed tree exercising every kind of entry and every PAX case. Content is in memory, so
/// the golden digests depend only on the writer and the compressors.
fn golden_tree() -> FileTree {
    let mut t = FileTree::new();
    let long_dir = "d".repeat(120);
    let very_long = format!("{}/{}", "x".repeat(150), "y".repeat(150));
    t.insert(Entry::file(p("etc/motd"), "hello\n", 0o644).with_mtime(1_600_000_000)).unwrap();
    t.insert(Entry::file(p("etc/future"), "clamped\n", 0o600).with_mtime(4_000_000_000)).unwrap();
    t.insert(Entry::file(p("usr/bin/sudo"), "#!/bin/sh\n", 0o4755).with_owner(0, 0)).unwrap();
    t.insert(Entry::hardlink(p("usr/bin/sudoedit"), p("usr/bin/sudo"))).unwrap();
    t.insert(Entry::hardlink(p("aaa-link-first"), p("usr/bin/sudo"))).unwrap();
    t.insert(Entry::file(p("usr/bin/ping"), "ping", 0o755).with_xattr(
        "security.capability",
        vec![1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ))
    .unwrap();
    t.insert(Entry::symlink(p("bin"), "usr/bin")).unwrap();
    t.insert(Entry::symlink(p("long-link"), "t/".repeat(80))).unwrap();
    t.insert(Entry::dir(p("tmp"), 0o1777)).unwrap();
    t.insert(Entry::dir(p("empty"), 0o700)).unwrap();
    t.insert(
        Entry::new(p("dev/null"), EntryKind::CharDevice { major: 1, minor: 3 }).with_mode(0o666),
    )
    .unwrap();
    t.insert(
        Entry::new(p("dev/sda"), EntryKind::BlockDevice { major: 8, minor: 0 }).with_mode(0o660),
    )
    .unwrap();
    t.insert(Entry::new(p("run/initctl"), EntryKind::Fifo).with_mode(0o600)).unwrap();
    t.insert(Entry::file(p(&format!("{long_dir}/file")), "split into prefix+name", 0o644)).unwrap();
    t.insert(Entry::file(p(&very_long), "needs a PAX path", 0o644)).unwrap();
    t.insert(Entry::file(p("home/nobody/x"), "big ids", 0o644).with_owner(4_000_000, 65534))
        .unwrap();
    t.insert(Entry::whiteout(p("etc/removed"))).unwrap();
    t.insert(Entry::opaque_dir(p("opt/app"), 0o755)).unwrap();
    t.insert(Entry::file(p("opt/app/new"), "new", 0o644)).unwrap();
    t.insert(Entry::file(p("usr/share/data.bin"), mixed_bytes(1, 700_000), 0o644)).unwrap();
    t
}

fn write(
    tree: &FileTree,
    compression: LayerCompression,
    threads: usize,
) -> (mbi_layer::Layer, Vec<u8>) {
    let store = MemoryStore::new();
    let opts = LayerOptions::default()
        .compression(compression)
        .threads(threads)
        .source_date_epoch(1_700_000_000);
    let layer = LayerWriter::new(opts).write_tree(tree, &store).unwrap();
    let blob = store.read_bytes(&layer.descriptor.digest, 1 << 30).unwrap();
    (layer, blob)
}

#[test]
fn golden_digests() {
    // If a dependency bump (zlib-rs, zstd-sys) or a writer change alters output bytes, these
    // fail: every published layer digest would change. Update them only deliberately.
    let mut tree = golden_tree();
    // Enough data for several gzip blocks and several zstd frames.
    tree.insert(Entry::file(p("var/lib/blob"), mixed_bytes(99, 4_500_000), 0o644)).unwrap();
    let (none, _) = write(&tree, LayerCompression::None, 2);
    let (gzip, _) = write(&tree, LayerCompression::DEFAULT_GZIP, 2);
    let (zstd, _) = write(&tree, LayerCompression::DEFAULT_ZSTD, 2);
    let got = format!(
        "none {}\ngzip {} {}\nzstd {} {}\n",
        none.descriptor.digest,
        gzip.descriptor.digest,
        gzip.descriptor.size,
        zstd.descriptor.digest,
        zstd.descriptor.size
    );
    assert_eq!(none.diff_id, gzip.diff_id);
    assert_eq!(none.diff_id, zstd.diff_id);
    assert_eq!(none.diff_id, none.descriptor.digest);
    let want = include_str!("golden-digests.txt");
    assert_eq!(got, want, "layer bytes changed; got:\n{got}");
}

#[test]
fn output_does_not_depend_on_thread_count() {
    // Several gzip blocks and several zstd frames.
    let mut tree = golden_tree();
    for i in 0..6 {
        tree.insert(Entry::file(
            p(&format!("var/lib/blob{i}")),
            mixed_bytes(i + 10, 3_000_000),
            0o644,
        ))
        .unwrap();
    }
    for compression in [
        LayerCompression::DEFAULT_GZIP,
        LayerCompression::Gzip { level: 1 },
        LayerCompression::DEFAULT_ZSTD,
    ] {
        let (base, base_blob) = write(&tree, compression, 1);
        for threads in [2, 4, 8] {
            let (l, blob) = write(&tree, compression, threads);
            assert_eq!(l, base, "{compression:?} with {threads} threads");
            assert_eq!(blob, base_blob);
        }
        // The blob decodes to the tar whose digest is the diff_id.
        let mut tar = Vec::new();
        match compression {
            LayerCompression::Zstd { .. } => {
                zstd::stream::read::Decoder::new(&base_blob[..])
                    .unwrap()
                    .read_to_end(&mut tar)
                    .unwrap();
            }
            _ => {
                flate2::read::GzDecoder::new(&base_blob[..]).read_to_end(&mut tar).unwrap();
            }
        }
        assert_eq!(mbi_core::Digest::sha256(&tar), base.diff_id);
        assert_eq!(tar.len() as u64, base.uncompressed_size);
    }
}

#[test]
fn external_decoders_accept_the_output() {
    let tree = golden_tree();
    let dir = scratch();
    let (_, tar) = write(&tree, LayerCompression::None, 1);
    for (compression, tool) in
        [(LayerCompression::DEFAULT_GZIP, "gzip"), (LayerCompression::DEFAULT_ZSTD, "zstd")]
    {
        let (_, blob) = write(&tree, compression, 2);
        let f = dir.path().join(format!("layer.{tool}"));
        fs::write(&f, &blob).unwrap();
        // gzip -t / zstd -t check the CRC / xxhash; -dc must give back the exact tar.
        run(Command::new(tool).arg("-t").arg(&f));
        let out = Command::new(tool).arg("-dc").arg(&f).output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, tar, "{tool} decodes to another tar");
    }
    // A gzip header with mtime 0, no name, OS = Unix.
    let (_, blob) = write(&tree, LayerCompression::DEFAULT_GZIP, 1);
    assert_eq!(&blob[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
}

#[test]
fn gzip_is_one_member_with_a_correct_trailer() {
    let tree = golden_tree();
    let (layer, blob) = write(&tree, LayerCompression::DEFAULT_GZIP, 3);
    // A single-member decoder reads the whole tar: the stream is one member.
    let mut tar = Vec::new();
    let mut d = flate2::read::GzDecoder::new(&blob[..]);
    d.read_to_end(&mut tar).unwrap();
    assert_eq!(tar.len() as u64, layer.uncompressed_size);
    let isize = u32::from_le_bytes(blob[blob.len() - 4..].try_into().unwrap());
    assert_eq!(u64::from(isize), layer.uncompressed_size % (1 << 32));
}

/// `tar -tv` lines for the golden tree, as GNU tar prints them with `--numeric-owner --utc`.
#[test]
fn gnu_tar_lists_what_the_tree_says() {
    let tree = golden_tree();
    let dir = scratch();
    let f = dir.path().join("layer.tar");
    write_tar_to(&tree, 1_700_000_000, fs::File::create(&f).unwrap()).unwrap();
    let out = run(Command::new("tar")
        .args(["--numeric-owner", "--utc", "--full-time", "-tvf"])
        .arg(&f)
        .env("LC_ALL", "C"));
    let lines: Vec<&str> = out.lines().collect();
    let long_dir = "d".repeat(120);
    let very_long = format!("{}/{}", "x".repeat(150), "y".repeat(150));
    let ts = "2023-11-14 22:13:20";
    let want = vec![
        "-rwsr-xr-x 0/0 10 1970-01-01 00:00:00 aaa-link-first".to_string(),
        format!("lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 bin -> usr/bin"),
        format!("drwxr-xr-x 0/0 0 1970-01-01 00:00:00 {long_dir}/"),
        format!("-rw-r--r-- 0/0 22 1970-01-01 00:00:00 {long_dir}/file"),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 dev/".to_string(),
        "crw-rw-rw- 0/0 1,3 1970-01-01 00:00:00 dev/null".to_string(),
        "brw-rw---- 0/0 8,0 1970-01-01 00:00:00 dev/sda".to_string(),
        "drwx------ 0/0 0 1970-01-01 00:00:00 empty/".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc/".to_string(),
        "---------- 0/0 0 1970-01-01 00:00:00 etc/.wh.removed".to_string(),
        format!("-rw------- 0/0 8 {ts} etc/future"),
        "-rw-r--r-- 0/0 6 2020-09-13 12:26:40 etc/motd".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 home/".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 home/nobody/".to_string(),
        "-rw-r--r-- 4000000/65534 7 1970-01-01 00:00:00 home/nobody/x".to_string(),
        format!("lrwxrwxrwx 0/0 0 1970-01-01 00:00:00 long-link -> {}", "t/".repeat(80)),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 opt/app/".to_string(),
        "---------- 0/0 0 1970-01-01 00:00:00 opt/app/.wh..wh..opq".to_string(),
        "-rw-r--r-- 0/0 3 1970-01-01 00:00:00 opt/app/new".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 run/".to_string(),
        "prw------- 0/0 0 1970-01-01 00:00:00 run/initctl".to_string(),
        "drwxrwxrwt 0/0 0 1970-01-01 00:00:00 tmp/".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/".to_string(),
        "-rwxr-xr-x 0/0 4 1970-01-01 00:00:00 usr/bin/ping".to_string(),
        "hrwsr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/sudo link to aaa-link-first".to_string(),
        "hrwsr-xr-x 0/0 0 1970-01-01 00:00:00 usr/bin/sudoedit link to aaa-link-first".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share/".to_string(),
        "-rw-r--r-- 0/0 700000 1970-01-01 00:00:00 usr/share/data.bin".to_string(),
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 ".to_string() + &"x".repeat(150) + "/",
        format!("-rw-r--r-- 0/0 16 1970-01-01 00:00:00 {very_long}"),
    ];
    // GNU tar aligns columns with variable spaces: compare whitespace-normalised lines, and
    // the first line's position separately (it is the first entry in byte order).
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let got: Vec<String> = lines.iter().map(|l| norm(l)).collect();
    let mut want: Vec<String> = want.iter().map(|l| norm(l)).collect();
    // Listing order is archive order: sorted by name bytes.
    want.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    assert_eq!(got, want);
}

fn name_of(line: &str) -> &[u8] {
    // After "mode owner size date time ".
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.split_once(' ').map_or("", |x| x.1);
    }
    rest.as_bytes()
}

#[test]
fn gnu_tar_extracts_xattrs_and_pax_fields() {
    let tree = golden_tree();
    let dir = scratch();
    let f = dir.path().join("layer.tar");
    write_tar_to(&tree, 1_700_000_000, fs::File::create(&f).unwrap()).unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    run(Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(&f)
        .arg("-C")
        .arg(&out));
    let very_long = format!("{}/{}", "x".repeat(150), "y".repeat(150));
    assert_eq!(fs::read(out.join(&very_long)).unwrap(), b"needs a PAX path");
    assert_eq!(fs::read_link(out.join("long-link")).unwrap().as_os_str().len(), 160);
    let (back, _) = FileTree::from_dir(
        &out,
        &FromDirOptions::default().keep_owners(true).xattr_prefixes(vec!["security.".into()]),
    )
    .unwrap();
    let ping = back.get(&p("usr/bin/ping")).unwrap();
    assert_eq!(
        ping.xattrs.get("security.capability"),
        tree.get(&p("usr/bin/ping")).unwrap().xattrs.get("security.capability")
    );
    assert_eq!(back.get(&p("home/nobody/x")).unwrap().uid, 4_000_000);
}

#[test]
fn our_reader_reads_back_the_tree() {
    let tree = golden_tree();
    let mut tar = Vec::new();
    write_tar_to(&tree, 1_700_000_000, &mut tar).unwrap();
    let back = FileTree::from_tar(&tar[..], &Default::default()).unwrap();
    // Same paths and kinds; hardlinks are re-rooted at the smallest path.
    let paths: Vec<String> = back.paths().map(|p| p.to_string()).collect();
    let want: Vec<String> = tree.paths().map(|p| p.to_string()).collect();
    assert_eq!(paths, want);
    assert_eq!(
        back.get(&p("usr/bin/sudo")).unwrap().kind,
        EntryKind::Hardlink(p("aaa-link-first"))
    );
    assert_eq!(back.get(&p("etc/removed")).unwrap().kind, EntryKind::Whiteout);
    assert_eq!(back.get(&p("opt/app")).unwrap().kind, EntryKind::OpaqueDir);
    assert_eq!(back.get(&p("etc/future")).unwrap().mtime, 1_700_000_000);
    // Writing what was read gives the same bytes: the format is a fixed point.
    let mut again = Vec::new();
    write_tar_to(&back, 1_700_000_000, &mut again).unwrap();
    assert_eq!(again, tar);
    let mut r = TarReader::new(&tar[..]);
    let mut kinds = 0;
    while let Some(e) = r.next_entry().unwrap() {
        if matches!(
            e.kind,
            TarKind::CharDevice { .. } | TarKind::BlockDevice { .. } | TarKind::Fifo
        ) {
            kinds += 1;
        }
    }
    assert_eq!(kinds, 3);
}

#[test]
fn invalid_trees_are_refused_with_context() {
    let mut t = FileTree::new();
    t.insert(Entry::hardlink(p("a"), p("missing"))).unwrap();
    let e = write_tar_to(&t, 0, std::io::sink()).unwrap_err();
    assert!(matches!(e, Error::BadHardlink { .. }), "{e}");
    let mut t = FileTree::new();
    t.insert(Entry::dir(p("d"), 0o755)).unwrap();
    t.insert(Entry::hardlink(p("a"), p("d"))).unwrap();
    assert!(matches!(write_tar_to(&t, 0, std::io::sink()), Err(Error::BadHardlink { .. })));
    let mut t = FileTree::new();
    t.insert(Entry::hardlink(p("a"), p("b"))).unwrap();
    t.insert(Entry::hardlink(p("b"), p("a"))).unwrap();
    assert!(matches!(write_tar_to(&t, 0, std::io::sink()), Err(Error::BadHardlink { .. })));
    let mut t = FileTree::new();
    t.insert(Entry::file(p("x/.wh.y"), "", 0o644)).unwrap();
    assert!(matches!(write_tar_to(&t, 0, std::io::sink()), Err(Error::ReservedName { .. })));
    let mut t = FileTree::new();
    t.insert(Entry::file(p("gone"), Content::File("/nonexistent/mbi".into()), 0o644)).unwrap();
    let e = write_tar_to(&t, 0, std::io::sink()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/mbi"), "{e}");
}

#[test]
fn a_file_that_changes_size_while_written_is_an_error() {
    let dir = scratch();
    let f = dir.path().join("f");
    fs::write(&f, b"12345").unwrap();
    let mut t = FileTree::new();
    t.insert(Entry::file(
        p("f"),
        Content::FileRange { path: f.clone(), offset: 2, len: 10 },
        0o644,
    ))
    .unwrap();
    let e = write_tar_to(&t, 0, std::io::sink()).unwrap_err();
    assert!(matches!(e, Error::SourceChanged { .. }), "{e}");
    // A FileRange inside the file is fine.
    let mut t = FileTree::new();
    t.insert(Entry::file(p("f"), Content::FileRange { path: f, offset: 1, len: 3 }, 0o644))
        .unwrap();
    let mut tar = Vec::new();
    write_tar_to(&t, 0, &mut tar).unwrap();
    assert_eq!(&tar[512..515], b"234");
}

/// Builds the same directory content twice with different mtimes, atimes and creation order.
fn make_source(dir: &Path, mtime_base: i64, reverse: bool) {
    let mut names: Vec<String> = (0..40).map(|i| format!("d{}/f{i}", i % 5)).collect();
    if reverse {
        names.reverse();
    }
    for n in &names {
        let path = dir.join(n);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, mixed_bytes(n.len() as u32 * 7, 5000)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }
    for d in 0..5 {
        fs::set_permissions(dir.join(format!("d{d}")), fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::os::unix::fs::symlink("d0/f0", dir.join("link")).unwrap();
    fs::hard_link(dir.join("d1/f1"), dir.join("hard")).unwrap();
    run(Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("@{mtime_base}"))
        .arg(dir.join("link")));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find . -exec touch -h -m -d @{} {{}} + && find . -exec touch -h -a -d @{} {{}} +",
            mtime_base,
            mtime_base + 12345
        ))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn same_content_same_digest_whatever_times_and_order() {
    let a = scratch();
    let b = scratch();
    make_source(a.path(), 1_750_000_000, false);
    make_source(b.path(), 1_760_000_000, true);
    let store = MemoryStore::new();
    let w = LayerWriter::new(LayerOptions::default().source_date_epoch(1_700_000_000));
    let (la, _) = w.write_dir(a.path(), &store).unwrap();
    let (lb, _) = w.write_dir(b.path(), &store).unwrap();
    assert_eq!(la, lb);
    // Older mtimes are kept (not clamped): the digest differs, as it should.
    let c = scratch();
    make_source(c.path(), 1_600_000_000, false);
    let (lc, _) = w.write_dir(c.path(), &store).unwrap();
    assert_ne!(la.diff_id, lc.diff_id);
}

/// Writes a layer of a fixed directory in a child process with the given umask, TZ and locale
/// and returns its digest. The child is this test binary running `child_writes_layer`.
fn digest_in_child(src: &Path, umask: &str, tz: &str, tmp: &Path) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" --exact child_writes_layer --ignored --nocapture --test-threads 1"))
        .arg(&exe)
        .env("MBI_LAYER_TEST_SRC", src)
        .env("TZ", tz)
        .env("LC_ALL", "C.UTF-8")
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {s}\n{}", String::from_utf8_lossy(&out.stderr));
    s.lines()
        .find_map(|l| l.split_once("DIGEST ").map(|x| x.1))
        .expect("child printed a digest")
        .to_owned()
}

#[test]
#[ignore = "helper run by same_digest_whatever_umask_tz_locale_tmpdir in a child process"]
fn child_writes_layer() {
    let Some(src) = std::env::var_os("MBI_LAYER_TEST_SRC") else { return };
    let store_dir = tempfile::tempdir().unwrap();
    let store = mbi_core::DirStore::new(store_dir.path()).unwrap();
    let (layer, _) = LayerWriter::new(LayerOptions::default().source_date_epoch(1_700_000_000))
        .write_dir(Path::new(&src), &store)
        .unwrap();
    // The blob on disk has the digest it is stored under.
    let blob = fs::read(store.path(&layer.descriptor.digest)).unwrap();
    layer.descriptor.digest.verify(&blob).unwrap();
    println!("DIGEST {} {}", layer.descriptor.digest, layer.diff_id);
}

#[test]
fn same_digest_whatever_umask_tz_locale_tmpdir() {
    let src = scratch();
    make_source(src.path(), 1_750_000_000, false);
    let t1 = scratch();
    let t2 = tempfile::tempdir().unwrap();
    let a = digest_in_child(src.path(), "022", "UTC", t1.path());
    let b = digest_in_child(src.path(), "077", "Asia/Kolkata", t2.path());
    let c = digest_in_child(src.path(), "000", "America/St_Johns", t1.path());
    assert_eq!(a, b);
    assert_eq!(a, c);
}

#[test]
fn sizes_over_8_gib_use_pax() {
    // A sparse 8 GiB + 1 file on tmpfs: GNU tar must list its size, and our reader must see it.
    let dir = scratch();
    let f = dir.path().join("huge");
    let size: u64 = (8 << 30) + 1;
    fs::File::create(&f).unwrap().set_len(size).unwrap();
    let mut t = FileTree::new();
    t.insert(Entry::file(p("huge"), Content::File(f.clone()), 0o644)).unwrap();
    t.insert(Entry::file(p("after"), "after", 0o644)).unwrap();
    let mut child = Command::new("tar")
        .args(["--numeric-owner", "-tvf", "-"])
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Also parse our own first blocks while streaming.
    struct Tee<W> {
        inner: W,
        head: Vec<u8>,
    }
    impl<W: Write> Write for Tee<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.head.len() < 4096 {
                let n = buf.len().min(4096 - self.head.len());
                self.head.extend_from_slice(&buf[..n]);
            }
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let mut tee = Tee { inner: &mut stdin, head: Vec::new() };
    write_tar_to(&t, 0, &mut tee).unwrap();
    let head = std::mem::take(&mut tee.head);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains(&format!(" {size} ")), "{listing}");
    assert!(listing.contains(" after"), "{listing}");
    let mut r = TarReader::new(&head[..]);
    let first = r.next_entry().unwrap().unwrap();
    assert_eq!(first.path, b"after");
    let mut r = TarReader::new(&head[1024..]);
    let huge = r.next_entry().unwrap().unwrap();
    assert_eq!(huge.path, b"huge");
    assert_eq!(huge.size, size);
}

/// A directory whose layer order is not the order of a depth-first walk (`a-b` and `a.d` sort
/// between `a` and `a/…`), with hardlink groups spread over those places, symlinks (one of
/// them hardlinked), a fifo, an empty file, modes, owners, an xattr and a socket.
fn make_tricky(dir: &Path) {
    for d in ["a/a", "a.d", "b c", "z/deep/er"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(dir.join("a/x"), mixed_bytes(1, 700_000)).unwrap();
    fs::write(dir.join("a/a/z"), mixed_bytes(2, 3000)).unwrap();
    fs::write(dir.join("a.d/y"), b"y\n").unwrap();
    fs::write(dir.join("b c/d e"), mixed_bytes(3, 300_000)).unwrap();
    fs::write(dir.join("empty"), b"").unwrap();
    fs::write(dir.join("z/deep/er/suid"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("z/deep/er/suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(dir.join("a.d"), fs::Permissions::from_mode(0o700)).unwrap();
    // Depth-first meets a/x first; layer order meets a-b first.
    fs::hard_link(dir.join("a/x"), dir.join("a-b")).unwrap();
    fs::hard_link(dir.join("a/x"), dir.join("z/deep/x")).unwrap();
    fs::hard_link(dir.join("a.d/y"), dir.join("a/a/y")).unwrap();
    // `from_dir` meets z/zz first; the smallest path is a/a/z.
    fs::hard_link(dir.join("a/a/z"), dir.join("z/zz")).unwrap();
    std::os::unix::fs::symlink("a/x", dir.join("ln")).unwrap();
    fs::hard_link(dir.join("ln"), dir.join("a/ln2")).unwrap();
    std::os::unix::fs::symlink("/nowhere", dir.join("b c/dangling")).unwrap();
    run(Command::new("mkfifo").arg(dir.join("a/fifo")));
    std::os::unix::net::UnixListener::bind(dir.join("a/sock")).unwrap();
    std::os::unix::fs::lchown(dir.join("b c/d e"), Some(1234), Some(5678)).unwrap();
    let name = std::ffi::CString::new("user.mbi").unwrap();
    let path = std::ffi::CString::new(dir.join("a.d/y").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid NUL-terminated strings and a valid value buffer. Filesystems without user
    // xattrs make this fail, which only makes the test weaker.
    let _ = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), b"v".as_ptr().cast(), 1, 0) };
    run(Command::new("sh")
        .arg("-c")
        .arg("find . -exec touch -h -m -d @1650000000 {} +")
        .current_dir(dir));
}

#[test]
fn writing_a_directory_while_walking_it_gives_the_bytes_of_the_tree() {
    let src = scratch();
    make_tricky(src.path());
    let store = MemoryStore::new();
    for options in [FromDirOptions::default(), FromDirOptions::default().keep_owners(true)] {
        let (tree, tree_report) = FileTree::from_dir(src.path(), &options).unwrap();
        assert_eq!(tree_report.skipped.len(), 1, "{tree_report:?}");
        assert!(matches!(tree.get(&p("a/x")).unwrap().kind, EntryKind::Hardlink(_)));
        for compression in
            [LayerCompression::None, LayerCompression::DEFAULT_GZIP, LayerCompression::DEFAULT_ZSTD]
        {
            for threads in [1, 3] {
                let w = LayerWriter::new(
                    LayerOptions::default()
                        .compression(compression)
                        .threads(threads)
                        .source_date_epoch(1_700_000_000),
                );
                let want = w.write_tree(&tree, &store).unwrap();
                let (got, report) = w.write_dir_with(src.path(), &options, &store).unwrap();
                assert_eq!(got, want, "{compression:?}, {threads} threads, {options:?}");
                assert_eq!(report, tree_report);
                let mut out = Vec::new();
                let (to, _) = w.write_dir_to(src.path(), &options, &mut out).unwrap();
                assert_eq!(to, want);
                assert_eq!(store.read_bytes(&want.descriptor.digest, 1 << 30).unwrap(), out);
            }
        }
    }
}

#[test]
fn writing_a_directory_refuses_what_the_tree_writer_refuses() {
    let src = scratch();
    fs::create_dir(src.path().join("x")).unwrap();
    fs::write(src.path().join("x/.wh.y"), b"").unwrap();
    let store = MemoryStore::new();
    let w = LayerWriter::new(LayerOptions::default().compression(LayerCompression::DEFAULT_ZSTD));
    let e = w.write_dir(src.path(), &store).unwrap_err();
    assert!(matches!(e, Error::ReservedName { .. }), "{e}");
    assert!(store.list().unwrap().is_empty());
    let e = w.write_dir(&src.path().join("x/.wh.y"), &store).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    let e = w.write_dir(&src.path().join("missing"), &store).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}
