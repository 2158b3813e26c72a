//! Kernel settings through /proc/sys (per network namespace for `net.*`).

use std::path::PathBuf;

use super::HostError;
use super::plan::sysctl_name;

fn file(path: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(path)
}

pub fn read(path: &str) -> Result<String, HostError> {
    std::fs::read_to_string(file(path)).map(|text| text.trim().to_string()).map_err(|source| {
        // IPVS's settings appear with the module: say so rather than "no such file".
        let action = match path.starts_with("net/ipv4/vs/") && source.kind() == std::io::ErrorKind::NotFound {
            true => "reading (IPVS is not loaded: apply the IPVS table first, `lvsd apply` loads it)",
            false => "reading",
        };
        HostError::Sysctl { name: sysctl_name(path), action, source }
    })
}

pub fn write(path: &str, value: &str) -> Result<(), HostError> {
    std::fs::write(file(path), format!("{value}\n")).map_err(|source| HostError::Sysctl {
        name: sysctl_name(path),
        action: "setting",
        source,
    })
}

/// Whether a value read from /proc/sys is `wanted`: vectors read back with
/// tabs (`sync_threshold` is "3\t50") and are written with spaces.
pub fn same_value(current: &str, wanted: &str) -> bool {
    current.split_whitespace().eq(wanted.split_whitespace())
}
