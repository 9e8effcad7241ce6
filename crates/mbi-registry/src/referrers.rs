//! Referrers: artifacts (signatures, SBOMs, attestations) attached to a manifest through their
//! `subject` field, listed with the OCI referrers API or, on registries without it (the CNCF
//! registry 2.8 answers 404), through the tag schema: an index tagged `sha256-<hex>` that lists
//! the referrers of manifest `sha256:<hex>`.

use std::sync::Arc;

use mbi_core::{BlobStore, Descriptor, Digest, MediaType};
use reqwest::header;
use reqwest::{Method, StatusCode};

use crate::client::{Access, Client, status_error};
use crate::error::{Error, Result};
use crate::image::{GraphSource, Pushed, node, read_store_bytes};
use crate::manifest::{Document, Index, MAX_MANIFEST_SIZE};
use crate::reference::Reference;
use crate::transfer::BlobSource;

/// The tag-schema fallback tag for `digest`: `<alg>-<hex>`.
pub fn fallback_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().as_str(), digest.hex())
}

/// The descriptor a referrers list carries for an artifact manifest.
fn referrer_descriptor(desc: &Descriptor, doc: &Document) -> Descriptor {
    let mut d = Descriptor::new(desc.media_type.clone(), desc.digest.clone(), desc.size);
    d.artifact_type = doc.artifact_type();
    d.annotations = doc.annotations().clone();
    d
}

impl Client {
    /// Pushes the artifact manifest `artifact` (and its blobs) from `store` into the repository
    /// of `subject`, by digest. Its `subject` field must name `subject`'s digest. On a registry
    /// without the referrers API, the `sha256-<hex>` fallback index is updated (read, append,
    /// put; concurrent writers may race, as with every client of the tag schema).
    pub async fn push_referrer(
        &self,
        store: Arc<dyn BlobStore>,
        subject: &Reference,
        artifact: &Descriptor,
    ) -> Result<Pushed> {
        let subject_digest = subject.digest().ok_or_else(|| Error::InvalidReference {
            input: subject.to_string(),
            reason: "the subject of a referrer must be given by digest",
        })?;
        let what = format!("artifact manifest {}", artifact.digest);
        let bytes = read_store_bytes(&store, &artifact.digest, MAX_MANIFEST_SIZE).await?;
        let n = node(artifact.clone(), bytes, &what)?;
        match n.doc.subject() {
            Some(s) if s.digest == *subject_digest => {}
            Some(s) => {
                return Err(Error::invalid_doc(
                    what,
                    format!("its subject is {}, not {subject_digest}", s.digest),
                ));
            }
            None => return Err(Error::invalid_doc(what, "it has no subject")),
        }
        let reg = self.registry(subject.registry()).await?;
        let repo = subject.repository();
        let target = subject.without_tag_or_digest().with_digest(artifact.digest.clone());
        let referrer = referrer_descriptor(&n.desc, &n.doc);
        let plan = self.walk(&GraphSource::Store(&store), n, None, &target.to_string()).await?;
        // Push blobs and the artifact by digest; learn from the answer whether the registry
        // indexes subjects itself.
        let pushed = self.push_plan(&reg, &target, plan, &BlobSource::Store(store), None).await?;
        let has_api = self.has_referrers_api(&reg, repo, subject_digest).await?;
        if !has_api {
            self.update_fallback(&reg, repo, subject_digest, referrer).await?;
        }
        Ok(pushed)
    }

    async fn has_referrers_api(
        &self,
        reg: &Arc<crate::client::Registry>,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool> {
        let url = reg.url(&format!("{repo}/referrers/{digest}"))?;
        let resp = self
            .with_retry("referrers API probe", || {
                let url = url.clone();
                async move {
                    let r = self
                        .send(reg, &Access::pull(repo), Method::GET, url, &|rb| {
                            rb.header(header::ACCEPT, MediaType::OciIndex.as_str())
                        })
                        .await?;
                    if r.status().is_server_error() || r.status() == StatusCode::TOO_MANY_REQUESTS {
                        return Err(status_error(r, "GET", reg, "referrers").await);
                    }
                    Ok(r.status())
                }
            })
            .await?;
        Ok(resp.is_success())
    }

    async fn update_fallback(
        &self,
        reg: &Arc<crate::client::Registry>,
        repo: &str,
        subject: &Digest,
        referrer: Descriptor,
    ) -> Result<()> {
        let tag = fallback_tag(subject);
        let mut idx = match self.get_manifest(reg, repo, &tag).await {
            Ok(f) => match Document::parse(
                &f.bytes,
                f.content_type.as_ref(),
                &format!("referrers index {tag}"),
            )? {
                Document::Index(i) => *i,
                Document::Manifest(_) => {
                    return Err(Error::invalid_doc(
                        format!("referrers tag {tag} in {repo}"),
                        "is a manifest, not an index",
                    ));
                }
            },
            Err(Error::NotFound { .. }) => Index::empty(),
            Err(e) => return Err(e),
        };
        if idx.manifests.iter().any(|d| d.digest == referrer.digest) {
            return Ok(());
        }
        idx.manifests.push(referrer);
        let bytes = idx.to_bytes()?;
        self.put_manifest(reg, repo, &tag, &MediaType::OciIndex, &bytes).await?;
        Ok(())
    }

    /// The referrers of the manifest `subject` names (by digest), optionally only those of
    /// `artifact_type`: from the referrers API, or from the `sha256-<hex>` fallback index when
    /// the registry answers 404. An unknown subject has no referrers (empty list).
    pub async fn referrers(
        &self,
        subject: &Reference,
        artifact_type: Option<&MediaType>,
    ) -> Result<Vec<Descriptor>> {
        let digest = subject.digest().ok_or_else(|| Error::InvalidReference {
            input: subject.to_string(),
            reason: "referrers are listed for a manifest given by digest",
        })?;
        let reg = self.registry(subject.registry()).await?;
        let repo = subject.repository();
        let what = format!("referrers of {digest} in {}", subject.name());
        let mut url = reg.url(&format!("{repo}/referrers/{digest}"))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t.as_str());
        }
        let access = Access::pull(repo);
        let mut out = Vec::new();
        let parse = |b: &[u8]| -> Result<Vec<Descriptor>> {
            match Document::parse(b, Some(&MediaType::OciIndex), &what)? {
                Document::Index(i) => Ok(i.manifests),
                Document::Manifest(_) => Err(Error::invalid_doc(&what, "not an index")),
            }
        };
        let api = self
            .paginate(&reg, &access, url, &what, Some(MediaType::OciIndex.as_str()), |b| {
                out.extend(parse(b)?);
                Ok(())
            })
            .await;
        match api {
            Ok(()) => {}
            Err(Error::NotFound { .. }) => {
                let tag = fallback_tag(digest);
                match self.get_manifest(&reg, repo, &tag).await {
                    Ok(f) => match Document::parse(
                        &f.bytes,
                        f.content_type.as_ref(),
                        &format!("referrers index {tag}"),
                    )? {
                        Document::Index(i) => out = i.manifests,
                        Document::Manifest(_) => {
                            return Err(Error::invalid_doc(
                                format!("referrers tag {tag}"),
                                "is a manifest, not an index",
                            ));
                        }
                    },
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        if let Some(t) = artifact_type {
            out.retain(|d| d.artifact_type.as_ref() == Some(t));
        }
        Ok(out)
    }
}
