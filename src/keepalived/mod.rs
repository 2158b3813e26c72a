//! keepalived.conf: read into an lvsd spec, and written from one.
//!
//! - [`import`] reads a keepalived.conf (with its `include`s) and maps its
//!   `virtual_server` blocks into a spec; every statement the spec cannot
//!   carry is listed in [`Imported::left_out`] with its file, line and why.
//! - [`render`] writes a spec as keepalived.conf `virtual_server` blocks
//!   with their checkers, for operators who go back or compare.
//!
//! Reading follows keepalived 2.2's keepalived.conf(5): its keywords, their
//! old spellings (`lb_algo`, `lb_kind`, `nb_get_retry`) and its defaults
//! (NAT forwarding, `delay_loop` 60 s, `connect_timeout` 5 s, `retry` 1).

mod map;
mod render;
mod sources;
mod syntax;

pub use map::{Imported, LeftOut, canonical_checks, check_doc};
pub use render::render;
pub use sources::{Bundle, Filesystem, Sources, glob_match, resolve};
pub use syntax::{Node, Pos, SyntaxError, Word, parse};

use crate::model::ValidationError;

/// Reads the keepalived.conf at `path` (and what it includes) into a spec.
pub fn import(sources: &dyn Sources, path: &str) -> Result<Imported, SyntaxError> {
    map::map(&parse(sources, path)?)
}

/// The API reports a refused file as a field error whose field is FILE:LINE:COLUMN.
impl From<SyntaxError> for ValidationError {
    fn from(err: SyntaxError) -> Self {
        ValidationError::new(err.pos.to_string(), err.message)
    }
}

/// DNS record types by number, as lvsd's dns check names them.
const QUERY_TYPES: [(&str, u16); 9] = [
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
];
const RCODES: [&str; 6] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
];

fn query_type_name(number: u16) -> &'static str {
    QUERY_TYPES
        .iter()
        .find(|(_, n)| *n == number)
        .map(|(name, _)| *name)
        .unwrap_or("A")
}

fn rcode_name(rcode: u8) -> &'static str {
    RCODES.get(usize::from(rcode)).copied().unwrap_or("NOERROR")
}
