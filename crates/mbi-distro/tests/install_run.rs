//! Running the real maintainer scripts inside the new root, with the real dpkg: a "host tools"
//! package carries the host's own dpkg, shell and libraries (found with `ldd`), so the test
//! needs no network. Skipped (with a message) when the host can neither chroot as root nor
//! create user namespaces.

mod install_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use install_support::*;
use mbi_distro::apt::install::{InstallOptions, Installer, MergedUsr, PackageFile};
use mbi_distro::apt::scripts::{Isolation, ScriptAction, ScriptPolicy, write_tree_to_dir};

const SDE: i64 = 1_700_000_000;

const TOOLS: &[&str] = &[
    "sh",
    "dash",
    "dpkg",
    "dpkg-query",
    "dpkg-divert",
    "dpkg-trigger",
    "dpkg-maintscript-helper",
    "update-alternatives",
    "start-stop-daemon",
    "ldconfig",
    "rm",
    "cat",
    "touch",
    "mkdir",
    "ln",
    "mv",
    "cp",
    "chmod",
    "readlink",
    "sed",
    "tar",
    "diff",
    "dpkg-deb",
];

fn can_run_scripts() -> bool {
    let ok = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok || Command::new("unshare")
        .args(["--map-root-user", "--mount", "--pid", "--fork", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A package named `dpkg` with the host's dpkg, tools and the libraries they need, at their
/// host paths.
fn host_tools(dir: &Path, arch: &str) -> Option<PathBuf> {
    let mut spec = DebSpec::new("dpkg", "1.21.99").arch(arch).compression("zstd").no_md5sums();
    let mut libs = std::collections::BTreeSet::new();
    for t in TOOLS {
        let out = Command::new("sh").arg("-c").arg(format!("command -v {t}")).output().ok()?;
        let path = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        if path.is_empty() {
            eprintln!("SKIPPED: {t} not found on the host");
            return None;
        }
        let real = std::fs::canonicalize(&path).ok()?;
        let data = std::fs::read(&real).ok()?;
        let rel = path.trim_start_matches('/').replacen(
            "bin/",
            "usr/bin/",
            usize::from(!path.starts_with("/usr/")),
        );
        spec = spec.file_mode(&rel, &data, 0o755);
        if data.starts_with(b"\x7fELF") {
            let ldd = Command::new("ldd").arg(&real).output().ok()?;
            for l in String::from_utf8_lossy(&ldd.stdout).lines() {
                let p = l.split("=>").last().unwrap_or("").split_whitespace().next().unwrap_or("");
                if p.starts_with('/') {
                    libs.insert(p.to_owned());
                }
            }
        }
    }
    for l in libs {
        let data = std::fs::read(std::fs::canonicalize(&l).ok()?).ok()?;
        spec = spec.file_mode(l.trim_start_matches('/'), &data, 0o755);
    }
    Some(spec.dir("var/lib/dpkg").dir("etc").dir("tmp").dir("dev").dir("proc").build(dir))
}

#[test]
fn real_scripts_run_in_dpkg_order_and_are_normalised() {
    scripts_run(Isolation::Auto);
}

/// The unprivileged path: a user namespace mapping the caller to root.
#[test]
fn real_scripts_run_in_a_user_namespace() {
    let userns = Command::new("unshare")
        .args(["--map-root-user", "--mount", "--pid", "--fork", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !userns {
        eprintln!("SKIPPED: user namespaces are not available here");
        return;
    }
    scripts_run(Isolation::UserNamespace);
}

fn scripts_run(isolation: Isolation) {
    if !can_run_scripts() {
        eprintln!("SKIPPED: neither root nor user namespaces: maintainer scripts cannot run here");
        return;
    }
    let dir = shm_tempdir();
    let arch = run(Command::new("dpkg").arg("--print-architecture")).trim().to_owned();
    let Some(tools) = host_tools(dir.path(), &arch) else { return };
    let app = DebSpec::new("fx-app", "2.0")
        .arch(&arch)
        .field("Depends", "fx-lib")
        .file_mode("usr/bin/fx-app", b"#!/bin/sh\necho app\n", 0o755)
        .script(
            "preinst",
            "#!/bin/sh\nset -e\necho \"preinst $1 $DPKG_MAINTSCRIPT_PACKAGE\" >> /var/lib/fx-order\n",
        )
        .script(
            "postinst",
            "#!/bin/sh\nset -e\necho \"postinst $1 $DPKG_MAINTSCRIPT_PACKAGE\" >> /var/lib/fx-order\n\
             update-alternatives --install /usr/bin/fx fx /usr/bin/fx-app 10\n\
             echo 0123456789abcdef > /etc/machine-id\necho noise > /tmp/leftover\n",
        )
        .build(dir.path());
    let lib = DebSpec::new("fx-lib", "1.0")
        .arch(&arch)
        .file("usr/share/fx-lib/data", b"lib\n")
        .script("postinst", "#!/bin/sh\nset -e\necho \"postinst $1 $DPKG_MAINTSCRIPT_PACKAGE\" >> /var/lib/fx-order\n")
        .build(dir.path());
    let files = [PackageFile::new(tools), PackageFile::new(lib), PackageFile::new(app)];
    let options = InstallOptions::new(&arch, dir.path())
        .source_date_epoch(SDE)
        .merged_usr(MergedUsr::Yes)
        .scripts(ScriptPolicy::Run(isolation));
    let inst = Installer::new(options).install(&files).unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().join("out");
    std::fs::create_dir(&root).unwrap();
    write_tree_to_dir(&inst.tree, &root, SDE).unwrap();

    // preinst of every package first (install order), then configure in dependency order.
    let order = std::fs::read_to_string(root.join("var/lib/fx-order")).unwrap();
    assert_eq!(
        order,
        "preinst install fx-app\npostinst configure fx-lib\npostinst configure fx-app\n"
    );
    // dpkg considers everything installed and consistent.
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert_eq!(status.matches("Status: install ok installed\n").count(), 3, "{status}");
    let audit = run(Command::new("dpkg").arg(format!("--root={}", root.display())).arg("--audit"));
    assert_eq!(audit, "");
    // update-alternatives ran for real.
    assert_eq!(
        std::fs::read_link(root.join("etc/alternatives/fx")).unwrap(),
        Path::new("/usr/bin/fx-app")
    );
    // Normalised: machine-id emptied, logs, *-old files and /tmp contents removed.
    assert_eq!(std::fs::read(root.join("etc/machine-id")).unwrap(), b"");
    assert!(!root.join("var/log/dpkg.log").exists());
    assert!(!root.join("var/log/alternatives.log").exists());
    assert!(!root.join("var/lib/dpkg/status-old").exists());
    assert!(!root.join("tmp/leftover").exists());
    assert!(!root.join("usr/sbin/policy-rc.d").exists());
    // Every script is reported as run; times are clamped.
    assert!(
        inst.report.iter().filter(|n| n.package == "fx-app").all(|n| n.action == ScriptAction::Ran)
    );
    assert!(inst.tree.iter().all(|e| e.mtime <= SDE));
}
