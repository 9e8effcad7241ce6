//! Media types of OCI and Docker schema2 manifests, configs and layers.

use std::fmt;
use std::str::FromStr;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (RFC 1952), possibly multi-member.
    Gzip,
    /// zstd (RFC 8878).
    Zstd,
}

/// A media type. Known types are variants; anything else is kept verbatim in [`MediaType::Other`].
///
/// Docker schema2 types are distinct variants so that a manifest's bytes survive a round trip
/// unchanged; [`MediaType::to_oci`] maps them to their OCI equivalents.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MediaType {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.oci.image.config.v1+json`
    OciConfig,
    /// `application/vnd.oci.image.layer.v1.tar`
    OciLayer,
    /// `application/vnd.oci.image.layer.v1.tar+gzip`
    OciLayerGzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`
    OciLayerZstd,
    /// `application/vnd.oci.empty.v1+json`
    OciEmpty,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
    /// `application/vnd.docker.container.image.v1+json`
    DockerConfig,
    /// `application/vnd.docker.image.rootfs.diff.tar.gzip`
    DockerLayerGzip,
    /// `application/vnd.docker.image.rootfs.diff.tar`
    DockerLayer,
    /// Any other media type, verbatim.
    Other(String),
}

const TABLE: &[(&str, MediaType)] = &[
    ("application/vnd.oci.image.manifest.v1+json", MediaType::OciManifest),
    ("application/vnd.oci.image.index.v1+json", MediaType::OciIndex),
    ("application/vnd.oci.image.config.v1+json", MediaType::OciConfig),
    ("application/vnd.oci.image.layer.v1.tar", MediaType::OciLayer),
    ("application/vnd.oci.image.layer.v1.tar+gzip", MediaType::OciLayerGzip),
    ("application/vnd.oci.image.layer.v1.tar+zstd", MediaType::OciLayerZstd),
    ("application/vnd.oci.empty.v1+json", MediaType::OciEmpty),
    ("application/vnd.docker.distribution.manifest.v2+json", MediaType::DockerManifest),
    ("application/vnd.docker.distribution.manifest.list.v2+json", MediaType::DockerManifestList),
    ("application/vnd.docker.container.image.v1+json", MediaType::DockerConfig),
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", MediaType::DockerLayerGzip),
    ("application/vnd.docker.image.rootfs.diff.tar", MediaType::DockerLayer),
];

impl MediaType {
    /// The media type string.
    pub fn as_str(&self) -> &str {
        if let MediaType::Other(s) = self {
            return s;
        }
        TABLE.iter().find(|(_, m)| m == self).map(|(s, _)| *s).unwrap_or("")
    }

    /// An image manifest (OCI or Docker schema2).
    pub fn is_manifest(&self) -> bool {
        matches!(self, MediaType::OciManifest | MediaType::DockerManifest)
    }

    /// A multi-platform index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        matches!(self, MediaType::OciIndex | MediaType::DockerManifestList)
    }

    /// An image configuration.
    pub fn is_config(&self) -> bool {
        matches!(self, MediaType::OciConfig | MediaType::DockerConfig)
    }

    /// A filesystem layer, in any compression. Includes the non-distributable OCI variants.
    pub fn is_layer(&self) -> bool {
        self.layer_compression().is_some()
    }

    /// The compression of a layer media type, or `None` if this is not a layer type.
    pub fn layer_compression(&self) -> Option<Compression> {
        match self {
            MediaType::OciLayer | MediaType::DockerLayer => Some(Compression::None),
            MediaType::OciLayerGzip | MediaType::DockerLayerGzip => Some(Compression::Gzip),
            MediaType::OciLayerZstd => Some(Compression::Zstd),
            MediaType::Other(s) => match s.as_str() {
                "application/vnd.oci.image.layer.nondistributable.v1.tar" => {
                    Some(Compression::None)
                }
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" => {
                    Some(Compression::Gzip)
                }
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                    Some(Compression::Zstd)
                }
                "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                    Some(Compression::Gzip)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The OCI layer media type for `compression`.
    pub fn oci_layer(compression: Compression) -> MediaType {
        match compression {
            Compression::None => MediaType::OciLayer,
            Compression::Gzip => MediaType::OciLayerGzip,
            Compression::Zstd => MediaType::OciLayerZstd,
        }
    }

    /// The OCI equivalent of a Docker schema2 type; OCI and unknown types map to themselves.
    pub fn to_oci(&self) -> MediaType {
        match self {
            MediaType::DockerManifest => MediaType::OciManifest,
            MediaType::DockerManifestList => MediaType::OciIndex,
            MediaType::DockerConfig => MediaType::OciConfig,
            MediaType::DockerLayerGzip => MediaType::OciLayerGzip,
            MediaType::DockerLayer => MediaType::OciLayer,
            other => other.clone(),
        }
    }

    /// The Docker schema2 equivalent of an OCI type, where one exists (zstd layers have none).
    pub fn to_docker(&self) -> Option<MediaType> {
        Some(match self {
            MediaType::OciManifest | MediaType::DockerManifest => MediaType::DockerManifest,
            MediaType::OciIndex | MediaType::DockerManifestList => MediaType::DockerManifestList,
            MediaType::OciConfig | MediaType::DockerConfig => MediaType::DockerConfig,
            MediaType::OciLayerGzip | MediaType::DockerLayerGzip => MediaType::DockerLayerGzip,
            MediaType::OciLayer | MediaType::DockerLayer => MediaType::DockerLayer,
            _ => return None,
        })
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for MediaType {
    fn from(s: &str) -> Self {
        TABLE
            .iter()
            .find(|(k, _)| *k == s)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| MediaType::Other(s.to_owned()))
    }
}

impl FromStr for MediaType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(MediaType::from(s))
    }
}

impl serde::Serialize for MediaType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MediaType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(MediaType::from(&*s))
    }
}

impl From<&MediaType> for oci_spec::image::MediaType {
    fn from(m: &MediaType) -> Self {
        oci_spec::image::MediaType::from(m.as_str())
    }
}

impl From<&oci_spec::image::MediaType> for MediaType {
    fn from(m: &oci_spec::image::MediaType) -> Self {
        MediaType::from(m.to_string().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_known() {
        for (s, m) in TABLE {
            assert_eq!(MediaType::from(*s), *m);
            assert_eq!(m.as_str(), *s);
            let oci: oci_spec::image::MediaType = m.into();
            assert_eq!(MediaType::from(&oci), *m);
        }
        assert_eq!(MediaType::from("text/plain"), MediaType::Other("text/plain".into()));
    }

    #[test]
    fn docker_oci_equivalents() {
        assert_eq!(MediaType::DockerLayerGzip.to_oci(), MediaType::OciLayerGzip);
        assert_eq!(MediaType::OciLayerZstd.to_docker(), None);
        assert_eq!(MediaType::OciLayerZstd.layer_compression(), Some(Compression::Zstd));
        assert!(MediaType::DockerManifestList.is_index());
    }
}
