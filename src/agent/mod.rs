//! Remote directors: `lvsd agent` on each director host pulls the revision
//! it should run from a server, applies it with the apply engine, and
//! reports back. [`protocol`] is what travels between the two, over REST
//! and gRPC alike.

pub mod protocol;
