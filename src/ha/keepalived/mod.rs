//! keepalived as lvsd runs it: one configuration per director rendered
//! from the spec, one notify FIFO telling each VRRP state change, one
//! tracked file through which the agent lowers this director (health,
//! switchover).

pub mod notify;
pub mod render;
pub mod runner;

use std::path::{Path, PathBuf};

/// Where one keepalived instance keeps its files: everything under one
/// directory per cluster, so that two instances (one per network
/// namespace, or per cluster) never share a pid file or a FIFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Paths { dir: dir.into() }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("keepalived.conf")
    }

    pub fn notify_fifo(&self) -> PathBuf {
        self.dir.join("notify.fifo")
    }

    /// The file keepalived tracks (`track_file`): `0` healthy, anything
    /// else puts every instance in FAULT so the VIPs move away.
    pub fn track_file(&self) -> PathBuf {
        self.dir.join("fault")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("keepalived.pid")
    }

    pub fn vrrp_pid_file(&self) -> PathBuf {
        self.dir.join("vrrp.pid")
    }

    pub fn checkers_pid_file(&self) -> PathBuf {
        self.dir.join("checkers.pid")
    }

    /// The command line that runs keepalived for VRRP only, in the
    /// foreground, logging to the agent's console.
    pub fn run_args(&self) -> Vec<String> {
        let path = |p: &Path| p.display().to_string();
        vec![
            "--vrrp".into(),
            "--dont-fork".into(),
            "--log-console".into(),
            "--log-detail".into(),
            "--no-syslog".into(),
            "--use-file".into(),
            path(&self.config()),
            "--pid".into(),
            path(&self.pid_file()),
            "--vrrp_pid".into(),
            path(&self.vrrp_pid_file()),
            "--checkers_pid".into(),
            path(&self.checkers_pid_file()),
        ]
    }

    /// `keepalived -t`: checks the configuration and exits.
    pub fn check_args(&self) -> Vec<String> {
        vec![
            "--config-test".into(),
            "--use-file".into(),
            self.config().display().to_string(),
        ]
    }
}
