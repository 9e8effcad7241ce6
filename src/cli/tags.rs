//! `mbi tags`: the tags of a registry repository.
//!
//! Library call: [`mbi::registry::Client::tags`] (following pagination).

use mbi::core::transport::ImageReference;

use super::registry_args::{self, RegistryArgs};
use super::{CliError, Context, Ctx};

/// List the tags of a registry repository, in the registry's order.
///
/// Prints one tag per line, or with --json one object:
/// {"repository": "REGISTRY/REPOSITORY", "tags": ["TAG", …]}.
/// A tag or digest in the reference is ignored.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The repository: docker://[REGISTRY/]REPOSITORY.
    #[arg(value_name = "docker://REPO")]
    pub repo: ImageReference,

    /// Print one JSON object instead of one tag per line:
    /// {"repository": "REGISTRY/REPOSITORY", "tags": ["TAG", …]}.
    #[arg(long)]
    pub json: bool,

    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `mbi tags`.
pub fn run(args: Args, ctx: &Ctx) -> Result<(), CliError> {
    let Some(repo) = mbi::publish::registry_reference(&args.repo)
        .with_context(|| format!("image reference {}", args.repo))?
    else {
        return Err(CliError::usage(format!(
            "{}: mbi tags lists registry repositories (docker://REPO)",
            args.repo
        )));
    };
    let remote = registry_args::remote(&args.registry, ctx, &[&args.repo])?
        .ok_or_else(|| CliError::failure("no registry client"))?;
    let tags = remote
        .block_on(remote.client().tags(&repo))
        .with_context(|| format!("listing the tags of {}", repo.name()))?;
    let out = if args.json {
        let v = serde_json::json!({ "repository": repo.name(), "tags": tags });
        format!("{v}\n")
    } else {
        tags.iter().map(|t| format!("{t}\n")).collect()
    };
    ctx.stdout(out.as_bytes())
}
