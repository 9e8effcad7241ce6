//! Reading `.deb` packages: control information and a spooled, checked data archive.
//!
//! A `.deb` is an [`ar`](crate::apt::ar) archive of three members, in order: `debian-binary`
//! (`2.0\n`), `control.tar[.gz|.xz|.zst]` and `data.tar[.gz|.xz|.zst|.lzma]`; members whose
//! name starts with `_` are ignored, as dpkg does. [`DebReader::open`] reads all of it in one
//! streaming pass:
//!
//! - the control archive becomes a [`DebControl`]: the `control` stanza ([`ControlFields`],
//!   fields in their original order), `conffiles`, `md5sums` and every other control member
//!   (maintainer scripts, `triggers`, `shlibs`, `symbols`, `templates`, …) as bytes;
//! - the data archive is decompressed once and the *contents of its regular files* are
//!   appended to a temporary spool file in a directory the caller chooses (tmpfs is best); the
//!   result is a [`DebData`]: one [`DataEntry`] per tar entry, whose files refer to byte ranges
//!   of the spool. Memory stays bounded by the number of entries, never by their size.
//!
//! Every entry path is normalised (`./usr/bin/x` → `usr/bin/x`) and checked: `..` components,
//! absolute paths, NUL bytes, hard links to anything but an earlier regular file of the same
//! package, duplicate paths, and entries below a symlink the same package ships (the
//! "symlink-then-write" trick) are refused with [`Error::UnsafeEntry`] naming package and
//! entry. Placing entries into an image (merged-/usr, conflicts between packages) is the
//! [installer's](crate::apt) job.
//!
//! ```no_run
//! use mbi_distro::apt::deb::DebReader;
//! # fn main() -> Result<(), mbi_distro::Error> {
//! let deb = DebReader::new("/dev/shm").open("hello_2.10-3_amd64.deb".as_ref())?;
//! println!("{} {}", deb.control.package()?, deb.control.version()?);
//! for entry in &deb.data.entries {
//!     println!("/{}", entry.path);
//! }
//! # Ok(()) }
//! ```

mod tar;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use self::tar::{MAX_LONG_NAME, MAX_PAX};
use self::tar::{TarKind, TarStream};
use crate::Error;
use crate::apt::ar::ArReader;

/// Default cap on the uncompressed size of a control archive's members together.
pub const DEFAULT_MAX_CONTROL_BYTES: u64 = 64 << 20;

/// Memory limit for xz/lzma decoders (Debian's `xz -6` needs 9 MiB; `-9e` 65 MiB).
const XZ_MEMLIMIT: u64 = 512 << 20;

/// Compression of a `control.tar*` or `data.tar*` member, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MemberCompression {
    /// `.tar`
    None,
    /// `.tar.gz`
    Gzip,
    /// `.tar.xz`
    Xz,
    /// `.tar.zst`
    Zstd,
    /// `.tar.lzma` (legacy LZMA-alone)
    Lzma,
}

impl MemberCompression {
    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "" => MemberCompression::None,
            ".gz" => MemberCompression::Gzip,
            ".xz" => MemberCompression::Xz,
            ".zst" => MemberCompression::Zstd,
            ".lzma" => MemberCompression::Lzma,
            _ => return None,
        })
    }

    /// A decompressing reader over `r`.
    pub fn decoder<'a, R: Read + 'a>(self, r: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            MemberCompression::None => Box::new(r),
            MemberCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
            MemberCompression::Xz => {
                let s = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMLIMIT,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(r, s))
            }
            MemberCompression::Lzma => {
                let s = liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT)
                    .map_err(io::Error::other)?;
                Box::new(liblzma::read::XzDecoder::new_stream(r, s))
            }
            MemberCompression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        })
    }
}

/// The fields of a control stanza, in their original order, names as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlFields {
    fields: Vec<(String, String)>,
}

impl ControlFields {
    /// Parses one deb822 stanza (the `control` member of a `.deb`). Values keep their
    /// continuation lines verbatim (joined with `\n`, leading space kept as written); as in
    /// dpkg, only whitespace at the very end of a value is dropped. `what` names the text in
    /// errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, Error> {
        let bad = |line: usize, reason: &str| Error::Deb {
            package: what.to_owned(),
            member: "control".into(),
            reason: format!("line {line}: {reason}"),
        };
        let mut fields: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut ended = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                ended = !fields.is_empty();
                continue;
            }
            if ended {
                return Err(bad(i + 1, "more than one stanza"));
            }
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                let Some(last) = fields.last_mut() else {
                    return Err(bad(i + 1, "continuation line before any field"));
                };
                last.1.push('\n');
                last.1.push_str(line);
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad(i + 1, "line is neither a field nor a continuation"));
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(i + 1, "invalid field name"));
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                return Err(bad(i + 1, &format!("duplicate field {name}")));
            }
            let value = value.trim_start_matches([' ', '\t']);
            fields.push((name.to_owned(), value.to_owned()));
        }
        // As dpkg does: whitespace ends no value, but inner lines keep theirs.
        for f in &mut fields {
            let end = f.1.trim_end().len();
            f.1.truncate(end);
        }
        if fields.is_empty() {
            return Err(bad(1, "empty control stanza"));
        }
        Ok(ControlFields { fields })
    }

    /// A field's value (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Sets (replacing in place, or appending) a field.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(f) => f.1 = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// Removes a field.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.fields.iter().position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.fields.remove(i).1)
    }
}

/// A control-archive member other than `control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMember {
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub data: Vec<u8>,
}

/// One `conffiles` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conffile {
    /// Absolute path (`/etc/…`).
    pub path: String,
    /// Flags before the path (`remove-on-upgrade`), if any.
    pub flags: Vec<String>,
}

/// The control archive of a package.
#[derive(Debug, Clone)]
pub struct DebControl {
    /// The `control` stanza.
    pub fields: ControlFields,
    /// Other members by name (`postinst`, `md5sums`, `conffiles`, `triggers`, …).
    pub members: BTreeMap<String, ControlMember>,
}

/// Maintainer scripts dpkg knows, in the order dpkg runs them on a fresh install (`config`
/// comes from debconf).
pub const MAINTAINER_SCRIPTS: [&str; 5] = ["config", "preinst", "postinst", "prerm", "postrm"];

impl DebControl {
    /// `Package`.
    pub fn package(&self) -> Result<&str, Error> {
        self.required("Package")
    }

    /// `Version`.
    pub fn version(&self) -> Result<&str, Error> {
        self.required("Version")
    }

    /// `Architecture`.
    pub fn architecture(&self) -> Result<&str, Error> {
        self.required("Architecture")
    }

    /// `name_version_arch`, for messages.
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}",
            self.fields.get("Package").unwrap_or("?"),
            self.fields.get("Version").unwrap_or("?"),
            self.fields.get("Architecture").unwrap_or("?")
        )
    }

    fn required(&self, name: &str) -> Result<&str, Error> {
        self.fields.get(name).filter(|v| !v.is_empty()).ok_or_else(|| Error::Deb {
            package: self.id(),
            member: "control".into(),
            reason: format!("missing {name} field"),
        })
    }

    /// A member's bytes.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members.get(name).map(|m| m.data.as_slice())
    }

    /// The maintainer script `name` (`preinst`, `postinst`, …), if shipped.
    pub fn script(&self, name: &str) -> Option<&[u8]> {
        self.member(name)
    }

    /// `conffiles`, parsed.
    pub fn conffiles(&self) -> Result<Vec<Conffile>, Error> {
        let Some(data) = self.member("conffiles") else { return Ok(Vec::new()) };
        let text = std::str::from_utf8(data).map_err(|_| self.bad("conffiles", "not UTF-8"))?;
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() {
                continue;
            }
            let (flags, path) = match line.find('/') {
                Some(0) => (Vec::new(), line),
                Some(i) => (line[..i].split_whitespace().map(str::to_owned).collect(), &line[i..]),
                None => {
                    return Err(self.bad("conffiles", &format!("not an absolute path: {line:?}")));
                }
            };
            out.push(Conffile { path: path.to_owned(), flags });
        }
        Ok(out)
    }

    /// `md5sums`, parsed into (path without leading `/`, lower-case hex digest).
    pub fn md5sums(&self) -> Result<Vec<(String, String)>, Error> {
        let Some(data) = self.member("md5sums") else { return Ok(Vec::new()) };
        let text = std::str::from_utf8(data).map_err(|_| self.bad("md5sums", "not UTF-8"))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let (sum, path) = line
                .split_once(' ')
                .filter(|(s, _)| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| self.bad("md5sums", &format!("line {}: malformed", i + 1)))?;
            let path = path.trim_start_matches([' ', '*']).trim_start_matches("./");
            let path = path.trim_start_matches('/');
            out.push((path.to_owned(), sum.to_ascii_lowercase()));
        }
        Ok(out)
    }

    fn bad(&self, member: &str, reason: &str) -> Error {
        Error::Deb { package: self.id(), member: member.into(), reason: reason.into() }
    }
}

/// What a data-archive entry is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum DataKind {
    /// A directory.
    Directory,
    /// A regular file whose contents are `size` bytes at `offset` in the spool file.
    File {
        /// Offset in the spool.
        offset: u64,
        /// Length in bytes.
        size: u64,
    },
    /// A symbolic link; the target is kept as written (relative or absolute).
    Symlink {
        /// The link target.
        target: String,
    },
    /// A hard link to an earlier regular file of the same package.
    Hardlink {
        /// The normalised path of the file linked to.
        target: String,
    },
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One entry of a data archive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataEntry {
    /// Normalised path relative to the root, without leading `/` or `./` (empty for the root
    /// directory itself).
    pub path: String,
    /// Kind and content.
    pub kind: DataKind,
    /// Permission bits (incl. setuid, setgid, sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: u64,
}

/// The spooled contents of a data archive: a temporary file, removed when the last reference
/// is dropped, or a file of an [`UnpackCache`](crate::apt::unpack_cache::UnpackCache), which
/// stays.
#[derive(Debug)]
pub struct Spool {
    file: File,
    path: PathBuf,
    /// Set for temporary spools: deletes the file on drop.
    temp: Option<tempfile::TempPath>,
}

impl Spool {
    /// A spool over an existing, complete file (it is not removed on drop).
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Spool> {
        let path = path.into();
        let file = File::open(&path)?;
        Ok(Spool { file, path, temp: None })
    }

    /// Moves a temporary spool to `path` (same filesystem) and keeps it there.
    pub(crate) fn persist(mut self, path: &Path) -> io::Result<Spool> {
        match self.temp.take() {
            Some(t) => {
                t.persist(path).map_err(|e| e.error)?;
                Ok(Spool { file: self.file, path: path.to_path_buf(), temp: None })
            }
            None => {
                std::fs::rename(&self.path, path)?;
                Ok(Spool { file: self.file, path: path.to_path_buf(), temp: None })
            }
        }
    }

    /// The spool file's path (valid while this value lives).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open spool file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads `size` bytes at `offset`.
    pub fn read_range(&self, offset: u64, size: u64) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let len = usize::try_from(size).map_err(io::Error::other)?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// A reader over `size` bytes at `offset`.
    pub fn range_reader(&self, offset: u64, size: u64) -> impl Read + '_ {
        RangeReader { file: &self.file, pos: offset, end: offset + size }
    }
}

struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += got as u64;
        Ok(got)
    }
}

/// The data archive of a package.
#[derive(Debug, Clone)]
pub struct DebData {
    /// Entries in archive order (the order dpkg lists them in `info/<pkg>.list`).
    pub entries: Vec<DataEntry>,
    /// The spool holding regular files' contents.
    pub spool: Arc<Spool>,
    /// How the member was compressed.
    pub compression: MemberCompression,
    /// Total size of regular files' contents.
    pub content_bytes: u64,
}

impl DebData {
    /// Reads a regular file entry's contents (`None` for other kinds).
    pub fn read(&self, entry: &DataEntry) -> io::Result<Option<Vec<u8>>> {
        match entry.kind {
            DataKind::File { offset, size } => self.spool.read_range(offset, size).map(Some),
            _ => Ok(None),
        }
    }

    /// The entry at `path` (normalised, no leading `/`).
    pub fn find(&self, path: &str) -> Option<&DataEntry> {
        self.entries.iter().find(|e| e.path == path)
    }
}

/// A fully read package.
#[derive(Debug, Clone)]
pub struct Deb {
    /// Control information.
    pub control: DebControl,
    /// Data archive.
    pub data: DebData,
}

/// Reads `.deb` files, spooling data archives into a directory of the caller's choice.
#[derive(Debug, Clone)]
pub struct DebReader {
    spool_dir: PathBuf,
    max_control_bytes: u64,
}

impl DebReader {
    /// A reader spooling into `spool_dir` (best on tmpfs; must exist).
    pub fn new(spool_dir: impl Into<PathBuf>) -> Self {
        DebReader { spool_dir: spool_dir.into(), max_control_bytes: DEFAULT_MAX_CONTROL_BYTES }
    }

    /// The same reader, spooling into `dir` instead.
    pub(crate) fn spooling_into(&self, dir: &Path) -> DebReader {
        DebReader { spool_dir: dir.to_path_buf(), max_control_bytes: self.max_control_bytes }
    }

    /// Caps the total uncompressed size of control members (default
    /// [`DEFAULT_MAX_CONTROL_BYTES`]).
    pub fn max_control_bytes(mut self, n: u64) -> Self {
        self.max_control_bytes = n;
        self
    }

    /// Reads a package file.
    pub fn open(&self, path: &Path) -> Result<Deb, Error> {
        let f = File::open(path).map_err(|e| mbi_core::Error::io("open", path, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        self.read(BufReader::with_capacity(256 << 10, f), &name.unwrap_or_default())
    }

    /// Reads only the control archive of a package file.
    pub fn open_control(&self, path: &Path) -> Result<DebControl, Error> {
        let f = File::open(path).map_err(|e| mbi_core::Error::io("open", path, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        self.read_inner(BufReader::new(f), &name.unwrap_or_default(), false).map(|(c, _)| c)
    }

    /// Reads a package from a stream. `name` (e.g. the file name) identifies it in errors
    /// until its control stanza is known.
    pub fn read<R: Read>(&self, reader: R, name: &str) -> Result<Deb, Error> {
        let (control, data) = self.read_inner(reader, name, true)?;
        let data = data.ok_or_else(|| Error::Deb {
            package: control.id(),
            member: "data.tar".into(),
            reason: "missing data member".into(),
        })?;
        Ok(Deb { control, data })
    }

    fn read_inner<R: Read>(
        &self,
        reader: R,
        name: &str,
        want_data: bool,
    ) -> Result<(DebControl, Option<DebData>), Error> {
        let mut ar = ArReader::new(reader, name)?;
        let bad = |pkg: &str, member: &str, reason: String| Error::Deb {
            package: pkg.to_owned(),
            member: member.to_owned(),
            reason,
        };
        // 1. debian-binary
        let mut m =
            ar.next_member()?.ok_or_else(|| bad(name, "debian-binary", "empty archive".into()))?;
        if m.header().name != "debian-binary" {
            return Err(bad(
                name,
                &m.header().name.clone(),
                "first member is not debian-binary".into(),
            ));
        }
        let mut version = Vec::new();
        (&mut m)
            .take(64)
            .read_to_end(&mut version)
            .map_err(|e| bad(name, "debian-binary", e.to_string()))?;
        let v = String::from_utf8_lossy(&version);
        let v = v.trim_end();
        if !(v == "2.0" || v.starts_with("2.")) {
            return Err(bad(name, "debian-binary", format!("unsupported format version {v:?}")));
        }
        drop(m);
        // 2. control.tar*
        let mut control: Option<DebControl> = None;
        let mut data: Option<DebData> = None;
        while let Some(m) = ar.next_member()? {
            let member = m.header().name.clone();
            if member.starts_with('_') {
                continue;
            }
            if let Some(suffix) = member.strip_prefix("control.tar") {
                if control.is_some() || data.is_some() {
                    return Err(bad(name, &member, "unexpected second control member".into()));
                }
                let c = MemberCompression::from_suffix(suffix).ok_or_else(|| {
                    bad(name, &member, "unsupported compression of the control member".into())
                })?;
                control = Some(self.read_control(m, c, name, &member)?);
            } else if let Some(suffix) = member.strip_prefix("data.tar") {
                let Some(ctrl) = &control else {
                    return Err(bad(name, &member, "data member before the control member".into()));
                };
                if data.is_some() {
                    return Err(bad(&ctrl.id(), &member, "unexpected second data member".into()));
                }
                if !want_data {
                    break;
                }
                let c = MemberCompression::from_suffix(suffix).ok_or_else(|| {
                    bad(&ctrl.id(), &member, "unsupported compression of the data member".into())
                })?;
                data = Some(self.read_data(m, c, &ctrl.id(), &member)?);
            } else {
                let pkg = control.as_ref().map_or_else(|| name.to_owned(), DebControl::id);
                return Err(bad(&pkg, &member, "unexpected member in a .deb".into()));
            }
        }
        let control =
            control.ok_or_else(|| bad(name, "control.tar", "missing control member".into()))?;
        Ok((control, data))
    }

    fn read_control<R: Read>(
        &self,
        m: R,
        c: MemberCompression,
        name: &str,
        member: &str,
    ) -> Result<DebControl, Error> {
        let err = |reason: String| Error::Deb {
            package: name.to_owned(),
            member: member.to_owned(),
            reason,
        };
        let dec = c.decoder(m).map_err(|e| err(e.to_string()))?;
        let mut tar = TarStream::new(BufReader::with_capacity(64 << 10, dec));
        let mut members = BTreeMap::new();
        let mut total = 0u64;
        let mut control_text = None;
        while let Some(h) =
            tar.next_header().map_err(|e| err(format!("entry {:?}: {}", e.entry, e.reason)))?
        {
            let raw = String::from_utf8_lossy(&h.path).into_owned();
            let path = normalize(&raw).map_err(|r| Error::UnsafeEntry {
                package: name.to_owned(),
                entry: raw.clone(),
                reason: r.into(),
            })?;
            match h.kind {
                TarKind::Directory if path.is_empty() => continue,
                TarKind::File => {}
                _ => return Err(err(format!("entry {raw:?}: only regular files are allowed"))),
            }
            if path.contains('/') {
                return Err(err(format!("entry {raw:?}: control files must be at the top level")));
            }
            total = total.saturating_add(h.size);
            if total > self.max_control_bytes {
                return Err(err(format!(
                    "control members exceed the limit of {} bytes",
                    self.max_control_bytes
                )));
            }
            let mut buf = Vec::with_capacity(h.size.min(1 << 20) as usize);
            tar.data().read_to_end(&mut buf).map_err(|e| err(format!("entry {raw:?}: {e}")))?;
            if path == "control" {
                control_text = Some(buf);
            } else if members.insert(path, ControlMember { mode: h.mode, data: buf }).is_some() {
                return Err(err(format!("entry {raw:?} appears twice")));
            }
        }
        let text = control_text.ok_or_else(|| err("no control file".into()))?;
        let text = String::from_utf8(text).map_err(|_| err("control file is not UTF-8".into()))?;
        let fields = ControlFields::parse(&text, name)?;
        let ctrl = DebControl { fields, members };
        ctrl.package()?;
        ctrl.version()?;
        ctrl.architecture()?;
        Ok(ctrl)
    }

    fn read_data<R: Read>(
        &self,
        m: R,
        c: MemberCompression,
        pkg: &str,
        member: &str,
    ) -> Result<DebData, Error> {
        let err = |reason: String| Error::Deb {
            package: pkg.to_owned(),
            member: member.to_owned(),
            reason,
        };
        let unsafe_entry = |entry: &str, reason: String| Error::UnsafeEntry {
            package: pkg.to_owned(),
            entry: entry.to_owned(),
            reason,
        };
        let spool = tempfile::Builder::new()
            .prefix(".mbi-deb-")
            .tempfile_in(&self.spool_dir)
            .map_err(|e| mbi_core::Error::io("create spool file in", &self.spool_dir, e))?;
        let mut out = BufWriter::with_capacity(256 << 10, spool.as_file());
        let dec = c.decoder(m).map_err(|e| err(e.to_string()))?;
        let mut tar = TarStream::new(BufReader::with_capacity(256 << 10, dec));
        let mut entries: Vec<DataEntry> = Vec::new();
        // Path → index in `entries`, and which paths are symlinks.
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut symlinks: HashSet<String> = HashSet::new();
        let mut offset = 0u64;
        while let Some(h) =
            tar.next_header().map_err(|e| err(format!("entry {:?}: {}", e.entry, e.reason)))?
        {
            let raw = String::from_utf8(h.path.clone()).map_err(|_| {
                unsafe_entry(&String::from_utf8_lossy(&h.path), "path is not UTF-8".into())
            })?;
            let path = normalize(&raw).map_err(|r| unsafe_entry(&raw, r.into()))?;
            // Nothing may be placed below a symlink of this same package.
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if symlinks.contains(parent) {
                    return Err(unsafe_entry(
                        &raw,
                        format!("parent /{parent} is a symlink shipped by the same package"),
                    ));
                }
                p = parent;
            }
            let kind = match h.kind {
                TarKind::Directory => DataKind::Directory,
                TarKind::File => {
                    let n = io::copy(&mut tar.data(), &mut out)
                        .map_err(|e| err(format!("entry {raw:?}: {e}")))?;
                    let k = DataKind::File { offset, size: n };
                    offset += n;
                    k
                }
                TarKind::Symlink => {
                    let target = String::from_utf8(h.link.clone())
                        .map_err(|_| unsafe_entry(&raw, "symlink target is not UTF-8".into()))?;
                    if target.is_empty() || target.contains('\0') {
                        return Err(unsafe_entry(&raw, "empty or invalid symlink target".into()));
                    }
                    DataKind::Symlink { target }
                }
                TarKind::Hardlink => {
                    let link = String::from_utf8_lossy(&h.link).into_owned();
                    let target = normalize(&link).map_err(|r| {
                        unsafe_entry(&raw, format!("hard link target {link:?}: {r}"))
                    })?;
                    let ok = index
                        .get(&target)
                        .is_some_and(|&i| matches!(entries[i].kind, DataKind::File { .. }));
                    if !ok {
                        return Err(unsafe_entry(
                            &raw,
                            format!(
                                "hard link to {link:?}, which is not an earlier regular file of this package"
                            ),
                        ));
                    }
                    DataKind::Hardlink { target }
                }
                TarKind::CharDevice => {
                    DataKind::CharDevice { major: h.dev_major, minor: h.dev_minor }
                }
                TarKind::BlockDevice => {
                    DataKind::BlockDevice { major: h.dev_major, minor: h.dev_minor }
                }
                TarKind::Fifo => DataKind::Fifo,
            };
            if path.is_empty() && kind != DataKind::Directory {
                return Err(unsafe_entry(&raw, "the root must be a directory".into()));
            }
            if let Some(&prev) = index.get(&path) {
                let both_dirs = kind == DataKind::Directory && entries[prev].kind == kind;
                if !both_dirs {
                    return Err(unsafe_entry(&raw, "path appears twice in the archive".into()));
                }
                entries[prev] =
                    DataEntry { path, kind, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
                continue;
            }
            if matches!(kind, DataKind::Symlink { .. }) {
                symlinks.insert(path.clone());
            }
            index.insert(path.clone(), entries.len());
            entries.push(DataEntry {
                path,
                kind,
                mode: h.mode,
                uid: h.uid,
                gid: h.gid,
                mtime: h.mtime,
            });
        }
        // Drain the decompressor so its integrity check (xz/zstd checksums, gzip CRC) runs.
        let mut rest = tar.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(|e| err(format!("after the archive: {e}")))?;
        out.flush().map_err(|e| mbi_core::Error::io("write", spool.path(), e))?;
        drop(out);
        Ok(DebData {
            entries,
            spool: Arc::new({
                let (file, path) = spool.into_parts();
                Spool { path: path.to_path_buf(), file, temp: Some(path) }
            }),
            compression: c,
            content_bytes: offset,
        })
    }
}

/// Normalises an archive path: strips a leading `./`, collapses `//` and `/./`, drops a
/// trailing `/`. Refuses `..` components, absolute paths, NUL bytes. `""` is the root.
pub fn normalize(raw: &str) -> Result<String, &'static str> {
    if raw.contains('\0') {
        return Err("path contains a NUL byte");
    }
    let rest = if raw == "." || raw == "./" {
        ""
    } else if let Some(r) = raw.strip_prefix("./") {
        r
    } else {
        raw
    };
    if rest.starts_with('/') {
        return Err("absolute path");
    }
    let mut out = String::with_capacity(rest.len());
    for comp in rest.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err("path contains a '..' component"),
            c => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(c);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalize("./").unwrap(), "");
        assert_eq!(normalize(".").unwrap(), "");
        assert_eq!(normalize("./usr/bin/").unwrap(), "usr/bin");
        assert_eq!(normalize("usr//./bin/x").unwrap(), "usr/bin/x");
        assert!(normalize("./../etc/passwd").is_err());
        assert!(normalize("usr/../../x").is_err());
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize(".//etc/passwd").is_err());
        assert!(normalize("a\0b").is_err());
    }

    #[test]
    fn control_fields() {
        let f = ControlFields::parse(
            "Package: hello\nVersion: 1.0\nDescription: short\n more\n .\n end\nX-Empty:\n\n",
            "t",
        )
        .unwrap();
        assert_eq!(f.get("package"), Some("hello"));
        assert_eq!(f.get("Description"), Some("short\n more\n .\n end"));
        assert_eq!(f.get("X-Empty"), Some(""));
        assert_eq!(f.len(), 4);
        assert!(ControlFields::parse("Package: a\nPackage: b\n", "t").is_err());
        assert!(ControlFields::parse(" cont\n", "t").is_err());
        assert!(ControlFields::parse("garbage\n", "t").is_err());
        assert!(ControlFields::parse("A: b\n\nC: d\n", "t").is_err());
        assert!(ControlFields::parse("\n\n", "t").is_err());
    }
}
