//! `mbi inspect`: a JSON summary of an image or index, or its raw manifest or config.
//!
//! Library calls: [`transport::open`] → `Source::load` / `Source::image` →
//! [`mbi::inspect::Inspection`].

use mbi::core::transport::{self, ImageReference};
use mbi::core::{ImageOrIndex, Platform};
use mbi::inspect::Inspection;

use super::{CliError, Context, Ctx};

/// Print a JSON summary of an image or index on stdout.
///
/// For an image: manifest digest, media type and size, platform, config (digest, env,
/// entrypoint, cmd, user, working dir, labels, ports, volumes), layers (digest, diff_id, size,
/// media type), history and annotations. For an index: its manifests with their platforms
/// (use --platform to inspect one of its images).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image or index to inspect.
    pub src: ImageReference,

    /// When SRC is an index: inspect the image for this platform (OS/ARCH[/VARIANT]).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,

    /// Print the manifest (or index) exactly as stored instead of a summary.
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,

    /// Print the image config exactly as stored instead of a summary.
    #[arg(long)]
    pub config: bool,
}

/// Runs `mbi inspect`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let what = || format!("inspecting {}", args.src);
    let source = transport::open(&args.src).with_context(what)?;
    let root = match &args.platform {
        Some(p) => ImageOrIndex::Image(source.image(Some(p)).with_context(what)?),
        None => source.load().with_context(what)?,
    };
    if args.raw {
        let bytes = match &root {
            ImageOrIndex::Image(i) => i.manifest_bytes(),
            ImageOrIndex::Index(i) => i.bytes(),
        };
        return ctx.stdout(bytes);
    }
    if args.config {
        return match &root {
            ImageOrIndex::Image(i) => ctx.stdout(i.config_bytes()),
            ImageOrIndex::Index(i) => Err(CliError::usage(format!(
                "{} is an index, which has no config; choose an image with --platform (available: {})",
                args.src,
                i.platforms().iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
            ))),
        };
    }
    let mut json = serde_json::to_vec_pretty(&Inspection::of(&root, &args.src.to_string()))
        .context("serialising the summary")?;
    json.push(b'\n');
    ctx.stdout(&json)
}
