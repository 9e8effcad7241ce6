//! Image configuration: checked parsing, the small value types the builder takes (exposed ports,
//! environment entries), RFC 3339 timestamps, and helpers over `oci_spec`'s config types.

use std::fmt;
use std::str::FromStr;

pub use oci_spec::image::{Config, History, ImageConfiguration, RootFs};

use crate::{Digest, Error, Platform, Result};

/// Parses an image configuration (OCI or Docker schema2 `container.image.v1`).
///
/// Checks that `rootfs.type` is `layers` and every diff_id is a valid digest.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    let config: ImageConfiguration = serde_json::from_slice(bytes)
        .map_err(|e| Error::Document { what: what.to_owned(), source: e })?;
    if config.rootfs().typ() != "layers" {
        return Err(Error::invalid(
            what,
            format!("rootfs.type is {:?}, expected \"layers\"", config.rootfs().typ()),
        ));
    }
    diff_ids(&config, what)?;
    Ok(config)
}

/// The config's `rootfs.diff_ids` as digests.
pub fn diff_ids(config: &ImageConfiguration, what: &str) -> Result<Vec<Digest>> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.parse().map_err(|e: Error| {
                Error::invalid(format!("{what} rootfs.diff_ids[{i}]"), e.to_string())
            })
        })
        .collect()
}

/// The platform a config declares (`os`, `architecture`, `variant`, `os.version`, `os.features`).
pub fn platform_of(config: &ImageConfiguration) -> Platform {
    Platform {
        architecture: config.architecture().to_string(),
        os: config.os().to_string(),
        os_version: config.os_version().clone(),
        os_features: config.os_features().clone().unwrap_or_default(),
        variant: config.variant().clone(),
    }
}

/// The latest time RFC 3339 (four-digit years) can express: 9999-12-31T23:59:59Z.
pub const MAX_EPOCH: u64 = 253_402_300_799;

/// Formats seconds since the Unix epoch as RFC 3339 in UTC with a `Z` suffix, e.g.
/// `1970-01-01T00:00:00Z`. Fails past [`MAX_EPOCH`].
pub fn rfc3339(epoch_seconds: u64) -> Result<String> {
    if epoch_seconds > MAX_EPOCH {
        return Err(Error::invalid(
            "created time",
            format!("{epoch_seconds} is after 9999-12-31T23:59:59Z"),
        ));
    }
    let days = (epoch_seconds / 86_400) as i64;
    let secs = epoch_seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

/// A transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// `tcp` (the default).
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`.
    Sctp,
}

impl Protocol {
    /// The name written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A port a container listens on, written `PORT/PROTO` in `ExposedPorts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExposedPort {
    /// The port number.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl ExposedPort {
    /// A TCP port.
    pub fn tcp(port: u16) -> Self {
        ExposedPort { port, protocol: Protocol::Tcp }
    }

    /// A UDP port.
    pub fn udp(port: u16) -> Self {
        ExposedPort { port, protocol: Protocol::Udp }
    }
}

impl fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

impl FromStr for ExposedPort {
    type Err = Error;
    /// Parses `80`, `80/tcp`, `53/udp` or `132/sctp` (as a Dockerfile's `EXPOSE` does).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(format!("exposed port {s:?}"), reason);
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "sctp" => Protocol::Sctp,
            _ => return Err(bad("protocol must be tcp, udp or sctp")),
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("port must be a number"));
        }
        let port: u16 = port.parse().map_err(|_| bad("port must be at most 65535"))?;
        if port == 0 {
            return Err(bad("port must not be 0"));
        }
        Ok(ExposedPort { port, protocol })
    }
}

/// The value of `key` in a `KEY=VALUE` environment list, if set.
pub fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| match e.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if e == key => Some(""),
        _ => None,
    })
}

/// Sets `key` to `value` in a `KEY=VALUE` list: replaces the existing entry in place (and drops
/// any duplicates of it), or appends.
pub fn env_set(env: &mut Vec<String>, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let is_key = |e: &String| e.split_once('=').map(|(k, _)| k).unwrap_or(e) == key;
    match env.iter().position(is_key) {
        Some(i) => {
            env[i] = entry;
            let mut j = i + 1;
            while j < env.len() {
                if is_key(&env[j]) {
                    env.remove(j);
                } else {
                    j += 1;
                }
            }
        }
        None => env.push(entry),
    }
}

/// Removes `key` from a `KEY=VALUE` list.
pub fn env_remove(env: &mut Vec<String>, key: &str) {
    env.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != key);
}

/// Checks an environment variable name: non-empty, no `=`, no NUL.
pub(crate) fn check_env_key(key: &str) -> Result<()> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(Error::invalid(
            format!("environment variable name {key:?}"),
            "must be non-empty without '=' or NUL",
        ));
    }
    Ok(())
}

/// Keys of the `config` object that `oci_spec::image::Config` models. Other keys a base image's
/// config carries there (`Healthcheck`, `Shell`, `OnBuild`, `ArgsEscaped`, …) change how the
/// image runs, so [`crate::ImageBuilder`] keeps them verbatim.
pub(crate) const MODELLED_CONFIG_KEYS: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_107_542_399).unwrap(), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(MAX_EPOCH).unwrap(), "9999-12-31T23:59:59Z");
        assert!(rfc3339(MAX_EPOCH + 1).is_err());
    }

    #[test]
    fn rfc3339_matches_date() {
        // Cross-check against GNU date for a spread of values.
        let Ok(out) = std::process::Command::new("date").arg("--version").output() else {
            return;
        };
        if !out.status.success() {
            return;
        }
        for t in
            [1u64, 59, 86_399, 86_400, 1_234_567_890, 2_147_483_647, 2_147_483_648, 9_999_999_999]
        {
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
                .env("TZ", "UTC")
                .output()
                .unwrap();
            assert_eq!(rfc3339(t).unwrap(), String::from_utf8(out.stdout).unwrap().trim(), "{t}");
        }
    }

    #[test]
    fn ports() {
        assert_eq!("80".parse::<ExposedPort>().unwrap(), ExposedPort::tcp(80));
        assert_eq!("53/UDP".parse::<ExposedPort>().unwrap().to_string(), "53/udp");
        for bad in ["", "x", "0", "70000", "80/icmp", "-1", "80/"] {
            assert!(bad.parse::<ExposedPort>().is_err(), "{bad}");
        }
    }

    #[test]
    fn env_helpers() {
        let mut env = vec!["PATH=/bin".to_owned(), "A=1".to_owned(), "A=2".to_owned()];
        assert_eq!(env_get(&env, "A"), Some("2"));
        env_set(&mut env, "A", "x=y");
        assert_eq!(env, ["PATH=/bin", "A=x=y"]);
        env_set(&mut env, "B", "");
        assert_eq!(env_get(&env, "B"), Some(""));
        env_remove(&mut env, "PATH");
        assert_eq!(env, ["A=x=y", "B="]);
    }
}
