//! Directors run by the server process itself, above the core: today the
//! server's own kernel (`lvsd serve --apply-local`). Remote directors are
//! `lvsd agent` ([`crate::agent`]), which reaches the core only through the API.

pub mod local;
