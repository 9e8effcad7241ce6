//! A streaming, bounds-checked reader for `ar` archives, the container of `.deb` packages.
//!
//! The format is a global magic `!<arch>\n` followed by members, each a 60-byte header
//! (name, mtime, uid, gid, octal mode, decimal size, the terminator `` `\n ``) and `size` bytes
//! of data padded to an even offset. Name quirks handled, as far as `.deb` files need:
//!
//! - GNU: a trailing `/` ends the name (`debian-binary/`); `/` is the symbol table and `//` the
//!   long-name table, whose entries are referenced as `/123`;
//! - BSD: `#1/N` means the name is the first `N` bytes of the member data;
//! - trailing spaces pad the name field.
//!
//! Nothing is buffered beyond one header: member data is read straight from the underlying
//! reader, and every error names the member and its offset.
//!
//! ```
//! use std::io::Read;
//! use mbi_distro::apt::ar::ArReader;
//!
//! let archive = b"!<arch>\nhello/          0           0     0     100644  5         `\nworld\n";
//! let mut ar = ArReader::new(&archive[..], "example.a").unwrap();
//! let mut member = ar.next_member().unwrap().unwrap();
//! assert_eq!(member.header().name, "hello");
//! let mut data = String::new();
//! member.read_to_string(&mut data).unwrap();
//! assert_eq!(data, "world");
//! assert!(ar.next_member().unwrap().is_none());
//! ```

use std::io::{self, Read};

use crate::Error;

/// The global header of every `ar` archive.
pub const MAGIC: &[u8; 8] = b"!<arch>\n";

/// Longest member name accepted (BSD `#1/N` and GNU long names), in bytes.
pub const MAX_NAME_LEN: u64 = 4096;

/// Largest GNU long-name table (`//`) accepted, in bytes.
pub const MAX_NAME_TABLE: u64 = 1 << 20;

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArHeader {
    /// The member name with GNU/BSD quirks resolved.
    pub name: String,
    /// Modification time (seconds since the epoch).
    pub mtime: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// File mode (octal in the header).
    pub mode: u32,
    /// Size of the member data in bytes (excluding a BSD inline name).
    pub size: u64,
    /// Offset of the member's header within the archive.
    pub offset: u64,
}

/// Reads members of an `ar` archive one after the other from any [`Read`].
#[derive(Debug)]
pub struct ArReader<R> {
    inner: R,
    context: String,
    /// Bytes consumed from `inner` so far.
    pos: u64,
    /// Data bytes of the current member not yet consumed.
    remaining: u64,
    /// Whether a padding byte follows the current member.
    pad: bool,
    /// The current member's name (for error messages while reading its data).
    current: String,
    /// The GNU long-name table, once seen.
    names: Option<Vec<u8>>,
}

impl<R: Read> ArReader<R> {
    /// Checks the global header. `context` (a file name or package name) appears in errors.
    pub fn new(mut inner: R, context: impl Into<String>) -> Result<Self, Error> {
        let context = context.into();
        let mut magic = [0u8; 8];
        read_exact_or(&mut inner, &mut magic).map_err(|e| Error::Ar {
            archive: context.clone(),
            member: String::new(),
            offset: 0,
            reason: format!("cannot read the global header: {e}"),
        })?;
        if &magic != MAGIC {
            return Err(Error::Ar {
                archive: context,
                member: String::new(),
                offset: 0,
                reason: "not an ar archive (bad magic)".into(),
            });
        }
        Ok(ArReader {
            inner,
            context,
            pos: 8,
            remaining: 0,
            pad: false,
            current: String::new(),
            names: None,
        })
    }

    /// The context given to [`ArReader::new`].
    pub fn context(&self) -> &str {
        &self.context
    }

    fn err(&self, member: &str, offset: u64, reason: impl Into<String>) -> Error {
        Error::Ar {
            archive: self.context.clone(),
            member: member.to_owned(),
            offset,
            reason: reason.into(),
        }
    }

    /// Skips what is left of the current member, then reads the next header. Returns `None` at
    /// a clean end of the archive. GNU symbol and long-name tables are consumed, not returned.
    pub fn next_member(&mut self) -> Result<Option<ArMember<'_, R>>, Error> {
        loop {
            match self.next_header()? {
                None => return Ok(None),
                Some(h) if h.name == "/" || h.name == "/SYM64/" => {
                    // GNU symbol table: skipped (already consumed by the next loop iteration).
                    self.current = h.name;
                }
                Some(h) if h.name == "//" => {
                    if h.size > MAX_NAME_TABLE {
                        return Err(self.err("//", h.offset, "long-name table too large"));
                    }
                    let mut table = Vec::with_capacity(h.size as usize);
                    self.current = h.name.clone();
                    let mut m = ArMember { header: h, ar: self };
                    m.read_to_end(&mut table)
                        .map_err(|e| m.ar.err("//", m.header.offset, e.to_string()))?;
                    self.names = Some(table);
                }
                Some(h) => {
                    self.current = h.name.clone();
                    return Ok(Some(ArMember { header: h, ar: self }));
                }
            }
        }
    }

    fn skip_rest(&mut self) -> Result<(), Error> {
        let to_skip = self.remaining + u64::from(self.pad);
        if to_skip > 0 {
            let n = io::copy(&mut (&mut self.inner).take(to_skip), &mut io::sink())
                .map_err(|e| self.err(&self.current, self.pos, e.to_string()))?;
            self.pos += n;
            // A missing final padding byte is tolerated (dpkg tolerates it too).
            if n < self.remaining {
                return Err(self.err(
                    &self.current,
                    self.pos,
                    format!("truncated member: {} bytes missing", self.remaining - n),
                ));
            }
            self.remaining = 0;
            self.pad = false;
        }
        Ok(())
    }

    fn next_header(&mut self) -> Result<Option<ArHeader>, Error> {
        self.skip_rest()?;
        let offset = self.pos;
        let mut h = [0u8; 60];
        let mut got = 0;
        while got < h.len() {
            match self.inner.read(&mut h[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err("", offset, format!("reading header: {e}"))),
            }
        }
        self.pos += got as u64;
        if got == 0 {
            return Ok(None);
        }
        let raw_name = String::from_utf8_lossy(&h[..16]).trim_end_matches(' ').to_owned();
        if got < h.len() {
            return Err(self.err(
                &raw_name,
                offset,
                format!("truncated header ({got} of 60 bytes)"),
            ));
        }
        if &h[58..60] != b"`\n" {
            return Err(self.err(&raw_name, offset, "bad header terminator"));
        }
        let field = |range: std::ops::Range<usize>, radix: u32, what: &str| -> Result<u64, Error> {
            let text = std::str::from_utf8(&h[range])
                .map_err(|_| self.err(&raw_name, offset, format!("{what} field is not ASCII")))?
                .trim_end_matches(' ');
            if text.is_empty() {
                return Ok(0);
            }
            u64::from_str_radix(text, radix)
                .ok()
                .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| self.err(&raw_name, offset, format!("bad {what} field {text:?}")))
        };
        let mtime = field(16..28, 10, "mtime")?;
        let uid = field(28..34, 10, "uid")?;
        let gid = field(34..40, 10, "gid")?;
        let mode = field(40..48, 8, "mode")?;
        let mut size = field(48..58, 10, "size")?;
        let mut name = raw_name.clone();
        let mut inline_name = 0u64;
        if let Some(len) = raw_name.strip_prefix("#1/") {
            // BSD: the name is stored at the start of the data.
            let len: u64 = len
                .parse()
                .ok()
                .filter(|&n| n <= MAX_NAME_LEN && n <= size)
                .ok_or_else(|| self.err(&raw_name, offset, "bad BSD name length"))?;
            let mut buf = vec![0u8; len as usize];
            read_exact_or(&mut self.inner, &mut buf).map_err(|e| {
                self.err(&raw_name, offset, format!("truncated BSD member name: {e}"))
            })?;
            self.pos += len;
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            name = String::from_utf8(buf[..end].to_vec())
                .map_err(|_| self.err(&raw_name, offset, "member name is not UTF-8"))?;
            inline_name = len;
        } else if raw_name == "/" || raw_name == "//" || raw_name == "/SYM64/" {
            // Special GNU members keep their names.
        } else if let Some(idx) = raw_name.strip_prefix('/') {
            let idx: usize = idx
                .parse()
                .map_err(|_| self.err(&raw_name, offset, "bad GNU long-name reference"))?;
            let table = self
                .names
                .as_ref()
                .ok_or_else(|| self.err(&raw_name, offset, "GNU long name without a name table"))?;
            let rest = table
                .get(idx..)
                .ok_or_else(|| self.err(&raw_name, offset, "GNU long-name offset out of range"))?;
            let end = rest
                .windows(2)
                .position(|w| w == b"/\n")
                .or_else(|| rest.iter().position(|&b| b == b'\n'))
                .unwrap_or(rest.len());
            name = String::from_utf8(rest[..end].to_vec())
                .map_err(|_| self.err(&raw_name, offset, "member name is not UTF-8"))?;
        } else if let Some(stripped) = raw_name.strip_suffix('/') {
            name = stripped.to_owned();
        }
        if name.is_empty() {
            return Err(self.err(&raw_name, offset, "empty member name"));
        }
        size -= inline_name;
        self.remaining = size;
        self.pad = (size + inline_name) % 2 == 1;
        Ok(Some(ArHeader {
            name,
            mtime,
            uid: u32::try_from(uid).unwrap_or(u32::MAX),
            gid: u32::try_from(gid).unwrap_or(u32::MAX),
            mode: u32::try_from(mode).unwrap_or(u32::MAX),
            size,
            offset,
        }))
    }
}

/// One member: its header, and its data through [`Read`]. Reading past the member's data
/// returns end-of-file; a truncated archive gives an [`io::ErrorKind::UnexpectedEof`] error
/// naming the member.
#[derive(Debug)]
pub struct ArMember<'a, R> {
    header: ArHeader,
    ar: &'a mut ArReader<R>,
}

impl<R: Read> ArMember<'_, R> {
    /// The member's header.
    pub fn header(&self) -> &ArHeader {
        &self.header
    }

    /// Bytes of data not yet read.
    pub fn remaining(&self) -> u64 {
        self.ar.remaining
    }
}

impl<R: Read> Read for ArMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ar.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.ar.remaining).unwrap_or(usize::MAX));
        let n = self.ar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "ar member {:?} of {} truncated: {} bytes missing",
                    self.header.name, self.ar.context, self.ar.remaining
                ),
            ));
        }
        self.ar.remaining -= n as u64;
        self.ar.pos += n as u64;
        Ok(n)
    }
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    r.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: usize) -> Vec<u8> {
        let h = format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, "100644");
        assert_eq!(h.len(), 60);
        h.into_bytes()
    }

    fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, data) in members {
            out.extend(header(name, data.len()));
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn names<R: Read>(ar: &mut ArReader<R>) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut out = Vec::new();
        while let Some(mut m) = ar.next_member()? {
            let mut d = Vec::new();
            m.read_to_end(&mut d).map_err(|e| Error::Ar {
                archive: String::new(),
                member: String::new(),
                offset: 0,
                reason: e.to_string(),
            })?;
            out.push((m.header().name.clone(), d));
        }
        Ok(out)
    }

    #[test]
    fn reads_members_with_padding() {
        let a = archive(&[("debian-binary", b"2.0\n"), ("odd/", b"abc"), ("x", b"")]);
        let mut ar = ArReader::new(&a[..], "t").unwrap();
        let got = names(&mut ar).unwrap();
        assert_eq!(
            got,
            vec![
                ("debian-binary".into(), b"2.0\n".to_vec()),
                ("odd".into(), b"abc".to_vec()),
                ("x".into(), vec![])
            ]
        );
    }

    #[test]
    fn skips_unread_data() {
        let a = archive(&[("a", b"12345"), ("b", b"678")]);
        let mut ar = ArReader::new(&a[..], "t").unwrap();
        let m = ar.next_member().unwrap().unwrap();
        assert_eq!(m.header().size, 5);
        drop(m);
        let mut m = ar.next_member().unwrap().unwrap();
        let mut s = String::new();
        m.read_to_string(&mut s).unwrap();
        assert_eq!((m.header().name.as_str(), s.as_str()), ("b", "678"));
    }

    #[test]
    fn bsd_and_gnu_long_names() {
        let mut a = MAGIC.to_vec();
        a.extend(header("#1/20", 20 + 3));
        a.extend_from_slice(b"a-very-long-name.txt");
        a.extend_from_slice(b"xyz");
        a.push(b'\n');
        let table = b"another-long-member-name/\n";
        a.extend(header("//", table.len()));
        a.extend_from_slice(table);
        a.extend(header("/", 4));
        a.extend_from_slice(b"\0\0\0\0");
        a.extend(header("/0", 2));
        a.extend_from_slice(b"ok");
        let mut ar = ArReader::new(&a[..], "t").unwrap();
        let got = names(&mut ar).unwrap();
        assert_eq!(
            got,
            vec![
                ("a-very-long-name.txt".into(), b"xyz".to_vec()),
                ("another-long-member-name".into(), b"ok".to_vec())
            ]
        );
    }

    #[test]
    fn errors_name_the_member() {
        assert!(matches!(ArReader::new(&b"!<arch>"[..], "t"), Err(Error::Ar { .. })));
        assert!(ArReader::new(&b"!<arXX>\n"[..], "t").is_err());
        // Truncated data.
        let mut a = archive(&[("data.tar.xz", b"0123456789")]);
        a.truncate(a.len() - 4);
        let mut ar = ArReader::new(&a[..], "pkg.deb").unwrap();
        let err = names(&mut ar).unwrap_err().to_string();
        assert!(err.contains("data.tar.xz"), "{err}");
        // Truncated header.
        let a = &archive(&[("control.tar", b"")])[..30];
        let err = ArReader::new(a, "pkg.deb").unwrap().next_member().unwrap_err().to_string();
        assert!(err.contains("control.tar") && err.contains("truncated"), "{err}");
        // Bad size field.
        let mut a = archive(&[("m", b"ab")]);
        a[8 + 48] = b'x';
        let err = ArReader::new(&a[..], "pkg.deb").unwrap().next_member().unwrap_err();
        assert!(err.to_string().contains("bad size field"), "{err}");
        // Bad terminator.
        let mut a = archive(&[("m", b"ab")]);
        a[8 + 58] = b'X';
        assert!(ArReader::new(&a[..], "p").unwrap().next_member().is_err());
        // A size that exceeds the file is a truncation error, not an allocation.
        let mut a = MAGIC.to_vec();
        a.extend(header("huge", 0));
        a[8 + 48..8 + 58].copy_from_slice(b"9999999999");
        let mut ar = ArReader::new(&a[..], "p").unwrap();
        assert!(names(&mut ar).is_err());
    }
}
