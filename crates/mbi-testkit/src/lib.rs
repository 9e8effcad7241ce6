//! # mbi-testkit: fixtures for mbi's tests
//!
//! Builders for the real components mbi's tests run against, so each test states only its
//! scenario:
//!
//! - [`apt`]: signed apt repositories made with dpkg-deb, apt-ftparchive and gpg.
//! - [`http`]: a loopback static HTTP server with Range, conditional requests, request counts
//!   and fault injection.
//! - [`registry`]: the CNCF distribution registry (`docker-registry`) on 127.0.0.1, without
//!   auth, with htpasswd basic auth, or with token auth served by [`token`].
//! - [`fault`]: a fault-injecting proxy (resets, truncation, 5xx/429, stalls) for registry tests.
//! - [`scanners`]: syft and trivy inventories of an unpacked root.

pub mod apt;
pub mod fault;
pub mod http;
pub mod registry;
pub mod scanners;
pub mod token;
