//! The specs in the repository's `examples/` parse, and their variables are the documented ones.

use std::path::Path;

use mbi_distro::spec::{Spec, Variant};

#[test]
fn examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let mut spec = Spec::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        spec.expand_vars(|k| match k {
            "MBI_UBUNTU_MIRROR" => Some("http://mirror.example/ubuntu".into()),
            "MBI_UBUNTU_KEYRING" => Some("/tmp/ubuntu-archive-keyring.gpg".into()),
            _ => None,
        })
        .unwrap();
        if spec.sources.is_some() {
            let s = spec.resolve_sources(Path::new("/nonexistent")).unwrap();
            assert!(!s.entries.is_empty(), "{}", p.display());
        }
        seen.push((p.file_name().unwrap().to_string_lossy().into_owned(), spec.variant));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [
            ("debian-bookworm-distroless.yaml".to_owned(), Variant::Distroless),
            ("debian-bookworm.yaml".to_owned(), Variant::Apt),
            ("ubuntu-noble.yaml".to_owned(), Variant::Apt),
            ("ubuntu-xenial.yaml".to_owned(), Variant::Apt),
        ]
    );
}
