//! Live: Ubuntu 24.04 (noble) and 16.04 (xenial) images from an Ubuntu archive mirror named by
//! `MBI_UBUNTU_MIRROR` (its base URI, ending in `/ubuntu`). Skipped, with the reason, when the
//! variable is unset or the mirror does not answer.
//!
//! The keyring is `MBI_UBUNTU_KEYRING` if set; otherwise it is taken from the archive's own
//! `ubuntu-keyring` package and accepted only if it holds the pinned fingerprint of the
//! Ubuntu Archive Automatic Signing Key (2018), checked with gpg.

mod cli_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cli_support::*;

/// Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com>.
const PINNED: &str = "F6ECB3762474EDA9D21B7022871920D1991BC93C";

fn mirror() -> Option<String> {
    let Some(m) = std::env::var("MBI_UBUNTU_MIRROR").ok().filter(|m| !m.is_empty()) else {
        eprintln!("SKIP live Ubuntu test: MBI_UBUNTU_MIRROR is not set");
        return None;
    };
    let m = m.trim_end_matches('/').to_owned();
    let probe = format!("{m}/dists/noble/InRelease");
    let answered = Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "--max-time", "5", &probe])
        .status()
        .is_ok_and(|s| s.success());
    if !answered {
        eprintln!("SKIP live Ubuntu test: {probe} did not answer within 5 s");
        return None;
    }
    Some(m)
}

/// The archive keyring: given, or extracted from `ubuntu-keyring` and checked against [`PINNED`].
fn keyring(mirror: &str, dir: &Path) -> PathBuf {
    if let Some(k) =
        std::env::var_os("MBI_UBUNTU_KEYRING").map(PathBuf::from).filter(|k| k.is_file())
    {
        return k;
    }
    let index = dir.join("Packages");
    ok(Command::new("sh").arg("-c").arg(format!(
        "curl -sf --max-time 60 '{mirror}/dists/noble/main/binary-amd64/Packages.xz' | xz -d > '{}'",
        index.display()
    )));
    let text = fs::read_to_string(&index).unwrap();
    let stanza = text.split("\n\n").find(|s| s.starts_with("Package: ubuntu-keyring\n")).unwrap();
    let field = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_owned();
    let deb = dir.join("ubuntu-keyring.deb");
    ok(Command::new("curl")
        .args(["-sf", "--max-time", "60", "-o"])
        .arg(&deb)
        .arg(format!("{mirror}/{}", field("Filename:"))));
    let sum = ok(Command::new("sha256sum").arg(&deb));
    assert_eq!(sum.split_whitespace().next().unwrap(), field("SHA256:"));
    let x = dir.join("x");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    let k = x.join("usr/share/keyrings/ubuntu-archive-keyring.gpg");
    let shown = ok(Command::new("gpg")
        .args(["--show-keys", "--with-colons"])
        .arg(&k)
        .env("GNUPGHOME", dir));
    assert!(
        shown.lines().any(|l| l.starts_with("fpr:") && l.contains(PINNED)),
        "ubuntu-keyring does not hold the pinned key {PINNED}"
    );
    k
}

fn build_and_run(spec: &str, mirror: &str, keyring: &Path, t: &Path) {
    let out = t.join(spec.trim_end_matches(".yaml"));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cache = std::env::temp_dir().join("mbi-ubuntu-live-cache");
    let digest = digest_line(&ok(mbi()
        .env("MBI_UBUNTU_MIRROR", mirror)
        .env("MBI_UBUNTU_KEYRING", keyring)
        .arg("build")
        .arg(examples.join(spec))
        .arg("--cache-dir")
        .arg(&cache)
        .args(["--out", &oci(&out, "latest")])));
    eprintln!("{spec}: {digest}");
    let root = t.join(format!("{spec}-rootfs"));
    let root_user = is_root();
    let mut unpack = mbi();
    unpack.arg("unpack");
    if !root_user {
        unpack.arg("--rootless");
    }
    ok(unpack.arg(oci(&out, "latest")).arg(&root));
    let os = fs::read_to_string(root.join("etc/os-release")).unwrap();
    assert!(os.contains("ID=ubuntu"), "{os}");
    let admin = format!("--admindir={}", root.join("var/lib/dpkg").display());
    let audit = ok(Command::new("dpkg").arg(&admin).arg("--audit"));
    assert_eq!(audit.trim(), "", "{spec}: dpkg --audit: {audit}");
    if root_user {
        let v = ok(Command::new("chroot").arg(&root).args([
            "/bin/bash",
            "-c",
            "apt-get --version | head -1",
        ]));
        assert!(v.starts_with("apt "), "{v}");
    } else {
        eprintln!("SKIP (part): chroot needs root");
    }
}

#[test]
fn live_ubuntu_noble_and_xenial() {
    let Some(m) = mirror() else { return };
    let t = scratch();
    let k = keyring(&m, t.path());
    build_and_run("ubuntu-noble.yaml", &m, &k, t.path());
    build_and_run("ubuntu-xenial.yaml", &m, &k, t.path());
}
