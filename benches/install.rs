//! Installing `.deb` packages into a root directory on tmpfs, against dpkg's own extractor
//! doing the same work in the same run:
//!
//! - `mbi_install_tree`: read every package (parallel: decompress, spool, check paths), place
//!   the entries with dpkg's rules, emulate script effects, write the dpkg database: the file
//!   tree an image is built from (contents stay in the spool);
//! - `mbi_install_to_dir`: the same, then the tree written to an empty directory;
//! - `dpkg_deb_x`: `dpkg-deb -x` of every package into one directory, one after the other
//!   (what mmdebstrap's extract phase does), and `dpkg_deb_x_2jobs` with two in parallel;
//! - `dpkg_deb_fsys_tarfile`: `dpkg-deb --fsys-tarfile > /dev/null`, decompression only: the
//!   floor for any extractor.
//!
//! Input: the `.deb` files in `$MBI_BENCH_DEBS` (e.g. `/var/cache/apt/archives` after an
//! `apt-get install --download-only`), else ~40 packages built once with `dpkg-deb -Zxz` from
//! files of the host's `/usr` (`<tmp>/mbi-bench-debs`). Work directories are on `/dev/shm`
//! when it exists. Ratios are printed at the end from interleaved runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use mbi_distro::apt::install::{InstallOptions, Installer, PackageFile};
use mbi_distro::apt::scripts::write_tree_to_dir;

fn work_base() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
}

fn synthetic_debs() -> Option<Vec<PathBuf>> {
    let out = std::env::temp_dir().join("mbi-bench-debs");
    let done = out.join(".complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).ok()?;
        // Host files grouped into packages of ~1.5 MB by directory: binaries, libraries, docs.
        let mut files: Vec<(PathBuf, u64)> = Vec::new();
        for dir in [
            "/usr/bin",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/share/doc",
        ] {
            let walk = Command::new("find")
                .args([dir, "-xdev", "-type", "f", "-size", "-4M"])
                .output()
                .ok()?;
            for l in String::from_utf8_lossy(&walk.stdout).lines() {
                if let Ok(md) = std::fs::metadata(l) {
                    files.push((PathBuf::from(l), md.len()));
                }
            }
        }
        files.sort();
        let mut pkg = 0;
        let mut size = 0u64;
        let mut total = 0u64;
        let mut root = out.join(format!("src{pkg}"));
        for (f, len) in files {
            if total > 60 << 20 {
                break;
            }
            let dest = root.join(f.strip_prefix("/").ok()?);
            std::fs::create_dir_all(dest.parent()?).ok()?;
            if std::fs::copy(&f, &dest).is_err() {
                continue;
            }
            size += len;
            total += len;
            if size > 1_500_000 {
                build_deb(&root, pkg, &out)?;
                pkg += 1;
                size = 0;
                root = out.join(format!("src{pkg}"));
            }
        }
        if size > 0 {
            build_deb(&root, pkg, &out)?;
        }
        std::fs::write(&done, b"").ok()?;
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&out)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    v.sort();
    Some(v)
}

fn build_deb(root: &Path, n: usize, out: &Path) -> Option<()> {
    std::fs::create_dir_all(root.join("DEBIAN")).ok()?;
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: bench-{n}\nVersion: 1.0\nArchitecture: all\nMaintainer: b <b@b.invalid>\nDescription: bench\n"),
    )
    .ok()?;
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(root)
        .arg(out.join(format!("bench-{n:03}.deb")))
        .stdout(Stdio::null())
        .status()
        .ok()?;
    let _ = std::fs::remove_dir_all(root);
    st.success().then_some(())
}

fn inputs() -> Option<Vec<PathBuf>> {
    if let Some(d) = std::env::var_os("MBI_BENCH_DEBS") {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        v.sort();
        return Some(v);
    }
    synthetic_debs()
}

fn mbi_tree(debs: &[PathBuf], spool: &Path) -> usize {
    let files: Vec<PackageFile> = debs.iter().map(|p| PackageFile::new(p.clone())).collect();
    let inst = Installer::new(InstallOptions::new("amd64", spool).source_date_epoch(1_700_000_000))
        .install(&files)
        .expect("install");
    inst.tree.len()
}

fn mbi_to_dir(debs: &[PathBuf], base: &Path) -> Duration {
    let work = tempfile::tempdir_in(base).unwrap();
    let root = work.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let t = Instant::now();
    let files: Vec<PackageFile> = debs.iter().map(|p| PackageFile::new(p.clone())).collect();
    let inst =
        Installer::new(InstallOptions::new("amd64", work.path()).source_date_epoch(1_700_000_000))
            .install(&files)
            .expect("install");
    write_tree_to_dir(&inst.tree, &root, 1_700_000_000).expect("write");
    t.elapsed()
}

fn dpkg_deb_x(debs: &[PathBuf], base: &Path, jobs: usize) -> Duration {
    let work = tempfile::tempdir_in(base).unwrap();
    let t = Instant::now();
    let list: Vec<String> = debs.iter().map(|p| p.display().to_string()).collect();
    let mut child = Command::new("xargs")
        .args(["-0", "-P", &jobs.to_string(), "-I{}", "dpkg-deb", "-x", "{}"])
        .arg(work.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(list.join("\0").as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success());
    t.elapsed()
}

fn fsys_tarfile(debs: &[PathBuf]) -> Duration {
    let t = Instant::now();
    for d in debs {
        let st = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(d)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let Some(debs) = inputs().filter(|v| !v.is_empty()) else {
        eprintln!("SKIP install bench: no .deb files (set MBI_BENCH_DEBS) and none could be built");
        return;
    };
    let bytes: u64 = debs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    eprintln!("input: {} packages, {} MB of .deb", debs.len(), bytes >> 20);
    let base = work_base();
    let mut c = Criterion::default().configure_from_args().sample_size(10);
    {
        let mut g = c.benchmark_group("install");
        g.measurement_time(Duration::from_secs(20));
        g.bench_function("mbi_install_tree", |b| {
            b.iter_custom(|iters| {
                let spool = tempfile::tempdir_in(&base).unwrap();
                let t = Instant::now();
                for _ in 0..iters {
                    mbi_tree(&debs, spool.path());
                }
                t.elapsed()
            })
        });
        g.bench_function("mbi_install_to_dir", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| mbi_to_dir(&debs, &base)).sum())
        });
        g.bench_function("dpkg_deb_x", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| dpkg_deb_x(&debs, &base, 1)).sum())
        });
        g.bench_function("dpkg_deb_x_2jobs", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| dpkg_deb_x(&debs, &base, 2)).sum())
        });
        g.bench_function("dpkg_deb_fsys_tarfile", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fsys_tarfile(&debs)).sum())
        });
        g.finish();
    }
    c.final_summary();

    // Ratios from interleaved runs, so every side sees the same machine load.
    let (mut tree, mut dir, mut x1, mut x2, mut floor) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let spool = tempfile::tempdir_in(&base).unwrap();
        let t = Instant::now();
        mbi_tree(&debs, spool.path());
        tree.push(t.elapsed());
        dir.push(mbi_to_dir(&debs, &base));
        x1.push(dpkg_deb_x(&debs, &base, 1));
        x2.push(dpkg_deb_x(&debs, &base, 2));
        floor.push(fsys_tarfile(&debs));
    }
    let (tree, dir, x1, x2, floor) =
        (median(tree), median(dir), median(x1), median(x2), median(floor));
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    eprintln!("mbi tree: {tree:?}; mbi to dir: {dir:?}");
    eprintln!("dpkg-deb -x: {x1:?} (2 jobs: {x2:?}); dpkg-deb --fsys-tarfile: {floor:?}");
    eprintln!(
        "ratios: dpkg-deb -x / mbi-to-dir = {:.2}x, (2 jobs) = {:.2}x; dpkg-deb -x / mbi-tree = {:.2}x; fsys-tarfile / mbi-tree = {:.2}x",
        r(x1, dir),
        r(x2, dir),
        r(x1, tree),
        r(floor, tree)
    );
}
