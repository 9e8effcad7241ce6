//! `mbi unpack`: all layers of an image applied to a directory.
//!
//! Library calls: [`transport::open`] + `Source::image` → [`mbi::unpack::prepare_target`] →
//! [`mbi::unpack::unpack_image`] (the store's verified reader per blob, diff_id check,
//! mbi-layer's safe unpacker).

use std::path::PathBuf;

use mbi::core::Platform;
use mbi::core::transport::{self, ImageReference};
use mbi::layer::UnpackOptions;
use mbi::unpack::UnpackEvent;

use super::progress::{Task, human};
use super::{CliError, Context, Ctx};

/// Apply all layers of an image, with whiteouts, to a directory.
///
/// DIR is created if missing and must be empty otherwise. Paths in layers resolve inside DIR
/// as if it were `/` (absolute symlinks point back into DIR, `..` stops at its top), so
/// nothing is ever written outside it; entries that cannot be placed safely (e.g. a hardlink
/// to a file outside) stop the unpack with an error naming the entry. Every blob is checked
/// against its digest and diff_id; on failure DIR holds a partial result.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to unpack.
    pub src: ImageReference,

    /// The directory to unpack into.
    pub dir: PathBuf,

    /// When SRC is an index: the image for this platform (OS/ARCH[/VARIANT]).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,

    /// Do not restore owners or create device nodes (the default when not running as root),
    /// as `umoci unpack --rootless`.
    #[arg(long)]
    pub rootless: bool,
}

/// Runs `mbi unpack`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let source = transport::open(&args.src).with_context(|| format!("reading {}", args.src))?;
    let image =
        source.image(args.platform.as_ref()).with_context(|| format!("reading {}", args.src))?;
    mbi::unpack::prepare_target(&args.dir)?;

    let mut options = UnpackOptions::default();
    if args.rootless {
        options = options.same_owner(false).create_devices(false);
    }
    let total: u64 = image.layers().iter().map(|l| l.descriptor.size).sum();
    let bar: Task = ctx.progress.bytes(total, "Unpacking");
    let mut skipped = 0usize;
    let reports =
        mbi::unpack::unpack_image(source.store(), &image, &args.dir, &options, &mut |event| {
            match event {
                UnpackEvent::LayerStarted { index, count, .. } => {
                    bar.message(format!("Unpacking layer {index}/{count}"));
                }
                UnpackEvent::Read { bytes } => bar.inc(bytes),
                UnpackEvent::LayerDone { index, count, report } => {
                    for s in &report.skipped {
                        skipped += 1;
                        ctx.progress
                            .warn(format!("layer {index}: skipped {}: {}", s.entry, s.reason));
                    }
                    ctx.progress.step(format!(
                        "Applied layer {index}/{count}: {} entries, {} files, {}",
                        report.entries,
                        report.files,
                        human(report.bytes)
                    ));
                }
                _ => {}
            }
        })
        .with_context(|| format!("unpacking {} into {}", args.src, args.dir.display()))?;
    drop(bar);
    ctx.progress.step(format!(
        "Unpacked {} ({} layers, {} skipped entries) into {}",
        image.digest(),
        reports.len(),
        skipped,
        args.dir.display()
    ));
    Ok(())
}
