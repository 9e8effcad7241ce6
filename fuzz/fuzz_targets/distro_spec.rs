//! User configuration: the YAML build spec (with `${VAR}` expansion and source resolution of
//! inline text) and the JSON lockfile. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::lock::Lockfile;
use mbi_distro::spec::Spec;

fuzz_target!(|data: &[u8]| {
    let _ = Lockfile::from_json(data, "fuzz");
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(mut spec) = Spec::from_yaml(text, "fuzz") {
        let _ = spec.digest();
        if spec.expand_vars(|k| Some(k.to_owned())).is_ok()
            && spec.sources.as_deref().is_some_and(|s| s.contains('\n'))
        {
            let _ = spec.resolve_sources(std::path::Path::new("/nonexistent"));
        }
    }
});
