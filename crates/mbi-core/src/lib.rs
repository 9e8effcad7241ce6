//! # mbi-core: the image model
//!
//! The values every other mbi crate passes around:
//!
//! - [`Digest`], [`MediaType`], [`Descriptor`], [`Platform`]: small validated types.
//! - [`canonical`]: the one JSON serialisation that mbi hashes (sorted keys, compact), so a
//!   manifest digest never depends on hash-map order.
//! - [`store`]: content-addressed blob stores ([`DirStore`], [`MemoryStore`]) behind the
//!   [`BlobStore`] trait; blobs are verified while written and committed atomically.
//!
//! ```
//! use mbi_core::{BlobStore, Digest, MemoryStore};
//! let store = MemoryStore::new();
//! let (digest, size) = store.put_bytes(b"hello").unwrap();
//! assert_eq!(digest, Digest::sha256(b"hello"));
//! assert_eq!(size, 5);
//! ```

pub mod canonical;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod media_type;
pub mod platform;
pub mod store;

pub use descriptor::Descriptor;
pub use digest::{Digest, HashingReader, HashingWriter, Sha256Hasher};
pub use error::{Error, Result};
pub use media_type::{Compression, MediaType};
pub use platform::Platform;
pub use store::{BlobRead, BlobStore, BlobWriter, DirStore, MemoryStore};

/// Re-export of the `oci_spec` crate whose image types mbi uses for configs, manifests and indexes.
pub use oci_spec;
