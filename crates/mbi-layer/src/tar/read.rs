//! A streaming tar reader that never touches the disk.
//!
//! It understands ustar, PAX (local headers; global headers are skipped), GNU long names and
//! base-256 numbers, validates checksums, and bounds the memory any header can make it use.
//! It is the parser behind [`crate::FileTree::from_tar`] and [`crate::unpack_layer`], and the
//! target of the `layer_reader` fuzzer.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::header::{BLOCK, field, flag, padding};
use crate::error::{Error, Result, lossy};

/// Largest PAX extended header or GNU long name accepted (they are held in memory).
pub const MAX_META_SIZE: u64 = 1 << 20;

/// What an archive entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TarKind {
    /// A regular file; its content follows the header.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link with its raw target.
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry, named as in the archive.
    Hardlink(Vec<u8>),
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

/// One archive entry's header, with PAX and GNU extensions applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarEntry {
    /// The name exactly as the archive gives it (possibly `./`-prefixed, absolute, with `..`).
    pub path: Vec<u8>,
    /// What the entry is.
    pub kind: TarKind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time (seconds).
    pub mtime: i64,
    /// Bytes of data following the header (content for regular files).
    pub size: u64,
    /// Extended attributes from `SCHILY.xattr.*` PAX records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Offset of the entry's first header block in the stream.
    pub offset: u64,
}

impl TarEntry {
    /// The name for messages (lossy UTF-8).
    pub fn display_path(&self) -> String {
        lossy(&self.path)
    }
}

#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u32>,
    gid: Option<u32>,
    mtime: Option<i64>,
    xattrs: BTreeMap<String, Vec<u8>>,
    start: Option<u64>,
}

/// Reads entries from a tar stream.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mbi_layer::{Entry, FileTree, LayerOptions, TreePath};
/// use mbi_layer::tar::{TarKind, TarReader};
/// let mut tree = FileTree::new();
/// tree.insert(Entry::file(TreePath::new("etc/motd")?, "hello\n", 0o644))?;
/// let mut tar = Vec::new();
/// mbi_layer::write_tar_to(&tree, 0, &mut tar)?;
///
/// let mut reader = TarReader::new(&tar[..]);
/// let mut names = Vec::new();
/// while let Some(entry) = reader.next_entry()? {
///     if entry.kind == TarKind::Regular {
///         let mut body = Vec::new();
///         std::io::Read::read_to_end(&mut reader.content(), &mut body)?;
///         assert_eq!(body, b"hello\n");
///     }
///     names.push(entry.display_path());
/// }
/// assert_eq!(names, ["etc/", "etc/motd"]);
/// # Ok(()) }
/// ```
pub struct TarReader<R> {
    inner: R,
    offset: u64,
    remaining: u64,
    pad: u64,
    done: bool,
    current: Option<String>,
}

impl<R: Read> TarReader<R> {
    /// Wraps a stream positioned at the start of a tar archive.
    pub fn new(inner: R) -> Self {
        TarReader { inner, offset: 0, remaining: 0, pad: 0, done: false, current: None }
    }

    /// Bytes consumed from the stream so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Returns the wrapped stream.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next entry's header, skipping whatever content of the previous entry was not
    /// read. Returns `None` at the end of the archive (two zero blocks, or a clean end of
    /// stream at a block boundary).
    pub fn next_entry(&mut self) -> Result<Option<TarEntry>> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        self.current = None;
        if self.done {
            return Ok(None);
        }
        let mut pending = Pending::default();
        loop {
            let start = self.offset;
            let Some(h) = self.read_block()? else {
                self.done = true;
                if pending.start.is_some() {
                    return Err(self.tar_err(start, "archive ends after an extended header"));
                }
                return Ok(None);
            };
            if h.iter().all(|&b| b == 0) {
                // End of archive. A second zero block usually follows; tolerate its absence.
                self.done = true;
                if pending.start.is_some() {
                    return Err(self.tar_err(start, "archive ends after an extended header"));
                }
                return Ok(None);
            }
            verify_checksum(&h).map_err(|r| self.tar_err(start, r))?;
            let typeflag = h[field::TYPEFLAG];
            if typeflag != flag::PAX_GLOBAL {
                pending.start.get_or_insert(start);
            }
            let size = parse_u64(&h, field::SIZE).map_err(|r| self.tar_err(start, r))?;
            match typeflag {
                flag::PAX => {
                    let data = self.read_meta(size, start)?;
                    parse_pax(&data, &mut pending).map_err(|e| self.with_offset(e, start))?;
                    continue;
                }
                flag::PAX_GLOBAL => {
                    // Global headers set defaults for all later entries; layers do not use
                    // them for anything that matters here. Skip safely.
                    let data = self.read_meta(size, start)?;
                    let mut ignored = Pending::default();
                    parse_pax(&data, &mut ignored).map_err(|e| self.with_offset(e, start))?;
                    continue;
                }
                flag::GNU_LONGNAME | flag::GNU_LONGLINK => {
                    let mut data = self.read_meta(size, start)?;
                    while data.last() == Some(&0) {
                        data.pop();
                    }
                    if typeflag == flag::GNU_LONGNAME {
                        pending.path.get_or_insert(data);
                    } else {
                        pending.linkpath.get_or_insert(data);
                    }
                    continue;
                }
                b'V' => {
                    // Volume label: not an entry.
                    self.remaining = size;
                    self.pad = padding(size);
                    self.skip_rest()?;
                    pending = Pending::default();
                    continue;
                }
                _ => {}
            }
            let entry_start = pending.start.unwrap_or(start);
            let path = match pending.path.take() {
                Some(p) => p,
                None => ustar_name(&h),
            };
            self.current = Some(lossy(&path));
            let unsupported = |what: &str| Error::Unsupported {
                offset: start,
                entry: Some(lossy(&path)),
                what: what.to_owned(),
            };
            if path.is_empty() {
                return Err(self.tar_err(start, "entry has an empty name"));
            }
            let link =
                pending.linkpath.take().unwrap_or_else(|| cstr(&h, field::LINKNAME).to_vec());
            let dev = || -> Result<(u32, u32)> {
                let major = parse_u64(&h, field::DEVMAJOR).map_err(|r| self.tar_err(start, r))?;
                let minor = parse_u64(&h, field::DEVMINOR).map_err(|r| self.tar_err(start, r))?;
                match (u32::try_from(major), u32::try_from(minor)) {
                    (Ok(a), Ok(b)) => Ok((a, b)),
                    _ => Err(self.tar_err(start, "device number does not fit 32 bits")),
                }
            };
            let kind = match typeflag {
                flag::REGULAR | flag::CONTIGUOUS => TarKind::Regular,
                flag::REGULAR_OLD => {
                    if path.ends_with(b"/") {
                        TarKind::Directory
                    } else {
                        TarKind::Regular
                    }
                }
                flag::HARDLINK => TarKind::Hardlink(link),
                flag::SYMLINK => TarKind::Symlink(link),
                flag::CHAR => {
                    let (major, minor) = dev()?;
                    TarKind::CharDevice { major, minor }
                }
                flag::BLOCK => {
                    let (major, minor) = dev()?;
                    TarKind::BlockDevice { major, minor }
                }
                flag::DIR | b'D' => TarKind::Directory,
                flag::FIFO => TarKind::Fifo,
                b'S' => return Err(unsupported("GNU sparse file")),
                b'M' | b'N' => return Err(unsupported("GNU multi-volume archive")),
                other => {
                    return Err(unsupported(&format!("entry type {:?}", char::from(other))));
                }
            };
            let size = pending.size.unwrap_or(size);
            let mode = parse_u64(&h, field::MODE).map_err(|r| self.tar_err(start, r))?;
            let uid = match pending.uid {
                Some(u) => u,
                None => {
                    u32::try_from(parse_u64(&h, field::UID).map_err(|r| self.tar_err(start, r))?)
                        .map_err(|_| self.tar_err(start, "uid does not fit 32 bits"))?
                }
            };
            let gid = match pending.gid {
                Some(g) => g,
                None => {
                    u32::try_from(parse_u64(&h, field::GID).map_err(|r| self.tar_err(start, r))?)
                        .map_err(|_| self.tar_err(start, "gid does not fit 32 bits"))?
                }
            };
            let mtime = match pending.mtime {
                Some(m) => m,
                None => parse_i64(&h, field::MTIME).map_err(|r| self.tar_err(start, r))?,
            };
            self.remaining = size;
            self.pad = padding(size);
            return Ok(Some(TarEntry {
                path,
                kind,
                mode: (mode & 0o7777) as u32,
                uid,
                gid,
                mtime,
                size,
                xattrs: std::mem::take(&mut pending.xattrs),
                offset: entry_start,
            }));
        }
    }

    /// Reads content of the current entry into `buf`; `Ok(0)` once all of it was read.
    pub fn read_content(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = loop {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::stream("reading tar content", e)),
            }
        };
        if n == 0 {
            let off = self.offset;
            return Err(self.tar_err(off, "archive ends inside an entry's content"));
        }
        self.remaining -= n as u64;
        self.offset += n as u64;
        Ok(n)
    }

    /// A reader over the rest of the current entry's content.
    pub fn content(&mut self) -> ContentReader<'_, R> {
        ContentReader { reader: self }
    }

    /// Content bytes of the current entry not read yet.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    fn skip_rest(&mut self) -> Result<()> {
        let (remaining, pad) = (self.remaining, self.pad);
        if remaining + pad == 0 {
            return Ok(());
        }
        let copied = io::copy(&mut (&mut self.inner).take(remaining + pad), &mut io::sink())
            .map_err(|e| Error::stream("reading tar stream", e))?;
        self.offset += copied;
        self.remaining = 0;
        self.pad = 0;
        if copied < remaining {
            let off = self.offset;
            return Err(self.tar_err(off, "archive ends inside an entry's content"));
        }
        if copied < remaining + pad {
            // The last entry's content is complete but the stream stops before its padding
            // (and the end-of-archive blocks): umoci writes layers like this, and Go's and GNU
            // tar's readers take it as the end of the archive. So do we.
            self.done = true;
        }
        Ok(())
    }

    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>> {
        let mut b = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::stream("reading tar stream", e)),
            }
        }
        self.offset += got as u64;
        match got {
            0 => Ok(None),
            BLOCK => Ok(Some(b)),
            _ => Err(self.tar_err(self.offset - got as u64, "archive ends inside a header block")),
        }
    }

    fn read_meta(&mut self, size: u64, start: u64) -> Result<Vec<u8>> {
        if size > MAX_META_SIZE {
            return Err(self.tar_err(
                start,
                format!("extended header of {size} bytes is over the {MAX_META_SIZE}-byte limit"),
            ));
        }
        let mut data = vec![0u8; size as usize];
        let mut got = 0;
        while got < data.len() {
            match self.inner.read(&mut data[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::stream("reading tar stream", e)),
            }
        }
        self.offset += got as u64;
        if got != data.len() {
            return Err(self.tar_err(start, "archive ends inside an extended header"));
        }
        self.remaining = 0;
        self.pad = padding(size);
        self.skip_rest()?;
        Ok(data)
    }

    fn tar_err(&self, offset: u64, reason: impl Into<String>) -> Error {
        Error::Tar { offset, entry: self.current.clone(), reason: reason.into() }
    }

    fn with_offset(&self, e: Error, offset: u64) -> Error {
        match e {
            Error::Tar { reason, .. } => self.tar_err(offset, reason),
            Error::Unsupported { what, .. } => {
                Error::Unsupported { offset, entry: self.current.clone(), what }
            }
            other => other,
        }
    }
}

/// [`Read`] over the current entry's content (see [`TarReader::content`]).
pub struct ContentReader<'a, R> {
    reader: &'a mut TarReader<R>,
}

impl<R: Read> Read for ContentReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read_content(buf).map_err(|e| match e {
            Error::Stream { source, .. } => source,
            other => io::Error::new(io::ErrorKind::UnexpectedEof, other.to_string()),
        })
    }
}

/// The bytes of a NUL-terminated field.
fn cstr(h: &[u8; BLOCK], (off, len): (usize, usize)) -> &[u8] {
    let f = &h[off..off + len];
    match f.iter().position(|&b| b == 0) {
        Some(i) => &f[..i],
        None => f,
    }
}

/// The name from the ustar `prefix` and `name` fields (prefix only with the POSIX magic; GNU
/// headers use that area for other things).
fn ustar_name(h: &[u8; BLOCK]) -> Vec<u8> {
    let name = cstr(h, field::NAME);
    let is_posix = &h[field::MAGIC.0..field::MAGIC.0 + 6] == b"ustar\0";
    let prefix = if is_posix { cstr(h, field::PREFIX) } else { &[] };
    if prefix.is_empty() { name.to_vec() } else { [prefix, b"/", name].concat() }
}

fn verify_checksum(h: &[u8; BLOCK]) -> Result<(), String> {
    let stored = parse_octal(&h[field::CHKSUM.0..field::CHKSUM.0 + field::CHKSUM.1])
        .map_err(|r| format!("checksum field: {r}"))?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (field::CHKSUM.0..field::CHKSUM.0 + 8).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(format!("header checksum mismatch (stored {stored:o}, computed {unsigned:o})"))
    }
}

fn parse_u64(h: &[u8; BLOCK], (off, len): (usize, usize)) -> Result<u64, String> {
    let f = &h[off..off + len];
    if f.first().is_some_and(|&b| b & 0x80 != 0) {
        let v = parse_base256(f)?;
        u64::try_from(v).map_err(|_| "negative number in an unsigned field".to_owned())
    } else {
        parse_octal(f)
    }
}

fn parse_i64(h: &[u8; BLOCK], (off, len): (usize, usize)) -> Result<i64, String> {
    let f = &h[off..off + len];
    if f.first().is_some_and(|&b| b & 0x80 != 0) {
        parse_base256(f)
    } else {
        i64::try_from(parse_octal(f)?).map_err(|_| "number too large".to_owned())
    }
}

/// GNU base-256: first byte 0x80 (positive) or 0xff (negative), then big-endian two's complement.
fn parse_base256(f: &[u8]) -> Result<i64, String> {
    let negative = f[0] == 0xff;
    let mut v: i128 = if negative { -1 } else { i128::from(f[0] & 0x7f) };
    for &b in &f[1..] {
        v = (v << 8) | i128::from(b);
        if v > i128::from(i64::MAX) || v < i128::from(i64::MIN) {
            return Err("base-256 number too large".into());
        }
    }
    Ok(v as i64)
}

fn parse_octal(f: &[u8]) -> Result<u64, String> {
    let mut i = 0;
    while i < f.len() && (f[i] == b' ' || f[i] == 0) {
        i += 1;
    }
    let mut v: u64 = 0;
    while i < f.len() && (b'0'..=b'7').contains(&f[i]) {
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(f[i] - b'0')))
            .ok_or("octal number too large")?;
        i += 1;
    }
    if f[i..].iter().all(|&b| b == b' ' || b == 0) {
        Ok(v)
    } else {
        Err(format!("invalid numeric field {:?}", String::from_utf8_lossy(f)))
    }
}

fn parse_pax(data: &[u8], p: &mut Pending) -> Result<()> {
    let bad = |reason: &str| Error::Tar {
        offset: 0,
        entry: None,
        reason: format!("PAX header: {reason}"),
    };
    let mut rest = data;
    while !rest.is_empty() {
        // Some writers pad the PAX data with NULs.
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let sp =
            rest.iter().position(|&b| b == b' ').ok_or_else(|| bad("record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("record length is not a number"))?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad("record length does not match its content"));
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(|| bad("record without '='"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let num = |what: &str| -> Result<u64> {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| bad(&format!("{what} is not a number")))
        };
        match key {
            b"path" => p.path = (!value.is_empty()).then(|| value.to_vec()),
            b"linkpath" => p.linkpath = (!value.is_empty()).then(|| value.to_vec()),
            b"size" => p.size = Some(num("size")?),
            b"uid" => {
                p.uid = Some(u32::try_from(num("uid")?).map_err(|_| bad("uid over 32 bits"))?)
            }
            b"gid" => {
                p.gid = Some(u32::try_from(num("gid")?).map_err(|_| bad("gid over 32 bits"))?)
            }
            b"mtime" => p.mtime = Some(parse_pax_time(value).ok_or_else(|| bad("bad mtime"))?),
            _ if key.starts_with(b"GNU.sparse.") => {
                return Err(Error::Unsupported {
                    offset: 0,
                    entry: None,
                    what: "GNU sparse file (PAX)".into(),
                });
            }
            _ if key.starts_with(b"SCHILY.xattr.") => {
                let name = &key[b"SCHILY.xattr.".len()..];
                match std::str::from_utf8(name) {
                    Ok(n) if !n.is_empty() && !n.contains('\0') => {
                        p.xattrs.insert(n.to_owned(), value.to_vec());
                    }
                    _ => return Err(bad("xattr name is empty or not UTF-8")),
                }
            }
            // atime, ctime, uname, gname, comment, hdrcharset, LIBARCHIVE.*, …: not needed.
            _ => {}
        }
    }
    Ok(())
}

/// Integer seconds of a PAX time (`-12.5` → -13, as floor).
fn parse_pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (neg, digits) = match int.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, int),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let has_frac = frac.bytes().any(|b| b != b'0');
    Some(if neg { -n - i64::from(has_frac) } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_forms() {
        assert_eq!(parse_octal(b"0000644\0").unwrap(), 0o644);
        assert_eq!(parse_octal(b"   644 \0").unwrap(), 0o644);
        assert_eq!(parse_octal(b"\0\0\0\0").unwrap(), 0);
        assert!(parse_octal(b"0000x44\0").is_err());
        assert!(parse_octal(b"77777777777777777777777").is_err());
    }

    #[test]
    fn base256_forms() {
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[11] = 5;
        assert_eq!(parse_base256(&f).unwrap(), 5);
        let f = [0xffu8; 12];
        assert_eq!(parse_base256(&f).unwrap(), -1);
        let mut f = [0x80u8; 12];
        f[1] = 0xff;
        assert!(parse_base256(&f).is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time(b"12"), Some(12));
        assert_eq!(parse_pax_time(b"12.75"), Some(12));
        assert_eq!(parse_pax_time(b"-12.5"), Some(-13));
        assert_eq!(parse_pax_time(b"-12.0"), Some(-12));
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b"-"), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut block = [7u8; 1024];
        block[0] = b'a';
        let mut r = TarReader::new(&block[..]);
        assert!(matches!(r.next_entry(), Err(Error::Tar { .. })));
        let mut r = TarReader::new(&block[..100]);
        assert!(matches!(r.next_entry(), Err(Error::Tar { .. })));
        let mut r = TarReader::new(&[][..]);
        assert!(r.next_entry().unwrap().is_none());
    }
}
