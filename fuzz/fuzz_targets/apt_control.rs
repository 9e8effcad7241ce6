//! The Packages parser and the general deb822 parser: never panic, the parallel parse gives
//! the same records, field for field, as the single-threaded one, and every record's
//! relationship fields are what the general relation parser makes of its stanza's text (the
//! Packages parser's fast path shares, packs and prefetches; it must not change a result).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::IndexOrigin;
use mbi_distro::apt::index::{ParseOptions, parse_packages};
use mbi_distro::apt::relation::{parse_relation_list, parse_relations};

fuzz_target!(|data: &[u8]| {
    let origin = Arc::new(IndexOrigin { uri: "http://x/".into(), suite: "s".into(), component: "c".into() });
    let one = parse_packages(data, &origin, "fuzz", &ParseOptions { threads: 1 });
    let many = parse_packages(data, &origin, "fuzz", &ParseOptions { threads: 3 });
    assert_eq!(one.is_ok(), many.is_ok());
    if let (Ok(a), Ok(b)) = (one, many) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mbi_distro::apt::control::parse_paragraphs(text, "fuzz", true);
        let _ = mbi_distro::apt::sources::parse_sources(text, "fuzz");
        if let (Ok(pkgs), Ok(paras)) = (
            parse_packages(data, &origin, "fuzz", &ParseOptions { threads: 1 }),
            mbi_distro::apt::control::parse_paragraphs(text, "fuzz", false),
        ) && pkgs.len() == paras.len()
        {
            for (p, para) in pkgs.iter().zip(&paras) {
                let groups = |f: &'static str| parse_relations(f, para.get(f).unwrap_or("")).ok();
                let list = |f: &'static str| parse_relation_list(f, para.get(f).unwrap_or("")).ok();
                assert_eq!(Some(p.pre_depends.to_vec()), groups("Pre-Depends"));
                assert_eq!(Some(p.depends.to_vec()), groups("Depends"));
                assert_eq!(Some(p.recommends.to_vec()), groups("Recommends"));
                assert_eq!(Some(p.conflicts.to_vec()), list("Conflicts"));
                assert_eq!(Some(p.breaks.to_vec()), list("Breaks"));
                assert_eq!(Some(p.provides.to_vec()), list("Provides"));
                assert_eq!(Some(p.replaces.to_vec()), list("Replaces"));
            }
        }
    }
});
