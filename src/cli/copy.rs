//! `mbi copy`: an image (or a whole index) from one reference to another.
//!
//! Library call: [`mbi::publish::copy`] (local transports through
//! [`mbi::core::transport::copy_with_progress`], registries through [`mbi::registry::Client`]
//! pull, push and copy; new `oci:` layouts appear atomically, tags in registries last).

use mbi::core::Platform;
use mbi::core::transport::{CopyOptions, ImageReference};

use super::registry_args::{self, RegistryArgs};
use super::{CliError, Context, Ctx};

/// Copy an image between references, e.g. oci:DIR:TAG → docker://REGISTRY/REPO:TAG.
///
/// Blobs are copied verbatim and verified (docker-archive destinations store layers
/// uncompressed, as `docker save` does; the config, hence the image ID, stays the same).
/// When SRC is an index, the image for --platform is copied, or with --all the whole index;
/// without either, an index of one image gives that image and any other index the image for
/// the host's platform (as skopeo does). Prints the digest of what was written on stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image to copy.
    pub src: ImageReference,

    /// Where to write it.
    pub dest: ImageReference,

    /// When SRC is an index: copy only the image for this platform (OS/ARCH[/VARIANT]).
    #[arg(long, value_name = "PLATFORM", conflicts_with = "all")]
    pub platform: Option<Platform>,

    /// When SRC is an index: copy it whole, every platform (not to docker-archive:).
    #[arg(long)]
    pub all: bool,

    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `mbi copy`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let options = CopyOptions { platform: args.platform.clone(), all: args.all };
    let remote = registry_args::remote(&args.registry, ctx, &[&args.src, &args.dest])?;
    let task = ctx.progress.spinner(format!("Copying {} to {}", args.src, args.dest));
    let mut blobs = 0u64;
    let copied = mbi::publish::copy(
        &args.src,
        &args.dest,
        &options,
        remote.as_ref(),
        &ctx.temp_dir,
        &mut |_| {
            blobs += 1;
            task.message(format!("Copying {} to {}: {} blobs", args.src, args.dest, blobs));
        },
    )
    .with_context(|| format!("copying {} to {}", args.src, args.dest))?;
    drop(task);
    let moved = if remote.is_some() && matches!(args.dest, ImageReference::DockerRef(_)) {
        String::new()
    } else {
        format!(
            " ({} blobs, {}, new in the destination)",
            copied.blobs,
            super::progress::human(copied.bytes)
        )
    };
    ctx.progress.step(format!("Copied {} to {}{moved}", args.src, args.dest));
    ctx.stdout(format!("{}\n", copied.descriptor.digest).as_bytes())
}
