//! Parsing a full `Packages` index (Debian bookworm main amd64: ~63,000 stanzas, ~50 MB) into
//! records with parsed relations, against python3-apt's `TagFile` + `parse_depends` into
//! records of the same fields (benches/apt_python_parse.py; its `discard` mode, which keeps no
//! records, is measured too) and `grep -c '^Package:'` (the floor), in the same run. Both
//! sides free their records within the timed work. Prints the ratios at the end.
//!
//! Input: `$MBI_APT_PACKAGES` (an uncompressed Packages file), else the largest index in the
//! cache the live test fills (`$MBI_APT_LIVE_CACHE`, default `<tmp>/mbi-apt-live-cache`).
//! Without either it prints SKIP and exits.
//!
//! Second part, the loading + resolving half of `mbi lock` with a warm cache: `Apt::refresh`
//! (offline: verified InRelease and decompressed indexes from the cache the live test fills;
//! signatures, dates and index sizes are checked as on every run) for the host's bookworm,
//! bookworm-updates and bookworm-security `main`, then `Resolver::new` over every package and
//! a distroless `curl` request, against `apt-get install -s --no-install-recommends curl` with
//! a warm isolated apt root (`crates/mbi-distro/tests/resolve_support`), in the same run.
//! Skipped with a message when the cache or the apt root is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mbi_distro::apt::fetch::{Apt, CheckTime, RefreshOptions};
use mbi_distro::apt::index::{ParseOptions, parse_packages};
use mbi_distro::apt::sources::{SignedBy, SourceEntry, load_host_sources};
use mbi_distro::apt::{IndexOrigin, Request, Resolver, Variant};

#[path = "../crates/mbi-distro/tests/resolve_support/mod.rs"]
#[allow(missing_docs, clippy::all, dead_code)]
mod resolve_support;

const PYTHON: &str = "/usr/bin/python3";

fn find_input() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MBI_APT_PACKAGES") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("MBI_APT_LIVE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mbi-apt-live-cache"));
    let dir = cache.join("apt/indexes");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .max()
        .map(|(_, p)| p)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/apt_python_parse.py")
}

/// How the python reference treats what it parsed (see benches/apt_python_parse.py).
#[derive(Clone, Copy)]
enum PyMode {
    /// Records of the fields mbi keeps, kept until the iteration ends (the same work as mbi).
    Records,
    /// Read and parsed, then dropped at once (the reference before November 2026).
    Discard,
}

impl PyMode {
    fn arg(self) -> &'static str {
        match self {
            PyMode::Records => "records",
            PyMode::Discard => "discard",
        }
    }
}

/// Runs the python reference `iters` times in one process; returns its own wall time.
fn python(path: &Path, iters: u64, mode: PyMode) -> Option<Duration> {
    python_times(path, iters, mode).map(|(w, _)| w)
}

/// (wall, CPU) of the python reference, as it measures itself.
fn python_times(path: &Path, iters: u64, mode: PyMode) -> Option<(Duration, Duration)> {
    let out = Command::new(PYTHON)
        .arg(script())
        .arg(path)
        .arg(iters.to_string())
        .arg(mode.arg())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace().skip(1);
    let wall: f64 = it.next()?.parse().ok()?;
    let cpu: f64 = it.next()?.parse().ok()?;
    Some((Duration::from_secs_f64(wall), Duration::from_secs_f64(cpu)))
}

/// CPU time (user + system, all threads) of this process so far, from /proc/self/stat.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

fn grep(path: &Path) -> Duration {
    let t = Instant::now();
    let _ = Command::new("grep").arg("-c").arg("^Package:").arg(path).output();
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    parse_bench();
    lock_bench();
}

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

fn live_cache() -> PathBuf {
    std::env::var_os("MBI_APT_LIVE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("mbi-apt-live-cache"))
}

/// The host's bookworm suites, `main` only, with the Debian keyring (as the live test uses).
fn bookworm_sources() -> Vec<SourceEntry> {
    let wanted = ["bookworm", "bookworm-updates", "bookworm-security"];
    let mut v: Vec<SourceEntry> = load_host_sources(Path::new("/"))
        .unwrap_or_default()
        .into_iter()
        .filter(|e| wanted.contains(&e.suite.as_str()))
        .collect();
    for s in &mut v {
        s.components = vec!["main".into()];
        s.signed_by = Some(SignedBy::Keyrings(vec![KEYRING.into()]));
    }
    v
}

/// One warm `mbi lock`-like run: load every index from the cache, build the resolver, resolve
/// `curl`. Returns the number of packages resolved.
fn lock_once(rt: &tokio::runtime::Runtime, apt: &Apt, sources: &[SourceEntry]) -> usize {
    let mut opts = RefreshOptions::new(&["amd64"], CheckTime::SkipTimeChecks);
    opts.offline = true;
    let snap = rt.block_on(apt.refresh(sources, &opts)).expect("warm refresh");
    let resolver = Resolver::new(snap.packages, "amd64");
    let req = Request::new(Variant::Distroless).with_packages(["curl"]).expect("request");
    resolver.resolve(&req).expect("resolves").packages.len()
}

fn lock_bench() {
    let sources = bookworm_sources();
    let cache = live_cache();
    if sources.is_empty() || !Path::new(KEYRING).exists() || !cache.join("apt/lists").is_dir() {
        eprintln!(
            "SKIP lock bench: needs the host's bookworm apt sources, {KEYRING} and a warm cache \
             at {} (run `cargo test -p mbi-distro --test apt_live`)",
            cache.display()
        );
        return;
    }
    let Some(root) = resolve_support::live_apt_root() else {
        eprintln!("SKIP lock bench: no isolated apt root (no host apt sources / mirror)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let apt = Apt::new(&cache).expect("cache");
    let n = lock_once(&rt, &apt, &sources);
    eprintln!("lock bench: curl resolves to {n} packages");
    let apt_get = || {
        let out = resolve_support::apt_get(&root)
            .args(["-s", "--no-install-recommends", "install", "curl"])
            .output()
            .expect("apt-get runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    apt_get(); // warm apt's binary cache

    let mut c = Criterion::default().configure_from_args().sample_size(10);
    {
        let mut g = c.benchmark_group("apt_lock_warm");
        g.measurement_time(Duration::from_secs(8));
        g.bench_function("mbi_refresh_resolve_curl", |b| b.iter(|| lock_once(&rt, &apt, &sources)));
        g.bench_function("apt_get_install_s_curl", |b| b.iter(apt_get));
        g.finish();
    }
    c.final_summary();
    let (mut ours, mut theirs) = (vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        lock_once(&rt, &apt, &sources);
        ours.push(t.elapsed());
        let t = Instant::now();
        apt_get();
        theirs.push(t.elapsed());
    }
    let (ours, theirs) = (median(ours), median(theirs));
    eprintln!(
        "RATIO warm lock (load + resolve curl): mbi {ours:?}; apt-get install -s curl {theirs:?}; \
         ratio apt/mbi = {:.1}x",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
}

fn parse_bench() {
    let Some(path) = find_input() else {
        eprintln!(
            "SKIP apt bench: no Packages file (set MBI_APT_PACKAGES, or run the live test \
             `cargo test -p mbi-distro --test apt_live` to fill the cache)"
        );
        return;
    };
    let data = std::fs::read(&path).expect("read Packages");
    let origin = Arc::new(IndexOrigin {
        uri: "http://mirror.invalid/debian/".into(),
        suite: "bookworm".into(),
        component: "main".into(),
    });
    let ctx = path.display().to_string();
    let parse = |threads: usize| {
        parse_packages(&data, &origin, &ctx, &ParseOptions { threads }).expect("parse").len()
    };
    let n = parse(0);
    eprintln!("input: {} ({} bytes, {n} stanzas)", path.display(), data.len());
    let has_python = python(&path, 1, PyMode::Records).is_some();

    let mut c = Criterion::default().configure_from_args().sample_size(10);
    {
        let mut g = c.benchmark_group("apt_packages_parse");
        g.measurement_time(Duration::from_secs(5));
        g.bench_function("mbi", |b| b.iter(|| parse(0)));
        g.bench_function("mbi_1_thread", |b| b.iter(|| parse(1)));
        if has_python {
            // Named apart from the read-and-discard reference that stood here before November
            // 2026, so criterion does not compare the two.
            g.bench_function("python3_apt_records", |b| {
                b.iter_custom(|iters| python(&path, iters, PyMode::Records).unwrap_or_default())
            });
            g.bench_function("python3_apt_discard", |b| {
                b.iter_custom(|iters| python(&path, iters, PyMode::Discard).unwrap_or_default())
            });
        } else {
            eprintln!("python3-apt not usable at {PYTHON}: reference skipped");
        }
        g.bench_function("grep_c_package", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| grep(&path)).sum())
        });
        g.finish();
    }
    c.final_summary();

    // Ratios from interleaved runs, so both sides see the same machine load.
    let (mut ours, mut ours1, mut py, mut py_discard, mut gr) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        parse(0);
        ours.push(t.elapsed());
        let t = Instant::now();
        parse(1);
        ours1.push(t.elapsed());
        if let Some(d) = python(&path, 1, PyMode::Records) {
            py.push(d);
        }
        if let Some(d) = python(&path, 1, PyMode::Discard) {
            py_discard.push(d);
        }
        gr.push(grep(&path));
    }
    let (ours, ours1, gr) = (median(ours), median(ours1), median(gr));
    eprintln!("mbi parse: {ours:?} (1 thread: {ours1:?}); grep -c: {gr:?}");
    // CPU time: on a loaded machine wall time mostly measures waiting for a core.
    const RUNS: u32 = 10;
    if let Some(c0) = cpu_time() {
        for _ in 0..RUNS {
            parse(1);
        }
        if let (Some(c1), Some((_, py_cpu))) = (cpu_time(), python_times(&path, 3, PyMode::Records))
        {
            let ours_cpu = (c1 - c0) / RUNS;
            let py_cpu = py_cpu / 3;
            eprintln!(
                "CPU time per parse: mbi {ours_cpu:?} (1 thread), python3-apt {py_cpu:?}; \
                 ratio python/mbi = {:.1}x",
                py_cpu.as_secs_f64() / ours_cpu.as_secs_f64().max(1e-9)
            );
        }
    }
    for (what, times) in [("into records", py), ("discarding what it parsed", py_discard)] {
        if times.is_empty() {
            continue;
        }
        let py = median(times);
        eprintln!(
            "python3-apt TagFile+parse_depends {what}: {py:?}; ratio python/mbi = {:.1}x \
             (1 thread: {:.1}x)",
            py.as_secs_f64() / ours.as_secs_f64(),
            py.as_secs_f64() / ours1.as_secs_f64()
        );
    }
}
