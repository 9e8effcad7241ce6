//! mbi-core's output checked with the real tools: skopeo (inspect, copy) and umoci (unpack),
//! and archives written by skopeo read back by mbi. Each test skips, saying so, if a tool is
//! missing.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{have, run, sample_image, skopeo, tmpdir};
use mbi_core::transport::{self, CopyOptions, DockerArchiveImage, ImageReference, ReadOptions};
use mbi_core::{
    BlobStore, Compression, Error, Image, ImageOrIndex, IndexBuilder, ManifestFormat, MediaType,
    MemoryStore, OciLayout, Platform,
};
use serde_json::Value;

const ALL: [(&str, Compression); 3] =
    [("none", Compression::None), ("gzip", Compression::Gzip), ("zstd", Compression::Zstd)];

fn r(s: String) -> ImageReference {
    s.parse().unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A member of a tar file, read with the tar crate.
fn tar_member(archive: &Path, name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(fs::File::open(archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == name.as_bytes() {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            return v;
        }
    }
    panic!("{name} not in {}", archive.display())
}

/// The rootfs the sample image unpacks to, checked file by file.
fn check_rootfs(rootfs: &Path) {
    assert_eq!(fs::read(rootfs.join("etc/hello")).unwrap(), b"hello from mbi\n");
    assert_eq!(fs::read(rootfs.join("bin/tool")).unwrap(), b"#!/bin/sh\necho tool\n");
    let data = rootfs.join("srv/data");
    assert_eq!(fs::read(&data).unwrap(), vec![7u8; 3000]);
    assert_eq!(fs::metadata(&data).unwrap().permissions().mode() & 0o7777, 0o600);
    assert_eq!(fs::metadata(rootfs.join("bin/tool")).unwrap().permissions().mode() & 0o7777, 0o755);
    assert_eq!(fs::read_link(rootfs.join("srv/link")).unwrap(), Path::new("data"));
}

fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) {
    run(std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle));
    check_rootfs(&bundle.join("rootfs"));
    // umoci turns the image config into a runtime config: check it carried through.
    let rt = json(&fs::read(bundle.join("config.json")).unwrap());
    assert_eq!(rt["process"]["args"], serde_json::json!(["/bin/tool", "--flag"]));
    assert_eq!(rt["process"]["cwd"], "/srv");
    assert!(rt["process"]["env"].as_array().unwrap().iter().any(|e| e == "GREETING=hello world"));
}

#[test]
fn oci_layout_is_accepted_by_skopeo_and_umoci() {
    if !have("skopeo") {
        return;
    }
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("layout")).unwrap();
    for (tag, c) in ALL {
        let img = sample_image(&layout, c, Platform::linux("amd64"));
        layout.tag(tag, img.descriptor()).unwrap();
        let src = format!("oci:{}:{tag}", layout.path().display());

        let raw = run(skopeo(dir.path()).args(["inspect", "--raw", &src]));
        assert_eq!(raw, img.manifest_bytes(), "skopeo sees our manifest bytes ({tag})");
        let raw_config = run(skopeo(dir.path()).args(["inspect", "--config", "--raw", &src]));
        assert_eq!(raw_config, img.config_bytes());
        let info = json(&run(skopeo(dir.path()).args(["inspect", &src])));
        assert_eq!(info["Digest"], img.digest().to_string());
        assert_eq!(info["Architecture"], "amd64");
        assert_eq!(info["Os"], "linux");
        assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
        assert_eq!(info["Labels"]["org.opencontainers.image.title"], "sample");
        let layers: Vec<String> =
            img.layers().iter().map(|l| l.descriptor.digest.to_string()).collect();
        assert_eq!(info["Layers"], serde_json::json!(layers));
        assert_eq!(
            info["Env"],
            serde_json::json!(["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello world"])
        );

        // skopeo copies it to another layout without changing a byte of the manifest.
        let copy = dir.path().join(format!("copy-{tag}"));
        run(skopeo(dir.path()).args([
            "copy",
            "--preserve-digests",
            &src,
            &format!("oci:{}:{tag}", copy.display()),
        ]));
        let copied = OciLayout::open(&copy).unwrap();
        let d = copied.resolve(tag).unwrap();
        assert_eq!(d.digest, *img.digest());
        assert_eq!(Image::load(&copied, &d).unwrap().manifest_bytes(), img.manifest_bytes());

        // umoci 0.4.7 does not know zstd layers; it unpacks the others.
        if c != Compression::Zstd && have("umoci") {
            umoci_unpack(layout.path(), tag, &dir.path().join(format!("bundle-{tag}")));
        }
    }
    // The layout as a whole passes skopeo after all three tags were added.
    assert_eq!(layout.tags().unwrap().len(), 3);
}

#[test]
fn docker_schema2_images_are_accepted_by_skopeo() {
    if !have("skopeo") {
        return;
    }
    // skopeo 1.9 only looks at OCI media types in a layout's index.json, so a Docker schema2
    // image is checked through a docker archive written from an in-memory store.
    let dir = tmpdir();
    let store = MemoryStore::new();
    let base = sample_image(&store, Compression::Gzip, Platform::linux("amd64"));
    let img = mbi_core::ImageBuilder::from_image(&base)
        .format(ManifestFormat::Docker)
        .build(&store)
        .unwrap();
    assert_eq!(img.media_type(), &MediaType::DockerManifest);
    assert!(img.layers().iter().all(|l| l.descriptor.media_type == MediaType::DockerLayerGzip));
    assert!(img.annotations().is_empty());
    let archive = dir.path().join("d.tar");
    transport::write(
        &r(format!("docker-archive:{}:d:1", archive.display())),
        &store,
        img.descriptor(),
    )
    .unwrap();
    let raw_config = run(skopeo(dir.path()).args([
        "inspect",
        "--config",
        "--raw",
        &format!("docker-archive:{}", archive.display()),
    ]));
    assert_eq!(raw_config, img.config_bytes());
}

#[test]
fn multi_platform_index() {
    if !have("skopeo") {
        return;
    }
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("layout")).unwrap();
    let amd = sample_image(&layout, Compression::Gzip, Platform::linux("amd64"));
    let arm = sample_image(&layout, Compression::Zstd, "linux/arm64/v8".parse().unwrap());
    let index =
        IndexBuilder::new().add(&amd).add(&arm).created(1_700_000_000).build(&layout).unwrap();
    layout.tag("multi", index.descriptor()).unwrap();
    let src = format!("oci:{}:multi", layout.path().display());
    assert_eq!(run(skopeo(dir.path()).args(["inspect", "--raw", &src])), index.bytes());

    // skopeo copies the whole index byte for byte.
    let all = dir.path().join("all");
    run(skopeo(dir.path()).args(["copy", "--all", &src, &format!("oci:{}:multi", all.display())]));
    let d = OciLayout::open(&all).unwrap().resolve("multi").unwrap();
    assert_eq!(d.digest, *index.digest());

    // mbi: one platform, or all, or an error naming the choice.
    let arm_only = r(format!("oci:{}:arm", dir.path().join("arm").display()));
    let opts = CopyOptions { platform: Some("linux/arm64".parse().unwrap()), all: false };
    let written = transport::copy(&r(src.clone()), &arm_only, &opts).unwrap();
    assert_eq!(written.digest, *arm.digest());
    let archive = dir.path().join("all.tar");
    let written = transport::copy(
        &r(src.clone()),
        &r(format!("oci-archive:{}:multi", archive.display())),
        &CopyOptions { platform: None, all: true },
    )
    .unwrap();
    assert_eq!(written.digest, *index.digest());
    let raw = run(skopeo(dir.path()).args([
        "inspect",
        "--raw",
        &format!("oci-archive:{}:multi", archive.display()),
    ]));
    assert_eq!(raw, index.bytes());
    let da = r(format!("docker-archive:{}", dir.path().join("d.tar").display()));
    assert!(matches!(
        transport::copy(&r(src.clone()), &da, &CopyOptions::default()),
        Err(Error::Selection { .. })
    ));
    assert!(matches!(
        transport::copy(&r(src.clone()), &da, &CopyOptions { platform: None, all: true }),
        Err(Error::Unsupported { .. })
    ));
    let s390 = CopyOptions { platform: Some("linux/s390x".parse().unwrap()), all: false };
    assert!(matches!(transport::copy(&r(src), &da, &s390), Err(Error::Selection { .. })));
}

#[test]
fn docker_archives_load_in_skopeo() {
    if !have("skopeo") {
        return;
    }
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("layout")).unwrap();
    for (tag, c) in ALL {
        let img = sample_image(&layout, c, Platform::linux("amd64"));
        layout.tag(tag, img.descriptor()).unwrap();
        let archive = dir.path().join(format!("{tag}.tar"));
        let dst =
            r(format!("docker-archive:{}:example.com:5000/team/app:{tag}", archive.display()));
        transport::copy(
            &r(format!("oci:{}:{tag}", layout.path().display())),
            &dst,
            &CopyOptions::default(),
        )
        .unwrap();

        // What docker load reads: manifest.json, the config verbatim, uncompressed layers
        // named by diff_id.
        let info = json(&run(skopeo(dir.path()).args(["inspect", &dst.to_string()])));
        let listing = tar_member(&archive, "manifest.json");
        assert_eq!(
            json(&listing)[0]["RepoTags"],
            serde_json::json!([format!("example.com:5000/team/app:{tag}")])
        );
        let diff_ids: Vec<String> = img.layers().iter().map(|l| l.diff_id.to_string()).collect();
        assert_eq!(info["Layers"], serde_json::json!(diff_ids), "uncompressed layers ({tag})");
        let raw_config =
            run(skopeo(dir.path()).args(["inspect", "--config", "--raw", &dst.to_string()]));
        assert_eq!(raw_config, img.config_bytes());

        // skopeo copies it into a layout (re-serialising the config, as it converts to OCI),
        // and umoci unpacks that.
        let out = dir.path().join(format!("from-{tag}"));
        run(skopeo(dir.path()).args([
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:x", out.display()),
        ]));
        let back = json(&run(skopeo(dir.path()).args([
            "inspect",
            "--config",
            "--raw",
            &format!("oci:{}:x", out.display()),
        ])));
        let ours = json(img.config_bytes());
        assert_eq!(back["rootfs"], ours["rootfs"]);
        assert_eq!(back["config"], ours["config"]);
        if have("umoci") {
            umoci_unpack(&out, "x", &dir.path().join(format!("bundle-{tag}")));
        }

        // mbi reads its own archive back to the same config.
        let again = transport::open(&dst).unwrap().image(None).unwrap();
        assert_eq!(again.config_bytes(), img.config_bytes());
        assert!(again.layers().iter().all(|l| l.descriptor.media_type == MediaType::OciLayer));
    }
}

#[test]
fn podman_loads_docker_archives() {
    if !have("podman") {
        return;
    }
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("layout")).unwrap();
    let img = sample_image(&layout, Compression::Zstd, Platform::linux("amd64"));
    layout.tag("t", img.descriptor()).unwrap();
    let archive = dir.path().join("p.tar");
    transport::copy(
        &r(format!("oci:{}:t", layout.path().display())),
        &r(format!("docker-archive:{}:localhost/mbi-test/podman:t", archive.display())),
        &CopyOptions::default(),
    )
    .unwrap();
    let root = dir.path().join("storage");
    let runroot = dir.path().join("run");
    let podman = |args: &[&str]| {
        let mut c = std::process::Command::new("podman");
        c.arg("--root").arg(&root).arg("--runroot").arg(&runroot).args(["--storage-driver", "vfs"]);
        c.args(args);
        c
    };
    let out =
        String::from_utf8(run(&mut podman(&["load", "-i", archive.to_str().unwrap()]))).unwrap();
    assert!(out.contains("localhost/mbi-test/podman:t"), "{out}");
    let id = String::from_utf8(run(&mut podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "localhost/mbi-test/podman:t",
    ])))
    .unwrap();
    // podman's image ID is the config digest: the config went through unchanged.
    assert_eq!(id.trim(), img.config_descriptor().digest.hex());
}

#[test]
fn reads_archives_skopeo_wrote() {
    if !have("skopeo") {
        return;
    }
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("layout")).unwrap();
    let img = sample_image(&layout, Compression::Gzip, Platform::linux("amd64"));
    layout.tag("t", img.descriptor()).unwrap();
    let src = format!("oci:{}:t", layout.path().display());

    // docker-archive written by skopeo (with its legacy layer directories and symlinks).
    let da = dir.path().join("skopeo-docker.tar");
    run(skopeo(dir.path()).args([
        "copy",
        &src,
        &format!("docker-archive:{}:quay.io/a/b:v1", da.display()),
    ]));
    for reference in [
        format!("docker-archive:{}", da.display()),
        format!("docker-archive:{}:quay.io/a/b:v1", da.display()),
        format!("docker-archive:{}:@0", da.display()),
    ] {
        let source = transport::open(&r(reference)).unwrap();
        let got = source.image(None).unwrap();
        assert_eq!(got.config_bytes(), img.config_bytes());
        let diff: Vec<_> = got.layers().iter().map(|l| l.diff_id.clone()).collect();
        let want: Vec<_> = img.layers().iter().map(|l| l.diff_id.clone()).collect();
        assert_eq!(diff, want);
        // Uncompressed layers: the blob digest is the diff_id.
        assert!(got.layers().iter().all(|l| l.descriptor.digest == l.diff_id));
    }
    let missing = r(format!("docker-archive:{}:quay.io/a/b:v2", da.display()));
    assert!(matches!(transport::open(&missing), Err(Error::NotFound { .. })));
    assert!(matches!(
        transport::open(&r(format!("docker-archive:{}:@1", da.display()))),
        Err(Error::Selection { .. })
    ));

    // Imported into a layout, the image unpacks with umoci.
    let imported = dir.path().join("imported");
    transport::copy(
        &r(format!("docker-archive:{}", da.display())),
        &r(format!("oci:{}:in", imported.display())),
        &CopyOptions::default(),
    )
    .unwrap();
    if have("umoci") {
        umoci_unpack(&imported, "in", &dir.path().join("bundle"));
    }

    // oci-archive written by skopeo: the same manifest, byte for byte.
    let oa = dir.path().join("skopeo-oci.tar");
    run(skopeo(dir.path()).args(["copy", &src, &format!("oci-archive:{}:v1", oa.display())]));
    let store = MemoryStore::new();
    let got = transport::read(
        &r(format!("oci-archive:{}:v1", oa.display())),
        &store,
        &ReadOptions::default(),
    )
    .unwrap();
    let ImageOrIndex::Image(got) = got else { panic!("expected an image") };
    assert_eq!(got.manifest_bytes(), img.manifest_bytes());
    for l in got.layers() {
        assert!(store.contains(&l.descriptor.digest).unwrap());
    }
    // And mbi's own oci-archive reads in skopeo to the same manifest.
    let ours = dir.path().join("ours.tar");
    transport::write(&r(format!("oci-archive:{}:v1", ours.display())), &layout, img.descriptor())
        .unwrap();
    let raw = run(skopeo(dir.path()).args([
        "inspect",
        "--raw",
        &format!("oci-archive:{}:v1", ours.display()),
    ]));
    assert_eq!(raw, img.manifest_bytes());
}

#[test]
fn archives_are_deterministic() {
    let a = tmpdir();
    let b = tempfile::tempdir().unwrap(); // another filesystem, another temp path
    let mut outputs = Vec::new();
    for (i, dir) in [a.path(), b.path()].into_iter().enumerate() {
        // One source is a layout on disk, the other an in-memory store.
        let layout;
        let mem = MemoryStore::new();
        let store: &dyn BlobStore = if i == 0 {
            layout = OciLayout::create(dir.join("l")).unwrap();
            &layout
        } else {
            &mem
        };
        let img = sample_image(store, Compression::Zstd, Platform::linux("amd64"));
        let oa = dir.join("o.tar");
        let da = dir.join("d.tar");
        transport::write(&r(format!("oci-archive:{}:t", oa.display())), store, img.descriptor())
            .unwrap();
        transport::write(
            &r(format!("docker-archive:{}:x/y:z", da.display())),
            store,
            img.descriptor(),
        )
        .unwrap();
        outputs.push((fs::read(&oa).unwrap(), fs::read(&da).unwrap()));
        // Nothing but the archives is left behind.
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        let expect: Vec<std::ffi::OsString> = if i == 0 {
            vec!["d.tar".into(), "l".into(), "o.tar".into()]
        } else {
            vec!["d.tar".into(), "o.tar".into()]
        };
        assert_eq!(names, expect);
    }
    assert!(outputs[0].0 == outputs[1].0, "oci-archive bytes differ");
    assert!(outputs[0].1 == outputs[1].1, "docker-archive bytes differ");
    // Every entry has mtime 0 and owner 0:0, in sorted order.
    for bytes in [&outputs[0].0, &outputs[0].1] {
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut last = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let p = e.path_bytes().into_owned();
            assert!(p > last, "entries not sorted");
            last = p;
        }
    }
}

#[test]
fn docker_archive_index_reference_cannot_be_a_destination() {
    let dir = tmpdir();
    let layout = OciLayout::create(dir.path().join("l")).unwrap();
    let img = sample_image(&layout, Compression::None, Platform::linux("amd64"));
    let dst = r(format!("docker-archive:{}:@0", dir.path().join("x.tar").display()));
    assert!(matches!(
        dst,
        ImageReference::DockerArchive { image: Some(DockerArchiveImage::Index(0)), .. }
    ));
    assert!(matches!(
        transport::write(&dst, &layout, img.descriptor()),
        Err(Error::InvalidReference { .. })
    ));
}
