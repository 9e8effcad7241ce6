//! `oci-archive:`: a tar of an OCI image layout.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read};
use std::path::Path;

use super::tarfile::{ArchiveStore, TarIndex, TarWriter};
use crate::digest::HashingReader;
use crate::layout::{self, OCI_LAYOUT_CONTENT};
use crate::manifest::{self, MAX_LAYOUT_INDEX_BYTES, annotations};
use crate::{BlobStore, Descriptor, Error, Result};

/// Indexes the archive and reads its `oci-layout` and `index.json`.
pub(crate) fn open(path: &Path) -> Result<(ArchiveStore, Vec<Descriptor>)> {
    let index = TarIndex::read(path)?;
    let missing = |what: &str| Error::Archive {
        path: path.to_owned(),
        entry: Some(what.to_owned()),
        reason: "missing: not an OCI layout archive".into(),
    };
    let layout_file =
        index.read_member("oci-layout", 64 << 10)?.ok_or_else(|| missing("oci-layout"))?;
    layout::check_oci_layout_file(&layout_file, path)?;
    let index_json = index
        .read_member("index.json", MAX_LAYOUT_INDEX_BYTES)?
        .ok_or_else(|| missing("index.json"))?;
    let manifests =
        layout::parse_index_json(&index_json, &format!("{}: index.json", path.display()))?;
    Ok((ArchiveStore { index }, manifests))
}

/// Writes a new archive at `path` holding `root` (tagged `tag` if given) and everything it
/// references, deterministically: sorted entries, ustar headers, mtime 0, owner 0:0.
pub(crate) fn write(
    path: &Path,
    tag: Option<&str>,
    store: &dyn BlobStore,
    root: &Descriptor,
    progress: &mut dyn FnMut(&Descriptor),
) -> Result<()> {
    if let Some(t) = tag {
        super::validate_oci_ref_name(t)?;
    }
    // Every blob, by its path in the layout (sorted, as BTreeMap keys).
    let mut blobs: BTreeMap<String, Descriptor> = BTreeMap::new();
    manifest::walk(store, root, false, &mut |d| {
        blobs.insert(
            format!("blobs/{}/{}", d.digest.algorithm().as_str(), d.digest.hex()),
            d.clone(),
        );
        Ok(())
    })?;
    let mut root = root.clone();
    root.annotations.remove(annotations::REF_NAME);
    if let Some(t) = tag {
        root.annotations.insert(annotations::REF_NAME.to_owned(), t.to_owned());
    }
    let index_json = layout::index_json_bytes(vec![root])?;

    let dir = super::parent_dir(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create temp file in", &dir, e))?;
    let io_err = |e| Error::io("write", tmp.path().to_owned(), e);
    let mut w = TarWriter::new(BufWriter::with_capacity(1 << 20, tmp.as_file()));
    let mut dirs: Vec<String> = vec!["blobs/".into()];
    for k in blobs.keys() {
        if let Some((d, _)) = k.rsplit_once('/') {
            let d = format!("{d}/");
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    // Directories and files in one sorted sequence.
    let mut entries: Vec<(&str, Option<&Descriptor>)> = dirs
        .iter()
        .map(|d| (d.as_str(), None))
        .chain(blobs.iter().map(|(k, d)| (k.as_str(), Some(d))))
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (name, desc) in entries {
        match desc {
            None => w.dir(name).map_err(io_err)?,
            Some(d) => {
                let mut r = HashingReader::new(store.open(&d.digest)?);
                w.file(name, d.size, &mut r).map_err(|e| Error::Stream {
                    context: format!("writing blob {} into {}", d.digest, path.display()),
                    source: e,
                })?;
                // The size matched (or `file` failed); a longer blob is caught by the digest.
                let (mut rest, digest, n) = r.finish();
                let mut probe = [0u8; 1];
                let longer = rest.read(&mut probe).map(|k| k > 0).unwrap_or(false);
                if digest != d.digest || longer {
                    return Err(Error::DigestMismatch {
                        expected: d.digest.clone(),
                        actual: digest,
                    });
                }
                debug_assert_eq!(n, d.size);
                progress(d);
            }
        }
    }
    w.file("index.json", index_json.len() as u64, &mut &index_json[..]).map_err(io_err)?;
    w.file("oci-layout", OCI_LAYOUT_CONTENT.len() as u64, &mut &OCI_LAYOUT_CONTENT[..])
        .map_err(io_err)?;
    w.finish().map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    set_mode_644(tmp.as_file()).map_err(io_err)?;
    tmp.persist(path).map_err(|e| Error::io("rename into", path, e.error))?;
    Ok(())
}

pub(crate) fn set_mode_644(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o644))
}
