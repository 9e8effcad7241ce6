//! Anonymous pull and push against the real CNCF registry, checked with skopeo and umoci.

mod common;

use std::sync::Arc;

use common::{builder, image, layout_blob, run, skopeo};
use mbi_core::{BlobStore, DirStore, MediaType, Platform};
use mbi_registry::{BlobOutcome, Direction, PlatformSelector, ProgressEvent, Reference};
use mbi_testkit::registry::{RegistryAuth, TestRegistry, fast_tempdir, write_layout_index};

fn amd64() -> PlatformSelector {
    PlatformSelector::Platform(Platform::linux("amd64"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_skopeo_pulls_identical_bytes() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let (dir, store, desc) = image(3, 200_000, 1);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressEvent>();
    let client = builder().progress(Arc::new(tx)).build().unwrap();
    let target: Reference = format!("{}/team/app:v1", reg.host()).parse().unwrap();
    let pushed = client.push(store.clone(), &desc, &target).await.unwrap();
    // Progress: every blob started, moved all its bytes, and finished.
    let mut done = std::collections::BTreeMap::new();
    let mut finished = 0;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            ProgressEvent::BlobProgress { digest, done: d, total, direction: Direction::Push } => {
                assert!(d <= total);
                done.insert(digest, (d, total));
            }
            ProgressEvent::BlobDone { outcome: BlobOutcome::Transferred, .. } => finished += 1,
            _ => {}
        }
    }
    assert_eq!(finished, 4);
    assert!(done.len() >= 3 && done.values().all(|(d, t)| d == t), "{done:?}");
    assert_eq!(pushed.descriptor.digest, desc.digest);
    assert_eq!(pushed.blobs.transferred, 4, "config + 3 layers");
    assert_eq!(pushed.manifests_put, 1);

    // skopeo pulls it into an OCI layout: same manifest bytes, and the layout is valid.
    let out = dir.path().join("skopeo-out");
    let src = format!("docker://{}/team/app:v1", reg.host());
    let dst = format!("oci:{}:v1", out.display());
    skopeo(&["copy", "--src-tls-verify=false", &src, &dst]);
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:v1", out.display())]);
    assert_eq!(raw, layout_blob(&dir.path().join("layout"), &desc.digest));
    skopeo(&["inspect", &format!("oci:{}:v1", out.display())]);
    let bundle = dir.path().join("bundle");
    run(std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", out.display()))
        .arg(&bundle));
    assert!(bundle.join("rootfs/data/layer2/note2.txt").exists());

    // Re-push: existence checks only.
    let again = client.push(store, &desc, &target).await.unwrap();
    assert_eq!(again.blobs.transferred, 0);
    assert_eq!(again.blobs.present, 4);
    assert_eq!(again.manifests_put, 0);
    assert_eq!(again.manifests_present, 1);

    // Tags, catalog, resolve.
    assert_eq!(client.tags(&target).await.unwrap(), vec!["v1".to_owned()]);
    assert!(client.catalog(reg.host()).await.unwrap().contains(&"team/app".to_owned()));
    let resolved = client.resolve(&target).await.unwrap();
    assert_eq!(resolved.digest, desc.digest);
    assert_eq!(resolved.size, desc.size);
    assert_eq!(resolved.media_type, MediaType::OciManifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_then_mbi_pulls_valid_layout() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let (dir, _store, desc) = image(2, 300_000, 2);
    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/lib/base:1.0", reg.host()),
    ]);
    let out = fast_tempdir("mbi-pull-").unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(DirStore::new(out.path()).unwrap());
    let client = builder().build().unwrap();
    let src: Reference = format!("{}/lib/base:1.0", reg.host()).parse().unwrap();
    let pulled = client.pull(&src, &amd64(), store.clone()).await.unwrap();
    assert_eq!(pulled.descriptor.digest, desc.digest);
    assert_eq!(pulled.blobs.transferred, 3);
    assert_eq!(layout_blob(out.path(), &desc.digest), layout_blob(&layout, &desc.digest));
    write_layout_index(out.path(), &[(pulled.descriptor.clone(), "v1")]).unwrap();
    skopeo(&["inspect", &format!("oci:{}:v1", out.path().display())]);
    let bundle = out.path().join("../bundle-mbi-pull");
    let _ = std::fs::remove_dir_all(&bundle);
    run(std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", out.path().display()))
        .arg(&bundle));
    assert_eq!(
        std::fs::read(bundle.join("rootfs/data/layer1/note1.txt")).unwrap(),
        b"layer 1 of image 2\n"
    );
    let _ = std::fs::remove_dir_all(&bundle);

    // A second pull downloads nothing.
    let again = client.pull(&src, &amd64(), store).await.unwrap();
    assert_eq!(again.blobs.transferred, 0);
    assert_eq!(again.blobs.present, 3);

    // Unknown tags and repositories give NotFound.
    let missing: Reference = format!("{}/lib/base:nope", reg.host()).parse().unwrap();
    let e =
        client.pull(&missing, &amd64(), Arc::new(mbi_core::MemoryStore::new())).await.unwrap_err();
    assert!(matches!(e, mbi_registry::Error::NotFound { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_needs_a_trusted_root_or_insecure() {
    require_registry!();
    let reg = TestRegistry::start_tls(RegistryAuth::Anonymous).unwrap();
    let pem = std::fs::read(reg.tls_cert_path().unwrap()).unwrap();
    let (_dir, store, desc) = image(1, 20_000, 8);
    let target: Reference = format!("{}/tls/app:v1", reg.host()).parse().unwrap();

    // Untrusted certificate: HTTPS fails verification, plain HTTP gets no answer it understands.
    // Under the default retry policy: a refused certificate is final, not retried.
    let strict = builder().build().unwrap();
    let started = std::time::Instant::now();
    let e = strict.push(store.clone(), &desc, &target).await.unwrap_err();
    assert!(matches!(e, mbi_registry::Error::Transport { .. }), "{e}");
    assert!(!e.is_retryable(), "a certificate error is retryable: {e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(
        e.to_string().contains("certificate") || e.to_string().contains("UnknownIssuer"),
        "{e}"
    );
    eprintln!("untrusted certificate error: {e}");

    // Trusted through an extra root: HTTPS end to end, verified.
    let trusted = builder().add_root_certificates_pem(&pem).unwrap().build().unwrap();
    trusted.push(store.clone(), &desc, &target).await.unwrap();
    let pulled =
        trusted.pull(&target, &amd64(), Arc::new(mbi_core::MemoryStore::new())).await.unwrap();
    assert_eq!(pulled.descriptor.digest, desc.digest);

    // Marked insecure: certificate not verified (like skopeo --tls-verify=false).
    let insecure = builder().insecure_registry(reg.host()).build().unwrap();
    assert_eq!(insecure.tags(&target).await.unwrap(), vec!["v1".to_owned()]);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{target}")]);
    assert_eq!(raw, store.read_bytes(&desc.digest, 1 << 20).unwrap());
}
