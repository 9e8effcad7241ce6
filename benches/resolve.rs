//! Resolving the Debian `apt` variant (and a distroless request) from the real indexes, against
//! apt doing the same work in the same run.
//!
//! Indexes come from an isolated apt root updated from the host's apt sources (see
//! `crates/mbi-distro/tests/resolve_support`), or from `MBI_LIVE_APT_ROOT` if set; without
//! either the bench prints why and measures nothing.
//!
//! - `resolve/build`: `Resolver::new` over every package of the configured suites.
//! - `resolve/apt-variant`: resolving the `apt` variant with a built resolver.
//! - `resolve/build+apt-variant`: both — the resolver's share of `mbi lock` (index loading is
//!   the parser's share and is not measured here).
//! - `resolve/apt-get-dist-upgrade`: `apt-get -s dist-upgrade` with a warm isolated root, which
//!   is how mmdebstrap computes the `apt` variant (cache loading included, as for any apt run).
//! - `resolve/curl` and `resolve/apt-get-install-curl`: a distroless request and
//!   `apt-get install -s --no-install-recommends curl`.
//!
//! A summary with medians and ratios is printed first (`RATIO` lines).

#[path = "../crates/mbi-distro/tests/resolve_support/mod.rs"]
#[allow(missing_docs, clippy::all)]
mod resolve_support;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mbi::distro::apt::{BinaryPackage, Request, Resolver, Variant};

fn apt_run(root: &std::path::Path, args: &[&str]) {
    let out = resolve_support::apt_get(root)
        .args(["-s", "--no-install-recommends"])
        .args(args)
        .output()
        .expect("apt-get runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// CPU time of this thread (ns precision), from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// CPU time (user + system) of waited-for children, from `/proc/self/stat` (clock ticks).
fn children_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Fields 16 and 17 (cutime, cstime) are at 13 and 14 after the command name.
    let ticks = f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Median wall time and mean CPU time of `n` runs (CPU counters are too coarse per run).
fn median(mut f: impl FnMut(), n: usize, cpu: fn() -> Duration) -> (Duration, Duration) {
    let mut wall = Vec::with_capacity(n);
    let c = cpu();
    for _ in 0..n {
        let t = Instant::now();
        f();
        wall.push(t.elapsed());
    }
    let used = cpu().saturating_sub(c) / n as u32;
    wall.sort();
    (wall[n / 2], used)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn bench(c: &mut Criterion) {
    let Some(root) = resolve_support::live_apt_root() else {
        eprintln!("SKIP resolve bench: no isolated apt root (no host apt sources / mirror)");
        return;
    };
    let packages: Vec<Arc<BinaryPackage>> =
        resolve_support::load_lists(&root).into_iter().map(Arc::new).collect();
    let apt_req = Request::new(Variant::Apt);
    let curl_req = Request::new(Variant::Distroless).with_packages(["curl"]).expect("request");
    let build = || Resolver::new(packages.iter().cloned(), "amd64");
    let resolver = build();
    // Warm apt's binary cache once.
    apt_run(&root, &["dist-upgrade"]);

    let ours_build = median(|| drop(black_box(build())), 15, thread_cpu);
    let ours_resolve =
        median(|| drop(black_box(resolver.resolve(&apt_req).expect("resolves"))), 50, thread_cpu);
    let ours_both = median(
        || {
            let r = build();
            drop(black_box(r.resolve(&apt_req).expect("resolves")));
        },
        15,
        thread_cpu,
    );
    let ours_curl =
        median(|| drop(black_box(resolver.resolve(&curl_req).expect("resolves"))), 50, thread_cpu);
    let apt_dist = median(|| apt_run(&root, &["dist-upgrade"]), 7, children_cpu);
    let apt_curl = median(|| apt_run(&root, &["install", "curl"]), 7, children_cpu);
    eprintln!(
        "RATIO {} packages (median wall / mean cpu): resolver build {:?} / {:?}; apt variant resolve {:?} / \
         {:?}; build+resolve {:?} / {:?}; apt-get -s dist-upgrade {:?} / {:?} => {:.1}x wall, \
         {:.1}x cpu (resolve alone {:.0}x wall)",
        packages.len(),
        ours_build.0,
        ours_build.1,
        ours_resolve.0,
        ours_resolve.1,
        ours_both.0,
        ours_both.1,
        apt_dist.0,
        apt_dist.1,
        ratio(apt_dist.0, ours_both.0),
        ratio(apt_dist.1, ours_both.1),
        ratio(apt_dist.0, ours_resolve.0),
    );
    eprintln!(
        "RATIO curl (median wall / mean cpu): resolve {:?} / {:?}; apt-get install -s curl {:?} / {:?} => \
         with build {:.1}x wall, {:.1}x cpu (resolve alone {:.0}x wall)",
        ours_curl.0,
        ours_curl.1,
        apt_curl.0,
        apt_curl.1,
        ratio(apt_curl.0, ours_curl.0 + ours_build.0),
        ratio(apt_curl.1, ours_curl.1 + ours_build.1),
        ratio(apt_curl.0, ours_curl.0),
    );

    let mut g = c.benchmark_group("resolve");
    g.sample_size(20);
    g.bench_function("build", |b| b.iter(|| black_box(build())));
    g.bench_function("apt-variant", |b| b.iter(|| black_box(resolver.resolve(&apt_req))));
    g.bench_function("build+apt-variant", |b| {
        b.iter(|| {
            let r = build();
            black_box(r.resolve(&apt_req))
        })
    });
    g.bench_function("curl", |b| b.iter(|| black_box(resolver.resolve(&curl_req))));
    g.sample_size(10);
    g.bench_function("apt-get-dist-upgrade", |b| b.iter(|| apt_run(&root, &["dist-upgrade"])));
    g.bench_function("apt-get-install-curl", |b| b.iter(|| apt_run(&root, &["install", "curl"])));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
