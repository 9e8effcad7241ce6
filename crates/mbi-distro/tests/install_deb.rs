//! The .deb reader against packages built by the real `dpkg-deb`, and hostile packages.

mod install_support;

use std::collections::BTreeMap;
use std::process::Command;

use install_support::*;
use mbi_distro::Error;
use mbi_distro::apt::deb::{DataKind, DebReader, MemberCompression};

fn sample(compression: &str) -> DebSpec {
    DebSpec::new("sample", "1:2.0~rc1-3")
        .field("Depends", "libc6 (>= 2.34), foo | bar")
        .field("Homepage", "https://example.invalid/")
        .file_mode("usr/bin/sample", b"#!/bin/sh\necho hi\n", 0o755)
        .file_mode("usr/sbin/setuid-tool", b"ELF?", 0o4755)
        .file("usr/share/doc/sample/README", &vec![b'x'; 300_000])
        .file("usr/share/doc/sample/empty", b"")
        .conffile("/etc/sample.conf", b"key=value\n")
        .dir("var/lib/sample")
        .symlink("usr/bin/sample-link", "sample")
        .symlink("usr/lib/abs-link", "/etc/sample.conf")
        .hardlink("usr/bin/sample-hard", "usr/bin/sample")
        .file(&format!("usr/share/{}/long-name", "a-very-long-directory-name".repeat(6)), b"long")
        .script("postinst", "#!/bin/sh\nset -e\necho configured\n")
        .script("triggers", "interest-noawait /usr/lib/sample\n")
        .compression(compression)
}

/// `dpkg-deb -c` output → path → (type char, mode string, size, link)
fn dpkg_listing(deb: &std::path::Path) -> BTreeMap<String, (char, String, u64, String)> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let perms = f[0];
        let size: u64 = f[2].parse().unwrap();
        let rest = f[5..].join(" ");
        let (path, link) = match rest.split_once(" -> ") {
            Some((p, l)) => (p.to_string(), l.to_string()),
            None => match rest.split_once(" link to ") {
                Some((p, l)) => (p.to_string(), l.to_string()),
                None => (rest.clone(), String::new()),
            },
        };
        let path = path.trim_start_matches("./").trim_end_matches('/').to_string();
        let kind = if rest.contains(" link to ") { 'h' } else { perms.chars().next().unwrap() };
        m.insert(path, (kind, perms[1..].to_string(), size, link));
    }
    m
}

fn mode_string(mode: u32) -> String {
    let mut s = String::new();
    for (i, c) in ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].iter().enumerate() {
        let bit = 0o400 >> i;
        let x_special = match i {
            2 if mode & 0o4000 != 0 => Some(('s', 'S')),
            5 if mode & 0o2000 != 0 => Some(('s', 'S')),
            8 if mode & 0o1000 != 0 => Some(('t', 'T')),
            _ => None,
        };
        s.push(match x_special {
            Some((on, off)) => {
                if mode & bit != 0 {
                    on
                } else {
                    off
                }
            }
            None => {
                if mode & bit != 0 {
                    *c
                } else {
                    '-'
                }
            }
        });
    }
    s
}

#[test]
fn reads_dpkg_deb_packages_in_every_compression() {
    let dir = shm_tempdir();
    for comp in ["xz", "gzip", "zstd", "none"] {
        let deb_path = sample(comp).build(dir.path());
        let deb = DebReader::new(dir.path()).open(&deb_path).unwrap();
        let want_comp = match comp {
            "xz" => MemberCompression::Xz,
            "gzip" => MemberCompression::Gzip,
            "zstd" => MemberCompression::Zstd,
            _ => MemberCompression::None,
        };
        assert_eq!(deb.data.compression, want_comp);
        // Control fields equal dpkg-deb's view.
        for field in ["Package", "Version", "Architecture", "Depends", "Homepage", "Description"] {
            let want = run(Command::new("dpkg-deb").arg("-f").arg(&deb_path).arg(field));
            let got = deb.control.fields.get(field).unwrap();
            assert_eq!(got.trim_end(), want.trim_end(), "{comp} {field}");
        }
        assert_eq!(deb.control.package().unwrap(), "sample");
        assert_eq!(deb.control.conffiles().unwrap()[0].path, "/etc/sample.conf");
        let md5 = deb.control.md5sums().unwrap();
        assert!(md5.iter().any(|(p, _)| p == "usr/bin/sample"));
        assert!(deb.control.script("postinst").unwrap().starts_with(b"#!/bin/sh"));
        assert_eq!(deb.control.members["postinst"].mode, 0o755);
        assert!(deb.control.member("triggers").is_some());

        // Every entry dpkg-deb lists is there with the same type, mode, size and link.
        let want = dpkg_listing(&deb_path);
        assert_eq!(deb.data.entries.len(), want.len(), "{comp}");
        for e in &deb.data.entries {
            let (kind, perms, size, link) = &want[&e.path];
            let (k, s, l) = match &e.kind {
                DataKind::Directory => ('d', 0, String::new()),
                DataKind::File { size, .. } => ('-', *size, String::new()),
                DataKind::Symlink { target } => ('l', 0, target.clone()),
                DataKind::Hardlink { target } => ('h', 0, target.clone()),
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(k, *kind, "{comp} {}", e.path);
            assert_eq!(&mode_string(e.mode), perms, "{comp} {}", e.path);
            if k == '-' {
                assert_eq!(s, *size, "{comp} {}", e.path);
            }
            if k == 'h' {
                assert_eq!(format!("./{l}"), *link);
            } else {
                assert_eq!(&l, link, "{comp} {}", e.path);
            }
            assert_eq!((e.uid, e.gid), (0, 0));
        }
        // Contents equal what dpkg-deb extracts.
        let x = dir.path().join(format!("x-{comp}"));
        run(Command::new("dpkg-deb").arg("-x").arg(&deb_path).arg(&x));
        for e in &deb.data.entries {
            if let DataKind::File { .. } = e.kind {
                let want = std::fs::read(x.join(&e.path)).unwrap();
                assert_eq!(deb.data.read(e).unwrap().unwrap(), want, "{}", e.path);
            }
        }
        // The listing order is the archive's (the order of `dpkg-deb -c`).
        let order = run(Command::new("dpkg-deb").arg("-c").arg(&deb_path));
        let first: Vec<String> = order
            .lines()
            .map(|l| {
                let p = l.split_whitespace().nth(5).unwrap();
                p.trim_start_matches("./").trim_end_matches('/').to_string()
            })
            .collect();
        let ours: Vec<&str> = deb.data.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(ours, first);
    }
}

#[test]
fn spool_lives_in_the_given_directory_and_goes_away() {
    let dir = shm_tempdir();
    let deb_path = sample("zstd").build(dir.path());
    let spool_dir = dir.path().join("spool");
    std::fs::create_dir(&spool_dir).unwrap();
    let deb = DebReader::new(&spool_dir).open(&deb_path).unwrap();
    assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 1);
    assert!(deb.data.spool.path().starts_with(&spool_dir));
    drop(deb);
    assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0);
}

fn refused(bytes: &[u8]) -> Error {
    let dir = shm_tempdir();
    DebReader::new(dir.path()).read(bytes, "evil.deb").unwrap_err()
}

#[test]
fn refuses_path_traversal() {
    let tar = python_tar("add('./', type=tarfile.DIRTYPE)\nadd('./../../etc/evil', b'x')");
    let err = refused(&craft_deb("evil", &tar));
    assert!(
        matches!(&err, Error::UnsafeEntry { package, entry, .. }
        if package.starts_with("evil_") && entry == "./../../etc/evil"),
        "{err}"
    );
    let tar = python_tar("add('/etc/passwd', b'x')");
    let err = refused(&craft_deb("evil", &tar));
    assert!(
        matches!(&err, Error::UnsafeEntry { reason, .. } if reason.contains("absolute")),
        "{err}"
    );
}

#[test]
fn refuses_symlink_then_write() {
    let tar = python_tar(
        "add('./usr/', type=tarfile.DIRTYPE)\n\
         add('./usr/lib', type=tarfile.SYMTYPE, linkname='/etc')\n\
         add('./usr/lib/passwd', b'root::0:0::/:/bin/sh\\n')",
    );
    let err = refused(&craft_deb("evil", &tar));
    assert!(
        matches!(&err, Error::UnsafeEntry { entry, reason, .. }
        if entry == "./usr/lib/passwd" && reason.contains("symlink")),
        "{err}"
    );
}

#[test]
fn refuses_hardlink_outside() {
    let tar = python_tar("add('./x', type=tarfile.LNKTYPE, linkname='/etc/shadow')");
    let err = refused(&craft_deb("evil", &tar));
    assert!(matches!(&err, Error::UnsafeEntry { entry, .. } if entry == "./x"), "{err}");
    let tar = python_tar("add('./x', type=tarfile.LNKTYPE, linkname='./not-there')");
    assert!(matches!(refused(&craft_deb("evil", &tar)), Error::UnsafeEntry { .. }));
}

#[test]
fn refuses_duplicates_and_non_dir_root() {
    let tar = python_tar("add('./a', b'1')\nadd('./a', type=tarfile.SYMTYPE, linkname='/etc')");
    assert!(matches!(refused(&craft_deb("evil", &tar)), Error::UnsafeEntry { .. }));
    let tar = python_tar("add('./', b'x')");
    assert!(matches!(refused(&craft_deb("evil", &tar)), Error::UnsafeEntry { .. }));
}

#[test]
fn refuses_huge_headers_without_allocating() {
    // A GNU long name claiming 8 GiB: refused by size before any allocation.
    let mut tar = python_tar("add('./a', b'1')");
    // Hand-craft a 'L' header at the start.
    let mut h = [0u8; 512];
    h[..13].copy_from_slice(b"././@LongLink");
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(b"77777777777\0");
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = b'L';
    h[257..265].copy_from_slice(b"ustar  \0");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut evil = h.to_vec();
    evil.append(&mut tar);
    let err = refused(&craft_deb("evil", &evil));
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    // A huge ar member size.
    let mut deb = craft_deb("evil", &python_tar("add('./a', b'1')"));
    let pos = deb.windows(8).position(|w| w == b"data.tar").unwrap();
    deb[pos + 48..pos + 58].copy_from_slice(b"9999999999");
    let err = refused(&deb);
    assert!(err.to_string().contains("data.tar"), "{err}");
}

#[test]
fn refuses_truncated_and_malformed_members() {
    let dir = shm_tempdir();
    let deb_path = sample("xz").build(dir.path());
    let bytes = std::fs::read(&deb_path).unwrap();
    // Truncated in the middle of data.tar.xz: the error names the member.
    let err = refused(&bytes[..bytes.len() - 100]);
    assert!(err.to_string().contains("data.tar.xz"), "{err}");
    // Corrupted compressed data.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 200] ^= 0xff;
    assert!(refused(&bad).to_string().contains("data.tar.xz"));
    // Member order and debian-binary.
    let tar = python_tar("add('./a', b'1')");
    let ctl = control_tar("x");
    let e = refused(&ar(&[("control.tar", &ctl), ("debian-binary", b"2.0\n")]));
    assert!(e.to_string().contains("debian-binary"), "{e}");
    let e = refused(&ar(&[("debian-binary", b"3.0\n"), ("control.tar", &ctl), ("data.tar", &tar)]));
    assert!(e.to_string().contains("format version"), "{e}");
    let e = refused(&ar(&[("debian-binary", b"2.0\n"), ("data.tar", &tar), ("control.tar", &ctl)]));
    assert!(e.to_string().contains("before the control"), "{e}");
    let e = refused(&ar(&[("debian-binary", b"2.0\n"), ("control.tar.bz2", &ctl)]));
    assert!(e.to_string().contains("unsupported compression"), "{e}");
    let e = refused(&ar(&[("debian-binary", b"2.0\n"), ("control.tar", &ctl)]));
    assert!(e.to_string().contains("missing data"), "{e}");
    // Members starting with '_' are ignored, as dpkg does.
    let ok = ar(&[
        ("debian-binary", b"2.0\n"),
        ("_gpgbuilder", b"sig"),
        ("control.tar", &ctl),
        ("data.tar", &tar),
    ]);
    DebReader::new(dir.path()).read(&ok[..], "ok.deb").unwrap();
    // Not an ar archive at all.
    assert!(matches!(refused(b"PK\x03\x04 zip"), Error::Ar { .. }));
    // Control file problems.
    let ctl = python_tar("add('./control', b'Package: x\\nVersion: 1\\n')");
    let e = refused(&ar(&[("debian-binary", b"2.0\n"), ("control.tar", &ctl), ("data.tar", &tar)]));
    assert!(e.to_string().contains("Architecture"), "{e}");
    let ctl = python_tar("add('./scripts/postinst', b'x')\nadd('./control', b'Package: x\\n')");
    assert!(
        refused(&ar(&[("debian-binary", b"2.0\n"), ("control.tar", &ctl), ("data.tar", &tar)]))
            .to_string()
            .contains("top level")
    );
}

/// GNU `ar` writes `name/` names, a `//` long-name table and (with `s`) a symbol table: the
/// reader resolves them as binutils does.
#[test]
fn reads_gnu_ar_archives() {
    use std::io::Read;
    let dir = shm_tempdir();
    let d = dir.path();
    std::fs::write(d.join("short"), b"odd").unwrap();
    std::fs::write(d.join("a-member-name-longer-than-sixteen.txt"), b"long name content\n")
        .unwrap();
    std::fs::write(d.join("empty"), b"").unwrap();
    run(Command::new("ar")
        .arg("rcS")
        .arg(d.join("x.a"))
        .arg("short")
        .arg("a-member-name-longer-than-sixteen.txt")
        .arg("empty")
        .current_dir(d));
    let bytes = std::fs::read(d.join("x.a")).unwrap();
    let mut ar = mbi_distro::apt::ar::ArReader::new(&bytes[..], "x.a").unwrap();
    let mut got = Vec::new();
    while let Some(mut m) = ar.next_member().unwrap() {
        let mut v = Vec::new();
        m.read_to_end(&mut v).unwrap();
        got.push((m.header().name.clone(), v));
    }
    assert_eq!(
        got,
        [
            ("short".to_owned(), b"odd".to_vec()),
            ("a-member-name-longer-than-sixteen.txt".to_owned(), b"long name content\n".to_vec()),
            ("empty".to_owned(), vec![]),
        ]
    );
}
