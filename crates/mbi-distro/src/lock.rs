//! The lockfile: everything needed to rebuild an image exactly, without resolving again.
//!
//! A lockfile pins, per architecture, the packages **in install order** with the exact file
//! each one is (name, version, architecture, source package, SHA-256, size, archive path and
//! the repository it came from), and records where trust came from: for every index, the
//! digest of the `Release`/`InRelease` file that was verified, the fingerprint of the key that
//! signed it, its `Date`, and the index's own digest. An audit can re-verify all of it
//! offline. [`IndexProvenance`] converts from the fetcher's
//! [`crate::apt::fetch::IndexProvenance`], [`LockedPackage`] from a [`BinaryPackage`].
//!
//! ```json
//! {
//!   "lockVersion": 1,
//!   "specDigest": "sha256:…",
//!   "variant": "distroless",
//!   "sourceDateEpoch": 1700000000,
//!   "indexes": [
//!     {"uri": "http://deb.example/debian/", "suite": "bookworm", "component": "main",
//!      "architecture": "amd64", "releaseFile": "InRelease", "releaseDigest": "sha256:…",
//!      "signingKey": "4D64FEC119C2029067D6E791F8D2585B8783D481",
//!      "date": "Sat, 10 Feb 2024 09:40:00 UTC",
//!      "indexPath": "main/binary-amd64/Packages", "indexDigest": "sha256:…"}
//!   ],
//!   "architectures": {
//!     "amd64": {"packages": [
//!       {"name": "libc6", "version": "2.36-9+deb12u4", "architecture": "amd64",
//!        "source": "glibc", "sha256": "sha256:…", "size": 2757236,
//!        "filename": "pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb",
//!        "uri": "http://deb.example/debian/", "suite": "bookworm", "component": "main"}
//!     ]}
//!   }
//! }
//! ```
//!
//! The file is written as JSON with sorted keys ([`Lockfile::to_pretty_json`], stable across
//! runs and diff-friendly); [`Lockfile::digest`] hashes the canonical form
//! ([`mbi_core::canonical`]). Parsing is strict ([`Lockfile::from_json`]): unknown fields, a
//! `lockVersion` other than [`LOCK_VERSION`], malformed digests, versions or names, and a
//! package whose repository has no index entry are refused with the JSON path of the problem.
//! The full format is documented in `docs/lockfile.md`.

use std::collections::BTreeMap;

use mbi_core::Digest;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::apt::{BinaryPackage, DebVersion, PackageName};

/// The lockfile format version this crate writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// One locked package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedPackage {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture` (`all` or the image architecture).
    pub architecture: String,
    /// Source package name.
    pub source: String,
    /// SHA-256 of the `.deb`, from the signed index.
    pub sha256: Digest,
    /// Size of the `.deb` in bytes.
    pub size: u64,
    /// `Filename`: the path of the `.deb` below the repository URI.
    pub filename: String,
    /// Repository base URI.
    pub uri: String,
    /// Suite the package was taken from.
    pub suite: String,
    /// Component.
    pub component: String,
}

impl LockedPackage {
    /// The lock entry of a package from a `Packages` index.
    pub fn from_binary(p: &BinaryPackage) -> Self {
        LockedPackage {
            name: p.name.as_str().to_owned(),
            version: p.version.as_str().to_owned(),
            architecture: p.architecture.to_string(),
            source: p.source.to_string(),
            sha256: p.sha256.to_digest(),
            size: p.size,
            filename: p.filename.to_string(),
            uri: p.origin.uri.clone(),
            suite: p.origin.suite.clone(),
            component: p.origin.component.clone(),
        }
    }

    /// What to download for this entry ([`crate::apt::fetch::Apt::fetch_files`]), checked
    /// against the locked SHA-256 and size.
    pub fn deb_file(&self) -> crate::apt::fetch::DebFile {
        crate::apt::fetch::DebFile {
            label: format!("{}_{}_{}", self.name, self.version, self.architecture),
            url: self.url(),
            filename: self.filename.clone(),
            sha256: self.sha256.clone(),
            size: self.size,
        }
    }

    /// The URL of the `.deb`.
    pub fn url(&self) -> String {
        let base = self.uri.trim_end_matches('/');
        format!("{base}/{}", self.filename.trim_start_matches('/'))
    }
}

/// Where trust in one index came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IndexProvenance {
    /// Repository base URI.
    pub uri: String,
    /// Suite.
    pub suite: String,
    /// Component (empty for flat repositories).
    pub component: String,
    /// Architecture of the index (`amd64`, `all`; `flat` for flat repositories).
    pub architecture: String,
    /// `InRelease` or `Release`.
    pub release_file: String,
    /// SHA-256 of that file exactly as fetched and verified.
    pub release_digest: Digest,
    /// Fingerprint (upper-case hex) of the key that made the accepted signature (a subkey or
    /// the primary); `None` only for a repository explicitly trusted without signature.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// Fingerprint of that key's primary key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<String>,
    /// The Release file's `Date` (RFC 2822, UTC).
    #[serde(default)]
    pub date: Option<String>,
    /// Path of the `Packages` index relative to the Release file.
    pub index_path: String,
    /// SHA-256 of the index (uncompressed when the Release lists it).
    pub index_digest: Digest,
}

impl From<&crate::apt::fetch::IndexProvenance> for IndexProvenance {
    fn from(p: &crate::apt::fetch::IndexProvenance) -> Self {
        IndexProvenance {
            uri: p.uri.clone(),
            suite: p.suite.clone(),
            component: p.component.clone(),
            architecture: p.architecture.clone(),
            release_file: p.release_file.clone(),
            release_digest: p.release_sha256.clone(),
            signing_key: p.signer.as_ref().map(|s| s.key_fingerprint.clone()),
            primary_key: p
                .signer
                .as_ref()
                .filter(|s| s.primary_fingerprint != s.key_fingerprint)
                .map(|s| s.primary_fingerprint.clone()),
            date: p.date.map(crate::apt::release::format_date),
            index_path: p.index_path.clone(),
            index_digest: p.index_sha256.clone(),
        }
    }
}

/// The packages of one architecture.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArchLock {
    /// Packages in install order.
    pub packages: Vec<LockedPackage>,
}

/// A lockfile. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lockfile {
    /// Always [`LOCK_VERSION`].
    pub lock_version: u32,
    /// [`crate::spec::Spec::digest`] of the spec this lock was made from.
    pub spec_digest: Digest,
    /// The spec's variant (`essential`, `apt`, `minbase`, `distroless`).
    pub variant: String,
    /// The image timestamp the build will use, when fixed at lock time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
    /// Provenance of every index used.
    pub indexes: Vec<IndexProvenance>,
    /// Architecture → packages.
    pub architectures: BTreeMap<String, ArchLock>,
}

impl Lockfile {
    /// An empty lockfile for a spec.
    pub fn new(spec_digest: Digest, variant: impl Into<String>) -> Self {
        Lockfile {
            lock_version: LOCK_VERSION,
            spec_digest,
            variant: variant.into(),
            source_date_epoch: None,
            indexes: Vec::new(),
            architectures: BTreeMap::new(),
        }
    }

    /// Parses and validates a lockfile. `file` names it in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Lockfile, Error> {
        let err = |reason: String| Error::Lock { file: file.to_owned(), reason };
        // The version first, so a future format gets a clear message, not a field error.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
        match value.get("lockVersion") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(LOCK_VERSION)) => {}
            Some(v) => {
                return Err(err(format!(
                    "lockVersion: unsupported version {v} (this mbi reads version {LOCK_VERSION})"
                )));
            }
            None => return Err(err("lockVersion: missing".into())),
        }
        let lock: Lockfile = serde_json::from_slice(bytes).map_err(|e| err(e.to_string()))?;
        lock.validate().map_err(err)?;
        Ok(lock)
    }

    /// Checks the semantic rules (what `from_json` enforces besides the JSON shape); the
    /// error names the JSON path.
    pub fn validate(&self) -> Result<(), String> {
        if self.lock_version != LOCK_VERSION {
            return Err(format!("lockVersion: must be {LOCK_VERSION}"));
        }
        if !matches!(self.variant.as_str(), "essential" | "apt" | "minbase" | "distroless") {
            return Err(format!("variant: unknown variant {:?}", self.variant));
        }
        let mut known = std::collections::BTreeSet::new();
        let is_fpr = |k: &str| k.len() >= 16 && k.bytes().all(|b| b.is_ascii_hexdigit());
        for (i, x) in self.indexes.iter().enumerate() {
            let at = format!("indexes[{i}]");
            if x.uri.is_empty() || x.suite.is_empty() || x.index_path.is_empty() {
                return Err(format!("{at}: uri, suite and indexPath must not be empty"));
            }
            if !matches!(x.release_file.as_str(), "InRelease" | "Release") {
                return Err(format!(
                    "{at}.releaseFile: {:?} is neither InRelease nor Release",
                    x.release_file
                ));
            }
            for (field, key) in [("signingKey", &x.signing_key), ("primaryKey", &x.primary_key)] {
                if let Some(k) = key
                    && !is_fpr(k)
                {
                    return Err(format!("{at}.{field}: {k:?} is not a key fingerprint"));
                }
            }
            if let Some(d) = &x.date
                && crate::apt::release::parse_date(d).is_none()
            {
                return Err(format!("{at}.date: {d:?} is not an RFC 2822 date"));
            }
            if !known.insert((
                x.uri.as_str(),
                x.suite.as_str(),
                x.component.as_str(),
                x.architecture.as_str(),
            )) {
                return Err(format!(
                    "{at}: duplicate index {} {} {} {}",
                    x.uri, x.suite, x.component, x.architecture
                ));
            }
        }
        let repos: std::collections::BTreeSet<(&str, &str, &str)> =
            known.iter().map(|(u, s, c, _)| (*u, *s, *c)).collect();
        if self.architectures.is_empty() {
            return Err("architectures: no architecture locked".into());
        }
        for (arch, a) in &self.architectures {
            if arch.is_empty() || !arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("architectures: invalid architecture {arch:?}"));
            }
            let mut seen = std::collections::BTreeSet::new();
            for (i, p) in a.packages.iter().enumerate() {
                let at = format!("architectures.{arch}.packages[{i}]");
                PackageName::new(&p.name)
                    .map_err(|_| format!("{at}.name: invalid package name {:?}", p.name))?;
                DebVersion::parse(&p.version).map_err(|e| format!("{at}.version: {e}"))?;
                if p.architecture != "all" && p.architecture != *arch {
                    return Err(format!(
                        "{at}.architecture: {:?} in the {arch} lock",
                        p.architecture
                    ));
                }
                if p.source.is_empty() {
                    return Err(format!("{at}.source: empty"));
                }
                if p.sha256.algorithm() != mbi_core::digest::Algorithm::Sha256 {
                    return Err(format!("{at}.sha256: not a sha256 digest"));
                }
                if p.filename.is_empty()
                    || p.filename.starts_with('/')
                    || p.filename.split('/').any(|c| c == ".." || c.is_empty())
                {
                    return Err(format!(
                        "{at}.filename: {:?} is not a relative archive path",
                        p.filename
                    ));
                }
                if !repos.contains(&(p.uri.as_str(), p.suite.as_str(), p.component.as_str())) {
                    return Err(format!(
                        "{at}: no entry in indexes for {} {} {}",
                        p.uri, p.suite, p.component
                    ));
                }
                if !seen.insert((p.name.as_str(), p.architecture.as_str())) {
                    return Err(format!("{at}: {} ({}) locked twice", p.name, p.architecture));
                }
            }
        }
        Ok(())
    }

    /// The canonical JSON (sorted keys, compact): what [`Lockfile::digest`] hashes.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, Error> {
        Ok(mbi_core::canonical::to_vec(self)?)
    }

    /// Indented JSON with sorted keys and a final newline: the form written to disk.
    pub fn to_pretty_json(&self) -> Result<Vec<u8>, Error> {
        let canonical = self.to_canonical_json()?;
        // Parsing the canonical bytes keeps their (sorted) key order whatever serde_json's
        // map type is.
        let v: serde_json::Value = serde_json::from_slice(&canonical)
            .map_err(|e| mbi_core::Error::Json { what: "lockfile", source: e })?;
        let mut out = serde_json::to_vec_pretty(&v)
            .map_err(|e| mbi_core::Error::Json { what: "lockfile", source: e })?;
        out.push(b'\n');
        Ok(out)
    }

    /// SHA-256 of the canonical JSON.
    pub fn digest(&self) -> Result<Digest, Error> {
        Ok(Digest::sha256(&self.to_canonical_json()?))
    }

    /// A digest of one architecture's package set (names, versions, architectures and file
    /// digests in install order), for image annotations.
    pub fn package_set_digest(&self, arch: &str) -> Option<Digest> {
        let a = self.architectures.get(arch)?;
        let mut text = String::new();
        for p in &a.packages {
            text.push_str(&format!("{} {} {} {}\n", p.name, p.version, p.architecture, p.sha256));
        }
        Some(Digest::sha256(text.as_bytes()))
    }

    /// Writes the lockfile to `path` atomically (temporary file + rename).
    pub fn write(&self, path: &std::path::Path) -> Result<(), Error> {
        let bytes = self.to_pretty_json()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".mbi-lock-")
            .tempfile_in(dir)
            .map_err(|e| mbi_core::Error::io("create temporary file in", dir, e))?;
        std::io::Write::write_all(&mut tmp, &bytes)
            .map_err(|e| mbi_core::Error::io("write", tmp.path(), e))?;
        tmp.persist(path).map_err(|e| mbi_core::Error::io("rename to", path, e.error))?;
        Ok(())
    }

    /// Reads a lockfile from `path`.
    pub fn read(path: &std::path::Path) -> Result<Lockfile, Error> {
        let bytes = std::fs::read(path).map_err(|e| mbi_core::Error::io("read", path, e))?;
        Lockfile::from_json(&bytes, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        let mut l = Lockfile::new(Digest::sha256(b"spec"), "distroless");
        l.source_date_epoch = Some(1_700_000_000);
        l.indexes.push(IndexProvenance {
            uri: "http://deb.example/debian/".into(),
            suite: "bookworm".into(),
            component: "main".into(),
            architecture: "amd64".into(),
            release_file: "InRelease".into(),
            release_digest: Digest::sha256(b"InRelease"),
            signing_key: Some("4D64FEC119C2029067D6E791F8D2585B8783D481".into()),
            primary_key: None,
            date: Some("Sat, 10 Feb 2024 09:40:00 UTC".into()),
            index_path: "main/binary-amd64/Packages".into(),
            index_digest: Digest::sha256(b"Packages"),
        });
        l.architectures.insert(
            "amd64".into(),
            ArchLock {
                packages: vec![LockedPackage {
                    name: "libc6".into(),
                    version: "2.36-9+deb12u4".into(),
                    architecture: "amd64".into(),
                    source: "glibc".into(),
                    sha256: Digest::sha256(b"deb"),
                    size: 2_757_236,
                    filename: "pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb".into(),
                    uri: "http://deb.example/debian/".into(),
                    suite: "bookworm".into(),
                    component: "main".into(),
                }],
            },
        );
        l
    }

    #[test]
    fn entries_say_what_to_download() {
        let l = sample();
        let p = &l.architectures["amd64"].packages[0];
        let f = p.deb_file();
        assert_eq!(
            f.url,
            "http://deb.example/debian/pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb"
        );
        assert_eq!(f.label, "libc6_2.36-9+deb12u4_amd64");
        assert_eq!((f.sha256, f.size), (p.sha256.clone(), p.size));
    }

    #[test]
    fn round_trips_and_is_stable() {
        let l = sample();
        let pretty = l.to_pretty_json().unwrap();
        let back = Lockfile::from_json(&pretty, "t").unwrap();
        assert_eq!(back, l);
        assert_eq!(back.to_pretty_json().unwrap(), pretty);
        let text = String::from_utf8(pretty).unwrap();
        assert!(text.starts_with("{\n  \"architectures\""), "{text}");
        assert!(text.contains("\"lockVersion\": 1"));
        assert_eq!(l.digest().unwrap(), Digest::sha256(&l.to_canonical_json().unwrap()));
        assert_eq!(
            l.architectures["amd64"].packages[0].url(),
            "http://deb.example/debian/pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb"
        );
        assert!(l.package_set_digest("amd64").is_some());
    }

    #[test]
    fn strict_parsing_with_paths() {
        let good = String::from_utf8(sample().to_pretty_json().unwrap()).unwrap();
        let cases = [
            (good.replace("\"lockVersion\": 1", "\"lockVersion\": 2"), "unsupported version 2"),
            (good.replace("\"lockVersion\": 1,", ""), "lockVersion: missing"),
            (good.replace("\"component\"", "\"componnet\""), "unknown field `componnet`"),
            (
                good.replace("\"2.36-9+deb12u4\"", "\"2.36 9\""),
                "architectures.amd64.packages[0].version",
            ),
            (good.replace("pool/main/g/glibc/", "../../etc/"), "packages[0].filename"),
            (
                good.replace(
                    "\"component\": \"main\",\n          \"filename\"",
                    "\"component\": \"contrib\",\n          \"filename\"",
                ),
                "no entry in indexes",
            ),
            (good.replace("\"InRelease\"", "\"Relase\""), "indexes[0].releaseFile"),
            (
                good.replace("4D64FEC119C2029067D6E791F8D2585B8783D481", "nope"),
                "indexes[0].signingKey",
            ),
            (good.replace("Sat, 10 Feb 2024 09:40:00 UTC", "yesterday"), "indexes[0].date"),
            (good.replace("\"variant\": \"distroless\"", "\"variant\": \"tiny\""), "variant"),
            ("{\"lockVersion\": 1".to_owned(), "not valid JSON"),
        ];
        for (text, needle) in cases {
            let e = Lockfile::from_json(text.as_bytes(), "x.lock").unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
            assert!(e.contains("x.lock"));
        }
    }
}
