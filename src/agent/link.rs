//! The agent's two conversations with the server, each in its own task: the
//! long-poll that watches what to run, and the sender that delivers queued
//! reports. Both ask the current one of the [`Servers`](super::servers::Servers);
//! when it fails for want of a server, they try the next one at once, and
//! back off only once every server failed in a row (one round), so that a
//! dead server costs one failed request and not a backoff, while a total
//! outage is not hammered. Whichever gets through first wakes the other, so
//! that reports flow again as soon as a server is back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::client::{ClientError, ServerClient};
use super::outbox::Outbox;
use super::servers::Servers;
use crate::contract::agent::Desired;

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
    let servers = client.servers().clone();
    let mut backoff = Backoff::default();
    let mut round = Round::default();
    let mut last: Option<Desired> = None;
    loop {
        let after = last.as_ref().and_then(|d| d.revision);
        let asked = Instant::now();
        let at = servers.current();
        let answer = tokio::select! {
            answer = client.desired(at, after, wait) => answer,
            // The sender found this server dead: a long-poll held by it
            // would only end in a timeout, so ask the next one now.
            () = servers.moved_from(at) => continue,
        };
        match answer {
            Ok(desired) => {
                if backoff.failures() > 0 {
                    tracing::info!(
                        server = servers.url(at),
                        failures = backoff.failures(),
                        "the server answers again"
                    );
                }
                if backoff.failures() > 0 || round.failed > 0 {
                    link.answered_again();
                }
                backoff.reset();
                round.reset();
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
            // Moves to the next server in the guard: at once while some
            // server of this round is left to try, else on to the backoff.
            Err(ClientError::Unreachable(why)) if round.next_server(&servers, at, &why) => {
                tracing::warn!(error = %why, "server unreachable, asking the next one at once");
            }
            Err(err) => {
                round.reset();
                let delay = backoff.fail();
                let retry = format!(
                    "retrying in {:.1}s; the table stays as it is",
                    delay.as_secs_f64()
                );
                match &err {
                    ClientError::Unreachable(_) => {
                        tracing::warn!(error = %err, failures = backoff.failures(), servers = servers.count(), "server unreachable, {retry}");
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
    let servers = client.servers().clone();
    let mut backoff = Backoff::default();
    let mut round = Round::default();
    loop {
        let queued = outbox.next().await;
        let at = servers.current();
        match client.report(at, &queued.report).await {
            Ok(()) => {
                if backoff.failures() > 0 {
                    tracing::info!(
                        server = servers.url(at),
                        waiting = outbox.len().saturating_sub(1),
                        "reports reach the server again"
                    );
                }
                if backoff.failures() > 0 || round.failed > 0 {
                    link.answered_again();
                }
                backoff.reset();
                round.reset();
                outbox.done(queued.id);
            }
            Err(err) if err.is_final() => {
                tracing::error!(error = %err, "the server refused a report; dropping it");
                outbox.done(queued.id);
            }
            Err(ClientError::Unreachable(why)) if round.next_server(&servers, at, &why) => {
                tracing::warn!(error = %why, "report not delivered, sending it to the next server at once");
            }
            Err(err) => {
                round.reset();
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

/// The servers that failed in a row since the last answer or the last
/// backoff: the next server is tried at once until each has failed once.
#[derive(Debug, Default)]
struct Round {
    failed: usize,
}

impl Round {
    /// Server `at` failed for want of a server (`why`): moves to the next
    /// one, and says whether to try it at once (true) or back off first,
    /// every server having failed this round (false).
    fn next_server(&mut self, servers: &Servers, at: usize, why: &str) -> bool {
        servers.failed(at, why);
        self.failed += 1;
        self.failed < servers.count()
    }

    fn reset(&mut self) {
        self.failed = 0;
    }
}
