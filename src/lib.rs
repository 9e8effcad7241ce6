//! # mbi: managed base images
//!
//! mbi assembles OCI container images from Linux distributions' signed package repositories,
//! reproducibly, as a library first and a command-line program second. This umbrella crate
//! re-exports the library crates under short names and adds the few operations that combine
//! them, which the `mbi` program (and yours) calls:
//!
//! | module | what |
//! |---|---|
//! | [`core`] (`mbi-core`) | digests, descriptors, platforms, blob stores, OCI layouts, images and indexes, builders, transports (`oci:`, `oci-archive:`, `docker-archive:`) |
//! | [`layer`] (`mbi-layer`) | file trees, the deterministic layer writer, the safe unpacker |
//! | [`distro`] (`mbi-distro`) | apt sources, signed metadata, resolution, downloads |
//! | [`registry`] (`mbi-registry`) | the OCI distribution client |
//! | [`publish`] | writing images to references without leaving half-written destinations |
//! | [`unpack`] | applying all layers of an image to a directory, every blob verified |
//! | [`inspect`] | the JSON summary `mbi inspect` prints |
//! | [`store`] | [`store::OverlayStore`], two blob stores seen as one |
//!
//! Like the crates underneath, nothing here reads the clock or the environment: times (such
//! as `SOURCE_DATE_EPOCH`) and temporary directories are parameters.
//!
//! ## Example: a layer from an in-memory tree, an image, an OCI layout, and back
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mbi::core::transport::{self, ImageReference};
//! use mbi::core::{HistoryEntry, ImageBuilder, Platform};
//! use mbi::layer::{Entry, FileTree, LayerOptions, LayerWriter, TreePath, UnpackOptions};
//! use mbi::publish::Destination;
//!
//! let tmp = tempfile::tempdir()?;
//! let dest: ImageReference = format!("oci:{}:hello", tmp.path().join("oci").display()).parse()?;
//!
//! // The files of the layer, with owners and modes that need no root to express.
//! let mut tree = FileTree::new();
//! tree.insert(Entry::file(TreePath::new("hello.sh")?, "#!/bin/sh\necho hello\n", 0o755))?;
//!
//! // Stage the new blobs where they will end up, build, then publish.
//! let staging = Destination::prepare(&dest, tmp.path())?;
//! let epoch = 1_700_000_000; // SOURCE_DATE_EPOCH, read by the caller
//! let layer = LayerWriter::new(LayerOptions::default().source_date_epoch(epoch))
//!     .write_tree(&tree, staging.store())?;
//! let image = ImageBuilder::new(Platform::linux("amd64"))
//!     .append_layer(layer.descriptor, layer.diff_id, HistoryEntry::new("example"))
//!     .entrypoint(["/hello.sh"])
//!     .created(epoch as u64)
//!     .build(staging.store())?;
//! staging.publish(image.descriptor(), None)?;
//!
//! // Read it back and unpack it.
//! let source = transport::open(&dest)?;
//! let back = source.image(None)?;
//! assert_eq!(back.digest(), image.digest());
//! let rootfs = tmp.path().join("rootfs");
//! mbi::unpack::prepare_target(&rootfs)?;
//! let options = UnpackOptions::default().same_owner(false);
//! mbi::unpack::unpack_image(source.store(), &back, &rootfs, &options, &mut |_| {})?;
//! assert!(rootfs.join("hello.sh").is_file());
//! # Ok(()) }
//! ```

pub mod build;
pub mod error;
pub mod inspect;
pub mod publish;
pub mod store;
pub mod unpack;

pub use error::{Error, Result};
pub use mbi_core as core;
pub use mbi_distro as distro;
pub use mbi_layer as layer;
pub use mbi_registry as registry;
