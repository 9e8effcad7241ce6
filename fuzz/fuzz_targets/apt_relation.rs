//! Relation fields: never panic; what parses re-parses to the same value from its Display.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::relation::{parse_relation_list, parse_relations};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(groups) = parse_relations("Depends", s) {
        let text: Vec<String> = groups.iter().map(ToString::to_string).collect();
        let again = parse_relations("Depends", &text.join(", ")).expect("display re-parses");
        assert_eq!(groups, again);
    }
    let _ = parse_relation_list("Provides", s);
});
