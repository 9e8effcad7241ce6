//! `mbi` against a real registry (the CNCF `docker-registry` started by mbi-testkit on
//! 127.0.0.1): `copy` and `from-dir` to and from `docker://`, `tags`, credentials from
//! `--creds`, `--authfile` and `$DOCKER_CONFIG`, `--insecure`, and `--all` for indexes, with
//! skopeo checking what mbi pushed and mbi pulling what skopeo pushed.

mod cli_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use cli_support::*;
use mbi::core::transport::{self, ImageReference};
use mbi::core::{Digest, IndexBuilder, OciLayout};
use mbi_testkit::registry::{RegistryAuth, TestRegistry, registry_available};

const PASSWORD: &str = "s3cret-pa55";

fn registry_tools() -> bool {
    if !registry_available() {
        eprintln!("SKIP: needs docker-registry (apt-get install docker-registry)");
        return false;
    }
    tools(&["skopeo"])
}

/// A small tree: two files of a few hundred kB (a layer of a few blobs' worth of work).
fn small_tree(dir: &Path, seed: u64) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/hello"), format!("hello {seed}\n")).unwrap();
    fs::write(dir.join("data.bin"), noise(300_000, seed)).unwrap();
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    ok_bytes(Command::new("skopeo").args(args))
}

/// The manifest bytes a registry serves, as skopeo reads them.
fn remote_raw(reference: &str) -> Vec<u8> {
    skopeo(&["inspect", "--raw", "--tls-verify=false", reference])
}

fn local_raw(reference: &str) -> Vec<u8> {
    ok_bytes(mbi().args(["inspect", "--raw", reference]))
}

#[test]
fn copy_and_from_dir_round_trip_through_a_registry_with_skopeo() {
    if !registry_tools() {
        return;
    }
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let t = scratch();
    let src = t.path().join("src");
    small_tree(&src, 1);
    let a = oci(&t.path().join("a"), "v1");
    let digest = digest_line(&ok(mbi().arg("from-dir").arg(&src).args(["--out", &a])));

    // oci → docker:// → oci: the same manifest bytes everywhere.
    let pushed = format!("docker://{}/team/app:v1", reg.host());
    assert_eq!(digest_line(&ok(mbi().args(["copy", &a, &pushed]))), digest);
    assert_eq!(remote_raw(&pushed), local_raw(&a));
    let b = oci(&t.path().join("b"), "back");
    assert_eq!(digest_line(&ok(mbi().args(["copy", &pushed, &b]))), digest);
    assert_eq!(local_raw(&b), local_raw(&a));
    assert_eq!(
        ok_bytes(mbi().args(["inspect", "--config", &b])),
        ok_bytes(mbi().args(["inspect", "--config", &a]))
    );
    // ... and a docker archive from the registry, which skopeo reads.
    let archive = format!("docker-archive:{}:example/app:v1", t.path().join("a.tar").display());
    ok(mbi().args(["copy", &pushed, &archive]));
    let s: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", "--config", "--raw", &archive])).unwrap();
    assert_eq!(s["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);

    // skopeo pulls what mbi pushed; umoci-free check: same bytes and a readable layout.
    let c = t.path().join("c");
    skopeo(&["copy", "--src-tls-verify=false", &pushed, &oci(&c, "s")]);
    assert_eq!(local_raw(&oci(&c, "s")), local_raw(&a));

    // mbi pulls what skopeo pushed.
    let src2 = t.path().join("src2");
    small_tree(&src2, 2);
    let d = oci(&t.path().join("d"), "v2");
    let d_digest = digest_line(&ok(mbi().arg("from-dir").arg(&src2).args(["--out", &d])));
    let by_skopeo = format!("docker://{}/team/by-skopeo:v2", reg.host());
    skopeo(&["copy", "--dest-tls-verify=false", &d, &by_skopeo]);
    let e = oci(&t.path().join("e"), "v2");
    assert_eq!(digest_line(&ok(mbi().args(["copy", &by_skopeo, &e]))), d_digest);
    assert_eq!(local_raw(&e), local_raw(&d));
    let rootfs = t.path().join("rootfs");
    ok(mbi().args(["unpack", &e]).arg(&rootfs));
    assert_eq!(
        fs::read(rootfs.join("data.bin")).unwrap(),
        fs::read(src2.join("data.bin")).unwrap()
    );

    // Registry to registry (a mount or a stream), then a tag list.
    let third = format!("docker://{}/other/app:copied", reg.host());
    assert_eq!(digest_line(&ok(mbi().args(["copy", &pushed, &third]))), digest);
    assert_eq!(remote_raw(&third), local_raw(&a));

    // from-dir straight to a registry, on a base pulled from it; skopeo reads the result.
    let built = format!("docker://{}/team/app:v3", reg.host());
    let v3 = digest_line(&ok(mbi().arg("from-dir").arg(&src2).args([
        "--base",
        &pushed,
        "--out",
        &built,
        "--source-date-epoch",
        "1700000000",
    ])));
    let raw = remote_raw(&built);
    assert_eq!(Digest::sha256(&raw).to_string(), v3);
    let info: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", &built])).unwrap();
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2);
    let f = t.path().join("f");
    skopeo(&["copy", "--src-tls-verify=false", &built, &oci(&f, "v3")]);
    assert_eq!(local_raw(&oci(&f, "v3")), raw);
    // The same build to a local layout gives the same digest (the push changed nothing).
    let local_v3 = oci(&t.path().join("g"), "v3");
    let again = digest_line(&ok(mbi().arg("from-dir").arg(&src2).args([
        "--base",
        &a,
        "--out",
        &local_v3,
        "--source-date-epoch",
        "1700000000",
    ])));
    assert_eq!(again, v3);

    // Tags, as lines and as JSON.
    let repo = format!("docker://{}/team/app", reg.host());
    let lines = ok(mbi().args(["tags", &repo]));
    let mut tags: Vec<&str> = lines.lines().collect();
    tags.sort();
    assert_eq!(tags, ["v1", "v3"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(mbi().args(["tags", "--json", &format!("{repo}:ignored")])))
            .unwrap();
    assert_eq!(json["repository"], format!("{}/team/app", reg.host()));
    assert_eq!(json["tags"].as_array().unwrap().len(), 2);
    let (code, line) = fails(mbi().args(["tags", &format!("docker://{}/absent", reg.host())]));
    assert_eq!(code, 1);
    assert!(line.contains("not found"), "{line}");
    let (code, _) = fails(mbi().args(["tags", &a]));
    assert_eq!(code, 2);
    let (code, line) = fails(mbi().args(["copy", &a, "docker://Bad_Name/x"]));
    assert_eq!(code, 1);
    assert!(line.contains("Bad_Name"), "{line}");
}

#[test]
fn credentials_from_flags_files_and_environment() {
    if !registry_tools() {
        return;
    }
    let reg = TestRegistry::start(RegistryAuth::Htpasswd(vec![("alice".into(), PASSWORD.into())]))
        .unwrap();
    let t = scratch();
    let src = t.path().join("src");
    small_tree(&src, 3);
    let target = format!("docker://{}/private/app:v1", reg.host());
    let creds = format!("alice:{PASSWORD}");

    // --creds.
    let digest = digest_line(&ok(mbi()
        .arg("from-dir")
        .arg(&src)
        .args(["--out", &target, "--creds", &creds])));
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &target]);
    assert_eq!(Digest::sha256(&raw).to_string(), digest);

    // A wrong password: one clear line naming registry and user, status 1, no secret.
    for args in [&["tags", &target, "--creds", "alice:wrong-pa55word"][..], &["tags", &target]] {
        let (code, line) = fails(mbi().args(args));
        assert_eq!(code, 1, "{line}");
        assert!(line.contains("authentication") && line.contains(reg.host()), "{line}");
        assert!(!line.contains("wrong-pa55word") && !line.contains(PASSWORD), "{line}");
    }
    let (_, line) = fails(mbi().args(["tags", &target, "--creds", "alice:wrong-pa55word"]));
    assert!(line.contains("alice"), "{line}");
    let out = t.path().join("never");
    fails(mbi().args(["copy", &target, &oci(&out, "x"), "--creds", "alice:nope"]));
    assert!(!out.exists(), "a failed pull must not leave a layout");

    // --authfile with a docker config.json, and the same file through $DOCKER_CONFIG.
    let cfg_dir = t.path().join("docker");
    fs::create_dir_all(&cfg_dir).unwrap();
    let auth = base64_encode(creds.as_bytes());
    fs::write(
        cfg_dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()),
    )
    .unwrap();
    let authfile = cfg_dir.join("config.json");
    assert_eq!(ok(mbi().args(["tags", &target, "--authfile"]).arg(&authfile)).trim(), "v1");
    assert_eq!(ok(mbi().args(["tags", &target]).env("DOCKER_CONFIG", &cfg_dir)).trim(), "v1");
    assert_eq!(ok(mbi().args(["tags", &target]).env("REGISTRY_AUTH_FILE", &authfile)).trim(), "v1");
    let b = oci(&t.path().join("b"), "v1");
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", &target, &b, "--authfile"]).arg(&authfile))),
        digest
    );
    let (code, line) =
        fails(mbi().args(["tags", &target, "--authfile"]).arg(t.path().join("missing.json")));
    assert_eq!(code, 1);
    assert!(line.contains("missing.json"), "{line}");
    let (code, line) = fails(mbi().args(["tags", &target, "--creds", "no-colon-secret"]));
    assert_eq!(code, 2);
    assert!(!line.contains("no-colon-secret"), "{line}");
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn insecure_allows_an_unverified_https_registry() {
    if !registry_tools() || !tools(&["openssl"]) {
        return;
    }
    let reg = TestRegistry::start_tls(RegistryAuth::Anonymous).unwrap();
    let t = scratch();
    let src = t.path().join("src");
    small_tree(&src, 4);
    let target = format!("docker://{}/tls/app:v1", reg.host());
    // (--quiet: the client retries, with a warning per attempt, before it gives up.)
    let (code, line) = fails(mbi().arg("from-dir").arg(&src).args(["--out", &target, "-q"]));
    assert_eq!(code, 1);
    assert!(line.contains(reg.host()) && line.contains("certificate"), "{line}");
    ok(mbi().arg("from-dir").arg(&src).args(["--out", &target, "--insecure"]));
    assert_eq!(ok(mbi().args(["tags", "--insecure", &target])).trim(), "v1");
}

#[test]
fn all_copies_a_two_platform_index() {
    if !registry_tools() {
        return;
    }
    let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
    let t = scratch();
    let layout = t.path().join("layout");
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let src = t.path().join(arch);
        small_tree(&src, 10 + i as u64);
        ok(mbi().arg("from-dir").arg(&src).args([
            "--out",
            &oci(&layout, arch),
            "--platform",
            &format!("linux/{arch}"),
        ]));
    }
    let l = OciLayout::open(&layout).unwrap();
    let image = |tag: &str| {
        let r: ImageReference = oci(&layout, tag).parse().unwrap();
        transport::open(&r).unwrap().image(None).unwrap()
    };
    let (amd, arm) = (image("amd64"), image("arm64"));
    let index = IndexBuilder::new().add(&amd).add(&arm).build(&l).unwrap();
    l.tag("multi", index.descriptor()).unwrap();
    let multi = oci(&layout, "multi");

    let pushed = format!("docker://{}/multi/app:v1", reg.host());
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", "--all", &multi, &pushed]))),
        index.digest().to_string()
    );
    assert_eq!(remote_raw(&pushed), local_raw(&multi));
    // skopeo sees both platforms.
    let s_arm = t.path().join("skopeo-arm");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--override-arch",
        "arm64",
        &pushed,
        &oci(&s_arm, "a"),
    ]);
    assert_eq!(local_raw(&oci(&s_arm, "a")), arm.manifest_bytes());

    // Back whole, registry to registry whole, and one platform at a time.
    let back = oci(&t.path().join("back"), "all");
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", "--all", &pushed, &back]))),
        index.digest().to_string()
    );
    assert_eq!(local_raw(&back), local_raw(&multi));
    let arm_ref = oci(&t.path().join("back"), "arm");
    ok(mbi().args([
        "copy",
        &oci(&t.path().join("back"), "all"),
        &arm_ref,
        "--platform",
        "linux/arm64",
    ]));
    assert_eq!(local_raw(&arm_ref), arm.manifest_bytes());
    let copied = format!("docker://{}/multi/copy:v1", reg.host());
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", "--all", &pushed, &copied]))),
        index.digest().to_string()
    );
    let one = oci(&t.path().join("one"), "arm");
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", "--platform", "linux/arm64", &pushed, &one]))),
        arm.digest().to_string()
    );
    // Without --all or --platform: the host's platform, as skopeo picks it.
    let host = mbi::core::Platform::host();
    let want = if host.architecture == "arm64" { arm.digest() } else { amd.digest() };
    if ["amd64", "arm64"].contains(&host.architecture.as_str()) {
        let h = oci(&t.path().join("host"), "h");
        assert_eq!(digest_line(&ok(mbi().args(["copy", &pushed, &h]))), want.to_string());
        let s = t.path().join("skopeo-host");
        skopeo(&["copy", "--src-tls-verify=false", &pushed, &oci(&s, "h")]);
        assert_eq!(local_raw(&oci(&s, "h")), local_raw(&h));
    }
    // A docker archive cannot hold an index.
    let tar = t.path().join("m.tar");
    let (code, line) =
        fails(mbi().args(["copy", "--all", &pushed, &format!("docker-archive:{}", tar.display())]));
    assert_eq!(code, 1);
    assert!(line.contains("--all"), "{line}");
    assert!(!tar.exists());
}
