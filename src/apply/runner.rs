//! The reconcile driver both kinds of director share, in the shape of
//! kube-rs's `Controller`: the caller brings the desired state and does its
//! own I/O (the store for the server's own director, the API for an agent);
//! the runner owns what must not differ between them: when the next step is
//! due, how many transient failures came in a row and the backoff they
//! earn, when the drift check runs, and what a panic inside a step does.
//!
//! A panic in a step is a bug, not a kernel error. It must not take the
//! director down with it: the step's changes to the director's memory are
//! undone, the engine forgets its cache of the table (the next step reads the
//! table whole), and the step counts as a transient failure, retried with
//! backoff.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::policy::DriftMode;
use super::reconcile::{
    Action, Actual, ApplyError, Context, Desired, Event, error_policy, reconcile,
};

/// What one step was asked to do beyond the schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepRequest {
    /// Apply now, even a revision already applied or blocked (an operator asked).
    pub apply_now: bool,
    /// As `apply_now`, and past the removal limit.
    pub force: bool,
    /// The desired spec differs from the one last applied though the
    /// revision is the same (real servers' health changed their weights).
    pub spec_changed: bool,
}

/// What a step did.
#[derive(Debug)]
pub struct Step {
    pub result: Result<Action, ApplyError>,
    /// What the runner does next because of it.
    pub action: Action,
    pub events: Vec<Event>,
    /// Whether this step ran the drift check.
    pub drift_checked: bool,
}

/// The schedule of one director's reconcile loop for one cluster.
#[derive(Debug, Clone)]
pub struct Runner {
    /// How often the whole table is compared with the revision.
    interval: Duration,
    drift: DriftMode,
    due: Option<Instant>,
    /// Transient failures in a row.
    attempt: u32,
    drift_checked: Option<Instant>,
}

impl Runner {
    pub fn new(interval: Duration, drift: DriftMode) -> Self {
        Runner {
            interval,
            drift,
            due: None,
            attempt: 0,
            drift_checked: None,
        }
    }

    /// When the next step is due; `None`: only a change will start one.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Transient failures in a row so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Something the director acts on changed (revision, settings): step
    /// now, with a clean slate of attempts.
    pub fn wake(&mut self) {
        self.attempt = 0;
        self.due = Some(Instant::now());
    }

    /// Nothing to run until something changes.
    pub fn idle(&mut self) {
        self.due = None;
    }

    /// Step again no later than `at` (something beside the table to retry).
    pub fn due_by(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }

    /// Step again after `after`, whatever was due (the caller's own I/O failed).
    pub fn retry_after(&mut self, after: Duration) {
        self.due = Some(Instant::now() + after);
    }

    /// One reconcile step of `desired` against `actual`, then the schedule
    /// of the next one by the error policy (see the module documentation).
    pub fn step(
        &mut self,
        desired: &Desired,
        mut actual: Actual<'_>,
        request: StepRequest,
    ) -> Step {
        let started = Instant::now();
        let drift_due = self
            .drift_checked
            .is_none_or(|at| started.saturating_duration_since(at) >= self.interval);
        let ctx = Context {
            now: SystemTime::now(),
            apply_now: request.apply_now,
            force: request.force,
            attempt: self.attempt,
            drift_due,
            drift: self.drift,
            interval: self.interval,
            spec_changed: request.spec_changed,
        };
        let before = actual.state.clone();
        let mut events = Vec::new();
        let stepped = catch_unwind(AssertUnwindSafe(|| {
            reconcile(desired, &mut actual, &ctx, &mut events)
        }));
        let result = match stepped {
            Ok(result) => result,
            Err(panic) => {
                *actual.state = before;
                actual.engine.forget();
                events.clear();
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".to_string());
                Err(ApplyError::Transient(format!(
                    "the apply step of revision {} failed unexpectedly ({what}); \
                     retrying from a full read of the table",
                    desired.revision
                )))
            }
        };
        if drift_due {
            self.drift_checked = Some(started);
        }
        let action = match &result {
            Ok(action) => {
                self.attempt = 0;
                *action
            }
            Err(err) => {
                let action = error_policy(err, self.attempt);
                self.attempt = match err {
                    ApplyError::Transient(_) => self.attempt.saturating_add(1),
                    _ => 0,
                };
                action
            }
        };
        self.due = match action {
            Action::Requeue(after) => Some(Instant::now() + after),
            Action::AwaitChange => None,
        };
        Step {
            result,
            action,
            events,
            drift_checked: drift_due,
        }
    }
}

/// The faults both directors are tested against, and what each must do.
#[cfg(test)]
pub(crate) mod parity {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::ipvs::{BatchError, Error, Info, IpvsTable, MemoryTable, Op, Snapshot};

    /// A fault injected into the table for one apply.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// The kernel is out of memory (ENOMEM): worth retrying.
        Transient,
        /// The kernel refuses the service as invalid (EINVAL): it will again.
        Permanent,
        /// A bug: the table's code panics.
        Panic,
    }

    /// What a director must show after one failed step.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Expected {
        /// Transient failures in a row counted.
        pub attempt: u32,
        /// Whether a next step is scheduled (after backoff).
        pub retries: bool,
        /// Whether the revision is blocked until the server sends another.
        pub blocked: bool,
    }

    pub const FAULTS: [(Fault, Expected); 3] = [
        (
            Fault::Transient,
            Expected {
                attempt: 1,
                retries: true,
                blocked: false,
            },
        ),
        (
            Fault::Permanent,
            Expected {
                attempt: 0,
                retries: false,
                blocked: true,
            },
        ),
        (
            Fault::Panic,
            Expected {
                attempt: 1,
                retries: true,
                blocked: false,
            },
        ),
    ];

    /// A memory table that fails (or panics) on its next apply while armed.
    pub struct FaultyTable {
        pub inner: MemoryTable,
        pub armed: Arc<AtomicBool>,
        pub fault: Fault,
    }

    impl FaultyTable {
        pub fn new(fault: Fault) -> (Self, Arc<AtomicBool>) {
            let armed = Arc::new(AtomicBool::new(true));
            let table = FaultyTable {
                inner: MemoryTable::new(),
                armed: armed.clone(),
                fault,
            };
            (table, armed)
        }
    }

    impl IpvsTable for FaultyTable {
        fn info(&mut self) -> Result<Info, Error> {
            self.inner.info()
        }

        fn snapshot(&mut self) -> Result<Snapshot, Error> {
            self.inner.snapshot()
        }

        fn apply(&mut self, ops: &[Op]) -> Result<(), BatchError> {
            if self.armed.load(Ordering::SeqCst) && !ops.is_empty() {
                match self.fault {
                    Fault::Panic => panic!("injected panic in the table"),
                    Fault::Transient => self
                        .inner
                        .fail_once(|_| true, crate::ipvs::error::errno::ENOMEM),
                    Fault::Permanent => self
                        .inner
                        .fail_once(|_| true, crate::ipvs::error::errno::EINVAL),
                }
            }
            self.inner.apply(ops)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::apply::Policy;
    use crate::apply::engine::Engine;
    use crate::apply::state::DirectorState;
    use crate::ipvs::{IpvsTable, MemoryTable};
    use crate::model::Spec;

    fn spec(weight: u32) -> Arc<Spec> {
        let doc: crate::model::SpecDoc = serde_json::from_value(serde_json::json!({
            "services": [{"id": "tcp:192.168.31.100:80", "scheduler": "wrr",
                "servers": [{"address": "172.25.0.31", "forwarding": "nat", "weight": weight}]}]
        }))
        .unwrap();
        Arc::new(doc.validate().unwrap())
    }

    fn desired(revision: i64) -> Desired {
        Desired {
            revision,
            spec: spec(revision as u32),
            policy: Policy::default(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_fault_gets_its_policy_and_recovery_follows() {
        for (fault, expected) in parity::FAULTS {
            let (mut table, armed) = parity::FaultyTable::new(fault);
            let mut engine = Engine::new();
            let mut state = DirectorState::default();
            let mut runner = Runner::new(Duration::from_secs(30), DriftMode::Restore);
            runner.wake();
            let actual = Actual {
                table: &mut table,
                engine: &mut engine,
                state: &mut state,
            };
            let step = runner.step(&desired(1), actual, StepRequest::default());
            assert!(step.result.is_err(), "{fault:?}");
            assert_eq!(runner.attempt(), expected.attempt, "{fault:?}");
            assert_eq!(runner.due().is_some(), expected.retries, "{fault:?}");
            assert_eq!(state.blocked == Some(1), expected.blocked, "{fault:?}");
            assert_eq!(state.applied, None, "{fault:?}");
            assert!(
                table.inner.snapshot().unwrap().services.is_empty(),
                "{fault:?}"
            );

            // The fault passes: a retry (or, after a permanent failure, the
            // next revision) is applied and the count starts over.
            armed.store(false, std::sync::atomic::Ordering::SeqCst);
            let next = if expected.blocked { 2 } else { 1 };
            if expected.blocked {
                runner.wake();
            }
            let actual = Actual {
                table: &mut table,
                engine: &mut engine,
                state: &mut state,
            };
            let step = runner.step(&desired(next), actual, StepRequest::default());
            assert!(step.result.is_ok(), "{fault:?}: {:?}", step.result);
            assert_eq!(
                (runner.attempt(), state.applied),
                (0, Some(next)),
                "{fault:?}"
            );
            assert_eq!(table.inner.snapshot().unwrap().services.len(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_from_one_second_to_a_minute() {
        let mut table = MemoryTable::new();
        table.fail_on(|_| true, crate::ipvs::error::errno::ENOMEM);
        let (mut engine, mut state) = (Engine::new(), DirectorState::default());
        let mut runner = Runner::new(Duration::from_secs(30), DriftMode::Restore);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let actual = Actual {
                table: &mut table,
                engine: &mut engine,
                state: &mut state,
            };
            let step = runner.step(&desired(1), actual, StepRequest::default());
            let Action::Requeue(after) = step.action else {
                panic!("a transient failure is retried");
            };
            waits.push(after.as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(runner.attempt(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_due_time_from_elsewhere_only_brings_the_next_step_forward() {
        let mut runner = Runner::new(Duration::from_secs(30), DriftMode::Restore);
        let now = Instant::now();
        runner.due_by(now + Duration::from_secs(10));
        runner.due_by(now + Duration::from_secs(20));
        assert_eq!(runner.due(), Some(now + Duration::from_secs(10)));
        runner.idle();
        assert_eq!(runner.due(), None);
    }
}
