//! # mbi-layer: deterministic layers
//!
//! (Being built: file-tree model, deterministic tar writer, compressors, safe reader.)
