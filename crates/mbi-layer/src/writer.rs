//! The layer writer: tar generation, compression and hashing overlapped across threads.
//!
//! ```text
//!  producer thread                 N worker threads                  calling thread
//!  tree ─► tar bytes ─► blocks ──► gzip: deflate(block, dict=prev 32K) ──► reorder ─► crc ─► store
//!          (sha256 = diff_id)      zstd: one frame per 4 MiB block  ──► reorder ─────────► store
//! ```
//! Channels are bounded, so memory stays flat whatever the layer size; the store's writer
//! hashes the compressed bytes (the blob digest) as they are written. Block buffers go back to
//! the producer once used. For [`LayerWriter::write_dir_with`] the producer walks the
//! directory in layer order and writes each entry as it reads it, so the walk overlaps
//! compression instead of preceding it.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use mbi_core::{
    BlobStore, Compression, Descriptor, Digest, HashingWriter, MediaType, Sha256Hasher,
};

use crate::error::{Error, Result};
use crate::gzip::{self, BlockDeflater, Compressed, GZIP_BLOCK};
use crate::scan::{FromDirOptions, ScanReport, walk_dir};
use crate::tar::write::{Sink, TarEmitter, write_tree};
use crate::tree::FileTree;
use crate::zstd_frame::{FrameCompressor, ZSTD_FRAME_SIZE};

/// How a layer is compressed, with its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerCompression {
    /// Plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// gzip, levels 0–9 (`…tar+gzip`).
    Gzip {
        /// Compression level, 0 (store) to 9 (best).
        level: u32,
    },
    /// zstd, levels 1–19 (`…tar+zstd`).
    Zstd {
        /// Compression level, 1 to 19.
        level: i32,
    },
}

impl LayerCompression {
    /// gzip at level 6, gzip(1)'s default and the most widely readable choice.
    pub const DEFAULT_GZIP: LayerCompression = LayerCompression::Gzip { level: 6 };
    /// zstd at level 3, zstd(1)'s default.
    pub const DEFAULT_ZSTD: LayerCompression = LayerCompression::Zstd { level: 3 };
    /// The zstd levels a layer can be written at.
    pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=19;

    /// The compression family, as media types know it.
    pub fn kind(&self) -> Compression {
        match self {
            LayerCompression::None => Compression::None,
            LayerCompression::Gzip { .. } => Compression::Gzip,
            LayerCompression::Zstd { .. } => Compression::Zstd,
        }
    }

    /// The OCI layer media type for this compression.
    pub fn media_type(&self) -> MediaType {
        MediaType::oci_layer(self.kind())
    }

    fn validate(&self) -> Result<()> {
        match *self {
            LayerCompression::Gzip { level } if level > 9 => Err(Error::InvalidOption {
                option: "gzip level",
                reason: format!("{level} is not in 0..=9"),
            }),
            LayerCompression::Zstd { level } if !Self::ZSTD_LEVELS.contains(&level) => {
                Err(Error::InvalidOption {
                    option: "zstd level",
                    reason: format!("{level} is not in {:?}", Self::ZSTD_LEVELS),
                })
            }
            _ => Ok(()),
        }
    }
}

/// The most threads a gzip layer is compressed on. Each costs ~1.5–2 MiB of memory (the
/// buffer its deflate states are built in, its output and its share of the blocks in flight):
/// 16 peak at 34–39 MiB for a 1 GiB layer, 24 at 46–53 MiB and 32 at up to 63 MiB, too close
/// to the 64 MiB bound.
pub const MAX_GZIP_THREADS: usize = 16;

/// The most threads a zstd layer is compressed on. Each holds a 4 MiB frame, with the next
/// one waiting for it (~6.5 MiB with its output and context); 6 peak at 54 MiB for a
/// 1 GiB layer, where 16 measured 89 MiB. (The tar stream itself is read and hashed for the
/// diff_id on one thread, which bounds the speed of any number of workers.)
pub const MAX_ZSTD_THREADS: usize = 6;

/// Options for writing layers. The defaults are safe and reproducible: gzip level 6, mtimes
/// clamped to 0 (pass the real `SOURCE_DATE_EPOCH`), one compression thread per CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerOptions {
    /// Compression and level.
    pub compression: LayerCompression,
    /// Compression threads (at least 1). The output bytes never depend on it. At most
    /// [`MAX_GZIP_THREADS`] (gzip) or [`MAX_ZSTD_THREADS`] (zstd) are used, whatever this
    /// asks for: that keeps a layer's peak memory under 64 MiB on any machine.
    pub threads: usize,
    /// Every mtime is clamped into `[0, source_date_epoch]`.
    pub source_date_epoch: i64,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            compression: LayerCompression::DEFAULT_GZIP,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            source_date_epoch: 0,
        }
    }
}

impl LayerOptions {
    /// Sets the compression.
    pub fn compression(mut self, compression: LayerCompression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the number of compression threads (0 is treated as 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Sets the clamp for mtimes (normally the `SOURCE_DATE_EPOCH` the caller was given).
    pub fn source_date_epoch(mut self, epoch: i64) -> Self {
        self.source_date_epoch = epoch;
        self
    }
}

/// A layer written into a store (or a writer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob: OCI layer media type, digest and size.
    pub descriptor: Descriptor,
    /// Digest of the uncompressed tar (the image config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// Writes deterministic layers.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mbi_core::{BlobStore, MemoryStore};
/// use mbi_layer::{Entry, FileTree, LayerCompression, LayerOptions, LayerWriter, TreePath};
///
/// let mut tree = FileTree::new();
/// tree.insert(Entry::file(TreePath::new("etc/hostname")?, "mbi\n", 0o644))?;
/// let store = MemoryStore::new();
/// let options = LayerOptions::default()
///     .compression(LayerCompression::Zstd { level: 3 })
///     .source_date_epoch(1_700_000_000);
/// let layer = LayerWriter::new(options).write_tree(&tree, &store)?;
/// assert_eq!(layer.uncompressed_size, 10240);
/// assert!(store.contains(&layer.descriptor.digest)?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct LayerWriter {
    options: LayerOptions,
}

impl LayerWriter {
    /// A writer with `options`.
    pub fn new(options: LayerOptions) -> Self {
        LayerWriter { options }
    }

    /// The options in use.
    pub fn options(&self) -> &LayerOptions {
        &self.options
    }

    /// Writes `tree` as a layer blob into `store` (committed only if everything succeeded).
    pub fn write_tree(&self, tree: &FileTree, store: &dyn BlobStore) -> Result<Layer> {
        self.to_store(Source::Tree(tree), store).map(|(layer, _)| layer)
    }

    /// Writes `tree` as a layer into any writer (e.g. an upload stream) and describes it.
    pub fn write_tree_to(&self, tree: &FileTree, out: &mut dyn Write) -> Result<Layer> {
        self.to_writer(Source::Tree(tree), out).map(|(layer, _)| layer)
    }

    /// Writes the content of `dir` with default [`FromDirOptions`] (owners normalised to 0:0);
    /// see [`LayerWriter::write_dir_with`].
    pub fn write_dir(&self, dir: &Path, store: &dyn BlobStore) -> Result<(Layer, ScanReport)> {
        self.write_dir_with(dir, &FromDirOptions::default(), store)
    }

    /// Writes the content of `dir` (not `dir` itself) as a layer blob into `store`.
    ///
    /// The bytes are those of [`FileTree::from_dir`] followed by [`LayerWriter::write_tree`],
    /// but the directory is read while the layer is being compressed, in layer order, instead
    /// of all before: nothing waits for the whole tree to be scanned and no tree is kept in
    /// memory. Errors (an unreadable file, a name starting with `.wh.`) can therefore surface
    /// after part of the layer was produced; the blob is then not committed.
    pub fn write_dir_with(
        &self,
        dir: &Path,
        options: &FromDirOptions,
        store: &dyn BlobStore,
    ) -> Result<(Layer, ScanReport)> {
        self.to_store(Source::Dir(dir, options), store)
    }

    /// Writes the content of `dir` as a layer into any writer, as
    /// [`LayerWriter::write_dir_with`] does into a store.
    pub fn write_dir_to(
        &self,
        dir: &Path,
        options: &FromDirOptions,
        out: &mut dyn Write,
    ) -> Result<(Layer, ScanReport)> {
        self.to_writer(Source::Dir(dir, options), out)
    }

    /// Runs the pipeline into a new blob of `store`, committed only if everything succeeded.
    fn to_store(&self, src: Source<'_>, store: &dyn BlobStore) -> Result<(Layer, ScanReport)> {
        self.options.compression.validate()?;
        let mut blob = store.begin()?;
        let (diff_id, uncompressed_size, report) = run(src, &self.options, &mut blob)?;
        let (digest, size) = blob.commit(None)?;
        Ok((self.describe(diff_id, digest, size, uncompressed_size), report.unwrap_or_default()))
    }

    /// Runs the pipeline into `out`, hashing what it writes.
    fn to_writer(&self, src: Source<'_>, out: &mut dyn Write) -> Result<(Layer, ScanReport)> {
        self.options.compression.validate()?;
        let mut hw = HashingWriter::new(out);
        let (diff_id, uncompressed_size, report) = run(src, &self.options, &mut hw)?;
        hw.flush().map_err(|e| Error::stream("flushing layer output", e))?;
        let (_, digest, size) = hw.finish();
        Ok((self.describe(diff_id, digest, size, uncompressed_size), report.unwrap_or_default()))
    }

    /// The layer's description; an uncompressed layer's diff_id is its blob digest.
    fn describe(
        &self,
        diff_id: Option<Digest>,
        digest: Digest,
        size: u64,
        uncompressed_size: u64,
    ) -> Layer {
        Layer {
            diff_id: diff_id.unwrap_or_else(|| digest.clone()),
            descriptor: Descriptor::new(self.options.compression.media_type(), digest, size),
            uncompressed_size,
        }
    }

    /// Normalises an existing (uncompressed) tar stream into a deterministic layer. Large file
    /// contents are spilled to temporary files, so memory stays bounded.
    pub fn write_tar(&self, reader: impl Read, store: &dyn BlobStore) -> Result<Layer> {
        let tree = FileTree::from_tar(reader, &crate::import::FromTarOptions::default())?;
        self.write_tree(&tree, store)
    }
}

/// A block of the uncompressed stream.
struct Block {
    index: u64,
    data: Arc<Vec<u8>>,
    prev: Option<Arc<Vec<u8>>>,
    last: bool,
}

/// Block buffers the consumers are done with, handed back to the producer so that a layer
/// allocates (and the kernel zero-fills) only the few buffers in flight, not one per block.
#[derive(Clone)]
struct Recycler(SyncSender<Vec<u8>>);

impl Recycler {
    /// Hands `data` back if this was the last reference to it; otherwise (or if enough buffers
    /// are waiting already) it is simply dropped.
    fn give(&self, data: Arc<Vec<u8>>) {
        if let Some(v) = Arc::into_inner(data) {
            let _ = self.0.try_send(v);
        }
    }
}

/// Cuts the tar stream into fixed-size blocks ([`GZIP_BLOCK`], or [`ZSTD_FRAME_SIZE`] for zstd),
/// hashes them and sends them on. File content is read straight into the blocks (no
/// intermediate copy).
struct BlockSink {
    tx: SyncSender<Block>,
    /// Bytes per block (the last one may be shorter).
    block_size: usize,
    /// Taken once per block sent; bounds the blocks in flight (compressed layers only).
    slots: Option<SyncSender<()>>,
    /// Buffers coming back from the consumers.
    recycled: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    filled: usize,
    /// Whether each block carries the previous one (gzip's dictionary).
    chain: bool,
    prev: Option<Arc<Vec<u8>>>,
    index: u64,
    hasher: Option<Sha256Hasher>,
    /// Set when the consumer stopped (its error is the one to report).
    gone: bool,
}

impl BlockSink {
    fn new(
        tx: SyncSender<Block>,
        block_size: usize,
        slots: Option<SyncSender<()>>,
        recycled: Receiver<Vec<u8>>,
        chain: bool,
        hash: bool,
    ) -> Self {
        BlockSink {
            tx,
            block_size,
            slots,
            recycled,
            cur: vec![0; block_size],
            filled: 0,
            chain,
            prev: None,
            index: 0,
            hasher: hash.then(Sha256Hasher::new),
            gone: false,
        }
    }

    /// An empty block buffer: a recycled one if any came back.
    fn fresh(&self) -> Vec<u8> {
        match self.recycled.try_recv() {
            Ok(mut v) => {
                // Only the stream's last block is short, so this rarely has anything to fill.
                v.resize(self.block_size, 0);
                v
            }
            Err(_) => vec![0; self.block_size],
        }
    }

    fn send(&mut self, last: bool) -> Result<()> {
        let next = if last { Vec::new() } else { self.fresh() };
        let mut data = std::mem::replace(&mut self.cur, next);
        data.truncate(self.filled);
        self.filled = 0;
        if let Some(h) = &mut self.hasher {
            h.update(&data);
        }
        let data = Arc::new(data);
        if let Some(slots) = &self.slots
            && slots.send(()).is_err()
        {
            self.gone = true;
            return Err(consumer_gone());
        }
        let prev = self.prev.take();
        let keep = self.chain.then(|| data.clone());
        let block = Block { index: self.index, data, prev, last };
        if self.tx.send(block).is_err() {
            self.gone = true;
            return Err(consumer_gone());
        }
        self.prev = keep;
        self.index += 1;
        Ok(())
    }

    /// Makes room: sends the current block if it is full (there is more data coming).
    fn room(&mut self) -> Result<()> {
        if self.filled == self.block_size {
            self.send(false)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(Option<Digest>, u64)> {
        self.send(true)?;
        Ok((self.hasher.take().map(|h| h.finish().0), self.index))
    }
}

fn consumer_gone() -> Error {
    Error::stream("layer pipeline", io::Error::new(io::ErrorKind::BrokenPipe, "consumer stopped"))
}

impl Sink for BlockSink {
    fn put(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            self.room()?;
            let n = bytes.len().min(self.block_size - self.filled);
            self.cur[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    fn put_from(&mut self, src: &mut dyn Read, len: u64) -> Result<u64, io::Error> {
        let mut done = 0u64;
        while done < len {
            self.room().map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string()))?;
            let want = ((len - done) as usize).min(self.block_size - self.filled);
            let n = match src.read(&mut self.cur[self.filled..self.filled + want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.filled += n;
            done += n as u64;
        }
        Ok(done)
    }
}

/// The consumers' end of the pipeline: the blocks, the slots that bound how many are in flight
/// (compressed layers) and where used buffers go back to the producer.
struct Inbound<'a> {
    rx: Receiver<Block>,
    slots: Option<Receiver<()>>,
    recycler: &'a Recycler,
}

/// What a layer is made from.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// A tree in memory.
    Tree(&'a FileTree),
    /// A directory, read while the layer is written.
    Dir(&'a Path, &'a FromDirOptions),
}

impl Source<'_> {
    /// Writes the tar stream into `sink`; returns its size and, for a directory, what the walk
    /// left out.
    fn write(self, sde: i64, sink: &mut dyn Sink) -> Result<(u64, Option<ScanReport>)> {
        match self {
            Source::Tree(tree) => Ok((write_tree(tree, sde, sink)?, None)),
            Source::Dir(dir, options) => {
                let mut tar = TarEmitter::new(sde);
                let report = walk_dir(dir, options, &mut |key, emit| tar.emit(key, emit, sink))?;
                Ok((tar.finish(sink)?, Some(report)))
            }
        }
    }
}

type Produced = (Option<Digest>, u64, Option<ScanReport>);

/// Runs the pipeline; returns the diff_id (`None` for uncompressed layers, whose diff_id is the
/// blob digest computed by the output), the uncompressed size and the walk's report.
fn run(src: Source<'_>, opts: &LayerOptions, out: &mut dyn Write) -> Result<Produced> {
    let threads = opts.threads.clamp(
        1,
        match opts.compression {
            LayerCompression::Zstd { .. } => MAX_ZSTD_THREADS,
            _ => MAX_GZIP_THREADS,
        },
    );
    let sde = opts.source_date_epoch;
    let hash = opts.compression != LayerCompression::None;
    std::thread::scope(|s| {
        let (block_size, in_flight) = match opts.compression {
            LayerCompression::None => (GZIP_BLOCK, None),
            LayerCompression::Gzip { .. } => (GZIP_BLOCK, Some(threads * 2 + 2)),
            // Frames are big: one waiting per worker plus one being filled is enough.
            LayerCompression::Zstd { .. } => (ZSTD_FRAME_SIZE, Some(threads + 1)),
        };
        let (tx, rx) = sync_channel::<Block>(in_flight.unwrap_or(threads * 2));
        let gzip = matches!(opts.compression, LayerCompression::Gzip { .. });
        let (slot_tx, slot_rx) = match in_flight {
            Some(n) => {
                let (a, b) = sync_channel::<()>(n);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        // At most as many buffers wait to be reused as can be in flight.
        let (recycle_tx, recycle_rx) =
            sync_channel::<Vec<u8>>(in_flight.unwrap_or(threads * 2) + 2);
        let recycler = Recycler(recycle_tx);
        let producer = s.spawn(move || -> Result<(Produced, u64)> {
            let mut sink = BlockSink::new(tx, block_size, slot_tx, recycle_rx, gzip, hash);
            let (size, report) = match src.write(sde, &mut sink) {
                Ok(r) => r,
                // Reading a file failed because the consumer went away: report that instead.
                Err(_) if sink.gone => return Err(consumer_gone()),
                Err(e) => return Err(e),
            };
            let (diff_id, blocks) = sink.finish()?;
            Ok(((diff_id, size, report), blocks))
        });
        let inbound = Inbound { rx, slots: slot_rx, recycler: &recycler };
        let consumed = match opts.compression {
            LayerCompression::None => consume_plain(inbound, out),
            LayerCompression::Gzip { level } => consume_gzip(s, inbound, out, level, threads),
            LayerCompression::Zstd { level } => consume_zstd(s, inbound, out, level, threads),
        };
        let produced = producer.join().map_err(|_| {
            Error::stream("layer pipeline", io::Error::other("tar producer thread panicked"))
        })?;
        match (produced, consumed) {
            // The consumer stopped first: its error is the cause.
            (Err(e), Err(c)) if is_consumer_gone(&e) => Err(c),
            // The producer failed: the consumer saw an incomplete stream because of it.
            (Err(e), _) => Err(e),
            (Ok(_), Err(c)) => Err(c),
            (Ok((produced, blocks)), Ok(consumed)) => {
                if consumed != blocks {
                    return Err(Error::stream(
                        "layer pipeline",
                        io::Error::other(format!("{consumed} of {blocks} blocks were written")),
                    ));
                }
                Ok(produced)
            }
        }
    })
}

fn is_consumer_gone(e: &Error) -> bool {
    matches!(e, Error::Stream { context: "layer pipeline", source }
        if source.kind() == io::ErrorKind::BrokenPipe)
}

fn incomplete() -> Error {
    Error::stream("layer pipeline", io::Error::other("the tar stream ended early"))
}

fn write_out(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes).map_err(|e| Error::stream("writing layer blob", e))
}

/// Each consumer finalises its output only after the block flagged `last`, which the producer
/// sends only when the whole tar was generated; a stream that stops before it is an error.
fn consume_plain(inbound: Inbound<'_>, out: &mut dyn Write) -> Result<u64> {
    let mut n = 0;
    for block in inbound.rx {
        write_out(out, &block.data)?;
        n += 1;
        inbound.recycler.give(block.data);
        if block.last {
            return Ok(n);
        }
    }
    Err(incomplete())
}

fn consume_zstd<'scope, 'env>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    inbound: Inbound<'_>,
    out: &mut dyn Write,
    level: i32,
    threads: usize,
) -> Result<u64> {
    // Set up before any worker starts, so a bad parameter is reported as such.
    let codecs = (0..threads)
        .map(|_| {
            let mut frames = FrameCompressor::new(level)?;
            Ok(move |job: &Block| {
                let data = frames.compress(&job.data)?;
                Ok(Compressed { data, crc: 0, len: job.data.len() as u64 })
            })
        })
        .collect::<Result<Vec<_>>>()?;
    consume_parallel(s, inbound, out, codecs, |out, c| write_out(out, &c.data))
}

type Piece = (u64, bool, Result<Compressed>);

/// Compresses blocks on one worker thread per codec and writes the pieces in stream order
/// through `emit`, up to the block flagged `last`. Returns the number of blocks written.
fn consume_parallel<'scope, 'env, F>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    inbound: Inbound<'_>,
    out: &mut dyn Write,
    codecs: Vec<F>,
    mut emit: impl FnMut(&mut dyn Write, &Compressed) -> Result<()>,
) -> Result<u64>
where
    F: FnMut(&Block) -> Result<Compressed> + Send + 'scope,
{
    let Inbound { rx, slots, recycler } = inbound;
    let jobs = Arc::new(Mutex::new(rx));
    let (res_tx, res_rx) = std::sync::mpsc::channel::<Piece>();
    for mut codec in codecs {
        let jobs = jobs.clone();
        let res_tx = res_tx.clone();
        let recycler = recycler.clone();
        s.spawn(move || {
            loop {
                let job = {
                    let Ok(rx) = jobs.lock() else { return };
                    match rx.recv() {
                        Ok(j) => j,
                        Err(_) => return,
                    }
                };
                let r = codec(&job);
                // Whichever of the two jobs that use a block finishes last recycles it.
                if let Some(prev) = job.prev {
                    recycler.give(prev);
                }
                recycler.give(job.data);
                if res_tx.send((job.index, job.last, r)).is_err() {
                    return;
                }
            }
        });
    }
    drop(res_tx);
    drop(jobs);
    let mut pending: BTreeMap<u64, (bool, Compressed)> = BTreeMap::new();
    let mut next = 0u64;
    for (index, last, r) in res_rx {
        pending.insert(index, (last, r?));
        while let Some((last, c)) = pending.remove(&next) {
            emit(out, &c)?;
            next += 1;
            if let Some(slots) = &slots {
                // Frees the producer to send one more block. The producer may already be gone.
                let _ = slots.recv();
            }
            if last {
                return Ok(next);
            }
        }
    }
    Err(incomplete())
}

fn consume_gzip<'scope, 'env>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    inbound: Inbound<'_>,
    out: &mut dyn Write,
    level: u32,
    threads: usize,
) -> Result<u64> {
    let codecs = (0..threads)
        .map(|_| {
            let mut deflater = BlockDeflater::new(level);
            move |job: &Block| {
                let dict = job.prev.as_deref().map_or(&[][..], |p| &p[..]);
                deflater.compress(dict, &job.data, job.last)
            }
        })
        .collect();
    write_out(out, &gzip::header(level))?;
    let (mut crc, mut len) = (0u32, 0u64);
    let emit = |out: &mut dyn Write, c: &Compressed| {
        write_out(out, &c.data)?;
        crc = gzip::crc_combine(crc, c.crc, c.len);
        len += c.len;
        Ok(())
    };
    let blocks = consume_parallel(s, inbound, out, codecs, emit)?;
    write_out(out, &gzip::trailer(crc, len))?;
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_frames_decode_as_one_stream() {
        let data: Vec<u8> = (0..(ZSTD_FRAME_SIZE as u32 * 2 + 12345) / 4)
            .flat_map(|i| ((i % 3000) ^ (i / 131)).to_le_bytes())
            .collect();
        let mut tree = FileTree::new();
        let path = crate::TreePath::new("big").unwrap();
        tree.insert(crate::Entry::file(path, data.clone(), 0o644)).unwrap();
        let mut blobs = Vec::new();
        for threads in [1, 3] {
            let opts = LayerOptions::default()
                .compression(LayerCompression::Zstd { level: 3 })
                .threads(threads);
            let mut blob = Vec::new();
            LayerWriter::new(opts).write_tree_to(&tree, &mut blob).unwrap();
            blobs.push(blob);
        }
        assert_eq!(blobs[0], blobs[1], "thread count changed the bytes");
        // Three frames, each declaring its size: two full ones and the rest.
        let mut sizes = Vec::new();
        let mut rest = &blobs[0][..];
        while !rest.is_empty() {
            use zstd::zstd_safe::{find_frame_compressed_size, get_frame_content_size};
            sizes.push(get_frame_content_size(rest).unwrap().unwrap());
            rest = &rest[find_frame_compressed_size(rest).unwrap()..];
        }
        let tar_len = sizes.iter().sum::<u64>();
        let full = ZSTD_FRAME_SIZE as u64;
        assert_eq!(sizes, [full, full, tar_len - 2 * full]);
        let tar = zstd::stream::decode_all(&blobs[0][..]).unwrap();
        let mut archive = ::tar::Archive::new(&tar[..]);
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = b.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_errors_are_reported_not_masked() {
        let mut tree = FileTree::new();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect();
        let path = crate::TreePath::new("big").unwrap();
        tree.insert(crate::Entry::file(path, data, 0o644)).unwrap();
        for c in
            [LayerCompression::None, LayerCompression::DEFAULT_GZIP, LayerCompression::DEFAULT_ZSTD]
        {
            for threads in [1, 3] {
                let w = LayerWriter::new(LayerOptions::default().compression(c).threads(threads));
                let err = w.write_tree_to(&tree, &mut Failing { left: 10_000 }).unwrap_err();
                assert!(err.to_string().contains("disk full"), "{c:?}: {err}");
            }
        }
    }

    #[test]
    fn options_are_validated() {
        let tree = FileTree::new();
        let store = mbi_core::MemoryStore::new();
        for c in [
            LayerCompression::Gzip { level: 10 },
            LayerCompression::Zstd { level: 0 },
            LayerCompression::Zstd { level: 22 },
        ] {
            let w = LayerWriter::new(LayerOptions::default().compression(c));
            assert!(matches!(w.write_tree(&tree, &store), Err(Error::InvalidOption { .. })));
        }
    }
}
