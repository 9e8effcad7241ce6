//! Registry flags shared by every subcommand that reads or writes `docker://` references, and
//! the one function that turns them (plus the environment [`Ctx`] read) into a client.
//!
//! Use in a subcommand:
//!
//! ```ignore
//! #[derive(Debug, clap::Args)]
//! pub struct Args {
//!     #[arg(long)]
//!     pub out: ImageReference,
//!     #[command(flatten)]
//!     pub registry: RegistryArgs,
//! }
//!
//! // None when no reference is docker:// (no client, no runtime).
//! let remote = registry_args::remote(&args.registry, ctx, &[&args.out])?;
//! let dest = Destination::prepare_with(&args.out, &ctx.temp_dir, remote.as_ref())?;
//! ```
//!
//! Credentials, in order: `--creds` (for every registry named on the command line);
//! `--authfile FILE` alone if given; else `$REGISTRY_AUTH_FILE` (or
//! `$XDG_RUNTIME_DIR/containers/auth.json`), `$HOME/.config/containers/auth.json`,
//! `$DOCKER_CONFIG/config.json` (or `$HOME/.docker/config.json`), with `credsStore` /
//! `credHelpers` helpers found on `$PATH`; else anonymous.

use std::path::PathBuf;

use mbi::core::transport::ImageReference;
use mbi::publish::{self, Remote};
use mbi::registry::{AuthConfig, Client, Credentials};

use super::{CliError, Context, Ctx};

/// `--creds`, `--authfile`, `--insecure`: flatten into a subcommand's `Args`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Credentials for the registries named on the command line (prefer --authfile: command
    /// lines are visible to other users).
    #[arg(long, value_name = "USER:PASSWORD", help_heading = "Registry")]
    pub creds: Option<String>,

    /// Read registry credentials from this docker config.json or podman auth.json only
    /// [default: $REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json,
    /// ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json or ~/.docker/config.json].
    #[arg(long, value_name = "FILE", help_heading = "Registry")]
    pub authfile: Option<PathBuf>,

    /// Allow plain HTTP and unverified HTTPS certificates for the registries named on the
    /// command line. Loopback registries (127.0.0.1, ::1, localhost) may always use plain HTTP.
    #[arg(long, help_heading = "Registry")]
    pub insecure: bool,
}

/// The environment variables the registry client depends on, read once by [`Ctx`].
#[derive(Debug, Clone, Default)]
pub struct RegistryEnv {
    /// `$REGISTRY_AUTH_FILE`.
    pub registry_auth_file: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$DOCKER_CONFIG`.
    pub docker_config: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$PATH`, where `docker-credential-*` helpers are looked up.
    pub path: Option<std::ffi::OsString>,
}

impl RegistryEnv {
    /// Reads the variables (empty ones count as unset).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        RegistryEnv {
            registry_auth_file: var("REGISTRY_AUTH_FILE").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            path: var("PATH"),
        }
    }

    /// The credential files to read, in lookup order, when no `--authfile` is given.
    pub fn auth_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Some(f) = &self.registry_auth_file {
            files.push(f.clone());
        } else if let Some(d) = &self.xdg_runtime_dir {
            files.push(d.join("containers/auth.json"));
        }
        if let Some(h) = &self.home {
            files.push(h.join(".config/containers/auth.json"));
        }
        if let Some(d) = &self.docker_config {
            files.push(d.join("config.json"));
        } else if let Some(h) = &self.home {
            files.push(h.join(".docker/config.json"));
        }
        files
    }
}

/// The credential configuration for `registries` (`host[:port]`, as references name them).
pub fn auth_config(
    args: &RegistryArgs,
    env: &RegistryEnv,
    registries: &[String],
) -> Result<AuthConfig, CliError> {
    let mut auth = AuthConfig::anonymous();
    if let Some(c) = &args.creds {
        // The value is never echoed: it holds a password.
        let creds = Credentials::from_user_pass(c)
            .map_err(|_| CliError::usage("--creds: expected USER:PASSWORD"))?;
        for r in registries {
            auth = auth.with_credentials(r.clone(), creds.clone());
        }
    }
    match &args.authfile {
        Some(f) => {
            if !f.is_file() {
                return Err(CliError::failure(format!("--authfile {}: no such file", f.display())));
            }
            auth = auth.with_auth_file(f.clone());
        }
        None => {
            for f in env.auth_files() {
                auth = auth.with_auth_file(f);
            }
        }
    }
    if let Some(p) = &env.path {
        auth = auth.with_helper_path(p.clone());
    }
    Ok(auth)
}

/// A client for the registries of `registries`, with the credentials and `--insecure` of
/// `args` and the progress bars of `ctx`. Must be used on `ctx`'s runtime
/// ([`Ctx::runtime`]); [`remote`] pairs the two.
pub fn client(args: &RegistryArgs, ctx: &Ctx, registries: &[String]) -> Result<Client, CliError> {
    let mut b = Client::builder().auth(auth_config(args, &ctx.registry_env, registries)?);
    if args.insecure {
        for r in registries {
            b = b.insecure_registry(r.clone());
        }
    }
    if let Some(p) = ctx.progress.registry_progress() {
        b = b.progress(p);
    }
    b.build().context("setting up the registry client")
}

/// A client and runtime for the `docker://` references among `refs`, or `None` when there
/// are none (then nothing is set up).
pub fn remote(
    args: &RegistryArgs,
    ctx: &Ctx,
    refs: &[&ImageReference],
) -> Result<Option<Remote>, CliError> {
    let mut registries = Vec::new();
    for r in refs {
        if let Some(reference) =
            publish::registry_reference(r).with_context(|| format!("image reference {r}"))?
        {
            registries.push(reference.registry().to_owned());
        }
    }
    if registries.is_empty() {
        return Ok(None);
    }
    let client = client(args, ctx, &registries)?;
    Ok(Some(Remote::new(client, ctx.runtime()?.handle().clone())))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn auth_file_order_follows_docker_and_podman() {
        let env = RegistryEnv {
            registry_auth_file: None,
            xdg_runtime_dir: Some("/run/user/1".into()),
            docker_config: Some("/d".into()),
            home: Some("/h".into()),
            path: None,
        };
        assert_eq!(
            env.auth_files(),
            [
                Path::new("/run/user/1/containers/auth.json"),
                Path::new("/h/.config/containers/auth.json"),
                Path::new("/d/config.json")
            ]
        );
        let env = RegistryEnv { registry_auth_file: Some("/a.json".into()), ..env };
        assert_eq!(env.auth_files()[0], Path::new("/a.json"));
        let env = RegistryEnv { home: Some("/h".into()), ..Default::default() };
        assert_eq!(
            env.auth_files(),
            [Path::new("/h/.config/containers/auth.json"), Path::new("/h/.docker/config.json")]
        );
    }

    #[test]
    fn creds_errors_never_echo_the_value() {
        let args = RegistryArgs { creds: Some("hunter2secret".into()), ..Default::default() };
        let e = auth_config(&args, &RegistryEnv::default(), &["r.test".into()]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(!e.render().contains("hunter2"), "{}", e.render());
        let args = RegistryArgs { creds: Some("u:p:w".into()), ..Default::default() };
        let a = auth_config(&args, &RegistryEnv::default(), &["r.test".into()]).unwrap();
        assert_eq!(a.resolve("r.test", "x").unwrap(), Some(Credentials::basic("u", "p:w")));
        assert_eq!(a.resolve("other.test", "x").unwrap(), None);
        let args =
            RegistryArgs { authfile: Some("/nonexistent.json".into()), ..Default::default() };
        assert_eq!(auth_config(&args, &RegistryEnv::default(), &[]).unwrap_err().exit_code(), 1);
    }
}
