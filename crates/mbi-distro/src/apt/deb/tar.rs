//! A minimal streaming tar reader for the members of `.deb` packages.
//!
//! Handles what `dpkg-deb` and the tars Debian packages were built with produce: ustar (with
//! its `prefix` field), GNU (`L`/`K` long names, base-256 numbers) and PAX (`x` extended headers
//! for `path`, `linkpath`, `size`, `mtime`, `uid`, `gid`; `g` global headers ignored). Sparse
//! files, multi-volume archives and unknown entry types are refused. Extension records are
//! bounded ([`MAX_LONG_NAME`], [`MAX_PAX`]) so a hostile archive cannot make it allocate much.

use std::io::{self, Read};

/// Largest GNU long name / long link accepted, in bytes.
pub const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest PAX extended header accepted, in bytes.
pub const MAX_PAX: u64 = 1024 * 1024;

/// The kind of a tar entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarKind {
    /// Regular file (`0`, NUL, `7`).
    File,
    /// Hard link (`1`) to `link`.
    Hardlink,
    /// Symbolic link (`2`) to `link`.
    Symlink,
    /// Character device (`3`).
    CharDevice,
    /// Block device (`4`).
    BlockDevice,
    /// Directory (`5`).
    Directory,
    /// FIFO (`6`).
    Fifo,
}

/// A parsed header with its extensions applied.
#[derive(Debug, Clone)]
pub struct TarHeader {
    /// The path as stored (after GNU/PAX long names).
    pub path: Vec<u8>,
    /// Link target for hard and symbolic links.
    pub link: Vec<u8>,
    /// Entry kind.
    pub kind: TarKind,
    /// Permission bits (incl. setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds; negative times are clamped to 0).
    pub mtime: u64,
    /// Size of the entry's data.
    pub size: u64,
    /// Device major number.
    pub dev_major: u32,
    /// Device minor number.
    pub dev_minor: u32,
}

/// A problem in a tar stream: what, and at which entry.
#[derive(Debug)]
pub struct TarError {
    /// The entry path (lossy), or empty before the first entry.
    pub entry: String,
    /// What is wrong.
    pub reason: String,
}

impl TarError {
    fn new(entry: &[u8], reason: impl Into<String>) -> Self {
        TarError { entry: String::from_utf8_lossy(entry).into_owned(), reason: reason.into() }
    }
}

/// Reads tar headers one after another; the data of the current entry is read with
/// [`TarStream::data`] (unread data is skipped by the next [`TarStream::next_header`]).
pub struct TarStream<R> {
    r: R,
    /// Bytes of the current entry's data still unread.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    current: Vec<u8>,
    done: bool,
}

impl<R: Read> TarStream<R> {
    /// Wraps a reader positioned at the start of a tar archive.
    pub fn new(r: R) -> Self {
        TarStream { r, remaining: 0, padding: 0, current: Vec::new(), done: false }
    }

    /// The underlying reader (positioned after what was consumed).
    pub fn into_inner(self) -> R {
        self.r
    }

    /// The current entry's unread data.
    pub fn data(&mut self) -> TarData<'_, R> {
        TarData { s: self }
    }

    fn skip(&mut self) -> Result<(), TarError> {
        let n = self.remaining + self.padding;
        if n > 0 {
            let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())
                .map_err(|e| TarError::new(&self.current, e.to_string()))?;
            if got < n {
                return Err(TarError::new(&self.current, "truncated entry data"));
            }
            self.remaining = 0;
            self.padding = 0;
        }
        Ok(())
    }

    fn read_block(&mut self, block: &mut [u8; 512]) -> Result<bool, TarError> {
        let mut got = 0;
        while got < 512 {
            match self.r.read(&mut block[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::new(&self.current, e.to_string())),
            }
        }
        match got {
            0 => Ok(false),
            512 => Ok(true),
            _ => Err(TarError::new(&self.current, format!("truncated header ({got} bytes)"))),
        }
    }

    fn read_ext(&mut self, size: u64, max: u64, what: &str) -> Result<Vec<u8>, TarError> {
        if size > max {
            return Err(TarError::new(
                &self.current,
                format!("{what} of {size} bytes exceeds the limit of {max}"),
            ));
        }
        let mut buf = vec![0u8; size as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|e| TarError::new(&self.current, format!("truncated {what}: {e}")))?;
        let pad = (512 - size % 512) % 512;
        io::copy(&mut (&mut self.r).take(pad), &mut io::sink())
            .map_err(|e| TarError::new(&self.current, e.to_string()))?;
        Ok(buf)
    }

    /// Reads the next entry header, or `None` at the end of the archive (a zero block or a
    /// clean end of input at a block boundary).
    pub fn next_header(&mut self) -> Result<Option<TarHeader>, TarError> {
        if self.done {
            return Ok(None);
        }
        self.skip()?;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            let mut block = [0u8; 512];
            if !self.read_block(&mut block)? {
                if long_name.is_some() || long_link.is_some() || !pax.is_empty() {
                    return Err(TarError::new(&self.current, "archive ends after an extension"));
                }
                self.done = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            let stored = parse_num(&block[148..156])
                .ok_or_else(|| TarError::new(&self.current, "bad header checksum field"))?;
            let mut unsigned: u64 = 0;
            let mut signed: i64 = 0;
            for (i, &b) in block.iter().enumerate() {
                let b = if (148..156).contains(&i) { b' ' } else { b };
                unsigned += u64::from(b);
                signed += i64::from(b as i8);
            }
            if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
                return Err(TarError::new(&self.current, "header checksum mismatch"));
            }
            let name = cstr(&block[0..100]);
            let ustar = &block[257..263] == b"ustar\0";
            let mut path = if ustar && block[345] != 0 {
                let mut p = cstr(&block[345..500]).to_vec();
                p.push(b'/');
                p.extend_from_slice(name);
                p
            } else {
                name.to_vec()
            };
            self.current = long_name.clone().unwrap_or_else(|| path.clone());
            let num = |range: std::ops::Range<usize>, what: &str| {
                parse_num(&block[range]).ok_or_else(|| {
                    TarError::new(&self.current, format!("bad {what} field in header"))
                })
            };
            let mut size = num(124..136, "size")?;
            let typeflag = block[156];
            match typeflag {
                b'L' => {
                    let mut v = self.read_ext(size, MAX_LONG_NAME, "GNU long name")?;
                    trim_nuls(&mut v);
                    long_name = Some(v);
                    continue;
                }
                b'K' => {
                    let mut v = self.read_ext(size, MAX_LONG_NAME, "GNU long link name")?;
                    trim_nuls(&mut v);
                    long_link = Some(v);
                    continue;
                }
                b'x' => {
                    let v = self.read_ext(size, MAX_PAX, "PAX header")?;
                    pax.extend(parse_pax(&v).map_err(|r| TarError::new(&self.current, r))?);
                    continue;
                }
                b'g' => {
                    self.read_ext(size, MAX_PAX, "PAX global header")?;
                    continue;
                }
                _ => {}
            }
            let kind = match typeflag {
                b'0' | 0 | b'7' => TarKind::File,
                b'1' => TarKind::Hardlink,
                b'2' => TarKind::Symlink,
                b'3' => TarKind::CharDevice,
                b'4' => TarKind::BlockDevice,
                b'5' => TarKind::Directory,
                b'6' => TarKind::Fifo,
                b'S' => return Err(TarError::new(&self.current, "sparse files are not supported")),
                other => {
                    return Err(TarError::new(
                        &self.current,
                        format!("unsupported tar entry type {:?}", other as char),
                    ));
                }
            };
            let mut link = cstr(&block[157..257]).to_vec();
            let mut mtime = parse_num(&block[136..148]).unwrap_or(0);
            let mut uid = num(108..116, "uid")?;
            let mut gid = num(116..124, "gid")?;
            let mode = num(100..108, "mode")?;
            if let Some(n) = long_name.take() {
                path = n;
            }
            if let Some(l) = long_link.take() {
                link = l;
            }
            for (k, v) in pax.drain(..) {
                let dec = |v: &[u8]| -> Option<u64> {
                    let s = std::str::from_utf8(v).ok()?;
                    // mtime may carry a fraction; negative times clamp to 0.
                    let int = s.split('.').next()?;
                    if int.starts_with('-') {
                        return Some(0);
                    }
                    int.parse().ok()
                };
                let bad = |what: &str| TarError::new(&path, format!("bad PAX {what} record"));
                match &k[..] {
                    b"path" => path = v,
                    b"linkpath" => link = v,
                    b"size" => size = dec(&v).ok_or_else(|| bad("size"))?,
                    b"mtime" => mtime = dec(&v).ok_or_else(|| bad("mtime"))?,
                    b"uid" => uid = dec(&v).ok_or_else(|| bad("uid"))?,
                    b"gid" => gid = dec(&v).ok_or_else(|| bad("gid"))?,
                    _ => {}
                }
            }
            self.current = path.clone();
            // Only regular files carry data that matters; other entries' data is skipped.
            self.remaining = size;
            self.padding = (512 - size % 512) % 512;
            let id = |v: u64, what: &str| {
                u32::try_from(v).map_err(|_| TarError::new(&path, format!("{what} out of range")))
            };
            return Ok(Some(TarHeader {
                kind,
                mode: (mode & 0o7777) as u32,
                uid: id(uid, "uid")?,
                gid: id(gid, "gid")?,
                mtime,
                size: if kind == TarKind::File { size } else { 0 },
                dev_major: id(parse_num(&block[329..337]).unwrap_or(0), "device major")?,
                dev_minor: id(parse_num(&block[337..345]).unwrap_or(0), "device minor")?,
                link,
                path,
            }));
        }
    }
}

/// Reader over the current entry's data.
pub struct TarData<'a, R> {
    s: &'a mut TarStream<R>,
}

impl<R: Read> Read for TarData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.s.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.s.remaining).unwrap_or(usize::MAX));
        let n = self.s.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "truncated data of tar entry {:?}",
                    String::from_utf8_lossy(&self.s.current)
                ),
            ));
        }
        self.s.remaining -= n as u64;
        Ok(n)
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

fn trim_nuls(v: &mut Vec<u8>) {
    while v.last() == Some(&0) {
        v.pop();
    }
}

/// Parses an octal field (spaces/NULs around) or a GNU base-256 one.
fn parse_num(field: &[u8]) -> Option<u64> {
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(first & 0x3f);
        for &b in rest {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s = field.iter().skip_while(|&&b| b == b' ' || b == 0);
    let mut v: u64 = 0;
    for &b in s {
        match b {
            b'0'..=b'7' => {
                v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
            }
            b' ' | 0 => break,
            _ => return None,
        }
    }
    Some(v)
}

/// Parses PAX records: `LEN KEY=VALUE\n`.
/// PAX records as (key, value) pairs.
type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

fn parse_pax(mut data: &[u8]) -> Result<PaxRecords, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let sp = data.iter().position(|&b| b == b' ').ok_or("PAX record without length")?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("bad PAX record length")?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err("bad PAX record length".into());
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec.iter().position(|&b| b == b'=').ok_or("PAX record without '='")?;
        out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_num(b"0000644\0"), Some(0o644));
        assert_eq!(parse_num(b"   755 \0"), Some(0o755));
        assert_eq!(parse_num(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_num(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(parse_num(&[0xff, 0xff]), None);
        assert_eq!(parse_num(b"12a"), None);
        assert_eq!(parse_num(&[0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn pax_records() {
        let r = parse_pax(b"20 path=a/b/c/d/e/f\n12 size=123\n").unwrap();
        assert_eq!(r[0], (b"path".to_vec(), b"a/b/c/d/e/f".to_vec()));
        assert_eq!(r[1].1, b"123");
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"x path=x\n").is_err());
        assert!(parse_pax(b"3 \n").is_err());
    }
}
