//! dpkg's own ordering is the oracle: `DebVersion`'s order must agree with
//! `dpkg --compare-versions` on versions taken from a real index (`$MBI_APT_PACKAGES`, or the
//! live-test cache) when one is present, plus generated versions rich in epochs, tildes, plus
//! signs and revisions. Also checks that the order is total (sorting is consistent).

use std::path::PathBuf;
use std::process::Command;

use mbi_distro::apt::DebVersion;

fn real_versions() -> Vec<String> {
    let path = std::env::var_os("MBI_APT_PACKAGES").map(PathBuf::from).or_else(|| {
        let dir = std::env::var_os("MBI_APT_LIVE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("mbi-apt-live-cache"))
            .join("apt/indexes");
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
            .max()
            .map(|(_, p)| p)
    });
    let Some(path) = path else {
        eprintln!("note: no real index available; using generated versions only");
        return Vec::new();
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut v: Vec<String> =
        text.lines().filter_map(|l| l.strip_prefix("Version: ")).map(str::to_owned).collect();
    v.sort();
    v.dedup();
    // A deterministic spread over the whole list.
    let step = (v.len() / 250).max(1);
    v.into_iter().step_by(step).collect()
}

fn generated() -> Vec<String> {
    // A small deterministic generator (xorshift) over the interesting alphabet.
    let mut s: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let atoms = [
        "0", "1", "2", "9", "10", "01", "a", "b", "z", "~", "~~", "+", ".", "rc", "deb12u",
        "ubuntu",
    ];
    let mut out = Vec::new();
    for _ in 0..150 {
        let mut v = String::new();
        if next() % 4 == 0 {
            v.push_str(&format!("{}:", next() % 3));
        }
        v.push_str(&(next() % 10).to_string());
        for _ in 0..(next() % 5) {
            v.push_str(atoms[(next() % atoms.len() as u64) as usize]);
        }
        if next() % 2 == 0 {
            v.push('-');
            v.push_str(&(next() % 5).to_string());
            for _ in 0..(next() % 3) {
                v.push_str(atoms[(next() % atoms.len() as u64) as usize]);
            }
        }
        if DebVersion::parse(&v).is_ok() {
            out.push(v);
        }
    }
    out
}

fn dpkg_lt(a: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, "lt", b])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn agrees_with_dpkg_compare_versions() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        eprintln!("SKIP: dpkg is not installed");
        return;
    }
    let mut versions = real_versions();
    versions.extend(generated());
    let parsed: Vec<DebVersion> = versions.iter().map(|v| DebVersion::parse(v).unwrap()).collect();
    // Sort with our order, then check every adjacent pair (and some far pairs) against dpkg:
    // if our order is total and agrees on neighbours, it agrees everywhere.
    let mut idx: Vec<usize> = (0..parsed.len()).collect();
    idx.sort_by(|&a, &b| parsed[a].cmp(&parsed[b]));
    let mut checked = 0;
    for w in idx.windows(2) {
        let (a, b) = (&parsed[w[0]], &parsed[w[1]]);
        let ours_lt = a < b;
        assert_eq!(ours_lt, dpkg_lt(a.as_str(), b.as_str()), "{a} vs {b}");
        if !ours_lt {
            assert!(!dpkg_lt(b.as_str(), a.as_str()), "dpkg says {b} < {a}, we say equal");
        }
        checked += 1;
    }
    for i in (0..idx.len()).step_by(7) {
        let j = idx.len() - 1 - i;
        let (a, b) = (&parsed[idx[i]], &parsed[idx[j]]);
        assert_eq!(a < b, dpkg_lt(a.as_str(), b.as_str()), "{a} vs {b}");
        checked += 1;
    }
    eprintln!("{checked} comparisons agree with dpkg over {} versions", parsed.len());
    assert!(checked > 100);
}
