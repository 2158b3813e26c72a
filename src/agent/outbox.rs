//! Reports waiting for the server: a bounded queue, oldest first.
//!
//! While the server is out of reach, reports pile up. Those that carry
//! history (applies, a drift check) are kept in order, up to a bound past
//! which the oldest are dropped (and counted); a heartbeat only repeats the
//! latest state, so a newer one replaces a heartbeat still waiting at the
//! back instead of queueing behind it.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::protocol::DirectorReport;

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
}

#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<Queue>,
    capacity: usize,
    ready: Notify,
}

/// A report with nothing but the current state in it.
fn is_heartbeat(report: &DirectorReport) -> bool {
    report.applies.is_empty() && report.drift_check.is_none() && report.health_changes.is_empty()
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
        let replaces_heartbeat = queue
            .reports
            .back()
            .is_some_and(|last| is_heartbeat(&last.report));
        if replaces_heartbeat {
            queue.reports.pop_back();
        } else if queue.reports.len() >= self.capacity {
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
            if let Some(front) = self
                .queue
                .lock()
                .expect("outbox lock")
                .reports
                .front()
                .cloned()
            {
                return front;
            }
            ready.await;
        }
    }

    /// Takes the report `id` off the queue (sent, or refused for good); a
    /// report replaced meanwhile stays.
    pub fn done(&self, id: u64) {
        let mut queue = self.queue.lock().expect("outbox lock");
        if queue.reports.front().is_some_and(|front| front.id == id) {
            queue.reports.pop_front();
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
    use crate::agent::protocol::DriftCheck;
    use crate::apply::DriftMode;

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
            report_interval_secs: 10,
        }
    }

    fn with_drift_check(applied: i64) -> DirectorReport {
        let check = DriftCheck {
            at: "2026-11-25T10:00:00Z".into(),
            revision: applied,
            drift: Vec::new(),
            mode: DriftMode::Restore,
            hash: None,
        };
        DirectorReport {
            drift_check: Some(check),
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
    fn a_newer_heartbeat_replaces_one_still_waiting() {
        let outbox = Outbox::new(10);
        outbox.push(with_drift_check(1));
        outbox.push(heartbeat(1));
        outbox.push(heartbeat(2));
        outbox.push(heartbeat(3));
        assert_eq!(applied_revisions(&outbox), [Some(1), Some(3)]);
        // History behind a heartbeat queues after it.
        outbox.push(with_drift_check(4));
        assert_eq!(applied_revisions(&outbox), [Some(1), Some(4)]);
    }

    #[test]
    fn past_the_bound_the_oldest_reports_go() {
        let outbox = Outbox::new(3);
        let dropped: Vec<u64> = (1..=5).map(|n| outbox.push(with_drift_check(n))).collect();
        assert_eq!(dropped, [0, 0, 0, 1, 2]);
        assert_eq!(applied_revisions(&outbox), [Some(3), Some(4), Some(5)]);
    }

    #[tokio::test]
    async fn a_sent_report_leaves_but_a_replaced_one_does_not_take_its_successor() {
        let outbox = Outbox::new(10);
        outbox.push(heartbeat(1));
        let sending = outbox.next().await;
        // While it is on the wire, a newer heartbeat replaces it.
        outbox.push(heartbeat(2));
        outbox.done(sending.id);
        assert_eq!(applied_revisions(&outbox), [Some(2)]);
        let next = outbox.next().await;
        outbox.done(next.id);
        assert!(outbox.is_empty());
    }
}
