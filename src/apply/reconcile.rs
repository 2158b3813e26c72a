//! The reconcile loop's one step, in kube-rs's shape: `reconcile(desired,
//! actual) -> Result<Action>`, and an explicit [`error_policy`] that turns a
//! failure into the next action.
//!
//! Nothing here knows where the desired spec comes from (the local store, or
//! a server an agent pulls from) or where reports go: the caller passes the
//! desired state in and takes [`Event`]s out.
//!
//! Error policy:
//! - transient (the kernel out of memory or busy, a socket error, the table
//!   changed under the engine's feet, a read-back that does not match): retry
//!   with exponential backoff, from 1 s up to 60 s, reading the whole table again;
//! - permanent (the kernel refuses an object as invalid, a scheduler it does
//!   not have, no permission): report, and do not try that revision again
//!   until the desired revision changes or an apply is forced;
//! - refused (above the removal limit, or a service owned elsewhere): the same;
//! - unavailable (no IPVS in this kernel): report, and wait for a change.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::engine::{Engine, Read, Run};
use super::policy::{DriftMode, Policy};
use super::report::{Cause, Report};
use super::state::DirectorState;
use crate::ipvs::error::errno;
use crate::ipvs::{Error, IpvsTable};
use crate::model::Spec;
use crate::plan::Drift;

/// What the director should run.
#[derive(Debug, Clone)]
pub struct Desired {
    pub revision: i64,
    pub spec: Arc<Spec>,
    pub policy: Policy,
}

/// The director's side: its table, the engine's cache of it, and what it remembers.
pub struct Actual<'a> {
    pub table: &'a mut dyn IpvsTable,
    pub engine: &'a mut Engine,
    pub state: &'a mut DirectorState,
}

/// The circumstances of one step.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: SystemTime,
    /// Apply now, even a revision already applied or blocked (an operator asked).
    pub apply_now: bool,
    /// Apply now as `apply_now`, and past the removal limit.
    pub force: bool,
    /// Earlier attempts at this revision that failed transiently.
    pub attempt: u32,
    /// Time for the drift check: read the whole table and compare.
    pub drift_due: bool,
    pub drift: DriftMode,
    /// How often the drift check runs.
    pub interval: Duration,
    /// The desired spec differs from the one last applied, though the
    /// revision is the same: real servers' health changed their weights.
    pub spec_changed: bool,
}

/// What to do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run again after this long (drift check, drain, retry).
    Requeue(Duration),
    /// Nothing to do until the desired state changes (or an apply is forced).
    AwaitChange,
}

/// Something a step did, for the caller to record and report.
#[derive(Debug, Clone)]
pub enum Event {
    /// An apply ran (whatever its result).
    Applied(Box<Report>),
    /// The drift check found the kernel differing from the applied revision.
    Drift {
        revision: i64,
        drift: Vec<Drift>,
        mode: DriftMode,
    },
    /// The drift check found the kernel as the revision says.
    InSync { revision: i64, hash: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Worth retrying soon.
    #[error("{0}")]
    Transient(String),
    /// Retrying the same revision will fail the same way.
    #[error("{0}")]
    Permanent(String),
    /// The engine would not send the plan.
    #[error("{0}")]
    Refused(String),
    /// This kernel has no IPVS.
    #[error("{0}")]
    Unavailable(String),
}

/// Whether a kernel error is worth retrying.
pub fn classify(err: &Error, message: String) -> ApplyError {
    match err {
        Error::Unavailable(_) => ApplyError::Unavailable(message),
        Error::Io(_) => ApplyError::Transient(message),
        Error::Decode(_) => ApplyError::Permanent(message),
        Error::Kernel { errno: code, .. } => match *code {
            // Out of memory or buffers, busy, interrupted: the kernel may do it later.
            errno::ENOMEM | EAGAIN | EBUSY | EINTR | ENOBUFS | ETIMEDOUT => {
                ApplyError::Transient(message)
            }
            // The object is there already, or gone: the table changed under
            // the engine's feet; a full read and a new plan will do.
            errno::EEXIST | errno::ESRCH => ApplyError::Transient(message),
            _ => ApplyError::Permanent(message),
        },
    }
}

const EINTR: i32 = 4;
const EAGAIN: i32 = 11;
const EBUSY: i32 = 16;
const ENOBUFS: i32 = 105;
const ETIMEDOUT: i32 = 110;

/// How long before the next try after `attempt` transient failures.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60))
}

/// The action after a failed step. See the module documentation.
pub fn error_policy(err: &ApplyError, attempt: u32) -> Action {
    match err {
        ApplyError::Transient(_) => Action::Requeue(backoff(attempt)),
        ApplyError::Permanent(_) | ApplyError::Refused(_) | ApplyError::Unavailable(_) => {
            Action::AwaitChange
        }
    }
}

/// Checks drains in progress at least this often, for connections ending.
pub const DRAIN_POLL: Duration = Duration::from_secs(2);

/// When to look again: at the drift interval, sooner while drains run.
fn next_step(state: &DirectorState, ctx: &Context) -> Duration {
    let mut wait = ctx.interval;
    if let Some(deadline) = state.next_deadline() {
        let until = deadline.duration_since(ctx.now).unwrap_or_default();
        wait = wait
            .min(until.max(Duration::from_millis(10)))
            .min(DRAIN_POLL);
    }
    wait
}

/// Brings the director to the desired revision; see the module documentation.
pub fn reconcile(
    desired: &Desired,
    actual: &mut Actual<'_>,
    ctx: &Context,
    events: &mut Vec<Event>,
) -> Result<Action, ApplyError> {
    let state = &mut *actual.state;
    let asked = ctx.force || ctx.apply_now;
    if state.blocked == Some(desired.revision) && !asked {
        return Ok(Action::AwaitChange);
    }
    let run = |cause, read| Run {
        cause,
        force: ctx.force,
        now: ctx.now,
        read,
    };

    if state.applied == Some(desired.revision) && !asked {
        if ctx.spec_changed {
            // Past the removal limit: holding back a failed server's weight 0
            // would keep sending clients to it.
            let health = Run {
                cause: Cause::Health,
                force: true,
                now: ctx.now,
                read: Read::Cached,
            };
            return apply(desired, actual, health, ctx, events);
        }
        if ctx.drift_due {
            let check = actual
                .engine
                .check(actual.table, &desired.spec, &desired.policy, state, ctx.now)
                .map_err(|err| classify(&err, format!("drift check: reading the table: {err}")))?;
            if !check.drift.is_empty() {
                events.push(Event::Drift {
                    revision: desired.revision,
                    drift: check.drift,
                    mode: ctx.drift,
                });
                if ctx.drift == DriftMode::Restore {
                    return apply(
                        desired,
                        actual,
                        run(Cause::Drift, Read::Cached),
                        ctx,
                        events,
                    );
                }
            } else if check.drains_done {
                return apply(
                    desired,
                    actual,
                    run(Cause::Drain, Read::Cached),
                    ctx,
                    events,
                );
            } else {
                events.push(Event::InSync {
                    revision: desired.revision,
                    hash: check.hash,
                });
            }
        } else if !state.drains.is_empty() {
            return apply(
                desired,
                actual,
                run(Cause::Drain, Read::Cached),
                ctx,
                events,
            );
        }
        return Ok(Action::Requeue(next_step(actual.state, ctx)));
    }

    let (cause, read) = match (ctx.force, ctx.apply_now, ctx.attempt) {
        (true, _, _) => (Cause::Forced, Read::Full),
        (false, true, _) => (Cause::Requested, Read::Full),
        (false, false, 0) => (Cause::Activation, Read::Cached),
        (false, false, _) => (Cause::Retry, Read::Full),
    };
    apply(desired, actual, run(cause, read), ctx, events)
}

fn apply(
    desired: &Desired,
    actual: &mut Actual<'_>,
    run: Run,
    ctx: &Context,
    events: &mut Vec<Event>,
) -> Result<Action, ApplyError> {
    let outcome = actual.engine.apply(
        actual.table,
        &desired.spec,
        &desired.policy,
        actual.state,
        run,
    );
    let mut report = outcome.report;
    report.revision = Some(desired.revision);
    // A drain step with nothing to do is not worth a report.
    let quiet = run.cause == Cause::Drain && report.ops == 0 && outcome.error.is_none();
    if !quiet {
        events.push(Event::Applied(Box::new(report)));
    }
    match outcome.error {
        None => {
            actual.state.applied = Some(desired.revision);
            actual.state.blocked = None;
            Ok(Action::Requeue(next_step(actual.state, ctx)))
        }
        Some(err) => {
            if !matches!(err, ApplyError::Transient(_)) {
                actual.state.blocked = Some(desired.revision);
            }
            Err(err)
        }
    }
}
