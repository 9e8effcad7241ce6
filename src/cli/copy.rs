//! `mbi copy`: an image (or a whole index) from one reference to another.
//!
//! Library call: [`mbi::publish::copy`] (which is [`mbi::core::transport::copy_with_progress`]
//! plus an atomic appearance of new `oci:` layouts).

use mbi::core::Platform;
use mbi::core::transport::{CopyOptions, ImageReference};

use super::{CliError, Context, Ctx};

/// Copy an image between references, e.g. oci:DIR:TAG → docker-archive:FILE:NAME:TAG.
///
/// Blobs are copied verbatim and verified (docker-archive destinations store layers
/// uncompressed, as `docker save` does; the config, hence the image ID, stays the same).
/// Prints the digest of what was written on stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to copy.
    pub src: ImageReference,

    /// Where to write it.
    pub dest: ImageReference,

    /// When SRC is an index: copy only the image for this platform (OS/ARCH[/VARIANT]).
    #[arg(long, value_name = "PLATFORM", conflicts_with = "all")]
    pub platform: Option<Platform>,

    /// When SRC is an index: copy it whole, every platform (oci: and oci-archive: only).
    #[arg(long)]
    pub all: bool,
}

/// Runs `mbi copy`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let options = CopyOptions { platform: args.platform.clone(), all: args.all };
    let task = ctx.progress.spinner(format!("Copying {} to {}", args.src, args.dest));
    let mut blobs = 0u64;
    let mut bytes = 0u64;
    let written = mbi::publish::copy(&args.src, &args.dest, &options, &mut |d| {
        blobs += 1;
        bytes += d.size;
        task.message(format!("Copying {} to {}: {} blobs", args.src, args.dest, blobs));
    })
    .with_context(|| format!("copying {} to {}", args.src, args.dest))?;
    drop(task);
    ctx.progress.step(format!(
        "Copied {} to {} ({} blobs, {}, new in the destination)",
        args.src,
        args.dest,
        blobs,
        super::progress::human(bytes)
    ));
    ctx.stdout(format!("{}\n", written.digest).as_bytes())
}
