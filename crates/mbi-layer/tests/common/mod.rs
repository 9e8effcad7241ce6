//! Helpers shared by mbi-layer's integration tests: raw tar building (independent of the crate's
//! own encoder, so it can express malicious archives), directory snapshots, and a minimal OCI
//! image layout for umoci and skopeo.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use mbi_core::{BlobStore, DirStore, canonical};
use mbi_layer::Layer;

/// Where big test data goes: tmpfs when present (the root filesystem is slow for many files).
pub fn scratch() -> tempfile::TempDir {
    let base = Path::new("/dev/shm");
    if base.is_dir() {
        tempfile::Builder::new().prefix("mbi-layer-test-").tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Builds tar archives byte by byte, with whatever names the test wants.
#[derive(Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn header(&mut self, name: &[u8], typeflag: u8, mode: u32, size: u64, link: &[u8]) {
        let mut h = [0u8; 512];
        assert!(name.len() <= 100 && link.len() <= 100, "RawTar handles short names only");
        h[..name.len()].copy_from_slice(name);
        let oct = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
            let s = format!("{:0width$o}\0", v, width = len - 1);
            h[off..off + len].copy_from_slice(s.as_bytes());
        };
        oct(&mut h, 100, 8, u64::from(mode));
        oct(&mut h, 108, 8, 0);
        oct(&mut h, 116, 8, 0);
        oct(&mut h, 124, 12, size);
        oct(&mut h, 136, 12, 1_600_000_000);
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        self.bytes.extend_from_slice(&h);
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.header(name.as_bytes(), b'0', 0o644, data.len() as u64, b"");
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.header(name.as_bytes(), b'5', 0o755, 0, b"");
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.header(name.as_bytes(), b'2', 0o777, 0, target.as_bytes());
        self
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.header(name.as_bytes(), b'1', 0o644, 0, target.as_bytes());
        self
    }

    pub fn whiteout(&mut self, name: &str) -> &mut Self {
        self.file(name, b"")
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut v = self.bytes.clone();
        v.extend_from_slice(&[0u8; 1024]);
        v
    }
}

/// A description of everything below `dir` (type, mode, size, content, link target), for
/// comparing directories and proving that one was left untouched.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let md = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let ft = md.file_type();
        let mode = md.mode() & 0o7777;
        let desc = if ft.is_dir() {
            walk(root, &p, out);
            format!("dir {mode:o}")
        } else if ft.is_symlink() {
            format!("symlink -> {}", fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            let data = fs::read(&p).unwrap();
            format!("file {mode:o} {} {}", data.len(), mbi_core::Digest::sha256(&data))
        } else if ft.is_fifo() {
            format!("fifo {mode:o}")
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {mode:o} {}", md.rdev())
        } else {
            "other".to_string()
        };
        out.insert(rel, desc);
    }
}

/// Runs a command and returns stdout, panicking with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Writes an OCI image layout at `dir` around `layers` (already in `DirStore::new(dir)`), with
/// the manifest tagged `tag`. Every JSON document goes through mbi_core's canonical serialiser.
pub fn write_oci_layout(dir: &Path, layers: &[Layer], tag: &str) -> mbi_core::Digest {
    let store = DirStore::new(dir).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        },
        "history": layers.iter().map(|_| serde_json::json!({"created_by": "mbi-layer test"})).collect::<Vec<_>>(),
    });
    let config_bytes = canonical::to_vec(&config).unwrap();
    let (config_digest, config_size) = store.put_bytes(&config_bytes).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config_size,
        },
        "layers": layers.iter().map(|l| serde_json::to_value(&l.descriptor).unwrap()).collect::<Vec<_>>(),
    });
    let manifest_bytes = canonical::to_vec(&manifest).unwrap();
    let (manifest_digest, manifest_size) = store.put_bytes(&manifest_bytes).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest.to_string(),
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    fs::write(dir.join("index.json"), canonical::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}

/// Stores a raw (uncompressed) tar as a gzip layer, compressing with flate2 (any encoder will
/// do for a hand-made test layer).
pub fn store_raw_gzip(store: &dyn BlobStore, tar: &[u8]) -> Layer {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(tar).unwrap();
    let blob = gz.finish().unwrap();
    let (digest, size) = store.put_bytes(&blob).unwrap();
    Layer {
        descriptor: mbi_core::Descriptor::new(mbi_core::MediaType::OciLayerGzip, digest, size),
        diff_id: mbi_core::Digest::sha256(tar),
        uncompressed_size: tar.len() as u64,
    }
}
