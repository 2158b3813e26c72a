//! `lvsd settings show|set`: how a cluster's revisions are applied to its
//! directors (ownership of the table, drains, removal limit).
//!
//! `set` reads the settings, changes only the fields given and writes the
//! whole document back, so fields this client does not know (a newer
//! server's) are kept as they were.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::api::Body;
use super::{Client, Failure, print_json};

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show how the cluster's revisions are applied: ownership, drains, removal limit.
    Show,
    /// Change some settings and keep the others; they apply from the directors' next step.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Drain real servers that leave the spec (weight 0 until their
    /// connections end, or --drain-timeout passes) instead of deleting them
    /// (UDP services only when named with --drain-service)
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    drain: Option<bool>,
    /// Longest a real server drains before it is deleted with connections left
    #[arg(long, value_name = "SECS")]
    drain_timeout: Option<u64>,
    /// An exception to --drain for one service (repeatable); `default` drops the exception
    #[arg(long = "drain-service", value_name = "SERVICE=on|off|default")]
    drain_services: Vec<String>,
    /// `table`: the director's whole table is the cluster's; `created`: only the services lvsd created
    #[arg(long, value_parser = ["table", "created"])]
    ownership: Option<String>,
    /// Largest share (0 to 1) of services or real servers one apply may take
    /// out of service; `default` for the server's --removal-limit
    #[arg(long, value_name = "SHARE|default")]
    removal_limit: Option<String>,
}

fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("`{text}` is neither on nor off")),
    }
}

/// Which option set each field, to name it when the server refuses a value.
const OPTIONS: &[(&str, &str)] = &[
    ("drain", "--drain"),
    ("drain_timeout_secs", "--drain-timeout"),
    ("drain_services", "--drain-service"),
    ("ownership", "--ownership"),
    ("removal_limit", "--removal-limit"),
];

impl SetArgs {
    /// Writes the fields given into `settings`; `false` when none was given.
    fn apply_to(&self, settings: &mut Map<String, Value>) -> Result<bool, Failure> {
        let mut changed = false;
        let mut set = |field: &str, value: Value| {
            settings.insert(field.to_string(), value);
            changed = true;
        };
        if let Some(drain) = self.drain {
            set("drain", json!(drain));
        }
        if let Some(secs) = self.drain_timeout {
            set("drain_timeout_secs", json!(secs));
        }
        if let Some(ownership) = &self.ownership {
            set("ownership", json!(ownership));
        }
        match self.removal_limit.as_deref() {
            None => {}
            Some("default") => set("removal_limit", Value::Null),
            Some(share) => {
                let share: f64 = share.parse().map_err(|_| {
                    Failure::Usage(format!(
                        "--removal-limit: `{share}` is neither a share from 0 to 1 nor `default`"
                    ))
                })?;
                set("removal_limit", json!(share));
            }
        }
        let mut exceptions = match settings.remove("drain_services") {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for entry in &self.drain_services {
            let Some((service, value)) = entry.rsplit_once('=') else {
                return Err(Failure::Usage(format!(
                    "--drain-service: `{entry}` is not SERVICE=on|off|default"
                )));
            };
            if value == "default" {
                exceptions.remove(service);
            } else {
                let drain = on_off(value)
                    .map_err(|e| Failure::Usage(format!("--drain-service {entry}: {e}")))?;
                exceptions.insert(service.to_string(), json!(drain));
            }
            changed = true;
        }
        if !exceptions.is_empty() {
            settings.insert("drain_services".to_string(), Value::Object(exceptions));
        }
        Ok(changed)
    }
}

pub fn run(client: &Client, command: SettingsCommand) -> Result<(), Failure> {
    let path = client.path("/settings");
    let view = match command {
        SettingsCommand::Show => client.api.get(&path)?.value(),
        SettingsCommand::Set(args) => {
            let read = client.api.get(&path)?;
            let current = read.value();
            let mut settings = match &current["settings"] {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            if !args.apply_to(&mut settings)? {
                return Err(Failure::Usage(
                    "nothing to set: give --drain, --drain-timeout, --drain-service, --ownership or --removal-limit".to_string(),
                ));
            }
            client
                .api
                // Only over the settings just read: a change made meanwhile
                // by someone else is refused (412), not overwritten.
                .send(
                    Method::PUT,
                    &path,
                    Body::Json(Value::Object(settings)),
                    read.etag.as_deref(),
                )
                .map_err(|f| f.options(OPTIONS))?
                .value()
        }
    };
    if client.json() {
        print_json(&view);
    } else {
        print!("{}", describe(&client.cluster, &view));
    }
    Ok(())
}

/// The settings as lines for people.
fn describe(cluster: &str, view: &Value) -> String {
    let settings = &view["settings"];
    let mut out = match (view["updated_at"].as_str(), view["updated_by"].as_str()) {
        (Some(at), Some(by)) => format!("settings of {cluster}, set at {at} by {by}\n"),
        _ => format!("settings of {cluster}: the defaults\n"),
    };
    let ownership = match settings["ownership"].as_str() {
        Some("created") => "created (only the services lvsd created for the cluster)",
        _ => "table (the whole IPVS table: what the spec does not list is removed)",
    };
    out.push_str(&format!("ownership:     {ownership}\n"));
    let timeout = settings["drain_timeout_secs"].as_u64().unwrap_or_default();
    let drain = if settings["drain"].as_bool().unwrap_or(false) {
        format!(
            "on: removed real servers go to weight 0 until their connections end, at most {timeout} s"
        )
    } else {
        "off: removed real servers are deleted at once".to_string()
    };
    out.push_str(&format!("drain:         {drain}\n"));
    if let Some(exceptions) = settings["drain_services"].as_object() {
        for (service, drain) in exceptions {
            let state = if drain.as_bool().unwrap_or(false) {
                "on"
            } else {
                "off"
            };
            out.push_str(&format!("  drain {state} for {service}\n"));
        }
    }
    let limit = match settings["removal_limit"].as_f64() {
        Some(share) => format!("{share} of the services or real servers per apply"),
        None => "the server's (--removal-limit)".to_string(),
    };
    out.push_str(&format!("removal limit: {limit}\n"));
    out
}
