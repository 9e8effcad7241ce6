//! The `mbi` command line: flag parsing and wiring, nothing else. Each subcommand is a module
//! with an `Args` struct (clap) and a `run(args, &Ctx)` function that calls the libraries.
//!
//! To add a subcommand: write `src/cli/NAME.rs` with `Args` and `run`, declare the module
//! below, add a variant to [`Command`] and an arm to [`run`].
//!
//! Exit status: 0 success, 1 failure ([`error::EXIT_FAILURE`]), 2 invalid command line
//! ([`error::EXIT_USAGE`]). Errors are printed as one line, `mbi: error: …`, with the cause
//! chain.

mod args;
mod build;
mod cache;
mod copy;
mod error;
mod from_dir;
mod inspect;
mod progress;
pub mod registry_args;
mod tags;
mod unpack;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

pub use error::{CliError, Context};
use progress::Reporter;

/// mbi: reproducible OCI images from directories and distributions' package repositories.
///
/// Images are named as skopeo names them: oci:DIR[:TAG], oci-archive:FILE[:TAG],
/// docker-archive:FILE[:NAME:TAG] (or docker-archive:FILE:@N to read the N-th image),
/// docker://[REGISTRY/]REPOSITORY[:TAG|@DIGEST] (a registry).
///
/// Exit status: 0 success, 1 failure, 2 invalid command line.
#[derive(Debug, Parser)]
#[command(name = "mbi", version, propagate_version = true, arg_required_else_help = true)]
pub struct Cli {
    /// Print nothing on stderr but errors (no progress, no warnings).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a spec: Debian/Ubuntu packages from signed apt repositories.
    Build(build::BuildArgs),
    /// Resolve a spec and write its lockfile.
    Lock(build::LockArgs),
    /// Build an image with one layer made from a directory, on a base image or from scratch.
    FromDir(from_dir::Args),
    /// Copy an image (or a whole index) between references.
    Copy(copy::Args),
    /// Apply all layers of an image, with whiteouts, to a directory.
    Unpack(unpack::Args),
    /// Print a JSON summary of an image or index (or its raw manifest or config).
    Inspect(inspect::Args),
    /// List the tags of a registry repository.
    Tags(tags::Args),
    /// Look after the package cache (`mbi cache prune`).
    Cache(cache::Args),
}

/// What every subcommand gets besides its flags: the reporter and the environment, read once
/// here (the libraries never read the environment).
#[derive(Debug)]
pub struct Ctx {
    /// Progress, steps and warnings on stderr.
    pub progress: Reporter,
    /// `SOURCE_DATE_EPOCH`, if set.
    pub source_date_epoch: Option<OsString>,
    /// Where temporary files go (`TMPDIR`, else `/tmp`).
    pub temp_dir: PathBuf,
    /// Where registry credentials are looked up.
    pub registry_env: registry_args::RegistryEnv,
    /// The tokio runtime for registry I/O, created on first use ([`Ctx::runtime`]).
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Ctx {
    fn from_env(quiet: bool) -> Ctx {
        Ctx {
            progress: Reporter::new(quiet),
            source_date_epoch: std::env::var_os("SOURCE_DATE_EPOCH"),
            temp_dir: std::env::temp_dir(),
            registry_env: registry_args::RegistryEnv::from_env(),
            runtime: OnceLock::new(),
        }
    }

    /// The process's one tokio runtime (multi-threaded, so that synchronous code can block
    /// on it from the main thread), created on first use.
    pub fn runtime(&self) -> Result<&tokio::runtime::Runtime, CliError> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .thread_name("mbi-io")
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        Ok(self.runtime.get_or_init(|| rt))
    }

    /// Writes to stdout. A closed pipe (`mbi inspect … | head`) is not an error.
    pub fn stdout(&self, bytes: &[u8]) -> Result<(), CliError> {
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(e).context("writing to standard output")
            }
            _ => Ok(()),
        }
    }
}

/// Runs one subcommand.
pub fn run(command: Command, ctx: &Ctx) -> Result<(), CliError> {
    match command {
        Command::Build(a) => build::run_build(a, ctx),
        Command::Lock(a) => build::run_lock(a, ctx),
        Command::FromDir(a) => from_dir::run(a, ctx),
        Command::Copy(a) => copy::run(a, ctx),
        Command::Unpack(a) => unpack::run(a, ctx),
        Command::Inspect(a) => inspect::run(a, ctx),
        Command::Tags(a) => tags::run(a, ctx),
        Command::Cache(a) => cache::run(a, ctx),
    }
}

/// Parses the command line, runs it, prints the error if any and returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e),
    };
    let ctx = Ctx::from_env(cli.quiet);
    match run(cli.command, &ctx) {
        Ok(()) => {
            // Everything the command ran on the runtime has been awaited: an orderly shutdown
            // (waking and joining its idle threads) would only delay the exit.
            std::mem::forget(ctx.runtime);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mbi: error: {}", e.render());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version go to stdout with status 0 (help for a bare `mbi` to stderr with status
/// 2); a parse error becomes one `mbi: error:` line with status 2.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(if e.use_stderr() { error::EXIT_USAGE } else { 0 })
        }
        _ => {
            let text = e.render().to_string();
            let mut parts = Vec::new();
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() {
                    break; // what follows is the usage and the --help hint
                }
                parts.push(line.strip_prefix("error: ").unwrap_or(line));
            }
            eprintln!("mbi: error: {} (see --help)", parts.join(" "));
            ExitCode::from(error::EXIT_USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
