//! `mbi` against the real tools: skopeo and umoci must accept everything mbi writes, mbi must
//! build on images they wrote, and copies and inspections must agree with skopeo's view.

mod cli_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use cli_support::*;
use mbi::core::transport::{self, ImageReference};
use mbi::core::{Digest, IndexBuilder, OciLayout};

const EPOCH: i64 = 1_650_000_000;

/// The standard fixture, with mtimes on both sides of [`EPOCH`].
fn fixture(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    create_tree(
        dir,
        &standard_items(),
        false,
        &|p| if p.starts_with("etc") { 1_500_000_000 } else { 1_700_000_000 },
        &|_| 1_700_000_000,
    );
}

fn expected(src: &Path) -> std::collections::BTreeMap<String, String> {
    describe(src, Describe { mtime_clamp: Some(EPOCH), ..Default::default() })
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> std::path::PathBuf {
    ok(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle));
    bundle.join("rootfs")
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    serde_json::from_str(&ok(Command::new("skopeo").args(["inspect", reference]))).unwrap()
}

fn skopeo_raw(reference: &str) -> Vec<u8> {
    ok_bytes(Command::new("skopeo").args(["inspect", "--raw", reference]))
}

/// A config as JSON, without the empty `config` object some writers add.
fn config_value(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    if v["config"] == serde_json::json!({}) {
        v.as_object_mut().unwrap().remove("config");
    }
    v
}

fn skopeo_config(reference: &str) -> Vec<u8> {
    ok_bytes(Command::new("skopeo").args(["inspect", "--config", "--raw", reference]))
}

#[test]
fn skopeo_and_umoci_accept_what_from_dir_writes() {
    if !tools(&["skopeo", "umoci"]) {
        return;
    }
    let t = scratch();
    let src = t.path().join("src");
    fixture(&src);
    let want = expected(&src);
    let want_links = hardlink_groups(&src);
    assert_eq!(want_links.len(), 2);

    for compression in ["gzip", "zstd", "none"] {
        let layout = t.path().join(format!("oci-{compression}"));
        let reference = oci(&layout, "t");
        let digest = digest_line(&ok(mbi().arg("from-dir").arg(&src).args([
            "--out",
            &reference,
            "--compression",
            compression,
            "--source-date-epoch",
            &EPOCH.to_string(),
            "--env",
            "PATH=/bin",
            "--label",
            "org.example=yes",
            "--entrypoint",
            "/bin/tool",
        ])));

        // skopeo reads it, and agrees on the digests.
        let raw = skopeo_raw(&reference);
        assert_eq!(Digest::sha256(&raw).to_string(), digest, "{compression}");
        let s = skopeo_inspect(&reference);
        let m = inspect(&reference);
        assert_eq!(m["digest"], digest);
        assert_eq!(s["Layers"][0], m["layers"][0]["digest"], "{compression}");
        assert_eq!(s["Env"], serde_json::json!(["PATH=/bin"]));
        assert_eq!(s["Labels"]["org.example"], "yes");
        let media = m["layers"][0]["mediaType"].as_str().unwrap().to_owned();
        match compression {
            "none" => assert!(media.ends_with(".tar"), "{media}"),
            c => assert!(media.ends_with(c), "{media}"),
        }

        // skopeo copies it, decompressing and recompressing every layer.
        let gz = t.path().join(format!("gz-{compression}"));
        ok(Command::new("skopeo")
            .args(["copy", "--dest-compress", "--dest-compress-format", "gzip"])
            .arg(&reference)
            .arg(oci(&gz, "t")));

        // umoci unpacks it (umoci 0.4.7 cannot read zstd: it unpacks skopeo's gzip copy).
        let from = if compression == "zstd" { &gz } else { &layout };
        let rootfs = umoci_unpack(from, "t", &t.path().join(format!("bundle-{compression}")));
        assert_same_tree(compression, "source", &want, "umoci", &expected(&rootfs));
        assert_eq!(hardlink_groups(&rootfs), want_links);

        // The archive transports, read back by skopeo.
        let archive =
            format!("oci-archive:{}:t", t.path().join(format!("{compression}.tar")).display());
        let d2 = digest_line(&ok(mbi().arg("from-dir").arg(&src).args([
            "--out",
            &archive,
            "--compression",
            compression,
            "--source-date-epoch",
            &EPOCH.to_string(),
            "--env",
            "PATH=/bin",
            "--label",
            "org.example=yes",
            "--entrypoint",
            "/bin/tool",
        ])));
        assert_eq!(d2, digest, "same image whatever the transport");
        assert_eq!(Digest::sha256(&skopeo_raw(&archive)).to_string(), digest);
    }
}

#[test]
fn every_docker_archive_loads_in_skopeo() {
    if !tools(&["skopeo", "umoci"]) {
        return;
    }
    let t = scratch();
    let src = t.path().join("src");
    fixture(&src);
    let want = expected(&src);
    for (i, compression) in ["gzip", "zstd", "none"].into_iter().enumerate() {
        // Written directly by from-dir, and copied from an OCI layout by `mbi copy`.
        let direct = t.path().join(format!("direct-{i}.tar"));
        ok(mbi().arg("from-dir").arg(&src).args(["--compression", compression]).args([
            "--source-date-epoch",
            &EPOCH.to_string(),
            "--out",
            &format!("docker-archive:{}:example.org/app:v{i}", direct.display()),
        ]));
        let layout = t.path().join(format!("layout-{i}"));
        ok(mbi().arg("from-dir").arg(&src).args(["--compression", compression]).args([
            "--source-date-epoch",
            &EPOCH.to_string(),
            "--out",
            &oci(&layout, "t"),
        ]));
        let copied = t.path().join(format!("copied-{i}.tar"));
        ok(mbi().args([
            "copy",
            &oci(&layout, "t"),
            &format!("docker-archive:{}", copied.display()),
        ]));

        for archive in [&direct, &copied] {
            let r = format!("docker-archive:{}", archive.display());
            let s = skopeo_inspect(&r);
            let m = inspect(&oci(&layout, "t"));
            // Docker archives hold uncompressed layers: skopeo lists them by diff_id.
            assert_eq!(s["Layers"][0], m["layers"][0]["diffId"], "{r}");
            let out = t.path().join(format!(
                "from-archive-{i}-{}",
                archive.file_name().unwrap().to_string_lossy()
            ));
            ok(Command::new("skopeo").args(["copy", &r, &oci(&out, "t")]));
            // skopeo re-serialises a docker config when it writes OCI (key order, an empty
            // "config": {}), so compare what the configs say, not their bytes.
            let theirs = config_value(&skopeo_config(&oci(&out, "t")));
            let ours = config_value(&skopeo_config(&oci(&layout, "t")));
            assert_eq!(theirs, ours, "{r}");
            let rootfs = umoci_unpack(&out, "t", &out.with_extension("bundle"));
            assert_same_tree(&r, "source", &want, "umoci", &expected(&rootfs));
        }
        // skopeo inspect does not show an archive's tags; `docker load` reads them from here.
        let manifest = ok(Command::new("tar").arg("-xOf").arg(&direct).arg("manifest.json"));
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!([format!("example.org/app:v{i}")]));
    }
}

/// mbi unpack and umoci unpack of the same image give the same tree (dir mtimes aside, which
/// umoci does not restore after later layers touch a directory).
fn assert_unpacks_like_umoci(layout: &Path, tag: &str, scratch_dir: &Path, name: &str) {
    let theirs = umoci_unpack(layout, tag, &scratch_dir.join(format!("{name}-umoci")));
    let ours = scratch_dir.join(format!("{name}-mbi"));
    ok(mbi().args(["unpack", "--rootless", &oci(layout, tag)]).arg(&ours));
    let how = Describe { mtime_clamp: Some(i64::MAX), skip_dir_mtimes: true, owners: false };
    assert_same_tree(name, "umoci", &describe(&theirs, how), "mbi", &describe(&ours, how));
    assert_eq!(hardlink_groups(&theirs), hardlink_groups(&ours), "{name}");
}

#[test]
fn builds_on_images_umoci_wrote() {
    if !tools(&["skopeo", "umoci"]) {
        return;
    }
    let t = scratch();
    let u = t.path().join("umoci");
    let base_files = t.path().join("base-files");
    fs::create_dir_all(base_files.join("sub")).unwrap();
    fs::write(base_files.join("removed"), "to be removed\n").unwrap();
    fs::write(base_files.join("kept"), "kept\n").unwrap();
    fs::write(base_files.join("sub/inner"), "inner\n").unwrap();
    let image = format!("{}:base", u.display());
    ok(Command::new("umoci").args(["init", "--layout"]).arg(&u));
    ok(Command::new("umoci").args(["new", "--image", &image]));
    ok(Command::new("umoci").args(["insert", "--image", &image]).arg(&base_files).arg("/etc"));
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.env",
        "FOO=bar",
        "--config.cmd",
        "/bin/true",
        "--config.label",
        "from=umoci",
    ]));
    let base = inspect(&oci(&u, "base"));

    let upper = t.path().join("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/added"), "added by mbi\n").unwrap();
    let out = t.path().join("out");
    ok(mbi().arg("from-dir").arg(&upper).args([
        "--base",
        &oci(&u, "base"),
        "--out",
        &oci(&out, "t"),
        "--env",
        "X=1",
        "--label",
        "top=mbi",
    ]));
    let m = inspect(&oci(&out, "t"));
    let base_layers = base["layers"].as_array().unwrap();
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base_layers.len() + 1);
    for (a, b) in base_layers.iter().zip(layers) {
        assert_eq!(a["digest"], b["digest"]);
        assert_eq!(a["diffId"], b["diffId"]);
    }
    let env = m["config"]["env"].as_array().unwrap();
    assert!(env.contains(&"FOO=bar".into()) && env.contains(&"X=1".into()), "{env:?}");
    assert_eq!(m["config"]["cmd"], serde_json::json!(["/bin/true"]));
    assert_eq!(m["config"]["labels"]["from"], "umoci");
    assert_eq!(m["config"]["labels"]["top"], "mbi");
    assert_eq!(m["annotations"]["org.opencontainers.image.base.digest"], base["digest"]);
    let history = m["history"].as_array().unwrap();
    assert_eq!(history.len(), base["history"].as_array().unwrap().len() + 1);
    assert_eq!(history.last().unwrap()["createdBy"], "mbi from-dir");

    skopeo_inspect(&oci(&out, "t"));
    assert_unpacks_like_umoci(&out, "t", t.path(), "on-umoci");
    let ours = t.path().join("on-umoci-mbi");
    assert_eq!(fs::read(ours.join("etc/kept")).unwrap(), b"kept\n");
    assert_eq!(fs::read(ours.join("etc/added")).unwrap(), b"added by mbi\n");

    // umoci adds whiteout and opaque layers on top of the mbi image; mbi unpacks them as
    // umoci does.
    let wimage = format!("{}:t", out.display());
    ok(Command::new("umoci").args(["insert", "--image", &wimage, "--whiteout", "/etc/removed"]));
    let opq = t.path().join("opaque-src");
    fs::create_dir_all(&opq).unwrap();
    fs::write(opq.join("only"), "only this\n").unwrap();
    ok(Command::new("umoci")
        .args(["insert", "--image", &wimage, "--opaque"])
        .arg(&opq)
        .arg("/etc/sub"));
    assert_unpacks_like_umoci(&out, "t", t.path(), "umoci-whiteouts");
    let ours = t.path().join("umoci-whiteouts-mbi");
    assert!(!ours.join("etc/removed").exists());
    assert!(!ours.join("etc/sub/inner").exists());
    assert_eq!(fs::read(ours.join("etc/sub/only")).unwrap(), b"only this\n");
}

#[test]
fn builds_on_images_skopeo_wrote() {
    if !tools(&["skopeo", "umoci"]) {
        return;
    }
    let t = scratch();
    let src = t.path().join("src");
    fixture(&src);
    let first = t.path().join("first");
    ok(mbi().arg("from-dir").arg(&src).args(["--out", &oci(&first, "t"), "--cmd", "/bin/tool"]));
    let upper = t.path().join("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/config"), "replaced\n").unwrap();

    // skopeo writes a docker archive (Docker schema2, uncompressed layers) and a zstd OCI copy.
    let docker = format!("docker-archive:{}:base/image:1", t.path().join("skopeo.tar").display());
    ok(Command::new("skopeo").args(["copy", &oci(&first, "t"), &docker]));
    let zstd = oci(&t.path().join("skopeo-zstd"), "t");
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-compress",
        "--dest-compress-format",
        "zstd",
        &oci(&first, "t"),
        &zstd,
    ]));
    for (name, base) in [("docker", docker.as_str()), ("zstd", zstd.as_str())] {
        let out = t.path().join(format!("on-{name}"));
        let d = digest_line(&ok(mbi().arg("from-dir").arg(&upper).args([
            "--base",
            base,
            "--out",
            &oci(&out, "t"),
        ])));
        let m = inspect(&oci(&out, "t"));
        assert_eq!(m["digest"], d);
        assert_eq!(m["layers"].as_array().unwrap().len(), 2, "{name}");
        assert_eq!(m["config"]["cmd"], serde_json::json!(["/bin/tool"]), "{name}");
        assert_eq!(m["layers"][0]["diffId"], inspect(&oci(&first, "t"))["layers"][0]["diffId"]);
        skopeo_inspect(&oci(&out, "t"));
        if name == "docker" {
            assert_unpacks_like_umoci(&out, "t", t.path(), "on-skopeo");
        }
        let rootfs = t.path().join(format!("unpacked-{name}"));
        ok(mbi().args(["unpack", &oci(&out, "t")]).arg(&rootfs));
        assert_eq!(fs::read(rootfs.join("etc/config")).unwrap(), b"replaced\n");
        assert_eq!(fs::read(rootfs.join("etc/secret")).unwrap(), b"s3cr3t\n");
        assert_eq!(fs::read_link(rootfs.join("lib")).unwrap(), Path::new("usr/lib"));
    }
}

#[test]
fn copy_round_trip_keeps_the_config() {
    if !tools(&["skopeo"]) {
        return;
    }
    let t = scratch();
    let src = t.path().join("src");
    fixture(&src);
    let a = oci(&t.path().join("a"), "t");
    let first = digest_line(&ok(mbi().arg("from-dir").arg(&src).args([
        "--out",
        &a,
        "--compression",
        "zstd",
    ])));
    let start = inspect(&a);
    let b = format!("oci-archive:{}:t", t.path().join("b.tar").display());
    let c = format!("docker-archive:{}:example/round:trip", t.path().join("c.tar").display());
    let d = oci(&t.path().join("d"), "back");
    assert_eq!(digest_line(&ok(mbi().args(["copy", &a, &b]))), first);
    ok(mbi().args(["copy", &b, &c]));
    ok(mbi().args(["copy", &c, &d]));
    for r in [&a, &b, &c, &d] {
        let m = inspect(r);
        assert_eq!(m["config"]["digest"], start["config"]["digest"], "{r}");
        assert_eq!(Digest::sha256(&skopeo_config(r)).to_string(), start["config"]["digest"], "{r}");
        let diff_ids: Vec<_> =
            m["layers"].as_array().unwrap().iter().map(|l| l["diffId"].clone()).collect();
        assert_eq!(diff_ids, [start["layers"][0]["diffId"].clone()], "{r}");
        assert_eq!(m["history"], start["history"], "{r}");
    }
    // The OCI archive holds the very manifest; the docker archive stores the layer uncompressed.
    assert_eq!(inspect(&b)["digest"], first);
    assert_eq!(inspect(&d)["layers"][0]["digest"], start["layers"][0]["diffId"]);

    // Archives are byte-identical however often they are written.
    let b2 = t.path().join("b2.tar");
    ok(mbi().args(["copy", &a, &format!("oci-archive:{}:t", b2.display())]));
    assert_eq!(fs::read(t.path().join("b.tar")).unwrap(), fs::read(&b2).unwrap());
    let c2 = t.path().join("c2.tar");
    ok(mbi().args(["copy", &a, &format!("docker-archive:{}:example/round:trip", c2.display())]));
    assert_eq!(fs::read(t.path().join("c.tar")).unwrap(), fs::read(&c2).unwrap());
}

#[test]
fn inspect_agrees_with_skopeo_for_images_and_indexes() {
    if !tools(&["skopeo"]) {
        return;
    }
    let t = scratch();
    let src = t.path().join("src");
    fixture(&src);
    let layout = t.path().join("multi");
    for (tag, platform) in [("amd", "linux/amd64"), ("arm", "linux/arm64/v8")] {
        ok(mbi().arg("from-dir").arg(&src).args([
            "--out",
            &oci(&layout, tag),
            "--platform",
            platform,
            "--user",
            "1000:1000",
            "--workdir",
            "/srv",
            "--expose",
            "8080",
            "--volume",
            "/data",
            "--stop-signal",
            "SIGINT",
            "--annotation",
            "org.example.note=hi",
            "--cmd",
            r#"["/bin/tool","--flag"]"#,
        ]));
    }
    let amd = oci(&layout, "amd");
    let m = inspect(&amd);
    let raw = ok_bytes(mbi().args(["inspect", "--raw", &amd]));
    assert_eq!(raw, skopeo_raw(&amd));
    assert_eq!(Digest::sha256(&raw).to_string(), m["digest"]);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["digest"], m["config"]["digest"]);
    assert_eq!(manifest["layers"][0]["digest"], m["layers"][0]["digest"]);
    assert_eq!(manifest["layers"][0]["size"], m["layers"][0]["size"]);
    assert_eq!(manifest["annotations"], serde_json::to_value(&m["annotations"]).unwrap());
    let config = ok_bytes(mbi().args(["inspect", "--config", &amd]));
    assert_eq!(config, skopeo_config(&amd));
    let cfg: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(cfg["rootfs"]["diff_ids"][0], m["layers"][0]["diffId"]);
    let s = skopeo_inspect(&amd);
    assert_eq!(s["Architecture"], m["platform"]["architecture"]);
    assert_eq!(s["Os"], m["platform"]["os"]);
    assert_eq!(m["config"]["user"], "1000:1000");
    assert_eq!(m["config"]["workingDir"], "/srv");
    assert_eq!(m["config"]["exposedPorts"], serde_json::json!(["8080/tcp"]));
    assert_eq!(m["config"]["volumes"], serde_json::json!(["/data"]));
    assert_eq!(m["config"]["stopSignal"], "SIGINT");
    assert_eq!(m["config"]["cmd"], serde_json::json!(["/bin/tool", "--flag"]));
    assert_eq!(m["annotations"]["org.example.note"], "hi");
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["/bin/tool", "--flag"]));

    // An index of the two images, made with the library.
    let l = OciLayout::open(&layout).unwrap();
    let image = |tag: &str| {
        let r: ImageReference = oci(&layout, tag).parse().unwrap();
        transport::open(&r).unwrap().image(None).unwrap()
    };
    let (ia, ib) = (image("amd"), image("arm"));
    let index = IndexBuilder::new().add(&ia).add(&ib).build(&l).unwrap();
    l.tag("multi", index.descriptor()).unwrap();
    let multi = oci(&layout, "multi");
    let mi = inspect(&multi);
    assert_eq!(mi["kind"], "index");
    assert_eq!(mi["digest"], index.digest().to_string());
    assert_eq!(ok_bytes(mbi().args(["inspect", "--raw", &multi])), skopeo_raw(&multi));
    let entries = mi["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["platform"]["architecture"], "amd64");
    assert_eq!(entries[1]["platform"]["architecture"], "arm64");
    assert_eq!(entries[1]["platform"]["variant"], "v8");
    assert_eq!(entries[1]["digest"], ib.digest().to_string());
    let arm = serde_json::from_str::<serde_json::Value>(&ok(mbi().args([
        "inspect",
        "--platform",
        "linux/arm64",
        &multi,
    ])))
    .unwrap();
    assert_eq!(arm["digest"], ib.digest().to_string());
    assert_eq!(
        ok_bytes(mbi().args(["inspect", "--raw", "--platform", "linux/arm64", &multi])),
        skopeo_raw(&oci(&layout, "arm"))
    );

    // Copying an index: whole (--all), or one platform (the host's by default, as skopeo).
    let all = format!("oci-archive:{}:m", t.path().join("all.tar").display());
    assert_eq!(
        digest_line(&ok(mbi().args(["copy", "--all", &multi, &all]))),
        index.digest().to_string()
    );
    assert_eq!(Digest::sha256(&skopeo_raw(&all)).to_string(), index.digest().to_string());
    let one = format!("docker-archive:{}:example/arm:1", t.path().join("arm.tar").display());
    let (code, line) = fails(mbi().args(["copy", "--all", &multi, &one]));
    assert_eq!(code, 1);
    assert!(line.contains("platform"), "{line}");
    assert!(!t.path().join("arm.tar").exists());
    let host = mbi::core::Platform::host().architecture;
    if ["amd64", "arm64"].contains(&host.as_str()) {
        ok(mbi().args(["copy", &multi, &one]));
        assert_eq!(skopeo_inspect(&one)["Architecture"], host.as_str());
    }
    ok(mbi().args(["copy", "--platform", "linux/arm64", &multi, &one]));
    assert_eq!(skopeo_inspect(&one)["Architecture"], "arm64");
    let (_, line) = fails(mbi().args(["unpack", &multi]).arg(t.path().join("nowhere")));
    assert!(line.contains("linux/amd64") && line.contains("linux/arm64"), "{line}");
    assert!(!t.path().join("nowhere").exists());
}

/// The same content, created in reverse order with other mtimes (all after the epoch) and atimes, built under another
/// umask, time zone, locale, temp dir and thread count, gives the same manifest digest.
#[test]
fn from_dir_is_reproducible_whatever_the_environment() {
    let t = scratch();
    let build =
        |src: &Path, env: &[(&str, &str)], umask: &str, threads: &str, compression: &str| {
            let out =
                t.path().join(format!("out-{}", env.len() + threads.len() + compression.len()));
            let _ = fs::remove_dir_all(&out);
            let exe = env!("CARGO_BIN_EXE_mbi");
            let script = format!(
                "umask {umask} && exec \"$0\" from-dir \"$1\" --out \"$2\" --threads {threads} \
             --compression {compression} --source-date-epoch {EPOCH}"
            );
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &script, exe]).arg(src).arg(oci(&out, "t"));
            cmd.env_remove("SOURCE_DATE_EPOCH");
            for (k, v) in env {
                cmd.env(k, v);
            }
            digest_line(&ok(&mut cmd))
        };
    let a = t.path().join("a");
    let b = t.path().join("b");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    create_tree(&a, &standard_items(), false, &|_| 1_700_000_000, &|_| 1_600_000_000);
    create_tree(&b, &standard_items(), true, &|_| 1_800_000_000, &|_| 1_234_567_890);
    let tmp2 = t.path().join("tmp2");
    fs::create_dir_all(&tmp2).unwrap();
    for compression in ["gzip", "zstd"] {
        let first = build(&a, &[("TZ", "UTC"), ("LC_ALL", "C")], "022", "1", compression);
        let second = build(
            &b,
            &[
                ("TZ", "Pacific/Kiritimati"),
                ("LC_ALL", "C.UTF-8"),
                ("TMPDIR", tmp2.to_str().unwrap()),
            ],
            "077",
            "2",
            compression,
        );
        assert_eq!(first, second, "{compression}");
    }
}
