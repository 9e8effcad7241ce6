//! Canonical JSON: the single serialisation mbi hashes.
//!
//! Objects have their keys sorted by byte order at every depth, there is no insignificant
//! whitespace, and strings use serde_json's escaping. This does not depend on whether some crate
//! in the application enabled `serde_json/preserve_order`, nor on `HashMap` iteration order in
//! `oci_spec` types: keys are sorted here, explicitly.

use serde::Serialize;
use serde_json::Value;

use crate::Error;

/// Serialises `value` canonically.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let v = serde_json::to_value(value).map_err(|e| Error::Json { what: "value", source: e })?;
    let mut out = Vec::with_capacity(512);
    write_value(&v, &mut out);
    Ok(out)
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        // Null, bools and numbers: serde_json's own compact form is already canonical.
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes control characters, quotes and backslashes and nothing else.
    out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn sorted_and_compact() {
        let mut m = HashMap::new();
        for k in ["zeta", "alpha", "Mid", "a\nb", "ä"] {
            m.insert(k.to_string(), serde_json::json!({"y": 1, "x": [true, null, "s\"q"]}));
        }
        let out = String::from_utf8(super::to_vec(&m).unwrap()).unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"Mid":{"x":[true,null,"s\"q"],"y":1},"a\nb":{"x":[true,null,"s\"q"],"y":1},"#,
                r#""alpha":{"x":[true,null,"s\"q"],"y":1},"zeta":{"x":[true,null,"s\"q"],"y":1},"#,
                r#""ä":{"x":[true,null,"s\"q"],"y":1}}"#
            )
        );
        // Same bytes however many times the HashMap is rebuilt.
        for _ in 0..20 {
            let m2: HashMap<_, _> = m.clone().into_iter().collect();
            assert_eq!(super::to_vec(&m2).unwrap(), out.as_bytes());
        }
    }
}
