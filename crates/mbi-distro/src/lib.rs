//! # mbi-distro: package sources
//!
//! (Being built: apt sources, signed metadata, versions, relations, resolver, lockfiles.)
