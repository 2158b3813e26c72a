//! The draft: the one editable spec of a cluster, replaced whole or edited
//! one service or real server at a time, guarded by its ETag.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest;

use super::audit::{Change, record};
use super::clusters::{etag, not_found, parse_spec};
use super::{Caller, Core, DraftView, Error, Result, now};
use crate::model::diff::SpecDiff;
use crate::model::patch::merge_patch;
use crate::model::{
    RealServer, RealServerDoc, ServerKey, ServiceKey, Spec, SpecDoc, ValidationError,
    VirtualService, VirtualServiceDoc,
};
use crate::store::{self, ClusterRow};

/// A write condition on the draft: `If-Match` with the ETag a client read.
#[derive(Debug, Clone, Default)]
pub struct Precondition {
    pub if_match: Option<String>,
}

impl Precondition {
    pub fn if_match(etag: impl Into<String>) -> Self {
        Precondition {
            if_match: Some(etag.into()),
        }
    }

    pub(crate) fn check_row(&self, row: &ClusterRow) -> Result<()> {
        self.check(&etag(row), |current, wanted| {
            format!(
                "the draft of {} changed since you read it (it is now {current}, you sent {wanted}): read it again and reapply your change",
                row.name
            )
        })
    }

    /// Whether the tag sent matches `current`; `stale` words the refusal
    /// from the current tag and the one sent.
    pub(crate) fn check(
        &self,
        current: &str,
        stale: impl FnOnce(&str, &str) -> String,
    ) -> Result<()> {
        let Some(wanted) = &self.if_match else {
            return Ok(());
        };
        // `*` matches any existing object; weak comparison ignores W/ as RFC 9110 allows for If-Match on our own tags.
        let matches = wanted
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current);
        if matches {
            Ok(())
        } else {
            Err(Error::PreconditionFailed(stale(current, wanted)))
        }
    }
}

/// The result of a single-object read or edit, with the draft's ETag after it.
#[derive(Debug, Clone, Serialize)]
pub struct Edited<T> {
    pub value: T,
    pub etag: String,
}

/// Audit details of a draft edit: what changed, in a bounded size.
fn diff_detail(before: &Spec, after: &Spec) -> Value {
    let diff = SpecDiff::between(before, after);
    let full = serde_json::to_value(&diff).expect("diffs serialize");
    if full.to_string().len() <= 64 * 1024 {
        return json!({ "diff": full });
    }
    json!({
        "services_added": diff.services_added.len(),
        "services_removed": diff.services_removed.len(),
        "services_changed": diff.services_changed.len(),
    })
}

fn parse_service_id(id: &str) -> Result<ServiceKey> {
    id.parse::<ServiceKey>().map_err(Error::from)
}

fn parse_server_id(id: &str) -> Result<ServerKey> {
    id.parse::<ServerKey>().map_err(Error::from)
}

fn no_service(cluster: &str, key: &ServiceKey) -> Error {
    Error::NotFound(format!("the draft of {cluster} has no service {key}"))
}

fn no_server(key: &ServiceKey, server: &ServerKey) -> Error {
    Error::NotFound(format!("service {key} has no real server {server}"))
}

impl Core {
    /// The view of `row`'s draft, whose spec is `spec`.
    pub(crate) fn draft_view(
        &self,
        row: &ClusterRow,
        spec: Spec,
        base_revision: Option<(i64, String)>,
    ) -> DraftView {
        let dirty = match &base_revision {
            Some((_, hash)) => *hash != row.draft_hash,
            None => !spec.services().is_empty(),
        };
        DraftView {
            cluster: row.name.clone(),
            etag: etag(row),
            version: row.draft_version,
            updated_at: row.draft_updated_at.clone(),
            updated_by: row.draft_updated_by.clone(),
            base_revision: base_revision.map(|(n, _)| n),
            dirty,
            spec,
        }
    }

    pub async fn get_draft(&self, cluster: &str) -> Result<DraftView> {
        // One read transaction: the draft's head, its spec (unless this
        // process has it parsed) and the latest revision, from one snapshot.
        let mut read = self.store().snapshot().await?;
        let row = store::cluster(&mut *read, cluster)
            .await?
            .ok_or_else(|| not_found(cluster))?;
        let latest = store::latest_revision_head(&mut *read, cluster).await?;
        let spec = match self.cached_draft(&row) {
            Some(spec) => (*spec).clone(),
            None => parse_spec(&store::spec_json(&mut *read, row.draft_spec_id).await?)?,
        };
        drop(read);
        Ok(self.draft_view(&row, spec, latest.map(|r| (r.number, r.content_hash))))
    }

    /// Applies `edit` to the draft in one transaction, checking the
    /// precondition first; writes nothing when the draft would not change.
    pub(super) async fn edit_draft<T>(
        &self,
        caller: &Caller,
        cluster: &str,
        precondition: &Precondition,
        action: &str,
        target: String,
        edit: impl FnOnce(&Spec) -> Result<(Spec, T)>,
    ) -> Result<Edited<T>> {
        self.audited(caller, Some(cluster), action, target.clone(), async {
            let mut tx = self.store().begin().await?;
            let mut row = store::cluster(&mut *tx, cluster)
                .await?
                .ok_or_else(|| not_found(cluster))?;
            let before = match self.cached_draft(&row) {
                Some(spec) => spec,
                None => std::sync::Arc::new(parse_spec(
                    &store::spec_json(&mut *tx, row.draft_spec_id).await?,
                )?),
            };
            // Bad input is reported as such (400) even when the ETag is stale too.
            let (after, value) = edit(&before)?;
            precondition.check_row(&row)?;
            if after != *before {
                self.limits().check(&after, "")?;
                // The spec is written once, here; a commit of it names it by hash.
                let json = after.to_canonical_json();
                let previous_spec_id = row.draft_spec_id;
                row.draft_hash = hex::encode(sha2::Sha256::digest(json.as_bytes()));
                row.draft_spec_id = store::put_spec(&mut tx, &row.draft_hash, &json).await?;
                drop(json);
                row.draft_version += 1;
                row.draft_updated_at = now();
                row.draft_updated_by = caller.actor.clone();
                store::update_draft(&mut tx, &row, previous_spec_id).await?;
                let change = Change {
                    cluster: Some(cluster),
                    action,
                    target,
                    detail: diff_detail(&before, &after),
                };
                record(&mut tx, caller, change).await?;
                tx.commit().await.map_err(store::StoreError::from)?;
                self.remember_draft(&row, std::sync::Arc::new(after));
            }
            Ok(Edited {
                value,
                etag: etag(&row),
            })
        })
        .await
    }

    /// Replaces the whole draft with `doc`, validated here so that a refusal is audited.
    pub async fn replace_draft(
        &self,
        caller: &Caller,
        cluster: &str,
        doc: &SpecDoc,
        precondition: &Precondition,
    ) -> Result<DraftView> {
        self.edit_draft(
            caller,
            cluster,
            precondition,
            "draft.replace",
            cluster.to_string(),
            |_| Ok((doc.validate()?, ())),
        )
        .await?;
        self.get_draft(cluster).await
    }

    /// Replaces the draft with a spec read from ipvsadm text (`-S` output or a script).
    pub async fn import_draft(
        &self,
        caller: &Caller,
        cluster: &str,
        text: &str,
        precondition: &Precondition,
    ) -> Result<DraftView> {
        self.edit_draft(
            caller,
            cluster,
            precondition,
            "draft.import",
            cluster.to_string(),
            |draft| {
                let spec = crate::ipvsadm::parse(text).map_err(|err| Error::Invalid(err.into()))?;
                // ipvsadm rules carry no host settings: the draft keeps its own.
                let spec = spec.with_host(draft.host().clone())?;
                Ok((spec, ()))
            },
        )
        .await?;
        self.get_draft(cluster).await
    }

    pub async fn get_service(&self, cluster: &str, id: &str) -> Result<Edited<VirtualService>> {
        let key = parse_service_id(id)?;
        let draft = self.get_draft(cluster).await?;
        let service = draft
            .spec
            .service(&key)
            .ok_or_else(|| no_service(cluster, &key))?
            .clone();
        Ok(Edited {
            value: service,
            etag: draft.etag,
        })
    }

    pub async fn add_service(
        &self,
        caller: &Caller,
        cluster: &str,
        doc: &VirtualServiceDoc,
        precondition: &Precondition,
    ) -> Result<Edited<VirtualService>> {
        let target = doc.key().map(|k| k.to_string()).unwrap_or_default();
        self.edit_draft(caller, cluster, precondition, "draft.service.add", target, |spec| {
            let service = doc.validate()?;
            if spec.service(&service.key).is_some() {
                return Err(Error::AlreadyExists(format!(
                    "the draft of {cluster} already has service {}: update it with PUT or PATCH",
                    service.key
                )));
            }
            Ok((spec.with_service(service.clone()), service))
        })
        .await
    }

    /// Creates or replaces service `id`. With `keep_servers` (no `servers`
    /// in the request) its real servers stay as they are.
    pub async fn put_service(
        &self,
        caller: &Caller,
        cluster: &str,
        id: &str,
        doc: &VirtualServiceDoc,
        keep_servers: bool,
        precondition: &Precondition,
    ) -> Result<Edited<VirtualService>> {
        self.edit_draft(
            caller,
            cluster,
            precondition,
            "draft.service.replace",
            id.to_string(),
            |spec| {
                let key = parse_service_id(id)?;
                let service = validate_service_at(doc, &key)?;
                let service = match (keep_servers, spec.service(&key)) {
                    (true, Some(existing)) => service.with_servers(existing.servers().to_vec())?,
                    _ => service,
                };
                Ok((spec.with_service(service.clone()), service))
            },
        )
        .await
    }

    /// Edits service `id` with a JSON merge patch of its document.
    pub async fn patch_service(
        &self,
        caller: &Caller,
        cluster: &str,
        id: &str,
        patch: &Value,
        precondition: &Precondition,
    ) -> Result<Edited<VirtualService>> {
        self.edit_draft(
            caller,
            cluster,
            precondition,
            "draft.service.patch",
            id.to_string(),
            |spec| {
                let key = parse_service_id(id)?;
                let existing = spec
                    .service(&key)
                    .ok_or_else(|| no_service(cluster, &key))?;
                let mut doc = serde_json::to_value(existing.to_doc()).expect("docs serialize");
                merge_patch(&mut doc, patch);
                let doc: VirtualServiceDoc =
                    ValidationError::from_json(doc.to_string().as_bytes())?;
                let service = validate_service_at(&doc, &key)?;
                Ok((spec.with_service(service.clone()), service))
            },
        )
        .await
    }

    pub async fn delete_service(
        &self,
        caller: &Caller,
        cluster: &str,
        id: &str,
        precondition: &Precondition,
    ) -> Result<Edited<()>> {
        self.edit_draft(
            caller,
            cluster,
            precondition,
            "draft.service.delete",
            id.to_string(),
            |spec| {
                let key = parse_service_id(id)?;
                let spec = spec
                    .without_service(&key)
                    .ok_or_else(|| no_service(cluster, &key))?;
                Ok((spec, ()))
            },
        )
        .await
    }

    pub async fn get_server(
        &self,
        cluster: &str,
        service: &str,
        server: &str,
    ) -> Result<Edited<RealServer>> {
        let (key, server_key) = (parse_service_id(service)?, parse_server_id(server)?);
        let draft = self.get_draft(cluster).await?;
        let service = draft
            .spec
            .service(&key)
            .ok_or_else(|| no_service(cluster, &key))?;
        let server = service
            .server(&server_key)
            .ok_or_else(|| no_server(&key, &server_key))?
            .clone();
        Ok(Edited {
            value: server,
            etag: draft.etag,
        })
    }

    /// Applies `edit` to the real servers of service `service` of the draft.
    async fn edit_servers<T>(
        &self,
        caller: &Caller,
        cluster: &str,
        precondition: &Precondition,
        what: ServersEdit<'_>,
        edit: impl FnOnce(&VirtualService, &mut Vec<RealServer>) -> Result<T>,
    ) -> Result<Edited<T>> {
        let ServersEdit {
            service,
            action,
            server,
        } = what;
        self.edit_draft(
            caller,
            cluster,
            precondition,
            action,
            format!("{service}/{server}"),
            |spec| {
                let key = parse_service_id(service)?;
                let existing = spec
                    .service(&key)
                    .ok_or_else(|| no_service(cluster, &key))?;
                let mut servers = existing.servers().to_vec();
                let value = edit(existing, &mut servers)?;
                Ok((spec.with_service(existing.with_servers(servers)?), value))
            },
        )
        .await
    }

    pub async fn add_server(
        &self,
        caller: &Caller,
        cluster: &str,
        service: &str,
        doc: &RealServerDoc,
        precondition: &Precondition,
    ) -> Result<Edited<RealServer>> {
        let target = doc
            .id
            .clone()
            .or(doc.address.map(|a| a.to_string()))
            .unwrap_or_default();
        let what = ServersEdit {
            service,
            action: "draft.server.add",
            server: target,
        };
        self.edit_servers(caller, cluster, precondition, what, |svc, servers| {
            let server = doc.validate(&svc.key)?;
            if svc.server(&server.key).is_some() {
                return Err(Error::AlreadyExists(format!(
                    "service {} already has real server {}: update it with PUT or PATCH",
                    svc.key, server.key
                )));
            }
            servers.push(server.clone());
            Ok(server)
        })
        .await
    }

    /// Creates or replaces real server `id` of `service`.
    pub async fn put_server(
        &self,
        caller: &Caller,
        cluster: &str,
        service: &str,
        id: &str,
        doc: &RealServerDoc,
        precondition: &Precondition,
    ) -> Result<Edited<RealServer>> {
        let what = ServersEdit {
            service,
            action: "draft.server.replace",
            server: id.to_string(),
        };
        self.edit_servers(caller, cluster, precondition, what, |svc, servers| {
            let server_key = parse_server_id(id)?;
            let server = validate_server_at(doc, &svc.key, &server_key)?;
            servers.retain(|s| s.key != server_key);
            servers.push(server.clone());
            Ok(server)
        })
        .await
    }

    pub async fn patch_server(
        &self,
        caller: &Caller,
        cluster: &str,
        service: &str,
        id: &str,
        patch: &Value,
        precondition: &Precondition,
    ) -> Result<Edited<RealServer>> {
        let what = ServersEdit {
            service,
            action: "draft.server.patch",
            server: id.to_string(),
        };
        self.edit_servers(caller, cluster, precondition, what, |svc, servers| {
            let server_key = parse_server_id(id)?;
            let existing = svc
                .server(&server_key)
                .ok_or_else(|| no_server(&svc.key, &server_key))?;
            let mut doc =
                serde_json::to_value(RealServerDoc::from(existing)).expect("docs serialize");
            merge_patch(&mut doc, patch);
            let doc: RealServerDoc = ValidationError::from_json(doc.to_string().as_bytes())?;
            let server = validate_server_at(&doc, &svc.key, &server_key)?;
            servers.retain(|s| s.key != server_key);
            servers.push(server.clone());
            Ok(server)
        })
        .await
    }

    pub async fn delete_server(
        &self,
        caller: &Caller,
        cluster: &str,
        service: &str,
        id: &str,
        precondition: &Precondition,
    ) -> Result<Edited<()>> {
        let what = ServersEdit {
            service,
            action: "draft.server.delete",
            server: id.to_string(),
        };
        self.edit_servers(caller, cluster, precondition, what, |svc, servers| {
            let server_key = parse_server_id(id)?;
            let before = servers.len();
            servers.retain(|s| s.key != server_key);
            if servers.len() == before {
                return Err(no_server(&svc.key, &server_key));
            }
            Ok(())
        })
        .await
    }
}

/// Which real server edit, for the audit log: action and `service/server` target.
struct ServersEdit<'a> {
    service: &'a str,
    action: &'a str,
    server: String,
}

/// Validates a service document addressed by `key`, which it may leave out
/// but may not contradict.
fn validate_service_at(doc: &VirtualServiceDoc, key: &ServiceKey) -> Result<VirtualService> {
    let mut doc = doc.clone();
    let names_itself = doc.id.is_some()
        || doc.protocol.is_some()
        || doc.address.is_some()
        || doc.port.is_some()
        || doc.fwmark.is_some();
    if !names_itself {
        doc.id = Some(key.to_string());
    }
    let service = doc.validate()?;
    if service.key != *key {
        return Err(Error::invalid(
            "id",
            format!(
                "the body describes service {}, not {key}: a service's identity cannot change; delete it and add the new one",
                service.key
            ),
        ));
    }
    Ok(service)
}

fn validate_server_at(
    doc: &RealServerDoc,
    service: &ServiceKey,
    key: &ServerKey,
) -> Result<RealServer> {
    let mut doc = doc.clone();
    if doc.id.is_none() && doc.address.is_none() && doc.port.is_none() {
        doc.id = Some(key.to_string());
    }
    if doc.port.is_none() && doc.id.is_none() {
        doc.port = Some(key.port());
    }
    let server = doc.validate(service)?;
    if server.key != *key {
        return Err(Error::invalid(
            "id",
            format!(
                "the body describes real server {}, not {key}: a real server's identity cannot change; delete it and add the new one",
                server.key
            ),
        ));
    }
    Ok(server)
}
