//! # mbi-testkit: fixtures for mbi's tests
//!
//! (Being built: apt fixture repositories, loopback HTTP server, registry process.)

pub mod apt;
pub mod http;
