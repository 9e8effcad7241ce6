//! Hostile and broken inputs give typed errors, never panics, and never write outside the
//! destination.

mod common;

use std::fs;
use std::path::Path;

use common::{Node, sample_image, tar_layer, tmpdir};
use mbi_core::manifest::{MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES};
use mbi_core::transport::{self, CopyOptions, ImageReference, ReadOptions};
use mbi_core::{
    BlobStore, Compression, Descriptor, Digest, Error, Image, ImageOrIndex, Index, MediaType,
    MemoryStore, OciLayout, Platform,
};

fn r(s: String) -> ImageReference {
    s.parse().unwrap()
}

/// A tar with the given raw (name, bytes) members; names are written verbatim (GNU long-name
/// headers for long ones), so `../x` and `/x` can be expressed.
fn raw_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        let field = &mut h.as_old_mut().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.extend(std::iter::repeat_n(0u8, (512 - data.len() % 512) % 512));
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn oci_archive_bytes(dir: &Path) -> (Vec<u8>, Image) {
    let store = MemoryStore::new();
    let img = sample_image(&store, Compression::Gzip, Platform::linux("amd64"));
    let p = dir.join("good.tar");
    transport::write(&r(format!("oci-archive:{}:t", p.display())), &store, img.descriptor())
        .unwrap();
    (fs::read(&p).unwrap(), img)
}

#[test]
fn corrupted_blobs_and_documents() {
    let store = MemoryStore::new();
    let img = sample_image(&store, Compression::None, Platform::linux("amd64"));

    // A descriptor whose digest does not match the bytes stored under another digest.
    let mut wrong = img.descriptor().clone();
    wrong.size += 1;
    assert!(matches!(Image::load(&store, &wrong), Err(Error::SizeMismatch { .. })));
    let missing = Descriptor::of_bytes(MediaType::OciManifest, b"{}");
    assert!(matches!(Image::load(&store, &missing), Err(Error::BlobNotFound(_))));

    // Bytes that do not hash to the descriptor's digest (from_parts does no store lookup).
    let mut tampered = img.manifest_bytes().to_vec();
    tampered[10] ^= 1;
    assert!(matches!(
        Image::from_parts(img.descriptor().clone(), tampered, img.config_bytes().to_vec()),
        Err(Error::DigestMismatch { .. })
    ));

    // Stored, correctly described, but not JSON / not a manifest.
    for doc in [
        &b"not json"[..],
        b"[]",
        b"{\"schemaVersion\":2}",
        b"{\"schemaVersion\":2,\"config\":{},\"layers\":[]}",
    ] {
        let (d, n) = store.put_bytes(doc).unwrap();
        let desc = Descriptor::new(MediaType::OciManifest, d, n);
        let e = Image::load(&store, &desc).unwrap_err();
        assert!(matches!(e, Error::Document { .. } | Error::Invalid { .. }), "{e}");
        let e =
            Index::load(&store, &Descriptor { media_type: MediaType::OciIndex, ..desc.clone() })
                .unwrap_err();
        assert!(matches!(e, Error::Document { .. } | Error::Invalid { .. }), "{e}");
    }

    // A manifest whose config lists another number of diff_ids than it has layers.
    let cfg = String::from_utf8(img.config_bytes().to_vec()).unwrap();
    let cfg = cfg.replacen("\"diff_ids\":[", "\"diff_ids\":[\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",", 1);
    let (cd, cn) = store.put_bytes(cfg.as_bytes()).unwrap();
    let man = String::from_utf8(img.manifest_bytes().to_vec())
        .unwrap()
        .replace(&img.config_descriptor().digest.to_string(), &cd.to_string())
        .replace(&format!("\"size\":{}", img.config_descriptor().size), &format!("\"size\":{cn}"));
    let (md, mn) = store.put_bytes(man.as_bytes()).unwrap();
    let e = Image::load(&store, &Descriptor::new(MediaType::OciManifest, md, mn)).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("diff_ids"), "{e}");
}

#[test]
fn huge_documents_are_refused_before_reading() {
    let store = MemoryStore::new();
    let big = vec![b' '; (MAX_MANIFEST_BYTES + 1) as usize];
    let (d, n) = store.put_bytes(&big).unwrap();
    let e =
        Image::load(&store, &Descriptor::new(MediaType::OciManifest, d.clone(), n)).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    // A descriptor claiming a huge size is refused without touching the store.
    let claim = Descriptor::new(MediaType::OciManifest, Digest::sha256(b"x"), u64::MAX);
    assert!(matches!(ImageOrIndex::load(&store, &claim), Err(Error::TooLarge { .. })));
    let cfg = Descriptor::new(MediaType::OciConfig, d, MAX_CONFIG_BYTES + 1);
    assert!(matches!(
        mbi_core::manifest::read_document(&store, &cfg, MAX_CONFIG_BYTES),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn broken_layouts() {
    let dir = tmpdir();
    let root = dir.path().join("l");
    let layout = OciLayout::create(&root).unwrap();
    let img = sample_image(&layout, Compression::Gzip, Platform::linux("amd64"));
    layout.tag("t", img.descriptor()).unwrap();
    let src = r(format!("oci:{}:t", root.display()));

    // Corrupt a layer blob on disk: copying detects it.
    let layer = layout.dir_store().path(&img.layers()[1].descriptor.digest);
    let mut bytes = fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::remove_file(&layer).unwrap();
    fs::write(&layer, &bytes).unwrap();
    let e = transport::copy(
        &src,
        &r(format!("oci:{}:t", dir.path().join("out").display())),
        &CopyOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    let e = transport::write(
        &r(format!("oci-archive:{}", dir.path().join("o.tar").display())),
        &layout,
        img.descriptor(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(!dir.path().join("o.tar").exists(), "no half-written archive");
    let e = transport::write(
        &r(format!("docker-archive:{}", dir.path().join("d.tar").display())),
        &layout,
        img.descriptor(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Stream { .. } | Error::DigestMismatch { .. }), "{e}");
    assert!(!dir.path().join("d.tar").exists(), "no half-written archive");

    // Bad index.json and oci-layout files.
    fs::write(
        root.join("index.json"),
        b"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:../../etc\"}]}",
    )
    .unwrap();
    assert!(matches!(transport::open(&src), Err(Error::Document { .. })));
    fs::write(root.join("index.json"), b"{\"schemaVersion\":1,\"manifests\":[]}").unwrap();
    assert!(matches!(transport::open(&src), Err(Error::InvalidLayout { .. })));
    fs::write(root.join("oci-layout"), b"{\"imageLayoutVersion\":\"2.0.0\"}").unwrap();
    assert!(matches!(OciLayout::open(&root), Err(Error::InvalidLayout { .. })));
    fs::write(root.join("oci-layout"), b"garbage").unwrap();
    assert!(matches!(OciLayout::open(&root), Err(Error::InvalidLayout { .. })));
    let nothing = r(format!("oci:{}", dir.path().join("absent").display()));
    assert!(matches!(transport::open(&nothing), Err(Error::InvalidLayout { .. })));
}

#[test]
fn broken_oci_archives() {
    let dir = tmpdir();
    let (good, img) = oci_archive_bytes(dir.path());
    let check = |name: &str, bytes: &[u8]| -> Error {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        let out = dir.path().join(format!("{name}.out"));
        transport::copy(
            &r(format!("oci-archive:{}", p.display())),
            &r(format!("oci:{}:x", out.display())),
            &CopyOptions::default(),
        )
        .unwrap_err()
    };

    // Truncated anywhere: inside a header, inside a blob, before the index.
    for cut in [100, 700, 1500, good.len() / 2, good.len() - 1536] {
        let e = check(&format!("cut{cut}.tar"), &good[..cut]);
        assert!(
            matches!(
                e,
                Error::Archive { .. } | Error::Stream { .. } | Error::DigestMismatch { .. }
            ),
            "cut {cut}: {e}"
        );
    }
    // Not a tar at all, and empty.
    assert!(matches!(check("garbage.tar", &[0x55; 4096]), Error::Archive { .. }));
    assert!(matches!(check("empty.tar", b""), Error::Archive { .. }));

    // Path traversal and absolute names are refused outright.
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    for evil in ["../evil", "blobs/../../evil", "/etc/evil"] {
        let t = raw_tar(&[
            (evil, b"x"),
            ("oci-layout", layout),
            ("index.json", b"{\"schemaVersion\":2,\"manifests\":[]}"),
        ]);
        let e = check("evil.tar", &t);
        assert!(matches!(&e, Error::Archive { entry: Some(n), .. } if n == evil), "{evil}: {e}");
    }
    assert!(!dir.path().parent().unwrap().join("evil").exists());

    // A layout with a blob whose content does not match its name.
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(&good[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut v).unwrap();
        if name.ends_with(img.layers()[0].descriptor.digest.hex()) {
            v[0] ^= 1;
        }
        if !name.ends_with('/') {
            members.push((name, v));
        }
    }
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
    assert!(matches!(check("tampered.tar", &raw_tar(&refs)), Error::DigestMismatch { .. }));

    // Missing index.json; a tag that is not there.
    let t = raw_tar(&[("oci-layout", layout)]);
    assert!(matches!(check("noindex.tar", &t), Error::Archive { .. }));
    let p = dir.path().join("good.tar");
    let e = transport::open(&r(format!("oci-archive:{}:nope", p.display()))).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }));
}

fn docker_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    raw_tar(members)
}

#[test]
fn broken_docker_archives() {
    let dir = tmpdir();
    let open = |name: &str, bytes: &[u8]| -> Error {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        transport::open(&r(format!("docker-archive:{}", p.display()))).unwrap_err()
    };
    let layer = tar_layer(&[Node::File("a", b"a", 0o644)]);
    let diff = Digest::sha256(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    );
    let manifest = br#"[{"Config":"c.json","RepoTags":["a:b"],"Layers":["l.tar"]}]"#;

    // Sanity: the good one opens.
    let good = docker_archive(&[
        ("c.json", config.as_bytes()),
        ("l.tar", &layer),
        ("manifest.json", manifest),
    ]);
    fs::write(dir.path().join("good.tar"), &good).unwrap();
    transport::open(&r(format!("docker-archive:{}:a:b", dir.path().join("good.tar").display())))
        .unwrap();

    // Layer content that is not the diff_id.
    let mut other = layer.clone();
    other[600] ^= 1;
    let e = open(
        "diff.tar",
        &docker_archive(&[
            ("c.json", config.as_bytes()),
            ("l.tar", &other),
            ("manifest.json", manifest),
        ]),
    );
    assert!(matches!(&e, Error::Archive { entry: Some(n), .. } if n == "l.tar"), "{e}");
    assert!(e.to_string().contains("diff_id"), "{e}");

    // manifest.json missing, not JSON, naming absent files, count mismatch.
    assert!(matches!(
        open("nomanifest.tar", &docker_archive(&[("c.json", config.as_bytes())])),
        Error::Archive { .. }
    ));
    assert!(matches!(
        open("badjson.tar", &docker_archive(&[("manifest.json", b"{")])),
        Error::Document { .. }
    ));
    let e = open("absent.tar", &docker_archive(&[("manifest.json", manifest)]));
    assert!(matches!(e, Error::Archive { .. }), "{e}");
    let two = br#"[{"Config":"c.json","Layers":["l.tar","l.tar"]}]"#;
    let e = open(
        "count.tar",
        &docker_archive(&[
            ("c.json", config.as_bytes()),
            ("l.tar", &layer),
            ("manifest.json", two),
        ]),
    );
    assert!(matches!(e, Error::Archive { .. }), "{e}");

    // Layer paths escaping the archive, directly or through a symlink.
    let escape = br#"[{"Config":"c.json","Layers":["../l.tar"]}]"#;
    let e = open(
        "escape.tar",
        &docker_archive(&[("c.json", config.as_bytes()), ("manifest.json", escape)]),
    );
    assert!(matches!(e, Error::Archive { .. }), "{e}");
    let mut t = Vec::new();
    {
        let mut b = tar::Builder::new(&mut t);
        for (n, d) in [("c.json", config.as_bytes()), ("manifest.json", &manifest[..])] {
            let mut h = tar::Header::new_ustar();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, n, d).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "l.tar", "../../outside.tar").unwrap();
        b.finish().unwrap();
    }
    let e = open("symlink.tar", &t);
    assert!(e.to_string().contains("outside"), "{e}");

    // Several images and no choice.
    let multi = br#"[{"Config":"c.json","RepoTags":["a:1"],"Layers":["l.tar"]},{"Config":"c.json","RepoTags":["a:2"],"Layers":["l.tar"]}]"#;
    let e = open(
        "multi.tar",
        &docker_archive(&[
            ("c.json", config.as_bytes()),
            ("l.tar", &layer),
            ("manifest.json", multi),
        ]),
    );
    assert!(matches!(e, Error::Selection { .. }), "{e}");
}

#[test]
fn multi_image_docker_archive_selects_by_name_or_index() {
    let dir = tmpdir();
    let store = MemoryStore::new();
    let a = sample_image(&store, Compression::Gzip, Platform::linux("amd64"));
    let b = sample_image(&store, Compression::Zstd, Platform::linux("arm64"));
    // Build each with mbi, then merge the two archives' members into one with both entries.
    let mut members: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut items = Vec::new();
    for (img, name) in [(&a, "example.org/a:1"), (&b, "b")] {
        let p = dir.path().join("one.tar");
        transport::write(
            &r(format!("docker-archive:{}:{name}", p.display())),
            &store,
            img.descriptor(),
        )
        .unwrap();
        let mut ar = tar::Archive::new(fs::File::open(&p).unwrap());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let n = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            if n == "manifest.json" {
                let mut j: Vec<serde_json::Value> = serde_json::from_slice(&v).unwrap();
                items.append(&mut j);
            } else if !n.contains('/') && n != "repositories" {
                members.insert(n, v);
            }
        }
    }
    members.insert("manifest.json".into(), serde_json::to_vec(&items).unwrap());
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, v)| (n.as_str(), &v[..])).collect();
    let p = dir.path().join("multi.tar");
    fs::write(&p, raw_tar(&refs)).unwrap();

    let img = |s: &str| {
        transport::open(&r(format!("docker-archive:{}{s}", p.display())))
            .and_then(|s| s.image(None))
    };
    assert_eq!(img(":example.org/a:1").unwrap().config_bytes(), a.config_bytes());
    assert_eq!(img(":b:latest").unwrap().config_bytes(), b.config_bytes());
    assert_eq!(img(":docker.io/library/b").unwrap().config_bytes(), b.config_bytes());
    assert_eq!(img(":@1").unwrap().config_bytes(), b.config_bytes());
    assert!(matches!(img(""), Err(Error::Selection { .. })));
    assert!(matches!(img(":@2"), Err(Error::Selection { .. })));
    assert!(matches!(img(":c"), Err(Error::NotFound { .. })));
    // The zstd image was decompressed into the archive and reads back uncompressed.
    assert!(
        img(":b").unwrap().layers().iter().all(|l| l.descriptor.media_type == MediaType::OciLayer)
    );
    let store2 = MemoryStore::new();
    let got = transport::read(
        &r(format!("docker-archive:{}:b", p.display())),
        &store2,
        &ReadOptions::default(),
    )
    .unwrap();
    assert!(matches!(got, ImageOrIndex::Image(_)));
}

#[test]
fn docker_archive_with_compressed_layers_is_read() {
    // Newer docker versions may store compressed layers in docker-archive files.
    let dir = tmpdir();
    let layer = tar_layer(&[Node::File("f", b"content", 0o644)]);
    let diff = Digest::sha256(&layer);
    let gz = common::compress(&layer, Compression::Gzip);
    let zs = common::compress(&layer, Compression::Zstd);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}","{diff}"]}}}}"#
    );
    let manifest = br#"[{"Config":"c.json","Layers":["blobs/sha256/gz","blobs/sha256/zs"]}]"#;
    let t = raw_tar(&[
        ("blobs/sha256/gz", &gz),
        ("blobs/sha256/zs", &zs),
        ("c.json", config.as_bytes()),
        ("manifest.json", manifest),
    ]);
    let p = dir.path().join("c.tar");
    fs::write(&p, t).unwrap();
    let img = transport::open(&r(format!("docker-archive:{}", p.display())))
        .unwrap()
        .image(None)
        .unwrap();
    let types: Vec<_> = img.layers().iter().map(|l| l.descriptor.media_type.clone()).collect();
    assert_eq!(types, [MediaType::OciLayerGzip, MediaType::OciLayerZstd]);
    assert_eq!(img.layers()[0].descriptor.digest, Digest::sha256(&gz));
    // Writing it back out as a docker archive decompresses both.
    let out = dir.path().join("out.tar");
    transport::copy(
        &r(format!("docker-archive:{}", p.display())),
        &r(format!("docker-archive:{}", out.display())),
        &CopyOptions::default(),
    )
    .unwrap();
    let back = transport::open(&r(format!("docker-archive:{}", out.display())))
        .unwrap()
        .image(None)
        .unwrap();
    assert!(back.layers().iter().all(|l| l.descriptor.digest == diff));
}

#[test]
fn layout_tags_from_several_processes() {
    // Re-runs this test binary as workers (see `tagging_worker`), each with its own handle.
    let dir = tmpdir();
    let root = dir.path().join("l");
    OciLayout::create(&root).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|w| {
            std::process::Command::new(&exe)
                .args(["--exact", "tagging_worker", "--ignored", "--test-threads=1", "--quiet"])
                .stdout(std::process::Stdio::null())
                .env("MBI_TEST_LAYOUT", &root)
                .env("MBI_TEST_WORKER", w.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let layout = OciLayout::open(&root).unwrap();
    let tags = layout.tags().unwrap();
    assert_eq!(tags.len(), 3 * 20 + 1, "{:?}", tags.iter().map(|t| &t.0).collect::<Vec<_>>());
    for (_, d) in tags {
        Image::load(&layout, &d).unwrap();
    }
    assert!(layout.gc().unwrap().is_empty());
}

#[test]
#[ignore = "worker process for layout_tags_from_several_processes"]
fn tagging_worker() {
    let (Ok(root), Ok(w)) = (std::env::var("MBI_TEST_LAYOUT"), std::env::var("MBI_TEST_WORKER"))
    else {
        return;
    };
    let layout = OciLayout::open(root).unwrap();
    for i in 0..20 {
        // All workers write the same blobs at the same time.
        let img = sample_image(&layout, Compression::Gzip, Platform::linux("amd64"));
        layout.tag(&format!("w{w}-{i}"), img.descriptor()).unwrap();
        layout.tag("shared", img.descriptor()).unwrap();
    }
}
