//! Helpers shared by the CLI tests: running the built `mbi` binary and the real tools,
//! fixture trees, directory descriptions for comparing trees, and hand-made (possibly
//! malicious) tar layers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use mbi::core::Digest;

/// The `mbi` binary under test, with a clean environment for the variables it reads
/// (credential files are looked up only where a test puts them).
pub fn mbi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mbi"));
    for v in ["SOURCE_DATE_EPOCH", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"] {
        c.env_remove(v);
    }
    c.env("HOME", "/nonexistent-mbi-test-home");
    c
}

/// A program of the root crate's `examples/`, as `cargo test` builds them next to the test
/// binaries (`target/<profile>/examples/`). `None`, with a line saying so, when it was not
/// built (`cargo test --test NAME` builds no examples); under `scripts/test.sh` (which sets
/// `MBI_TEST_REQUIRE_EXAMPLES` and builds them) a missing example fails the test instead.
pub fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    if path.is_file() {
        Some(path)
    } else if std::env::var_os("MBI_TEST_REQUIRE_EXAMPLES").is_some() {
        panic!("example {name} was not built at {}", path.display());
    } else {
        eprintln!("SKIP example {name}: not built at {} (run the whole suite)", path.display());
        None
    }
}

/// Where test data goes: tmpfs when present (the root filesystem is slow for many files).
pub fn scratch() -> tempfile::TempDir {
    let base = Path::new("/dev/shm");
    if base.is_dir() {
        tempfile::Builder::new().prefix("mbi-cli-test-").tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Runs a command, panicking with its stderr unless it succeeds; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    String::from_utf8(ok_bytes(cmd)).unwrap()
}

/// [`ok`], returning stdout's bytes.
pub fn ok_bytes(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out.stdout
}

/// Runs `mbi` expecting a failure, and checks how it failed: a non-zero status, no panic, and
/// exactly one error line (the last line of stderr, `mbi: error: …`). Returns that line.
pub fn fails(cmd: &mut Command) -> (i32, String) {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or_else(|| panic!("{cmd:?} was killed: {stderr}"));
    assert_ne!(code, 0, "{cmd:?} succeeded but should have failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{cmd:?} panicked: {stderr}");
    assert!(out.stdout.is_empty(), "{cmd:?} printed on stdout although it failed");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{cmd:?}: expected one error line, got:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("mbi: error: "), "{cmd:?}: last line is not the error:\n{stderr}");
    (code, last)
}

/// Whether a tool is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether all `tools` are present; says which are missing (the test then skips).
pub fn tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        eprintln!("SKIP: needs {} (apt-get install {})", missing.join(", "), missing.join(" "));
    }
    missing.is_empty()
}

/// Whether this process runs as root (owners can be restored, devices created).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `oci:PATH:TAG` (or `oci:PATH`).
pub fn oci(path: &Path, tag: &str) -> String {
    if tag.is_empty() {
        format!("oci:{}", path.display())
    } else {
        format!("oci:{}:{tag}", path.display())
    }
}

/// Parses `mbi inspect`'s JSON.
pub fn inspect(reference: &str) -> serde_json::Value {
    serde_json::from_str(&ok(mbi().args(["inspect", reference]))).unwrap()
}

/// The single manifest digest `mbi from-dir` / `mbi copy` printed.
pub fn digest_line(stdout: &str) -> String {
    let d = stdout.trim();
    assert!(d.starts_with("sha256:") && d.len() == 71 && !d.contains('\n'), "{stdout:?}");
    d.to_owned()
}

// ---------------------------------------------------------------------------------------------
// Fixture trees

/// One thing in a fixture tree.
#[derive(Debug, Clone)]
pub enum Item {
    Dir(&'static str, u32),
    File(&'static str, Vec<u8>, u32),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    Fifo(&'static str),
}

impl Item {
    fn path(&self) -> &'static str {
        match self {
            Item::Dir(p, _)
            | Item::File(p, _, _)
            | Item::Symlink(p, _)
            | Item::Hardlink(p, _)
            | Item::Fifo(p) => p,
        }
    }
}

/// Deterministic pseudo-random bytes (incompressible enough to make several compression
/// blocks and jobs).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Half noise, half text, so both compressors have work that is not trivial.
            if (i / 4096) % 2 == 0 { (x >> 33) as u8 } else { b"mbi fixture "[i % 12] }
        })
        .collect()
}

pub const LONG_DIR: &str =
    "deep/a-directory-name-that-is-long/another-long-directory-name-for-the-ustar-prefix";
pub const LONG_FILE: &str = "deep/a-directory-name-that-is-long/another-long-directory-name-for-the-ustar-prefix/and-a-file-name-that-is-longer-than-one-hundred-bytes-all-by-itself-which-needs-pax-headers-in-any-tar.txt";

/// The standard fixture: every kind of entry a layer holds without privileges, odd modes,
/// names that need PAX, hardlinks, symlinks (relative, absolute, dangling), empty dirs and
/// files, and a file big enough for several compression blocks.
pub fn standard_items() -> Vec<Item> {
    use Item::*;
    vec![
        Dir("bin", 0o755),
        File("bin/tool", b"#!/bin/sh\necho tool\n".to_vec(), 0o755),
        File("bin/setuid", b"\x7fELF pretend".to_vec(), 0o4755),
        Dir("etc", 0o755),
        File("etc/config", b"key = value\n".to_vec(), 0o644),
        File("etc/secret", b"s3cr3t\n".to_vec(), 0o600),
        Hardlink("etc/config.hard", "etc/config"),
        Hardlink("bin/tool-again", "bin/tool"),
        Symlink("lib", "usr/lib"),
        Symlink("config-abs", "/etc/config"),
        Symlink("dangling", "does/not/exist"),
        Dir("empty", 0o700),
        Dir("tmp", 0o1777),
        Dir("usr", 0o755),
        Dir("usr/lib", 0o755),
        File("usr/lib/big.bin", noise(3 << 20, 7), 0o644),
        File("usr/lib/empty-file", Vec::new(), 0o444),
        Dir("with space", 0o755),
        File("with space/ünïcödé file", "ü\n".as_bytes().to_vec(), 0o640),
        Dir("deep", 0o755),
        Dir("deep/a-directory-name-that-is-long", 0o755),
        Dir(LONG_DIR, 0o755),
        File(LONG_FILE, b"long\n".to_vec(), 0o644),
        Fifo("run-fifo"),
    ]
}

/// Creates `items` under `root` (which must exist). `reverse` creates them in the opposite
/// order; `mtime` gives each path its modification time and `atime` its access time. Modes
/// are set explicitly, so the test process's umask does not matter.
pub fn create_tree(
    root: &Path,
    items: &[Item],
    reverse: bool,
    mtime: &dyn Fn(&str) -> i64,
    atime: &dyn Fn(&str) -> i64,
) {
    let mut order: Vec<&Item> = items.iter().filter(|i| !matches!(i, Item::Hardlink(..))).collect();
    if reverse {
        order.reverse();
    }
    let links = items.iter().filter(|i| matches!(i, Item::Hardlink(..)));
    for item in order.into_iter().chain(links) {
        let p = root.join(item.path());
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        match item {
            Item::Dir(..) => fs::create_dir_all(&p).unwrap(),
            Item::File(_, data, _) => fs::write(&p, data).unwrap(),
            Item::Symlink(_, target) => std::os::unix::fs::symlink(target, &p).unwrap(),
            Item::Hardlink(_, target) => fs::hard_link(root.join(target), &p).unwrap(),
            Item::Fifo(_) => {
                let st = Command::new("mkfifo").arg(&p).status().unwrap();
                assert!(st.success());
            }
        }
    }
    for item in items {
        let p = root.join(item.path());
        match item {
            Item::Dir(_, mode) | Item::File(_, _, mode) => {
                fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Item::Fifo(_) => fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap(),
            _ => {}
        }
    }
    // Times last, deepest first, so that creating children does not change them again.
    let mut timed: Vec<&Item> =
        items.iter().filter(|i| matches!(i, Item::Dir(..) | Item::File(..))).collect();
    timed.sort_by_key(|i| std::cmp::Reverse(i.path().matches('/').count()));
    for item in timed {
        let p = root.join(item.path());
        let at = |s: i64| UNIX_EPOCH + Duration::from_secs(s as u64);
        let times = FileTimes::new()
            .set_modified(at(mtime(item.path())))
            .set_accessed(at(atime(item.path())));
        File::open(&p).unwrap().set_times(times).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Describing trees

/// What to include in a [`describe`]d tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Describe {
    /// Clamp mtimes to this value (what a layer written with this epoch stores); `None` leaves
    /// mtimes out.
    pub mtime_clamp: Option<i64>,
    /// Leave directory mtimes out even with `mtime_clamp`.
    pub skip_dir_mtimes: bool,
    /// Include numeric owners.
    pub owners: bool,
}

/// A description of everything below `dir` (type, mode, size, content digest, link target,
/// and optionally mtime and owners), keyed by relative path.
pub fn describe(dir: &Path, how: Describe) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, how, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, how: Describe, out: &mut BTreeMap<String, String>) {
    let mut names: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for p in names {
        let md = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ft = md.file_type();
        let mode = md.mode() & 0o7777;
        let mut desc = if ft.is_dir() {
            walk(root, &p, how, out);
            format!("dir {mode:o}")
        } else if ft.is_symlink() {
            format!("symlink -> {}", fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            let data = fs::read(&p).unwrap();
            format!("file {mode:o} {} {}", data.len(), Digest::sha256(&data))
        } else if ft.is_fifo() {
            format!("fifo {mode:o}")
        } else if ft.is_char_device() || ft.is_block_device() {
            format!("dev {mode:o} {}", md.rdev())
        } else {
            "other".to_string()
        };
        if let Some(clamp) = how.mtime_clamp
            && !ft.is_symlink()
            && !(ft.is_dir() && how.skip_dir_mtimes)
        {
            desc.push_str(&format!(" mtime {}", md.mtime().min(clamp)));
        }
        if how.owners {
            desc.push_str(&format!(" owner {}:{}", md.uid(), md.gid()));
        }
        out.insert(rel, desc);
    }
}

/// Groups of paths that are hardlinks of each other (groups of one left out).
pub fn hardlink_groups(dir: &Path) -> BTreeSet<Vec<String>> {
    let mut by_inode: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else if md.is_file() && md.nlink() > 1 {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                by_inode.entry((md.dev(), md.ino())).or_default().push(rel);
            }
        }
    }
    by_inode
        .into_values()
        .map(|mut v| {
            v.sort();
            v
        })
        .filter(|v| v.len() > 1)
        .collect()
}

/// Panics with the differing entries if two descriptions differ.
pub fn assert_same_tree(
    what: &str,
    a_name: &str,
    a: &BTreeMap<String, String>,
    b_name: &str,
    b: &BTreeMap<String, String>,
) {
    if a != b {
        let only_a: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
        let only_b: Vec<_> = b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
        panic!("{what}: trees differ\n{a_name}: {only_a:#?}\n{b_name}: {only_b:#?}");
    }
}
