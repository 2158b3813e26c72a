//! Planning what the whole table shares: connection timeouts and sync daemons.

use super::change::Change;
use crate::ipvs::{Daemon, Timeouts};
use crate::model::{self, DaemonRole, SyncDaemon};

/// `--set` for the timeouts the spec sets and the kernel has otherwise; the
/// others stay as they are (the kernel reads 0 as "unchanged").
pub(super) fn timeouts(actual: &Timeouts, desired: &model::Timeouts) -> Option<Change> {
    let wanted = Timeouts::from(desired);
    let differs = |want: u32, have: u32| want != 0 && want != have;
    let any = differs(wanted.tcp, actual.tcp)
        || differs(wanted.tcp_fin, actual.tcp_fin)
        || differs(wanted.udp, actual.udp);
    any.then_some(Change::SetTimeouts {
        before: *actual,
        after: wanted,
    })
}

/// Sync daemon changes, split by when they must run.
#[derive(Default)]
pub(super) struct DaemonChanges {
    /// Before any service change: a running daemon makes the kernel refuse
    /// real servers of the other address family, which the spec may add.
    pub stops: Vec<Change>,
    /// After every service change: the kernel refuses to start a daemon
    /// while real servers of the other family remain, which the plan may remove.
    pub starts: Vec<Change>,
}

/// Starts the roles the spec lists and the kernel does not run, and restarts
/// those running with other settings. Roles the spec does not list are
/// stopped only when `stop_unlisted` (lvsd owns the whole table).
pub(super) fn daemons(
    actual: &[Daemon],
    desired: &[SyncDaemon],
    stop_unlisted: bool,
) -> DaemonChanges {
    let mut changes = DaemonChanges::default();
    for role in [DaemonRole::Master, DaemonRole::Backup] {
        let running = actual.iter().find(|d| d.role == role);
        let wanted = desired.iter().find(|d| d.role == role).map(Daemon::from);
        match (running, wanted) {
            (None, Some(wanted)) => changes.starts.push(Change::StartDaemon(wanted)),
            (Some(running), Some(wanted)) if !runs_as(running, &wanted) => {
                changes.starts.push(Change::RestartDaemon {
                    before: running.clone(),
                    after: wanted,
                });
            }
            (Some(running), None) if stop_unlisted => {
                changes.stops.push(Change::StopDaemon(running.clone()))
            }
            _ => {}
        }
    }
    changes
}

/// Whether a running daemon has every setting `wanted` sets. The kernel
/// reports its defaults for what was left out (0 included), so a setting the
/// spec leaves out matches whatever runs.
pub(super) fn runs_as(running: &Daemon, wanted: &Daemon) -> bool {
    fn matches<T: PartialEq + Default>(running: Option<T>, wanted: Option<T>) -> bool {
        match wanted {
            Some(value) if value != T::default() => running == Some(value),
            _ => true,
        }
    }
    running.mcast_ifn == wanted.mcast_ifn
        && running.syncid == wanted.syncid
        && matches(running.sync_maxlen, wanted.sync_maxlen)
        && matches(running.mcast_port, wanted.mcast_port)
        && matches(running.mcast_ttl, wanted.mcast_ttl)
        && (wanted.mcast_group.is_none() || running.mcast_group == wanted.mcast_group)
}
