//! The keepalived task of an agent: writes the rendered configuration,
//! checks it with `keepalived -t`, runs keepalived (VRRP only), reloads it
//! on a new configuration, restarts it when it dies (after taking away the
//! VIPs a dead keepalived leaves bound), and passes on what the notify FIFO
//! says. It stops keepalived with SIGTERM when told to, so the VIPs are
//! released at once and a backup takes over within an advert.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, watch};

use super::Paths;
use super::notify::{self, Notice};
use crate::ha::supervisor::{Daemon, Supervisor, signal_pid_file};
use crate::host::rtnl::Rtnl;

/// What keepalived runs: the configuration text and the addresses it binds
/// (taken away by hand when keepalived dies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub text: String,
    /// (interface, address, prefix length)
    pub vips: Vec<(String, IpAddr, u8)>,
}

/// What the task tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Notice(Notice),
    /// keepalived is running the configuration given last.
    Running,
    /// It could not be configured, run, or it died.
    Error(String),
    /// It is not running (stopped, or died and waiting to restart).
    Stopped,
}

/// A run of keepalived that lasted this long resets the restart backoff.
const SETTLED_AFTER: Duration = Duration::from_secs(60);

/// Runs until `stop` turns true, then stops keepalived and returns.
pub async fn run(
    program: PathBuf,
    paths: Paths,
    mut config: watch::Receiver<Option<Config>>,
    events: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let send = |event| {
        let _ = events.send(event);
    };
    if let Err(err) = prepare(&paths) {
        send(Event::Error(format!(
            "keepalived's directory {}: {err}",
            paths.dir.display()
        )));
    }
    let reader = tokio::spawn(read_fifo(paths.notify_fifo(), events.clone()));
    let mut supervisor = Supervisor::new(Daemon {
        name: "keepalived".into(),
        program,
        run_args: paths.run_args(),
        check_args: paths.check_args(),
    });
    let mut current: Option<Config> = None;
    let mut started = Instant::now();
    let mut restart_at: Option<tokio::time::Instant> = None;
    loop {
        let wanted = config.borrow_and_update().clone();
        if wanted != current {
            match &wanted {
                Some(next) => match load(&supervisor, &paths, next).await {
                    Ok(()) => {
                        if supervisor.running() {
                            if let Err(err) = supervisor.reload() {
                                send(Event::Error(format!("reloading keepalived: {err}")));
                            }
                        } else {
                            restart_at = Some(tokio::time::Instant::now());
                        }
                        current = wanted.clone();
                    }
                    Err(err) => send(Event::Error(err)),
                },
                None => {
                    supervisor.stop(Duration::from_secs(5)).await;
                    current = None;
                    restart_at = None;
                    send(Event::Stopped);
                }
            }
        }
        let restart = async {
            match restart_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() {
                    break;
                }
            }
            changed = config.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            () = restart => {
                restart_at = None;
                if current.is_some() {
                    match supervisor.start().await {
                        Ok(()) => {
                            started = Instant::now();
                            send(Event::Running);
                        }
                        Err(err) => {
                            send(Event::Error(format!("keepalived could not start: {err}")));
                            restart_at = Some(tokio::time::Instant::now() + supervisor.next_backoff());
                        }
                    }
                }
            }
            status = supervisor.exited() => {
                let why = match status {
                    Ok(status) => status.to_string(),
                    Err(err) => err.to_string(),
                };
                if started.elapsed() >= SETTLED_AFTER {
                    supervisor.settled();
                }
                // Its VRRP child may outlive it, and a killed one leaves the
                // VIPs bound: two directors would answer for them.
                signal_pid_file(&paths.vrrp_pid_file(), Signal::KILL);
                let removed = current.as_ref().map(|c| remove_vips(&c.vips)).unwrap_or_default();
                let delay = supervisor.next_backoff();
                tracing::error!(%why, removed, ?delay, "keepalived exited; its VIPs are removed, restarting");
                send(Event::Error(format!("keepalived exited ({why}); restarted")));
                send(Event::Stopped);
                restart_at = Some(tokio::time::Instant::now() + delay);
            }
        }
    }
    supervisor.stop(Duration::from_secs(5)).await;
    reader.abort();
    send(Event::Stopped);
}

fn prepare(paths: &Paths) -> io::Result<()> {
    std::fs::create_dir_all(&paths.dir)?;
    let fifo = paths.notify_fifo();
    if !fifo.exists() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )?;
    }
    // A fresh agent starts healthy; the agent writes a fault later if any.
    if !paths.track_file().exists() {
        std::fs::write(paths.track_file(), "0\n")?;
    }
    Ok(())
}

/// Writes the configuration and has keepalived check it.
async fn load(supervisor: &Supervisor, paths: &Paths, config: &Config) -> Result<(), String> {
    let target = paths.config();
    let staged = paths.dir.join("keepalived.conf.new");
    std::fs::write(&staged, &config.text)
        .map_err(|e| format!("writing {}: {e}", staged.display()))?;
    let check = Supervisor::new(Daemon {
        check_args: vec![
            "--config-test".into(),
            "--use-file".into(),
            staged.display().to_string(),
        ],
        ..supervisor.daemon().clone()
    });
    check.check().await?;
    std::fs::rename(&staged, &target).map_err(|e| format!("writing {}: {e}", target.display()))
}

/// Removes the addresses a dead keepalived left; returns how many.
pub fn remove_vips(vips: &[(String, IpAddr, u8)]) -> usize {
    let Ok(mut rtnl) = Rtnl::open() else {
        return 0;
    };
    let (Ok(links), Ok(bound)) = (rtnl.links(), rtnl.addresses()) else {
        return 0;
    };
    let mut removed = 0;
    for (interface, address, prefix) in vips {
        let Some(link) = links.iter().find(|l| &l.name == interface) else {
            continue;
        };
        if bound
            .iter()
            .any(|a| a.index == link.index && a.address == *address)
            && rtnl.delete_address(link.index, *address, *prefix).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

async fn read_fifo(path: PathBuf, events: mpsc::UnboundedSender<Event>) {
    // Read-write, so the FIFO never reads end-of-file between keepalived runs.
    let receiver = match tokio::net::unix::pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&path)
    {
        Ok(receiver) => receiver,
        Err(err) => {
            let _ = events.send(Event::Error(format!(
                "opening keepalived's notify FIFO {}: {err}",
                path.display()
            )));
            return;
        }
    };
    let mut lines = BufReader::new(receiver).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(notice) = notify::parse(&line) {
            tracing::info!(instance = %notice.instance, state = ?notice.state, priority = notice.priority, "vrrp");
            if events.send(Event::Notice(notice)).is_err() {
                return;
            }
        }
    }
}
