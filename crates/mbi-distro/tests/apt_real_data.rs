//! Checks against real Debian data already on this host: the InRelease files apt downloaded
//! (`/var/lib/apt/lists`) verified with the Debian archive keyring, and a full `Packages` index
//! when `MBI_APT_PACKAGES` names one. Each test says clearly when it skips.

use std::path::Path;
use std::sync::Arc;

use mbi_distro::apt::IndexOrigin;
use mbi_distro::apt::index::{ParseOptions, parse_packages};
use mbi_distro::apt::release::Release;
use mbi_distro::apt::signature::{Keyring, VerifyPolicy, verify_clearsigned};

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

#[test]
fn host_inrelease_files_verify_with_debian_keyring() {
    let lists = Path::new("/var/lib/apt/lists");
    if !Path::new(DEBIAN_KEYRING).exists() || !lists.is_dir() {
        eprintln!("SKIP: no {DEBIAN_KEYRING} or no /var/lib/apt/lists on this host");
        return;
    }
    let keyring = Keyring::load(Path::new(DEBIAN_KEYRING)).unwrap();
    assert!(keyring.len() >= 2);
    let mut n = 0;
    for ent in std::fs::read_dir(lists).unwrap() {
        let p = ent.unwrap().path();
        if !p.to_string_lossy().ends_with("_InRelease") {
            continue;
        }
        let data = std::fs::read(&p).unwrap();
        let ctx = p.display().to_string();
        let (text, signer) = verify_clearsigned(&data, &keyring, &VerifyPolicy::default(), &ctx)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(keyring.fingerprints().contains(&signer.primary_fingerprint));
        let r = Release::parse(&text, &ctx).unwrap();
        assert!(r.files.keys().any(|k| k.starts_with("main/binary-amd64/Packages")));
        // Tampering with one byte of the signed text must fail.
        let s = String::from_utf8(data.clone()).unwrap();
        let forged = s.replacen("Origin: Debian", "Origin: Debiam", 1);
        assert_ne!(forged, s);
        let e = verify_clearsigned(forged.as_bytes(), &keyring, &VerifyPolicy::default(), &ctx)
            .unwrap_err();
        assert!(e.to_string().contains("BAD signature"), "{e}");
        // Text outside the signature is refused, not ignored.
        let mut prefixed = b"Origin: Evil\n".to_vec();
        prefixed.extend_from_slice(&data);
        assert!(verify_clearsigned(&prefixed, &keyring, &VerifyPolicy::default(), &ctx).is_err());
        let mut suffixed = data.clone();
        suffixed.extend_from_slice(b"\nSHA256:\n 00 1 x\n");
        assert!(verify_clearsigned(&suffixed, &keyring, &VerifyPolicy::default(), &ctx).is_err());
        n += 1;
    }
    if n == 0 {
        eprintln!("SKIP: no InRelease files in /var/lib/apt/lists");
    }
}

#[test]
fn full_packages_index_parses_like_grep_counts() {
    let Ok(path) = std::env::var("MBI_APT_PACKAGES") else {
        eprintln!("SKIP: set MBI_APT_PACKAGES to an uncompressed Packages file");
        return;
    };
    let data = std::fs::read(&path).unwrap();
    let want = data.split(|&b| b == b'\n').filter(|l| l.starts_with(b"Package:")).count();
    let origin = Arc::new(IndexOrigin {
        uri: "http://mirror.invalid/debian/".into(),
        suite: "bookworm".into(),
        component: "main".into(),
    });
    let t = std::time::Instant::now();
    let pkgs = parse_packages(&data, &origin, &path, &ParseOptions::default()).unwrap();
    eprintln!("parsed {} packages in {:?}", pkgs.len(), t.elapsed());
    assert_eq!(pkgs.len(), want);
}
