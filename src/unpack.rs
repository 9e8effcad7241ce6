//! Unpacking a whole image into a directory.
//!
//! Each layer blob is read through the store's verified reader (its size and digest are
//! checked when it ends), decompressed, hashed (the uncompressed stream must match the
//! config's diff_id), and applied with mbi-layer's safe unpacker, which resolves every path
//! inside the target as if it were `/` and applies whiteouts as umoci does.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use mbi_core::{BlobStore, Compression, HashingReader, Image, Layer};
use mbi_layer::{UnpackOptions, UnpackReport};

use crate::error::{Error, Result};

/// What [`unpack_image`] reports while it works.
#[derive(Debug)]
#[non_exhaustive]
pub enum UnpackEvent<'a> {
    /// A layer is about to be applied (`index` from 1, bottom first).
    LayerStarted {
        /// Position of the layer, from 1.
        index: usize,
        /// Number of layers in the image.
        count: usize,
        /// The layer.
        layer: &'a Layer,
    },
    /// `bytes` more bytes of the current layer's blob (compressed) were read.
    Read {
        /// Bytes read since the previous event.
        bytes: u64,
    },
    /// A layer was applied.
    LayerDone {
        /// Position of the layer, from 1.
        index: usize,
        /// Number of layers in the image.
        count: usize,
        /// What the unpacker did, including what it skipped.
        report: &'a UnpackReport,
    },
}

/// Makes sure `target` can receive an image: creates it (and its parents) if missing; an
/// existing target must be an empty directory, so that an unpack never mixes with other
/// content.
pub fn prepare_target(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(md) if md.is_dir() => {
            let mut rd =
                fs::read_dir(target).map_err(|e| Error::io("read directory", target, e))?;
            if rd.next().is_some() {
                return Err(Error::Target {
                    path: target.to_owned(),
                    reason: "directory is not empty".into(),
                });
            }
            Ok(())
        }
        Ok(_) => Err(Error::Target {
            path: target.to_owned(),
            reason: "exists and is not a directory".into(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(target).map_err(|e| Error::io("create", target, e))
        }
        Err(e) => Err(Error::io("stat", target, e)),
    }
}

/// Applies every layer of `image` (whose blobs are in `store`) onto `target`, bottom first,
/// and returns one report per layer. `target` must exist (see [`prepare_target`]).
///
/// Every layer blob is verified against its digest and size, and its uncompressed content
/// against the config's diff_id; a mismatch fails the unpack. Streaming means the check
/// completes when the layer's last byte is read, so on failure `target` holds a partial
/// result and should be discarded.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mbi::core::{HistoryEntry, ImageBuilder, MemoryStore, Platform};
/// use mbi::layer::{Entry, FileTree, LayerWriter, TreePath, UnpackOptions};
///
/// let store = MemoryStore::new();
/// let mut tree = FileTree::new();
/// tree.insert(Entry::file(TreePath::new("etc/motd")?, "hello\n", 0o644))?;
/// let layer = LayerWriter::default().write_tree(&tree, &store)?;
/// let image = ImageBuilder::new(Platform::linux("amd64"))
///     .append_layer(layer.descriptor, layer.diff_id, HistoryEntry::new("example"))
///     .build(&store)?;
///
/// let dir = tempfile::tempdir()?;
/// let rootfs = dir.path().join("rootfs");
/// mbi::unpack::prepare_target(&rootfs)?;
/// let opts = UnpackOptions::default().same_owner(false);
/// mbi::unpack::unpack_image(&store, &image, &rootfs, &opts, &mut |_| {})?;
/// assert_eq!(std::fs::read(rootfs.join("etc/motd"))?, b"hello\n");
/// # Ok(()) }
/// ```
pub fn unpack_image(
    store: &dyn BlobStore,
    image: &Image,
    target: &Path,
    options: &UnpackOptions,
    progress: &mut dyn FnMut(UnpackEvent<'_>),
) -> Result<Vec<UnpackReport>> {
    let count = image.layers().len();
    let mut reports = Vec::with_capacity(count);
    for (i, layer) in image.layers().iter().enumerate() {
        let index = i + 1;
        progress(UnpackEvent::LayerStarted { index, count, layer });
        let report = unpack_one(store, layer, index, target, options, progress)?;
        progress(UnpackEvent::LayerDone { index, count, report: &report });
        reports.push(report);
    }
    Ok(reports)
}

fn unpack_one(
    store: &dyn BlobStore,
    layer: &Layer,
    index: usize,
    target: &Path,
    options: &UnpackOptions,
    progress: &mut dyn FnMut(UnpackEvent<'_>),
) -> Result<UnpackReport> {
    let d = &layer.descriptor;
    let stream_err = |what: &str, e: io::Error| Error::LayerStream {
        index,
        digest: d.digest.clone(),
        reason: format!("{what}: {e}"),
    };
    let compression = layer.compression().ok_or_else(|| Error::UnknownLayerType {
        index,
        digest: d.digest.clone(),
        media_type: d.media_type.to_string(),
    })?;
    let blob = Counting { inner: store.open_verified(&d.digest, d.size)?, progress };
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(blob)
                .map_err(|e| stream_err("setting up the zstd decoder", e))?,
        ),
    };
    let mut hashing = HashingReader::new(decoder);
    let report = mbi_layer::unpack_tar(&mut hashing, target, options)
        .map_err(|source| Error::Unpack { index, digest: d.digest.clone(), source })?;
    // Whatever follows the end-of-archive marker is part of the diff_id, and reading the
    // compressed stream to its end is what makes the verified reader check the blob digest.
    io::copy(&mut hashing, &mut io::sink())
        .map_err(|e| stream_err("reading the rest of the layer", e))?;
    let actual = hashing.digest();
    if actual != layer.diff_id {
        return Err(Error::DiffIdMismatch {
            index,
            digest: d.digest.clone(),
            expected: layer.diff_id.clone(),
            actual,
        });
    }
    Ok(report)
}

/// Reports bytes read to the progress callback.
struct Counting<'p, 'e, R> {
    inner: R,
    progress: &'p mut dyn FnMut(UnpackEvent<'e>),
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.progress)(UnpackEvent::Read { bytes: n as u64 });
        }
        Ok(n)
    }
}
