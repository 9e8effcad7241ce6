//! `Release` files: what a repository suite contains and the SHA256 of every index.
//!
//! Only the signed text of an `InRelease` file (see [`crate::apt::signature`]) should ever reach
//! [`Release::parse`]. Fields added after Debian 9 (`Acquire-By-Hash`, `Valid-Until`,
//! `No-Support-for-Architecture-all`, …) are optional.
//!
//! ```
//! use mbi_distro::apt::release::Release;
//! let text = "Suite: stable\nDate: Sat, 10 Jun 2023 08:55:04 UTC\nArchitectures: amd64\n\
//!             Components: main\nSHA256:\n \
//!             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 main/binary-amd64/Packages\n";
//! let r = Release::parse(text, "example").unwrap();
//! assert_eq!(r.date, Some(1686387304));
//! assert_eq!(r.file("main/binary-amd64/Packages").unwrap().size, 0);
//! r.check_time(1686387304 + 60, "example").unwrap();
//! ```

use std::collections::BTreeMap;

use mbi_core::Digest;

use crate::Error;
use crate::apt::control::{parse_paragraphs, value_lines};

/// One file listed in a Release file's `SHA256` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    /// Its SHA-256.
    pub sha256: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// A parsed `Release` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Release {
    /// `Origin`
    pub origin: Option<String>,
    /// `Label`
    pub label: Option<String>,
    /// `Suite`
    pub suite: Option<String>,
    /// `Codename`
    pub codename: Option<String>,
    /// `Version`
    pub version: Option<String>,
    /// `Date`, as Unix seconds.
    pub date: Option<i64>,
    /// `Valid-Until`, as Unix seconds.
    pub valid_until: Option<i64>,
    /// `Architectures`
    pub architectures: Vec<String>,
    /// `Components`
    pub components: Vec<String>,
    /// `Acquire-By-Hash: yes`: indexes may be fetched from `by-hash/SHA256/<hex>`.
    pub acquire_by_hash: bool,
    /// `No-Support-for-Architecture-all: Packages`: `all` packages are not repeated in the
    /// per-architecture indexes and must be fetched from `binary-all`.
    pub no_support_for_architecture_all: bool,
    /// The `SHA256` entries, by path relative to the Release file's directory.
    pub files: BTreeMap<String, ReleaseFile>,
}

impl Release {
    /// Parses a Release file. `context` names it in errors (URL or path). MD5Sum and SHA1
    /// lists are ignored; a Release without `SHA256` entries is refused.
    pub fn parse(text: &str, context: &str) -> Result<Release, Error> {
        let paras = parse_paragraphs(text, context, false)?;
        let para = match paras.as_slice() {
            [p] => p,
            [] => return Err(rel_err(context, "empty document")),
            _ => return Err(rel_err(context, "more than one paragraph")),
        };
        let mut r = Release::default();
        let words = |v: &str| v.split_ascii_whitespace().map(str::to_owned).collect::<Vec<_>>();
        for f in para.fields() {
            let n = f.name;
            let is = |s: &str| n.eq_ignore_ascii_case(s);
            let date = || {
                parse_date(f.value).ok_or_else(|| Error::Control {
                    context: context.to_owned(),
                    line: f.line,
                    package: None,
                    field: Some(n.to_owned()),
                    reason: format!("invalid date {:?}", f.value),
                })
            };
            if is("Origin") {
                r.origin = Some(f.value.to_owned());
            } else if is("Label") {
                r.label = Some(f.value.to_owned());
            } else if is("Suite") {
                r.suite = Some(f.value.to_owned());
            } else if is("Codename") {
                r.codename = Some(f.value.to_owned());
            } else if is("Version") {
                r.version = Some(f.value.to_owned());
            } else if is("Date") {
                r.date = Some(date()?);
            } else if is("Valid-Until") {
                r.valid_until = Some(date()?);
            } else if is("Architectures") {
                r.architectures = words(f.value);
            } else if is("Components") {
                r.components = words(f.value);
            } else if is("Acquire-By-Hash") {
                r.acquire_by_hash = f.value.eq_ignore_ascii_case("yes");
            } else if is("No-Support-for-Architecture-all") {
                r.no_support_for_architecture_all = f.value.eq_ignore_ascii_case("Packages");
            } else if is("SHA256") {
                for (i, line) in value_lines(f.value).enumerate() {
                    if line.is_empty() {
                        continue;
                    }
                    let bad = |reason: &str| Error::Control {
                        context: context.to_owned(),
                        line: f.line + i,
                        package: None,
                        field: Some("SHA256".into()),
                        reason: reason.to_owned(),
                    };
                    let mut it = line.split_ascii_whitespace();
                    let (Some(hex), Some(size), Some(path), None) =
                        (it.next(), it.next(), it.next(), it.next())
                    else {
                        return Err(bad("expected '<sha256> <size> <path>'"));
                    };
                    let sha256: Digest = format!("sha256:{hex}")
                        .parse()
                        .map_err(|_| bad("invalid SHA256 (64 lowercase hex digits)"))?;
                    let size = size.parse::<u64>().map_err(|_| bad("invalid size"))?;
                    r.files.insert(path.to_owned(), ReleaseFile { sha256, size });
                }
            }
        }
        if r.files.is_empty() {
            return Err(rel_err(
                context,
                "no SHA256 file list (MD5Sum/SHA1 alone are not trusted)",
            ));
        }
        Ok(r)
    }

    /// The entry for `path` (relative to the Release file's directory).
    pub fn file(&self, path: &str) -> Option<&ReleaseFile> {
        self.files.get(path)
    }

    /// Checks `Date` and `Valid-Until` against `now` (Unix seconds, passed by the caller: the
    /// library never reads the clock). A `Date` in the future or a passed `Valid-Until` is an
    /// error, as in apt.
    pub fn check_time(&self, now: i64, context: &str) -> Result<(), Error> {
        if let Some(d) = self.date
            && d > now
        {
            return Err(rel_err(
                context,
                format!("not valid yet: Date is {} s in the future", d - now),
            ));
        }
        if let Some(v) = self.valid_until
            && v < now
        {
            return Err(rel_err(context, format!("expired: Valid-Until passed {} s ago", now - v)));
        }
        Ok(())
    }
}

fn rel_err(context: &str, reason: impl Into<String>) -> Error {
    Error::Release { context: context.to_owned(), reason: reason.into() }
}

/// Parses an RFC 1123 / RFC 2822 date as used in Release files (`Sat, 10 Jun 2023 08:55:04
/// UTC`; zone `UTC`, `GMT`, `Z` or `±hhmm`; the weekday is optional and not checked) into Unix
/// seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.find(',') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    let mut it = s.split_ascii_whitespace();
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map_or(Some(0), |x| x.parse().ok())?;
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let offset = match it.next() {
        None => 0,
        Some("UTC" | "GMT" | "Z" | "UT") => 0,
        Some(z) if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z.get(1..3)?.parse().ok()?;
            let mm: i64 = z.get(3..5)?.parse().ok()?;
            let o = hh * 3600 + mm * 60;
            if z.starts_with('-') { -o } else { o }
        }
        Some(_) => return None,
    };
    if it.next().is_some() || !(1..=31).contains(&day) || !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + h * 3600 + m * 60 + sec - offset)
}

/// Formats Unix seconds as an RFC 1123 date (`Sat, 10 Jun 2023 08:55:04 UTC`).
pub fn format_date(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, mo, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} UTC",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(mo - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

// Howard Hinnant's civil-calendar algorithms.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_date("Sat, 10 Jun 2023 08:55:04 UTC"), Some(1686387304));
        assert_eq!(parse_date("10 Jun 2023 10:55:04 +0200"), Some(1686387304));
        assert_eq!(parse_date("Sat, 29 Feb 2020 00:00:00 GMT"), Some(1582934400));
        for bad in ["", "Sat, 10 Foo 2023 08:55:04 UTC", "10 Jun 2023", "10 Jun 2023 25:00:00"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        for t in [0, 1686387304, 1582934400, 4102444800] {
            assert_eq!(parse_date(&format_date(t)), Some(t));
        }
        assert_eq!(format_date(1686387304), "Sat, 10 Jun 2023 08:55:04 UTC");
    }

    #[test]
    fn debian9_style_release_parses() {
        // A stretch-era Release: no Acquire-By-Hash, no Valid-Until, MD5Sum + SHA256.
        let t = "Origin: Debian\nLabel: Debian\nSuite: oldstable\nVersion: 9.13\n\
                 Codename: stretch\nDate: Sat, 18 Jul 2020 10:32:10 UTC\n\
                 Architectures: amd64 arm64\nComponents: main contrib\n\
                 Description: Debian 9.13 Released 18 July 2020\nMD5Sum:\n \
                 d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\nSHA256:\n \
                 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages\n";
        let r = Release::parse(t, "t").unwrap();
        assert!(!r.acquire_by_hash);
        assert_eq!(r.valid_until, None);
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.codename.as_deref(), Some("stretch"));
    }

    #[test]
    fn time_window() {
        let t = "Date: Thu, 01 Jan 1970 00:01:40 UTC\nValid-Until: Thu, 01 Jan 1970 00:03:20 UTC\n\
                 SHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 x\n";
        let r = Release::parse(t, "t").unwrap();
        assert!(r.check_time(150, "t").is_ok());
        assert!(r.check_time(99, "t").unwrap_err().to_string().contains("not valid yet"));
        assert!(r.check_time(201, "t").unwrap_err().to_string().contains("expired"));
    }

    #[test]
    fn refusals() {
        assert!(Release::parse("Suite: x\n", "t").is_err());
        assert!(Release::parse("SHA256:\n zz 1 x\n", "t").is_err());
        assert!(Release::parse("SHA256:\n e3b0 1\n", "t").is_err());
        let e = Release::parse("Date: yesterday\nSHA256:\n", "t").unwrap_err();
        assert!(e.to_string().contains("Date"), "{e}");
    }
}
