//! Tests across the module: reading (`parse`), writing (`save`, `list`)
//! against ipvsadm's own output, and the round trip between them.

mod output;
mod parse;
mod round_trip;
