//! `mbi lock` and `mbi build` end to end, hermetic: signed fixture repositories built with
//! dpkg-deb, apt-ftparchive and gpg, served over loopback HTTP; the images checked with skopeo,
//! umoci and dpkg.

mod cli_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::*;
use mbi_testkit::apt::{Deb, DebCompression, FIXTURE_EPOCH, FixtureRepo, Publish};
use mbi_testkit::http::StaticServer;
use mbi_testkit::registry::{RegistryAuth, TestRegistry};

struct Repo {
    repo: FixtureRepo,
    server: StaticServer,
}

/// A small distribution: a distroless app with a dependency chain, an alternative, a virtual
/// package, a security update, and an essential set for full images.
fn distribution() -> Repo {
    let mut repo = FixtureRepo::new().unwrap();
    let add = |repo: &mut FixtureRepo, suite: &str, d: Deb| repo.add(suite, "main", d).unwrap();
    add(
        &mut repo,
        "stable",
        Deb::new("base-files", "12.4")
            .essential()
            .priority("required")
            .file("/usr/lib/os-release", "ID=fixture\nVERSION_ID=\"1\"\nVERSION_CODENAME=stable\n")
            .symlink("/etc/os-release", "../usr/lib/os-release")
            .dir("/tmp", 0o1777),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("libfix", "1.0-1").file("/usr/lib/libfix.so.1", "libfix 1.0\n").source("fix"),
    );
    add(
        &mut repo,
        "stable-security",
        Deb::new("libfix", "1.0-1+sec1")
            .file("/usr/lib/libfix.so.1", "libfix 1.0 patched\n")
            .source("fix (1.0-1+sec1)")
            .compression(DebCompression::Zstd),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("mail-impl", "2:0.9~rc1")
            .provides("mail-transport (= 1)")
            .file("/usr/sbin/mta", "mta\n"),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("fixture-app", "3.1-2")
            .depends("libfix (>= 1.0), missing-alt | mail-transport (>= 1)")
            .pre_depends("base-files")
            .exec("/usr/bin/fixture-app", "#!/bin/sh\necho app\n")
            .conffile("/etc/fixture-app.conf", "x=1\n")
            .compression(DebCompression::Gzip),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("fixture-app", "3.1-2")
            .arch("arm64")
            .depends("libfix")
            .exec("/usr/bin/fixture-app", "arm\n"),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("libfix", "1.0-1").arch("arm64").file("/usr/lib/libfix.so.1", "arm\n"),
    );
    add(
        &mut repo,
        "stable",
        Deb::new("base-files", "12.4")
            .arch("arm64")
            .essential()
            .file("/usr/lib/os-release", "ID=fixture\n"),
    );
    repo.publish(&Publish::default()).unwrap();
    let server = StaticServer::start(&repo.root()).unwrap();
    Repo { repo, server }
}

impl Repo {
    fn spec(&self, dir: &Path, body: &str) -> PathBuf {
        let sources = format!(
            "sources: |\n  Types: deb\n  URIs: {}\n  Suites: stable stable-security\n  Components: main\n  Signed-By: {}\n",
            self.server.base_url(),
            self.repo.public_keyring().display()
        );
        let path = dir.join("spec.yaml");
        fs::write(&path, format!("{sources}{body}")).unwrap();
        path
    }
}

fn build(spec: &Path, cache: &Path, out: &str, extra: &[&str]) -> String {
    digest_line(&ok(mbi()
        .arg("build")
        .arg(spec)
        .arg("--cache-dir")
        .arg(cache)
        .args(["--out", out])
        .args(extra)))
}

fn lock_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn distroless_build_lock_and_rebuild() {
    if !tools(&["skopeo", "umoci", "dpkg-deb", "apt-ftparchive", "gpg"]) {
        return;
    }
    let r = distribution();
    let t = scratch();
    let cache = t.path().join("cache");
    let spec = r.spec(
        t.path(),
        "variant: distroless\npackages: [fixture-app]\narchitectures: [amd64]\nentrypoint: [/usr/bin/fixture-app]\nuser: \"65532\"\n",
    );

    // Lock: newest version across suites, install order, provenance.
    let lock = t.path().join("lock.json");
    ok(mbi().arg("lock").arg(&spec).arg("--cache-dir").arg(&cache).arg("--out").arg(&lock));
    let l = lock_json(&lock);
    let pkgs = l["architectures"]["amd64"]["packages"].as_array().unwrap();
    let names: Vec<String> = pkgs
        .iter()
        .map(|p| {
            format!(
                "{}={}@{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
                p["suite"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"libfix=1.0-1+sec1@stable-security".to_owned()), "{names:?}");
    assert!(names.contains(&"mail-impl=2:0.9~rc1@stable".to_owned()), "{names:?}");
    let pos = |n: &str| names.iter().position(|x| x.starts_with(&format!("{n}="))).unwrap();
    assert!(pos("base-files") < pos("fixture-app") && pos("libfix") < pos("fixture-app"));
    assert_eq!(l["indexes"][0]["signingKey"].as_str().unwrap().len(), 40);
    assert_eq!(l["sourceDateEpoch"], FIXTURE_EPOCH);

    // Build from the lock and without it: the same image, twice.
    let a =
        build(&spec, &cache, &oci(&t.path().join("a"), "t"), &["--lock", lock.to_str().unwrap()]);
    let b = build(&spec, &cache, &oci(&t.path().join("b"), "t"), &[]);
    assert_eq!(a, b);
    // Offline from the cache, another temp dir and thread count: still the same.
    let tmp2 = t.path().join("tmp2");
    fs::create_dir_all(&tmp2).unwrap();
    let c = digest_line(&ok(mbi()
        .env("TMPDIR", &tmp2)
        .args(["build", "--offline", "--threads", "1", "--lock"])
        .arg(&lock)
        .arg(&spec)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--out", &oci(&t.path().join("c"), "t")])));
    assert_eq!(a, c);

    // The SDK example does the same through the library: it writes the same lock, and builds
    // the same image with it and from it.
    if let Some(example) = example("build_image") {
        let written = t.path().join("example-lock.json");
        let run = |lock: &Path, dir: &str| {
            digest_line(&ok(Command::new(&example)
                .env("MBI_CACHE_DIR", &cache)
                .env_remove("SOURCE_DATE_EPOCH")
                .env("TMPDIR", &tmp2)
                .arg(&spec)
                .arg(oci(&t.path().join(dir), "t"))
                .arg(lock)))
        };
        assert_eq!(run(&written, "example-resolved"), a);
        assert_eq!(lock_json(&written), lock_json(&lock));
        assert_eq!(run(&lock, "example-locked"), a);
    }

    // skopeo reads it; config and annotations as documented.
    let raw: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &oci(&t.path().join("a"), "t"),
    ])))
    .unwrap();
    assert_eq!(raw["annotations"]["dev.mbi.distribution"], "fixture 1 (stable)");
    assert_eq!(raw["annotations"]["dev.mbi.variant"], "distroless");
    assert_eq!(raw["annotations"]["dev.mbi.suites"], "stable,stable-security");
    let config: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--raw",
        &oci(&t.path().join("a"), "t"),
    ])))
    .unwrap();
    assert_eq!(config["created"], "2024-01-01T00:00:00Z");
    assert_eq!(config["config"]["User"], "65532");
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/usr/bin/fixture-app"]));
    assert!(config["config"]["Env"][0].as_str().unwrap().starts_with("PATH=/usr/local/sbin"));

    // umoci unpacks it: files of the newest libfix, distroless database, accounts, no scripts.
    ok(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &format!("{}:t", t.path().join("a").display())])
        .arg(t.path().join("bundle")));
    let root = t.path().join("bundle/rootfs");
    assert_eq!(
        fs::read_to_string(root.join("usr/lib/libfix.so.1")).unwrap(),
        "libfix 1.0 patched\n"
    );
    assert_eq!(
        fs::read_link(root.join("etc/os-release")).unwrap(),
        Path::new("../usr/lib/os-release")
    );
    let status = fs::read_to_string(root.join("var/lib/dpkg/status.d/libfix")).unwrap();
    assert!(
        status.contains("Package: libfix\n") && status.contains("Version: 1.0-1+sec1\n"),
        "{status}"
    );
    assert!(!root.join("var/lib/dpkg/status").exists());
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert!(!root.join("bin/sh").exists());
}

#[test]
fn cache_prune_keeps_exactly_what_the_kept_locks_need() {
    if !tools(&["skopeo", "dpkg-deb", "apt-ftparchive", "gpg"]) {
        return;
    }
    let r = distribution();
    let t = scratch();
    let cache = t.path().join("cache");
    let app =
        r.spec(t.path(), "variant: distroless\npackages: [fixture-app]\narchitectures: [amd64]\n");
    let dir = t.path().join("small");
    fs::create_dir_all(&dir).unwrap();
    let small =
        r.spec(&dir, "variant: distroless\npackages: [base-files]\narchitectures: [amd64]\n");
    let (app_lock, small_lock) = (t.path().join("app.json"), t.path().join("small.json"));
    for (spec, lock) in [(&app, &app_lock), (&small, &small_lock)] {
        ok(mbi().arg("lock").arg(spec).arg("--cache-dir").arg(&cache).arg("--out").arg(lock));
    }
    let lock_arg = |l: &Path| l.to_str().unwrap().to_owned();
    let app_img =
        build(&app, &cache, &oci(&t.path().join("a"), "t"), &["--lock", &lock_arg(&app_lock)]);
    let small_img =
        build(&small, &cache, &oci(&t.path().join("s"), "t"), &["--lock", &lock_arg(&small_lock)]);
    let count = |sub: &str| fs::read_dir(cache.join(sub)).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count("debs/sha256"), 4);
    assert_eq!(count("unpacked"), 8, "data + record per package");

    let prune =
        |extra: &[&str]| ok(mbi().args(["cache", "prune", "--cache-dir"]).arg(&cache).args(extra));
    // Nothing is stale yet: the cached Release lists every index, every package is kept.
    assert_eq!(prune(&[]), "");
    // A dry run lists the three packages only the app needs, with their unpacked copies.
    let keep = ["--keep-lock", small_lock.to_str().unwrap()];
    let dry = prune(&[&keep[..], &["--dry-run"]].concat());
    assert_eq!(dry.lines().filter(|l| l.starts_with("unkept-package\t")).count(), 3, "{dry}");
    assert_eq!(dry.lines().filter(|l| l.starts_with("unpacked-without-package\t")).count(), 6);
    assert_eq!(count("debs/sha256"), 4, "a dry run removes nothing");
    assert_eq!(prune(&keep), dry);
    assert_eq!(count("debs/sha256"), 1);
    assert_eq!(count("unpacked"), 2);
    assert_eq!(prune(&keep), "", "nothing left to remove");

    // The kept lock still builds offline, to the same image.
    let again = digest_line(&ok(mbi()
        .args(["build", "--offline", "--lock", &lock_arg(&small_lock)])
        .arg(&small)
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--out", &oci(&t.path().join("s2"), "t")])));
    assert_eq!(again, small_img);
    // The other one cannot offline; online it downloads again and gives the same image.
    fails(
        mbi()
            .args(["build", "--offline", "--lock", &lock_arg(&app_lock)])
            .arg(&app)
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--out", &oci(&t.path().join("a2"), "t")]),
    );
    let back =
        build(&app, &cache, &oci(&t.path().join("a3"), "t"), &["--lock", &lock_arg(&app_lock)]);
    assert_eq!(back, app_img);

    // A lockfile that is not one is a one-line error, and nothing is removed.
    fs::write(t.path().join("bad.json"), "{}").unwrap();
    let (code, err) = fails(
        mbi()
            .args(["cache", "prune", "--cache-dir"])
            .arg(&cache)
            .arg("--keep-lock")
            .arg(t.path().join("bad.json")),
    );
    assert_eq!(code, 1);
    assert!(err.contains("bad.json") && err.trim().lines().count() == 1, "{err}");
    assert_eq!(count("debs/sha256"), 4);
}

#[test]
fn full_image_has_a_dpkg_database_and_multi_arch_builds_an_index() {
    if !tools(&["skopeo", "umoci", "dpkg", "dpkg-deb", "apt-ftparchive", "gpg"]) {
        return;
    }
    let r = distribution();
    let t = scratch();
    let cache = t.path().join("cache");
    let spec = r.spec(
        t.path(),
        "variant: essential\npackages: [fixture-app]\narchitectures: [amd64, arm64]\nscripts: emulate\nlayering: per-source\ncompression: zstd\n",
    );
    let out = t.path().join("oci");
    let digest = build(&spec, &cache, &oci(&out, "multi"), &[]);
    let index: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &oci(&out, "multi"),
    ])))
    .unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
    assert_eq!(digest, format!("sha256:{}", sha256_hex(&skopeo_raw_bytes(&oci(&out, "multi")))));

    // The same build straight to a registry: the same index, which skopeo reads there.
    if mbi_testkit::registry::registry_available() {
        let reg = TestRegistry::start(RegistryAuth::Anonymous).unwrap();
        let pushed = format!("docker://{}/base/fixture:multi", reg.host());
        assert_eq!(build(&spec, &cache, &pushed, &[]), digest);
        let raw = ok_bytes(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &pushed,
        ]));
        assert_eq!(raw, skopeo_raw_bytes(&oci(&out, "multi")));
    } else {
        eprintln!("SKIP (part): needs docker-registry for the docker:// build");
    }

    // Only amd64 this time, into another layout: an image, one layer per source package.
    let one = t.path().join("one");
    build(&spec, &cache, &oci(&one, "t"), &["--arch", "amd64"]);
    let m: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        &oci(&one, "t"),
    ])))
    .unwrap();
    assert!(m["layers"].as_array().unwrap().len() >= 4, "{m}");
    assert_eq!(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");

    // Debian's umoci (0.4) reads no zstd layers: mbi unpacks, dpkg checks.
    let root = t.path().join("b");
    ok(mbi().args(["unpack", "--rootless", &oci(&one, "t")]).arg(&root));
    let admin = root.join("var/lib/dpkg");
    let listed = ok(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Status}\n"]));
    for want in
        ["base-files 12.4 installed", "fixture-app 3.1-2 installed", "libfix 1.0-1+sec1 installed"]
    {
        assert!(listed.lines().any(|l| l == want), "{want} not in:\n{listed}");
    }
    let audit =
        ok(Command::new("dpkg").arg(format!("--admindir={}", admin.display())).arg("--audit"));
    assert_eq!(audit.trim(), "", "dpkg --audit: {audit}");
    let verify = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--verify", "libfix", "fixture-app"])
        .output()
        .unwrap();
    assert!(verify.status.success() && verify.stdout.is_empty(), "{verify:?}");
}

#[test]
fn refusals_are_one_clear_line() {
    if !tools(&["dpkg-deb", "apt-ftparchive", "gpg"]) {
        return;
    }
    let r = distribution();
    let t = scratch();
    let cache = t.path().join("cache");
    let out = oci(&t.path().join("never"), "t");

    // A package nobody has: the resolver explains.
    let spec = r.spec(t.path(), "variant: distroless\npackages: [no-such-package]\n");
    let (code, err) =
        fails(mbi().arg("build").arg(&spec).arg("--cache-dir").arg(&cache).args(["--out", &out]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no-such-package"), "{err}");
    assert!(!t.path().join("never").exists());

    // A lock from another spec.
    let spec = r.spec(t.path(), "variant: distroless\npackages: [libfix]\n");
    let lock = t.path().join("lock.json");
    ok(mbi().arg("lock").arg(&spec).arg("--cache-dir").arg(&cache).arg("--out").arg(&lock));
    let other = r.spec(t.path(), "variant: distroless\npackages: [fixture-app]\n");
    let (code, err) = fails(
        mbi()
            .arg("build")
            .arg(&other)
            .arg("--lock")
            .arg(&lock)
            .arg("--cache-dir")
            .arg(&cache)
            .args(["--out", &out]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("another spec"), "{err}");

    // A tampered .deb in the repository: refused before use (fresh cache).
    let d = Deb::new("libfix", "1.0-1+sec1");
    r.repo.tamper_deb("stable-security", "main", &d).unwrap();
    let (code, err) = fails(
        mbi()
            .arg("build")
            .arg(&spec)
            .arg("--cache-dir")
            .arg(t.path().join("cache2"))
            .args(["--out", &out]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.to_lowercase().contains("sha256") || err.contains("digest") || err.contains("size"),
        "{err}"
    );
    assert!(!t.path().join("never").exists());

    // Offline with an empty cache: says what is missing.
    let (code, err) = fails(
        mbi()
            .arg("build")
            .arg(&spec)
            .arg("--offline")
            .arg("--cache-dir")
            .arg(t.path().join("empty"))
            .args(["--out", &out]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cache"), "{err}");

    // A spec with a typo names the key and line.
    let bad = t.path().join("bad.yaml");
    fs::write(&bad, "variant: distroless\npackages: [a]\npakages: [b]\n").unwrap();
    let out2 = mbi().arg("lock").arg(&bad).args(["--out", "-"]).output().unwrap();
    let err = String::from_utf8_lossy(&out2.stderr);
    assert_ne!(out2.status.code(), Some(0));
    assert!(err.contains("pakages") && err.contains('3'), "{err}");
}

fn skopeo_raw_bytes(reference: &str) -> Vec<u8> {
    ok_bytes(Command::new("skopeo").args(["inspect", "--raw", reference]))
}

fn sha256_hex(bytes: &[u8]) -> String {
    mbi::core::Digest::sha256(bytes).hex().to_owned()
}
