//! Building images and indexes deterministically.
//!
//! [`ImageBuilder`] assembles a config and a manifest from layers the caller has already stored
//! (mbi-layer writes them) plus settings; [`IndexBuilder`] groups images of several platforms.
//! Both serialise through [`crate::canonical`], never read the clock or the environment, and
//! give byte-identical output for the same inputs: the created time defaults to the Unix epoch.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::config::{self, ExposedPort, History, ImageConfiguration, rfc3339};
use crate::image::{Image, Index, Layer};
use crate::manifest::annotations;
use crate::{BlobStore, Compression, Descriptor, Digest, Error, MediaType, Platform, Result};

/// Which family of media types to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManifestFormat {
    /// OCI image-spec media types (the default).
    #[default]
    Oci,
    /// Docker schema2 media types, for old consumers. zstd layers cannot be expressed, and
    /// manifest annotations are not written (schema2 has none).
    Docker,
}

/// One history entry for a layer (or an empty-layer step) added by [`ImageBuilder`]. Its
/// `created` time is the builder's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The command or tool that made the step (`mbi from-dir`, `apt-get install …`).
    pub created_by: Option<String>,
    /// A free-form comment.
    pub comment: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// Whether the step made no layer (e.g. a config change). [`ImageBuilder::append_layer`]
    /// ignores this and writes `false`; [`ImageBuilder::add_history`] always writes `true`.
    pub empty_layer: bool,
}

impl HistoryEntry {
    /// An entry with `created_by` set.
    pub fn new(created_by: impl Into<String>) -> Self {
        HistoryEntry { created_by: Some(created_by.into()), ..Default::default() }
    }

    /// Sets the comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Sets the author.
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    fn to_history(&self, created: &str, empty_layer: bool) -> History {
        let mut h = History::default();
        h.set_created(Some(created.to_owned()));
        h.set_created_by(self.created_by.clone());
        h.set_comment(self.comment.clone());
        h.set_author(self.author.clone());
        h.set_empty_layer(empty_layer.then_some(true));
        h
    }
}

#[derive(Debug, Clone)]
enum HistoryItem {
    Inherited(History),
    New { entry: HistoryEntry, empty_layer: bool },
}

/// Builds an image config and manifest.
///
/// ```
/// use mbi_core::{BlobStore, Descriptor, Digest, ImageBuilder, MediaType, MemoryStore, Platform};
/// use mbi_core::builder::HistoryEntry;
///
/// let store = MemoryStore::new();
/// // A real layer comes from mbi-layer; any stored blob will do here.
/// let tar = vec![0u8; 1024]; // an empty tar: two zero blocks
/// let (digest, size) = store.put_bytes(&tar).unwrap();
/// let layer = Descriptor::new(MediaType::OciLayer, digest.clone(), size);
///
/// let image = ImageBuilder::new(Platform::linux("amd64"))
///     .append_layer(layer, digest, HistoryEntry::new("example"))
///     .env("PATH", "/usr/bin:/bin")
///     .cmd(["/bin/sh"])
///     .created(1_700_000_000)
///     .build(&store)
///     .unwrap();
/// assert_eq!(image.created(), Some("2023-11-14T22:13:20Z"));
/// assert_eq!(image.layers().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    platform: Platform,
    format: ManifestFormat,
    created: u64,
    author: Option<String>,
    layers: Vec<Layer>,
    history: Vec<HistoryItem>,
    env: Vec<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    entrypoint_set: bool,
    cmd_set: bool,
    user: Option<String>,
    working_dir: Option<String>,
    labels: BTreeMap<String, String>,
    exposed_ports: BTreeSet<String>,
    volumes: BTreeSet<String>,
    stop_signal: Option<String>,
    /// Keys of the base config's `config` object that oci-spec does not model.
    extra_exec: Map<String, Value>,
    annotations: BTreeMap<String, String>,
    base: Option<(Option<String>, Digest)>,
    require_layers: bool,
    /// The first invalid setter argument, reported by `build`.
    pending_error: Option<String>,
}

impl ImageBuilder {
    /// An image with no layers for `platform`.
    pub fn new(platform: Platform) -> Self {
        ImageBuilder {
            platform,
            format: ManifestFormat::Oci,
            created: 0,
            author: None,
            layers: Vec::new(),
            history: Vec::new(),
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            entrypoint_set: false,
            cmd_set: false,
            user: None,
            working_dir: None,
            labels: BTreeMap::new(),
            exposed_ports: BTreeSet::new(),
            volumes: BTreeSet::new(),
            stop_signal: None,
            extra_exec: Map::new(),
            annotations: BTreeMap::new(),
            base: None,
            require_layers: true,
            pending_error: None,
        }
    }

    /// An image on top of `base`: its layers, history and config (env, entrypoint, cmd, user,
    /// working dir, labels, ports, volumes, stop signal, and config keys mbi does not model such
    /// as `Healthcheck`) are inherited; `org.opencontainers.image.base.digest` is set to its
    /// manifest digest. Manifest annotations of the base are not inherited. Docker layer media
    /// types are mapped to their OCI equivalents (same bytes) unless [`ManifestFormat::Docker`]
    /// is chosen.
    pub fn from_image(base: &Image) -> Self {
        let mut b = ImageBuilder::new(base.platform());
        b.author = base.config().author().clone();
        b.layers = base.layers().to_vec();
        b.history = base.history().iter().cloned().map(HistoryItem::Inherited).collect();
        b.env = base.env().to_vec();
        b.entrypoint = base.entrypoint().map(<[String]>::to_vec);
        b.cmd = base.cmd().map(<[String]>::to_vec);
        b.user = base.user().map(str::to_owned);
        b.working_dir = base.working_dir().map(str::to_owned);
        b.labels = base.labels();
        b.exposed_ports = base.exposed_ports();
        b.volumes = base.volumes();
        b.stop_signal = base.stop_signal().map(str::to_owned);
        if let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(base.config_bytes())
            && let Some(Value::Object(exec)) = top.get("config")
        {
            b.extra_exec = exec
                .iter()
                .filter(|(k, _)| !config::MODELLED_CONFIG_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        b.base = Some((None, base.digest().clone()));
        b
    }

    /// Sets `org.opencontainers.image.base.name` (the reference the base was pulled from).
    pub fn base_name(&mut self, name: impl Into<String>) -> &mut Self {
        match &mut self.base {
            Some((n, _)) => *n = Some(name.into()),
            None => {
                self.annotations.insert(annotations::BASE_NAME.to_owned(), name.into());
            }
        }
        self
    }

    /// Chooses OCI (default) or Docker schema2 media types.
    pub fn format(&mut self, format: ManifestFormat) -> &mut Self {
        self.format = format;
        self
    }

    /// The creation time, in seconds since the Unix epoch (pass SOURCE_DATE_EPOCH here). Used
    /// for the config's `created`, new history entries and the `org.opencontainers.image.created`
    /// annotation. Defaults to 0 (1970-01-01T00:00:00Z); the clock is never read.
    pub fn created(&mut self, epoch_seconds: u64) -> &mut Self {
        self.created = epoch_seconds;
        self
    }

    /// The config's `author`.
    pub fn author(&mut self, author: impl Into<String>) -> &mut Self {
        self.author = Some(author.into());
        self
    }

    /// Appends a layer (already stored) with its diff_id and a history entry.
    pub fn append_layer(
        &mut self,
        layer: Descriptor,
        diff_id: Digest,
        history: HistoryEntry,
    ) -> &mut Self {
        self.layers.push(Layer { descriptor: layer, diff_id });
        self.history.push(HistoryItem::New { entry: history, empty_layer: false });
        self
    }

    /// Appends a history entry that made no layer (`empty_layer: true`).
    pub fn add_history(&mut self, entry: HistoryEntry) -> &mut Self {
        self.history.push(HistoryItem::New { entry, empty_layer: true });
        self
    }

    /// Sets one environment variable, replacing an inherited value of the same name in place.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        if let Err(e) = config::check_env_key(key) {
            self.pending_error.get_or_insert(e.to_string());
            return self;
        }
        config::env_set(&mut self.env, key, value);
        self
    }

    /// Sets several environment variables (merged by name into the inherited ones).
    pub fn envs<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self {
        for (k, v) in vars {
            self.env(k.as_ref(), v.as_ref());
        }
        self
    }

    /// Removes an environment variable.
    pub fn remove_env(&mut self, key: &str) -> &mut Self {
        config::env_remove(&mut self.env, key);
        self
    }

    /// Sets the entrypoint. As in a Dockerfile, setting it drops a `cmd` inherited from the base
    /// unless [`ImageBuilder::cmd`] is also called.
    pub fn entrypoint<S: Into<String>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Self {
        self.entrypoint = Some(args.into_iter().map(Into::into).collect());
        self.entrypoint_set = true;
        self
    }

    /// Sets the default command (the entrypoint's arguments, or the program if none).
    pub fn cmd<S: Into<String>>(&mut self, args: impl IntoIterator<Item = S>) -> &mut Self {
        self.cmd = Some(args.into_iter().map(Into::into).collect());
        self.cmd_set = true;
        self
    }

    /// Removes the entrypoint.
    pub fn clear_entrypoint(&mut self) -> &mut Self {
        self.entrypoint = None;
        self.entrypoint_set = true;
        self
    }

    /// Removes the default command.
    pub fn clear_cmd(&mut self) -> &mut Self {
        self.cmd = None;
        self.cmd_set = true;
        self
    }

    /// Sets the user (`name`, `uid`, `uid:gid`, …).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the working directory.
    pub fn working_dir(&mut self, dir: impl Into<String>) -> &mut Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Adds or replaces a label.
    pub fn label(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Removes a label.
    pub fn remove_label(&mut self, key: &str) -> &mut Self {
        self.labels.remove(key);
        self
    }

    /// Exposes a port.
    pub fn expose(&mut self, port: ExposedPort) -> &mut Self {
        self.exposed_ports.insert(port.to_string());
        self
    }

    /// Declares a volume (an absolute path in the container).
    pub fn volume(&mut self, path: impl Into<String>) -> &mut Self {
        self.volumes.insert(path.into());
        self
    }

    /// Sets the stop signal (`SIGTERM`, `SIGINT`, `9`, …).
    pub fn stop_signal(&mut self, signal: impl Into<String>) -> &mut Self {
        self.stop_signal = Some(signal.into());
        self
    }

    /// Adds or replaces a manifest annotation. The created, base name and base digest
    /// annotations are managed by the builder and override values given here.
    pub fn annotation(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Whether [`ImageBuilder::build`] insists that every layer blob is in the store (default
    /// `true`). Turn off only when the layers live elsewhere (e.g. in a registry the image will
    /// be pushed to).
    pub fn require_layers(&mut self, require: bool) -> &mut Self {
        self.require_layers = require;
        self
    }

    /// Renders the config and manifest bytes without storing them.
    pub fn render(&self) -> Result<Rendered> {
        if let Some(e) = &self.pending_error {
            return Err(Error::invalid("image builder", e.clone()));
        }
        let created = rfc3339(self.created)?;
        let config_bytes = self.render_config(&created)?;
        let config_type = match self.format {
            ManifestFormat::Oci => MediaType::OciConfig,
            ManifestFormat::Docker => MediaType::DockerConfig,
        };
        let config = Descriptor::of_bytes(config_type, &config_bytes);
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let mut d = l.descriptor.clone();
            d.media_type = layer_media_type(&d.media_type, self.format).ok_or_else(|| {
                Error::invalid(
                    format!("layer {i} ({})", d.digest),
                    format!(
                        "media type {} cannot be written in a {:?} manifest",
                        d.media_type, self.format
                    ),
                )
            })?;
            layers.push(d);
        }
        let (media_type, annotations) = match self.format {
            ManifestFormat::Oci => {
                let mut a = self.annotations.clone();
                a.insert(annotations::CREATED.to_owned(), created);
                if let Some((name, digest)) = &self.base {
                    a.insert(annotations::BASE_DIGEST.to_owned(), digest.to_string());
                    if let Some(n) = name {
                        a.insert(annotations::BASE_NAME.to_owned(), n.clone());
                    }
                }
                (MediaType::OciManifest, a)
            }
            ManifestFormat::Docker => (MediaType::DockerManifest, BTreeMap::new()),
        };
        let manifest = ManifestDoc {
            schema_version: 2,
            media_type: media_type.clone(),
            config: config.clone(),
            layers,
            annotations,
        };
        let manifest_bytes = crate::canonical::to_vec(&manifest)?;
        Ok(Rendered {
            manifest: Descriptor::of_bytes(media_type, &manifest_bytes),
            manifest_bytes,
            config,
            config_bytes,
        })
    }

    fn render_config(&self, created: &str) -> Result<Vec<u8>> {
        let mut exec = config::Config::default();
        exec.set_env((!self.env.is_empty()).then(|| self.env.clone()));
        exec.set_entrypoint(self.entrypoint.clone());
        let cmd = if self.entrypoint_set && !self.cmd_set { None } else { self.cmd.clone() };
        exec.set_cmd(cmd);
        exec.set_user(self.user.clone());
        exec.set_working_dir(self.working_dir.clone());
        exec.set_labels(
            (!self.labels.is_empty())
                .then(|| self.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        );
        exec.set_exposed_ports(
            (!self.exposed_ports.is_empty()).then(|| self.exposed_ports.iter().cloned().collect()),
        );
        exec.set_volumes(
            (!self.volumes.is_empty()).then(|| self.volumes.iter().cloned().collect()),
        );
        exec.set_stop_signal(self.stop_signal.clone());

        let mut cfg = ImageConfiguration::default();
        cfg.set_created(Some(created.to_owned()));
        cfg.set_author(self.author.clone());
        cfg.set_architecture(self.platform.architecture.as_str().into());
        cfg.set_os(self.platform.os.as_str().into());
        cfg.set_variant(self.platform.variant.clone());
        cfg.set_os_version(self.platform.os_version.clone());
        cfg.set_os_features(
            (!self.platform.os_features.is_empty()).then(|| self.platform.os_features.clone()),
        );
        let mut rootfs = config::RootFs::default();
        rootfs.set_diff_ids(self.layers.iter().map(|l| l.diff_id.to_string()).collect());
        cfg.set_rootfs(rootfs);
        let history: Vec<History> = self
            .history
            .iter()
            .map(|h| match h {
                HistoryItem::Inherited(h) => h.clone(),
                HistoryItem::New { entry, empty_layer } => entry.to_history(created, *empty_layer),
            })
            .collect();
        cfg.set_history((!history.is_empty()).then_some(history));

        let mut value = serde_json::to_value(&cfg)
            .map_err(|e| Error::Document { what: "image config".into(), source: e })?;
        let has_exec = exec != config::Config::default() || !self.extra_exec.is_empty();
        if has_exec {
            let mut exec_value = serde_json::to_value(&exec)
                .map_err(|e| Error::Document { what: "image config".into(), source: e })?;
            if let Value::Object(m) = &mut exec_value {
                for (k, v) in &self.extra_exec {
                    m.insert(k.clone(), v.clone());
                }
            }
            if let Value::Object(top) = &mut value {
                top.insert("config".to_owned(), exec_value);
            }
        }
        crate::canonical::to_vec(&value)
    }

    /// Stores the config, then the manifest, in `store` and returns the image.
    ///
    /// Fails if a layer blob is missing from the store (see [`ImageBuilder::require_layers`]) or
    /// has another size than its descriptor says.
    pub fn build(&self, store: &dyn BlobStore) -> Result<Image> {
        let r = self.render()?;
        if self.require_layers {
            for l in &self.layers {
                match store.stat(&l.descriptor.digest)? {
                    None => return Err(Error::BlobNotFound(l.descriptor.digest.clone())),
                    Some(n) if n != l.descriptor.size => {
                        return Err(Error::SizeMismatch {
                            digest: l.descriptor.digest.clone(),
                            expected: l.descriptor.size,
                            actual: n,
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        store.put_bytes(&r.config_bytes)?;
        store.put_bytes(&r.manifest_bytes)?;
        Image::from_parts(r.manifest, r.manifest_bytes, r.config_bytes)
    }
}

/// The bytes [`ImageBuilder::render`] produces.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The manifest.
    pub manifest_bytes: Vec<u8>,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The config.
    pub config_bytes: Vec<u8>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestDoc {
    schema_version: u32,
    media_type: MediaType,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct IndexDoc {
    schema_version: u32,
    media_type: MediaType,
    manifests: Vec<Descriptor>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

const NONDIST: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";

/// The media type a layer gets in a manifest of `format`.
fn layer_media_type(m: &MediaType, format: ManifestFormat) -> Option<MediaType> {
    let compression = m.layer_compression()?;
    let foreign =
        matches!(m, MediaType::Other(s) if s.contains("nondistributable") || s.contains("foreign"));
    Some(match (format, foreign) {
        (ManifestFormat::Oci, false) => MediaType::oci_layer(compression),
        (ManifestFormat::Oci, true) => MediaType::Other(match compression {
            Compression::None => NONDIST.to_owned(),
            Compression::Gzip => format!("{NONDIST}+gzip"),
            Compression::Zstd => format!("{NONDIST}+zstd"),
        }),
        (ManifestFormat::Docker, false) => MediaType::oci_layer(compression).to_docker()?,
        (ManifestFormat::Docker, true) => match compression {
            Compression::Gzip => {
                MediaType::Other("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into())
            }
            _ => return None,
        },
    })
}

/// Builds a multi-platform index from images already stored.
///
/// Entries keep the order they were added in; each image's descriptor carries the platform of
/// its config.
#[derive(Debug, Clone, Default)]
pub struct IndexBuilder {
    format: ManifestFormat,
    manifests: Vec<Descriptor>,
    annotations: BTreeMap<String, String>,
    created: u64,
}

impl IndexBuilder {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses OCI (default) or Docker manifest-list media types.
    pub fn format(&mut self, format: ManifestFormat) -> &mut Self {
        self.format = format;
        self
    }

    /// The `org.opencontainers.image.created` annotation, in seconds since the epoch (default 0).
    pub fn created(&mut self, epoch_seconds: u64) -> &mut Self {
        self.created = epoch_seconds;
        self
    }

    /// Adds an image; its descriptor's platform comes from its config.
    pub fn add(&mut self, image: &Image) -> &mut Self {
        let mut d = image.descriptor().clone();
        d.annotations.remove(annotations::REF_NAME);
        d.platform = Some(image.platform());
        self.manifests.push(d);
        self
    }

    /// Adds any descriptor verbatim (another index, an artifact, an attestation).
    pub fn add_descriptor(&mut self, descriptor: Descriptor) -> &mut Self {
        self.manifests.push(descriptor);
        self
    }

    /// Adds or replaces an index annotation.
    pub fn annotation(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Renders the index bytes and descriptor without storing them.
    pub fn render(&self) -> Result<(Descriptor, Vec<u8>)> {
        let mut seen = BTreeSet::new();
        for d in &self.manifests {
            if let Some(p) = &d.platform
                && d.media_type.is_manifest()
                && !seen.insert((p.clone(), d.artifact_type.clone()))
            {
                return Err(Error::invalid("index", format!("two images for platform {p}")));
            }
        }
        let (media_type, annotations) = match self.format {
            ManifestFormat::Oci => {
                let mut a = self.annotations.clone();
                a.insert(annotations::CREATED.to_owned(), rfc3339(self.created)?);
                (MediaType::OciIndex, a)
            }
            ManifestFormat::Docker => (MediaType::DockerManifestList, BTreeMap::new()),
        };
        let mut manifests = self.manifests.clone();
        if self.format == ManifestFormat::Docker {
            for d in &mut manifests {
                d.media_type = d.media_type.to_docker().ok_or_else(|| {
                    Error::invalid(
                        format!("index entry {}", d.digest),
                        format!("{} has no Docker equivalent", d.media_type),
                    )
                })?;
                d.annotations.clear();
            }
        }
        let doc =
            IndexDoc { schema_version: 2, media_type: media_type.clone(), manifests, annotations };
        let bytes = crate::canonical::to_vec(&doc)?;
        Ok((Descriptor::of_bytes(media_type, &bytes), bytes))
    }

    /// Stores the index and returns it. Every listed manifest must already be in the store.
    pub fn build(&self, store: &dyn BlobStore) -> Result<Index> {
        for d in &self.manifests {
            if !store.contains(&d.digest)? {
                return Err(Error::BlobNotFound(d.digest.clone()));
            }
        }
        let (descriptor, bytes) = self.render()?;
        store.put_bytes(&bytes)?;
        Index::from_bytes(descriptor, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    fn layer(store: &MemoryStore, content: &[u8]) -> (Descriptor, Digest) {
        let (d, n) = store.put_bytes(content).unwrap();
        (Descriptor::new(MediaType::OciLayer, d.clone(), n), d)
    }

    fn configured(store: &MemoryStore, order: bool) -> Image {
        let (l, diff) = layer(store, &[0u8; 1024]);
        let mut b = ImageBuilder::new(Platform::linux("arm64"));
        b.append_layer(l, diff, HistoryEntry::new("test").comment("c"));
        let mut labels: Vec<(String, String)> =
            (0..40).map(|i| (format!("label.{i}"), format!("v{i}"))).collect();
        let mut ports: Vec<u16> = (1000..1040).collect();
        let mut vols: Vec<String> = (0..40).map(|i| format!("/vol/{i}")).collect();
        let mut annos: Vec<(String, String)> =
            (0..40).map(|i| (format!("org.example.{i}"), format!("{i}"))).collect();
        if order {
            labels.reverse();
            ports.reverse();
            vols.reverse();
            annos.reverse();
        }
        for (k, v) in labels {
            b.label(k, v);
        }
        for p in ports {
            b.expose(ExposedPort::tcp(p));
        }
        for v in vols {
            b.volume(v);
        }
        for (k, v) in annos {
            b.annotation(k, v);
        }
        b.env("A", "1").env("B", "2").user("1000:1000").working_dir("/w").stop_signal("SIGINT");
        b.build(store).unwrap()
    }

    #[test]
    fn deterministic_whatever_insertion_order() {
        let s = MemoryStore::new();
        let a = configured(&s, false);
        let b = configured(&s, true);
        assert_eq!(a.manifest_bytes(), b.manifest_bytes());
        assert_eq!(a.config_bytes(), b.config_bytes());
        for _ in 0..5 {
            assert_eq!(configured(&s, false).digest(), a.digest());
        }
        assert_eq!(a.labels().len(), 40);
        assert_eq!(a.exposed_ports().len(), 40);
        assert_eq!(a.created(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(a.annotations()[annotations::CREATED], "1970-01-01T00:00:00Z");
        assert_eq!(a.history()[0].created().as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(a.platform(), Platform::linux("arm64"));
    }

    #[test]
    fn on_base_inherits_and_entrypoint_resets_cmd() {
        let s = MemoryStore::new();
        let (l, d) = layer(&s, &[0u8; 1024]);
        let base = ImageBuilder::new(Platform::linux("amd64"))
            .append_layer(l, d, HistoryEntry::new("base"))
            .env("PATH", "/bin")
            .env("KEEP", "k")
            .cmd(["bash"])
            .label("from", "base")
            .build(&s)
            .unwrap();
        let (l2, d2) = layer(&s, &[1u8; 1024]);
        let img = ImageBuilder::from_image(&base)
            .base_name("example.org/base:1")
            .append_layer(l2, d2, HistoryEntry::new("top"))
            .env("PATH", "/usr/bin:/bin")
            .entrypoint(["/app"])
            .created(86_400)
            .build(&s)
            .unwrap();
        assert_eq!(img.layers().len(), 2);
        assert_eq!(img.history().len(), 2);
        assert_eq!(img.history()[0].created().as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(img.history()[1].created().as_deref(), Some("1970-01-02T00:00:00Z"));
        assert_eq!(img.env(), ["PATH=/usr/bin:/bin", "KEEP=k"]);
        assert_eq!(img.cmd(), None);
        assert_eq!(img.entrypoint(), Some(&["/app".to_owned()][..]));
        assert_eq!(img.labels()["from"], "base");
        let a = img.annotations();
        assert_eq!(a[annotations::BASE_DIGEST], base.digest().to_string());
        assert_eq!(a[annotations::BASE_NAME], "example.org/base:1");
    }

    #[test]
    fn keeps_unmodelled_config_keys_of_base() {
        let s = MemoryStore::new();
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Env":["A=1"],"Healthcheck":{"Test":["CMD","true"]},"Shell":["/bin/bash","-c"]},"container_config":{"Cmd":["x"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let (cd, cn) = s.put_bytes(config).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{cd}","size":{cn}}},"layers":[]}}"#
        );
        let (md, mn) = s.put_bytes(manifest.as_bytes()).unwrap();
        let base = Image::load(&s, &Descriptor::new(MediaType::DockerManifest, md, mn)).unwrap();
        let img = ImageBuilder::from_image(&base).env("B", "2").build(&s).unwrap();
        let v: Value = serde_json::from_slice(img.config_bytes()).unwrap();
        assert_eq!(v["config"]["Healthcheck"]["Test"][1], "true");
        assert_eq!(v["config"]["Shell"][0], "/bin/bash");
        assert_eq!(v["config"]["Env"], serde_json::json!(["A=1", "B=2"]));
        assert!(v.get("container_config").is_none());
        assert_eq!(img.media_type(), &MediaType::OciManifest);
    }

    #[test]
    fn missing_layer_and_bad_input_are_errors() {
        let s = MemoryStore::new();
        let d = Digest::sha256(b"absent");
        let r = ImageBuilder::new(Platform::linux("amd64"))
            .append_layer(
                Descriptor::new(MediaType::OciLayer, d.clone(), 6),
                d,
                HistoryEntry::default(),
            )
            .build(&s);
        assert!(matches!(r, Err(Error::BlobNotFound(_))));
        assert!(ImageBuilder::new(Platform::linux("amd64")).env("A=B", "x").build(&s).is_err());
        assert!(ImageBuilder::new(Platform::linux("amd64")).created(u64::MAX).build(&s).is_err());
    }

    #[test]
    fn docker_format_refuses_zstd() {
        let s = MemoryStore::new();
        let (mut l, d) = layer(&s, b"x");
        l.media_type = MediaType::OciLayerZstd;
        let mut b = ImageBuilder::new(Platform::linux("amd64"));
        b.append_layer(l, d, HistoryEntry::default()).format(ManifestFormat::Docker);
        assert!(b.build(&s).is_err());
    }

    #[test]
    fn index_builder() {
        let s = MemoryStore::new();
        let a = ImageBuilder::new(Platform::linux("amd64")).build(&s).unwrap();
        let b = ImageBuilder::new(Platform::from_debian_arch("arm64").unwrap()).build(&s).unwrap();
        let idx = IndexBuilder::new().add(&a).add(&b).build(&s).unwrap();
        assert_eq!(idx.manifests().len(), 2);
        assert_eq!(idx.select(&"linux/arm64".parse().unwrap()).unwrap().digest, *b.digest());
        assert!(idx.select(&"linux/s390x".parse().unwrap()).is_err());
        assert!(IndexBuilder::new().add(&a).add(&a).build(&s).is_err());
    }
}
