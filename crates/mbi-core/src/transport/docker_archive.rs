//! `docker-archive:`: the format of `docker save` / `docker load` (and `podman save/load`).
//!
//! ```text
//! <config-hex>.json                 the image config, verbatim
//! <diff_id-hex>.tar                 each layer, uncompressed
//! manifest.json                     [{"Config": "<config-hex>.json", "RepoTags": [...], "Layers": [...]}]
//! repositories                      {"<repository>": {"<tag>": "<top layer id>"}} (legacy; only when named)
//! ```

use std::collections::BTreeMap;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::DockerArchiveImage;
use super::docker_name::DockerName;
use super::tarfile::{TarIndex, TarWriter};
use crate::digest::{HashingReader, HashingWriter};
use crate::image::ImageOrIndex;
use crate::manifest::{MAX_CONFIG_BYTES, MAX_LAYOUT_INDEX_BYTES};
use crate::store::{BlobRead, BlobWriter};
use crate::{BlobStore, Compression, Descriptor, Digest, Error, MediaType, Result};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(Debug, Clone)]
enum Loc {
    Member { offset: u64, size: u64 },
    Memory(Arc<[u8]>),
}

/// A read-only view of one image of a docker archive, with a synthesised OCI manifest.
#[derive(Debug)]
pub(crate) struct DockerArchiveStore {
    index: TarIndex,
    blobs: BTreeMap<Digest, Loc>,
}

impl BlobStore for DockerArchiveStore {
    fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        Ok(self.blobs.get(digest).map(|l| match l {
            Loc::Member { size, .. } => *size,
            Loc::Memory(b) => b.len() as u64,
        }))
    }
    fn open(&self, digest: &Digest) -> Result<Box<dyn BlobRead>> {
        match self.blobs.get(digest) {
            Some(Loc::Member { offset, size }) => {
                Ok(Box::new(self.index.open_range(*offset, *size)?))
            }
            Some(Loc::Memory(b)) => Ok(Box::new(io::Cursor::new(b.clone()))),
            None => Err(Error::BlobNotFound(digest.clone())),
        }
    }
    fn begin(&self) -> Result<Box<dyn BlobWriter>> {
        Err(self.read_only())
    }
    fn delete(&self, _digest: &Digest) -> Result<()> {
        Err(self.read_only())
    }
    fn list(&self) -> Result<Vec<Digest>> {
        Ok(self.blobs.keys().cloned().collect())
    }
}

impl DockerArchiveStore {
    fn read_only(&self) -> Error {
        Error::Unsupported {
            what: format!("writing into archive {} (it is read-only)", self.index.path().display()),
        }
    }
}

fn archive_err(path: &Path, entry: Option<&str>, reason: impl Into<String>) -> Error {
    Error::Archive { path: path.to_owned(), entry: entry.map(str::to_owned), reason: reason.into() }
}

/// Opens the image `image` selects (or the only one) and verifies its layers against the
/// config's diff_ids. Returns the view and the synthesised manifest's descriptor.
pub(crate) fn open(
    path: &Path,
    image: Option<&DockerArchiveImage>,
) -> Result<(DockerArchiveStore, Descriptor)> {
    let index = TarIndex::read(path)?;
    let mj = index.read_member("manifest.json", MAX_LAYOUT_INDEX_BYTES)?.ok_or_else(|| {
        archive_err(
            path,
            Some("manifest.json"),
            "missing (archives in the legacy format without manifest.json are not supported)",
        )
    })?;
    let items: Vec<ManifestItem> = serde_json::from_slice(&mj).map_err(|e| Error::Document {
        what: format!("{}: manifest.json", path.display()),
        source: e,
    })?;
    let location = path.display().to_string();
    let item = match image {
        Some(DockerArchiveImage::Index(n)) => items.get(*n).ok_or_else(|| Error::Selection {
            location: location.clone(),
            reason: format!("no image @{n}: the archive holds {}", items.len()),
        })?,
        Some(DockerArchiveImage::Name(name)) => items
            .iter()
            .find(|it| {
                it.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| t.parse::<DockerName>().is_ok_and(|t| t == *name))
            })
            .ok_or_else(|| Error::NotFound {
                name: name.to_string(),
                location: location.clone(),
            })?,
        None => match items.as_slice() {
            [one] => one,
            _ => {
                return Err(Error::Selection {
                    location,
                    reason: format!(
                        "the archive holds {} images; name one (NAME:TAG or @N); tags: {}",
                        items.len(),
                        items
                            .iter()
                            .flat_map(|i| i.repo_tags.iter().flatten())
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        },
    };

    let (config_offset, config_size) = index.locate(&item.config)?.ok_or_else(|| {
        archive_err(path, Some(&item.config), "config named in manifest.json is missing")
    })?;
    let config_bytes = index
        .read_member(&item.config, MAX_CONFIG_BYTES)?
        .ok_or_else(|| archive_err(path, Some(&item.config), "missing"))?;
    let config_digest = Digest::sha256(&config_bytes);
    let what = format!("{}: {}", path.display(), item.config);
    let config = crate::config::parse_config(&config_bytes, &what)?;
    let diff_ids = crate::config::diff_ids(&config, &what)?;
    if diff_ids.len() != item.layers.len() {
        return Err(archive_err(
            path,
            Some("manifest.json"),
            format!(
                "{} layers listed but the config has {} diff_ids",
                item.layers.len(),
                diff_ids.len()
            ),
        ));
    }

    let mut blobs = BTreeMap::new();
    blobs.insert(config_digest.clone(), Loc::Member { offset: config_offset, size: config_size });
    let mut layers = Vec::with_capacity(item.layers.len());
    let mut cache: BTreeMap<&str, Descriptor> = BTreeMap::new();
    for (name, diff_id) in item.layers.iter().zip(&diff_ids) {
        if let Some(d) = cache.get(name.as_str()) {
            layers.push(d.clone());
            continue;
        }
        let (offset, size) = index.locate(name)?.ok_or_else(|| {
            archive_err(path, Some(name), "layer named in manifest.json is missing")
        })?;
        let (media_type, digest) = hash_layer(&index, offset, size, diff_id)
            .map_err(|reason| archive_err(path, Some(name), reason))?;
        blobs.insert(digest.clone(), Loc::Member { offset, size });
        let d = Descriptor::new(media_type, digest, size);
        cache.insert(name, d.clone());
        layers.push(d);
    }

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest,
        "config": Descriptor::new(MediaType::OciConfig, config_digest, config_size),
        "layers": layers,
    });
    let bytes = crate::canonical::to_vec(&manifest)?;
    let root = Descriptor::of_bytes(MediaType::OciManifest, &bytes);
    blobs.insert(root.digest.clone(), Loc::Memory(bytes.into()));
    Ok((DockerArchiveStore { index, blobs }, root))
}

/// Writes the decompressed `blob` as the tar member `name`, decompressing on a second thread
/// (through a channel of at most four 1 MiB chunks) while this one hashes and writes. Returns
/// the digest of the decompressed bytes and the digest and size of the blob itself.
fn decompress_into<W: Write + Seek>(
    w: &mut TarWriter<W>,
    name: &str,
    blob: Box<dyn crate::BlobRead>,
    compression: Compression,
) -> io::Result<(Digest, Digest, u64)> {
    const CHUNK: usize = 1 << 20;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
        let producer = s.spawn(move || -> io::Result<(Digest, u64)> {
            let mut hashed = HashingReader::new(BufReader::with_capacity(CHUNK, blob));
            let pumped = (|| -> io::Result<bool> {
                let mut dec = decoder(compression, &mut hashed)?;
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    let n = read_full(&mut dec, &mut buf)?;
                    if n == 0 {
                        return Ok(true);
                    }
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        return Ok(false); // the writer gave up; its error is reported
                    }
                }
            })();
            match pumped {
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
                Ok(false) => return Err(io::Error::other("writer stopped")),
                Ok(true) => drop(tx),
            }
            // Whatever follows the compressed stream is part of the blob digest too.
            io::copy(&mut hashed, &mut io::sink())?;
            let (_, digest, size) = hashed.finish();
            Ok((digest, size))
        });
        let (diff, _) = w.file_streamed(name, move |out| {
            let mut hw = HashingWriter::new(out);
            for chunk in rx.iter() {
                hw.write_all(&chunk?)?;
            }
            Ok(hw.finish().1)
        })?;
        let (digest, size) =
            producer.join().map_err(|_| io::Error::other("decompression thread panicked"))??;
        Ok((diff, digest, size))
    })
}

/// Reads a layer member once: its digest, its compression (sniffed), and the digest of its
/// uncompressed content, which must be `diff_id`.
fn hash_layer(
    index: &TarIndex,
    offset: u64,
    size: u64,
    diff_id: &Digest,
) -> std::result::Result<(MediaType, Digest), String> {
    let mut f = index.open_range(offset, size).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut f, &mut magic).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let compression = match &magic[..n] {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        _ => Compression::None,
    };
    let mut outer = HashingReader::new(BufReader::with_capacity(1 << 20, f));
    let uncompressed = match compression {
        Compression::None => {
            io::copy(&mut outer, &mut io::sink()).map_err(|e| e.to_string())?;
            None
        }
        c => {
            let mut dec = decoder(c, &mut outer).map_err(|e| format!("cannot decompress: {e}"))?;
            let mut w = HashingWriter::new(io::sink());
            io::copy(&mut dec, &mut w).map_err(|e| format!("cannot decompress: {e}"))?;
            drop(dec);
            // Trailing bytes after the compressed stream still count towards the blob digest.
            io::copy(&mut outer, &mut io::sink()).map_err(|e| e.to_string())?;
            Some(w.finish().1)
        }
    };
    let (_, digest, _) = outer.finish();
    let actual_diff = uncompressed.unwrap_or_else(|| digest.clone());
    if actual_diff != *diff_id {
        return Err(format!(
            "layer content has digest {actual_diff}, but the config's diff_id is {diff_id}"
        ));
    }
    Ok((MediaType::oci_layer(compression), digest))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A decompressing reader for a layer of `compression` (multi-member gzip; multi-frame zstd).
pub(crate) fn decoder<'a>(
    compression: Compression,
    r: impl Read + 'a,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(r))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// Writes a new docker archive at `path` with the image `root` (tagged `name` if given).
pub(crate) fn write(
    path: &Path,
    name: Option<&DockerName>,
    store: &dyn BlobStore,
    root: &Descriptor,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<()> {
    let image = match ImageOrIndex::load(store, root)? {
        ImageOrIndex::Image(i) => i,
        ImageOrIndex::Index(_) => {
            return Err(Error::Unsupported {
                what: format!(
                    "writing index {} to docker-archive:{}: a docker archive holds single-platform images; select a platform",
                    root.digest,
                    path.display()
                ),
            });
        }
    };
    let mut layer_names = Vec::with_capacity(image.layers().len());
    // name → layer, deduplicated, sorted.
    let mut layer_files = BTreeMap::new();
    for (i, l) in image.layers().iter().enumerate() {
        let compression = l.compression().ok_or_else(|| Error::Unsupported {
            what: format!(
                "layer {i} ({}) has media type {}, which mbi cannot decompress for a docker archive",
                l.descriptor.digest, l.descriptor.media_type
            ),
        })?;
        let file = format!("{}.tar", l.diff_id.hex());
        layer_names.push(file.clone());
        layer_files.entry(file).or_insert((l.clone(), compression));
    }
    let config_name = format!("{}.json", image.config_descriptor().digest.hex());
    let item = ManifestItem {
        config: config_name.clone(),
        repo_tags: Some(name.map(|n| vec![n.to_string()]).unwrap_or_default()),
        layers: layer_names.clone(),
    };
    let manifest_json = crate::canonical::to_vec(&[item])?;
    let legacy = legacy_layers(&image)?;
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if let (Some(n), Some(top)) = (name, legacy.last()) {
        repos.entry(n.repository()).or_default().insert(n.tag().to_owned(), top.id.clone());
    }
    let repositories = crate::canonical::to_vec(&repos)?;

    enum Entry<'a> {
        Bytes(&'a [u8]),
        Symlink(String),
        Layer(&'a crate::image::Layer, Compression),
    }
    let mut entries: BTreeMap<String, Entry<'_>> = BTreeMap::new();
    entries.insert(config_name, Entry::Bytes(image.config_bytes()));
    for (f, (l, c)) in &layer_files {
        entries.insert(f.clone(), Entry::Layer(l, *c));
    }
    entries.insert("manifest.json".into(), Entry::Bytes(&manifest_json));
    entries.insert("repositories".into(), Entry::Bytes(&repositories));
    for l in &legacy {
        entries.insert(format!("{}/VERSION", l.id), Entry::Bytes(b"1.0"));
        entries.insert(format!("{}/json", l.id), Entry::Bytes(&l.json));
        entries.insert(format!("{}/layer.tar", l.id), Entry::Symlink(format!("../{}", l.file)));
    }

    let dir = super::parent_dir(path);
    let fname = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{fname}.tmp-"))
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create temp file in", &dir, e))?;
    let io_err = |e| Error::io("write", tmp.path().to_owned(), e);
    let mut w = TarWriter::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
    for (name, entry) in &entries {
        match entry {
            Entry::Bytes(b) => w.file(name, b.len() as u64, &mut &b[..]).map_err(io_err)?,
            Entry::Symlink(target) => w.symlink(name, target).map_err(io_err)?,
            Entry::Layer(l, c) => {
                let blob = store.open(&l.descriptor.digest)?;
                let context =
                    || format!("writing layer {} into {}", l.descriptor.digest, path.display());
                let (diff, blob_digest, blob_size) = decompress_into(&mut w, name, blob, *c)
                    .map_err(|e| Error::Stream { context: context(), source: e })?;
                if blob_digest != l.descriptor.digest {
                    return Err(Error::DigestMismatch {
                        expected: l.descriptor.digest.clone(),
                        actual: blob_digest,
                    });
                }
                if blob_size != l.descriptor.size {
                    return Err(Error::SizeMismatch {
                        digest: l.descriptor.digest.clone(),
                        expected: l.descriptor.size,
                        actual: blob_size,
                    });
                }
                if diff != l.diff_id {
                    return Err(Error::invalid(
                        format!("layer {}", l.descriptor.digest),
                        format!(
                            "uncompressed content has digest {diff}, but the config's diff_id is {}",
                            l.diff_id
                        ),
                    ));
                }
                progress(&l.descriptor);
            }
        }
    }
    let mut out = w.finish().map_err(io_err)?;
    out.flush().map_err(io_err)?;
    drop(out);
    tmp.as_file().sync_all().map_err(io_err)?;
    super::oci_archive::set_mode_644(tmp.as_file()).map_err(io_err)?;
    tmp.persist(path).map_err(|e| Error::io("rename into", path, e.error))?;
    Ok(())
}

/// One layer in the legacy (pre-manifest.json) layout: `<id>/VERSION`, `<id>/json`,
/// `<id>/layer.tar` → `../<diff_id hex>.tar`.
struct LegacyLayer {
    id: String,
    json: Vec<u8>,
    file: String,
}

/// Legacy layer metadata, as containers/image writes it (the IDs differ, which is allowed: they
/// only need to be unique, and docker assigns its own on load). Each layer's ID is the digest
/// of its canonical `json` computed with its chain ID in a `layer_id` field (so layers with the
/// same content below different parents get different IDs); the top layer's `json` carries the
/// runtime part of the image config.
fn legacy_layers(image: &crate::Image) -> Result<Vec<LegacyLayer>> {
    let config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(image.config_bytes()).map_err(|e| Error::Document {
            what: format!("config {}", image.config_descriptor().digest),
            source: e,
        })?;
    let mut out: Vec<LegacyLayer> = Vec::new();
    let mut chain: Option<Digest> = None;
    let n = image.layers().len();
    for (i, l) in image.layers().iter().enumerate() {
        let next = match &chain {
            None => l.diff_id.clone(),
            Some(c) => Digest::sha256(format!("{c} {}", l.diff_id).as_bytes()),
        };
        let mut j = serde_json::Map::new();
        if let Some(parent) = out.last() {
            j.insert("parent".into(), parent.id.clone().into());
        }
        if i + 1 == n {
            for k in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                if let Some(v) = config.get(k) {
                    j.insert(k.into(), v.clone());
                }
            }
        }
        j.insert("layer_id".into(), next.to_string().into());
        let id = Digest::sha256(&crate::canonical::to_vec(&j)?).hex().to_owned();
        j.remove("layer_id");
        j.insert("id".into(), id.clone().into());
        out.push(LegacyLayer {
            id,
            json: crate::canonical::to_vec(&j)?,
            file: format!("{}.tar", l.diff_id.hex()),
        });
        chain = Some(next);
    }
    Ok(out)
}
