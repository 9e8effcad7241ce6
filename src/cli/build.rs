//! `mbi build` and `mbi lock`: images from a spec, through [`mbi::build`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use mbi::build::{BuildEvent, BuildOptions};
use mbi::core::transport::ImageReference;
use mbi::distro::apt::fetch::FetchEvent;
use mbi::distro::lock::Lockfile;
use mbi::distro::spec::Spec;
use mbi::publish::Destination;

use super::progress::{Task, human};
use super::registry_args::{self, RegistryArgs};
use super::{CliError, Context, Ctx};

/// What `build` and `lock` share: the spec and where packages come from.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The spec (YAML; see examples/ and docs/spec.md). `${NAME}` in its sources and keyrings
    /// is replaced by the environment variable NAME.
    pub spec: PathBuf,

    /// Build only this architecture (repeatable; default: the spec's `architectures`, else
    /// the host's).
    #[arg(long = "arch", value_name = "ARCH")]
    pub architectures: Vec<String>,

    /// Cache for indexes and packages [default: $XDG_CACHE_HOME/mbi, else ~/.cache/mbi].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use only the cache: no network (a package or index missing from it is an error).
    #[arg(long)]
    pub offline: bool,

    /// Compression threads [default: the number of CPUs; at most 16 are used for gzip and
    /// 6 for zstd, which keeps memory under 64 MiB]. The output never depends on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// Build an image from a spec: resolve (or read the lock), download, install, write layers.
///
/// Prints the digest of the image (one architecture) or index (several) on stdout.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The spec and package sources.
    #[command(flatten)]
    pub spec: SpecArgs,

    /// Where to write the image (oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:NAME:TAG], docker://REGISTRY/REPO[:TAG]).
    #[arg(long, value_name = "DEST")]
    pub out: ImageReference,

    /// Registry access for a docker:// destination.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Build exactly what this lockfile (from `mbi lock`) says, without resolving.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,

    /// Also write the lockfile of what was built here.
    #[arg(long, value_name = "FILE", conflicts_with = "lock")]
    pub write_lock: Option<PathBuf>,
}

/// Resolve a spec and write its lockfile: the packages of each architecture in install order,
/// with their SHA-256 and the provenance of every signed index.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The spec and package sources.
    #[command(flatten)]
    pub spec: SpecArgs,

    /// Where to write the lockfile (JSON; `-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

fn load_spec(path: &Path) -> Result<Spec, CliError> {
    let mut spec = Spec::load(path)?;
    spec.expand_vars(|k| std::env::var(k).ok())
        .with_context(|| format!("spec {}", path.display()))?;
    Ok(spec)
}

fn options(args: &SpecArgs, ctx: &Ctx) -> Result<BuildOptions, CliError> {
    let cache = match &args.cache_dir {
        Some(d) => d.clone(),
        None => default_cache_dir()?,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut o = BuildOptions::new(cache, now, &ctx.temp_dir);
    o.architectures = args.architectures.clone();
    o.offline = args.offline;
    o.threads = args.threads.map(usize::from);
    if let Some(v) = ctx.source_date_epoch.as_ref().filter(|v| !v.is_empty()) {
        let epoch = super::args::source_date_epoch(None, Some(v))?;
        o.source_date_epoch = Some(epoch as i64);
    }
    Ok(o)
}

/// [`mbi::build::default_cache_dir`] from this process's environment.
pub(super) fn default_cache_dir() -> Result<PathBuf, CliError> {
    mbi::build::default_cache_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
        .ok_or_else(|| CliError::usage("neither XDG_CACHE_HOME nor HOME is set: give --cache-dir"))
}

/// Turns build events into progress bars and lines on stderr.
struct Progress<'a> {
    ctx: &'a Ctx,
    spinner: Mutex<Option<Task>>,
    downloads: Mutex<Option<(Task, HashMap<String, u64>)>>,
}

impl<'a> Progress<'a> {
    fn new(ctx: &'a Ctx) -> Self {
        Progress { ctx, spinner: Mutex::new(None), downloads: Mutex::new(None) }
    }

    fn on(&self, e: &BuildEvent) {
        match e {
            BuildEvent::Working(m) => {
                *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(self.ctx.progress.spinner(m))
            }
            BuildEvent::Step(m) => {
                *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.ctx.progress.step(m);
            }
            BuildEvent::Warning(m) => self.ctx.progress.warn(m),
            BuildEvent::DownloadsStarted { packages, bytes } => {
                let bar = self
                    .ctx
                    .progress
                    .bytes(*bytes, format!("Fetching {packages} packages ({})", human(*bytes)));
                *self.downloads.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((bar, HashMap::new()));
            }
            BuildEvent::Fetch(f) => {
                let mut d = self.downloads.lock().unwrap_or_else(|p| p.into_inner());
                let Some((bar, seen)) = d.as_mut() else { return };
                let (package, now) = match f {
                    FetchEvent::Cached { package, size } => (package, *size),
                    FetchEvent::Started { package, from, .. } => (package, *from),
                    FetchEvent::Progress { package, done, .. } => (package, *done),
                    FetchEvent::Finished { package, size } => (package, *size),
                    FetchEvent::Retrying { package, reason } => {
                        self.ctx.progress.warn(format!("retrying {package}: {reason}"));
                        return;
                    }
                    _ => return,
                };
                let before = seen.insert(package.clone(), now).unwrap_or(0);
                bar.inc(now.saturating_sub(before));
            }
            _ => {}
        }
    }

    fn finish(&self) {
        *self.spinner.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.downloads.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs `mbi lock`.
pub fn run_lock(args: LockArgs, ctx: &Ctx) -> Result<(), CliError> {
    let spec = load_spec(&args.spec.spec)?;
    let options = options(&args.spec, ctx)?;
    let progress = Progress::new(ctx);
    let on = |e: &BuildEvent| progress.on(e);
    let (lock, snapshot) = ctx
        .runtime()?
        .block_on(mbi::build::lock_with_snapshot(&spec, &options, &on))
        .with_context(|| format!("locking {}", args.spec.spec.display()))?;
    // The process ends after writing the lock: freeing every package of every index read
    // would only delay that (tens of milliseconds); the operating system reclaims the memory.
    std::mem::forget(snapshot);
    progress.finish();
    write_lock(&lock, &args.out, ctx)
}

fn write_lock(lock: &Lockfile, out: &Path, ctx: &Ctx) -> Result<(), CliError> {
    if out == Path::new("-") {
        return ctx.stdout(&lock.to_pretty_json()?);
    }
    lock.write(out).with_context(|| format!("writing {}", out.display()))?;
    let total: usize = lock.architectures.values().map(|a| a.packages.len()).sum();
    ctx.progress.step(format!(
        "Wrote {} ({} packages, {} architectures)",
        out.display(),
        total,
        lock.architectures.len()
    ));
    Ok(())
}

/// Runs `mbi build`.
pub fn run_build(args: BuildArgs, ctx: &Ctx) -> Result<(), CliError> {
    let spec = load_spec(&args.spec.spec)?;
    let options = options(&args.spec, ctx)?;
    // Check the destination before the long work, so a typo costs nothing.
    let remote = registry_args::remote(&args.registry, ctx, &[&args.out])?;
    let dest = Destination::prepare_with(&args.out, &ctx.temp_dir, remote.as_ref())
        .with_context(|| format!("preparing {}", args.out))?;
    let progress = Progress::new(ctx);
    let on = |e: &BuildEvent| progress.on(e);
    let rt = ctx.runtime()?;
    let lock = match &args.lock {
        Some(path) => {
            let lock = Lockfile::read(path)?;
            mbi::build::check_lock(&spec, &lock, &options)
                .with_context(|| format!("lockfile {}", path.display()))?;
            ctx.progress.step(format!("Using {}", path.display()));
            lock
        }
        None => rt
            .block_on(mbi::build::lock(&spec, &options, &on))
            .with_context(|| format!("resolving {}", args.spec.spec.display()))?,
    };
    if let Some(path) = &args.write_lock {
        write_lock(&lock, path, ctx)?;
    }
    let fetched = rt
        .block_on(mbi::build::fetch(&spec, &lock, &options, &on))
        .context("downloading packages")?;
    let built = mbi::build::assemble(&spec, &lock, &fetched, dest.store(), &options, &on)
        .with_context(|| format!("building {}", args.spec.spec.display()))?;
    progress.finish();
    let task = ctx.progress.spinner(format!("Writing {}", args.out));
    dest.publish(&built.root, None).with_context(|| format!("writing {}", args.out))?;
    drop(task);
    ctx.progress.step(format!("Wrote {} ({})", args.out, built.root.digest));
    ctx.stdout(format!("{}\n", built.root.digest).as_bytes())
}
