//! `mbi from-dir`: one layer made from a directory, on a base image or from scratch.
//!
//! Library calls: [`mbi::publish::open_source`] + `Source::image` (base, read in place, or
//! pulled from a registry) → [`Destination::prepare_with`] → [`LayerWriter::write_dir_with`] into the
//! destination's store → [`ImageBuilder`] (`from_image` or `new`, `append_layer`, config) →
//! `build` over an [`OverlayStore`] of the new blobs and the base's → [`Destination::publish`].

use std::path::PathBuf;

use mbi::core::transport::ImageReference;
use mbi::core::{ExposedPort, HistoryEntry, ImageBuilder, MemoryStore, Platform};
use mbi::layer::{FromDirOptions, LayerCompression, LayerOptions, LayerWriter};
use mbi::publish::Destination;
use mbi::store::OverlayStore;

use super::args::{self, Argv, KeyValue};
use super::progress::human;
use super::registry_args::{self, RegistryArgs};
use super::{CliError, Context, Ctx};

/// What `created_by` says in the history entry of the layer `from-dir` makes.
pub const CREATED_BY: &str = "mbi from-dir";

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// gzip (pigz-style parallel, level 0–9, default 6): readable by every tool.
    Gzip,
    /// zstd (multithreaded, level 1–19, default 3): faster and smaller; needs recent tools.
    Zstd,
    /// An uncompressed tar.
    None,
}

/// Build an image with one layer made from a directory.
///
/// DIR becomes the image's `/`: its content (not DIR itself) is stored with sorted entries,
/// owners 0:0 (unless --keep-owners), no atime/ctime and every mtime clamped to the source date
/// epoch, so the same content always gives the same digest. The image's `created` time is the
/// source date epoch: --source-date-epoch, else $SOURCE_DATE_EPOCH, else 0 (1970-01-01); the
/// clock is never read. Prints the manifest digest on stdout.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The directory whose content becomes the layer.
    pub dir: PathBuf,

    /// Where to write the image (oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:NAME:TAG], docker://REGISTRY/REPO[:TAG]).
    #[arg(long, value_name = "DEST")]
    pub out: ImageReference,

    /// Image to build on: its layers, history and config are kept [default: none, from
    /// scratch].
    #[arg(long, value_name = "SRC")]
    pub base: Option<ImageReference>,

    /// Layer compression.
    #[arg(long, value_enum, default_value_t = CompressionArg::Gzip)]
    pub compression: CompressionArg,

    /// Compression level: gzip 0–9 [default: 6], zstd 1–19 [default: 3].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub level: Option<i32>,

    /// Compression threads [default: the number of CPUs; at most 16 are used for gzip and
    /// 6 for zstd, which keeps memory under 64 MiB]. The output never depends on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Creation time and mtime clamp, in seconds since 1970-01-01 [default:
    /// $SOURCE_DATE_EPOCH, else 0].
    #[arg(long, value_name = "N")]
    pub source_date_epoch: Option<u64>,

    /// Platform OS/ARCH[/VARIANT]. Without --base: the image's platform [default: the
    /// host's]. With --base: picks the base image from an index (and must match it).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<Platform>,

    /// Entrypoint: a JSON array ('["/bin/sh","-c"]'), or the flag repeated once per argument
    /// (--entrypoint /bin/sh --entrypoint -c). '[]' removes an inherited one. Never wrapped in
    /// a shell.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub entrypoint: Vec<String>,

    /// Default command, given like --entrypoint. '[]' removes an inherited one.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,

    /// Set an environment variable (repeatable); replaces an inherited value in place.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<KeyValue>,

    /// User to run as (name, uid or uid:gid).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Working directory.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Add or replace a label in the config (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<KeyValue>,

    /// Add or replace a manifest annotation (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<KeyValue>,

    /// Expose a port, PORT[/tcp|udp|sctp] (repeatable).
    #[arg(long = "expose", value_name = "PORT")]
    pub expose: Vec<ExposedPort>,

    /// Declare a volume (repeatable).
    #[arg(long = "volume", value_name = "PATH")]
    pub volumes: Vec<String>,

    /// Signal that stops the container (SIGTERM, 9, …).
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Record the base's name (org.opencontainers.image.base.name), e.g. where it was pulled
    /// from. Not set by default: a local path would leak into the image.
    #[arg(long, value_name = "NAME")]
    pub base_name: Option<String>,

    /// Keep the files' numeric owners instead of making everything 0:0.
    #[arg(long)]
    pub keep_owners: bool,

    /// Registry access (for docker:// in --out and --base).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn compression(args: &Args) -> Result<LayerCompression, CliError> {
    let bad = |range: &str| {
        CliError::usage(format!(
            "--level {}: not a valid {} level ({range})",
            args.level.unwrap_or_default(),
            match args.compression {
                CompressionArg::Gzip => "gzip",
                CompressionArg::Zstd => "zstd",
                CompressionArg::None => "",
            }
        ))
    };
    Ok(match (args.compression, args.level) {
        (CompressionArg::Gzip, None) => LayerCompression::DEFAULT_GZIP,
        (CompressionArg::Gzip, Some(l)) => LayerCompression::Gzip {
            level: u32::try_from(l).ok().filter(|l| *l <= 9).ok_or_else(|| bad("0 to 9"))?,
        },
        (CompressionArg::Zstd, None) => LayerCompression::DEFAULT_ZSTD,
        (CompressionArg::Zstd, Some(l)) if LayerCompression::ZSTD_LEVELS.contains(&l) => {
            LayerCompression::Zstd { level: l }
        }
        (CompressionArg::Zstd, Some(_)) => {
            let r = LayerCompression::ZSTD_LEVELS;
            return Err(bad(&format!("{} to {}", r.start(), r.end())));
        }
        (CompressionArg::None, None) => LayerCompression::None,
        (CompressionArg::None, Some(_)) => {
            return Err(CliError::usage("--level needs --compression gzip or zstd"));
        }
    })
}

/// Runs `mbi from-dir`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    // Everything that can be checked without work is checked first, so that a mistake never
    // leaves anything behind.
    let epoch = args::source_date_epoch(args.source_date_epoch, ctx.source_date_epoch.as_ref())?;
    let compression = compression(&args)?;
    let entrypoint = args::argv("--entrypoint", &args.entrypoint)?;
    let cmd = args::argv("--cmd", &args.cmd)?;
    match std::fs::metadata(&args.dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(CliError::failure(format!("{}: not a directory", args.dir.display()))),
        Err(e) => return Err(e).with_context(|| format!("directory {}", args.dir.display())),
    }

    let mut refs = vec![&args.out];
    refs.extend(&args.base);
    let remote = registry_args::remote(&args.registry, ctx, &refs)?;

    let base = match &args.base {
        Some(r) => {
            let task = ctx.progress.spinner(format!("Opening base image {r}"));
            let source = mbi::publish::open_source(
                r,
                remote.as_ref(),
                &ctx.temp_dir,
                args.platform.as_ref(),
            )
            .with_context(|| format!("base image {r}"))?;
            drop(task);
            let image =
                source.image(args.platform.as_ref()).with_context(|| format!("base image {r}"))?;
            Some((source, image))
        }
        None => None,
    };

    let dest = Destination::prepare_with(&args.out, &ctx.temp_dir, remote.as_ref())
        .with_context(|| format!("preparing {}", args.out))?;

    let mut options =
        LayerOptions::default().compression(compression).source_date_epoch(epoch as i64);
    if let Some(t) = args.threads {
        options = options.threads(usize::from(t));
    }
    // The directory is read while the layer is compressed (same bytes as scanning it first).
    let task = ctx.progress.spinner(format!("Writing a layer from {}", args.dir.display()));
    let (layer, report) = LayerWriter::new(options)
        .write_dir_with(
            &args.dir,
            &FromDirOptions::default().keep_owners(args.keep_owners),
            dest.store(),
        )
        .with_context(|| format!("writing the layer made from {}", args.dir.display()))?;
    drop(task);
    for s in &report.skipped {
        ctx.progress.warn(format!("skipped {}: {}", s.path.display(), s.reason));
    }
    ctx.progress.step(format!(
        "Wrote layer {} ({} → {})",
        layer.descriptor.digest,
        human(layer.uncompressed_size),
        human(layer.descriptor.size)
    ));

    let mut b = match &base {
        Some((_, image)) => ImageBuilder::from_image(image),
        None => ImageBuilder::new(args.platform.clone().unwrap_or_else(Platform::host)),
    };
    b.created(epoch).append_layer(
        layer.descriptor.clone(),
        layer.diff_id.clone(),
        HistoryEntry::new(CREATED_BY),
    );
    match entrypoint {
        Argv::Unset => {}
        Argv::Clear => {
            b.clear_entrypoint();
        }
        Argv::Set(v) => {
            b.entrypoint(v);
        }
    }
    match cmd {
        Argv::Unset => {}
        Argv::Clear => {
            b.clear_cmd();
        }
        Argv::Set(v) => {
            b.cmd(v);
        }
    }
    for kv in &args.env {
        b.env(&kv.key, &kv.value);
    }
    if let Some(u) = &args.user {
        b.user(u);
    }
    if let Some(w) = &args.workdir {
        b.working_dir(w);
    }
    for kv in &args.labels {
        b.label(&kv.key, &kv.value);
    }
    for kv in &args.annotations {
        b.annotation(&kv.key, &kv.value);
    }
    for p in &args.expose {
        b.expose(*p);
    }
    for v in &args.volumes {
        b.volume(v);
    }
    if let Some(s) = &args.stop_signal {
        b.stop_signal(s);
    }
    if let Some(n) = &args.base_name {
        b.base_name(n);
    }

    let no_base = MemoryStore::new();
    let lower = base.as_ref().map(|(s, _)| s.store());
    let image = b
        .build(&OverlayStore::new(dest.store(), lower.unwrap_or(&no_base)))
        .context("building the image")?;
    let task = ctx.progress.spinner(format!("Writing {}", args.out));
    dest.publish(image.descriptor(), lower).with_context(|| format!("writing {}", args.out))?;
    drop(task);
    ctx.progress.step(format!("Wrote {} ({})", args.out, image.digest()));
    ctx.stdout(format!("{}\n", image.digest()).as_bytes())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|t| t.a)
    }

    #[test]
    fn levels() {
        let c = |a: &[&str]| compression(&parse(a).unwrap());
        assert_eq!(c(&["d", "--out", "oci:x"]).unwrap(), LayerCompression::DEFAULT_GZIP);
        assert_eq!(
            c(&["d", "--out", "oci:x", "--compression", "zstd", "--level", "19"]).unwrap(),
            LayerCompression::Zstd { level: 19 }
        );
        assert_eq!(
            c(&["d", "--out", "oci:x", "--level", "0"]).unwrap(),
            LayerCompression::Gzip { level: 0 }
        );
        for bad in [
            &["d", "--out", "oci:x", "--level", "10"][..],
            &["d", "--out", "oci:x", "--level", "-1"],
            &["d", "--out", "oci:x", "--compression", "zstd", "--level", "0"],
            &["d", "--out", "oci:x", "--compression", "none", "--level", "1"],
        ] {
            assert_eq!(c(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
        assert!(parse(&["d", "--out", "oci:x", "--compression", "lz4"]).is_err());
        assert!(parse(&["d", "--out", "oci:x", "--threads", "0"]).is_err());
        assert!(parse(&["d", "--out", "nope:x"]).is_err());
        assert!(parse(&["d", "--out", "oci:x", "--platform", "linux"]).is_err());
        assert!(parse(&["d", "--out", "oci:x", "--env", "NOEQUALS"]).is_err());
    }

    #[test]
    fn hyphen_arguments() {
        let a = parse(&["d", "--out", "oci:x", "--entrypoint", "/bin/sh", "--entrypoint", "-c"])
            .unwrap();
        assert_eq!(a.entrypoint, ["/bin/sh", "-c"]);
    }
}
