//! Same inputs, same bytes: golden digests that would change if anything host-dependent (clock,
//! hash-map order, temp paths, umask) leaked into what mbi-core writes.

mod common;

use common::{sample_image, tmpdir};
use mbi_core::transport::{self, ImageReference};
use mbi_core::{Compression, Digest, IndexBuilder, MemoryStore, Platform};

fn r(s: String) -> ImageReference {
    s.parse().unwrap()
}

#[test]
fn golden_digests() {
    // Uncompressed layers, so only mbi-core's own serialisation is under test.
    let store = MemoryStore::new();
    let img = sample_image(&store, Compression::None, Platform::linux("amd64"));
    let arm = sample_image(&store, Compression::None, "linux/arm64/v8".parse().unwrap());
    let index = IndexBuilder::new().add(&img).add(&arm).build(&store).unwrap();
    let dir = tmpdir();
    let oa = dir.path().join("o.tar");
    let da = dir.path().join("d.tar");
    transport::write(&r(format!("oci-archive:{}:t", oa.display())), &store, index.descriptor())
        .unwrap();
    transport::write(
        &r(format!("docker-archive:{}:a/b:c", da.display())),
        &store,
        img.descriptor(),
    )
    .unwrap();
    let got = [
        img.config_descriptor().digest.to_string(),
        img.digest().to_string(),
        index.digest().to_string(),
        Digest::sha256(&std::fs::read(&oa).unwrap()).to_string(),
        Digest::sha256(&std::fs::read(&da).unwrap()).to_string(),
    ];
    let want = GOLDEN;
    assert_eq!(got, want, "output bytes changed: {got:#?}");
}

const GOLDEN: [&str; 5] = [
    "sha256:78fa806bc739b502109f840cea7c860318aff571d22ef4c42759d003a47bc601",
    "sha256:4a2645d42b4e38930659e16617ef9ec1dff6177b28fde2c746f1594bb86620a2",
    "sha256:12adccc5eec079cbbad8e46613fa526b8f27b951c7de8f494a8d8093ececc823",
    "sha256:e4f1915da49ab528e3dcd31243d73d203b5b268c68f1cad4e112db1bab977ca0",
    "sha256:ccfd702b2fdc6eeba42c85e0b5cf45877b32a3caa5e993194fc5cb9638c17f85",
];

#[test]
fn golden_digests_under_another_host_setup() {
    // The same test in a child process with another umask, time zone, locale, temp dir and
    // thread count; the golden values must hold there too.
    let exe = std::env::current_exe().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 077; exec \"$0\" --exact golden_digests --test-threads=1 --quiet")
        .arg(exe)
        .env("TZ", "Pacific/Kiritimati")
        .env("LC_ALL", "tr_TR.UTF-8")
        .env("TMPDIR", tmp.path())
        .env("RAYON_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}
