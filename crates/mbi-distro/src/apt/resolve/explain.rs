//! Human-readable explanations of failed resolutions, and name suggestions.

use std::fmt;

/// Why a request cannot be satisfied: one sentence per problem the search ran into, e.g.
/// `app 1.0 depends on libfoo (>= 2), but only libfoo 1.5 (bookworm/main) is available`.
///
/// Problems are sorted, so the same universe and request always give the same text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The problems, one sentence each.
    pub problems: Vec<String>,
}

impl Explanation {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Explanation { problems }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Damerau-Levenshtein (optimal string alignment) distance, capped: returns `cap + 1` as soon
/// as the distance must exceed `cap`.
fn distance(a: &[u8], b: &[u8], cap: usize) -> usize {
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..w {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > cap {
            return cap + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Up to three of the names closest to `wanted` (typos, swapped letters, a missing version
/// suffix), all at the same smallest distance, by name.
pub(crate) fn suggestions<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let cap = match wanted.len() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let w = wanted.as_bytes();
    let mut found: Vec<(usize, &str)> = Vec::new();
    for n in names {
        if n == wanted {
            continue;
        }
        let d = distance(w, n.as_bytes(), cap);
        // `libssl` → `libssl3`, `python` → `python3`: a prefix match of a versioned name.
        let prefix = n.starts_with(wanted)
            && n.len() <= wanted.len() + 3
            && n[wanted.len()..].bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b't');
        let d = if prefix { d.min(1) } else { d };
        if d <= cap {
            found.push((d, n));
        }
    }
    found.sort();
    let best = found.first().map_or(0, |f| f.0);
    found.into_iter().take_while(|f| f.0 == best).take(3).map(|(_, n)| n.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance(b"curl", b"curl", 2), 0);
        assert_eq!(distance(b"crul", b"curl", 2), 1);
        assert_eq!(distance(b"libsl3", b"libssl3", 2), 1);
        assert_eq!(distance(b"abc", b"xyzabc", 2), 3);
    }

    #[test]
    fn suggests_close_names() {
        let names = ["curl", "libcurl4", "coreutils", "libssl3", "openssl", "python3"];
        assert_eq!(suggestions("crul", names.iter().copied()), vec!["curl"]);
        assert_eq!(suggestions("libssl", names.iter().copied()), vec!["libssl3"]);
        assert_eq!(suggestions("python", names.iter().copied()), vec!["python3"]);
        assert!(suggestions("zzzzzz", names.iter().copied()).is_empty());
    }
}
