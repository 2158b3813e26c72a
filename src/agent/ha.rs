//! The agent's side of director high availability: keeps the keepalived
//! task (`crate::ha::keepalived::runner`) running the configuration the
//! revision renders, writes the fault file when this director should not
//! be master, and turns keepalived's notices into the report's `ha`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};

use crate::contract::agent::{HaReport, SyncReport, VrrpInstanceReport, VrrpState, VrrpTransition};
use crate::ha::keepalived::notify::State;
use crate::ha::keepalived::runner::{self, Config, Event};
use crate::ha::keepalived::{Paths, render};
use crate::model::time::rfc3339;
use crate::model::{DaemonRole, Spec};

/// keepalived as one director runs it.
pub struct HaRunner {
    paths: Paths,
    config: watch::Sender<Option<Config>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    instances: BTreeMap<String, VrrpInstanceReport>,
    transitions: Vec<VrrpTransition>,
    errors: Vec<String>,
    fault: Option<bool>,
    pub switchover_seq: Option<u64>,
}

impl HaRunner {
    /// Starts the keepalived task on `runtime`; its events go to `events`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        dir: PathBuf,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let paths = Paths::new(dir);
        let (config, config_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let program = PathBuf::from("keepalived");
        let task = runtime.spawn(runner::run(
            program,
            paths.clone(),
            config_rx,
            events,
            stop_rx,
        ));
        HaRunner {
            paths,
            config,
            stop,
            task,
            instances: BTreeMap::new(),
            transitions: Vec::new(),
            errors: Vec::new(),
            fault: None,
            switchover_seq: None,
        }
    }

    /// Runs what `spec` renders for director `name` (nothing without `ha`).
    pub fn follow(&mut self, spec: &Spec, name: &str) {
        let config = render::render(spec, name, &self.paths).map(|text| Config {
            text,
            vips: spec
                .ha()
                .map(|ha| ha.bound_addresses(&spec.vips()))
                .unwrap_or_default(),
        });
        if let Some(ha) = spec.ha() {
            for instance in ha.instances() {
                let mut names = vec![(instance.name.clone(), instance.virtual_router_id)];
                if let Some(internal) = &instance.internal_vip {
                    names.push((
                        format!("{}{}", instance.name, render::INTERNAL_SUFFIX),
                        internal.virtual_router_id,
                    ));
                }
                for (instance_name, vrid) in names {
                    self.instances
                        .entry(instance_name.clone())
                        .or_insert_with(|| VrrpInstanceReport {
                            instance: instance_name,
                            vrid: vrid as u8,
                            state: VrrpState::Stopped,
                            since: rfc3339(SystemTime::now()),
                            priority: instance.priority_of(name),
                            transitions: 0,
                        });
                }
            }
        }
        self.config.send_if_modified(|current| {
            let changed = *current != config;
            *current = config;
            changed
        });
    }

    /// Puts every instance in FAULT (`true`) so that another director takes
    /// the VIPs, or lets this director take part again.
    pub fn set_fault(&mut self, fault: bool) {
        if self.fault == Some(fault) {
            return;
        }
        let path = self.paths.track_file();
        let _ = std::fs::create_dir_all(&self.paths.dir);
        match std::fs::write(&path, if fault { "1\n" } else { "0\n" }) {
            Ok(()) => self.fault = Some(fault),
            Err(err) => self
                .errors
                .push(format!("writing {}: {err}", path.display())),
        }
    }

    pub fn is_master(&self) -> bool {
        self.instances
            .values()
            .any(|i| i.state == VrrpState::Master)
    }

    /// Takes one event in; returns whether it is worth a report now.
    pub fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Notice(notice) => {
                let to = match notice.state {
                    State::Master => VrrpState::Master,
                    State::Backup => VrrpState::Backup,
                    State::Fault => VrrpState::Fault,
                    State::Stop => VrrpState::Stopped,
                };
                let now = rfc3339(SystemTime::now());
                let Some(entry) = self.instances.get_mut(&notice.instance) else {
                    return false;
                };
                entry.priority = notice.priority;
                if entry.state == to {
                    return false;
                }
                self.transitions.push(VrrpTransition {
                    at: now.clone(),
                    instance: notice.instance.clone(),
                    from: entry.state,
                    to,
                });
                entry.state = to;
                entry.since = now;
                entry.transitions += 1;
                true
            }
            Event::Running => {
                self.errors.clear();
                false
            }
            Event::Error(err) => {
                tracing::error!(error = %err, "keepalived");
                self.errors.push(err);
                true
            }
            Event::Stopped => {
                let now = rfc3339(SystemTime::now());
                for entry in self.instances.values_mut() {
                    if entry.state != VrrpState::Stopped {
                        self.transitions.push(VrrpTransition {
                            at: now.clone(),
                            instance: entry.instance.clone(),
                            from: entry.state,
                            to: VrrpState::Stopped,
                        });
                        entry.state = VrrpState::Stopped;
                        entry.since = now.clone();
                        entry.transitions += 1;
                    }
                }
                true
            }
        }
    }

    /// The report's `ha`, taking the transitions and errors seen since the last one.
    pub fn report(&mut self, spec: Option<&Spec>) -> HaReport {
        let sync = spec
            .filter(|s| s.ha().and_then(|h| h.sync()).is_some())
            .map(|s| {
                let daemons = s.with_ha_sync_role(self.is_master());
                SyncReport {
                    master: daemons
                        .sync_daemons()
                        .iter()
                        .any(|d| d.role == DaemonRole::Master),
                    backup: daemons
                        .sync_daemons()
                        .iter()
                        .any(|d| d.role == DaemonRole::Backup),
                    connections: None,
                }
            });
        HaReport {
            vrrp: self.instances.values().cloned().collect(),
            transitions: std::mem::take(&mut self.transitions),
            sync,
            switchover_seq: self.switchover_seq,
            errors: std::mem::take(&mut self.errors),
        }
    }

    /// Stops keepalived (SIGTERM: it releases the VIPs at once) and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
