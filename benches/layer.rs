//! Layer writing against the reference shell pipelines, in the same run.
//!
//! Input, in order of preference:
//! - `MBI_BENCH_ROOTFS=DIR`: an unpacked root filesystem (put it on tmpfs);
//! - `MBI_BENCH_ROOTFS_TAR=FILE`: a rootfs tarball (e.g. from
//!   `mmdebstrap --variant=apt bookworm rootfs.tar`), unpacked into /dev/shm;
//! - otherwise a synthetic tree shaped like a Debian rootfs (~165 MB, ~7,300 entries), copied
//!   from this host's /usr/lib, /usr/share, /usr/bin and /etc into /dev/shm.
//!
//! Each contender produces a deterministic tar of the tree and the SHA-256 of both the tar and
//! the compressed stream. The references are `tar --sort=name … | tee >(HASH) | COMPRESSOR |
//! HASH` with HASH = `openssl sha256` (SHA-NI, like the sha2 crate) unless `MBI_BENCH_HASH`
//! says otherwise. After the criterion groups, a ratio table (median of interleaved rounds)
//! is printed: those are the figures the README quotes.
//!
//! ```text
//! MBI_BENCH_ROOTFS_TAR=/dev/shm/rootfs.tar cargo bench --bench layer
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mbi_layer::{FileTree, FromDirOptions, LayerCompression, LayerOptions, LayerWriter};

const SDE: i64 = 1_700_000_000;

struct Input {
    dir: PathBuf,
    _keep: Option<tempfile::TempDir>,
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("mbi-bench-").to_owned();
    if shm.is_dir() { b.tempdir_in(shm).unwrap() } else { b.tempdir().unwrap() }
}

fn input() -> Input {
    if let Some(dir) = std::env::var_os("MBI_BENCH_ROOTFS") {
        return Input { dir: dir.into(), _keep: None };
    }
    let tmp = scratch();
    let dir = tmp.path().join("rootfs");
    std::fs::create_dir(&dir).unwrap();
    if let Some(tar) = std::env::var_os("MBI_BENCH_ROOTFS_TAR") {
        let ok = Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&dir).status().unwrap();
        assert!(ok.success(), "extracting {tar:?}");
    } else {
        synthesize(&dir);
    }
    Input { dir, _keep: Some(tmp) }
}

/// Copies host files into a Debian-rootfs-shaped tree: budgets per source keep the mix of
/// big libraries and many small documentation/locale files that a real rootfs has.
fn synthesize(dest: &Path) {
    let sources: [(&str, u64, usize); 5] = [
        ("/usr/lib", 105 << 20, 2400),
        ("/usr/share", 38 << 20, 5300),
        ("/usr/bin", 14 << 20, 500),
        ("/usr/sbin", 4 << 20, 150),
        ("/etc", 4 << 20, 350),
    ];
    let mut total = (0u64, 0usize);
    for (src, max_bytes, max_entries) in sources {
        let mut used = (0u64, 0usize);
        copy_tree(Path::new(src), &dest.join(&src[1..]), max_bytes, max_entries, &mut used);
        total.0 += used.0;
        total.1 += used.1;
    }
    eprintln!("synthetic rootfs: {} MB in {} entries", total.0 >> 20, total.1);
}

fn copy_tree(src: &Path, dest: &Path, max_bytes: u64, max_entries: usize, used: &mut (u64, usize)) {
    let Ok(rd) = std::fs::read_dir(src) else { return };
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    if std::fs::create_dir_all(dest).is_err() {
        return;
    }
    used.1 += 1;
    for p in names {
        if used.0 >= max_bytes || used.1 >= max_entries {
            return;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else { continue };
        let to = dest.join(p.file_name().unwrap());
        if md.is_dir() {
            copy_tree(&p, &to, max_bytes, max_entries, used);
        } else if md.file_type().is_symlink() {
            if let Ok(t) = std::fs::read_link(&p)
                && std::os::unix::fs::symlink(t, &to).is_ok()
            {
                used.1 += 1;
            }
        } else if md.is_file()
            && md.len() <= 16 << 20
            && used.0 + md.len() <= max_bytes
            && std::fs::copy(&p, &to).is_ok()
        {
            used.0 += md.len();
            used.1 += 1;
        }
    }
}

fn hash_cmd() -> String {
    std::env::var("MBI_BENCH_HASH").unwrap_or_else(|_| {
        let openssl =
            Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
        if openssl { "openssl sha256".into() } else { "sha256sum".into() }
    })
}

fn shell_pipeline(dir: &Path, compressor: Option<&str>) -> String {
    let tar = format!(
        "tar --sort=name --mtime=@{SDE} --clamp-mtime --owner=0 --group=0 --numeric-owner \
         --format=pax -C {} -cf - .",
        dir.display()
    );
    let h = hash_cmd();
    match compressor {
        None => format!("{tar} | tee >({h} >/dev/null) | {h} >/dev/null"),
        Some(c) => format!("{tar} | tee >({h} >/dev/null) | {c} | {h} >/dev/null"),
    }
}

fn run_shell(script: &str) {
    let ok = Command::new("bash").arg("-c").arg(script).status().unwrap();
    assert!(ok.success(), "{script}");
}

fn run_mbi(dir: &Path, compression: LayerCompression, threads: usize) -> u64 {
    let (tree, _) = FileTree::from_dir(dir, &FromDirOptions::default()).unwrap();
    let options =
        LayerOptions::default().compression(compression).threads(threads).source_date_epoch(SDE);
    let layer = LayerWriter::new(options).write_tree_to(&tree, &mut io::sink()).unwrap();
    layer.descriptor.size
}

type Contender = (&'static str, Box<dyn Fn()>);

fn contenders(dir: &Path) -> Vec<Contender> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let d = dir.to_path_buf();
    let mut v: Vec<Contender> = Vec::new();
    for (name, compression) in [
        ("mbi none", LayerCompression::None),
        ("mbi gzip-6", LayerCompression::DEFAULT_GZIP),
        ("mbi zstd-3", LayerCompression::DEFAULT_ZSTD),
    ] {
        let d = d.clone();
        v.push((
            name,
            Box::new(move || {
                run_mbi(&d, compression, threads);
            }),
        ));
    }
    for (name, c) in [
        ("shell tar", None),
        ("shell gzip -6", Some("gzip -6 -n")),
        ("shell pigz -6", Some("pigz -6 -n")),
        ("shell zstd -3 -T2", Some("zstd -q -3 -T2")),
    ] {
        let script = shell_pipeline(&d, c);
        v.push((name, Box::new(move || run_shell(&script))));
    }
    v
}

fn bench_layers(c: &mut Criterion) {
    let input = input();
    let mut g = c.benchmark_group("layer");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    for (name, f) in contenders(&input.dir) {
        g.bench_function(name, |b| b.iter(&f));
    }
    g.finish();
    let test_mode = std::env::args().any(|a| a == "--test" || a == "--list");
    if !test_mode {
        ratio_table(&input.dir);
    }
}

/// Interleaved rounds so every contender sees the same machine conditions; prints medians,
/// the ratios the issue's targets are stated in, and compressed sizes.
fn ratio_table(dir: &Path) {
    let rounds: usize =
        std::env::var("MBI_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    if rounds == 0 {
        return;
    }
    let cs = contenders(dir);
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cs.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in cs.iter().enumerate() {
            let t = Instant::now();
            f();
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let med: Vec<f64> = times.iter_mut().map(median).collect();
    let by = |n: &str| cs.iter().position(|(x, _)| *x == n).map(|i| med[i]).unwrap_or(f64::NAN);
    println!("\nlayer benchmark, median of {rounds} interleaved rounds on {}:", dir.display());
    for ((name, _), m) in cs.iter().zip(&med) {
        println!("  {name:<20} {m:>8.3} s");
    }
    println!(
        "  speedup: gzip {:.2}x vs gzip pipeline, {:.2}x vs pigz; zstd {:.2}x vs zstd -T2; tar {:.2}x vs tar",
        by("shell gzip -6") / by("mbi gzip-6"),
        by("shell pigz -6") / by("mbi gzip-6"),
        by("shell zstd -3 -T2") / by("mbi zstd-3"),
        by("shell tar") / by("mbi none"),
    );
    let size = |c: &str| -> u64 {
        let script = format!(
            "tar --sort=name --mtime=@{SDE} --clamp-mtime --owner=0 --group=0 --numeric-owner \
             --format=pax -C {} -cf - . | {c} | wc -c",
            dir.display()
        );
        let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (ours_gz, ref_gz) =
        (run_mbi(dir, LayerCompression::DEFAULT_GZIP, threads), size("gzip -6 -n"));
    let (ours_zst, ref_zst) =
        (run_mbi(dir, LayerCompression::DEFAULT_ZSTD, threads), size("zstd -q -3 -T2"));
    println!(
        "  sizes: gzip {ours_gz} vs {ref_gz} ({:+.2} %), zstd {ours_zst} vs {ref_zst} ({:+.2} %)",
        (ours_gz as f64 / ref_gz as f64 - 1.0) * 100.0,
        (ours_zst as f64 / ref_zst as f64 - 1.0) * 100.0
    );
}

criterion_group!(benches, bench_layers);
criterion_main!(benches);
