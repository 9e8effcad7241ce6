//! Pull and push through a fault-injecting proxy in front of the real registry: resets,
//! truncated bodies, 5xx/429 with Retry-After, stalls; chunked uploads, resume and restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{builder, image, layout_blob, skopeo};
use mbi_core::{BlobStore, DirStore, Platform};
use mbi_registry::{Error, PlatformSelector, Reference, UploadMode};
use mbi_testkit::fault::{Fault, FaultProxy, Rule};
use mbi_testkit::registry::{RegistryAuth, TestRegistry, fast_tempdir};

fn amd64() -> PlatformSelector {
    PlatformSelector::Platform(Platform::linux("amd64"))
}

fn setup(rules: Vec<Rule>) -> (TestRegistry, FaultProxy) {
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let proxy = FaultProxy::start(reg.addr(), rules).unwrap();
    (reg, proxy)
}

fn remote_manifest(host: &str, repo_tag: &str) -> Vec<u8> {
    skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/{repo_tag}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_survives_resets_truncation_and_throttling() {
    require_registry!();
    let (reg, proxy) = setup(vec![]);
    let (dir, store, desc) = image(3, 400_000, 10);
    // Seed the registry directly, then pull through the proxy.
    let direct = builder().build().unwrap();
    let name = format!("{}/faulty/pull:v1", reg.host());
    direct.push(store.clone(), &desc, &name.parse().unwrap()).await.unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_bytes(&desc.digest, 1 << 20).unwrap()).unwrap();
    let layer0 = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let layer2 = manifest["layers"][2]["digest"].as_str().unwrap().to_owned();
    proxy.set_rules(vec![
        Rule::new(
            Some("GET"),
            "/manifests/",
            1,
            1,
            Fault::Status { status: 503, retry_after: Some(1) },
        ),
        Rule::new(Some("GET"), &layer0, 1, 1, Fault::TruncateResponse { after: 100_000 }),
        Rule::new(Some("GET"), &layer2, 1, 2, Fault::TruncateResponse { after: 150_000 }),
        Rule::new(Some("GET"), "/blobs/sha256:", 3, 1, Fault::Reset),
        Rule::new(
            Some("GET"),
            "/blobs/sha256:",
            5,
            1,
            Fault::Status { status: 429, retry_after: Some(0) },
        ),
        Rule::new(
            Some("GET"),
            "/blobs/sha256:",
            6,
            1,
            Fault::Status { status: 500, retry_after: None },
        ),
    ]);
    let out = fast_tempdir("mbi-fault-pull-").unwrap();
    let dest: Arc<dyn BlobStore> = Arc::new(DirStore::new(out.path()).unwrap());
    let client = builder().build().unwrap();
    let src: Reference = format!("{}/faulty/pull:v1", proxy.host()).parse().unwrap();
    let t = Instant::now();
    let pulled = client.pull(&src, &amd64(), dest.clone()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert_eq!(pulled.descriptor.digest, desc.digest);
    assert_eq!(pulled.blobs.transferred, 4);
    for d in dest.list().unwrap() {
        assert_eq!(layout_blob(out.path(), &d), layout_blob(&dir.path().join("layout"), &d), "{d}");
    }
    let log = proxy.log();
    // Rules overlap (a layer GET is also a blob GET): at least five distinct faults hit.
    assert!(proxy.faults().len() >= 5, "{log:#?}");
    assert!(
        log.iter().filter(|e| e.method == "GET" && e.status == Some(206)).count() >= 3,
        "truncated downloads resumed with Range: {log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_faults_and_matches_skopeo() {
    require_registry!();
    let (reg, proxy) = setup(vec![
        Rule::new(Some("HEAD"), "/blobs/", 2, 1, Fault::Status { status: 500, retry_after: None }),
        Rule::new(Some("POST"), "/blobs/uploads/", 1, 1, Fault::Reset),
        Rule::new(Some("PUT"), "/blobs/uploads/", 1, 1, Fault::TruncateRequest { after: 50_000 }),
        Rule::new(Some("PUT"), "/blobs/uploads/", 2, 1, Fault::Stall(Duration::from_millis(50))),
        Rule::new(
            Some("PUT"),
            "/manifests/",
            1,
            1,
            Fault::Status { status: 503, retry_after: Some(0) },
        ),
    ]);
    let (dir, store, desc) = image(3, 300_000, 11);
    let client = builder().build().unwrap();
    let target: Reference = format!("{}/faulty/push:v1", proxy.host()).parse().unwrap();
    let pushed = client.push(store, &desc, &target).await.unwrap();
    assert_eq!(pushed.descriptor.digest, desc.digest);
    assert_eq!(proxy.faults().len(), 5, "{:#?}", proxy.log());
    assert_eq!(
        remote_manifest(reg.host(), "faulty/push:v1"),
        layout_blob(&dir.path().join("layout"), &desc.digest)
    );
    // skopeo can pull every blob (digests verified by skopeo).
    let out = dir.path().join("check");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/faulty/push:v1", reg.host()),
        &format!("oci:{}:v1", out.display()),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_push_leaves_no_tag() {
    require_registry!();
    let (reg, proxy) = setup(vec![Rule::new(
        Some("PUT"),
        "/blobs/uploads/",
        1,
        1000,
        Fault::Status { status: 500, retry_after: None },
    )]);
    let (_dir, store, desc) = image(2, 100_000, 12);
    let client = builder().build().unwrap();
    let target: Reference = format!("{}/faulty/broken:v1", proxy.host()).parse().unwrap();
    let e = client.push(store, &desc, &target).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::RetriesExhausted { .. }), "{msg}");
    assert!(
        msg.contains("upload of blob")
            && msg.contains("gave up after 6 attempts")
            && msg.contains("500"),
        "{msg}"
    );
    assert!(
        !proxy.log().iter().any(|e| e.method == "PUT" && e.path.contains("/manifests/")),
        "no manifest was put"
    );
    let direct = builder().build().unwrap();
    let r: Reference = format!("{}/faulty/broken:v1", reg.host()).parse().unwrap();
    assert!(matches!(direct.resolve(&r).await, Err(Error::NotFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_download_times_out_and_retries() {
    require_registry!();
    let (reg, proxy) = setup(vec![]);
    let (_dir, store, desc) = image(1, 100_000, 13);
    builder()
        .build()
        .unwrap()
        .push(store, &desc, &format!("{}/s/app:v1", reg.host()).parse().unwrap())
        .await
        .unwrap();
    proxy.set_rules(vec![Rule::new(
        Some("GET"),
        "/blobs/",
        1,
        1,
        Fault::Stall(Duration::from_secs(5)),
    )]);
    let client = builder().read_timeout(Duration::from_millis(400)).build().unwrap();
    let t = Instant::now();
    let src: Reference = format!("{}/s/app:v1", proxy.host()).parse().unwrap();
    client.pull(&src, &amd64(), Arc::new(mbi_core::MemoryStore::new())).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "did not wait for the stall: {:?}", t.elapsed());
}

fn count(proxy: &FaultProxy, method: &str, path: &str) -> usize {
    proxy.log().iter().filter(|e| e.method == method && e.path.contains(path)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_small_chunks_413_and_416() {
    require_registry!();
    let (reg, proxy) = setup(vec![
        // With one transfer at a time the config goes first (one PATCH), then the layer.
        Rule::new(
            Some("PATCH"),
            "/blobs/uploads/",
            2,
            1,
            Fault::Status { status: 413, retry_after: None },
        ),
        Rule::new(
            Some("PATCH"),
            "/blobs/uploads/",
            5,
            1,
            Fault::Status { status: 416, retry_after: None },
        ),
    ]);
    let (dir, store, desc) = image(1, 300_000, 14);
    let client =
        builder().upload_mode(UploadMode::Chunked(64 * 1024)).concurrency(1).build().unwrap();
    let target: Reference = format!("{}/chunked/app:v1", proxy.host()).parse().unwrap();
    client.push(store, &desc, &target).await.unwrap();
    let log = proxy.log();
    let patches: Vec<_> =
        log.iter().filter(|e| e.method == "PATCH" && e.status == Some(202)).collect();
    assert!(patches.len() >= 300_000 / (32 * 1024), "{} chunks", patches.len());
    assert!(patches.iter().all(|p| p.request_bytes <= 32 * 1024), "413 halved the chunk size");
    assert!(
        log.iter().any(|e| e.method == "GET"
            && e.path.contains("/blobs/uploads/")
            && e.status == Some(204)),
        "416 asked for the upload status"
    );
    assert_eq!(count(&proxy, "POST", "/blobs/uploads/"), 2, "one session per blob, no restart");
    assert_eq!(
        remote_manifest(reg.host(), "chunked/app:v1"),
        layout_blob(&dir.path().join("layout"), &desc.digest)
    );
    let out = dir.path().join("check");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/chunked/app:v1", reg.host()),
        &format!("oci:{}:v1", out.display()),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_chunked_upload_resumes_from_registry_offset() {
    require_registry!();
    // The third chunk never reaches the registry: the client asks for the upload's status and
    // continues from the registry's offset in the same session.
    let (reg, proxy) = setup(vec![Rule::new(Some("PATCH"), "/blobs/uploads/", 3, 1, Fault::Reset)]);
    let (dir, store, desc) = image(1, 400_000, 15);
    let client =
        builder().upload_mode(UploadMode::Chunked(100_000)).concurrency(1).build().unwrap();
    let target: Reference = format!("{}/resume/app:v1", proxy.host()).parse().unwrap();
    client.push(store.clone(), &desc, &target).await.unwrap();
    assert_eq!(count(&proxy, "POST", "/blobs/uploads/"), 2, "no restart: {:#?}", proxy.log());
    assert!(
        proxy.log().iter().any(|e| e.method == "GET"
            && e.path.contains("/blobs/uploads/")
            && e.status == Some(204))
    );
    let layer = &store.list().unwrap();
    let total: u64 = proxy
        .log()
        .iter()
        .filter(|e| e.method == "PATCH" && e.status == Some(202))
        .map(|e| e.request_bytes)
        .sum();
    let sizes: u64 = layer
        .iter()
        .filter(|d| **d != desc.digest)
        .map(|d| store.stat(d).unwrap().unwrap())
        .sum::<u64>();
    assert!(total <= sizes, "no byte sent twice ({total} sent, blobs total {sizes})");
    assert_eq!(
        remote_manifest(reg.host(), "resume/app:v1"),
        layout_blob(&dir.path().join("layout"), &desc.digest)
    );

    // Chunks cut half-way: the registry either kept a consistent offset (the client resumes
    // there) or invalidated the session (the client starts a new one). Either way the blob
    // arrives intact.
    for (after, nth) in [(1000, 2), (60_000, 3), (99_000, 4)] {
        let (reg2, proxy2) = setup(vec![Rule::new(
            Some("PATCH"),
            "/blobs/uploads/",
            nth,
            1,
            Fault::TruncateRequest { after },
        )]);
        let target2: Reference = format!("{}/restart/app:v1", proxy2.host()).parse().unwrap();
        client.push(store.clone(), &desc, &target2).await.unwrap();
        assert_eq!(proxy2.faults().len(), 1);
        assert!(
            count(&proxy2, "GET", "/blobs/uploads/") >= 1,
            "asked for the upload status: {:#?}",
            proxy2.log()
        );
        assert_eq!(
            remote_manifest(reg2.host(), "restart/app:v1"),
            layout_blob(&dir.path().join("layout"), &desc.digest)
        );
        let out = dir.path().join(format!("check{nth}"));
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/restart/app:v1", reg2.host()),
            &format!("oci:{}:v1", out.display()),
        ]);
    }
}
