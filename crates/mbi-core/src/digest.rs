//! Content digests (`sha256:<64 hex>`), hashing readers and writers.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::Error;

/// The digest algorithms mbi understands. Only SHA-256 is produced; SHA-512 digests are parsed
/// and compared so that foreign manifests referencing them can be inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// `sha256`, 64 lowercase hex characters.
    Sha256,
    /// `sha512`, 128 lowercase hex characters.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest string.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:e3b0c442…`.
///
/// Parsing rejects unknown algorithms, wrong lengths and anything but lowercase hex, so a
/// `Digest` can be used safely as a file name inside a blob store.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest::from_sha256_bytes(&Sha256::digest(bytes).into())
    }

    /// A SHA-256 digest from its 32 raw bytes.
    pub fn from_sha256_bytes(raw: &[u8; 32]) -> Digest {
        Digest { algorithm: Algorithm::Sha256, hex: to_hex(raw) }
    }

    /// A SHA-256 digest from its 64 hex characters; `None` unless they are lowercase hex.
    pub fn from_sha256_hex(hex: &[u8; 64]) -> Option<Digest> {
        let hex = std::str::from_utf8(hex).ok().filter(|h| is_sha256_hex(h.as_bytes()))?;
        Some(Digest { algorithm: Algorithm::Sha256, hex: hex.to_owned() })
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Checks that `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), Error> {
        let actual = match self.algorithm {
            Algorithm::Sha256 => Digest::sha256(bytes),
            Algorithm::Sha512 => {
                Digest { algorithm: Algorithm::Sha512, hex: to_hex(&sha2::Sha512::digest(bytes)) }
            }
        };
        if &actual == self {
            Ok(())
        } else {
            Err(Error::DigestMismatch { expected: self.clone(), actual })
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &'static str| Error::InvalidDigest { input: truncate(s), reason };
        let (algo, hex) = s.split_once(':').ok_or_else(|| bad("missing ':' separator"))?;
        let algorithm = match algo {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad("unsupported algorithm (expected sha256 or sha512)")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(bad("wrong length for algorithm"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("encoded part must be lowercase hex"));
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        // A validated mbi digest is always a valid OCI digest.
        d.to_string().parse().expect("mbi digests are valid OCI digests")
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Error> {
        d.to_string().parse()
    }
}

/// Whether `hex` is the hex of a SHA-256 digest as digests are written: exactly 64 lowercase
/// hex digits (what [`Digest::from_sha256_hex`] accepts, without building a digest).
pub fn is_sha256_hex(hex: &[u8]) -> bool {
    // No early exit, so the compiler checks all 64 bytes at once.
    hex.len() == 64
        && hex.iter().fold(true, |ok, b| ok & (b.is_ascii_digit() | (b'a'..=b'f').contains(b)))
}

/// Lowercase hex of `bytes` (sha2 0.11 digests no longer implement `LowerHex`).
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_owned();
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An incremental SHA-256 hasher that also counts bytes.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    inner: Sha256,
    len: u64,
}

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed, and its length.
    pub fn finish(self) -> (Digest, u64) {
        (Digest::from_sha256_bytes(&self.inner.finalize().into()), self.len)
    }
}

/// A writer adapter that hashes (SHA-256) and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256Hasher,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256Hasher::new() }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// A shared reference to the wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// A mutable reference to the wrapped writer. Bytes written directly are not hashed.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the wrapped writer, the digest and the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader adapter that hashes (SHA-256) and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256Hasher::new() }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// Whether nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest of what was read so far (the reader stays usable).
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish().0
    }

    /// Returns the wrapped reader, the digest of what was read, and the byte count.
    pub fn finish(self) -> (R, Digest, u64) {
        let (d, n) = self.hasher.finish();
        (self.inner, d, n)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_check_matches_digest_parsing() {
        let good = Digest::sha256(b"x").hex().to_owned();
        assert!(is_sha256_hex(good.as_bytes()));
        let upper = good.to_ascii_uppercase();
        let short = &good[..63];
        let long = format!("{good}0");
        let mut g = good.clone();
        g.replace_range(5..6, "g");
        for bad in [upper.as_str(), short, long.as_str(), g.as_str(), ""] {
            assert!(!is_sha256_hex(bad.as_bytes()), "{bad}");
            let parsed =
                <&[u8; 64]>::try_from(bad.as_bytes()).ok().and_then(Digest::from_sha256_hex);
            assert!(parsed.is_none(), "{bad}");
        }
        let raw = <&[u8; 64]>::try_from(good.as_bytes()).unwrap();
        assert_eq!(Digest::from_sha256_hex(raw).unwrap(), Digest::sha256(b"x"));
    }

    #[test]
    fn empty_sha256() {
        assert_eq!(
            Digest::sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:../../../../etc/passwd000000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn roundtrip_and_verify() {
        let d = Digest::sha256(b"hello");
        let parsed: Digest = d.to_string().parse().unwrap();
        assert_eq!(d, parsed);
        parsed.verify(b"hello").unwrap();
        assert!(matches!(parsed.verify(b"hellO"), Err(Error::DigestMismatch { .. })));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn hashing_writer_matches() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        let (buf, d, n) = w.finish();
        assert_eq!(buf, b"hello");
        assert_eq!(n, 5);
        assert_eq!(d, Digest::sha256(b"hello"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = s.parse::<Digest>();
        }
    }
}
