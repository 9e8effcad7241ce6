//! The build spec: a small YAML file saying which image to build, apko-style.
//!
//! ```yaml
//! # Where packages come from: deb822 text, one-line sources.list text, or a path to a
//! # .sources / .list file (relative to the spec). Omitted: the host's apt sources.
//! sources: |
//!   Types: deb
//!   URIs: http://127.0.0.1:8765/
//!   Suites: stable
//!   Components: main
//!   Signed-By: /abs/path/key.gpg
//! keyrings: [/usr/share/keyrings/debian-archive-keyring.gpg]  # for sources without Signed-By
//! variant: distroless          # essential | apt | minbase | distroless
//! packages: [ca-certificates, tzdata]
//! exclude: []                  # packages never to install (the resolver must do without)
//! architectures: [amd64, arm64]
//! recommends: false            # install Recommends too (apt's default is true; ours false)
//! accounts:                    # extra users (distroless always has root, nobody, nonroot)
//!   - {name: app, uid: 1000, gid: 1000, home: /home/app, shell: /bin/sh}
//! entrypoint: [/usr/bin/app]
//! cmd: [--help]
//! env: {LANG: C.UTF-8}
//! workdir: /home/app
//! user: "65532"
//! layering: single             # single | per-source | budget:N
//! compression: zstd            # gzip[:level] | zstd[:level]
//! files:                       # extra files, placed last
//!   - {path: /etc/app.conf, content: "x=1\n", mode: "0644"}
//!   - {path: /usr/local/bin/tool, source: ./tool, mode: "0755"}
//! annotations: {org.opencontainers.image.vendor: Example}
//! source_date_epoch: 1700000000   # else SOURCE_DATE_EPOCH, else the newest Release Date
//! timezone: Etc/UTC
//! scripts: auto                # auto | emulate | run   (full images; distroless emulates)
//! ```
//!
//! Every key but `variant` is optional. Unknown keys are refused with their name and line,
//! as are malformed values ([`Error::Spec`]). [`Spec::digest`] hashes the parsed spec
//! canonically, so the lockfile can tell whether it still matches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mbi_core::Digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;
use crate::apt::layering::Layering;
use crate::apt::scripts::Account;
use crate::apt::sources::{SourceEntry, load_host_sources, parse_sources};

/// Which packages make the base of the image: the resolver's variants, as mmdebstrap's
/// `--variant` (`essential`, `apt`, `minbase`, `important`, `standard`) plus `distroless`.
pub use crate::apt::Variant;

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionSpec {
    /// gzip at a level (default 6).
    Gzip(u32),
    /// zstd at a level (default 3).
    Zstd(i32),
    /// Uncompressed layers.
    None,
}

impl Default for CompressionSpec {
    fn default() -> Self {
        CompressionSpec::Gzip(6)
    }
}

impl FromStr for CompressionSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (s, None),
        };
        let bad = || {
            let z = mbi_layer::LayerCompression::ZSTD_LEVELS;
            format!(
                "invalid compression {s:?}: expected gzip[:1-9], zstd[:{}-{}] or none",
                z.start(),
                z.end()
            )
        };
        match name {
            "gzip" => {
                let l = level.map_or(Ok(6), |l| l.parse().map_err(|_| bad()))?;
                if !(1..=9).contains(&l) {
                    return Err(bad());
                }
                Ok(CompressionSpec::Gzip(l))
            }
            "zstd" => {
                let l = level.map_or(Ok(3), |l| l.parse().map_err(|_| bad()))?;
                if !mbi_layer::LayerCompression::ZSTD_LEVELS.contains(&l) {
                    return Err(bad());
                }
                Ok(CompressionSpec::Zstd(l))
            }
            "none" if level.is_none() => Ok(CompressionSpec::None),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for CompressionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompressionSpec::Gzip(l) => write!(f, "gzip:{l}"),
            CompressionSpec::Zstd(l) => write!(f, "zstd:{l}"),
            CompressionSpec::None => f.write_str("none"),
        }
    }
}

/// What to do with maintainer scripts of full images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ScriptsSpec {
    /// Run them when the host allows (root or user namespaces), else emulate.
    #[default]
    Auto,
    /// Emulate known effects only.
    Emulate,
    /// Run them; fail if the host cannot.
    Run,
}

/// An extra file to place in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute path in the image.
    pub path: String,
    /// Inline content (exclusive with `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A host file to copy (relative to the spec's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    /// A symlink target (exclusive with `content` and `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink: Option<String>,
    /// Octal mode as a string (`"0644"`); default 0644 (0755 for directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Owner (default 0).
    #[serde(default)]
    pub uid: u32,
    /// Group (default 0).
    #[serde(default)]
    pub gid: u32,
}

/// A parsed, validated build spec. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// deb822 or one-line sources text, or a path to a `.sources`/`.list` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<String>,
    /// Keyrings for sources without `Signed-By`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyrings: Vec<PathBuf>,
    /// The package-set variant.
    pub variant: Variant,
    /// Packages to install (besides the variant's).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Packages never to install.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Architectures to build (empty: the caller's native architecture).
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Install `Recommends` too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recommends: bool,
    /// Extra accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Account>,
    /// Image entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Image command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Environment variables (added to the defaults: PATH, and SSL_CERT_FILE for distroless).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// User (name, or `uid` / `uid:gid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Layer split.
    #[serde(
        default,
        serialize_with = "ser_display",
        deserialize_with = "de_from_str",
        skip_serializing_if = "is_default"
    )]
    pub layering: Layering,
    /// Layer compression.
    #[serde(
        default,
        serialize_with = "ser_display",
        deserialize_with = "de_from_str",
        skip_serializing_if = "is_default"
    )]
    pub compression: CompressionSpec,
    /// Extra files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Image annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fixed timestamp for the image (else the caller's `SOURCE_DATE_EPOCH` or the newest
    /// Release Date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
    /// tzdata's configured zone (default `Etc/UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Maintainer scripts of full images.
    #[serde(default, skip_serializing_if = "is_default")]
    pub scripts: ScriptsSpec,
    /// Force merged-/usr on or off (default: decided from the packages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_usr: Option<bool>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn ser_display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn de_from_str<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: std::fmt::Display,
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// The sources a spec names, resolved.
#[derive(Debug, Clone)]
pub struct ResolvedSources {
    /// The repository entries.
    pub entries: Vec<SourceEntry>,
    /// Where they came from (`<inline>`, a file, or `host:/etc/apt/…`).
    pub origin: String,
}

impl Spec {
    /// Parses a spec from YAML text. `file` names it in errors; relative paths in the spec are
    /// resolved against its directory by [`Spec::load`].
    pub fn from_yaml(text: &str, file: &str) -> Result<Spec, Error> {
        let spec: Spec = serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            let mut reason = e.to_string();
            if let Some(i) = reason.find(" at line ") {
                reason.truncate(i);
            }
            Error::Spec { file: file.to_owned(), line, reason }
        })?;
        spec.validate(text, file)?;
        Ok(spec)
    }

    /// Reads and parses a spec file; relative paths (sources, keyrings, file sources) become
    /// relative to the spec's directory.
    pub fn load(path: &Path) -> Result<Spec, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| mbi_core::Error::io("read", path, e))?;
        let mut spec = Spec::from_yaml(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(s) = &spec.sources
            && !looks_inline(s)
            && Path::new(s).is_relative()
        {
            spec.sources = Some(base.join(s).display().to_string());
        }
        for k in &mut spec.keyrings {
            if k.is_relative() {
                *k = base.join(&*k);
            }
        }
        for f in &mut spec.files {
            if let Some(src) = &f.source
                && src.is_relative()
            {
                f.source = Some(base.join(src));
            }
        }
        Ok(spec)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), Error> {
        let err = |key: &str, reason: String| Error::Spec {
            file: file.to_owned(),
            line: line_of(text, key),
            reason,
        };
        for (key, list) in [("packages", &self.packages), ("exclude", &self.exclude)] {
            for p in list {
                crate::apt::PackageName::new(p)
                    .map_err(|_| err(key, format!("{key}: invalid package name {p:?}")))?;
            }
        }
        if self.variant == Variant::Distroless && self.packages.is_empty() {
            return Err(err("variant", "a distroless image needs at least one package".into()));
        }
        for a in &self.architectures {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(err("architectures", format!("invalid architecture {a:?}")));
            }
        }
        for (i, f) in self.files.iter().enumerate() {
            if !f.path.starts_with('/') || f.path.split('/').any(|c| c == "..") {
                return Err(err(
                    "files",
                    format!("files[{i}].path {:?} must be absolute, without '..'", f.path),
                ));
            }
            let n = usize::from(f.content.is_some())
                + usize::from(f.source.is_some())
                + usize::from(f.symlink.is_some());
            if n > 1 {
                return Err(err(
                    "files",
                    format!("files[{i}] ({}): give only one of content, source, symlink", f.path),
                ));
            }
            if let Some(m) = &f.mode
                && u32::from_str_radix(m.trim_start_matches("0o"), 8).map_or(true, |m| m > 0o7777)
            {
                return Err(err("files", format!("files[{i}].mode {m:?} is not an octal mode")));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if a.name.is_empty() || a.name.contains([':', '\n', '/']) || !names.insert(&a.name) {
                return Err(err(
                    "accounts",
                    format!("invalid or duplicate account name {:?}", a.name),
                ));
            }
        }
        if let Some(u) = &self.user
            && u.is_empty()
        {
            return Err(err("user", "user must not be empty".into()));
        }
        if let Some(w) = &self.workdir
            && !w.starts_with('/')
        {
            return Err(err("workdir", format!("workdir {w:?} must be absolute")));
        }
        Ok(())
    }

    /// Expands `${NAME}` references in `sources` and `keyrings` with `lookup` (the CLI passes
    /// the environment; the library reads none). `$$` is a literal `$`. An undefined name is
    /// an error naming it.
    pub fn expand_vars(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let expand = |s: &str| -> Result<String, Error> {
            let mut out = String::with_capacity(s.len());
            let mut rest = s;
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                if let Some(r) = after.strip_prefix('$') {
                    out.push('$');
                    rest = r;
                } else if let Some(r) = after.strip_prefix('{') {
                    let end = r.find('}').ok_or_else(|| Error::Spec {
                        file: "<spec>".into(),
                        line: None,
                        reason: format!("unterminated ${{ in {s:?}"),
                    })?;
                    let name = &r[..end];
                    let v = lookup(name).ok_or_else(|| Error::Spec {
                        file: "<spec>".into(),
                        line: None,
                        reason: format!("variable {name} is not set"),
                    })?;
                    out.push_str(&v);
                    rest = &r[end + 1..];
                } else {
                    out.push('$');
                    rest = after;
                }
            }
            out.push_str(rest);
            Ok(out)
        };
        if let Some(src) = &self.sources {
            self.sources = Some(expand(src)?);
        }
        for k in &mut self.keyrings {
            *k = PathBuf::from(expand(&k.to_string_lossy())?);
        }
        Ok(())
    }

    /// The canonical digest of the parsed spec (formatting and comments do not count).
    pub fn digest(&self) -> Result<Digest, Error> {
        Ok(Digest::sha256(&mbi_core::canonical::to_vec(self)?))
    }

    /// The architectures to build, or `[native]` when the spec lists none.
    pub fn architectures_or(&self, native: &str) -> Vec<String> {
        if self.architectures.is_empty() {
            vec![native.to_owned()]
        } else {
            self.architectures.clone()
        }
    }

    /// The sources: the spec's inline text or file, else the host's apt sources below
    /// `host_root` (`/` normally).
    pub fn resolve_sources(&self, host_root: &Path) -> Result<ResolvedSources, Error> {
        match &self.sources {
            Some(s) if looks_inline(s) => Ok(ResolvedSources {
                entries: parse_sources(s, "<spec sources>")?,
                origin: "<inline>".into(),
            }),
            Some(path) => {
                let p = Path::new(path);
                let text =
                    std::fs::read_to_string(p).map_err(|e| mbi_core::Error::io("read", p, e))?;
                let entries = if p.extension().is_some_and(|e| e == "sources") {
                    crate::apt::sources::parse_deb822_sources(&text, path)?
                } else if p.extension().is_some_and(|e| e == "list") {
                    crate::apt::sources::parse_sources_list(&text, path)?
                } else {
                    parse_sources(&text, path)?
                };
                Ok(ResolvedSources { entries, origin: path.clone() })
            }
            None => Ok(ResolvedSources {
                entries: load_host_sources(host_root)?,
                origin: format!("host:{}", host_root.join("etc/apt").display()),
            }),
        }
    }

    /// The installer options this spec asks for, for one architecture: flavour from the
    /// variant, accounts, time zone, merged-/usr, extra files, and the script policy
    /// (`auto`: run when [`crate::apt::scripts::probe_isolation`] finds a way, else emulate;
    /// `run`: an error if the host cannot).
    pub fn install_options(
        &self,
        arch: &str,
        spool_dir: &Path,
        source_date_epoch: i64,
    ) -> Result<crate::apt::install::InstallOptions, Error> {
        use crate::apt::install::{InstallOptions, MergedUsr};
        use crate::apt::scripts::{ScriptPolicy, probe_isolation};
        let scripts = match self.scripts {
            ScriptsSpec::Emulate => ScriptPolicy::Emulate,
            ScriptsSpec::Auto => ScriptPolicy::auto(),
            ScriptsSpec::Run => ScriptPolicy::Run(probe_isolation().ok_or_else(|| Error::Spec {
                file: "<spec>".into(),
                line: None,
                reason: "scripts: run, but this host can neither chroot (root) nor create user namespaces".into(),
            })?),
        };
        let mut o = InstallOptions::new(arch, spool_dir)
            .flavour(self.variant.flavour())
            .scripts(scripts)
            .source_date_epoch(source_date_epoch)
            .merged_usr(match self.merged_usr {
                None => MergedUsr::Auto,
                Some(true) => MergedUsr::Yes,
                Some(false) => MergedUsr::No,
            });
        if let Some(tz) = &self.timezone {
            o = o.timezone(tz.clone());
        }
        for a in &self.accounts {
            o = o.account(a.clone());
        }
        for f in self.extra_files()? {
            o = o.extra_file(f);
        }
        Ok(o)
    }

    /// The extra files as installer entries (reading `source` files).
    pub fn extra_files(&self) -> Result<Vec<crate::apt::install::NewEntry>, Error> {
        use crate::apt::install::{NewEntry, NewNode};
        let mut out = Vec::new();
        for f in &self.files {
            let path = f.path.trim_start_matches('/').to_owned();
            let (node, default_mode) = if let Some(t) = &f.symlink {
                (NewNode::Symlink(t.clone()), 0o777)
            } else if let Some(src) = &f.source {
                let data = std::fs::read(src).map_err(|e| mbi_core::Error::io("read", src, e))?;
                (NewNode::File(data), 0o644)
            } else if let Some(c) = &f.content {
                (NewNode::File(c.clone().into_bytes()), 0o644)
            } else {
                (NewNode::Directory, 0o755)
            };
            let mode = match &f.mode {
                Some(m) => {
                    u32::from_str_radix(m.trim_start_matches("0o"), 8).unwrap_or(default_mode)
                }
                None => default_mode,
            };
            out.push(NewEntry { path, node, mode, uid: f.uid, gid: f.gid });
        }
        Ok(out)
    }
}

fn looks_inline(s: &str) -> bool {
    s.contains('\n') || s.trim_start().starts_with("Types:") || s.trim_start().starts_with("deb ")
}

/// The 1-based line where top-level `key:` appears, if it does.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_levels_are_those_a_layer_can_be_written_at() {
        assert_eq!("zstd:19".parse::<CompressionSpec>(), Ok(CompressionSpec::Zstd(19)));
        assert_eq!("zstd:1".parse::<CompressionSpec>(), Ok(CompressionSpec::Zstd(1)));
        // Refused here, not after the packages were fetched and installed.
        for bad in ["zstd:20", "zstd:22", "zstd:0", "zstd:-1"] {
            let e = bad.parse::<CompressionSpec>().unwrap_err();
            assert!(e.contains("zstd[:1-19]"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let doc = include_str!("spec.rs");
        let start = doc.find("//! ```yaml\n").unwrap() + 12;
        let end = doc[start..].find("//! ```\n").unwrap() + start;
        let yaml: String = doc[start..end]
            .lines()
            .map(|l| l.strip_prefix("//! ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let s = Spec::from_yaml(&yaml, "doc").unwrap();
        assert_eq!(s.variant, Variant::Distroless);
        assert_eq!(s.architectures, ["amd64", "arm64"]);
        assert_eq!(s.compression, CompressionSpec::Zstd(3));
        assert_eq!(s.accounts[0].shell, "/bin/sh");
        assert_eq!(s.files[1].source.as_deref(), Some(Path::new("./tool")));
        assert!(s.resolve_sources(Path::new("/nonexistent")).unwrap().entries.len() == 1);
    }

    #[test]
    fn unknown_keys_name_key_and_line() {
        let err =
            Spec::from_yaml("variant: apt\npackages: [a]\npakages: [b]\n", "s.yaml").unwrap_err();
        match err {
            Error::Spec { file, line, reason } => {
                assert_eq!(file, "s.yaml");
                assert_eq!(line, Some(3));
                assert!(reason.contains("unknown field `pakages`"), "{reason}");
            }
            other => panic!("{other}"),
        }
        let err = Spec::from_yaml(
            "variant: apt\naccounts:\n  - {name: a, uid: 1, gid: 1, shel: x}\n",
            "s",
        )
        .unwrap_err();
        assert!(err.to_string().contains("shel"), "{err}");
    }

    #[test]
    fn bad_values() {
        for (yaml, needle) in [
            ("variant: fancy\n", "fancy"),
            ("packages: [a]\n", "variant"),
            ("variant: apt\ncompression: lzma\n", "compression"),
            ("variant: apt\nlayering: budget:0\n", "layering"),
            ("variant: apt\npackages: [\"Bad_Name\"]\n", "Bad_Name"),
            ("variant: distroless\n", "at least one package"),
            ("variant: apt\nfiles: [{path: relative}]\n", "absolute"),
            ("variant: apt\nfiles: [{path: /x, mode: \"999\"}]\n", "octal"),
            ("variant: apt\nworkdir: rel\n", "absolute"),
            ("variant: apt\nsource_date_epoch: soon\n", "source_date_epoch"),
        ] {
            let e = Spec::from_yaml(yaml, "s").unwrap_err().to_string();
            assert!(e.contains(needle), "{yaml:?}: {e}");
        }
    }

    #[test]
    fn expands_variables_from_the_caller() {
        let mut s = Spec::from_yaml(
            "variant: apt\nsources: |\n  Types: deb\n  URIs: ${MIRROR}/ubuntu\n  Suites: noble\n  Components: main\n  Signed-By: ${KEY}\nkeyrings: [\"${KEY}\"]\n",
            "s",
        )
        .unwrap();
        let vars = |k: &str| match k {
            "MIRROR" => Some("http://mirror.example".to_owned()),
            "KEY" => Some("/k.gpg".to_owned()),
            _ => None,
        };
        s.expand_vars(vars).unwrap();
        assert!(s.sources.as_deref().unwrap().contains("URIs: http://mirror.example/ubuntu\n"));
        assert_eq!(s.keyrings[0], Path::new("/k.gpg"));
        let mut t =
            Spec::from_yaml("variant: apt\nsources: \"deb ${NOPE} x main\"\n", "t").unwrap();
        assert!(t.expand_vars(vars).unwrap_err().to_string().contains("NOPE"));
    }

    #[test]
    fn digest_ignores_formatting() {
        let a = Spec::from_yaml("variant: apt\npackages: [curl]\n", "a").unwrap();
        let b = Spec::from_yaml("# comment\nvariant:   apt\npackages:\n  - curl\n", "b").unwrap();
        assert_eq!(a.digest().unwrap(), b.digest().unwrap());
        let c = Spec::from_yaml("variant: apt\npackages: [wget]\n", "c").unwrap();
        assert_ne!(a.digest().unwrap(), c.digest().unwrap());
    }
}
