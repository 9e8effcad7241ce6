//! Hermetic end-to-end tests: signed fixture repositories built with dpkg-deb, apt-ftparchive
//! and gpg, served over loopback HTTP, refreshed and downloaded by `mbi_distro::apt`.

use std::path::PathBuf;
use std::sync::Mutex;

use mbi_distro::Error;
use mbi_distro::apt::fetch::{
    Apt, CheckTime, FetchEvent, FetchOptions, RefreshOptions, RepositorySnapshot,
};
use mbi_distro::apt::signature::Keyring;
use mbi_distro::apt::sources::{SignedBy, SourceEntry, parse_sources};
use mbi_testkit::apt::{
    Deb, DebCompression, FIXTURE_EPOCH, FixtureRepo, IndexCompression, KeySpec, Publish, Signing,
};
use mbi_testkit::http::{Fault, StaticServer};

const NOW: i64 = FIXTURE_EPOCH + 3600;

struct Scenario {
    repo: FixtureRepo,
    server: StaticServer,
    keyring: PathBuf,
    cache: tempfile::TempDir,
}

impl Scenario {
    fn source(&self, suite: &str) -> SourceEntry {
        let text = format!(
            "Types: deb\nURIs: {}\nSuites: {suite}\nComponents: main\nSigned-By: {}\n",
            self.server.base_url(),
            self.keyring.display()
        );
        parse_sources(&text, "test.sources").unwrap().remove(0)
    }

    fn apt(&self) -> Apt {
        Apt::new(self.cache.path()).unwrap()
    }

    async fn refresh(&self, suites: &[&str]) -> Result<RepositorySnapshot, Error> {
        let sources: Vec<_> = suites.iter().map(|s| self.source(s)).collect();
        self.apt()
            .refresh(&sources, &RefreshOptions::new(&["amd64", "arm64"], CheckTime::At(NOW)))
            .await
    }
}

fn standard_repo() -> FixtureRepo {
    let mut repo = FixtureRepo::new().unwrap();
    repo.add("stable", "main", Deb::new("libfoo", "1.0-1").file("/usr/lib/libfoo.so.1", "v1"))
        .unwrap();
    repo.add(
        "stable",
        "main",
        Deb::new("app", "2.0-1")
            .depends("libfoo (>= 1.0), base | base-alt")
            .exec("/usr/bin/app", "#!/bin/sh\n"),
    )
    .unwrap();
    repo.add(
        "stable",
        "main",
        Deb::new("libfoo", "1.0-1").arch("arm64").compression(DebCompression::Zstd),
    )
    .unwrap();
    repo.add(
        "stable",
        "main",
        Deb::new("docs", "1:3.0~rc1").arch("all").compression(DebCompression::Gzip),
    )
    .unwrap();
    repo.add(
        "stable-security",
        "main",
        Deb::new("libfoo", "1.0-1+sec1").file("/usr/lib/libfoo.so.1", "v2"),
    )
    .unwrap();
    repo
}

fn serve(repo: FixtureRepo, publish: &Publish) -> Scenario {
    repo.publish(publish).unwrap();
    let keyring = repo.public_keyring();
    let server = StaticServer::start(&repo.root()).unwrap();
    Scenario { repo, server, keyring, cache: tempfile::tempdir().unwrap() }
}

fn names(s: &RepositorySnapshot) -> Vec<String> {
    let mut v: Vec<String> = s
        .packages
        .iter()
        .map(|p| format!("{}_{}_{}@{}", p.name, p.version, p.architecture, p.origin.suite))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn good_signature_two_suites_two_architectures() {
    let sc = serve(standard_repo(), &Publish::default());
    let snap = sc.refresh(&["stable", "stable-security"]).await.unwrap();
    assert_eq!(
        names(&snap),
        [
            "app_2.0-1_amd64@stable",
            "docs_1:3.0~rc1_all@stable",
            "docs_1:3.0~rc1_all@stable",
            "libfoo_1.0-1+sec1_amd64@stable-security",
            "libfoo_1.0-1_amd64@stable",
            "libfoo_1.0-1_arm64@stable",
        ]
    );
    // stable: amd64 + arm64, stable-security: amd64 + arm64 (empty)
    assert_eq!(snap.indexes.len(), 4);
    let p = &snap.indexes[0];
    assert_eq!(p.signer.as_ref().unwrap().primary_fingerprint, sc.repo.key().fingerprint);
    assert_eq!(p.release_file, "InRelease");
    assert_eq!(p.date, Some(FIXTURE_EPOCH));
    assert_eq!(p.index_path, "main/binary-amd64/Packages");
    assert_eq!(snap.newest_date(), Some(FIXTURE_EPOCH));
    let app = snap.packages.iter().find(|p| p.name.as_str() == "app").unwrap();
    assert_eq!(app.depends[1].to_string(), "base | base-alt");

    // Download everything; check with dpkg-deb, independently of mbi.
    let events = Mutex::new(Vec::new());
    let paths = sc
        .apt()
        .fetch_packages(&snap.packages, &FetchOptions::default(), &|e| {
            events.lock().unwrap().push(e.clone())
        })
        .await
        .unwrap();
    assert_eq!(paths.len(), snap.packages.len());
    for (p, path) in snap.packages.iter().zip(&paths) {
        assert!(path.starts_with(sc.cache.path()));
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), p.sha256.hex());
        let out = std::process::Command::new("dpkg-deb")
            .arg("-f")
            .arg(path)
            .arg("Package")
            .arg("Version")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("Package: {}\nVersion: {}\n", p.name, p.version)
        );
    }
    let finished =
        events.lock().unwrap().iter().filter(|e| matches!(e, FetchEvent::Finished { .. })).count();
    assert_eq!(finished, 5, "docs appears twice but is downloaded once");
    // Second fetch: all from cache, no request.
    sc.server.reset_stats();
    sc.apt().fetch_packages(&snap.packages, &FetchOptions::default(), &|_| {}).await.unwrap();
    assert!(sc.server.all_requests().is_empty(), "{:?}", sc.server.all_requests());
}

#[tokio::test]
async fn detached_signature_and_armoured_inline_key() {
    let sc =
        serve(standard_repo(), &Publish { signing: Signing::DetachedOnly, ..Publish::default() });
    let armour = std::fs::read_to_string(sc.repo.export_key(sc.repo.key(), true).unwrap()).unwrap();
    let mut e = sc.source("stable");
    e.signed_by = Some(SignedBy::Inline(armour));
    let snap =
        sc.apt().refresh(&[e], &RefreshOptions::new(&["amd64"], CheckTime::At(NOW))).await.unwrap();
    assert_eq!(snap.indexes[0].release_file, "Release");
    assert_eq!(snap.packages.len(), 3);
    assert_eq!(sc.server.count_status("/dists/stable/InRelease", 404), 1);
}

#[tokio::test]
async fn bad_signature_is_refused_and_not_cached() {
    let sc = serve(standard_repo(), &Publish::default());
    let p = sc.repo.root().join("dists/stable/InRelease");
    let t = std::fs::read_to_string(&p).unwrap().replacen("Suite: stable", "Suite: stabl3", 1);
    std::fs::write(&p, t).unwrap();
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("BAD signature"), "{e}");
    let lists = sc.cache.path().join("apt/lists");
    let cached: Vec<_> = walk(&lists);
    assert!(cached.iter().all(|f| !f.ends_with("InRelease")), "{cached:?}");
}

#[tokio::test]
async fn unknown_key_is_refused() {
    let mut repo = standard_repo();
    let trusted = repo.public_keyring();
    let other = repo.generate_key(&KeySpec::new("someone else <x@mbi.invalid>")).unwrap();
    repo.sign_with(other);
    let mut sc = serve(repo, &Publish::default());
    sc.keyring = trusted;
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("not in the keyring"), "{e}");
}

#[tokio::test]
async fn expired_key_is_refused_unless_time_checks_are_skipped() {
    let mut repo = standard_repo();
    let old = repo
        .generate_key(&KeySpec {
            expire: "1d".into(),
            faked_time: Some("20230101T000000".into()),
            ..KeySpec::new("old key <old@mbi.invalid>")
        })
        .unwrap();
    repo.sign_with(old);
    let sc = serve(repo, &Publish::default());
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("expired now"), "{e}");
    // Valid when it signed: accepted when the caller explicitly skips time checks.
    let snap = sc
        .apt()
        .refresh(
            &[sc.source("stable")],
            &RefreshOptions::new(&["amd64"], CheckTime::SkipTimeChecks),
        )
        .await
        .unwrap();
    assert_eq!(snap.packages.len(), 3);
}

#[tokio::test]
async fn revoked_key_and_signing_subkey() {
    let mut repo = standard_repo();
    let k = repo
        .generate_key(&KeySpec { signing_subkey: true, ..KeySpec::new("sub <sub@mbi.invalid>") })
        .unwrap();
    assert_ne!(k.fingerprint, k.signing_fingerprint);
    repo.sign_with(k.clone());
    let sc = serve(repo, &Publish::default());
    let snap = sc.refresh(&["stable"]).await.unwrap();
    let s = snap.indexes[0].signer.clone().unwrap();
    assert_eq!(
        (s.primary_fingerprint, s.key_fingerprint),
        (k.fingerprint.clone(), k.signing_fingerprint.clone())
    );
    sc.repo.revoke(&k).unwrap();
    let revoked = sc.repo.export_key(&k, false).unwrap();
    let mut e = sc.source("stable");
    e.signed_by = Some(SignedBy::Keyrings(vec![revoked]));
    let err = Apt::new(tempfile::tempdir().unwrap().path())
        .unwrap()
        .refresh(&[e], &RefreshOptions::new(&["amd64"], CheckTime::At(NOW)))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("revoked"), "{err}");
}

#[tokio::test]
async fn sha1_signatures_are_weak() {
    let mut repo = standard_repo();
    let rsa = repo
        .generate_key(&KeySpec { algo: "rsa2048".into(), ..KeySpec::new("rsa <rsa@mbi.invalid>") })
        .unwrap();
    repo.sign_with(rsa);
    let sc = serve(repo, &Publish { digest: "SHA1".into(), ..Publish::default() });
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("weak hash"), "{e}");
    let mut o = RefreshOptions::new(&["amd64"], CheckTime::At(NOW));
    o.allow_weak_hashes = true;
    assert_eq!(sc.apt().refresh(&[sc.source("stable")], &o).await.unwrap().packages.len(), 3);
}

#[tokio::test]
async fn unsigned_repository_needs_trusted_and_allow_insecure() {
    let sc = serve(standard_repo(), &Publish { signing: Signing::Unsigned, ..Publish::default() });
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("unsigned"), "{e}");
    let mut src = sc.source("stable");
    src.trusted = true;
    let o = RefreshOptions::new(&["amd64"], CheckTime::At(NOW));
    assert!(
        sc.apt().refresh(std::slice::from_ref(&src), &o).await.is_err(),
        "trusted alone is not enough"
    );
    let mut o = o;
    o.allow_insecure = true;
    let snap = sc.apt().refresh(&[src], &o).await.unwrap();
    assert!(snap.indexes[0].signer.is_none());
}

#[tokio::test]
async fn tampered_packages_fail_the_hash_check() {
    let sc = serve(standard_repo(), &Publish::default());
    sc.repo.tamper_packages("stable").unwrap();
    let e = sc.refresh(&["stable"]).await.unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("from the signed Release"), "{e}");
    let idx: Vec<_> = walk(&sc.cache.path().join("apt/indexes"));
    assert!(idx.is_empty(), "nothing unverified cached: {idx:?}");
}

#[tokio::test]
async fn release_date_in_the_future_and_valid_until_passed() {
    let sc = serve(standard_repo(), &Publish { date: NOW + 86400, ..Publish::default() });
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("not valid yet"), "{e}");
    let sc = serve(standard_repo(), &Publish { valid_until: Some(NOW - 60), ..Publish::default() });
    let e = sc.refresh(&["stable"]).await.unwrap_err().to_string();
    assert!(e.contains("expired: Valid-Until passed 60 s ago"), "{e}");
}

#[tokio::test]
async fn every_index_compression() {
    for (c, file) in [
        (IndexCompression::Xz, "Packages.xz"),
        (IndexCompression::Gzip, "Packages.gz"),
        (IndexCompression::Zstd, "Packages.zst"),
        (IndexCompression::Plain, "Packages"),
    ] {
        let sc = serve(standard_repo(), &Publish { compressions: vec![c], ..Publish::default() });
        let snap = sc.refresh(&["stable"]).await.unwrap();
        assert_eq!(snap.packages.len(), 5, "{c:?}");
        assert_eq!(
            sc.server.count_status(&format!("/dists/stable/main/binary-amd64/{file}"), 200),
            1,
            "{c:?}"
        );
    }
}

#[tokio::test]
async fn by_hash_paths_are_used() {
    let sc = serve(
        standard_repo(),
        &Publish {
            by_hash: true,
            only_by_hash: true,
            compressions: vec![IndexCompression::Xz],
            ..Publish::default()
        },
    );
    let snap = sc.refresh(&["stable"]).await.unwrap();
    assert_eq!(snap.packages.len(), 5);
    let reqs = sc.server.all_requests();
    assert!(
        reqs.iter().any(|(p, _)| p.starts_with("/dists/stable/main/binary-amd64/by-hash/SHA256/")),
        "{reqs:?}"
    );
    assert!(!reqs.iter().any(|(p, _)| p.ends_with("/Packages.xz")), "{reqs:?}");
}

#[tokio::test]
async fn recheck_is_a_conditional_request_and_indexes_come_from_cache() {
    let sc = serve(standard_repo(), &Publish::default());
    let a = sc.refresh(&["stable"]).await.unwrap();
    sc.server.reset_stats();
    let b = sc.refresh(&["stable"]).await.unwrap();
    assert_eq!(names(&a), names(&b));
    assert_eq!(sc.server.count_status("/dists/stable/InRelease", 304), 1);
    assert_eq!(sc.server.all_requests(), [("/dists/stable/InRelease".to_string(), 1)]);
    // A new publication is picked up (200, new validators).
    let mut repo = sc.repo;
    repo.add("stable", "main", Deb::new("newpkg", "1")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // mtime-based validators
    repo.publish(&Publish::default()).unwrap();
    let sc = Scenario { repo, ..sc };
    let c = sc.refresh(&["stable"]).await.unwrap();
    assert!(names(&c).iter().any(|n| n.starts_with("newpkg_1_amd64")));
}

#[tokio::test]
async fn tampered_deb_is_refused_and_not_cached() {
    let repo = standard_repo();
    let sc = serve(repo, &Publish::default());
    let snap = sc.refresh(&["stable"]).await.unwrap();
    let app = snap.packages.iter().find(|p| p.name.as_str() == "app").unwrap().clone();
    sc.repo.tamper_deb("stable", "main", &Deb::new("app", "2.0-1")).unwrap();
    let apt = sc.apt();
    let e = apt
        .fetch_packages(std::slice::from_ref(&app), &FetchOptions::default(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Integrity { .. }), "{e}");
    assert!(e.to_string().contains("from the signed index"), "{e}");
    assert!(!apt.cache().deb_path(&app.sha256.to_digest()).exists());
    assert!(!apt.cache().partial_path(&app.sha256.to_digest()).exists());
}

#[tokio::test]
async fn truncated_download_resumes_with_range() {
    let mut repo = FixtureRepo::new().unwrap();
    let big: Vec<u8> =
        (0..400_000u32).flat_map(|i| i.wrapping_mul(2654435761).to_le_bytes()).collect();
    repo.add(
        "stable",
        "main",
        Deb::new("big", "1.0").file("/usr/share/big.bin", big).compression(DebCompression::None),
    )
    .unwrap();
    let sc = serve(repo, &Publish::default());
    let snap = sc.refresh(&["stable"]).await.unwrap();
    let big = snap.packages[0].clone();
    let path = format!("/{}", big.filename);
    let half = (big.size / 2) as usize;
    sc.server.inject(&path, Fault::Truncate { after: half });
    let events = Mutex::new(Vec::new());
    let paths = sc
        .apt()
        .fetch_packages(std::slice::from_ref(&big), &FetchOptions::default(), &|e| {
            events.lock().unwrap().push(e.clone())
        })
        .await
        .unwrap();
    assert_eq!(Some(std::fs::read(&paths[0]).unwrap().len() as u64), Some(big.size));
    let st = sc.server.stats(&path);
    assert_eq!(st.statuses, [200, 206], "{st:?}");
    assert_eq!(st.ranges, [format!("bytes={half}-")]);
    let ev = events.lock().unwrap();
    assert!(ev.iter().any(|e| matches!(e, FetchEvent::Retrying { .. })));
    assert!(
        ev.iter().any(|e| matches!(e, FetchEvent::Started { from, .. } if *from == half as u64))
    );
}

#[tokio::test]
async fn offline_from_cache() {
    let sc = serve(standard_repo(), &Publish::default());
    let snap = sc.refresh(&["stable"]).await.unwrap();
    let libfoo: Vec<_> =
        snap.packages.iter().filter(|p| p.name.as_str() == "libfoo").cloned().collect();
    sc.apt().fetch_packages(&libfoo, &FetchOptions::default(), &|_| {}).await.unwrap();
    let source = sc.source("stable");
    let Scenario { server, cache, repo, .. } = sc;
    drop(server); // no network from here on
    let apt = Apt::new(cache.path()).unwrap();
    let mut o = RefreshOptions::new(&["amd64", "arm64"], CheckTime::At(NOW));
    o.offline = true;
    let again = apt.refresh(std::slice::from_ref(&source), &o).await.unwrap();
    assert_eq!(names(&again), names(&snap));
    let fo = FetchOptions { offline: true, ..FetchOptions::default() };
    let paths = apt.fetch_packages(&libfoo, &fo, &|_| {}).await.unwrap();
    assert_eq!(paths.len(), 2);
    let app: Vec<_> = snap.packages.iter().filter(|p| p.name.as_str() == "app").cloned().collect();
    let e = apt.fetch_packages(&app, &fo, &|_| {}).await.unwrap_err().to_string();
    assert!(e.contains("offline") && e.contains("app_2.0-1_amd64"), "{e}");
    // A suite never fetched is reported as missing from the cache.
    let mut other = source.clone();
    other.suite = "stable-security".into();
    let e = apt.refresh(&[other], &o).await.unwrap_err().to_string();
    assert!(e.contains("not in the cache"), "{e}");
    drop(repo);
}

#[test]
fn keyring_formats_agree() {
    let repo = standard_repo();
    let bin = Keyring::load(&repo.export_key(repo.key(), false).unwrap()).unwrap();
    let asc = Keyring::load(&repo.export_key(repo.key(), true).unwrap()).unwrap();
    assert_eq!(bin.fingerprints(), [repo.key().fingerprint.clone()]);
    assert_eq!(asc.fingerprints(), bin.fingerprints());
    // Two keys concatenated in one binary file.
    let k2 = repo.generate_key(&KeySpec::new("second <2@mbi.invalid>")).unwrap();
    let mut both = std::fs::read(repo.export_key(repo.key(), false).unwrap()).unwrap();
    both.extend(std::fs::read(repo.export_key(&k2, false).unwrap()).unwrap());
    let kr = Keyring::from_bytes(&both, "both").unwrap();
    assert_eq!(kr.fingerprints(), [repo.key().fingerprint.clone(), k2.fingerprint]);
    assert!(Keyring::from_bytes(b"garbage", "g").is_err());
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn flat_repository() {
    let mut repo = FixtureRepo::new().unwrap();
    repo.add("flat", "main", Deb::new("tool", "1.0").arch("amd64")).unwrap();
    repo.add("flat", "main", Deb::new("tool", "1.0").arch("arm64")).unwrap();
    repo.add("flat", "main", Deb::new("data", "2.0").arch("all")).unwrap();
    repo.publish_flat("flat", &Publish::default()).unwrap();
    let keyring = repo.public_keyring();
    let server = StaticServer::start(&repo.root()).unwrap();
    let text = format!("deb [signed-by={}] {} flat/\n", keyring.display(), server.base_url());
    let src = parse_sources(&text, "flat.list").unwrap();
    assert!(src[0].is_flat());
    let cache = tempfile::tempdir().unwrap();
    let apt = Apt::new(cache.path()).unwrap();
    let snap =
        apt.refresh(&src, &RefreshOptions::new(&["amd64"], CheckTime::At(NOW))).await.unwrap();
    let mut got: Vec<_> =
        snap.packages.iter().map(|p| format!("{}:{}", p.name, p.architecture)).collect();
    got.sort();
    assert_eq!(got, ["data:all", "tool:amd64"], "arm64 filtered out");
    assert_eq!(server.count_status("/flat/InRelease", 200), 1);
    let paths =
        apt.fetch_packages(&snap.packages, &FetchOptions::default(), &|_| {}).await.unwrap();
    assert!(paths.iter().all(|p| p.exists()));
}

#[tokio::test]
async fn damaged_cached_index_is_fetched_again() {
    let sc = serve(standard_repo(), &Publish::default());
    let a = sc.refresh(&["stable"]).await.unwrap();
    let idx = walk(&sc.cache.path().join("apt/indexes"));
    assert!(!idx.is_empty());
    for p in &idx {
        let b = std::fs::read(p).unwrap();
        std::fs::write(p, &b[..b.len() / 2]).unwrap(); // truncated: size no longer matches
    }
    sc.server.reset_stats();
    let b = sc.refresh(&["stable"]).await.unwrap();
    assert_eq!(names(&a), names(&b));
    assert!(sc.server.all_requests().iter().any(|(p, _)| p.contains("binary-amd64")));
    // Same-size damage is caught by the explicit check, and the next refresh repairs it.
    for p in &idx {
        let mut b = std::fs::read(p).unwrap();
        b[0] ^= 1;
        std::fs::write(p, &b).unwrap();
    }
    let cache = mbi_distro::apt::cache::Cache::new(sc.cache.path()).unwrap();
    assert_eq!(cache.verify_indexes().unwrap(), idx.len());
    assert_eq!(names(&sc.refresh(&["stable"]).await.unwrap()), names(&a));
    assert_eq!(cache.verify_indexes().unwrap(), 0);
}

/// Keyrings written by gpg's legacy keyring format (Ubuntu's `ubuntu-keyring` ships one) carry
/// GnuPG trust packets after the key's packets; they must not hide the self-signatures.
#[tokio::test]
async fn keyring_with_trust_packets_verifies() {
    let mut sc = serve(standard_repo(), &Publish::default());
    let bytes = std::fs::read(&sc.keyring).unwrap();
    // Re-frame every packet, adding an old-format trust packet (tag 12, 2 bytes) after each.
    let mut with_trust = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let ctb = bytes[i];
        let (header, len) = if ctb & 0x40 == 0 {
            let n = [1usize, 2, 4][usize::from(ctb & 3)];
            (1 + n, bytes[i + 1..i + 1 + n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)))
        } else {
            match bytes[i + 1] {
                o @ 0..=191 => (2, usize::from(o)),
                o @ 192..=223 => {
                    (3, ((usize::from(o) - 192) << 8) + usize::from(bytes[i + 2]) + 192)
                }
                _ => {
                    (6, bytes[i + 2..i + 6].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)))
                }
            }
        };
        with_trust.extend_from_slice(&bytes[i..i + header + len]);
        with_trust.extend_from_slice(&[0xb0, 0x02, 0x00, 0x00]);
        i += header + len;
    }
    assert!(with_trust.len() > bytes.len());
    let path = sc.cache.path().join("with-trust.gpg");
    std::fs::write(&path, &with_trust).unwrap();
    sc.keyring = path;
    let snap = sc.refresh(&["stable"]).await.unwrap();
    assert!(!snap.packages.is_empty());
}

/// The verification record next to the cached `InRelease` is reused only for the same bytes and
/// keyring, and the key policy is applied again at every refresh.
#[tokio::test]
async fn verification_record_is_reused_and_rechecked() {
    let mut repo = standard_repo();
    let k = repo
        .generate_key(&KeySpec {
            expire: "1d".into(),
            faked_time: Some("20230101T000000".into()),
            ..KeySpec::new("short-lived <short@mbi.invalid>")
        })
        .unwrap();
    repo.sign_with(k.clone());
    let sc = serve(repo, &Publish::default());
    let source = sc.source("stable");
    let record = sc.apt().cache().lists_dir(&source.dist_url()).join("verified.json");
    let skip = RefreshOptions::new(&["amd64"], CheckTime::SkipTimeChecks);
    let first = sc.apt().refresh(std::slice::from_ref(&source), &skip).await.unwrap();
    let written = std::fs::metadata(&record).unwrap().modified().unwrap();
    // Same bytes, same keyring: the record answers (it is not rewritten) with the same signer.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut offline = skip.clone();
    offline.offline = true;
    let again = sc.apt().refresh(std::slice::from_ref(&source), &offline).await.unwrap();
    assert_eq!(again.indexes, first.indexes);
    assert_eq!(std::fs::metadata(&record).unwrap().modified().unwrap(), written);
    // The key expired long before NOW: checking at NOW refuses it, record or not.
    let mut at_now = RefreshOptions::new(&["amd64"], CheckTime::At(NOW));
    at_now.offline = true;
    let e = sc.apt().refresh(std::slice::from_ref(&source), &at_now).await.unwrap_err();
    assert!(e.to_string().contains("expired now"), "{e}");
    // A damaged record is ignored and rewritten by a full verification.
    std::fs::write(&record, b"{\"format\":1,").unwrap();
    let third = sc.apt().refresh(std::slice::from_ref(&source), &offline).await.unwrap();
    assert_eq!(third.indexes, first.indexes);
    assert!(std::fs::read_to_string(&record).unwrap().contains("\"check\""));
    // Another keyring (the same key, revoked since): the record does not apply.
    sc.repo.revoke(&k).unwrap();
    let revoked = sc.repo.export_key(&k, false).unwrap();
    let mut e = source.clone();
    e.signed_by = Some(SignedBy::Keyrings(vec![revoked]));
    let err = sc.apt().refresh(&[e], &offline).await.unwrap_err().to_string();
    assert!(err.contains("revoked"), "{err}");
}
