//! Arbitrary bytes as a record of the apt unpack cache (`<cache>/unpacked/<sha256>.json`) plus
//! its spool file: `UnpackCache::open` must check the record, never panic and never use an entry
//! that a fresh read of the `.deb` would have refused.
//!
//! Input: a 2-byte length N, then N bytes of JSON record, then the spool's bytes. To let the
//! fuzzer get past the digest checks and into the entry checks, the record's `content_bytes`
//! and `data_digest` are set to the spool's real size and SHA-256 when the JSON is an object,
//! and its `deb` field (when it is a valid digest) names the cache entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mbi_core::Digest;
use mbi_distro::apt::deb::DebReader;
use mbi_distro::apt::unpack_cache::UnpackCache;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let rest = &data[2..];
    let (json, spool) = rest.split_at(n.min(rest.len()));
    let mut record: serde_json::Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(_) => serde_json::Value::Null,
    };
    let key = record
        .get("deb")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<Digest>().ok())
        .unwrap_or_else(|| Digest::sha256(b"fuzz"));
    if let Some(obj) = record.as_object_mut() {
        obj.insert("content_bytes".into(), (spool.len() as u64).into());
        obj.insert("data_digest".into(), Digest::sha256(spool).to_string().into());
    }
    let bytes = if record.is_null() { json.to_vec() } else { record.to_string().into_bytes() };
    let Ok(base) = tempfile::tempdir() else { return };
    let dir = base.path().join("unpacked");
    if std::fs::create_dir(&dir).is_err() {
        return;
    }
    let hex = key.hex();
    if std::fs::write(dir.join(format!("{hex}.json")), &bytes).is_err()
        || std::fs::write(dir.join(format!("{hex}.data")), spool).is_err()
    {
        return;
    }
    let cache = UnpackCache::new(&dir);
    let reader = DebReader::new(base.path());
    // There is no .deb: a record that checks out gets as far as reading the control archive,
    // one that does not is dropped and the unpack fails. Either way an error, never a panic.
    let missing = base.path().join("missing.deb");
    assert!(cache.open(&reader, &missing, &key).is_err());
    // A record that did not check out is gone; one that did is still there.
    for e in std::fs::read_dir(base.path()).into_iter().flatten().flatten() {
        let name = e.file_name();
        assert!(name == "unpacked", "unexpected {name:?}");
    }
});
