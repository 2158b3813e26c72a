//! Notices between lvsd servers sharing one PostgreSQL database: a server
//! that committed a change says so on a channel (`NOTIFY`), and every other
//! server wakes what watches that kind of change (agents' long-polls, the
//! rollout and confirmation timers), which then reads the database as usual.
//!
//! A notice is only a wake-up call: it carries no data, so a lost one costs
//! latency, never correctness. Notices are lost when the listening
//! connection drops or a server dies between its commit and its notice;
//! for those, the listener reports [`Notice::Missed`] when it reconnects,
//! and, every [`POLL`], when the audit log grew since it last looked.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

/// The PostgreSQL channel lvsd servers talk on.
const CHANNEL: &str = "lvsd";

/// How often the listener checks for changes no notice announced.
const POLL: Duration = Duration::from_secs(1);

/// What changed, as the core's watchers tell it apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Some cluster's active revision.
    Activations,
    /// Cluster settings.
    Settings,
    /// What some director should run, other than by an activation.
    Desired,
    /// A director recorded a step.
    Recorded,
    /// A confirmation armed or settled.
    Confirms,
}

impl Topic {
    const ALL: [Topic; 5] = [
        Topic::Activations,
        Topic::Settings,
        Topic::Desired,
        Topic::Recorded,
        Topic::Confirms,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Topic::Activations => "activations",
            Topic::Settings => "settings",
            Topic::Desired => "desired",
            Topic::Recorded => "recorded",
            Topic::Confirms => "confirms",
        }
    }

    fn parse(text: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|topic| topic.as_str() == text)
    }
}

/// What the listener passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Another server changed this.
    Changed(Topic),
    /// Notices may have been lost: anything may have changed.
    Missed,
}

/// `origin topic`: the origin lets a server skip its own notices.
fn payload(origin: &str, topic: Topic) -> String {
    format!("{origin} {}", topic.as_str())
}

/// The topic of a notice from another server than `origin`.
fn parse_payload<'a>(origin: &str, payload: &'a str) -> Option<Result<Topic, &'a str>> {
    let (from, topic) = payload.split_once(' ').unwrap_or(("", payload));
    (from != origin).then(|| Topic::parse(topic).ok_or(topic))
}

/// Sends a notice; failures are logged (see the module's comment on lost ones).
pub(super) async fn publish(pool: &AnyPool, origin: &str, topic: Topic) {
    // `pg_notify` returns `void`, which the Any driver cannot read: counted instead.
    let sent = sqlx::query("SELECT count(*) FROM (SELECT pg_notify($1, $2)) AS sent")
        .bind(CHANNEL)
        .bind(payload(origin, topic))
        .execute(pool)
        .await;
    if let Err(err) = sent {
        tracing::warn!(error = %err, topic = topic.as_str(), "telling the other servers");
    }
}

/// Notices from the other servers, for as long as it is kept.
pub struct Listener {
    notices: mpsc::Receiver<Notice>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub(super) async fn start(url: String, origin: String, pool: AnyPool) -> Listener {
        let (tx, notices) = mpsc::channel(64);
        let task = tokio::spawn(listen(url, origin, pool, tx));
        Listener { notices, task }
    }

    /// The next notice; `None` once the listener has stopped.
    pub async fn next(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }
}

/// A cheap fingerprint of the last change worth waking anyone for: the
/// audit log's head. Every commit, rollback, activation, settings change,
/// zeroing request and director apply writes an entry; heartbeats do not,
/// so many agents reporting do not wake every watcher every second.
async fn last_change(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM audit_log")
        .fetch_one(pool)
        .await
}

async fn listen(url: String, origin: String, pool: AnyPool, notices: mpsc::Sender<Notice>) {
    let mut listener: Option<PgListener> = None;
    let mut seen = last_change(&pool).await.ok();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            match connect(&url).await {
                Ok(connected) => {
                    listener = Some(connected);
                    // Whatever was said while no one listened is lost.
                    if notices.send(Notice::Missed).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "listening to the other servers; retrying")
                }
            }
        }
        let notice = tokio::select! {
            received = recv(listener.as_mut()) => match received {
                Ok(Some(payload)) => match parse_payload(&origin, &payload) {
                    Some(Ok(topic)) => Some(Notice::Changed(topic)),
                    Some(Err(unknown)) => {
                        tracing::debug!(topic = unknown, "a notice of an unknown kind (a newer server?)");
                        Some(Notice::Missed)
                    }
                    None => None,
                },
                // The connection dropped; PgListener reconnects on the next call.
                Ok(None) => Some(Notice::Missed),
                Err(err) => {
                    tracing::warn!(error = %err, "the connection listening to the other servers failed");
                    listener = None;
                    Some(Notice::Missed)
                }
            },
            _ = poll.tick() => match last_change(&pool).await {
                Ok(now) if seen.as_ref() != Some(&now) => {
                    let first = seen.is_none();
                    seen = Some(now);
                    (!first).then_some(Notice::Missed)
                }
                Ok(_) => None,
                Err(err) => {
                    tracing::warn!(error = %err, "checking the database for changes");
                    None
                }
            },
        };
        if let Some(notice) = notice
            && notices.send(notice).await.is_err()
        {
            return;
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The next payload, or never without a listener (the poll goes on).
async fn recv(listener: Option<&mut PgListener>) -> Result<Option<String>, sqlx::Error> {
    match listener {
        Some(listener) => Ok(listener.try_recv().await?.map(|n| n.payload().to_string())),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_origin_and_topic() {
        for topic in Topic::ALL {
            let text = payload("a1", topic);
            assert_eq!(parse_payload("b2", &text), Some(Ok(topic)), "{text}");
            assert_eq!(
                parse_payload("a1", &text),
                None,
                "a server skips its own notices: {text}"
            );
        }
        assert_eq!(parse_payload("b2", "a1 reboot"), Some(Err("reboot")));
    }
}
