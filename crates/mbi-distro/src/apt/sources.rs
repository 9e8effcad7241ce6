//! apt sources: deb822 `.sources` files and one-line `sources.list` entries, as typed
//! [`SourceEntry`] values (one per repository URI × suite).
//!
//! ```
//! use mbi_distro::apt::sources::{parse_sources, SignedBy};
//! let text = "Types: deb deb-src\nURIs: http://mirror.example/debian\n\
//!             Suites: bookworm bookworm-updates\nComponents: main\n\
//!             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
//! let entries = parse_sources(text, "example.sources").unwrap();
//! assert_eq!(entries.len(), 2); // deb-src is ignored; one entry per suite
//! assert_eq!(entries[1].suite, "bookworm-updates");
//! assert!(matches!(entries[0].signed_by, Some(SignedBy::Keyrings(_))));
//! let one = parse_sources("deb [arch=amd64,arm64] http://mirror.example/debian bookworm main\n", "x.list").unwrap();
//! assert_eq!(one[0].architectures, ["amd64", "arm64"]);
//! ```

use std::path::{Path, PathBuf};

use crate::Error;
use crate::apt::control::{parse_paragraphs, value_lines};

/// Where a source's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Keyring files (binary `.gpg` or armoured `.asc`).
    Keyrings(Vec<PathBuf>),
    /// An armoured public key block written inline in the `.sources` file.
    Inline(String),
}

/// One configured repository distribution: a base URI and one suite with its components.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceEntry {
    /// Base URI, always ending with `/`.
    pub uri: String,
    /// The suite (`bookworm`, `stable-security`), or for a flat repository a path ending with
    /// `/` (`./`, `dists/flat/`).
    pub suite: String,
    /// Components (empty for flat repositories).
    pub components: Vec<String>,
    /// `Architectures` / `arch=`: empty means "whatever the caller asks for".
    pub architectures: Vec<String>,
    /// `Signed-By` / `signed-by=`.
    pub signed_by: Option<SignedBy>,
    /// `Trusted: yes` / `trusted=yes`: the repository may be unsigned. Honoured only when the
    /// caller also sets `allow_insecure` when refreshing.
    pub trusted: bool,
    /// File and line this entry came from (for messages).
    pub defined_at: String,
}

impl SourceEntry {
    /// A signed entry for `uri`, `suite`, `components`, verified with the keyring files given.
    pub fn new(
        uri: &str,
        suite: &str,
        components: &[&str],
        signed_by: Option<SignedBy>,
    ) -> Result<SourceEntry, Error> {
        let e = SourceEntry {
            uri: normalise_uri(uri).map_err(|r| Error::Config(format!("URI {uri:?}: {r}")))?,
            suite: suite.to_owned(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            architectures: Vec::new(),
            signed_by,
            trusted: false,
            defined_at: "API".into(),
        };
        e.validate().map_err(Error::Config)?;
        Ok(e)
    }

    /// Whether this is a flat repository (`suite` ends with `/`, no components).
    pub fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// The URL of the directory holding `InRelease` / `Release`:
    /// `URI/dists/SUITE/` or, for a flat repository, `URI/SUITE`.
    pub fn dist_url(&self) -> String {
        if self.is_flat() {
            let s = self.suite.trim_start_matches("./");
            format!("{}{}", self.uri, s)
        } else {
            format!("{}dists/{}/", self.uri, self.suite)
        }
    }

    fn validate(&self) -> Result<(), String> {
        let safe = |s: &str| {
            !s.is_empty()
                && !s.split('/').any(|c| c == "..")
                && !s.starts_with('/')
                && s.bytes().all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
        };
        if !safe(&self.suite) {
            return Err(format!("invalid suite {:?}", self.suite));
        }
        if self.is_flat() {
            if !self.components.is_empty() {
                return Err("a flat repository (suite ending with '/') takes no components".into());
            }
        } else if self.components.is_empty() {
            return Err("no components".into());
        }
        for c in &self.components {
            if !safe(c) {
                return Err(format!("invalid component {c:?}"));
            }
        }
        for a in &self.architectures {
            if a.is_empty() || !a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(format!("invalid architecture {a:?}"));
            }
        }
        Ok(())
    }
}

fn normalise_uri(uri: &str) -> Result<String, &'static str> {
    let lower = uri.to_ascii_lowercase();
    if !(lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("file:/"))
    {
        return Err("only http, https and file URIs are supported");
    }
    if uri.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("URI contains spaces or non-ASCII characters");
    }
    let mut u = uri.to_owned();
    if !u.ends_with('/') {
        u.push('/');
    }
    Ok(u)
}

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Some(true),
        "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parses sources text in either syntax: one-line `sources.list` if a non-comment line starts
/// with `deb` or `deb-src` followed by whitespace, deb822 otherwise. `context` names the text
/// in errors.
pub fn parse_sources(text: &str, context: &str) -> Result<Vec<SourceEntry>, Error> {
    let one_line = text.lines().map(str::trim_start).any(|l| {
        l.strip_prefix("deb-src")
            .or_else(|| l.strip_prefix("deb"))
            .is_some_and(|r| r.starts_with([' ', '\t']))
    });
    if one_line { parse_sources_list(text, context) } else { parse_deb822_sources(text, context) }
}

/// Parses a deb822 `.sources` file. Stanzas with `Enabled: no` and `Types` without `deb` give
/// no entries; each URI × suite gives one.
pub fn parse_deb822_sources(text: &str, context: &str) -> Result<Vec<SourceEntry>, Error> {
    let mut out = Vec::new();
    for para in parse_paragraphs(text, context, true)? {
        let line = para.line();
        let err = |line: usize, reason: String| Error::Source {
            context: context.to_owned(),
            line,
            reason,
        };
        let field_line = |n: &str| para.field(n).map_or(line, |f| f.line);
        if let Some(v) = para.get("Enabled") {
            match yes_no(v) {
                Some(false) => continue,
                Some(true) => {}
                None => return Err(err(field_line("Enabled"), format!("Enabled: {v:?}"))),
            }
        }
        let types = para.get("Types").ok_or_else(|| err(line, "missing Types".into()))?;
        let types: Vec<&str> = types.split_ascii_whitespace().collect();
        for t in &types {
            if !matches!(*t, "deb" | "deb-src") {
                return Err(err(field_line("Types"), format!("unknown type {t:?}")));
            }
        }
        if !types.contains(&"deb") {
            continue;
        }
        let uris = para.get("URIs").ok_or_else(|| err(line, "missing URIs".into()))?;
        let suites = para.get("Suites").ok_or_else(|| err(line, "missing Suites".into()))?;
        let components: Vec<String> = para
            .get("Components")
            .map(|c| c.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let architectures: Vec<String> = para
            .get("Architectures")
            .map(|c| c.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let trusted = match para.get("Trusted") {
            None => false,
            Some(v) => {
                yes_no(v).ok_or_else(|| err(field_line("Trusted"), format!("Trusted: {v:?}")))?
            }
        };
        let signed_by = match para.field("Signed-By") {
            None => None,
            Some(f) => Some(parse_signed_by(f.value).map_err(|r| err(f.line, r))?),
        };
        for uri in uris.split_ascii_whitespace() {
            let uri =
                normalise_uri(uri).map_err(|r| err(field_line("URIs"), format!("{uri}: {r}")))?;
            for suite in suites.split_ascii_whitespace() {
                let e = SourceEntry {
                    uri: uri.clone(),
                    suite: suite.to_owned(),
                    components: components.clone(),
                    architectures: architectures.clone(),
                    signed_by: signed_by.clone(),
                    trusted,
                    defined_at: format!("{context}:{line}"),
                };
                e.validate().map_err(|r| err(line, r))?;
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn parse_signed_by(value: &str) -> Result<SignedBy, String> {
    if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        // deb822 multi-line value: strip the one leading space per line, `.` means empty line.
        let mut armour = String::new();
        for l in value_lines(value) {
            if l.is_empty() && armour.is_empty() {
                continue;
            }
            armour.push_str(l);
            armour.push('\n');
        }
        return Ok(SignedBy::Inline(armour));
    }
    let items: Vec<&str> = value.split([' ', '\t', '\n', ',']).filter(|s| !s.is_empty()).collect();
    if items.is_empty() {
        return Err("empty Signed-By".into());
    }
    let mut paths = Vec::new();
    for it in items {
        if it.starts_with('/') {
            paths.push(PathBuf::from(it));
        } else {
            return Err(format!(
                "Signed-By {it:?}: only absolute keyring paths and inline keys are supported \
                 (fingerprints are not)"
            ));
        }
    }
    Ok(SignedBy::Keyrings(paths))
}

/// Parses one-line `sources.list` syntax:
/// `deb [opt=value …] URI suite [component …]`. `deb-src` lines are ignored.
pub fn parse_sources_list(text: &str, context: &str) -> Result<Vec<SourceEntry>, Error> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |reason: String| Error::Source { context: context.to_owned(), line, reason };
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let (kind, mut rest) = l.split_once([' ', '\t']).unwrap_or((l, ""));
        match kind {
            "deb" => {}
            "deb-src" => continue,
            k => return Err(err(format!("unknown type {k:?} (expected deb or deb-src)"))),
        }
        rest = rest.trim_start();
        let mut architectures = Vec::new();
        let mut signed_by = None;
        let mut trusted = false;
        if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| err("unclosed '['".into()))?;
            for opt in r[..close].split_ascii_whitespace() {
                let (k, v) =
                    opt.split_once('=').ok_or_else(|| err(format!("option {opt:?} lacks '='")))?;
                match k {
                    "arch" => architectures = v.split(',').map(str::to_owned).collect(),
                    "signed-by" => signed_by = Some(parse_signed_by(v).map_err(&err)?),
                    "trusted" => {
                        trusted = yes_no(v).ok_or_else(|| err(format!("trusted={v:?}")))?
                    }
                    // Options that do not change what is fetched for binary packages.
                    "lang"
                    | "target"
                    | "pdiffs"
                    | "by-hash"
                    | "allow-insecure"
                    | "allow-weak"
                    | "allow-downgrade-to-insecure"
                    | "check-valid-until"
                    | "check-date"
                    | "inrelease-path" => {}
                    _ => return Err(err(format!("unsupported option {k:?}"))),
                }
            }
            rest = &r[close + 1..];
        }
        let mut words = rest.split_ascii_whitespace();
        let uri = words.next().ok_or_else(|| err("missing URI".into()))?;
        let suite = words.next().ok_or_else(|| err("missing suite".into()))?;
        let e = SourceEntry {
            uri: normalise_uri(uri).map_err(|r| err(format!("{uri}: {r}")))?,
            suite: suite.to_owned(),
            components: words.map(str::to_owned).collect(),
            architectures,
            signed_by,
            trusted,
            defined_at: format!("{context}:{line}"),
        };
        e.validate().map_err(err)?;
        out.push(e);
    }
    Ok(out)
}

/// Loads a host's apt sources below `root` (pass `/` for the running system):
/// `etc/apt/sources.list`, then `etc/apt/sources.list.d/*.list` and `*.sources` in name
/// order, as apt reads them. Missing files are not an error; unreadable ones are.
pub fn load_host_sources(root: &Path) -> Result<Vec<SourceEntry>, Error> {
    let mut files = Vec::new();
    let main = root.join("etc/apt/sources.list");
    if main.is_file() {
        files.push(main);
    }
    let dir = root.join("etc/apt/sources.list.d");
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            let mut parts = Vec::new();
            for ent in rd {
                let ent = ent.map_err(|e| Error::io("read directory", &dir, e))?;
                let p = ent.path();
                let name = ent.file_name();
                let name = name.to_string_lossy();
                if (name.ends_with(".list") || name.ends_with(".sources")) && p.is_file() {
                    parts.push(p);
                }
            }
            parts.sort();
            files.extend(parts);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read directory", &dir, e)),
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::io("read", &f, e))?;
        let ctx = f.display().to_string();
        if f.extension().is_some_and(|e| e == "sources") {
            out.extend(parse_deb822_sources(&text, &ctx)?);
        } else {
            out.extend(parse_sources_list(&text, &ctx)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_full() {
        let t = "# comment\nTypes: deb\nURIs: http://a.example/debian https://b.example/d/\n\
                 Suites: stable stable-updates\nComponents: main contrib\n\
                 Architectures: amd64 arm64\nSigned-By: /k/one.gpg\n  /k/two.asc\n\n\
                 Types: deb-src\nURIs: http://a.example/debian\nSuites: stable\nComponents: main\n\n\
                 Enabled: no\nTypes: deb\nURIs: http://c.example/\nSuites: x\nComponents: main\n\n\
                 Types: deb\nURIs: http://d.example/repo\nSuites: ./\nTrusted: yes\n";
        let e = parse_deb822_sources(t, "t.sources").unwrap();
        assert_eq!(e.len(), 5);
        assert_eq!(e[0].uri, "http://a.example/debian/");
        assert_eq!(e[3].uri, "https://b.example/d/");
        assert_eq!(e[3].suite, "stable-updates");
        assert_eq!(e[0].components, ["main", "contrib"]);
        assert_eq!(
            e[0].signed_by,
            Some(SignedBy::Keyrings(vec!["/k/one.gpg".into(), "/k/two.asc".into()]))
        );
        assert!(e[4].is_flat() && e[4].trusted && e[4].components.is_empty());
        assert_eq!(e[4].dist_url(), "http://d.example/repo/");
        assert_eq!(e[0].dist_url(), "http://a.example/debian/dists/stable/");
        assert_eq!(e[0].defined_at, "t.sources:2");
    }

    #[test]
    fn inline_key() {
        let t = "Types: deb\nURIs: http://a.example/\nSuites: s\nComponents: main\n\
                 Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGSx\n =abcd\n \
                 -----END PGP PUBLIC KEY BLOCK-----\n";
        let e = parse_deb822_sources(t, "t").unwrap();
        let Some(SignedBy::Inline(k)) = &e[0].signed_by else { panic!() };
        assert_eq!(
            k,
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGSx\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
        );
    }

    #[test]
    fn one_line() {
        let t = "# x\ndeb [ arch=amd64 signed-by=/usr/share/keyrings/k.gpg trusted=yes ] \
                 http://m.example/debian bookworm main contrib # trailing\n\
                 deb-src http://m.example/debian bookworm main\n\
                 deb http://m.example/flat ./\n";
        let e = parse_sources_list(t, "s.list").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].architectures, ["amd64"]);
        assert!(e[0].trusted);
        assert_eq!(e[0].components, ["main", "contrib"]);
        assert_eq!(e[0].defined_at, "s.list:2");
        assert!(e[1].is_flat());
    }

    #[test]
    fn refusals_name_the_line() {
        for (t, want) in [
            ("deb http://x/ s\n", "no components"),
            ("deb ftp://x/ s main\n", "only http"),
            ("deb [arch=amd64 http://x/ s main\n", "unclosed"),
            ("rpm http://x/ s main\n", "unknown type"),
            ("deb [foo=bar] http://x/ s main\n", "unsupported option"),
            ("deb http://x/ ../../etc main\n", "invalid suite"),
            ("deb [signed-by=ABCDEF] http://x/ s main\n", "fingerprints"),
        ] {
            let e = parse_sources_list(t, "f").unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("line 1"), "{t}: {e}");
        }
        let e = parse_deb822_sources("Types: deb\nURIs: http://x/\nComponents: main\n", "f")
            .unwrap_err();
        assert!(e.to_string().contains("missing Suites"), "{e}");
        assert!(
            parse_deb822_sources("Types: deb\nURIs: http://x/\nSuites: ./\nComponents: m\n", "f")
                .is_err()
        );
    }

    #[test]
    fn host_sources_from_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/apt/sources.list.d")).unwrap();
        std::fs::write(d.path().join("etc/apt/sources.list"), "deb http://a/ s main\n").unwrap();
        std::fs::write(
            d.path().join("etc/apt/sources.list.d/b.sources"),
            "Types: deb\nURIs: http://b/\nSuites: s\nComponents: main\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/apt/sources.list.d/a.list"), "deb http://c/ s main\n")
            .unwrap();
        std::fs::write(d.path().join("etc/apt/sources.list.d/ignored.txt"), "garbage").unwrap();
        let e = load_host_sources(d.path()).unwrap();
        let uris: Vec<_> = e.iter().map(|e| e.uri.as_str()).collect();
        assert_eq!(uris, ["http://a/", "http://c/", "http://b/"]);
        assert!(load_host_sources(&d.path().join("nothing")).unwrap().is_empty());
    }
}
