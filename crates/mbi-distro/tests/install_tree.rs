//! The installer against packages built by `dpkg-deb`, checked with the real dpkg tools.

mod install_support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use install_support::*;
use mbi_distro::Error;
use mbi_distro::apt::install::{
    Flavour, InstallOptions, Installation, Installer, MergedUsr, PackageFile,
};
use mbi_distro::apt::layering::{Layering, split};
use mbi_distro::apt::scripts::{Account, ScriptAction, write_tree_to_dir};

const SDE: i64 = 1_700_000_000;

fn native_arch() -> String {
    run(Command::new("dpkg").arg("--print-architecture")).trim().to_owned()
}

/// A small Debian-like system: base-files (≥ 12, so merged-/usr), base-passwd, a tool with a
/// conffile, an alternative and a file trigger, a Multi-Arch: same library without md5sums.
fn fixture_set(dir: &Path, arch: &str) -> Vec<PathBuf> {
    let passwd = "root:*:0:0:root:/root:/bin/bash\ndaemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nmail:*:8:8:mail:/var/mail:/usr/sbin/nologin\n_apt:*:42:65534::/nonexistent:/usr/sbin/nologin\nnobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    let group = "root:*:0:\ndaemon:*:1:\nmail:*:8:\nshadow:*:42:\nutmp:*:43:\nstaff:*:50:\nnogroup:*:65534:\n";
    vec![
        DebSpec::new("base-files", "12.4+deb12u5")
            .arch(arch)
            .field("Essential", "yes")
            .field("Priority", "required")
            .dir("bin")
            .dir("lib")
            .dir("root")
            .dir("tmp")
            .dir("usr/share/info")
            .dir("var/log")
            .file("etc/debian_version", b"12.5\n")
            .file("usr/lib/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n")
            .symlink("etc/os-release", "../usr/lib/os-release")
            .file("usr/share/base-files/dot.profile", b"# ~/.profile\n")
            .file("usr/share/base-files/dot.bashrc", b"# ~/.bashrc\n")
            .file("usr/share/base-files/info.dir", b"info dir\n")
            .conffile("/etc/host.conf", b"multi on\n")
            .script("postinst", "#!/bin/sh\nset -e\n# emulated by mbi\nexit 0\n")
            .build(dir),
        DebSpec::new("base-passwd", "3.6.1")
            .arch(arch)
            .file("usr/share/base-passwd/passwd.master", passwd.as_bytes())
            .file("usr/share/base-passwd/group.master", group.as_bytes())
            .script("postinst", "#!/bin/sh\nexit 0\n")
            .build(dir),
        DebSpec::new("fx-tool", "1:2.0~rc1-1")
            .arch(arch)
            .field("Depends", "fx-lib (>= 1.0)")
            .file_mode("bin/fx-tool", b"#!/bin/sh\necho fx\n", 0o755)
            .file("usr/share/man/man1/fx-tool.1.gz", b"man")
            .conffile("/etc/fx-tool.conf", b"answer=42\n")
            .script(
                "postinst",
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives --install /usr/bin/fx fx /usr/bin/fx-tool 20 \\\n    --slave /usr/share/man/man1/fx.1.gz fx.1.gz /usr/share/man/man1/fx-tool.1.gz\nfi\n",
            )
            .script("triggers", "interest-noawait /usr/lib/fx\n")
            .build(dir),
        DebSpec::new("fx-alt", "1.0")
            .arch(arch)
            .file_mode("usr/bin/fx-alt", b"#!/bin/sh\necho alt\n", 0o755)
            .script("postinst", "#!/bin/sh\nupdate-alternatives --install /usr/bin/fx fx /usr/bin/fx-alt 10\n")
            .build(dir),
        DebSpec::new("fx-lib", "1.2-3")
            .arch(arch)
            .field("Multi-Arch", "same")
            .field("Source", "fx (1.2-3)")
            .file(&format!("usr/lib/{arch}-gnu/libfx.so.1"), b"\x7fELF lib")
            .file("usr/share/doc/fx-lib/copyright", b"public domain\n")
            .hardlink(&format!("usr/lib/{arch}-gnu/libfx.so.1.2"), &format!("usr/lib/{arch}-gnu/libfx.so.1"))
            .no_md5sums()
            .compression("zstd")
            .build(dir),
    ]
}

fn install(debs: &[PathBuf], spool: &Path, o: InstallOptions) -> Result<Installation, Error> {
    let _ = spool;
    let files: Vec<PackageFile> = debs.iter().map(|p| PackageFile::new(p.clone())).collect();
    Installer::new(o).install(&files)
}

fn options(spool: &Path) -> InstallOptions {
    InstallOptions::new(native_arch(), spool).source_date_epoch(SDE)
}

fn write(inst: &Installation, dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    write_tree_to_dir(&inst.tree, &root, SDE).unwrap();
    root
}

#[test]
fn full_image_is_accepted_by_dpkg() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let debs = fixture_set(dir.path(), &arch);
    let inst = install(&debs, dir.path(), options(dir.path())).unwrap();
    assert!(inst.merged_usr, "base-files 12 means merged-/usr");
    let root = write(&inst, dir.path());
    let admin = root.join("var/lib/dpkg");

    // dpkg-query sees every package, installed.
    let q = run(Command::new("dpkg-query").arg(format!("--admindir={}", admin.display())).args([
        "-W",
        "-f",
        "${Package} ${Version} ${db:Status-Abbrev}\n",
    ]));
    let got: Vec<&str> = q.lines().collect();
    assert_eq!(
        got,
        [
            "base-files 12.4+deb12u5 ii ",
            "base-passwd 3.6.1 ii ",
            "fx-alt 1.0 ii ",
            "fx-lib 1.2-3 ii ",
            "fx-tool 1:2.0~rc1-1 ii "
        ]
    );
    // dpkg --audit: nothing to say.
    let audit = run(Command::new("dpkg").arg(format!("--root={}", root.display())).arg("--audit"));
    assert_eq!(audit, "");
    // dpkg --verify: silent (it exits 0 even with problems, so its output is what counts).
    let verify =
        run(Command::new("dpkg").arg(format!("--root={}", root.display())).arg("--verify"));
    assert_eq!(verify, "", "dpkg --verify reported problems");
    // ... and it does notice a modified file, so the check above can fail.
    std::fs::write(root.join("usr/bin/fx-tool"), b"tampered").unwrap();
    let verify =
        run(Command::new("dpkg").arg(format!("--root={}", root.display())).arg("--verify"));
    assert!(verify.contains("/bin/fx-tool"), "{verify}");

    // dpkg -L lists exactly what dpkg-deb -c lists, merged-/usr files land in /usr.
    let listed = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-L", "fx-tool"]));
    let deb = debs.iter().find(|p| p.to_string_lossy().contains("fx-tool")).unwrap();
    let mut want: Vec<String> = run(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .map(|l| {
            let p = l.split_whitespace().nth(5).unwrap();
            let p = p.trim_start_matches('.').trim_end_matches('/');
            if p.is_empty() { "/.".to_owned() } else { p.to_owned() }
        })
        .collect();
    let mut got: Vec<String> = listed.lines().map(str::to_owned).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(root.join("usr/bin/fx-tool").is_file());
    assert_eq!(std::fs::read_link(root.join("bin")).unwrap(), Path::new("usr/bin"));
    assert_eq!(std::fs::read_link(root.join("lib")).unwrap(), Path::new("usr/lib"));

    // Status stanza of the conffile package: conffile hash = md5 of the installed file.
    let status = std::fs::read_to_string(admin.join("status")).unwrap();
    let md5 = run(Command::new("md5sum").arg(root.join("etc/fx-tool.conf")));
    let md5 = md5.split_whitespace().next().unwrap();
    assert!(status.contains(&format!("Conffiles:\n /etc/fx-tool.conf {md5}\n")), "{status}");
    // md5sums generated for the package that ships none, Multi-Arch: same naming.
    let lib_md5 =
        std::fs::read_to_string(admin.join(format!("info/fx-lib:{arch}.md5sums"))).unwrap();
    assert!(lib_md5.contains(&format!("  usr/lib/{arch}-gnu/libfx.so.1\n")), "{lib_md5}");
    // File trigger interest recorded as dpkg does.
    let file_triggers = std::fs::read_to_string(admin.join("triggers/File")).unwrap();
    assert_eq!(file_triggers, "/usr/lib/fx fx-tool/noawait\n");

    // update-alternatives accepts our administrative files: fx → fx-tool (priority 20 > 10).
    let q =
        run(Command::new("update-alternatives").arg("--root").arg(&root).args(["--query", "fx"]));
    assert!(q.contains("Status: auto"), "{q}");
    assert!(q.contains("Best: /usr/bin/fx-tool"), "{q}");
    assert!(q.contains("Alternative: /usr/bin/fx-alt\nPriority: 10"), "{q}");
    assert_eq!(
        std::fs::read_link(root.join("usr/bin/fx")).unwrap(),
        Path::new("/etc/alternatives/fx")
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/alternatives/fx")).unwrap(),
        Path::new("/usr/bin/fx-tool")
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/alternatives/fx.1.gz")).unwrap(),
        Path::new("/usr/share/man/man1/fx-tool.1.gz")
    );

    // Accounts: base-passwd's masters, shadowed, root's home and dotfiles from base-files.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/bash\n"), "{passwd}");
    let shadow = std::fs::read_to_string(root.join("etc/shadow")).unwrap();
    assert!(shadow.starts_with(&format!("root:*:{}:0:99999:7:::\n", SDE / 86400)), "{shadow}");
    let md = std::fs::metadata(root.join("etc/shadow")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.gid()), (0o640, 42));
    assert_eq!(std::fs::read(root.join("root/.profile")).unwrap(), b"# ~/.profile\n");
    assert_eq!(std::fs::metadata(root.join("var/mail")).unwrap().mode() & 0o7777, 0o2775);

    // The script report names every script.
    let notes: BTreeMap<(String, String), ScriptAction> =
        inst.report.iter().map(|n| ((n.package.clone(), n.script.clone()), n.action)).collect();
    assert_eq!(notes[&("base-files".into(), "postinst".into())], ScriptAction::Emulated);
    assert_eq!(notes[&("fx-tool".into(), "postinst".into())], ScriptAction::Partial);
    assert_eq!(notes[&("fx-alt".into(), "postinst".into())], ScriptAction::Partial);
}

/// dpkg itself installs the same script-less packages into an empty root: the database files
/// must be byte-identical.
#[test]
fn database_equals_what_dpkg_writes() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let debs = vec![
        DebSpec::new("alpha", "1.0-1")
            .arch(&arch)
            .field("Depends", "beta(>=2), gamma|delta")
            .field("Homepage", "https://example.invalid/alpha")
            .field("Multi-Arch", "foreign")
            .file("usr/share/alpha/data", b"alpha data\n")
            .conffile("/etc/alpha.conf", b"a=1\n")
            .symlink("usr/bin/alpha", "../share/alpha/data")
            .script("triggers", "interest-noawait /usr/share/alpha\ninterest alpha-refresh\n")
            .script("shlibs", "libalpha 1 alpha (>= 1.0)\n")
            .build(dir.path()),
        DebSpec::new("beta", "2:2.5~b1")
            .arch("all")
            .field("Essential", "yes")
            .field("Replaces", "alpha (<< 0.9)")
            .field("Source", "beta-src (2:2.5~b1)")
            .file("usr/share/beta/b", b"b\n")
            .dir("var/lib/beta")
            .build(dir.path()),
        DebSpec::new("gamma", "0.1")
            .arch(&arch)
            .field("Multi-Arch", "same")
            .file("usr/lib/gamma.so", b"g")
            .no_md5sums()
            .compression("gzip")
            .build(dir.path()),
    ];
    let ours = install(&debs, dir.path(), options(dir.path()).merged_usr(MergedUsr::No)).unwrap();
    let ours_root = write(&ours, dir.path());

    let theirs = dir.path().join("dpkg-root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
        std::fs::create_dir_all(theirs.join(d)).unwrap();
    }
    std::fs::write(theirs.join("var/lib/dpkg/status"), b"").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", theirs.display()))
        .args(["--force-not-root", "--force-script-chrootless", "--log=/dev/null", "--install"])
        .args(&debs));
    let a = ours_root.join("var/lib/dpkg");
    let b = theirs.join("var/lib/dpkg");
    let read =
        |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(read(&a.join("status")), read(&b.join("status")));
    for f in [
        "alpha.list".to_owned(),
        "alpha.md5sums".into(),
        "alpha.conffiles".into(),
        "alpha.triggers".into(),
        "alpha.shlibs".into(),
        "beta.list".into(),
        "beta.md5sums".into(),
        format!("gamma:{arch}.list"),
        format!("gamma:{arch}.md5sums"),
        "format".into(),
    ] {
        assert_eq!(read(&a.join("info").join(&f)), read(&b.join("info").join(&f)), "info/{f}");
    }
    assert_eq!(read(&a.join("triggers/File")), read(&b.join("triggers/File")));
    assert_eq!(read(&a.join("triggers/alpha-refresh")), read(&b.join("triggers/alpha-refresh")));
    // Same files on disk (dpkg's view of the installed files).
    let files = |root: &Path| -> Vec<String> {
        let out = run(Command::new("find")
            .arg(".")
            .arg("-path")
            .arg("./var/lib/dpkg")
            .arg("-prune")
            .arg("-o")
            .arg("-print")
            .current_dir(root));
        let mut v: Vec<String> = out.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(files(&ours_root), files(&theirs));
}

/// The conflict rules, with packages from the shared fixture builder (`mbi_testkit::apt`).
#[test]
fn file_conflicts_follow_dpkg_rules() {
    use mbi_testkit::apt::Deb;
    let dir = shm_tempdir();
    let arch = native_arch();
    let d = dir.path();
    let one = Deb::new("one", "1.0")
        .arch(&arch)
        .file("/usr/share/common/file", "one\n")
        .build(d)
        .unwrap();
    let two = Deb::new("two", "1.0")
        .arch(&arch)
        .file("/usr/share/common/file", "two\n")
        .build(d)
        .unwrap();
    let err = install(&[one.clone(), two.clone()], d, options(d)).unwrap_err();
    match &err {
        Error::FileConflict { path, package, owner } => {
            assert_eq!(path, "/usr/share/common/file");
            assert!(package.starts_with("two_") && owner.starts_with("one_"), "{err}");
        }
        other => panic!("unexpected {other}"),
    }
    // With Replaces (version-matched), the later package takes the file over.
    let three = Deb::new("three", "1.0")
        .arch(&arch)
        .replaces("one (<< 2)")
        .file("/usr/share/common/file", "three\n")
        .build(d)
        .unwrap();
    let inst = install(&[one.clone(), three], d, options(d)).unwrap();
    let root = write(&inst, d);
    assert_eq!(std::fs::read(root.join("usr/share/common/file")).unwrap(), b"three\n");
    // Replaces whose version does not match does not allow it.
    let four = Deb::new("four", "1.0")
        .arch(&arch)
        .replaces("one (<< 0.5)")
        .file("/usr/share/common/file", "four\n")
        .build(d)
        .unwrap();
    assert!(matches!(
        install(&[one.clone(), four], d, options(d)),
        Err(Error::FileConflict { .. })
    ));
    // A file where another package has a directory.
    let five = Deb::new("five", "1.0").arch(&arch).file("/usr/share/common", "x").build(d).unwrap();
    let err = install(&[one.clone(), five], d, options(d)).unwrap_err();
    assert!(matches!(err, Error::InstallPath { .. }), "{err}");
    // Multi-Arch: same instances of one package may share identical files, not different ones.
    let foreign = if arch == "amd64" { "arm64" } else { "amd64" };
    let same = |a: &str, content: &str| {
        Deb::new("libshared", "1.0")
            .arch(a)
            .multi_arch("same")
            .file("/usr/share/doc/libshared/changelog", content.to_owned())
            .file(&format!("/usr/lib/{a}/libshared.so"), a.to_owned())
            .build(d)
            .unwrap()
    };
    let (n1, n2) = (same(&arch, "same\n"), same(foreign, "same\n"));
    install(&[n1.clone(), n2], d, options(d)).unwrap();
    let other = tempfile::tempdir_in(d).unwrap();
    let n3 = Deb::new("libshared", "1.0")
        .arch(foreign)
        .multi_arch("same")
        .file("/usr/share/doc/libshared/changelog", "different\n")
        .build(other.path())
        .unwrap();
    assert!(matches!(install(&[n1, n3], d, options(d)), Err(Error::FileConflict { .. })));
    // allow_overwrite is dpkg's --force-overwrite.
    install(&[one, two], d, options(d).allow_overwrite(true)).unwrap();
}

#[test]
fn distroless_database_accounts_and_emulated_effects() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let ca_postinst = "#!/bin/sh\nset -e\nif [ ! -e /etc/ca-certificates.conf ]; then\n\t  cat > /etc/ca-certificates.conf <<EOF\n# generated header\n#\nEOF\nfi\nupdate-ca-certificates\n";
    let debs = vec![
        DebSpec::new("tzdata", "2024a-0+deb12u1")
            .arch("all")
            .file("usr/share/zoneinfo/Etc/UTC", b"TZif2 utc")
            .file("usr/share/zoneinfo/Europe/Paris", b"TZif2 paris")
            .script("postinst", "#!/bin/sh\nexit 0\n")
            .script("config", "#!/bin/sh\nexit 0\n")
            .build(dir.path()),
        DebSpec::new("ca-certificates", "20230311")
            .arch("all")
            .file(
                "usr/share/ca-certificates/mozilla/B_Root (X1).crt",
                b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----",
            )
            .file(
                "usr/share/ca-certificates/mozilla/A,Root.crt",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            )
            .dir("etc/ssl/certs")
            .script("postinst", ca_postinst)
            .build(dir.path()),
        DebSpec::new("fx-app", "1.0")
            .arch(&arch)
            .file_mode("usr/bin/fx-app", b"#!/bin/sh\n", 0o755)
            .script("postinst", "#!/bin/sh\ntouch /var/lib/fx-app-configured\n")
            .build(dir.path()),
    ];
    let o = options(dir.path())
        .flavour(Flavour::Distroless)
        .timezone("Europe/Paris")
        .account(Account { groups: vec![], ..Account::new("app", 1000, 1000) });
    let inst = install(&debs, dir.path(), o).unwrap();
    let root = write(&inst, dir.path());
    // status.d as Google's distroless writes it.
    let st = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/tzdata")).unwrap();
    assert!(
        st.starts_with("Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0+deb12u1\n"),
        "{st}"
    );
    let md5 = std::fs::read_to_string(root.join("var/lib/dpkg/status.d/tzdata.md5sums")).unwrap();
    assert!(md5.contains("  usr/share/zoneinfo/Etc/UTC\n"));
    assert!(!root.join("var/lib/dpkg/status").exists());
    // Accounts.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert_eq!(
        passwd,
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
         nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/usr/sbin/nologin\n"
    );
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(group.contains("nonroot:x:65532:\n") && group.contains("app:x:1000:\n"), "{group}");
    let md = std::fs::metadata(root.join("home/nonroot")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.mode() & 0o777), (65532, 65532, 0o700));
    assert!(std::fs::read_to_string(root.join("etc/shadow")).unwrap().contains("nonroot:*:"));
    // tzdata.
    assert_eq!(
        std::fs::read_link(root.join("etc/localtime")).unwrap(),
        Path::new("/usr/share/zoneinfo/Europe/Paris")
    );
    assert_eq!(std::fs::read(root.join("etc/timezone")).unwrap(), b"Europe/Paris\n");
    // CA bundle in update-ca-certificates' order (byte order of names), newline added.
    let bundle = std::fs::read(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert_eq!(
        bundle,
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/ssl/certs/B_Root_=X1=.pem")).unwrap(),
        Path::new("/usr/share/ca-certificates/mozilla/B_Root (X1).crt")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ca-certificates.conf")).unwrap(),
        "# generated header\n#\nmozilla/A,Root.crt\nmozilla/B_Root (X1).crt\n"
    );
    // Nothing dropped silently: the unknown script is reported as skipped.
    let skipped: Vec<_> =
        inst.report.iter().filter(|n| n.action == ScriptAction::Skipped).collect();
    assert!(skipped.iter().any(|n| n.package == "fx-app" && n.script == "postinst"), "{skipped:?}");
    assert!(!root.join("var/lib/fx-app-configured").exists());
    // An unknown time zone is an error, not a dangling link.
    let bad = options(dir.path()).flavour(Flavour::Distroless).timezone("Mars/Olympus");
    assert!(install(&debs, dir.path(), bad).is_err());
}

fn digest_of(inst: &Installation) -> String {
    let store = mbi_core::MemoryStore::new();
    let layer =
        mbi_layer::LayerWriter::new(mbi_layer::LayerOptions::default().source_date_epoch(SDE))
            .write_tree(&inst.tree, &store)
            .unwrap();
    layer.descriptor.digest.to_string()
}

#[test]
fn deterministic_whatever_the_spool_dir_and_threads() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let debs = fixture_set(dir.path(), &arch);
    let s1 = dir.path().join("s1");
    let s2 = dir.path().join("s2");
    std::fs::create_dir(&s1).unwrap();
    std::fs::create_dir(&s2).unwrap();
    let a = install(&debs, &s1, InstallOptions::new(&arch, &s1).source_date_epoch(SDE).threads(1))
        .unwrap();
    let b = install(&debs, &s2, InstallOptions::new(&arch, &s2).source_date_epoch(SDE).threads(4))
        .unwrap();
    assert_eq!(digest_of(&a), digest_of(&b));
    // A different SOURCE_DATE_EPOCH changes the shadow day: the digest must change too.
    let c =
        install(&debs, &s1, InstallOptions::new(&arch, &s1).source_date_epoch(SDE + 10 * 86400))
            .unwrap();
    assert_ne!(digest_of(&a), digest_of(&c));
}

/// Walks a directory into path → (type, mode, uid, gid, size, link, content hash).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let out = run(Command::new("find")
        .arg(".")
        .args(["-printf", "%p %y %m %U %G %s %l\\n"])
        .current_dir(root));
    let mut m = BTreeMap::new();
    for l in out.lines() {
        let p = l.split(' ').next().unwrap().to_owned();
        let mut v = l.to_owned();
        let full = root.join(&p);
        if full.symlink_metadata().unwrap().is_file() {
            let sum = run(Command::new("md5sum").arg(&full));
            v.push(' ');
            v.push_str(sum.split_whitespace().next().unwrap());
        }
        m.insert(p, v);
    }
    m
}

#[test]
fn layering_keeps_the_rootfs_identical() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let debs = fixture_set(dir.path(), &arch);
    let inst = install(&debs, dir.path(), options(dir.path())).unwrap();
    let store = mbi_core::MemoryStore::new();
    let writer =
        mbi_layer::LayerWriter::new(mbi_layer::LayerOptions::default().source_date_epoch(SDE));
    let mut snaps = Vec::new();
    for (k, layering) in
        [Layering::Single, Layering::PerSource, Layering::Budget(2)].into_iter().enumerate()
    {
        let groups = split(&inst, layering).unwrap();
        match layering {
            Layering::Single => assert_eq!(groups.len(), 1),
            Layering::PerSource => {
                let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
                assert_eq!(
                    names,
                    ["base-files", "base-passwd", "fx-tool", "fx-alt", "fx", "system"]
                );
            }
            Layering::Budget(n) => assert_eq!(groups.len(), n),
            _ => unreachable!(),
        }
        let target = dir.path().join(format!("unpacked-{k}"));
        std::fs::create_dir(&target).unwrap();
        for g in &groups {
            let layer = writer.write_tree(&g.tree, &store).unwrap();
            let blob = mbi_core::BlobStore::open(&store, &layer.descriptor.digest).unwrap();
            let comp = layer.descriptor.media_type.layer_compression().unwrap();
            mbi_layer::unpack_layer(
                blob,
                comp,
                &target,
                &mbi_layer::UnpackOptions::default().same_owner(true),
            )
            .unwrap();
        }
        snaps.push(snapshot(&target));
    }
    assert_eq!(snaps[0], snaps[1], "per-source layers differ from the single layer");
    assert_eq!(snaps[0], snaps[2], "budget layers differ from the single layer");
    assert!(snaps[0].len() > 40);
}

#[test]
fn refuses_a_package_that_is_not_what_the_index_said() {
    let dir = shm_tempdir();
    let arch = native_arch();
    let p = DebSpec::new("real-name", "1.0").arch(&arch).file("x", b"x").build(dir.path());
    let files = [PackageFile::expecting(p, "other-name", "1.0", &arch)];
    let err = Installer::new(options(dir.path())).install(&files).unwrap_err();
    assert!(err.to_string().contains("expected other-name 1.0"), "{err}");
}
