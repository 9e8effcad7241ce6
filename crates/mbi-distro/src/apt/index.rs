//! The fast `Packages` index parser: bytes in, [`BinaryPackage`] records with parsed relations
//! out, in file order.
//!
//! It scans lines with `memchr`, looks only at the fields mbi needs, borrows values from the
//! input until a record is built, and splits large inputs at stanza boundaries to parse the
//! chunks on several threads; the output never depends on the thread count.
//!
//! ```
//! use std::sync::Arc;
//! use mbi_distro::apt::{IndexOrigin, index::{parse_packages, ParseOptions}};
//! let text = b"Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
//! Depends: libc6 (>= 2.34)\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 53\n\
//! SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
//! let origin = Arc::new(IndexOrigin { uri: "http://m.example/debian/".into(),
//!     suite: "stable".into(), component: "main".into() });
//! let pkgs = parse_packages(text, &origin, "example", &ParseOptions::default()).unwrap();
//! assert_eq!(pkgs[0].name.as_str(), "hello");
//! assert_eq!(pkgs[0].depends[0].to_string(), "libc6 (>= 2.34)");
//! ```

use std::sync::Arc;

use mbi_core::Digest;
use memchr::memchr;

use crate::Error;
use crate::apt::package::{BinaryPackage, IndexOrigin, MultiArch, Priority};
use crate::apt::relation::{
    Alternatives, ArchQualifier, PackageName, Relation, VersionOp, parse_relation_list,
    parse_relations,
};
use crate::apt::version::DebVersion;

/// Options for [`parse_packages`].
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Worker threads; 0 means the machine's available parallelism (at most 8). Inputs under
    /// 1 MiB are always parsed on the calling thread. The result is the same for any value.
    pub threads: usize,
}

const NAMES: [&str; 19] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Essential",
    "Priority",
    "Section",
    "Source",
    "Pre-Depends",
    "Depends",
    "Recommends",
    "Conflicts",
    "Breaks",
    "Provides",
    "Replaces",
    "Filename",
    "Size",
    "SHA256",
    "Installed-Size",
];
const F_PACKAGE: usize = 0;
const F_VERSION: usize = 1;
const F_ARCH: usize = 2;
const F_MULTIARCH: usize = 3;
const F_ESSENTIAL: usize = 4;
const F_PRIORITY: usize = 5;
const F_SECTION: usize = 6;
const F_SOURCE: usize = 7;
const F_PREDEPENDS: usize = 8;
const F_DEPENDS: usize = 9;
const F_RECOMMENDS: usize = 10;
const F_CONFLICTS: usize = 11;
const F_BREAKS: usize = 12;
const F_PROVIDES: usize = 13;
const F_REPLACES: usize = 14;
const F_FILENAME: usize = 15;
const F_SIZE: usize = 16;
const F_SHA256: usize = 17;
const F_INSTALLED_SIZE: usize = 18;
const NF: usize = NAMES.len();

#[inline]
fn field_id(name: &[u8]) -> Option<usize> {
    let id = match name {
        b"Package" => F_PACKAGE,
        b"Version" => F_VERSION,
        b"Architecture" => F_ARCH,
        b"Multi-Arch" => F_MULTIARCH,
        b"Essential" => F_ESSENTIAL,
        b"Priority" => F_PRIORITY,
        b"Section" => F_SECTION,
        b"Source" => F_SOURCE,
        b"Pre-Depends" => F_PREDEPENDS,
        b"Depends" => F_DEPENDS,
        b"Recommends" => F_RECOMMENDS,
        b"Conflicts" => F_CONFLICTS,
        b"Breaks" => F_BREAKS,
        b"Provides" => F_PROVIDES,
        b"Replaces" => F_REPLACES,
        b"Filename" => F_FILENAME,
        b"Size" => F_SIZE,
        b"SHA256" => F_SHA256,
        b"Installed-Size" => F_INSTALLED_SIZE,
        // Field names are case-insensitive; canonical spelling is the fast path above.
        _ => return NAMES.iter().position(|n| n.as_bytes().eq_ignore_ascii_case(name)),
    };
    Some(id)
}

/// A parse failure before it is given a line number (offsets are absolute in the input).
struct RawError {
    offset: usize,
    package: Option<String>,
    field: Option<&'static str>,
    reason: String,
}

/// Parses a whole `Packages` index. Every record gets `origin`. `context` (e.g. the index URL)
/// names the document in errors, which also give the line, package and field.
pub fn parse_packages(
    data: &[u8],
    origin: &Arc<IndexOrigin>,
    context: &str,
    options: &ParseOptions,
) -> Result<Vec<BinaryPackage>, Error> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(8),
        n => n,
    };
    let chunks = split_chunks(data, if data.len() < (1 << 20) { 1 } else { threads });
    let result = if chunks.len() == 1 {
        let mut out = Vec::with_capacity(estimate(data.len()));
        parse_chunk(data, 0, origin, &mut out).map(|()| out)
    } else {
        let parts: Vec<Result<Vec<BinaryPackage>, RawError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(start, end)| {
                    s.spawn(move || {
                        let mut out = Vec::with_capacity(estimate(end - start));
                        parse_chunk(&data[start..end], start, origin, &mut out).map(|()| out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(RawError {
                            offset: 0,
                            package: None,
                            field: None,
                            reason: "parser thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let total = parts.iter().map(|p| p.as_ref().map_or(0, Vec::len)).sum::<usize>();
        let mut all: Option<Vec<BinaryPackage>> = None;
        let mut first_err = None;
        for p in parts {
            match p {
                // The first chunk's vector becomes the result: only the others are moved.
                Ok(v) => match &mut all {
                    None => {
                        let mut v = v;
                        v.reserve(total - v.len());
                        all = Some(v);
                    }
                    Some(a) => a.extend(v),
                },
                Err(e) => {
                    first_err = Some(e);
                    break;
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(all.unwrap_or_default()),
        }
    };
    result.map_err(|e| {
        let end = e.offset.min(data.len());
        let line = memchr::memchr_iter(b'\n', &data[..end]).count() + 1;
        Error::Control {
            context: context.to_owned(),
            line,
            package: e.package,
            field: e.field.map(str::to_owned),
            reason: e.reason,
        }
    })
}

fn estimate(bytes: usize) -> usize {
    // Debian stanzas average ~800 bytes.
    bytes / 700 + 1
}

/// Splits `data` into up to `n` ranges that each start at a stanza boundary.
fn split_chunks(data: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 1..n {
        let target = data.len() / n * i;
        if target <= start {
            continue;
        }
        match memchr::memmem::find(&data[target..], b"\n\n") {
            Some(p) => {
                let cut = target + p + 2;
                out.push((start, cut));
                start = cut;
            }
            None => break,
        }
    }
    out.push((start, data.len()));
    out
}

#[inline]
fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && matches!(b[s], b' ' | b'\t' | b'\r' | b'\n') {
        s += 1;
    }
    while e > s && matches!(b[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
        e -= 1;
    }
    &b[s..e]
}

const UNSET: (usize, usize) = (usize::MAX, 0);

fn parse_chunk(
    data: &[u8],
    base: usize,
    origin: &Arc<IndexOrigin>,
    out: &mut Vec<BinaryPackage>,
) -> Result<(), RawError> {
    let mut spans = [UNSET; NF];
    let mut in_stanza = false;
    let mut stanza_start = 0usize;
    let mut cur: Option<usize> = None;
    let mut pos = 0usize;
    let len = data.len();
    while pos < len {
        let nl = memchr(b'\n', &data[pos..]).map_or(len, |i| pos + i);
        let line = &data[pos..nl];
        let first = line.first().copied();
        if first.is_none() || (matches!(first, Some(b' ' | b'\t' | b'\r')) && trim(line).is_empty())
        {
            if in_stanza {
                out.push(build(data, base, stanza_start, &spans, origin)?);
                spans = [UNSET; NF];
                in_stanza = false;
                cur = None;
            }
        } else if matches!(first, Some(b' ' | b'\t')) {
            if !in_stanza {
                return Err(RawError {
                    offset: base + pos,
                    package: None,
                    field: None,
                    reason: "continuation line without a field".into(),
                });
            }
            if let Some(f) = cur {
                spans[f].1 = nl;
            }
        } else {
            let Some(colon) = memchr(b':', line) else {
                return Err(RawError {
                    offset: base + pos,
                    package: package_name(data, &spans),
                    field: None,
                    reason: "expected 'Field: value'".into(),
                });
            };
            if !in_stanza {
                in_stanza = true;
                stanza_start = pos;
            }
            cur = field_id(&line[..colon]);
            if let Some(f) = cur {
                if spans[f].0 != usize::MAX {
                    return Err(RawError {
                        offset: base + pos,
                        package: package_name(data, &spans),
                        field: Some(NAMES[f]),
                        reason: "duplicate field".into(),
                    });
                }
                spans[f] = (pos + colon + 1, nl);
            }
        }
        pos = nl + 1;
    }
    if in_stanza {
        out.push(build(data, base, stanza_start, &spans, origin)?);
    }
    Ok(())
}

fn package_name(data: &[u8], spans: &[(usize, usize); NF]) -> Option<String> {
    let (s, e) = spans[F_PACKAGE];
    (s != usize::MAX).then(|| String::from_utf8_lossy(trim(&data[s..e])).into_owned())
}

fn build(
    data: &[u8],
    base: usize,
    stanza_start: usize,
    spans: &[(usize, usize); NF],
    origin: &Arc<IndexOrigin>,
) -> Result<BinaryPackage, RawError> {
    let err = |f: Option<usize>, reason: String| RawError {
        offset: base + f.map_or(stanza_start, |f| spans[f].0),
        package: package_name(data, spans),
        field: f.map(|f| NAMES[f]),
        reason,
    };
    let get = |f: usize| -> Result<Option<&str>, RawError> {
        let (s, e) = spans[f];
        if s == usize::MAX {
            return Ok(None);
        }
        std::str::from_utf8(trim(&data[s..e]))
            .map(Some)
            .map_err(|_| err(Some(f), "not valid UTF-8".into()))
    };
    let req = |f: usize| -> Result<&str, RawError> {
        match get(f)? {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(err(None, format!("missing {} field", NAMES[f]))),
        }
    };
    let name =
        PackageName::new(req(F_PACKAGE)?).map_err(|e| err(Some(F_PACKAGE), e.to_string()))?;
    let version =
        DebVersion::parse(req(F_VERSION)?).map_err(|e| err(Some(F_VERSION), e.to_string()))?;
    let architecture: Box<str> = req(F_ARCH)?.into();
    let multi_arch = match get(F_MULTIARCH)? {
        None | Some("no") => MultiArch::No,
        Some("same") => MultiArch::Same,
        Some("foreign") => MultiArch::Foreign,
        Some("allowed") => MultiArch::Allowed,
        Some(v) => return Err(err(Some(F_MULTIARCH), format!("unknown value {v:?}"))),
    };
    let essential = match get(F_ESSENTIAL)? {
        None | Some("no") => false,
        Some("yes") => true,
        Some(v) => return Err(err(Some(F_ESSENTIAL), format!("expected yes or no, got {v:?}"))),
    };
    // Unknown priorities (some derivatives invent them) count as the default, as in apt.
    let priority = match get(F_PRIORITY)? {
        Some("required") => Priority::Required,
        Some("important") => Priority::Important,
        Some("standard") => Priority::Standard,
        Some("extra") => Priority::Extra,
        _ => Priority::Optional,
    };
    let section = get(F_SECTION)?.filter(|s| !s.is_empty()).map(Box::from);
    let (source, source_version) = match get(F_SOURCE)? {
        None | Some("") => (Box::from(name.as_str()), None),
        Some(s) => match s.split_once('(') {
            None => (Box::from(s), None),
            Some((n, v)) => {
                let v = v
                    .strip_suffix(')')
                    .ok_or_else(|| err(Some(F_SOURCE), "unclosed '('".into()))?;
                let v =
                    DebVersion::parse(v.trim()).map_err(|e| err(Some(F_SOURCE), e.to_string()))?;
                (Box::from(n.trim()), Some(v))
            }
        },
    };
    let groups = |f: usize, field: &'static str| match get(f)? {
        None => Ok(Vec::new()),
        Some(t) => match fast_relations(t) {
            Some(g) => Ok(g),
            None => parse_relations(field, t).map_err(|e| err(Some(f), e.to_string())),
        },
    };
    let list = |f: usize, field: &'static str| match get(f)? {
        None => Ok(Vec::new()),
        Some(t) => match fast_relation_list(t) {
            Some(l) => Ok(l),
            None => parse_relation_list(field, t).map_err(|e| err(Some(f), e.to_string())),
        },
    };
    let pre_depends = groups(F_PREDEPENDS, "Pre-Depends")?;
    let depends = groups(F_DEPENDS, "Depends")?;
    let recommends = groups(F_RECOMMENDS, "Recommends")?;
    let conflicts = list(F_CONFLICTS, "Conflicts")?;
    let breaks = list(F_BREAKS, "Breaks")?;
    let provides = list(F_PROVIDES, "Provides")?;
    let replaces = list(F_REPLACES, "Replaces")?;
    let filename = req(F_FILENAME)?;
    if filename.starts_with('/')
        || filename.split('/').any(|c| c == "..")
        || filename.bytes().any(|b| !b.is_ascii_graphic())
    {
        return Err(err(Some(F_FILENAME), format!("unsafe path {filename:?}")));
    }
    let size = req(F_SIZE)?.parse::<u64>().map_err(|_| err(Some(F_SIZE), "not a number".into()))?;
    let sha = req(F_SHA256)?;
    let sha256 =
        parse_sha256(sha).ok_or_else(|| err(Some(F_SHA256), format!("invalid {sha:?}")))?;
    let installed_size = match get(F_INSTALLED_SIZE)? {
        None => None,
        Some(v) => {
            Some(v.parse::<u64>().map_err(|_| err(Some(F_INSTALLED_SIZE), "not a number".into()))?)
        }
    };
    Ok(BinaryPackage {
        name,
        version,
        architecture,
        multi_arch,
        essential,
        priority,
        section,
        source,
        source_version,
        pre_depends,
        depends,
        recommends,
        conflicts,
        breaks,
        provides,
        replaces,
        filename: filename.into(),
        size,
        sha256,
        installed_size,
        origin: origin.clone(),
    })
}

/// The fast path for relation fields as Packages indexes write them: `name[:arch]
/// [(op version)]` alternatives separated by `|` and `,`. Returns `None` for anything else
/// (architecture restrictions, build profiles, odd syntax, errors); the caller then uses the
/// general parser, so results and error messages are the general parser's.
fn fast_relations(text: &str) -> Option<Vec<Alternatives>> {
    let b = text.as_bytes();
    let mut groups = Vec::with_capacity(memchr::memchr_iter(b',', b).count() + 1);
    let mut i = 0;
    let mut alts: Vec<Relation> = Vec::with_capacity(1);
    loop {
        let (rel, next) = fast_relation(b, text, i)?;
        alts.push(rel);
        match b.get(next) {
            None => {
                groups.push(Alternatives(alts));
                return Some(groups);
            }
            Some(b',') => {
                groups.push(Alternatives(std::mem::replace(&mut alts, Vec::with_capacity(1))));
            }
            Some(b'|') => {}
            Some(_) => return None,
        }
        i = next + 1;
    }
}

fn fast_relation_list(text: &str) -> Option<Vec<Relation>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(memchr::memchr_iter(b',', b).count() + 1);
    let mut i = 0;
    loop {
        let (rel, next) = fast_relation(b, text, i)?;
        out.push(rel);
        match b.get(next) {
            None => return Some(out),
            Some(b',') => i = next + 1,
            Some(_) => return None,
        }
    }
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Parses one alternative starting at `i`; returns it and the index of the separator after it
/// (or `b.len()`).
#[inline]
fn fast_relation(b: &[u8], text: &str, i: usize) -> Option<(Relation, usize)> {
    let mut i = skip_ws(b, i);
    let start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'+' | b'-' | b'.')) {
        i += 1;
    }
    if i == start {
        return None;
    }
    let name = PackageName::new(text.get(start..i)?).ok()?;
    let mut arch_qualifier = None;
    if b.get(i) == Some(&b':') {
        let s = i + 1;
        i = s;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        arch_qualifier = Some(match text.get(s..i)? {
            "" => return None,
            "any" => ArchQualifier::Any,
            "native" => ArchQualifier::Native,
            a => ArchQualifier::Arch(a.into()),
        });
    }
    i = skip_ws(b, i);
    let mut version = None;
    if b.get(i) == Some(&b'(') {
        i = skip_ws(b, i + 1);
        let (op, len) = match (b.get(i), b.get(i + 1)) {
            (Some(b'<'), Some(b'<')) => (VersionOp::Lt, 2),
            (Some(b'<'), Some(b'=')) => (VersionOp::Le, 2),
            (Some(b'>'), Some(b'>')) => (VersionOp::Gt, 2),
            (Some(b'>'), Some(b'=')) => (VersionOp::Ge, 2),
            (Some(b'='), _) => (VersionOp::Eq, 1),
            _ => return None,
        };
        i = skip_ws(b, i + len);
        let vs = i;
        while i < b.len() && !matches!(b[i], b')' | b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        let v = DebVersion::parse(text.get(vs..i)?).ok()?;
        i = skip_ws(b, i);
        if b.get(i) != Some(&b')') {
            return None;
        }
        version = Some((op, v));
        i = skip_ws(b, i + 1);
    }
    Some((Relation { name, arch_qualifier, version, arch_restrictions: Vec::new() }, i))
}

fn parse_sha256(hex: &str) -> Option<Digest> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut raw = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let h = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        raw[i] = h(pair[0])? << 4 | h(pair[1])?;
    }
    Some(Digest::from_sha256_bytes(&raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Arc<IndexOrigin> {
        Arc::new(IndexOrigin {
            uri: "http://x/".into(),
            suite: "s".into(),
            component: "main".into(),
        })
    }

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn stanza(name: &str, extra: &str) -> String {
        format!(
            "Package: {name}\nVersion: 1.0-1\nArchitecture: amd64\n{extra}Filename: pool/{name}.deb\n\
             Size: 10\nSHA256: {SHA}\nDescription: x\n more\n .\n text\n"
        )
    }

    #[test]
    fn fields() {
        let t = stanza(
            "foo",
            "Source: foo-src (1.0-0)\nMulti-Arch: same\nEssential: yes\nPriority: required\n\
             Section: libs\nPre-Depends: a\nDepends: b (>= 1) | c,\n d:any\nRecommends: r\n\
             Conflicts: x (<< 2)\nBreaks: y\nProvides: v (= 1.0)\nReplaces: z\nInstalled-Size: 42\n",
        ) + "\n"
            + &stanza("bar", "");
        let p = parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions::default()).unwrap();
        assert_eq!(p.len(), 2);
        let f = &p[0];
        assert_eq!(&*f.source, "foo-src");
        assert_eq!(f.source_version.as_ref().unwrap().as_str(), "1.0-0");
        assert_eq!(f.multi_arch, MultiArch::Same);
        assert!(f.essential);
        assert_eq!(f.priority, Priority::Required);
        assert_eq!(f.depends.len(), 2);
        assert_eq!(f.depends[0].0.len(), 2);
        assert_eq!(f.provides[0].to_string(), "v (= 1.0)");
        assert_eq!(f.installed_size, Some(42));
        assert_eq!(f.sha256.hex(), SHA);
        assert_eq!(&*p[1].source, "bar");
        assert_eq!(p[1].priority, Priority::Optional);
    }

    #[test]
    fn errors_name_stanza_field_line() {
        let t = stanza("ok", "") + "\n" + &stanza("broken", "Depends: a (>= )\n");
        let e = parse_packages(t.as_bytes(), &origin(), "idx", &ParseOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("idx, line 15") && e.contains("broken") && e.contains("Depends"), "{e}");
        let t = stanza("nosha", "").replace("SHA256: ", "MD5sum: ");
        let e = parse_packages(t.as_bytes(), &origin(), "idx", &ParseOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing SHA256"), "{e}");
        let t = stanza("evil", "").replace("pool/evil.deb", "../../etc/passwd");
        assert!(parse_packages(t.as_bytes(), &origin(), "i", &ParseOptions::default()).is_err());
        for bad in ["Package foo\n", " cont\n", "Package: a\nPackage: b\n"] {
            assert!(
                parse_packages(bad.as_bytes(), &origin(), "i", &ParseOptions::default()).is_err()
            );
        }
    }

    #[test]
    fn fast_relation_path_agrees_with_general_parser() {
        for t in [
            "a",
            "libc6 (>= 2.34), libssl3 (>= 3.0.0)",
            "debconf (>= 0.5) | debconf-2.0, perl:any, libfoo:amd64 (<< 1:2~rc1-1)",
            " a ,\n b|c ( = 1.0-1 ) ",
            "python3:native (>= 3.11~), x (<= 2), y (>> 0)",
            "a,",
            "a (<1.0)",
            "a [amd64]",
            "a <!nocheck>",
            "a (>= 1 0)",
            "",
            "Foo_bar",
            "a:",
            "a | | b",
        ] {
            let general = parse_relations("Depends", t).ok();
            if let Some(fast) = fast_relations(t) {
                assert_eq!(Some(fast), general, "{t:?}");
            }
            let general = parse_relation_list("Provides", t).ok();
            if let Some(fast) = fast_relation_list(t) {
                assert_eq!(Some(fast), general, "{t:?}");
            }
        }
        assert!(fast_relations("a (<1.0)").is_none());
        assert!(fast_relations("a, b (= 1)").is_some());
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let mut t = String::new();
        for i in 0..8000 {
            t += &stanza(&format!("p{i}"), &format!("Depends: q{i} (>= {i})\n"));
            t += "\n";
        }
        assert!(t.len() > 1 << 20);
        let one =
            parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions { threads: 1 }).unwrap();
        for n in [2, 3, 7] {
            let many =
                parse_packages(t.as_bytes(), &origin(), "t", &ParseOptions { threads: n }).unwrap();
            assert_eq!(many.len(), 8000);
            for (a, b) in one.iter().zip(&many) {
                assert_eq!((&a.name, &a.depends), (&b.name, &b.depends));
            }
        }
        // An error in a late chunk still reports the right line.
        let bad = t.clone() + "Package: z\nVersion: !\n";
        let e = parse_packages(bad.as_bytes(), &origin(), "t", &ParseOptions { threads: 4 })
            .unwrap_err()
            .to_string();
        let want = t.matches('\n').count() + 2;
        assert!(e.contains(&format!("line {want}")), "{e} (want {want})");
    }
}
