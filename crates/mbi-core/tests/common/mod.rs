//! Helpers shared by mbi-core's integration tests: hand-made layer tars, compression, images,
//! and running the real tools.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::Command;

use mbi_core::{
    BlobStore, Compression, Descriptor, Digest, HistoryEntry, Image, ImageBuilder, MediaType,
    Platform,
};

/// A file or directory in a test layer.
pub enum Node<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// A ustar layer with the given entries (in order), mtime 0, owner 0:0.
pub fn tar_layer(nodes: &[Node<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        let mut h = tar::Header::new_ustar();
        match n {
            Node::File(p, data, mode) => {
                h.set_path(p).unwrap();
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(tar::EntryType::Regular);
            }
            Node::Dir(p) => {
                h.set_path(p).unwrap();
                h.set_size(0);
                h.set_mode(0o755);
                h.set_entry_type(tar::EntryType::Directory);
            }
            Node::Symlink(p, target) => {
                h.set_path(p).unwrap();
                h.set_size(0);
                h.set_mode(0o777);
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(target).unwrap();
            }
        }
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        if let Node::File(_, data, _) = n {
            out.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            out.extend(std::iter::repeat_n(0u8, pad));
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Compresses `tar` with `c`.
pub fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(tar, 3).unwrap(),
    }
}

/// Stores `tar` compressed with `c`; returns the layer descriptor and diff_id.
pub fn put_layer(store: &dyn BlobStore, tar: &[u8], c: Compression) -> (Descriptor, Digest) {
    let blob = compress(tar, c);
    let (d, n) = store.put_bytes(&blob).unwrap();
    (Descriptor::new(MediaType::oci_layer(c), d, n), Digest::sha256(tar))
}

/// A two-layer image (a base layer with /etc/hello and /bin/tool, a top layer adding
/// /srv/data and a symlink), both layers compressed with `c`, with a HashMap-heavy config.
pub fn sample_image(store: &dyn BlobStore, c: Compression, platform: Platform) -> Image {
    let base = tar_layer(&[
        Node::Dir("bin/"),
        Node::File("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        Node::Dir("etc/"),
        Node::File("etc/hello", b"hello from mbi\n", 0o644),
    ]);
    let top = tar_layer(&[
        Node::Dir("srv/"),
        Node::File("srv/data", &[7u8; 3000], 0o600),
        Node::Symlink("srv/link", "data"),
    ]);
    let (l1, d1) = put_layer(store, &base, c);
    let (l2, d2) = put_layer(store, &top, c);
    let mut b = ImageBuilder::new(platform);
    b.append_layer(l1, d1, HistoryEntry::new("base layer"))
        .append_layer(l2, d2, HistoryEntry::new("top layer").comment("second"))
        .add_history(HistoryEntry::new("ENV and labels"))
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GREETING", "hello world")
        .entrypoint(["/bin/tool"])
        .cmd(["--flag"])
        .user("1000:1000")
        .working_dir("/srv")
        .label("org.opencontainers.image.title", "sample")
        .label("z.last", "1")
        .label("a.first", "2")
        .expose("8080/tcp".parse().unwrap())
        .expose("53/udp".parse().unwrap())
        .volume("/data")
        .volume("/cache")
        .stop_signal("SIGINT")
        .annotation("org.example.note", "test")
        .created(1_700_000_000);
    b.build(store).unwrap()
}

/// Whether `tool` runs here; tests that need it skip (with a message) when it does not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: {tool} is not installed");
    }
    ok
}

/// Runs a command, panicking with its stderr on failure; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `skopeo` with flags that keep it off the network and away from host policy files.
pub fn skopeo(dir: &Path) -> Command {
    let policy = dir.join("policy.json");
    if !policy.exists() {
        std::fs::write(&policy, br#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    }
    let mut c = Command::new("skopeo");
    c.arg("--policy").arg(policy);
    c
}

/// A temp dir on tmpfs when available.
pub fn tmpdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() }
}
