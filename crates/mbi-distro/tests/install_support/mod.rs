//! Test support for the install tests: real `.deb` files built with `dpkg-deb`, and hostile
//! ones crafted with python's `tarfile` + a hand-written ar container.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A package to build with `dpkg-deb --root-owner-group`.
#[derive(Clone, Debug)]
pub struct DebSpec {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Extra control fields (`Depends: x`, …), in order.
    pub fields: Vec<(String, String)>,
    /// (path without leading /, content, mode)
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// Directories (created even if empty).
    pub dirs: Vec<String>,
    /// (path, target)
    pub symlinks: Vec<(String, String)>,
    /// (path, existing file path) hard links
    pub hardlinks: Vec<(String, String)>,
    /// conffiles (absolute paths)
    pub conffiles: Vec<String>,
    /// (name, content) maintainer scripts and other control members
    pub control_files: Vec<(String, Vec<u8>)>,
    /// `xz`, `gzip`, `zstd` or `none`
    pub compression: String,
    /// Whether to generate `md5sums` as dh_md5sums does.
    pub md5sums: bool,
}

impl DebSpec {
    pub fn new(name: &str, version: &str) -> Self {
        DebSpec {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            files: Vec::new(),
            dirs: Vec::new(),
            symlinks: Vec::new(),
            hardlinks: Vec::new(),
            conffiles: Vec::new(),
            control_files: Vec::new(),
            compression: "xz".into(),
            md5sums: true,
        }
    }
    pub fn arch(mut self, a: &str) -> Self {
        self.arch = a.into();
        self
    }
    pub fn field(mut self, k: &str, v: &str) -> Self {
        self.fields.push((k.into(), v.into()));
        self
    }
    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.into(), content.to_vec(), 0o644));
        self
    }
    pub fn file_mode(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        self.files.push((path.into(), content.to_vec(), mode));
        self
    }
    pub fn dir(mut self, path: &str) -> Self {
        self.dirs.push(path.into());
        self
    }
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.symlinks.push((path.into(), target.into()));
        self
    }
    pub fn hardlink(mut self, path: &str, existing: &str) -> Self {
        self.hardlinks.push((path.into(), existing.into()));
        self
    }
    pub fn conffile(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.trim_start_matches('/').into(), content.to_vec(), 0o644));
        self.conffiles.push(format!("/{}", path.trim_start_matches('/')));
        self
    }
    pub fn script(mut self, name: &str, content: &str) -> Self {
        self.control_files.push((name.into(), content.as_bytes().to_vec()));
        self
    }
    pub fn compression(mut self, c: &str) -> Self {
        self.compression = c.into();
        self
    }
    pub fn no_md5sums(mut self) -> Self {
        self.md5sums = false;
        self
    }

    pub fn filename(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version.replace(':', "%3a"), self.arch)
    }

    /// Builds the package into `out_dir` and returns its path.
    pub fn build(&self, out_dir: &Path) -> PathBuf {
        let work = tempfile::Builder::new().prefix("debsrc").tempdir_in(out_dir).unwrap();
        let root = work.path().join("root");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        for d in &self.dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        for (p, content, mode) in &self.files {
            let full = root.join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, content).unwrap();
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(*mode)).unwrap();
        }
        for (p, target) in &self.symlinks {
            let full = root.join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &full).unwrap();
        }
        for (p, existing) in &self.hardlinks {
            let full = root.join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::hard_link(root.join(existing), &full).unwrap();
        }
        let mut control = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <test@example.invalid>\n",
            self.name, self.version, self.arch
        );
        for (k, v) in &self.fields {
            writeln!(control, "{k}: {v}").unwrap();
        }
        if !self.fields.iter().any(|(k, _)| k == "Description") {
            control.push_str("Description: test package\n A package built by the mbi tests.\n");
        }
        std::fs::write(root.join("DEBIAN/control"), control).unwrap();
        if !self.conffiles.is_empty() {
            std::fs::write(root.join("DEBIAN/conffiles"), self.conffiles.join("\n") + "\n")
                .unwrap();
        }
        for (name, content) in &self.control_files {
            let full = root.join("DEBIAN").join(name);
            std::fs::write(&full, content).unwrap();
            let mode = if matches!(
                name.as_str(),
                "preinst" | "postinst" | "prerm" | "postrm" | "config"
            ) {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        if self.md5sums && !self.files.is_empty() {
            // As dh_md5sums does: md5sum of every regular file, minus conffiles.
            let out = Command::new("sh")
                .arg("-c")
                .arg(
                    "cd \"$1\" && find . -type f ! -path './DEBIAN/*' -printf '%P\\0' | LC_ALL=C sort -z | xargs -0r md5sum",
                )
                .arg("sh")
                .arg(&root)
                .output()
                .unwrap();
            assert!(out.status.success());
            let text = String::from_utf8(out.stdout).unwrap();
            let kept: String = text
                .lines()
                .filter(|l| !self.conffiles.iter().any(|c| l.ends_with(&format!("  {}", &c[1..]))))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(root.join("DEBIAN/md5sums"), kept).unwrap();
        }
        let out = out_dir.join(self.filename());
        let st = Command::new("dpkg-deb")
            .args(["--root-owner-group", "--nocheck"])
            .arg(format!("-Z{}", self.compression))
            .arg("--build")
            .arg(&root)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "dpkg-deb failed for {}", self.name);
        out
    }
}

/// Builds a tar archive with python's `tarfile` from a python snippet that adds members to
/// `t` (a `tarfile.TarFile` opened for writing) and returns the bytes.
pub fn python_tar(body: &str) -> Vec<u8> {
    let script = format!(
        "import io, sys, tarfile\nbuf = io.BytesIO()\nt = tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT)\n\
         def add(name, data=b'', type=tarfile.REGTYPE, linkname='', mode=0o644, size=None):\n\
         \x20   ti = tarfile.TarInfo(name); ti.type = type; ti.linkname = linkname; ti.mode = mode\n\
         \x20   ti.size = len(data) if size is None else size\n\
         \x20   t.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)\n\
         {body}\nt.close()\nsys.stdout.buffer.write(buf.getvalue())\n"
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// An ar archive of `members` written as dpkg-deb writes them.
pub fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let h =
            format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", name, 0, 0, 0, "100644", data.len());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// A minimal valid control.tar (uncompressed) for package `name`.
pub fn control_tar(name: &str) -> Vec<u8> {
    python_tar(&format!(
        "add('./', type=tarfile.DIRTYPE, mode=0o755)\n\
         add('./control', b'Package: {name}\\nVersion: 1.0\\nArchitecture: all\\nDescription: x\\n')"
    ))
}

/// A .deb with the given data.tar bytes (uncompressed).
pub fn craft_deb(name: &str, data_tar: &[u8]) -> Vec<u8> {
    ar(&[("debian-binary", b"2.0\n"), ("control.tar", &control_tar(name)), ("data.tar", data_tar)])
}

/// Runs a command and returns stdout, panicking with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A temporary directory on tmpfs when available.
pub fn shm_tempdir() -> tempfile::TempDir {
    let base = Path::new("/dev/shm");
    if base.is_dir() {
        tempfile::Builder::new().prefix("mbi-install-test").tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}
