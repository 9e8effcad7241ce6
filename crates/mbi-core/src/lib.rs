//! # mbi-core: the image model
//!
//! The values every other mbi crate passes around, and the ways images move between places.
//!
//! - [`Digest`], [`MediaType`], [`Descriptor`], [`Platform`]: small validated types.
//! - [`canonical`]: the one JSON serialisation that mbi hashes (sorted keys, compact), so a
//!   manifest digest never depends on hash-map order.
//! - [`store`]: content-addressed blob stores ([`DirStore`], [`MemoryStore`]) behind the
//!   [`BlobStore`] trait; blobs are verified while written and committed atomically.
//! - [`layout`]: [`OciLayout`], an OCI image layout directory: a blob store plus `index.json`
//!   with tags, safe for concurrent writers, with garbage collection.
//! - [`image`]: [`Image`] and [`Index`], loaded from any store with every digest and size
//!   checked (OCI and Docker schema2), keeping their exact bytes; [`config`] and [`manifest`]
//!   hold the parsing rules and limits for the documents.
//! - [`builder`]: [`ImageBuilder`] and [`IndexBuilder`], which produce byte-identical output for
//!   the same inputs (the created time is an input; the clock is never read).
//! - [`transport`]: skopeo-style references (`oci:DIR:TAG`, `oci-archive:FILE:TAG`,
//!   `docker-archive:FILE:NAME:TAG`, `docker://…`) and [`transport::copy`] between the local
//!   ones.
//!
//! The library never reads environment variables or the clock: callers pass values such as
//! SOURCE_DATE_EPOCH explicitly.
//!
//! ## Example: build an image, write it to a layout, copy it to a docker archive
//!
//! ```
//! use mbi_core::builder::HistoryEntry;
//! use mbi_core::transport::{self, CopyOptions, ImageReference};
//! use mbi_core::{BlobStore, Descriptor, ImageBuilder, MediaType, OciLayout, Platform};
//!
//! # fn main() -> Result<(), mbi_core::Error> {
//! let dir = tempfile::tempdir().unwrap();
//! let layout = OciLayout::create(dir.path().join("layout"))?;
//!
//! // A layer is a tar blob in the store (mbi-layer writes real ones); this one is empty.
//! let tar = [0u8; 1024];
//! let (digest, size) = layout.put_bytes(&tar)?;
//! let layer = Descriptor::new(MediaType::OciLayer, digest.clone(), size);
//!
//! let image = ImageBuilder::new(Platform::linux("amd64"))
//!     .append_layer(layer, digest, HistoryEntry::new("example"))
//!     .env("PATH", "/usr/bin:/bin")
//!     .entrypoint(["/bin/true"])
//!     .created(1_700_000_000) // e.g. SOURCE_DATE_EPOCH, read by the caller
//!     .build(&layout)?;
//! layout.tag("v1", image.descriptor())?;
//!
//! let src: ImageReference = format!("oci:{}:v1", layout.path().display()).parse()?;
//! let dst: ImageReference =
//!     format!("docker-archive:{}:example/app:v1", dir.path().join("app.tar").display()).parse()?;
//! transport::copy(&src, &dst, &CopyOptions::default())?;
//!
//! // Reading the archive back gives the same config, hence the same image ID.
//! let back = transport::open(&dst)?.image(None)?;
//! assert_eq!(back.config_bytes(), image.config_bytes());
//! # Ok(())
//! # }
//! ```

pub mod builder;
pub mod canonical;
pub mod config;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod image;
pub mod layout;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod store;
pub mod transport;

pub use builder::{HistoryEntry, ImageBuilder, IndexBuilder, ManifestFormat};
pub use config::ExposedPort;
pub use descriptor::Descriptor;
pub use digest::{Digest, HashingReader, HashingWriter, Sha256Hasher};
pub use error::{Error, Result};
pub use image::{Image, ImageOrIndex, Index, Layer};
pub use layout::OciLayout;
pub use media_type::{Compression, MediaType};
pub use platform::Platform;
pub use store::{BlobRead, BlobStore, BlobWriter, DirStore, MemoryStore, VerifiedReader};
pub use transport::ImageReference;

/// Re-export of the `oci_spec` crate whose image types mbi uses for configs, manifests and indexes.
pub use oci_spec;
/// `oci_spec`'s image configuration, manifest and index types, which mbi parses into.
pub use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
