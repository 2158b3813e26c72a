//! Layers import downward only.
//!
//! Every top-level module of `src/` names the modules it may use; a
//! `crate::X` path to any other fails this test, so an import cycle between
//! layers cannot come back unnoticed. The arrows, top to bottom:
//!
//! ```text
//! cli ─┬─ api ─┐
//!      ├───────┼─► core ─► store, auth, metrics ─► contract
//!      ├─ director (local) ─► core, apply
//!      └─ agent ─► client, contract, apply, host, health, ha
//! contract (wire types) ─► apply ─► plan ─► ipvs ─► model
//! ipvsadm ─► ipvs
//! ha ─► host, ipvs, health, model
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each layer may import. A module missing here fails the test: a new
/// top-level module must say where it sits.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("contract", &["apply", "plan", "health", "model"]),
    ("ipvs", &["model", "fuzz"]),
    ("ipvsadm", &["ipvs", "model"]),
    ("keepalived", &["model"]),
    ("plan", &["ipvs", "model"]),
    ("health", &["model"]),
    ("host", &["model"]),
    // keepalived's configuration, its supervision and its notify FIFO.
    ("ha", &["model", "host", "ipvs", "health"]),
    ("store", &["model"]),
    ("metrics", &[]),
    ("auth", &["store", "model"]),
    (
        "apply",
        &["plan", "ipvs", "model", "health", "host", "contract"],
    ),
    (
        "core",
        &[
            "store",
            "auth",
            "metrics",
            "contract",
            "apply",
            "plan",
            "ipvs",
            "ipvsadm",
            "keepalived",
            "health",
            "host",
            "model",
        ],
    ),
    ("client", &["contract", "model"]),
    (
        "agent",
        &[
            "client", "contract", "apply", "plan", "ipvs", "host", "health", "ha", "model",
        ],
    ),
    (
        "director",
        &[
            "core", "contract", "apply", "plan", "ipvs", "host", "health", "model", "metrics",
        ],
    ),
    (
        "api",
        &[
            "core",
            "auth",
            "metrics",
            "contract",
            "apply",
            "plan",
            "ipvs",
            "ipvsadm",
            "keepalived",
            "health",
            "host",
            "model",
        ],
    ),
    // The command line assembles everything.
    (
        "cli",
        &[
            "api",
            "core",
            "director",
            "agent",
            "client",
            "store",
            "auth",
            "metrics",
            "contract",
            "apply",
            "plan",
            "ipvs",
            "ipvsadm",
            "keepalived",
            "health",
            "ha",
            "host",
            "model",
        ],
    ),
    // Fuzz targets run only in unit tests and drive the parsers below them.
    ("fuzz", &["ipvsadm", "ipvs", "model"]),
];

#[test]
fn layers_import_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(layer, deps)| (*layer, deps.iter().copied().collect()))
        .collect();

    let mut arrows: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let layer = path.file_name().unwrap().to_string_lossy().to_string();
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            let code: String = text
                .lines()
                .map(|line| line.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for (offset, target) in crate_paths(&code) {
                if target != layer {
                    let line = code[..offset].matches('\n').count() + 1;
                    let at = format!("{}:{line}", file.strip_prefix(&src).unwrap().display());
                    arrows.entry((layer.clone(), target)).or_default().push(at);
                }
            }
        }
    }

    let mut failures = Vec::new();
    for ((from, to), places) in &arrows {
        let Some(may) = allowed.get(from.as_str()) else {
            failures.push(format!(
                "src/{from} is not in ALLOWED: say which layers it may import"
            ));
            continue;
        };
        if may.contains(to.as_str()) {
            continue;
        }
        failures.push(format!(
            "{from} -> {to} is not allowed ({} uses, first at src/{})",
            places.len(),
            places[0]
        ));
    }
    let mut graph = String::new();
    let mut last = String::new();
    for (from, to) in arrows.keys() {
        if *from != last {
            graph.push_str(&format!("\n{from} ->"));
            last = from.clone();
        }
        graph.push_str(&format!(" {to}"));
    }
    println!("module arrows:{graph}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The top-level modules named by `crate::name` paths in a file's code, with
/// their byte offsets, including every item of `use crate::{a::.., b::..}`
/// groups over several lines.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        if at > 0 {
            let c = bytes[at - 1];
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' {
                continue;
            }
        }
        if bytes.get(from) != Some(&b'{') {
            out.push((at, ident(&code[from..])));
            continue;
        }
        // A group: the first identifier of each item at depth one.
        let mut depth = 0;
        let mut item_start = true;
        for (i, c) in code[from..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    if depth == 1 {
                        item_start = true;
                        continue;
                    }
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => item_start = true,
                c if item_start && depth == 1 && (c.is_ascii_alphanumeric() || c == '_') => {
                    out.push((from + i, ident(&code[from + i..])));
                    item_start = false;
                }
                _ => {}
            }
        }
    }
    out.retain(|(_, name)| !name.is_empty() && name != "self");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}
