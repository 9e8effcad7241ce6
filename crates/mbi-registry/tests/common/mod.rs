//! Shared helpers for the registry integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mbi_core::{BlobStore, Descriptor, DirStore};
use mbi_registry::{Client, ClientBuilder, RetryPolicy};
use mbi_testkit::registry::{fast_tempdir, pseudo_random, umoci_image};

/// Skips the test (returns) when the registry binary is missing.
#[macro_export]
macro_rules! require_registry {
    () => {
        if !mbi_testkit::registry::registry_available() {
            eprintln!("SKIPPED: docker-registry is not installed (Debian package docker-registry)");
            return;
        }
    };
}

/// A client with fast retries for tests.
pub fn builder() -> ClientBuilder {
    Client::builder().retry(RetryPolicy {
        max_attempts: 6,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
    })
}

/// Runs a tool, panicking with its stderr on failure; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

pub fn skopeo(args: &[&str]) -> Vec<u8> {
    run(Command::new("skopeo").args(args))
}

/// An umoci-built image with `layers` layers of `size` pseudo-random bytes each (plus a small
/// text file), in a fresh layout. Returns (tempdir, layout store, manifest descriptor).
pub fn image(
    layers: usize,
    size: usize,
    seed: u64,
) -> (tempfile::TempDir, Arc<dyn BlobStore>, Descriptor) {
    let dir = fast_tempdir("mbi-registry-test-").unwrap();
    let layout = dir.path().join("layout");
    let spec: Vec<Vec<(String, Vec<u8>)>> = (0..layers)
        .map(|i| {
            vec![
                (format!("file{i}.bin"), pseudo_random(seed * 1000 + i as u64, size)),
                (format!("note{i}.txt"), format!("layer {i} of image {seed}\n").into_bytes()),
            ]
        })
        .collect();
    let desc = umoci_image(&layout, "v1", "amd64", &spec).unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(DirStore::new(&layout).unwrap());
    (dir, store, desc)
}

/// The bytes of blob `digest` in the OCI layout at `layout`.
pub fn layout_blob(layout: &Path, digest: &mbi_core::Digest) -> Vec<u8> {
    std::fs::read(layout.join("blobs").join(digest.algorithm().as_str()).join(digest.hex()))
        .unwrap()
}
