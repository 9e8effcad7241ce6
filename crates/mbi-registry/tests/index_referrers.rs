//! Multi-platform indexes, registry-to-registry copy, referrers (tag-schema fallback), delete.

mod common;

use std::sync::Arc;

use common::{builder, layout_blob, skopeo};
use mbi_core::{BlobStore, Descriptor, DirStore, MediaType, MemoryStore, Platform};
use mbi_registry::{Error, PlatformSelector, Reference, fallback_tag};
use mbi_testkit::registry::{
    RegistryAuth, TestRegistry, fast_tempdir, pseudo_random, umoci_image, write_layout_index,
};

/// An index over an amd64 and an arm64/v8 image built with umoci.
fn multi_arch() -> (tempfile::TempDir, Arc<dyn BlobStore>, Descriptor, Descriptor, Descriptor) {
    let dir = fast_tempdir("mbi-index-").unwrap();
    let layout = dir.path().join("layout");
    let files = |seed| vec![vec![("a.bin".to_owned(), pseudo_random(seed, 50_000))]];
    let amd = umoci_image(&layout, "amd", "amd64", &files(1))
        .unwrap()
        .with_platform(Platform::linux("amd64"));
    let mut arm_p = Platform::linux("arm64");
    arm_p.variant = Some("v8".into());
    let mut arm = umoci_image(&layout, "arm", "arm64", &files(2)).unwrap().with_platform(arm_p);
    let mut amd = amd;
    amd.annotations.clear();
    arm.annotations.clear();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, arm],
    });
    let bytes = serde_json::to_vec_pretty(&index).unwrap();
    let store: Arc<dyn BlobStore> = Arc::new(DirStore::new(&layout).unwrap());
    store.put_bytes(&bytes).unwrap();
    let idx = Descriptor::of_bytes(MediaType::OciIndex, &bytes);
    (dir, store, idx, amd, arm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_push_pull_select_and_copy() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let other = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let (dir, store, idx, amd, arm) = multi_arch();
    let client = builder().build().unwrap();
    let target: Reference = format!("{}/multi/app:v1", reg.host()).parse().unwrap();
    let pushed = client.push(store.clone(), &idx, &target).await.unwrap();
    assert_eq!(pushed.manifests_put, 3);
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{target}")]);
    assert_eq!(
        raw,
        layout_blob(&dir.path().join("layout"), &idx.digest),
        "index bytes kept exactly"
    );

    // One platform: the arm64 manifest, with the platform from the index; no amd64 blobs.
    let mem: Arc<dyn BlobStore> = Arc::new(MemoryStore::new());
    let mut want = Platform::linux("arm64");
    want.variant = None;
    let pulled =
        client.pull(&target, &PlatformSelector::Platform(want), mem.clone()).await.unwrap();
    assert_eq!(pulled.descriptor, arm);
    assert_eq!(pulled.source_digest, idx.digest);
    assert!(!mem.contains(&amd.digest).unwrap());
    assert!(!mem.contains(&idx.digest).unwrap());
    let e = client
        .pull(&target, &PlatformSelector::Platform(Platform::linux("s390x")), mem)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::PlatformNotFound { .. }) && e.to_string().contains("linux/arm64/v8"),
        "{e}"
    );

    // Everything: a layout skopeo and umoci read.
    let out = fast_tempdir("mbi-index-pull-").unwrap();
    let all: Arc<dyn BlobStore> = Arc::new(DirStore::new(out.path()).unwrap());
    let pulled = client.pull(&target, &PlatformSelector::All, all.clone()).await.unwrap();
    assert_eq!(pulled.descriptor.digest, idx.digest);
    assert_eq!(pulled.manifests, 3);
    write_layout_index(out.path(), &[(pulled.descriptor.clone(), "v1")]).unwrap();
    let back = skopeo(&["inspect", "--raw", &format!("oci:{}:v1", out.path().display())]);
    assert_eq!(back, raw);
    skopeo(&[
        "copy",
        "--all",
        &format!("oci:{}:v1", out.path().display()),
        &format!("oci:{}:copy", dir.path().join("skopeo-copy").display()),
    ]);

    // Registry to registry (streamed, nothing local), all platforms.
    let dst: Reference = format!("{}/mirror/app:v1", other.host()).parse().unwrap();
    let copied = client.copy(&target, &dst, &PlatformSelector::All).await.unwrap();
    assert_eq!(copied.descriptor.digest, idx.digest);
    assert_eq!(copied.blobs.mounted, 0);
    assert_eq!(
        skopeo(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{dst}")]),
        raw
    );
    let arm_dst = format!("docker://{}/mirror/app@{}", other.host(), arm.digest);
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &arm_dst,
        &format!("oci:{}:arm", dir.path().join("arm-check").display()),
    ]);

    // Delete by tag.
    let deleted = client.delete_manifest(&dst).await.unwrap();
    assert_eq!(deleted, idx.digest);
    assert!(matches!(client.resolve(&dst).await, Err(Error::NotFound { .. })));
    let repo = dst.without_tag_or_digest();
    client.delete_blob(&repo, &arm.digest).await.ok();
}

fn artifact(
    store: &Arc<dyn BlobStore>,
    subject: &Descriptor,
    artifact_type: &str,
    payload: &[u8],
) -> Descriptor {
    store.put_bytes(b"{}").unwrap();
    let (blob, size) = store.put_bytes(payload).unwrap();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": mbi_core::Digest::sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": blob, "size": size}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {"org.opencontainers.image.created": "2000-01-01T00:00:00Z"},
    });
    let bytes = serde_json::to_vec(&m).unwrap();
    store.put_bytes(&bytes).unwrap();
    Descriptor::of_bytes(MediaType::OciManifest, &bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_through_tag_schema_fallback() {
    require_registry!();
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let (_dir, store, idx, _amd, arm) = multi_arch();
    let client = builder().build().unwrap();
    let target: Reference = format!("{}/ref/app:v1", reg.host()).parse().unwrap();
    client.push(store.clone(), &idx, &target).await.unwrap();
    let subject = target.without_tag_or_digest().with_digest(arm.digest.clone());
    assert_eq!(client.referrers(&subject, None).await.unwrap(), vec![], "none yet");

    let sbom = artifact(&store, &arm, "application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let sig = artifact(&store, &arm, "application/vnd.example.signature", b"signature bytes");
    client.push_referrer(store.clone(), &subject, &sbom).await.unwrap();
    client.push_referrer(store.clone(), &subject, &sig).await.unwrap();
    client.push_referrer(store.clone(), &subject, &sig).await.unwrap(); // idempotent

    let all = client.referrers(&subject, None).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(),
        vec![sbom.digest.clone(), sig.digest.clone()]
    );
    assert_eq!(all[0].artifact_type, Some(MediaType::from("application/spdx+json")));
    assert_eq!(
        all[0].annotations.get("org.opencontainers.image.created").map(String::as_str),
        Some("2000-01-01T00:00:00Z")
    );
    let only = client
        .referrers(&subject, Some(&MediaType::from("application/vnd.example.signature")))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].digest, sig.digest);

    // The fallback tag is a real OCI index that skopeo reads.
    let tag = fallback_tag(&arm.digest);
    assert_eq!(tag, format!("sha256-{}", arm.digest.hex()));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/ref/app:{tag}", reg.host()),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    // The artifact itself is pullable by digest.
    let got = client
        .manifest(&target.without_tag_or_digest().with_digest(sig.digest.clone()))
        .await
        .unwrap();
    assert_eq!(got.0.digest, sig.digest);

    // A wrong subject is refused before anything is pushed.
    let wrong = target.without_tag_or_digest().with_digest(idx.digest.clone());
    let e = client.push_referrer(store, &wrong, &sig).await.unwrap_err();
    assert!(e.to_string().contains("subject"), "{e}");
}
