//! # mbi-layer: deterministic layers, safely unpacked
//!
//! The file-system half of mbi, between "a set of files" and "a layer blob in a store":
//!
//! - [`FileTree`] / [`Entry`] / [`TreePath`]: an in-memory model of a layer's content
//!   (owners, modes with setuid/setgid/sticky, devices, xattrs, hardlinks, whiteouts and opaque
//!   directories) that needs no root to express anything. Build it by hand, read it from a
//!   directory ([`FileTree::from_dir`]) or from a tar stream ([`FileTree::from_tar`]), and
//!   combine trees with overlay semantics ([`FileTree::apply`]).
//! - [`LayerWriter`]: turns a tree into a layer blob in any [`mbi_core::BlobStore`] in one
//!   streaming pass: a tar written by hand (entries sorted by path bytes, mtimes clamped to
//!   `SOURCE_DATE_EPOCH`, numeric owners, PAX only where needed), compressed with parallel
//!   pigz-style gzip or multithreaded zstd, hashed for both the diff_id and the blob digest.
//!   The bytes never depend on the thread count, the clock, the umask or the temp directory.
//! - [`unpack_layer`]: applies a layer onto a directory as if the directory were `/`, so
//!   nothing is ever written outside it; whiteouts and opaque directories behave as in umoci.
//! - [`tar::TarReader`]: the streaming tar parser underneath, usable on its own.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mbi_core::MemoryStore;
//! use mbi_layer::{Entry, FileTree, LayerCompression, LayerOptions, LayerWriter, TreePath};
//!
//! let p = |s: &str| TreePath::new(s);
//! let mut tree = FileTree::new();
//! tree.insert(Entry::file(p("usr/bin/hello")?, "#!/bin/sh\necho hi\n", 0o755))?;
//! tree.insert(Entry::file(p("usr/bin/ping")?, "\x7fELF", 0o755)
//!     .with_xattr("security.capability", vec![1, 0, 0, 2, 0, 0x20, 0, 0]))?;
//! tree.insert(Entry::symlink(p("bin")?, "usr/bin"))?;
//! tree.insert(Entry::whiteout(p("etc/obsolete.conf")?))?;
//!
//! let store = MemoryStore::new();
//! let options = LayerOptions::default()
//!     .compression(LayerCompression::Gzip { level: 6 })
//!     .source_date_epoch(1_700_000_000);
//! let layer = LayerWriter::new(options.clone()).write_tree(&tree, &store)?;
//! // Same input, any thread count: same bytes.
//! let again = LayerWriter::new(options.threads(1)).write_tree(&tree, &store)?;
//! assert_eq!(layer, again);
//! println!("{} diff_id {}", layer.descriptor.digest, layer.diff_id);
//! # Ok(()) }
//! ```

mod error;
mod gzip;
mod import;
mod path;
mod scan;
mod sys;
pub mod tar;
mod tree;
mod unpack;
mod writer;
mod zstd_frame;

pub use error::{Error, Result};
pub use gzip::{DICT_SIZE, GZIP_BLOCK};
pub use import::FromTarOptions;
pub use path::TreePath;
pub use scan::{FromDirOptions, ScanReport, Skipped};
pub use tar::write_tar_to;
pub use tree::{Content, Entry, EntryKind, FileTree};
pub use unpack::{
    MAX_NAME_LEN, SkippedEntry, UnpackOptions, UnpackReport, unpack_layer, unpack_tar,
};
pub use writer::{
    Layer, LayerCompression, LayerOptions, LayerWriter, MAX_GZIP_THREADS, MAX_ZSTD_THREADS,
};
pub use zstd_frame::ZSTD_FRAME_SIZE;
