//! Times a warm, offline [`Apt::refresh`] from a cache directory (the one the live test fills),
//! then building a resolver over the result and resolving a distroless request, phase by
//! phase: what `mbi lock` does with a warm cache.
//!
//! ```text
//! cargo run --release -p mbi-distro --example warm_refresh -- CACHE_DIR [PACKAGE] [RUNS]
//! ```
//!
//! Sources are the host's bookworm, bookworm-updates and bookworm-security (`main`), checked
//! against Debian's archive keyring.

use std::path::Path;
use std::time::Instant;

use mbi_distro::apt::fetch::{Apt, CheckTime, RefreshOptions};
use mbi_distro::apt::sources::{SignedBy, load_host_sources};
use mbi_distro::apt::{Request, Resolver, Variant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cache = args.next().ok_or("usage: warm_refresh CACHE_DIR [PACKAGE] [RUNS]")?;
    let package = args.next().unwrap_or_else(|| "curl".into());
    let runs: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let wanted = ["bookworm", "bookworm-updates", "bookworm-security"];
    let mut sources: Vec<_> = load_host_sources(Path::new("/"))?
        .into_iter()
        .filter(|e| wanted.contains(&e.suite.as_str()))
        .collect();
    for s in &mut sources {
        s.components = vec!["main".into()];
        s.signed_by =
            Some(SignedBy::Keyrings(vec!["/usr/share/keyrings/debian-archive-keyring.gpg".into()]));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let apt = Apt::new(&cache)?;
    let mut opts = RefreshOptions::new(&["amd64"], CheckTime::SkipTimeChecks);
    opts.offline = true;
    let req = Request::new(Variant::Distroless).with_packages([package.as_str()])?;
    for _ in 0..runs {
        let t = Instant::now();
        let snap = rt.block_on(apt.refresh(&sources, &opts))?;
        let refreshed = t.elapsed();
        let n = snap.packages.len();
        let t = Instant::now();
        let resolver = Resolver::new(snap.packages, "amd64");
        let built = t.elapsed();
        let t = Instant::now();
        let res = resolver.resolve(&req)?;
        let resolved = t.elapsed();
        let t = Instant::now();
        drop(resolver);
        let dropped = t.elapsed();
        println!(
            "{n} packages from {} indexes: refresh {:.1} ms, resolver {:.1} ms, resolve {:.1} ms \
             ({} packages), drop {:.1} ms",
            snap.indexes.len(),
            refreshed.as_secs_f64() * 1e3,
            built.as_secs_f64() * 1e3,
            resolved.as_secs_f64() * 1e3,
            res.packages.len(),
            dropped.as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
