//! Image variants: which base package set a resolution starts from, as mmdebstrap defines them.
//!
//! mmdebstrap (1.3) computes its variants in two stages, and [`Resolver`](super::resolve::Resolver)
//! follows it:
//!
//! | variant | stage 1 (base) | stage 2 |
//! |---|---|---|
//! | [`Essential`](Variant::Essential) | every `Essential: yes` package of the native architecture (or `all`) | the requested packages |
//! | [`Apt`](Variant::Apt) | the essential set **and** `apt` (mmdebstrap runs `apt-get dist-upgrade` on an empty status file; apt treats itself as essential) | the requested packages |
//! | [`Minbase`](Variant::Minbase) (alias `required`) | the essential set | every `Priority: required` package, plus the requested packages |
//! | [`Important`](Variant::Important) | the essential set | every `Priority: required` or `important` package, plus the requested packages |
//! | [`Standard`](Variant::Standard) | the essential set | `required`, `important` and `standard` packages, plus the requested packages |
//! | [`Distroless`](Variant::Distroless) | nothing | only the requested packages |
//!
//! Every stage also installs the hard dependencies (`Pre-Depends`, `Depends`) of what it selects,
//! never `Recommends` unless asked. A package counts as essential (or of a priority) when any of
//! its available versions for the architecture says so: mmdebstrap asks apt for packages with such
//! a version in the main suite, then installs their candidate versions.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::apt::package::Priority;

/// A base package set, as mmdebstrap's `--variant`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Variant {
    /// `Essential: yes` packages and their dependencies.
    Essential,
    /// The essential set plus `apt`.
    Apt,
    /// The essential set plus every `Priority: required` package (mmdebstrap's `minbase`, also
    /// spelled `required`).
    #[serde(alias = "required")]
    Minbase,
    /// `minbase` plus every `Priority: important` package (debootstrap's default).
    Important,
    /// `important` plus every `Priority: standard` package.
    Standard,
    /// Only the requested packages and their dependencies: no essential set, no package manager.
    #[default]
    Distroless,
}

impl Variant {
    /// All variants, in a fixed order.
    pub const ALL: [Variant; 6] = [
        Variant::Essential,
        Variant::Apt,
        Variant::Minbase,
        Variant::Important,
        Variant::Standard,
        Variant::Distroless,
    ];

    /// The name used in specs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Essential => "essential",
            Variant::Apt => "apt",
            Variant::Minbase => "minbase",
            Variant::Important => "important",
            Variant::Standard => "standard",
            Variant::Distroless => "distroless",
        }
    }

    /// The install flavour this variant builds: distroless images get no package manager
    /// database beyond `status.d` and run no maintainer scripts; every other variant is a full
    /// image.
    pub fn flavour(self) -> crate::apt::install::Flavour {
        match self {
            Variant::Distroless => crate::apt::install::Flavour::Distroless,
            _ => crate::apt::install::Flavour::Full,
        }
    }

    /// Whether stage 1 installs the `Essential: yes` set.
    pub fn includes_essential(self) -> bool {
        !matches!(self, Variant::Distroless)
    }

    /// Packages stage 1 adds by name beside the essential set (`apt` for [`Variant::Apt`]).
    pub fn base_packages(self) -> &'static [&'static str] {
        match self {
            Variant::Apt => &["apt"],
            _ => &[],
        }
    }

    /// Whether stage 2 selects every package of priority `p` (of the architecture).
    pub fn includes_priority(self, p: Priority) -> bool {
        match self {
            Variant::Minbase => p == Priority::Required,
            Variant::Important => matches!(p, Priority::Required | Priority::Important),
            Variant::Standard => {
                matches!(p, Priority::Required | Priority::Important | Priority::Standard)
            }
            Variant::Essential | Variant::Apt | Variant::Distroless => false,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Variant {
    type Err = Error;

    /// Parses a variant name; `required` is accepted for `minbase` and `debootstrap` for
    /// `important`, as mmdebstrap does.
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "essential" => Variant::Essential,
            "apt" => Variant::Apt,
            "minbase" | "required" => Variant::Minbase,
            "important" | "debootstrap" => Variant::Important,
            "standard" => Variant::Standard,
            "distroless" => Variant::Distroless,
            _ => return Err(Error::InvalidVariant { input: s.to_owned() }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.as_str().parse::<Variant>().unwrap(), v);
        }
        assert_eq!("required".parse::<Variant>().unwrap(), Variant::Minbase);
        assert!("buildd".parse::<Variant>().is_err());
    }

    #[test]
    fn priorities() {
        assert!(Variant::Minbase.includes_priority(Priority::Required));
        assert!(!Variant::Minbase.includes_priority(Priority::Important));
        assert!(Variant::Standard.includes_priority(Priority::Standard));
        assert!(!Variant::Apt.includes_priority(Priority::Required));
        assert!(!Variant::Distroless.includes_essential());
    }
}
