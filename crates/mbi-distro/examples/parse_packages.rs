//! Parses a `Packages` index and prints how long it took and what it holds.
//!
//! ```text
//! cargo run --release -p mbi-distro --example parse_packages -- PACKAGES [THREADS] [RUNS]
//! ```
//!
//! `THREADS` 0 (the default) uses the machine's parallelism; the result is the same for any
//! value. Each run prints the wall time of the parse and the time to drop the records, and the
//! CPU time (all threads) of both together: on a busy machine wall time mostly measures
//! waiting for a core.

use std::sync::Arc;
use std::time::Instant;

use mbi_distro::apt::IndexOrigin;
use mbi_distro::apt::index::{ParseOptions, parse_packages};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: parse_packages PACKAGES [THREADS] [RUNS]")?;
    let threads: usize = args.next().map_or(Ok(0), |s| s.parse())?;
    let runs: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let data = std::fs::read(&path)?;
    let origin = Arc::new(IndexOrigin {
        uri: "http://mirror.invalid/debian/".into(),
        suite: "bookworm".into(),
        component: "main".into(),
    });
    for _ in 0..runs {
        let c = cpu_time();
        let t = Instant::now();
        let pkgs = parse_packages(&data, &origin, &path, &ParseOptions { threads })?;
        let parsed = t.elapsed();
        let parse_cpu = cpu_time() - c;
        let relations: usize = pkgs
            .iter()
            .map(|p| {
                [&p.pre_depends, &p.depends, &p.recommends]
                    .iter()
                    .flat_map(|g| g.iter())
                    .map(|g| g.0.len())
                    .sum::<usize>()
                    + p.conflicts.len()
                    + p.breaks.len()
                    + p.provides.len()
                    + p.replaces.len()
            })
            .sum();
        let n = pkgs.len();
        let c = cpu_time();
        let t = Instant::now();
        drop(pkgs);
        let dropped = t.elapsed();
        println!(
            "{n} packages, {relations} relations: parse {:.1} ms, drop {:.1} ms, CPU {:.1} ms",
            parsed.as_secs_f64() * 1e3,
            dropped.as_secs_f64() * 1e3,
            (parse_cpu + cpu_time() - c) * 1e3
        );
    }
    Ok(())
}

/// CPU time of the whole process (every thread), in seconds.
fn cpu_time() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
