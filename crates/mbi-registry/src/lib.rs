//! # mbi-registry: OCI distribution client
//!
//! (Being built: references, auth, pull, push, referrers.)
