//! `mbi cache`: look after the cache that `mbi build` and `mbi lock` fill.
//!
//! Library call: [`mbi::distro::apt::cache::Cache::prune`].

use std::path::PathBuf;

use mbi::distro::apt::cache::{Cache, PruneOptions};
use mbi::distro::lock::Lockfile;

use super::progress::human;
use super::{CliError, Context, Ctx};

/// Cache maintenance.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The `mbi cache` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Remove what no build needs any more.
    Prune(PruneArgs),
}

/// Remove what no build needs any more: indexes that no cached Release lists (a newer one
/// replaced them), unpacked copies of packages no longer cached, interrupted downloads and
/// temporary files older than --min-age, and, with --keep-lock, every package that none of
/// the given lockfiles names.
///
/// Prints each removed file on stdout ("REASON<TAB>BYTES<TAB>PATH") and a summary on stderr.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PruneArgs {
    /// The cache [default: $XDG_CACHE_HOME/mbi, else ~/.cache/mbi].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Keep only the packages of these lockfiles (repeatable). Without it, every downloaded
    /// package is kept.
    #[arg(long = "keep-lock", value_name = "LOCK")]
    pub keep_locks: Vec<PathBuf>,

    /// Leave interrupted downloads and temporary files younger than this many hours alone
    /// (they may belong to a build running now).
    #[arg(long, value_name = "HOURS", default_value_t = 24)]
    pub min_age: u64,

    /// Only print what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `mbi cache`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    match args.command {
        CacheCommand::Prune(a) => prune(a, ctx),
    }
}

fn prune(args: PruneArgs, ctx: &Ctx) -> Result<(), CliError> {
    let root = match args.cache_dir {
        Some(d) => d,
        None => super::build::default_cache_dir()?,
    };
    if !root.is_dir() {
        return Err(CliError::failure(format!("{}: no such cache directory", root.display())));
    }
    let keep_debs = if args.keep_locks.is_empty() {
        None
    } else {
        let mut keep = std::collections::BTreeSet::new();
        for path in &args.keep_locks {
            let lock =
                Lockfile::read(path).with_context(|| format!("lockfile {}", path.display()))?;
            for arch in lock.architectures.values() {
                keep.extend(arch.packages.iter().map(|p| p.sha256.clone()));
            }
        }
        Some(keep)
    };
    let options = PruneOptions {
        keep_debs,
        min_age: std::time::Duration::from_secs(args.min_age.saturating_mul(3600)),
        dry_run: args.dry_run,
    };
    let cache = Cache::new(&root).with_context(|| format!("cache {}", root.display()))?;
    let pruned = cache
        .prune(&options, std::time::SystemTime::now())
        .with_context(|| format!("pruning the cache {}", root.display()))?;
    let mut out = String::new();
    for p in &pruned {
        out.push_str(&format!("{}\t{}\t{}\n", p.reason, p.bytes, p.path.display()));
    }
    ctx.stdout(out.as_bytes())?;
    let bytes: u64 = pruned.iter().map(|p| p.bytes).sum();
    let verb = if args.dry_run { "would remove" } else { "removed" };
    ctx.progress.step(format!("{verb} {} files, {}", pruned.len(), human(bytes)));
    Ok(())
}
