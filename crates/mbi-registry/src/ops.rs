//! Manifest requests, tag lists, catalog, delete.

use std::sync::Arc;

use mbi_core::{Descriptor, Digest, MediaType};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::client::{Access, Client, Registry, read_limited, status_error};
use crate::error::{Error, Result, truncate};
use crate::link::next_link;
use crate::manifest::{MANIFEST_ACCEPT, MAX_MANIFEST_SIZE};
use crate::reference::Reference;

/// The most pages followed for one listing (a loop guard; 10 000 pages of 100 entries).
const MAX_PAGES: usize = 10_000;

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) content_type: Option<MediaType>,
    pub(crate) digest: Digest,
}

fn content_type(h: &HeaderMap) -> Option<MediaType> {
    let v = h.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let v = v.split(';').next()?.trim();
    (!v.is_empty()).then(|| MediaType::from(v))
}

fn docker_digest(h: &HeaderMap, origin: &str) -> Result<Option<Digest>> {
    match h.get("docker-content-digest") {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| Error::InvalidHeader {
                header: "Docker-Content-Digest",
                origin: origin.to_owned(),
                reason: "not ASCII".into(),
            })?;
            s.trim().parse().map(Some).map_err(|e: mbi_core::Error| Error::InvalidHeader {
                header: "Docker-Content-Digest",
                origin: origin.to_owned(),
                reason: e.to_string(),
            })
        }
    }
}

/// Checks `bytes` against `expected` using the expected digest's own algorithm.
pub(crate) fn verify_digest(bytes: &[u8], expected: &Digest, what: &str) -> Result<()> {
    expected.verify(bytes).map_err(|e| match e {
        mbi_core::Error::DigestMismatch { expected, actual } => {
            Error::DigestMismatch { what: what.to_owned(), expected, actual }
        }
        e => Error::invalid_doc(what, e.to_string()),
    })
}

impl Client {
    /// GETs manifest `reference` (tag or digest) from `repo`, verified: against the digest when
    /// `reference` is one, else against `Docker-Content-Digest` when the registry sends it.
    pub(crate) async fn get_manifest(
        &self,
        reg: &Arc<Registry>,
        repo: &str,
        reference: &str,
    ) -> Result<Fetched> {
        let what = format!("manifest {}/{repo}:{}", reg.name, truncate(reference, 80));
        let pinned: Option<Digest> = reference
            .contains(':')
            .then(|| reference.parse())
            .transpose()
            .map_err(|e: mbi_core::Error| Error::invalid_doc(&what, e.to_string()))?;
        self.with_retry(&what, || async {
            let url = reg.url(&format!("{repo}/manifests/{reference}"))?;
            let resp = self
                .send(reg, &Access::pull(repo), Method::GET, url, &|rb| {
                    rb.header(header::ACCEPT, MANIFEST_ACCEPT)
                })
                .await?;
            if !resp.status().is_success() {
                return Err(status_error(resp, "GET", reg, &what).await);
            }
            let ct = content_type(resp.headers());
            let header_digest = docker_digest(resp.headers(), &reg.name)?;
            let bytes = read_limited(resp, MAX_MANIFEST_SIZE, &what, "GET").await?;
            let digest = match (&pinned, &header_digest) {
                (Some(d), _) | (None, Some(d)) => {
                    verify_digest(&bytes, d, &what)?;
                    d.clone()
                }
                (None, None) => Digest::sha256(&bytes),
            };
            Ok(Fetched { bytes, content_type: ct, digest })
        })
        .await
    }

    /// HEADs manifest `reference` in `repo`: its digest, or `None` if absent.
    pub(crate) async fn head_manifest(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(Digest, Option<MediaType>, Option<u64>)>> {
        let what = format!("manifest {}/{repo}:{}", reg.name, truncate(reference, 80));
        self.with_retry(&what, || async {
            let url = reg.url(&format!("{repo}/manifests/{reference}"))?;
            let resp = self
                .send(reg, access, Method::HEAD, url, &|rb| {
                    rb.header(header::ACCEPT, MANIFEST_ACCEPT)
                })
                .await?;
            match resp.status() {
                StatusCode::NOT_FOUND => Ok(None),
                s if s.is_success() => {
                    let len = resp
                        .headers()
                        .get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    match docker_digest(resp.headers(), &reg.name)? {
                        Some(d) => Ok(Some((d, content_type(resp.headers()), len))),
                        None => Err(Error::InvalidHeader {
                            header: "Docker-Content-Digest",
                            origin: reg.name.clone(),
                            reason: format!("missing from the answer for {what}"),
                        }),
                    }
                }
                _ => Err(status_error(resp, "HEAD", reg, &what).await),
            }
        })
        .await
    }

    /// PUTs manifest bytes under `reference` (tag or digest). Returns whether the registry
    /// processed the `subject` field (`OCI-Subject` header, i.e. it has a referrers API).
    pub(crate) async fn put_manifest(
        &self,
        reg: &Arc<Registry>,
        repo: &str,
        reference: &str,
        media_type: &MediaType,
        bytes: &[u8],
    ) -> Result<bool> {
        let what = format!("manifest {}/{repo}:{}", reg.name, truncate(reference, 80));
        let body = bytes::Bytes::copy_from_slice(bytes);
        let ct = media_type.as_str().to_owned();
        self.with_retry(&what, || async {
            let url = reg.url(&format!("{repo}/manifests/{reference}"))?;
            let resp = self
                .send(reg, &Access::push(repo), Method::PUT, url, &|rb| {
                    rb.header(header::CONTENT_TYPE, &ct).body(body.clone())
                })
                .await?;
            if resp.status() == StatusCode::CREATED
                || resp.status() == StatusCode::OK
                || resp.status() == StatusCode::ACCEPTED
            {
                Ok(resp.headers().contains_key("oci-subject"))
            } else {
                Err(status_error(resp, "PUT", reg, &what).await)
            }
        })
        .await
    }

    /// Follows a paginated listing, calling `page` with each page's body.
    pub(crate) async fn paginate(
        &self,
        reg: &Arc<Registry>,
        access: &Access,
        first: Url,
        what: &str,
        accept: Option<&str>,
        mut page: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut url = first;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            if !seen.insert(url.to_string()) {
                return Err(Error::InvalidHeader {
                    header: "Link",
                    origin: reg.name.clone(),
                    reason: "pagination loops".into(),
                });
            }
            let u = url.clone();
            let (body, next) = self
                .with_retry(what, || async {
                    let resp = self
                        .send(reg, access, Method::GET, u.clone(), &|rb| match accept {
                            Some(a) => rb.header(header::ACCEPT, a),
                            None => rb,
                        })
                        .await?;
                    if !resp.status().is_success() {
                        return Err(status_error(resp, "GET", reg, what).await);
                    }
                    let next = match resp.headers().get(header::LINK) {
                        None => None,
                        Some(v) => {
                            let s = v.to_str().map_err(|_| Error::InvalidHeader {
                                header: "Link",
                                origin: reg.name.clone(),
                                reason: "not ASCII".into(),
                            })?;
                            next_link(s).map_err(|reason| Error::InvalidHeader {
                                header: "Link",
                                origin: reg.name.clone(),
                                reason,
                            })?
                        }
                    };
                    Ok((read_limited(resp, 16 * 1024 * 1024, what, "GET").await?, next))
                })
                .await?;
            page(&body)?;
            let Some(next) = next else { return Ok(()) };
            let n = url.join(&next).map_err(|e| Error::InvalidHeader {
                header: "Link",
                origin: reg.name.clone(),
                reason: e.to_string(),
            })?;
            if n.origin() != reg.base.origin() {
                return Err(Error::InvalidHeader {
                    header: "Link",
                    origin: reg.name.clone(),
                    reason: "next page is on another host".into(),
                });
            }
            url = n;
        }
        Err(Error::InvalidHeader {
            header: "Link",
            origin: reg.name.clone(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// Every tag of `repo`'s repository (its tag or digest, if any, is ignored), following
    /// pagination, in the registry's order.
    ///
    /// ```no_run
    /// # async fn f() -> mbi_registry::Result<()> {
    /// let client = mbi_registry::Client::new(mbi_registry::AuthConfig::anonymous())?;
    /// let tags = client.tags(&"127.0.0.1:5000/app".parse()?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn tags(&self, repo: &Reference) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let reg = self.registry(repo.registry()).await?;
        let name = repo.repository();
        let what = format!("tags of {}", repo.name());
        let mut url = reg.url(&format!("{name}/tags/list"))?;
        url.query_pairs_mut().append_pair("n", "1000");
        let mut out = Vec::new();
        self.paginate(&reg, &Access::pull(name), url, &what, None, |body| {
            let p: Page = serde_json::from_slice(body)
                .map_err(|e| Error::invalid_doc(&what, e.to_string()))?;
            out.extend(p.tags.unwrap_or_default());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Every repository on `registry` (`host[:port]`), following pagination. Needs the
    /// `registry:catalog:*` scope on registries with token auth.
    pub async fn catalog(&self, registry: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let reg = self.registry(registry).await?;
        let what = format!("catalog of {registry}");
        let mut url = reg.url("_catalog")?;
        url.query_pairs_mut().append_pair("n", "1000");
        let mut out = Vec::new();
        self.paginate(&reg, &Access::catalog(), url, &what, None, |body| {
            let p: Page = serde_json::from_slice(body)
                .map_err(|e| Error::invalid_doc(&what, e.to_string()))?;
            out.extend(p.repositories.unwrap_or_default());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Resolves `reference` to the descriptor of what it names (manifest or index) with a
    /// `HEAD` request, falling back to `GET` if the registry omits the digest header.
    pub async fn resolve(&self, reference: &Reference) -> Result<Descriptor> {
        let reg = self.registry(reference.registry()).await?;
        let repo = reference.repository();
        let r = reference.manifest_ref();
        match self.head_manifest(&reg, &Access::pull(repo), repo, &r).await {
            Ok(Some((digest, Some(mt), Some(size)))) if mt.is_manifest() || mt.is_index() => {
                if let Some(d) = reference.digest()
                    && *d != digest
                {
                    return Err(Error::DigestMismatch {
                        what: format!("manifest {reference}"),
                        expected: d.clone(),
                        actual: digest,
                    });
                }
                Ok(Descriptor::new(mt, digest, size))
            }
            Ok(None) => Err(Error::NotFound {
                registry: reg.name.clone(),
                what: format!("manifest {reference}"),
            }),
            Ok(Some(_)) | Err(Error::InvalidHeader { .. }) => {
                let (d, _) = self.manifest(reference).await?;
                Ok(d)
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches the manifest or index `reference` names: its descriptor and exact bytes
    /// (verified against the reference's digest, or the registry's `Docker-Content-Digest`).
    pub async fn manifest(&self, reference: &Reference) -> Result<(Descriptor, Vec<u8>)> {
        let reg = self.registry(reference.registry()).await?;
        let f = self.get_manifest(&reg, reference.repository(), &reference.manifest_ref()).await?;
        let doc = crate::manifest::Document::parse(
            &f.bytes,
            f.content_type.as_ref(),
            &format!("manifest {reference}"),
        )?;
        let mt = doc.media_type(f.content_type.as_ref());
        Ok((Descriptor::new(mt, f.digest, f.bytes.len() as u64), f.bytes))
    }

    /// Deletes the manifest `reference` names. A tag is first resolved to its digest (the
    /// distribution API deletes by digest, which removes every tag pointing at it). Returns the
    /// deleted digest. The registry must allow deletes.
    pub async fn delete_manifest(&self, reference: &Reference) -> Result<Digest> {
        let reg = self.registry(reference.registry()).await?;
        let repo = reference.repository();
        let access = Access::push(repo);
        let digest = match reference.digest() {
            Some(d) => d.clone(),
            None => match self.head_manifest(&reg, &access, repo, &reference.manifest_ref()).await?
            {
                Some((d, _, _)) => d,
                None => {
                    return Err(Error::NotFound {
                        registry: reg.name.clone(),
                        what: format!("manifest {reference}"),
                    });
                }
            },
        };
        let what = format!("deleting manifest {digest} from {}", reference.name());
        self.with_retry(&what, || async {
            let url = reg.url(&format!("{repo}/manifests/{digest}"))?;
            let resp = self.send(&reg, &access, Method::DELETE, url, &|rb| rb).await?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(status_error(resp, "DELETE", &reg, &format!("manifest {digest} in {repo}"))
                    .await)
            }
        })
        .await?;
        Ok(digest)
    }

    /// Deletes blob `digest` from `repo`'s repository.
    pub async fn delete_blob(&self, repo: &Reference, digest: &Digest) -> Result<()> {
        let reg = self.registry(repo.registry()).await?;
        let name = repo.repository();
        let access = Access::push(name);
        let what = format!("deleting blob {digest} from {}", repo.name());
        self.with_retry(&what, || async {
            let url = reg.url(&format!("{name}/blobs/{digest}"))?;
            let resp = self.send(&reg, &access, Method::DELETE, url, &|rb| rb).await?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(status_error(resp, "DELETE", &reg, &format!("blob {digest} in {name}")).await)
            }
        })
        .await
    }
}
