//! Installing packages into a file tree.

/// What a generated entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNode {
    /// A directory.
    Directory,
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(String),
}

/// An entry the installer adds to the tree on top of the packages' own files: the package
/// database, emulated script effects, extra files from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// Path relative to the root, without a leading `/`.
    pub path: String,
    /// Kind and content.
    pub node: NewNode,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}
