//! Runs one daemon process and keeps it running: a configuration check
//! before every (re)load, SIGHUP to reload, SIGTERM to stop, and a restart
//! with backoff when it dies. Nothing here knows keepalived; its command
//! lines come from the caller, so that BIRD can be run the same way.

use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process};
use tokio::process::{Child, Command};

/// How to run, check and find a daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// What the logs call it.
    pub name: String,
    pub program: PathBuf,
    /// Arguments that run it in the foreground.
    pub run_args: Vec<String>,
    /// Arguments that check its configuration and exit (0: good).
    pub check_args: Vec<String>,
}

/// A supervised daemon: at most one process at a time.
#[derive(Debug)]
pub struct Supervisor {
    daemon: Daemon,
    child: Option<Child>,
    restarts: u32,
}

/// Restart delays double from this up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Supervisor {
    pub fn new(daemon: Daemon) -> Self {
        Supervisor {
            daemon,
            child: None,
            restarts: 0,
        }
    }

    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// Runs the configuration check; the daemon's own words when it refuses.
    pub async fn check(&self) -> Result<(), String> {
        let out = Command::new(&self.daemon.program)
            .args(&self.daemon.check_args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("{} could not run: {e}", self.daemon.program.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let words = String::from_utf8_lossy(&out.stderr);
        let words = words.trim();
        Err(format!(
            "{} refused its configuration ({}){}{}",
            self.daemon.name,
            out.status,
            if words.is_empty() { "" } else { ": " },
            words
        ))
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub async fn start(&mut self) -> io::Result<()> {
        let child = Command::new(&self.daemon.program)
            .args(&self.daemon.run_args)
            .stdin(Stdio::null())
            .kill_on_drop(false)
            .spawn()?;
        tracing::info!(daemon = %self.daemon.name, pid = child.id(), "started");
        self.child = Some(child);
        Ok(())
    }

    /// Asks the running process to read its configuration again.
    pub fn reload(&self) -> io::Result<()> {
        self.signal(Signal::HUP)
    }

    fn signal(&self, signal: Signal) -> io::Result<()> {
        let pid = self
            .pid()
            .and_then(|p| Pid::from_raw(p as i32))
            .ok_or_else(|| io::Error::other("not running"))?;
        kill_process(pid, signal).map_err(io::Error::from)
    }

    /// Waits until the process exits (forever when none runs).
    pub async fn exited(&mut self) -> io::Result<ExitStatus> {
        match &mut self.child {
            Some(child) => {
                let status = child.wait().await;
                self.child = None;
                status
            }
            None => std::future::pending().await,
        }
    }

    /// How long to wait before the next restart, longer after each one.
    pub fn next_backoff(&mut self) -> Duration {
        let delay = FIRST_BACKOFF
            .saturating_mul(1 << self.restarts.min(10))
            .min(MAX_BACKOFF);
        self.restarts += 1;
        delay
    }

    /// The process ran long enough to count as healthy again.
    pub fn settled(&mut self) {
        self.restarts = 0;
    }

    /// SIGTERM, then SIGKILL when it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.child.is_none() {
            return;
        }
        let _ = self.signal(Signal::TERM);
        if tokio::time::timeout(grace, self.exited()).await.is_err()
            && let Some(child) = &mut self.child
        {
            tracing::warn!(daemon = %self.daemon.name, "did not stop in time: killed");
            let _ = child.kill().await;
            self.child = None;
        }
    }
}

/// Sends `signal` to the process whose id a pid file holds, if it runs.
pub fn signal_pid_file(path: &std::path::Path, signal: Signal) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some(pid) = text.trim().parse().ok().and_then(Pid::from_raw) else {
        return false;
    };
    kill_process(pid, signal).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Daemon {
        Daemon {
            name: "sh".into(),
            program: "/bin/sh".into(),
            run_args: vec!["-c".into(), script.into()],
            check_args: vec!["-c".into(), script.into()],
        }
    }

    #[tokio::test]
    async fn checks_runs_reloads_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let hup = dir.path().join("hup");
        let daemon = sh(&format!(
            "trap 'echo hup >> {}' HUP; trap 'exit 7' TERM; while :; do sleep 0.05; done",
            hup.display()
        ));
        let mut supervisor = Supervisor::new(daemon);
        supervisor.start().await.unwrap();
        assert!(supervisor.running());
        tokio::time::sleep(Duration::from_millis(300)).await;
        supervisor.reload().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(std::fs::read_to_string(&hup).unwrap(), "hup\n");
        supervisor.stop(Duration::from_secs(5)).await;
        assert!(!supervisor.running());
    }

    #[tokio::test]
    async fn a_refused_check_says_why() {
        let supervisor = Supervisor::new(sh("echo 'line 3: bad keyword' >&2; exit 1"));
        let err = supervisor.check().await.unwrap_err();
        assert!(err.contains("line 3: bad keyword"), "{err}");
        assert!(Supervisor::new(sh("exit 0")).check().await.is_ok());
    }

    #[tokio::test]
    async fn a_death_is_seen_and_restarts_back_off() {
        let mut supervisor = Supervisor::new(sh("exit 3"));
        supervisor.start().await.unwrap();
        let status = supervisor.exited().await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(!supervisor.running());
        let delays: Vec<_> = (0..3).map(|_| supervisor.next_backoff()).collect();
        assert!(delays[0] < delays[1] && delays[1] < delays[2], "{delays:?}");
        supervisor.settled();
        assert_eq!(supervisor.next_backoff(), delays[0]);
    }
}
