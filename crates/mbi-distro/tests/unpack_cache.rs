//! The unpacked-package cache against packages built by the real `dpkg-deb`: a hit gives what a
//! fresh read gives, damaged or foreign records are replaced, never trusted.

mod install_support;

use std::path::Path;

use install_support::*;
use mbi_core::Digest;
use mbi_distro::apt::deb::{Deb, DebReader};
use mbi_distro::apt::install::{InstallOptions, Installer, PackageFile};
use mbi_distro::apt::unpack_cache::{CacheUse, UnpackCache};

fn sample() -> DebSpec {
    DebSpec::new("cached", "1.0-1")
        .file_mode("usr/bin/cached", b"#!/bin/sh\necho hi\n", 0o755)
        .file("usr/share/doc/cached/README", &vec![b'r'; 200_000])
        .file("usr/share/doc/cached/empty", b"")
        .conffile("/etc/cached.conf", b"key=value\n")
        .dir("var/lib/cached")
        .symlink("usr/bin/cached-link", "cached")
        .hardlink("usr/bin/cached-hard", "usr/bin/cached")
        .script("postinst", "#!/bin/sh\nset -e\necho configured\n")
        .compression("xz")
}

fn sha256(path: &Path) -> Digest {
    Digest::sha256(&std::fs::read(path).unwrap())
}

/// Everything a reader produces, with file contents in place of spool offsets.
fn contents(deb: &Deb) -> Vec<(String, String, u32, Option<Vec<u8>>)> {
    deb.data
        .entries
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                mbi_distro::apt::deb::DataKind::File { size, .. } => format!("file {size}"),
                k => format!("{k:?}"),
            };
            (e.path.clone(), kind, e.mode, deb.data.read(e).unwrap())
        })
        .collect()
}

#[test]
fn a_hit_reads_what_a_fresh_read_reads() {
    let dir = shm_tempdir();
    let deb_path = sample().build(dir.path());
    let sha = sha256(&deb_path);
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let reader = DebReader::new(&spool);
    let fresh = reader.open(&deb_path).unwrap();
    let cache = UnpackCache::new(dir.path().join("unpacked"));

    let (stored, how) = cache.open(&reader, &deb_path, &sha).unwrap();
    assert_eq!(how, CacheUse::Stored);
    let (hit, how) = cache.open(&reader, &deb_path, &sha).unwrap();
    assert_eq!(how, CacheUse::Hit);
    assert_eq!(contents(&stored), contents(&fresh));
    assert_eq!(contents(&hit), contents(&fresh));
    assert_eq!(hit.control.package().unwrap(), "cached");
    assert_eq!(hit.control.script("postinst"), fresh.control.script("postinst"));
    assert_eq!(hit.data.content_bytes, fresh.data.content_bytes);
    // The cache holds one spool and one record, and no temporary files.
    let mut names: Vec<String> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [format!("{}.data", sha.hex()), format!("{}.json", sha.hex())]);
    // The spool stays after the values are dropped: it belongs to the cache.
    drop((stored, hit));
    assert!(cache.dir().join(format!("{}.data", sha.hex())).exists());
}

#[test]
fn damaged_or_foreign_records_are_replaced() {
    let dir = shm_tempdir();
    let deb_path = sample().build(dir.path());
    let sha = sha256(&deb_path);
    let reader = DebReader::new(dir.path());
    let fresh = contents(&reader.open(&deb_path).unwrap());
    let cache = UnpackCache::new(dir.path().join("unpacked"));
    let data = cache.dir().join(format!("{}.data", sha.hex()));
    let json = cache.dir().join(format!("{}.json", sha.hex()));

    type Damage = Box<dyn Fn(&Path, &Path)>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "one flipped byte in the spool",
            Box::new(|d: &Path, _: &Path| {
                let mut b = std::fs::read(d).unwrap();
                b[100] ^= 1;
                std::fs::write(d, b).unwrap();
            }),
        ),
        ("a truncated spool", Box::new(|d: &Path, _: &Path| truncate(d, 10))),
        ("a missing spool", Box::new(|d: &Path, _: &Path| std::fs::remove_file(d).unwrap())),
        ("a truncated record", Box::new(|_: &Path, j: &Path| truncate(j, 40))),
        ("a record for another package", {
            let key = format!("\"deb\":\"{sha}\"");
            Box::new(move |_: &Path, j: &Path| {
                let t = std::fs::read_to_string(j).unwrap();
                assert!(t.contains(&key));
                let other = format!("\"deb\":\"sha256:{}\"", "0".repeat(64));
                std::fs::write(j, t.replacen(&key, &other, 1)).unwrap();
            })
        }),
        (
            "a path escaping the root",
            Box::new(|_: &Path, j: &Path| {
                let t = std::fs::read_to_string(j).unwrap();
                std::fs::write(j, t.replacen("usr/bin/cached-link", "../../etc/evil", 1)).unwrap();
            }),
        ),
        (
            "a range beyond the spool",
            Box::new(|_: &Path, j: &Path| {
                let t = std::fs::read_to_string(j).unwrap();
                std::fs::write(j, t.replacen("\"size\":200000", "\"size\":900000", 1)).unwrap();
            }),
        ),
    ];
    for (what, damage) in damages {
        let (_, how) = cache.open(&reader, &deb_path, &sha).unwrap();
        assert!(matches!(how, CacheUse::Stored | CacheUse::Hit), "{what}: {how:?}");
        damage(&data, &json);
        let (deb, how) = cache.open(&reader, &deb_path, &sha).unwrap();
        assert_eq!(how, CacheUse::Replaced, "{what}: the damaged record was used");
        assert_eq!(contents(&deb), fresh, "{what}");
        let (_, how) = cache.open(&reader, &deb_path, &sha).unwrap();
        assert_eq!(how, CacheUse::Hit, "{what}: not repaired");
    }
}

fn truncate(p: &Path, len: u64) {
    std::fs::OpenOptions::new().write(true).open(p).unwrap().set_len(len).unwrap();
}

#[test]
fn installing_from_the_cache_gives_the_same_tree() {
    let dir = shm_tempdir();
    let deb_path = sample().build(dir.path());
    let sha = sha256(&deb_path);
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let file = PackageFile::new(&deb_path).verified_sha256(sha);
    let plain =
        Installer::new(InstallOptions::new("amd64", &spool)).install(std::slice::from_ref(&file));
    let opts = InstallOptions::new("amd64", &spool).unpack_cache(dir.path().join("unpacked"));
    let first = Installer::new(opts.clone()).install(std::slice::from_ref(&file));
    let second = Installer::new(opts).install(&[file]);
    let layer = |inst: mbi_distro::apt::install::Installation| {
        let mut out = Vec::new();
        mbi_layer::LayerWriter::new(mbi_layer::LayerOptions::default())
            .write_tree_to(&inst.tree, &mut out)
            .unwrap()
            .diff_id
    };
    let want = layer(plain.unwrap());
    assert_eq!(layer(first.unwrap()), want);
    assert_eq!(layer(second.unwrap()), want);
}
