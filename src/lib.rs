//! # mbi: managed base images
//!
//! Umbrella crate re-exporting mbi's library crates, plus the `mbi` command-line program.

pub use mbi_core as core;
pub use mbi_distro as distro;
pub use mbi_layer as layer;
pub use mbi_registry as registry;
