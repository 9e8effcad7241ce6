//! Live: the README's main job, `mbi build examples/*.yaml`, against the Debian mirror named in
//! this host's apt sources. Skipped, with the reason, when the host has no Debian bookworm
//! sources or keyring, or its mirror does not answer within 5 seconds.
//!
//! - `examples/debian-bookworm.yaml` (the `apt` variant): two builds (other temp dir, thread
//!   count) give the same digest; the image runs in a chroot (`apt-get --version`), `dpkg
//!   --audit` is clean, `dpkg --verify` silent, and dpkg lists exactly the locked packages.
//!   (That the set equals mmdebstrap's `apt` variant is checked in mbi-distro's
//!   `resolve_live` test.)
//! - `examples/debian-bookworm-distroless.yaml`: a two-platform index; the amd64 image has the
//!   TLS trust store and the nonroot user, no shell, and syft and trivy list every package with
//!   its version (skipped when the scanners are absent: `scripts/test.sh` installs them).
//!
//! The package cache is shared with mbi-distro's live tests (`MBI_APT_LIVE_CACHE`, else
//! `$TMPDIR/mbi-apt-live-cache`).

mod cli_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::*;
use mbi_testkit::scanners;

fn cache_dir() -> PathBuf {
    std::env::var_os("MBI_APT_LIVE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mbi-apt-live-cache"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Why the live tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    if !Path::new("/usr/share/keyrings/debian-archive-keyring.gpg").exists() {
        return Some("no Debian archive keyring on this host".into());
    }
    let sources = mbi::distro::apt::sources::load_host_sources(Path::new("/")).ok()?;
    let Some(s) = sources.iter().find(|s| s.suite == "bookworm") else {
        return Some("the host's apt sources name no bookworm suite".into());
    };
    let probe = format!("{}InRelease", s.dist_url());
    let answered = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "5", &probe])
        .status()
        .is_ok_and(|s| s.success());
    (!answered).then(|| format!("mirror {probe} did not answer within 5 s"))
}

fn build(spec: &str, out: &str, extra: &[&str], tmp: &Path) -> String {
    digest_line(&ok(mbi()
        .env("TMPDIR", tmp)
        .arg("build")
        .arg(examples().join(spec))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["--out", out])
        .args(extra)))
}

#[test]
fn live_debian_bookworm_apt_variant() {
    if let Some(why) = unavailable() {
        eprintln!("SKIP live test: {why}");
        return;
    }
    let t = scratch();
    let tmp_a = t.path().join("tmp-a");
    let tmp_b = t.path().join("tmp-b");
    fs::create_dir_all(&tmp_a).unwrap();
    fs::create_dir_all(&tmp_b).unwrap();
    let lock = t.path().join("lock.json");
    let a = build(
        "debian-bookworm.yaml",
        &oci(&t.path().join("a"), "latest"),
        &["--write-lock", lock.to_str().unwrap()],
        &tmp_a,
    );
    let b = build(
        "debian-bookworm.yaml",
        &oci(&t.path().join("b"), "latest"),
        &["--threads", "1", "--lock", lock.to_str().unwrap()],
        &tmp_b,
    );
    assert_eq!(a, b, "two builds of the same lock differ");

    let locked: serde_json::Value = serde_json::from_slice(&fs::read(&lock).unwrap()).unwrap();
    let want: BTreeMap<String, String> = locked["architectures"]["amd64"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (p["name"].as_str().unwrap().to_owned(), p["version"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(want.contains_key("apt") && want.contains_key("bash"), "{want:?}");

    let root = t.path().join("rootfs");
    let mut unpack = mbi();
    unpack.arg("unpack");
    if !is_root() {
        unpack.arg("--rootless");
    }
    ok(unpack.arg(oci(&t.path().join("a"), "latest")).arg(&root));
    let admin = format!("--admindir={}", root.join("var/lib/dpkg").display());
    let listed =
        ok(Command::new("dpkg-query").arg(&admin).args(["-W", "-f", "${Package} ${Version}\n"]));
    let got: BTreeMap<String, String> = listed
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(got, want, "dpkg's database and the lock disagree");
    let audit = ok(Command::new("dpkg").arg(&admin).arg("--audit"));
    assert_eq!(audit.trim(), "", "dpkg --audit: {audit}");
    let verify = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--verify")
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "dpkg --verify: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    if is_root() {
        let v = ok(Command::new("chroot").arg(&root).args(["apt-get", "--version"]));
        assert!(v.starts_with("apt "), "{v}");
    } else {
        eprintln!("SKIP (part): chroot needs root");
    }
}

#[test]
fn live_debian_bookworm_distroless() {
    if let Some(why) = unavailable() {
        eprintln!("SKIP live test: {why}");
        return;
    }
    let t = scratch();
    let out = t.path().join("dl");
    build("debian-bookworm-distroless.yaml", &oci(&out, "latest"), &[], t.path());
    let index: serde_json::Value =
        serde_json::from_str(&ok(mbi().args(["inspect", "--raw", &oci(&out, "latest")]))).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");

    // Not below /dev (e.g. /dev/shm): the scanners skip /dev, /proc and /sys paths.
    let tmp = std::env::temp_dir();
    let base = if tmp.starts_with("/dev") { PathBuf::from("/var/tmp") } else { tmp };
    let scan_dir = tempfile::Builder::new().prefix("mbi-live-").tempdir_in(base).unwrap();
    let root = scan_dir.path().join("rootfs");
    ok(mbi()
        .args(["unpack", "--rootless", "--platform", "linux/amd64", &oci(&out, "latest")])
        .arg(&root));
    let bundle = fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle.matches("BEGIN CERTIFICATE").count() > 100, "trust store too small");
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert!(!root.join("bin/sh").exists() && !root.join("usr/bin/sh").exists());
    assert!(root.join("etc/localtime").symlink_metadata().is_ok());

    let status_d = root.join("var/lib/dpkg/status.d");
    let mut want = BTreeMap::new();
    for e in fs::read_dir(&status_d).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some() {
            continue; // .md5sums
        }
        let text = fs::read_to_string(&p).unwrap();
        let field =
            |k: &str| text.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
        want.insert(field("Package:"), field("Version:"));
    }
    for pkg in ["base-files", "ca-certificates", "tzdata", "netbase"] {
        assert!(want.contains_key(pkg), "{pkg} missing from status.d: {want:?}");
    }

    let want: Vec<(String, String)> = want.into_iter().collect();
    if let Some(syft) = std::env::var_os("MBI_SYFT").filter(|p| Path::new(p).is_file()) {
        let inv = scanners::syft(Path::new(&syft), &root).unwrap();
        assert_eq!(inv.packages, want, "syft");
        assert_eq!(inv.report["distro"]["id"], "debian");
    } else {
        eprintln!("SKIP (part): MBI_SYFT not set (scripts/test.sh installs syft)");
    }
    if let Some(trivy) = std::env::var_os("MBI_TRIVY").filter(|p| Path::new(p).is_file()) {
        let inv = scanners::trivy(Path::new(&trivy), &root, &t.path().join("trivy-cache")).unwrap();
        assert_eq!(inv.packages, want, "trivy");
    } else {
        eprintln!("SKIP (part): MBI_TRIVY not set (scripts/test.sh installs trivy)");
    }
}
