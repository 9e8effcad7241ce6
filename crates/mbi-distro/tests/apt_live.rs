//! Live test against the Debian mirror named in this host's apt sources. Skips (and says why)
//! when the host has no Debian bookworm sources, no Debian keyring, or the mirror does not
//! answer within a few seconds.
//!
//! It fetches and verifies bookworm, bookworm-updates and bookworm-security InRelease against
//! `/usr/share/keyrings/debian-archive-keyring.gpg`, downloads and parses main/binary-amd64, and
//! checks the package counts against `grep -c '^Package:'` on the cached index. The cache it
//! fills (`$MBI_APT_LIVE_CACHE`, default `<tmp>/mbi-apt-live-cache`) feeds `benches/apt.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mbi_distro::apt::fetch::{Apt, CheckTime, RefreshOptions};
use mbi_distro::apt::signature::Keyring;
use mbi_distro::apt::sources::{SignedBy, load_host_sources};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn cache_dir() -> PathBuf {
    std::env::var_os("MBI_APT_LIVE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mbi-apt-live-cache"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_debian_bookworm() {
    if !Path::new(KEYRING).exists() {
        eprintln!("SKIP live test: {KEYRING} is missing");
        return;
    }
    let wanted = ["bookworm", "bookworm-updates", "bookworm-security"];
    let mut sources: Vec<_> = match load_host_sources(Path::new("/")) {
        Ok(s) => s.into_iter().filter(|e| wanted.contains(&e.suite.as_str())).collect(),
        Err(e) => {
            eprintln!("SKIP live test: cannot read the host's apt sources: {e}");
            return;
        }
    };
    if sources.is_empty() {
        eprintln!("SKIP live test: the host's apt sources name no bookworm suite");
        return;
    }
    for s in &mut sources {
        s.components = vec!["main".into()];
        s.signed_by = Some(SignedBy::Keyrings(vec![KEYRING.into()]));
    }
    // Probe: does the mirror answer quickly?
    let probe = format!("{}InRelease", sources[0].dist_url());
    let client = reqwest_probe();
    match tokio::time::timeout(Duration::from_secs(5), client(&probe)).await {
        Ok(true) => {}
        _ => {
            eprintln!("SKIP live test: mirror {probe} did not answer within 5 s");
            return;
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let apt = Apt::new(cache_dir()).unwrap();
    let t = std::time::Instant::now();
    let snap = apt
        .refresh(&sources, &RefreshOptions::new(&["amd64"], CheckTime::At(now)))
        .await
        .unwrap_or_else(|e| panic!("live refresh failed: {e}"));
    eprintln!(
        "live refresh: {} packages from {} indexes in {:?}",
        snap.packages.len(),
        snap.indexes.len(),
        t.elapsed()
    );
    let keyring = Keyring::load(Path::new(KEYRING)).unwrap();
    let fprs = keyring.fingerprints();
    let suites: Vec<_> = snap.indexes.iter().map(|i| i.suite.as_str()).collect();
    for w in wanted {
        if sources.iter().any(|s| s.suite == w) {
            assert!(suites.contains(&w), "{w} missing from {suites:?}");
        }
    }
    for idx in &snap.indexes {
        let signer = idx.signer.as_ref().expect("Debian metadata is signed");
        assert!(fprs.contains(&signer.primary_fingerprint), "{signer:?}");
        // Independent count: grep over the verified, decompressed cache copy.
        let cached = apt.cache().index_path(idx.index_sha256.hex());
        let out = std::process::Command::new("grep")
            .arg("-c")
            .arg("^Package:")
            .arg(&cached)
            .output()
            .unwrap();
        let grep: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        assert_eq!(idx.packages, grep, "{} {}", idx.suite, idx.index_path);
        eprintln!(
            "{} {}: {} packages, signed by {}",
            idx.suite, idx.index_path, idx.packages, signer.key_fingerprint
        );
    }
    if let Some(main) = snap.indexes.iter().find(|i| i.suite == "bookworm") {
        assert!(main.packages > 60_000, "bookworm main amd64 has ~63,000 packages");
    }
    // Warm re-check: conditional requests and cached indexes.
    let t = std::time::Instant::now();
    let again =
        apt.refresh(&sources, &RefreshOptions::new(&["amd64"], CheckTime::At(now))).await.unwrap();
    eprintln!("warm refresh: {:?}", t.elapsed());
    assert_eq!(again.packages.len(), snap.packages.len());
}

fn reqwest_probe() -> impl Fn(&str) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> {
    |url: &str| {
        let url = url.to_owned();
        Box::pin(async move {
            let Ok(addr) = url::Url::parse(&url) else { return false };
            let host = addr.host_str().unwrap_or("").to_owned();
            let port = addr.port_or_known_default().unwrap_or(80);
            tokio::net::TcpStream::connect((host.as_str(), port)).await.is_ok()
        })
    }
}
