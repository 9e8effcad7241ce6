//! Value types and checks shared by subcommands.

use std::ffi::OsString;
use std::str::FromStr;

use super::error::CliError;

/// A `KEY=VALUE` pair (`--env`, `--label`, `--annotation`). The key is everything before the
/// first `=` and must not be empty; the value may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl FromStr for KeyValue {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                Ok(KeyValue { key: k.to_owned(), value: v.to_owned() })
            }
            Some(_) => Err(format!("{s:?} has an empty key (expected KEY=VALUE)")),
            None => Err(format!("{s:?} has no '=' (expected KEY=VALUE)")),
        }
    }
}

/// How a program-and-arguments option (`--entrypoint`, `--cmd`) was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argv {
    /// Not given: keep what the base image has.
    Unset,
    /// `'[]'`: remove what the base image has.
    Clear,
    /// The new value.
    Set(Vec<String>),
}

/// Interprets the values of a repeatable program-and-arguments flag: a single value starting
/// with `[` is a JSON array of strings (`'["/bin/sh","-c"]'`, `'[]'` to clear); otherwise each
/// occurrence of the flag is one argument, taken literally (`--cmd /bin/echo --cmd hi`). No
/// shell splitting and no implicit `sh -c`: scratch images have no shell.
pub fn argv(flag: &str, values: &[String]) -> Result<Argv, CliError> {
    match values {
        [] => Ok(Argv::Unset),
        [one] if one.trim_start().starts_with('[') => {
            let v: Vec<String> = serde_json::from_str(one).map_err(|e| {
                CliError::usage(format!(
                    "{flag} {one:?}: not a JSON array of strings ({e}); give a JSON array, or repeat {flag} once per argument"
                ))
            })?;
            Ok(if v.is_empty() { Argv::Clear } else { Argv::Set(v) })
        }
        many => Ok(Argv::Set(many.to_vec())),
    }
}

/// The `SOURCE_DATE_EPOCH` to use: the flag if given, else the environment variable (read by
/// the caller and passed in; empty counts as unset), else 0. Must be a whole number of
/// seconds the image config can express (up to the year 9999).
pub fn source_date_epoch(flag: Option<u64>, env: Option<&OsString>) -> Result<u64, CliError> {
    let value = match (flag, env) {
        (Some(v), _) => v,
        (None, Some(s)) if !s.is_empty() => {
            let text = s.to_str().unwrap_or("");
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::usage(format!(
                    "SOURCE_DATE_EPOCH={s:?} is not a whole number of seconds since 1970-01-01"
                )));
            }
            text.parse()
                .map_err(|_| CliError::usage(format!("SOURCE_DATE_EPOCH={text} is out of range")))?
        }
        _ => 0,
    };
    if value > i64::MAX as u64 || mbi_core::config::rfc3339(value).is_err() {
        return Err(CliError::usage(format!(
            "source date epoch {value} is out of range (the image config needs a year up to 9999)"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            "A=b=c".parse::<KeyValue>().unwrap(),
            KeyValue { key: "A".into(), value: "b=c".into() }
        );
        assert_eq!("A=".parse::<KeyValue>().unwrap().value, "");
        assert!("=x".parse::<KeyValue>().is_err());
        assert!("A".parse::<KeyValue>().is_err());
    }

    #[test]
    fn argv_forms() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(argv("--cmd", &[]).unwrap(), Argv::Unset);
        assert_eq!(argv("--cmd", &s(&["[]"])).unwrap(), Argv::Clear);
        assert_eq!(
            argv("--cmd", &s(&[r#"["/bin/sh","-c","echo hi"]"#])).unwrap(),
            Argv::Set(s(&["/bin/sh", "-c", "echo hi"]))
        );
        assert_eq!(argv("--cmd", &s(&["/app"])).unwrap(), Argv::Set(s(&["/app"])));
        assert_eq!(
            argv("--cmd", &s(&["/bin/echo", "[x]"])).unwrap(),
            Argv::Set(s(&["/bin/echo", "[x]"]))
        );
        let e = argv("--cmd", &s(&["[1]"])).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.render().contains("--cmd"), "{}", e.render());
    }

    #[test]
    fn epochs() {
        let os = |s: &str| OsString::from(s);
        assert_eq!(source_date_epoch(None, None).unwrap(), 0);
        assert_eq!(source_date_epoch(None, Some(&os(""))).unwrap(), 0);
        assert_eq!(source_date_epoch(None, Some(&os("1700000000"))).unwrap(), 1_700_000_000);
        assert_eq!(source_date_epoch(Some(5), Some(&os("1700000000"))).unwrap(), 5);
        for bad in ["x", "-1", "1.5", " 1", "99999999999999999999999"] {
            assert!(source_date_epoch(None, Some(&os(bad))).is_err(), "{bad}");
        }
        assert!(source_date_epoch(Some(u64::MAX), None).is_err());
        assert!(source_date_epoch(Some(253_402_300_800), None).is_err()); // year 10000
    }
}
