//! Building tar headers by hand: ustar where it fits, PAX records only where needed.

use std::collections::BTreeMap;

use crate::error::{Error, Result, lossy};

/// Size of a tar block.
pub const BLOCK: usize = 512;
/// GNU tar pads archives to a multiple of its record size (20 blocks).
pub const RECORD: u64 = 10240;

/// ustar type flags.
pub mod flag {
    /// Regular file.
    pub const REGULAR: u8 = b'0';
    /// Old-style regular file.
    pub const REGULAR_OLD: u8 = 0;
    /// Hard link.
    pub const HARDLINK: u8 = b'1';
    /// Symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// Character device.
    pub const CHAR: u8 = b'3';
    /// Block device.
    pub const BLOCK: u8 = b'4';
    /// Directory.
    pub const DIR: u8 = b'5';
    /// FIFO.
    pub const FIFO: u8 = b'6';
    /// Contiguous file (treated as regular).
    pub const CONTIGUOUS: u8 = b'7';
    /// PAX extended header for the next entry.
    pub const PAX: u8 = b'x';
    /// PAX global extended header.
    pub const PAX_GLOBAL: u8 = b'g';
    /// GNU long name for the next entry.
    pub const GNU_LONGNAME: u8 = b'L';
    /// GNU long link name for the next entry.
    pub const GNU_LONGLINK: u8 = b'K';
}

/// Field offsets and lengths in a header block.
pub mod field {
    pub const NAME: (usize, usize) = (0, 100);
    pub const MODE: (usize, usize) = (100, 8);
    pub const UID: (usize, usize) = (108, 8);
    pub const GID: (usize, usize) = (116, 8);
    pub const SIZE: (usize, usize) = (124, 12);
    pub const MTIME: (usize, usize) = (136, 12);
    pub const CHKSUM: (usize, usize) = (148, 8);
    pub const TYPEFLAG: usize = 156;
    pub const LINKNAME: (usize, usize) = (157, 100);
    pub const MAGIC: (usize, usize) = (257, 6);
    pub const VERSION: (usize, usize) = (263, 2);
    pub const DEVMAJOR: (usize, usize) = (329, 8);
    pub const DEVMINOR: (usize, usize) = (337, 8);
    pub const PREFIX: (usize, usize) = (345, 155);
}

/// Largest value that fits an octal field of `len` bytes (len-1 digits and a NUL).
pub fn octal_max(len: usize) -> u64 {
    (1u64 << (3 * (len as u32 - 1))) - 1
}

/// Everything the writer says about one entry.
pub struct HeaderSpec<'a> {
    /// Full entry name, with a trailing `/` for directories.
    pub name: &'a [u8],
    /// ustar type flag.
    pub typeflag: u8,
    /// Permission bits.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Content size.
    pub size: u64,
    /// Clamped modification time (≥ 0).
    pub mtime: i64,
    /// Link target for symlinks and hardlinks.
    pub linkname: &'a [u8],
    /// Device numbers.
    pub dev: (u32, u32),
    /// Extended attributes.
    pub xattrs: &'a BTreeMap<String, Vec<u8>>,
}

/// Appends the PAX extended header (if one is needed) and the ustar header for `spec` to `out`.
pub fn encode(spec: &HeaderSpec<'_>, out: &mut Vec<u8>) -> Result<()> {
    let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
    let (prefix, name) = match split_ustar_name(spec.name) {
        Some(pn) => pn,
        None => {
            pax.push(("path", spec.name.to_vec()));
            (&[][..], truncate(spec.name, 100))
        }
    };
    let linkname = if spec.linkname.len() > 100 {
        pax.push(("linkpath", spec.linkname.to_vec()));
        truncate(spec.linkname, 100)
    } else {
        spec.linkname
    };
    let (uid, gid) = (u64::from(spec.uid), u64::from(spec.gid));
    if uid > octal_max(8) {
        pax.push(("uid", uid.to_string().into_bytes()));
    }
    if gid > octal_max(8) {
        pax.push(("gid", gid.to_string().into_bytes()));
    }
    if spec.size > octal_max(12) {
        pax.push(("size", spec.size.to_string().into_bytes()));
    }
    let mtime = spec.mtime.max(0) as u64;
    if mtime > octal_max(12) {
        pax.push(("mtime", mtime.to_string().into_bytes()));
    }
    let xattr_keys: Vec<String> = spec.xattrs.keys().map(|k| format!("SCHILY.xattr.{k}")).collect();
    for ((k, v), key) in spec.xattrs.iter().zip(&xattr_keys) {
        if k.is_empty() || k.contains('=') || k.contains('\0') || k.contains('\n') {
            return Err(Error::ReservedName {
                path: lossy(spec.name),
                reason: "xattr name is empty or contains '=', NUL or newline",
            });
        }
        pax.push((key.as_str(), v.clone()));
    }
    if !pax.is_empty() {
        let non_utf8 = pax
            .iter()
            .any(|(k, v)| (*k == "path" || *k == "linkpath") && std::str::from_utf8(v).is_err());
        if non_utf8 {
            pax.insert(0, ("hdrcharset", b"BINARY".to_vec()));
        }
        let mut records = Vec::new();
        for (k, v) in &pax {
            pax_record(k, v, &mut records);
        }
        let pax_name = pax_header_name(spec.name);
        let mut h = [0u8; BLOCK];
        put_bytes(&mut h, field::NAME, &pax_name);
        put_octal(&mut h, field::MODE, 0o644);
        put_octal(&mut h, field::UID, 0);
        put_octal(&mut h, field::GID, 0);
        put_octal(&mut h, field::SIZE, records.len() as u64);
        put_octal(&mut h, field::MTIME, 0);
        h[field::TYPEFLAG] = flag::PAX;
        finish(&mut h);
        out.extend_from_slice(&h);
        out.extend_from_slice(&records);
        pad(out);
    }
    let mut h = [0u8; BLOCK];
    put_bytes(&mut h, field::NAME, name);
    put_octal(&mut h, field::MODE, u64::from(spec.mode & 0o7777));
    put_octal(&mut h, field::UID, uid.min(octal_max(8)));
    put_octal(&mut h, field::GID, gid.min(octal_max(8)));
    put_octal(&mut h, field::SIZE, if spec.size > octal_max(12) { 0 } else { spec.size });
    put_octal(&mut h, field::MTIME, mtime.min(octal_max(12)));
    h[field::TYPEFLAG] = spec.typeflag;
    put_bytes(&mut h, field::LINKNAME, linkname);
    if matches!(spec.typeflag, flag::CHAR | flag::BLOCK) {
        put_number(&mut h, field::DEVMAJOR, u64::from(spec.dev.0));
        put_number(&mut h, field::DEVMINOR, u64::from(spec.dev.1));
    }
    put_bytes(&mut h, field::PREFIX, prefix);
    finish(&mut h);
    out.extend_from_slice(&h);
    Ok(())
}

/// Splits a name into ustar (prefix, name) fields, or `None` if it needs a PAX `path`.
fn split_ustar_name(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((&[], name));
    }
    if name.len() > 256 {
        return None;
    }
    // The leftmost '/' that leaves a non-empty name of at most 100 bytes.
    (0..name.len().saturating_sub(1))
        .filter(|&i| name[i] == b'/' && i <= 155 && name.len() - i - 1 <= 100)
        .find(|&i| !name[i + 1..].is_empty() && name[i + 1..] != *b"/")
        .map(|i| (&name[..i], &name[i + 1..]))
}

fn truncate(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

/// `dir/PaxHeaders.0/base`, at most 100 bytes, as Go's archive/tar names it (no pid, no time).
fn pax_header_name(name: &[u8]) -> Vec<u8> {
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (&[][..], trimmed),
    };
    let mut v = Vec::with_capacity(100);
    if !dir.is_empty() {
        v.extend_from_slice(dir);
        v.push(b'/');
    }
    v.extend_from_slice(b"PaxHeaders.0/");
    v.extend_from_slice(base);
    if v.len() > 100 {
        v.truncate(100);
    }
    v
}

/// Appends one `"<len> <key>=<value>\n"` record.
pub fn pax_record(key: &str, value: &[u8], out: &mut Vec<u8>) {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    loop {
        let total = base + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn put_bytes(h: &mut [u8; BLOCK], (off, len): (usize, usize), v: &[u8]) {
    let n = v.len().min(len);
    h[off..off + n].copy_from_slice(&v[..n]);
}

/// Writes `v` as zero-padded octal with a trailing NUL (`v` must fit).
fn put_octal(h: &mut [u8; BLOCK], (off, len): (usize, usize), v: u64) {
    debug_assert!(v <= octal_max(len));
    let digits = len - 1;
    let mut x = v;
    for i in (0..digits).rev() {
        h[off + i] = b'0' + (x & 7) as u8;
        x >>= 3;
    }
    h[off + digits] = 0;
}

/// Octal when it fits, else GNU base-256 (0x80 then big-endian).
fn put_number(h: &mut [u8; BLOCK], (off, len): (usize, usize), v: u64) {
    if v <= octal_max(len) {
        put_octal(h, (off, len), v);
    } else {
        let field = &mut h[off..off + len];
        field.fill(0);
        let be = v.to_be_bytes();
        let n = be.len().min(len - 1);
        field[len - n..].copy_from_slice(&be[be.len() - n..]);
        field[0] = 0x80;
    }
}

/// Sets magic, version and checksum.
fn finish(h: &mut [u8; BLOCK]) {
    put_bytes(h, field::MAGIC, b"ustar\0");
    put_bytes(h, field::VERSION, b"00");
    h[field::CHKSUM.0..field::CHKSUM.0 + 8].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[field::CHKSUM.0..field::CHKSUM.0 + 8].copy_from_slice(s.as_bytes());
}

/// Pads `out` with zeros to a multiple of [`BLOCK`].
pub fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

/// Zero bytes needed after `size` content bytes.
pub fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths() {
        let mut v = Vec::new();
        pax_record("path", b"a", &mut v);
        assert_eq!(v, b"9 path=a\n");
        // The length crossing a power of ten.
        let mut v = Vec::new();
        pax_record("path", &[b'x'; 91], &mut v);
        assert_eq!(v.len(), 101);
        assert!(v.starts_with(b"101 path="));
        let mut v = Vec::new();
        pax_record("path", &[b'x'; 90], &mut v);
        assert_eq!(v.len(), 99);
        assert!(v.starts_with(b"99 path="));
    }

    #[test]
    fn ustar_split() {
        let long = [&[b'd'; 120][..], b"/", &[b'f'; 90][..]].concat();
        let (p, n) = split_ustar_name(&long).unwrap();
        assert_eq!(p.len(), 120);
        assert_eq!(n.len(), 90);
        assert!(split_ustar_name(&[b'x'; 101]).is_none());
        let dir = [&[b'd'; 120][..], b"/"].concat();
        assert!(split_ustar_name(&dir).is_none());
    }

    #[test]
    fn base256() {
        let mut h = [0u8; BLOCK];
        put_number(&mut h, field::DEVMAJOR, 1 << 30);
        assert_eq!(h[field::DEVMAJOR.0], 0x80);
        assert_eq!(&h[field::DEVMAJOR.0 + 4..field::DEVMAJOR.0 + 8], &(1u32 << 30).to_be_bytes());
    }
}
