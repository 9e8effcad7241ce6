//! Builds an image from a spec through the library, as a program embedding mbi would: lock,
//! fetch, assemble, publish, each step a value the program holds.
//!
//! ```text
//! cargo run --release --example build_image -- SPEC DEST [LOCK]
//! cargo run --release --example build_image -- \
//!     examples/debian-bookworm-distroless.yaml oci:out:distroless distroless.lock.json
//! ```
//!
//! `DEST` is any destination mbi writes: `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]` or
//! `docker-archive:FILE[:NAME:TAG]`. With a `LOCK` file that exists, the build uses it as it is
//! (no resolution: the same image again, byte for byte); with one that does not exist yet, the
//! resolution is written there. Specs without sources use this host's apt sources. Packages
//! are cached in `$MBI_CACHE_DIR`, else where `mbi build` caches them
//! ([`build::default_cache_dir`]: `$XDG_CACHE_HOME/mbi`, else `~/.cache/mbi`), and the
//! image's time is `SOURCE_DATE_EPOCH` when set, else the newest Release date.

use std::path::{Path, PathBuf};

use mbi::build::{self, BuildEvent, BuildOptions};
use mbi::core::transport::ImageReference;
use mbi::distro::lock::Lockfile;
use mbi::distro::spec::Spec;
use mbi::publish::Destination;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(spec_path), Some(dest)) = (args.next(), args.next()) else {
        return Err("usage: build_image SPEC DEST [LOCK]".into());
    };
    let lock_path = args.next().map(PathBuf::from);
    let spec = Spec::load(Path::new(&spec_path))?;
    let dest: ImageReference = dest.parse()?;

    // The library reads neither the clock nor the environment: the program passes both.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut options = BuildOptions::new(cache_dir()?, now as i64, std::env::temp_dir());
    options.source_date_epoch =
        std::env::var("SOURCE_DATE_EPOCH").ok().map(|s| s.parse()).transpose()?;

    // Progress as plain lines; a program could drive progress bars from the same events.
    let on = |e: &BuildEvent| match e {
        BuildEvent::Step(m) => eprintln!("{m}"),
        BuildEvent::Warning(m) => eprintln!("warning: {m}"),
        BuildEvent::DownloadsStarted { packages, bytes } => {
            eprintln!("fetching {packages} packages ({bytes} bytes)")
        }
        _ => {}
    };

    // Checked before the long work, so a bad destination costs nothing.
    let destination = Destination::prepare(&dest, &std::env::temp_dir())?;
    let rt = tokio::runtime::Runtime::new()?;
    let lock = match &lock_path {
        Some(path) if path.exists() => {
            let lock = Lockfile::read(path)?;
            build::check_lock(&spec, &lock, &options)?;
            lock
        }
        _ => {
            let lock = rt.block_on(build::lock(&spec, &options, &on))?;
            if let Some(path) = &lock_path {
                lock.write(path)?;
            }
            lock
        }
    };
    for (arch, locked) in &lock.architectures {
        eprintln!("{arch}: {} packages", locked.packages.len());
    }

    let fetched = rt.block_on(build::fetch(&spec, &lock, &options, &on))?;
    let built = build::assemble(&spec, &lock, &fetched, destination.store(), &options, &on)?;
    destination.publish(&built.root, None)?;
    println!("{}", built.root.digest);
    Ok(())
}

/// `$MBI_CACHE_DIR`, else the cache `mbi build` uses by default.
fn cache_dir() -> Result<PathBuf, Error> {
    use std::env::var_os;
    if let Some(dir) = var_os("MBI_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(dir.into());
    }
    build::default_cache_dir(var_os("XDG_CACHE_HOME"), var_os("HOME"))
        .ok_or_else(|| "set MBI_CACHE_DIR, XDG_CACHE_HOME or HOME".into())
}
