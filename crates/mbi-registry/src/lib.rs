//! # mbi-registry: OCI distribution client
//!
//! Pull images from registries into an [`mbi_core::BlobStore`], push them back, copy between
//! registries, list tags and repositories, delete, and attach referrers — against any registry
//! implementing the OCI distribution spec (tested with the CNCF registry).
//!
//! - [`Reference`]: docker's reference grammar and normalisation.
//! - [`Client`] (built with [`ClientBuilder`]): one per program; keeps connections, auth
//!   challenges and tokens per registry.
//! - [`AuthConfig`] / [`Credentials`]: explicit credentials, docker `config.json`, podman
//!   `auth.json`, `docker-credential-*` helpers. Nothing is read from the environment unless
//!   the program calls [`AuthConfig::from_env`].
//! - [`Progress`]: per-blob byte events for progress bars.
//!
//! ## Guarantees
//! - Every manifest, config and layer is verified against its digest before it is stored; the
//!   manifest bytes are kept exactly as received, never re-serialised.
//! - Blobs stream between the network and the store through bounded buffers; no blob is ever
//!   held whole in memory.
//! - Pushes move blobs first, then child manifests, then the tag: a failure never leaves a tag
//!   pointing at missing content.
//! - Connection errors, 5xx and 429 are retried with exponential backoff and jitter (honouring
//!   `Retry-After`); downloads resume with `Range`, uploads from the registry's offset.
//! - Plain HTTP only for loopback hosts and registries marked insecure.
//! - Secrets never appear in `Debug` output, logs or error messages.
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use mbi_registry::{AuthConfig, Client, PlatformSelector, Reference};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder().auth(AuthConfig::from_env()).concurrency(4).build()?;
//! let store: Arc<dyn mbi_core::BlobStore> = Arc::new(mbi_core::DirStore::new("/tmp/layout")?);
//! let src: Reference = "127.0.0.1:5000/team/app:v1".parse()?;
//! let pulled = client.pull(&src, &PlatformSelector::Platform("linux/amd64".parse()?), store.clone()).await?;
//! let dst: Reference = "127.0.0.1:5000/team/app:v2".parse()?;
//! client.push(store, &pulled.descriptor, &dst).await?;
//! println!("{:?}", client.tags(&dst).await?);
//! # Ok(()) }
//! ```
//!
//! References parse without a client:
//!
//! ```
//! let r: mbi_registry::Reference = "debian:bookworm".parse().unwrap();
//! assert_eq!(r.to_string(), "docker.io/library/debian:bookworm");
//! ```

pub mod auth;
mod client;
pub mod error;
mod image;
pub mod link;
pub mod manifest;
mod ops;
pub mod progress;
pub mod reference;
mod referrers;
mod transfer;

pub use auth::{AuthConfig, Credentials, Secret};
pub use client::{Client, ClientBuilder, RetryPolicy, UploadMode};
pub use error::{Error, Result};
pub use image::{BlobStats, PlatformSelector, Pulled, Pushed};
pub use progress::{BlobOutcome, Direction, Progress, ProgressEvent};
pub use reference::{DEFAULT_REGISTRY, Reference};
pub use referrers::fallback_tag;
