//! Reports waiting for the server: a bounded queue, oldest first.
//!
//! While the server is out of reach, or slow, reports pile up. A report
//! whose drift check found drift is history of its own (the server audits
//! it) and keeps its place. Any other report waiting at the back, and not
//! on the wire, is merged into the newer one: its applies go first in the
//! newer report's list, and the newer state replaces its own. So a slow
//! server receives the latest state in one report instead of a backlog of
//! heartbeats and in-sync checks. Past a bound, the oldest reports go (and
//! are counted).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::contract::agent::DirectorReport;

/// How many reports wait at most.
pub const CAPACITY: usize = 100;

/// A queued report and its number, to take it off the queue once sent.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: u64,
    pub report: DirectorReport,
}

#[derive(Debug, Default)]
struct Queue {
    reports: VecDeque<Queued>,
    next_id: u64,
    dropped: u64,
    /// The report being sent: never merged into, so that what it carries
    /// is not sent twice.
    in_flight: Option<u64>,
}

#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    ready: Notify,
}

/// Applies one merged report carries at most (the oldest go first).
const MAX_MERGED_APPLIES: usize = 100;

/// Whether a newer report may take this one in: it found no drift.
fn mergeable(report: &DirectorReport) -> bool {
    report
        .drift_check
        .as_ref()
        .is_none_or(|check| check.drift.is_empty())
}

/// `newer` with what `older` carried that it does not supersede.
fn merge(older: DirectorReport, mut newer: DirectorReport) -> DirectorReport {
    let mut applies = older.applies;
    applies.append(&mut newer.applies);
    let excess = applies.len().saturating_sub(MAX_MERGED_APPLIES);
    applies.drain(..excess);
    newer.applies = applies;
    if newer.drift_check.is_none() {
        newer.drift_check = older.drift_check;
    }
    // Health changes are history too: the server audits each one.
    let mut changes = older.health_changes;
    changes.append(&mut newer.health_changes);
    newer.health_changes = changes;
    newer
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            ready: Notify::new(),
        }
    }

    /// Queues `report`; returns how many reports were dropped so far to keep the bound.
    pub fn push(&self, report: DirectorReport) -> u64 {
        let mut queue = self.queue.lock().expect("outbox lock");
        let id = queue.next_id;
        queue.next_id += 1;
        let in_flight = queue.in_flight;
        let merges = queue
            .reports
            .back()
            .is_some_and(|last| Some(last.id) != in_flight && mergeable(&last.report));
        let report = if merges {
            let older = queue.reports.pop_back().expect("checked").report;
            merge(older, report)
        } else {
            report
        };
        if !merges && queue.reports.len() >= self.capacity {
            queue.reports.pop_front();
            queue.dropped += 1;
        }
        queue.reports.push_back(Queued { id, report });
        let dropped = queue.dropped;
        drop(queue);
        self.ready.notify_one();
        dropped
    }

    /// The oldest report waiting, once there is one.
    pub async fn next(&self) -> Queued {
        loop {
            let ready = self.ready.notified();
            let front = {
                let mut queue = self.queue.lock().expect("outbox lock");
                let front = queue.reports.front().cloned();
                queue.in_flight = front.as_ref().map(|q| q.id);
                front
            };
            match front {
                Some(front) => return front,
                None => ready.await,
            }
        }
    }

    /// Takes the report `id` off the queue (sent, or refused for good).
    pub fn done(&self, id: u64) {
        let mut queue = self.queue.lock().expect("outbox lock");
        if queue.reports.front().is_some_and(|front| front.id == id) {
            queue.reports.pop_front();
        }
        if queue.in_flight == Some(id) {
            queue.in_flight = None;
        }
    }

    /// Empties the queue and returns what waited, oldest first.
    #[cfg(test)]
    pub(crate) fn take_all(&self) -> Vec<DirectorReport> {
        self.queue
            .lock()
            .expect("outbox lock")
            .reports
            .drain(..)
            .map(|q| q.report)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.queue.lock().expect("outbox lock").reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::DriftMode;
    use crate::contract::agent::DriftCheck;

    fn heartbeat(applied: i64) -> DirectorReport {
        DirectorReport {
            agent_version: "test".into(),
            role: Default::default(),
            applied_revision: Some(applied),
            blocked_revision: None,
            applies: Vec::new(),
            drift_check: None,
            draining: Vec::new(),
            counters: None,
            zeroed_seq: None,
            health: Vec::new(),
            health_changes: Vec::new(),
            host_errors: Vec::new(),
            agent_errors: Vec::new(),
            report_interval_secs: 10,
            ha: None,
        }
    }

    fn with_check(applied: i64, drift: Vec<crate::plan::Drift>) -> DirectorReport {
        let check = DriftCheck {
            at: "2026-11-25T10:00:00Z".into(),
            revision: applied,
            drift,
            mode: DriftMode::Report,
            hash: None,
        };
        DirectorReport {
            drift_check: Some(check),
            ..heartbeat(applied)
        }
    }

    /// A report whose drift check found something: history of its own.
    fn with_drift(applied: i64) -> DirectorReport {
        let drift = crate::plan::Drift {
            object: "real server 172.25.0.40:80 of tcp 192.168.31.100:80".into(),
            kind: crate::plan::DriftKind::Unexpected,
            details: Vec::new(),
        };
        with_check(applied, vec![drift])
    }

    fn with_apply(applied: i64) -> DirectorReport {
        let mut report = crate::apply::Report::new(crate::apply::Cause::Activation);
        report.revision = Some(applied);
        DirectorReport {
            applies: vec![report],
            ..heartbeat(applied)
        }
    }

    fn applied_revisions(outbox: &Outbox) -> Vec<Option<i64>> {
        outbox
            .queue
            .lock()
            .unwrap()
            .reports
            .iter()
            .map(|q| q.report.applied_revision)
            .collect()
    }

    #[test]
    fn newer_reports_take_in_waiting_ones_that_found_no_drift() {
        let outbox = Outbox::new(10);
        outbox.push(with_apply(1));
        outbox.push(heartbeat(1));
        outbox.push(with_check(1, Vec::new()));
        outbox.push(with_apply(2));
        outbox.push(heartbeat(2));
        let waiting = outbox.take_all();
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        let applies: Vec<_> = waiting[0].applies.iter().map(|a| a.revision).collect();
        assert_eq!(applies, [Some(1), Some(2)], "no apply is lost");
        assert_eq!(waiting[0].applied_revision, Some(2), "the latest state");
        assert!(
            waiting[0].drift_check.is_some(),
            "the in-sync check rides along"
        );
    }

    #[test]
    fn a_report_with_drift_keeps_its_place() {
        let outbox = Outbox::new(10);
        outbox.push(with_drift(1));
        outbox.push(heartbeat(1));
        outbox.push(with_drift(1));
        outbox.push(heartbeat(2));
        assert_eq!(applied_revisions(&outbox), [Some(1), Some(1), Some(2)]);
    }

    #[test]
    fn past_the_bound_the_oldest_reports_go() {
        let outbox = Outbox::new(3);
        let dropped: Vec<u64> = (1..=5).map(|n| outbox.push(with_drift(n))).collect();
        assert_eq!(dropped, [0, 0, 0, 1, 2]);
        assert_eq!(applied_revisions(&outbox), [Some(3), Some(4), Some(5)]);
    }

    #[tokio::test]
    async fn the_report_on_the_wire_is_not_merged_into() {
        let outbox = Outbox::new(10);
        outbox.push(with_apply(1));
        let sending = outbox.next().await;
        // While it is on the wire, a newer report queues behind it.
        outbox.push(heartbeat(2));
        outbox.done(sending.id);
        let next = outbox.next().await;
        assert_eq!(next.report.applied_revision, Some(2));
        assert!(
            next.report.applies.is_empty(),
            "the apply already sent is not sent again"
        );
        outbox.done(next.id);
        assert!(outbox.is_empty());
    }
}
