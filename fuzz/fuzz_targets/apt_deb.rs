//! Arbitrary bytes as a .deb: read it, install it into a file tree and write that tree to a
//! directory. No panic, and nothing is ever written outside the target directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_distro::apt::deb::DebReader;
use mbi_distro::apt::install::{Flavour, InstallOptions, Installer, MergedUsr};

fuzz_target!(|data: &[u8]| {
    let Ok(base) = tempfile::tempdir() else { return };
    let spool = base.path().join("spool");
    let target = base.path().join("root");
    let _ = std::fs::create_dir(&spool);
    let _ = std::fs::create_dir(&target);
    let reader = DebReader::new(&spool).max_control_bytes(1 << 20);
    let Ok(deb) = reader.read(data, "fuzz.deb") else { return };
    // Every entry path is normalised and relative.
    for e in &deb.data.entries {
        assert!(!e.path.starts_with('/') && !e.path.split('/').any(|c| c == ".."));
    }
    let options = InstallOptions::new("amd64", &spool).merged_usr(MergedUsr::Yes).flavour(Flavour::Distroless);
    let Ok(inst) = Installer::new(options).install_debs(vec![deb]) else { return };
    // Through a tar stream into mbi-layer's safe unpacker (no device nodes, whatever the user).
    let mut tar = Vec::new();
    if mbi_layer::write_tar_to(&inst.tree, 0, &mut tar).is_ok() {
        let opts = mbi_layer::UnpackOptions::default().create_devices(false).same_owner(false);
        let _ = mbi_layer::unpack_tar(&tar[..], &target, &opts);
    }
    // Nothing outside `root` and `spool`.
    for e in std::fs::read_dir(base.path()).into_iter().flatten().flatten() {
        let name = e.file_name();
        assert!(name == "spool" || name == "root", "unexpected {name:?}");
    }
});
