//! `lvsd import --format keepalived` and `lvsd export --format keepalived`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::api::{Body, spec_of};
use super::{Client, Failure, print_json, render};
use crate::keepalived::{Filesystem, Sources};

/// Reads `path` and every file it includes, as keepalived would find them
/// on this host, and sends them to the server for the import.
pub fn import(
    client: &Client,
    path: &str,
    strict: bool,
    if_match: Option<&str>,
) -> Result<(), Failure> {
    if path == "-" {
        return Err(Failure::Usage(
            "keepalived.conf is read from a file (its includes are found beside it), not from standard input".into(),
        ));
    }
    let files = gather(path)?;
    let reply = client
        .api
        .send(
            Method::POST,
            &client.path("/draft/import/keepalived"),
            Body::Json(json!({"main": path, "files": files, "strict": strict})),
            if_match,
        )
        .map_err(|failure| match failure {
            // A position in a file, named as compilers do: FILE:LINE:COLUMN: why.
            Failure::Server(mut err)
                if err
                    .field
                    .as_deref()
                    .is_some_and(|f| f.contains(':') || f == "left_out") =>
            {
                let field = err.field.take().unwrap_or_default();
                if field != "left_out" {
                    err.message = format!("{field}: {}", err.message);
                }
                Failure::Server(err)
            }
            other => other.draft_race(if_match.is_some()),
        })?;
    let body = reply.value();
    if client.json() {
        print_json(&body);
        return Ok(());
    }
    let spec = spec_of(&body["draft"]["spec"])?;
    println!(
        "replaced the draft of {} with {path}: {}, {}",
        client.cluster,
        render::count(spec.services().len(), "service"),
        render::count(spec.server_count(), "real server")
    );
    let left_out = body["left_out"].as_array().cloned().unwrap_or_default();
    if !left_out.is_empty() {
        println!("left out ({}), not in lvsd's spec:", left_out.len());
        for item in &left_out {
            let within = item["within"].as_str().unwrap_or_default();
            println!(
                "  {}:{}: {}{}: {}",
                item["file"].as_str().unwrap_or_default(),
                item["line"],
                item["field"].as_str().unwrap_or_default(),
                if within.is_empty() {
                    String::new()
                } else {
                    format!(" (in {within})")
                },
                item["why"].as_str().unwrap_or_default()
            );
        }
    }
    println!("  review: lvsd draft diff");
    println!("  then:   lvsd commit -m MESSAGE");
    Ok(())
}

/// The file at `path` and every file its includes name, by path.
fn gather(path: &str) -> Result<BTreeMap<String, String>, Failure> {
    let recorder = Recorder::default();
    crate::keepalived::parse(&recorder, path).map_err(|err| Failure::Local(err.to_string()))?;
    Ok(recorder.files.into_inner())
}

/// The filesystem, remembering what was read.
#[derive(Default)]
struct Recorder {
    files: std::cell::RefCell<BTreeMap<String, String>>,
}

impl Sources for Recorder {
    fn read(&self, path: &str) -> Result<String, String> {
        let text = Filesystem.read(path)?;
        self.files
            .borrow_mut()
            .insert(path.to_string(), text.clone());
        Ok(text)
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        Filesystem.glob(pattern)
    }
}

/// Prints revision `number` as keepalived.conf.
pub fn export(client: &Client, number: i64) -> Result<(), Failure> {
    let reply = client
        .api
        .get(&client.path(&format!("/revisions/{number}/export/keepalived")))?;
    if client.json() {
        print_json(&json!({"revision": number, "keepalived_conf": reply.text}));
    } else {
        print!("{}", reply.text);
    }
    Ok(())
}

/// The text formats of `lvsd import` and `lvsd export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// ipvsadm rules (`ipvsadm -Sn` output, or ipvsadm command lines)
    #[default]
    Ipvsadm,
    /// keepalived.conf virtual_server blocks, with their includes
    Keepalived,
}
