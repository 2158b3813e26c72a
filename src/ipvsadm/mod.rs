//! ipvsadm text: `ipvsadm -S` output and ipvsadm command scripts, read and written.
//!
//! - [`parse`] reads `ipvsadm -Sn` output or a script of ipvsadm command
//!   lines and returns the spec they build, or the first line at fault.
//! - [`save`] writes kernel objects exactly as `ipvsadm -Sn` does;
//!   [`to_restore`] writes a spec as `ipvsadm -R` input.
//! - [`list`] renders a table as `ipvsadm -Ln` and its variants do.
//!
//! Reading follows ipvsadm 1.31 (`parse_options`, `process_options`): the
//! same options, defaults and silent fix-ups, and the kernel's refusals
//! (adding what exists, changing what does not). Values then pass through the
//! model's validation, so what ipvsadm accepts but lvsd cannot hold is refused
//! with the line and the option at fault.

mod apply;
mod command;
mod lexer;
mod list;
mod options;
mod ports;
mod render;
mod save;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

pub use list::{ListOptions, ListView, list, sort_like_ipvsadm};
pub(crate) use ports::port_of_service_name;
pub use save::{save, save_entries, to_restore};

use crate::model::{ServiceKey, Spec, ValidationError};

/// A refused line: its 1-based number and why, quoting the words at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The API reports a refused import as a field error; the field is the line.
impl From<ParseError> for ValidationError {
    fn from(err: ParseError) -> Self {
        ValidationError::new(format!("line {}", err.line), err.message)
    }
}

/// Reads `ipvsadm -S`/`-Sn` output or a script of ipvsadm command lines and
/// returns the spec they build from an empty table.
///
/// Lines may start with `ipvsadm` or with the command; `#` comments, blank
/// lines, `\` continuations and simple quoting are understood. Addresses must
/// be numeric; ports may be numbers or common service names. The first bad
/// line is reported and nothing is returned.
pub fn parse(text: &str) -> Result<Spec, ParseError> {
    let mut table = apply::Table::default();
    // The last line to change each service, and the last line of all.
    let mut service_lines = BTreeMap::new();
    let mut last_line = 0;
    for line in lexer::split(text)? {
        let invocation = options::read(&line)?;
        let command = command::interpret(&invocation)?;
        if let Some(key) = command.service() {
            service_lines.insert(key, line.line);
        }
        last_line = line.line;
        table.apply(command)?;
    }
    // Each line's values already passed the model's checks; this applies the
    // rules that span a whole spec, blaming the last line that touched the
    // service at fault.
    let blame = |spec: Option<&Spec>, err: ValidationError| {
        let line = spec
            .and_then(|spec| service_at_fault(spec, &err))
            .and_then(|key| service_lines.get(&key).copied())
            .unwrap_or(last_line);
        ParseError::new(line, err.to_string())
    };
    let spec = table.into_spec().map_err(|err| blame(None, err))?;
    spec.to_doc()
        .validate()
        .map_err(|err| blame(Some(&spec), err))
}

/// The service a spec-level error's field points into (`services[3].…`).
fn service_at_fault(spec: &Spec, err: &ValidationError) -> Option<ServiceKey> {
    let index = err
        .field
        .strip_prefix("services[")?
        .split_once(']')?
        .0
        .parse::<usize>()
        .ok()?;
    spec.services().get(index).map(|service| service.key)
}
