//! The service core: every operation of the API, transport-agnostic.
//!
//! Each write runs in one store transaction (validate → store → audit), so a
//! refused request leaves nothing behind; refused attempts are audited after
//! the fact in a transaction of their own.

mod agents;
mod audit;
mod authorize;
mod clusters;
mod confirm;
mod directors;
mod draft;
mod error;
mod ha;
mod health;
mod keepalived;
mod limits;
mod live;
mod revisions;
mod rollout;
mod settings;
mod tokens;
mod views;
mod zero;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub use agents::{AGENT_MODE, MAX_WAIT, parse_wait};
pub use audit::{AuditQuery, Denied};
pub use authorize::{AccessRequest, MAX_REQUEST_ID, request_id};
pub use confirm::{Confirmed, PendingConfirm, parse_confirm_within};
pub use directors::{
    BoxFuture, DirectorHealth, DirectorUpdate, DirectorView, LocalDirector, PlanPreview,
    PlanTarget, foreign_services,
};
pub use draft::Precondition;
pub use error::{Error, ErrorCode};
pub use ha::{
    HaFlag, HaInstance, HaMember, HaView, SwitchoverBody, SwitchoverView, VRRP_STATES, state_name,
};
pub use health::DirectorServersHealth;
pub use keepalived::{KeepalivedImport, KeepalivedImported};
pub use limits::Limits;
pub use live::{DirectorCounters, LiveReport};
pub use revisions::{CommitRequest, RevisionPage};
pub use rollout::{CanaryView, RolloutState, RolloutView};
pub use settings::{ClusterSettings, SettingsView};
pub use tokens::{NewToken, TokenView};
pub use views::*;
pub use zero::{ZeroBody, ZeroView};

use crate::auth::Authenticator;
use crate::model::Spec;
use crate::store::{Notice, Store, Topic};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who is asking, for the audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: String,
    pub request_id: String,
}

impl Caller {
    pub fn new(actor: impl Into<String>, request_id: impl Into<String>) -> Self {
        Caller {
            actor: actor.into(),
            request_id: request_id.into(),
        }
    }

    /// A caller with a fresh request id.
    pub fn anonymous() -> Self {
        Caller::new("anonymous", uuid::Uuid::new_v4().to_string())
    }
}

/// A draft as this process wrote it; valid while the cluster's uid and draft
/// version are these.
struct CachedDraft {
    uid: String,
    version: i64,
    spec: Arc<Spec>,
}

/// The service core, shared by the REST and gRPC transports.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    auth: Authenticator,
    limits: Limits,
    /// Bumped after every committed change of an active revision.
    activations: tokio::sync::watch::Sender<u64>,
    /// Bumped when something directors act on changes, other than the
    /// active revision (cluster settings).
    wakeups: tokio::sync::watch::Sender<u64>,
    /// Bumped when what some director should run changed other than by an
    /// activation or new settings: a rollout released, a zeroing request.
    desired: tokio::sync::watch::Sender<u64>,
    /// Bumped after a director recorded a step.
    recorded: tokio::sync::watch::Sender<u64>,
    /// Bumped when a confirmation is armed or settled.
    confirms: tokio::sync::watch::Sender<u64>,
    /// The spec of each cluster's active revision, once parsed: `(revision, spec)`.
    specs: Mutex<HashMap<String, (i64, Arc<Spec>)>>,
    /// When the change that activated each cluster's revision began, and
    /// when it was committed: `(revision, began, committed)`.
    activated: Mutex<HashMap<String, (i64, std::time::Instant, std::time::Instant)>>,
    /// Each cluster's draft as this process last wrote it: parsed, with its content hash.
    drafts: Mutex<HashMap<String, CachedDraft>>,
    /// This server's own director, with `serve --apply-local`.
    local: OnceLock<Arc<dyn LocalDirector>>,
    /// Directors' latest counters.
    counters: live::LiveCounters,
    /// What happens in this process, for `GET /metrics`.
    metrics: crate::metrics::Metrics,
    /// Directors' latest health of real servers.
    health: health::LiveHealth,
    /// Agents' latest failures to apply their host settings.
    host_errors: live::LiveHostErrors,
    /// Directors' latest high-availability state.
    ha: ha::LiveHa,
    /// Names this server in its notices to the others on the database.
    origin: String,
}

impl Core {
    pub fn new(store: Store) -> Self {
        Core::with_limits(store, Limits::default())
    }

    /// A core on a fresh SQLite database at `path`, for tests of the layers
    /// above (which do not reach the store themselves).
    #[cfg(test)]
    pub async fn open_for_tests(path: &std::path::Path) -> Self {
        let store = Store::open(path.to_str().expect("a UTF-8 path"))
            .await
            .expect("a fresh database opens");
        Core::new(store)
    }

    pub fn with_limits(store: Store, limits: Limits) -> Self {
        let channel = || tokio::sync::watch::channel(0).0;
        let auth = Authenticator::new(store.clone());
        Core {
            inner: Arc::new(Inner {
                store,
                auth,
                limits,
                activations: channel(),
                wakeups: channel(),
                desired: channel(),
                recorded: channel(),
                confirms: channel(),
                specs: Mutex::new(HashMap::new()),
                activated: Mutex::new(HashMap::new()),
                drafts: Mutex::new(HashMap::new()),
                local: OnceLock::new(),
                counters: live::LiveCounters::default(),
                metrics: crate::metrics::Metrics::default(),
                health: health::LiveHealth::default(),
                host_errors: live::LiveHostErrors::default(),
                ha: ha::LiveHa::default(),
                origin: uuid::Uuid::new_v4().to_string(),
            }),
        }
    }

    /// Whether the server can serve its API now: the database answers reads
    /// and could take a write (see [`Store::check_writable`]); the error
    /// names what stops it.
    pub async fn readiness(&self) -> Result<()> {
        self.list_clusters().await?;
        self.store().check_writable().await?;
        Ok(())
    }

    /// Makes `director` this server's own: plan previews and forced applies go to it.
    pub fn set_local_director(&self, director: Arc<dyn LocalDirector>) {
        if self.inner.local.set(director).is_err() {
            tracing::warn!("a local director is already set");
        }
    }

    pub fn local_director(&self) -> Option<&Arc<dyn LocalDirector>> {
        self.inner.local.get()
    }

    /// Notifies when directors have something new to act on besides
    /// activations (see [`Core::activations`]): changed cluster settings.
    pub fn wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.wakeups.subscribe()
    }

    /// Notifies after a director recorded what it did.
    pub fn director_records(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.recorded.subscribe()
    }

    fn settings_changed(&self) {
        self.inner.wakeups.send_modify(|n| *n += 1);
        self.tell_other_servers(Topic::Settings);
    }

    fn director_recorded(&self) {
        self.inner.recorded.send_modify(|n| *n += 1);
        self.tell_other_servers(Topic::Recorded);
    }

    fn confirms_changed(&self) {
        self.inner.confirms.send_modify(|n| *n += 1);
        self.tell_other_servers(Topic::Confirms);
    }

    /// Passes a change this server committed on to the other servers on the
    /// database (PostgreSQL), without holding up the caller.
    fn tell_other_servers(&self, topic: Topic) {
        if self.store().is_shared() {
            let (store, origin) = (self.store().clone(), self.inner.origin.clone());
            tokio::spawn(async move { store.publish(&origin, topic).await });
        }
    }

    /// Wakes this server's watchers for what other servers on the database
    /// committed, until `shutdown`; returns at once on SQLite, where this is
    /// the only server.
    pub async fn follow_other_servers(self, shutdown: impl std::future::Future<Output = ()>) {
        let Some(mut listener) = self.store().listen(self.inner.origin.clone()).await else {
            return;
        };
        tokio::pin!(shutdown);
        loop {
            let notice = tokio::select! {
                () = &mut shutdown => return,
                notice = listener.next() => notice,
            };
            let bump = |channel: &tokio::sync::watch::Sender<u64>| channel.send_modify(|n| *n += 1);
            let inner = &self.inner;
            match notice {
                None => return,
                Some(Notice::Changed(Topic::Activations)) => bump(&inner.activations),
                Some(Notice::Changed(Topic::Settings)) => bump(&inner.wakeups),
                Some(Notice::Changed(Topic::Desired)) => bump(&inner.desired),
                Some(Notice::Changed(Topic::Recorded)) => bump(&inner.recorded),
                Some(Notice::Changed(Topic::Confirms)) => bump(&inner.confirms),
                Some(Notice::Missed) => {
                    for channel in [
                        &inner.activations,
                        &inner.wakeups,
                        &inner.desired,
                        &inner.recorded,
                        &inner.confirms,
                    ] {
                        bump(channel);
                    }
                }
            }
        }
    }

    fn cached_spec(&self, cluster: &str) -> Option<(i64, Arc<Spec>)> {
        self.inner
            .specs
            .lock()
            .expect("spec cache lock")
            .get(cluster)
            .cloned()
    }

    fn remember_spec(&self, cluster: &str, revision: i64, spec: Arc<Spec>) {
        self.inner
            .specs
            .lock()
            .expect("spec cache lock")
            .insert(cluster.to_string(), (revision, spec));
    }

    /// Keeps the spec of a revision a commit (begun at `started`) just made
    /// active, and when that commit began.
    /// Counts it too when it made a new revision.
    fn remember_outcome(
        &self,
        cluster: &str,
        outcome: &CommitOutcome,
        spec: Arc<Spec>,
        started: std::time::Instant,
    ) {
        if outcome.created {
            match outcome.revision.kind {
                RevisionKind::Commit => self.inner.metrics.commit_made(cluster),
                RevisionKind::Rollback => self.inner.metrics.rollback_made(cluster),
            }
        }
        if outcome.revision.active {
            self.remember_spec(cluster, outcome.revision.number, spec);
            let mut activated = self.inner.activated.lock().expect("activation times lock");
            activated.insert(
                cluster.to_string(),
                (outcome.revision.number, started, std::time::Instant::now()),
            );
        }
    }

    /// The draft of `row` parsed, when this process wrote that very version
    /// of it (a commit then neither reads nor parses it).
    fn cached_draft(&self, row: &crate::store::ClusterRow) -> Option<Arc<Spec>> {
        let drafts = self.inner.drafts.lock().expect("draft cache lock");
        let cached = drafts.get(&row.name)?;
        (cached.uid == row.uid && cached.version == row.draft_version).then(|| cached.spec.clone())
    }

    /// Keeps the draft just written to `row` (its stored spec is `spec`).
    fn remember_draft(&self, row: &crate::store::ClusterRow, spec: Arc<Spec>) {
        let cached = CachedDraft {
            uid: row.uid.clone(),
            version: row.draft_version,
            spec,
        };
        self.inner
            .drafts
            .lock()
            .expect("draft cache lock")
            .insert(row.name.clone(), cached);
    }

    /// When the commit, rollback or activation that made `revision` the
    /// active one of `cluster` began in this process, and when it was
    /// committed (durable), if it happened in this process.
    pub fn activation_times(
        &self,
        cluster: &str,
        revision: i64,
    ) -> Option<(std::time::Instant, std::time::Instant)> {
        let activated = self.inner.activated.lock().expect("activation times lock");
        activated
            .get(cluster)
            .filter(|(number, ..)| *number == revision)
            .map(|(_, began, done)| (*began, *done))
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The process's counters, which the transports add to.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// Checks the tokens of requests; the transports ask it first.
    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Notifies whenever some cluster's active revision changes (a commit,
    /// rollback, activation or cluster deletion has been committed); readers
    /// then look up the clusters they follow.
    pub fn activations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.activations.subscribe()
    }

    fn activation_committed(&self) {
        self.inner.activations.send_modify(|n| *n += 1);
        self.tell_other_servers(Topic::Activations);
    }
}

/// Now, as stored: RFC 3339 UTC with milliseconds, which sorts as text.
pub(crate) fn now() -> String {
    crate::model::time::now_rfc3339()
}
