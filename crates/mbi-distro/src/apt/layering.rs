//! Splitting an installed tree into layers.
//!
//! An image's root filesystem can be one layer ([`Layering::Single`], the default), one layer
//! per source package ([`Layering::PerSource`]), or at most N layers grouped by source package
//! ([`Layering::Budget`]): the biggest source packages get a layer of their own, the rest share
//! the last one. Whatever the choice, applying the layers in order gives exactly the tree that
//! [`Layering::Single`] gives:
//!
//! - every path of the tree is in exactly one layer: the one of the source package that put it
//!   there ([`Origin`]); the package database, merged-/usr links, accounts and extra files
//!   belong to the `system` group, which always goes into the last layer;
//! - every layer also carries the parent directories of its entries, with the metadata they
//!   have in the full tree, so unpacking layers in any order leaves directories identical;
//! - hard links stay in the layer of the file they link to.
//!
//! Grouping is deterministic: groups are ordered by install order of their first package, and
//! the budget picks by content size with ties broken by name.
//!
//! ```
//! # use mbi_distro::apt::layering::Layering;
//! assert_eq!(Layering::default(), Layering::Single);
//! assert_eq!("budget:4".parse::<Layering>().unwrap(), Layering::Budget(4));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use mbi_layer::{Entry, EntryKind, FileTree, TreePath};

use crate::Error;
use crate::apt::install::{Installation, Origin};

/// How to split an installation into layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Layering {
    /// One layer with everything.
    #[default]
    Single,
    /// One layer per source package, plus the `system` layer last.
    PerSource,
    /// At most this many layers (≥ 1): the biggest source packages get their own, the others
    /// and `system` share the last one.
    Budget(usize),
}

impl FromStr for Layering {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Spec {
            file: "<layering>".into(),
            line: None,
            reason: format!(
                "invalid layering {s:?}: expected single, per-source or budget:N (N ≥ 1)"
            ),
        };
        match s {
            "single" => Ok(Layering::Single),
            "per-source" => Ok(Layering::PerSource),
            _ => {
                let n: usize =
                    s.strip_prefix("budget:").and_then(|n| n.parse().ok()).ok_or_else(bad)?;
                if n == 0 {
                    return Err(bad());
                }
                Ok(Layering::Budget(n))
            }
        }
    }
}

impl std::fmt::Display for Layering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layering::Single => f.write_str("single"),
            Layering::PerSource => f.write_str("per-source"),
            Layering::Budget(n) => write!(f, "budget:{n}"),
        }
    }
}

/// One layer of a split.
#[derive(Debug, Clone)]
pub struct LayerGroup {
    /// A short name: the source package, `system`, or `rest`.
    pub name: String,
    /// The source packages whose files are in this layer (`system` included by name).
    pub sources: Vec<String>,
    /// The layer's entries (with parent directories).
    pub tree: FileTree,
    /// Bytes of regular-file content.
    pub content_bytes: u64,
}

/// A layer's name and the groups it holds.
type NamedGroup = (String, Vec<String>);

/// The name of the group holding what no package installed.
pub const SYSTEM_GROUP: &str = "system";

/// Splits `inst.tree` into layers, lowest first.
pub fn split(inst: &Installation, layering: Layering) -> Result<Vec<LayerGroup>, Error> {
    let tree = &inst.tree;
    // Group of each entry.
    let group_of = |o: Option<&Origin>| -> String {
        match o {
            Some(Origin::Package(i)) => {
                inst.packages.get(*i).map_or_else(|| SYSTEM_GROUP.to_owned(), |p| p.source.clone())
            }
            _ => SYSTEM_GROUP.to_owned(),
        }
    };
    let mut assign: BTreeMap<&TreePath, String> = BTreeMap::new();
    for e in tree.iter() {
        assign.insert(&e.path, group_of(inst.origins.get(&e.path)));
    }
    // Hard links follow their target.
    for e in tree.iter() {
        if let EntryKind::Hardlink(t) = &e.kind
            && let Some(g) = assign.get(t).cloned()
        {
            assign.insert(&e.path, g);
        }
    }
    // Group order: install order of the first package of each source, then system.
    let mut order: Vec<String> = Vec::new();
    for p in &inst.packages {
        if !order.contains(&p.source) {
            order.push(p.source.clone());
        }
    }
    let present: BTreeSet<&String> = assign.values().collect();
    order.retain(|g| present.contains(g) && g != SYSTEM_GROUP);
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    for e in tree.iter() {
        if let EntryKind::File(c) = &e.kind {
            let len = match c {
                mbi_layer::Content::Bytes(b) => b.len() as u64,
                mbi_layer::Content::FileRange { len, .. } => *len,
                mbi_layer::Content::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
            };
            *sizes.entry(assign[&e.path].clone()).or_default() += len;
        }
    }
    // Map group → layer index and layer names.
    let (layer_of, layers): (BTreeMap<String, usize>, Vec<NamedGroup>) = match layering {
        Layering::Single => {
            let mut all = order.clone();
            all.push(SYSTEM_GROUP.into());
            (all.iter().map(|g| (g.clone(), 0)).collect(), vec![("rootfs".into(), all)])
        }
        Layering::PerSource => {
            let mut m = BTreeMap::new();
            let mut layers = Vec::new();
            for (i, g) in order.iter().enumerate() {
                m.insert(g.clone(), i);
                layers.push((g.clone(), vec![g.clone()]));
            }
            m.insert(SYSTEM_GROUP.into(), layers.len());
            layers.push((SYSTEM_GROUP.into(), vec![SYSTEM_GROUP.into()]));
            (m, layers)
        }
        Layering::Budget(n) => {
            let n = n.max(1);
            let mut by_size: Vec<&String> = order.iter().collect();
            by_size.sort_by(|a, b| {
                sizes.get(*b).unwrap_or(&0).cmp(sizes.get(*a).unwrap_or(&0)).then(a.cmp(b))
            });
            let own: BTreeSet<&String> = by_size.into_iter().take(n - 1).collect();
            let mut m = BTreeMap::new();
            let mut layers = Vec::new();
            for g in &order {
                if own.contains(g) {
                    m.insert(g.clone(), layers.len());
                    layers.push((g.clone(), vec![g.clone()]));
                }
            }
            let rest = layers.len();
            let mut rest_sources = Vec::new();
            for g in &order {
                if !own.contains(g) {
                    m.insert(g.clone(), rest);
                    rest_sources.push(g.clone());
                }
            }
            m.insert(SYSTEM_GROUP.into(), rest);
            rest_sources.push(SYSTEM_GROUP.into());
            layers.push(("rest".into(), rest_sources));
            (m, layers)
        }
    };
    let mut out: Vec<LayerGroup> = layers
        .into_iter()
        .map(|(name, sources)| LayerGroup {
            name,
            sources,
            tree: FileTree::new(),
            content_bytes: 0,
        })
        .collect();
    for e in tree.iter() {
        let g = &assign[&e.path];
        let li = layer_of.get(g).copied().unwrap_or(out.len() - 1);
        let layer = &mut out[li];
        // Parent directories with their real metadata.
        for anc in e.path.ancestors() {
            if !layer.tree.contains(&anc) {
                let d = tree.get(&anc).cloned().unwrap_or_else(|| Entry::dir(anc.clone(), 0o755));
                layer.tree.insert(d)?;
            }
        }
        if let EntryKind::File(c) = &e.kind {
            layer.content_bytes += match c {
                mbi_layer::Content::Bytes(b) => b.len() as u64,
                mbi_layer::Content::FileRange { len, .. } => *len,
                mbi_layer::Content::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
            };
        }
        layer.tree.insert(e.clone())?;
    }
    // Layers left empty (a source whose every path was taken over) are dropped.
    out.retain(|l| !l.tree.is_empty());
    if out.is_empty() {
        out.push(LayerGroup {
            name: "rootfs".into(),
            sources: Vec::new(),
            tree: FileTree::new(),
            content_bytes: 0,
        });
    }
    Ok(out)
}
