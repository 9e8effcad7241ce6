//! Platforms (`os/architecture[/variant]`) and the mapping from Debian architecture names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The platform an image runs on, as written in OCI indexes and image configs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture in Go's naming (`amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, …).
    pub architecture: String,
    /// Operating system (`linux`).
    pub os: String,
    /// OS version (Windows only, kept for round trips).
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// OS features (Windows only, kept for round trips).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7` for armhf, `v8` for arm64 when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<architecture>` with no variant.
    pub fn linux(architecture: &str) -> Self {
        Platform {
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            os_version: None,
            os_features: Vec::new(),
            variant: None,
        }
    }

    /// The platform of a Debian/Ubuntu architecture name (`amd64`, `arm64`, `armhf`, `armel`,
    /// `i386`, `ppc64el`, `s390x`, `riscv64`, `mips64el`).
    pub fn from_debian_arch(arch: &str) -> Result<Self, Error> {
        let (a, v) = match arch {
            "amd64" => ("amd64", None),
            "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "mips64el" => ("mips64le", None),
            _ => {
                return Err(Error::InvalidPlatform {
                    input: arch.to_owned(),
                    reason: "unknown Debian architecture",
                });
            }
        };
        let mut p = Platform::linux(a);
        p.variant = v.map(str::to_owned);
        Ok(p)
    }

    /// The Debian architecture name for this platform, if there is one.
    pub fn debian_arch(&self) -> Option<&'static str> {
        Some(match (self.architecture.as_str(), self.variant.as_deref()) {
            ("amd64", _) => "amd64",
            ("arm64", _) => "arm64",
            ("arm", Some("v7") | None) => "armhf",
            ("arm", Some("v5" | "v6")) => "armel",
            ("386", _) => "i386",
            ("ppc64le", _) => "ppc64el",
            ("s390x", _) => "s390x",
            ("riscv64", _) => "riscv64",
            ("mips64le", _) => "mips64el",
            _ => return None,
        })
    }

    /// The platform of the running host.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform::linux(arch)
    }

    /// Whether an image for `self` satisfies a request for `wanted`: OS and architecture must be
    /// equal; a variant is compared only when `wanted` names one.
    pub fn matches(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none()
                || self.variant == wanted.variant
                || (self.architecture == "arm64"
                    && self.variant.is_none()
                    && wanted.variant.as_deref() == Some("v8")))
    }

    /// Converts to oci-spec's platform type.
    pub fn to_oci(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::Platform::default();
        p.set_architecture(oci_spec::image::Arch::from(self.architecture.as_str()));
        p.set_os(oci_spec::image::Os::from(self.os.as_str()));
        p.set_variant(self.variant.clone());
        p.set_os_version(self.os_version.clone());
        if !self.os_features.is_empty() {
            p.set_os_features(Some(self.os_features.clone()));
        }
        p
    }

    /// Converts from oci-spec's platform type.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Platform {
            architecture: p.architecture().to_string(),
            os: p.os().to_string(),
            os_version: p.os_version().clone(),
            os_features: p.os_features().clone().unwrap_or_default(),
            variant: p.variant().clone(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;
    /// Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidPlatform { input: s.to_owned(), reason };
        let parts: Vec<&str> = s.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| ok(p)) {
            return Err(bad("expected OS/ARCH or OS/ARCH/VARIANT"));
        }
        let mut p = Platform::linux(parts[1]);
        p.os = parts[0].to_owned();
        p.variant = parts.get(2).map(|v| (*v).to_owned());
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(p.debian_arch(), Some("arm64"));
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/v1/x".parse::<Platform>().is_err());
        assert!("linux/../x".parse::<Platform>().is_err());
    }

    #[test]
    fn debian_arches_roundtrip() {
        for a in ["amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "s390x", "riscv64"] {
            assert_eq!(Platform::from_debian_arch(a).unwrap().debian_arch(), Some(a));
        }
    }

    #[test]
    fn serde_field_names() {
        let p = Platform::from_debian_arch("armhf").unwrap();
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, r#"{"architecture":"arm","os":"linux","variant":"v7"}"#);
    }
}
