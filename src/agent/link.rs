//! The agent's two conversations with the server, each in its own task: the
//! long-poll that watches what to run, and the sender that delivers queued
//! reports. Both retry with backoff while the server is out of reach, and
//! whichever gets through first wakes the other, so that reports flow again
//! as soon as the server is back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::client::{ClientError, ServerClient};
use super::outbox::Outbox;
use super::protocol::Desired;

/// What the watcher tells the director loop.
#[derive(Debug)]
pub enum FromServer {
    /// The server's answer: what to run now.
    Desired(Box<Desired>),
    /// No desired state: the server could not be reached, or refused
    /// (sent after each failed try).
    Unreachable,
}

/// A server answering at once with nothing new is asked again after this,
/// not at once, so that a misbehaving server cannot make the agent spin.
const SAME_ANSWER_PAUSE: Duration = Duration::from_secs(1);

/// Says when the server answered again after failures.
#[derive(Debug)]
pub struct Reachability {
    back: watch::Sender<u64>,
}

impl Default for Reachability {
    fn default() -> Self {
        Reachability {
            back: watch::channel(0).0,
        }
    }
}

impl Reachability {
    fn answered_again(&self) {
        self.back.send_modify(|n| *n += 1);
    }

    /// Sleeps `delay`, or less if the other task reaches the server meanwhile.
    async fn retry_after(&self, delay: Duration) {
        let mut back = self.back.subscribe();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = back.changed() => {}
        }
    }
}

/// Watches what this director should run, by long-poll, for ever.
pub async fn watch_desired(
    client: ServerClient,
    wait: Duration,
    to_loop: mpsc::Sender<FromServer>,
    link: Arc<Reachability>,
) {
    let mut backoff = Backoff::default();
    let mut last: Option<Desired> = None;
    loop {
        let after = last.as_ref().and_then(|d| d.revision);
        let asked = Instant::now();
        match client.desired(after, wait).await {
            Ok(desired) => {
                if backoff.failures() > 0 {
                    tracing::info!(
                        server = client.server(),
                        failures = backoff.failures(),
                        "the server answers again"
                    );
                    link.answered_again();
                }
                backoff.reset();
                let same = last.as_ref() == Some(&desired);
                last = Some(desired.clone());
                if to_loop
                    .send(FromServer::Desired(Box::new(desired)))
                    .await
                    .is_err()
                {
                    return;
                }
                if same && asked.elapsed() < SAME_ANSWER_PAUSE {
                    tokio::time::sleep(SAME_ANSWER_PAUSE).await;
                }
            }
            Err(err) => {
                let delay = backoff.fail();
                let retry = format!(
                    "retrying in {:.1}s; the table stays as it is",
                    delay.as_secs_f64()
                );
                match &err {
                    ClientError::Unreachable(_) => {
                        tracing::warn!(error = %err, failures = backoff.failures(), "server unreachable, {retry}");
                    }
                    ClientError::Refused { status, .. } => tracing::error!(
                        error = %err,
                        hint = refusal_hint(*status, client.cluster()),
                        "the server refuses this agent, {retry}"
                    ),
                }
                if to_loop.send(FromServer::Unreachable).await.is_err() {
                    return;
                }
                link.retry_after(delay).await;
            }
        }
    }
}

/// What to do about a refusal of the long-poll.
fn refusal_hint(status: u16, cluster: &str) -> String {
    match status {
        401 => "the server wants a token: pass --token TOKEN, set LVSD_TOKEN, or put token = \"...\" in the config file".to_string(),
        403 => format!("this token may not follow cluster {cluster}: make one with `lvsd token create --role agent --cluster {cluster}`"),
        404 => format!("the server has no cluster {cluster} (or does not serve agents: is it an lvsd server of this version?)"),
        _ => "see the error".to_string(),
    }
}

/// Delivers queued reports, oldest first, for ever.
pub async fn send_reports(client: ServerClient, outbox: Arc<Outbox>, link: Arc<Reachability>) {
    let mut backoff = Backoff::default();
    loop {
        let queued = outbox.next().await;
        match client.report(&queued.report).await {
            Ok(()) => {
                if backoff.failures() > 0 {
                    tracing::info!(
                        waiting = outbox.len().saturating_sub(1),
                        "reports reach the server again"
                    );
                    link.answered_again();
                }
                backoff.reset();
                outbox.done(queued.id);
            }
            Err(err) if err.is_final() => {
                tracing::error!(error = %err, "the server refused a report; dropping it");
                outbox.done(queued.id);
            }
            Err(err) => {
                let delay = backoff.fail();
                tracing::warn!(
                    error = %err,
                    waiting = outbox.len(),
                    "report not delivered, retrying in {:.1}s",
                    delay.as_secs_f64()
                );
                link.retry_after(delay).await;
            }
        }
    }
}
