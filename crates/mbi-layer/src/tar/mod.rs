//! Tar streams: the deterministic writer's building blocks and a safe streaming reader.
//!
//! Headers are built by hand ([`write_tar_to`] for the uncompressed stream); the `tar` crate's
//! `Builder` is deliberately not used (it follows symlinks, writes filesystem-dependent sparse
//! maps and has a fixed 2006 mtime in its "deterministic" mode).

pub(crate) mod header;
mod read;
pub(crate) mod write;

pub use read::{ContentReader, MAX_META_SIZE, TarEntry, TarKind, TarReader};
pub use write::write_tar_to;

use crate::path::TreePath;

/// What a (lexically cleaned) archive name denotes in a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerPath {
    /// The root directory itself (`./` or `/`).
    Root,
    /// An ordinary path.
    Path(TreePath),
    /// `.wh.<name>`: delete `<path>` from lower layers.
    Whiteout(TreePath),
    /// `.wh..wh..opq`: hide lower-layer content of this directory (`None` for the root).
    Opaque(Option<TreePath>),
    /// Another `.wh..wh.*` name (AUFS metadata such as `.wh..wh.plnk`), to be ignored.
    AufsMeta,
}

/// Cleans an archive name the way umoci and a chroot see it: a leading `/` and `.`/empty
/// components are dropped and `..` removes the previous component. A `..` that would climb
/// above the root is refused, as is a NUL byte; the error says why.
pub fn clean_name(raw: &[u8]) -> Result<LayerPath, &'static str> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte");
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("name climbs above the root with '..'");
                }
            }
            c => parts.push(c),
        }
    }
    let Some(last) = parts.pop() else { return Ok(LayerPath::Root) };
    let parent = if parts.is_empty() { None } else { Some(parts.join(&b'/')) };
    let full = |name: &[u8]| -> TreePath {
        let mut v = parent.clone().unwrap_or_default();
        if !v.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(name);
        TreePath::from_normalised(v)
    };
    if last == b".wh..wh..opq" {
        return Ok(LayerPath::Opaque(parent.map(TreePath::from_normalised)));
    }
    if last.starts_with(b".wh..wh.") {
        return Ok(LayerPath::AufsMeta);
    }
    if let Some(target) = last.strip_prefix(b".wh.") {
        if target.is_empty() || target == b"." || target == b".." {
            return Err("whiteout names no file");
        }
        return Ok(LayerPath::Whiteout(full(target)));
    }
    Ok(LayerPath::Path(full(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(s: &str) -> TreePath {
        TreePath::new(s).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean_name(b"./").unwrap(), LayerPath::Root);
        assert_eq!(clean_name(b"/").unwrap(), LayerPath::Root);
        assert_eq!(clean_name(b"./usr/bin/").unwrap(), LayerPath::Path(tp("usr/bin")));
        assert_eq!(clean_name(b"/abs/x").unwrap(), LayerPath::Path(tp("abs/x")));
        assert_eq!(clean_name(b"a/../b").unwrap(), LayerPath::Path(tp("b")));
        assert_eq!(clean_name(b"a/.wh.b").unwrap(), LayerPath::Whiteout(tp("a/b")));
        assert_eq!(clean_name(b".wh.b").unwrap(), LayerPath::Whiteout(tp("b")));
        assert_eq!(clean_name(b"a/.wh..wh..opq").unwrap(), LayerPath::Opaque(Some(tp("a"))));
        assert_eq!(clean_name(b".wh..wh..opq").unwrap(), LayerPath::Opaque(None));
        assert_eq!(clean_name(b"a/.wh..wh.plnk").unwrap(), LayerPath::AufsMeta);
        assert!(clean_name(b"../x").is_err());
        assert!(clean_name(b"a/../../x").is_err());
        assert!(clean_name(b"a/.wh.").is_err());
        assert!(clean_name(b"a/.wh...").is_err());
        assert!(clean_name(b"a\0b").is_err());
    }
}
