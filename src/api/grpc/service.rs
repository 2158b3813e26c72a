//! The `lvs.v1.LvsService` handlers: each converts its request, calls one
//! core function and converts the answer. No rule lives here.

use std::future::Future;

use serde_json::Value as Json;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use super::SERVICE_NAME;
use super::agents;
use super::apply;
use super::convert;
use super::error::{self, REQUEST_ID_KEY};
use super::pb;
use super::pb::lvs_service_server::LvsService;
use crate::auth::{Access, policy};
use crate::core::{
    self, AccessRequest, AuditQuery, Caller, CommitRequest, Core, Error, Precondition, Result,
};

/// The gRPC transport over the service core.
#[derive(Clone)]
pub struct LvsApi {
    core: Core,
}

impl LvsApi {
    pub fn new(core: Core) -> Self {
        LvsApi { core }
    }
}

/// The client's `x-request-id`, or a fresh one (one rule for both transports).
fn request_id(metadata: &MetadataMap) -> String {
    core::request_id(metadata.get(REQUEST_ID_KEY).and_then(|v| v.to_str().ok()))
}

/// The cluster a request is about, for access control: agents may only
/// touch their own.
pub trait Scoped {
    fn cluster(&self) -> Option<&str>;
}

macro_rules! scoped {
    (none: $($request:ident),+ $(,)?) => {
        $(impl Scoped for pb::$request {
            fn cluster(&self) -> Option<&str> {
                None
            }
        })+
    };
    ($field:ident: $($request:ident),+ $(,)?) => {
        $(impl Scoped for pb::$request {
            fn cluster(&self) -> Option<&str> {
                Some(&self.$field)
            }
        })+
    };
}

scoped!(name: CreateClusterRequest, GetClusterRequest, DeleteClusterRequest);
scoped!(cluster: GetDraftRequest, ReplaceDraftRequest, AddServiceRequest, GetServiceRequest, UpdateServiceRequest,
    PatchServiceRequest, DeleteServiceRequest, ImportDraftRequest, ImportKeepalivedRequest, ExportRevisionRequest, AddServerRequest, GetServerRequest, UpdateServerRequest, PatchServerRequest,
    DeleteServerRequest, CommitRequest, ListRevisionsRequest, GetRevisionRequest, DiffRevisionsRequest, RollbackRequest,
    ActivateRequest, ConfirmRequest, PlanRevisionRequest, ListDirectorsRequest, GetDirectorRequest, GetHealthRequest,
    ApplyDirectorRequest, GetSettingsRequest, UpdateSettingsRequest, GetCountersRequest, WatchDesiredRequest,
    ReportDirectorRequest, GetRolloutRequest, ReleaseRolloutRequest, ZeroCountersRequest, GetHaRequest,
    StartSwitchoverRequest);
// The audit log is not a cluster's: its `cluster` is a filter, not a scope.
scoped!(none: ListClustersRequest, ListAuditRequest);

/// Authenticates a request to `method` (`Commit`) about `cluster` and checks
/// its role against [`policy::GRPC`] (methods missing there need admin), or
/// refuses it, audited, with UNAUTHENTICATED / PERMISSION_DENIED. Streaming
/// handlers call it directly; unary ones through [`handle`].
pub async fn authorize<T>(
    core: &Core,
    method: &str,
    request: &Request<T>,
    cluster: Option<&str>,
) -> Result<Caller, Status> {
    let request_id = request_id(request.metadata());
    let credentials = request
        .metadata()
        .get("authorization")
        .map(|v| v.to_str().unwrap_or("?"));
    let target = format!("/{SERVICE_NAME}/{method}");
    let peer = request.remote_addr().map(|addr| addr.to_string());
    let access = AccessRequest {
        credentials,
        access: policy::grpc(method).unwrap_or(Access::Admin),
        cluster,
        target: &target,
        peer: peer.as_deref(),
        request_id: &request_id,
    };
    match core.authorize(access).await {
        Ok((_, caller)) => Ok(caller),
        Err(err) => Err(error::status(&err, &request_id)),
    }
}

/// One call: who makes it, and which method (`/lvs.v1.LvsService/AddService`).
struct Call {
    caller: Caller,
    method: String,
}

/// Runs one request: access control first, then the work in `call`, the
/// request id echoed back, core errors mapped to statuses; counted for
/// `GET /metrics` by method and code.
async fn handle<Req: Scoped, Resp, Fut>(
    core: &Core,
    method: &str,
    request: Request<Req>,
    call: impl FnOnce(Call, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    Fut: Future<Output = Result<Resp>>,
{
    let started = tokio::time::Instant::now();
    let answer = answer(core, method, request, call).await;
    let code = answer
        .as_ref()
        .map_or_else(Status::code, |_| tonic::Code::Ok);
    core.metrics()
        .grpc_request(method, &code_label(code), started.elapsed());
    answer
}

/// A gRPC code as the metrics name it: `OK`, `InvalidArgument`, ...
fn code_label(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".to_string(),
        code => format!("{code:?}"),
    }
}

async fn answer<Req: Scoped, Resp, Fut>(
    core: &Core,
    method: &str,
    request: Request<Req>,
    call: impl FnOnce(Call, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    Fut: Future<Output = Result<Resp>>,
{
    let caller = authorize(core, method, &request, request.get_ref().cluster()).await?;
    let request_id = caller.request_id.clone();
    let method = format!("/{SERVICE_NAME}/{method}");
    match call(Call { caller, method }, request.into_inner()).await {
        Ok(body) => {
            let mut response = Response::new(body);
            if let Ok(value) = MetadataValue::try_from(request_id.as_str()) {
                response.metadata_mut().insert(REQUEST_ID_KEY, value);
            }
            Ok(response)
        }
        Err(err) => Err(error::status(&err, &request_id)),
    }
}

impl LvsApi {
    /// Input refused before it reaches the core (an unparsable address, an
    /// UNSPECIFIED enum): audited like the core's own refusals.
    async fn admit<T, E: Into<Error>>(
        &self,
        call: &Call,
        cluster: &str,
        parsed: Result<T, E>,
    ) -> Result<T> {
        match parsed {
            Ok(value) => Ok(value),
            Err(err) => {
                let err = err.into();
                let cluster = Some(cluster).filter(|c| !c.is_empty());
                self.core
                    .record_rejected(&call.caller, cluster, &call.method, &err)
                    .await;
                Err(err)
            }
        }
    }
}

fn precondition(if_match: &str) -> Precondition {
    match if_match.trim() {
        "" => Precondition::default(),
        etag => Precondition::if_match(etag),
    }
}

fn required<'a, T>(value: &'a Option<T>, field: &str) -> Result<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| Error::invalid(field, "missing"))
}

/// A merge patch from either of its two forms.
fn merge_patch(struct_form: Option<&prost_types::Struct>, json_form: Option<&str>) -> Result<Json> {
    match (struct_form, json_form) {
        (Some(fields), _) => Ok(convert::struct_to_json(fields)),
        (None, Some(text)) => serde_json::from_str(text)
            .map_err(|err| Error::invalid("merge_patch_json", format!("not JSON: {err}"))),
        (None, None) => Err(Error::invalid(
            "merge_patch",
            "missing: send merge_patch or merge_patch_json",
        )),
    }
}

fn service_patch(patch: &Option<pb::patch_service_request::Patch>) -> Result<Json> {
    use pb::patch_service_request::Patch;
    match patch {
        Some(Patch::MergePatch(fields)) => merge_patch(Some(fields), None),
        Some(Patch::MergePatchJson(text)) => merge_patch(None, Some(text)),
        None => merge_patch(None, None),
    }
}

fn server_patch(patch: &Option<pb::patch_server_request::Patch>) -> Result<Json> {
    use pb::patch_server_request::Patch;
    match patch {
        Some(Patch::MergePatch(fields)) => merge_patch(Some(fields), None),
        Some(Patch::MergePatchJson(text)) => merge_patch(None, Some(text)),
        None => merge_patch(None, None),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The stream of `WatchDesired`.
type DesiredStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Desired, Status>> + Send>>;

impl LvsApi {
    /// `WatchDesired` without its count: access control, then the stream of
    /// the director's desired state, or the call's status when the cluster or
    /// director name is bad.
    async fn open_watch_desired(
        &self,
        request: Request<pb::WatchDesiredRequest>,
    ) -> Result<Response<DesiredStream>, Status> {
        let caller = authorize(
            &self.core,
            "WatchDesired",
            &request,
            Some(&request.get_ref().cluster),
        )
        .await?;
        let pb::WatchDesiredRequest { cluster, director } = request.into_inner();
        let request_id = caller.request_id;
        // A bad director name or an unknown cluster is the call's status, not a message.
        if let Err(err) = self
            .core
            .desired(&cluster, &director, None, std::time::Duration::ZERO)
            .await
        {
            return Err(error::status(&err, &request_id));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let core = self.core.clone();
        tokio::spawn(async move { core.watch_desired(&cluster, &director, tx).await });
        let stream = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            move |desired| {
                desired
                    .map(agents::desired)
                    .map_err(|err| error::status(&err, &request_id))
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl LvsService for LvsApi {
    type WatchDesiredStream = DesiredStream;

    /// Counted for `GET /metrics` when opened (or refused).
    async fn watch_desired(
        &self,
        request: Request<pb::WatchDesiredRequest>,
    ) -> Result<Response<Self::WatchDesiredStream>, Status> {
        let started = tokio::time::Instant::now();
        let opened = self.open_watch_desired(request).await;
        let code = opened
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.core
            .metrics()
            .grpc_request("WatchDesired", &code_label(code), started.elapsed());
        opened
    }

    async fn report_director(
        &self,
        request: Request<pb::ReportDirectorRequest>,
    ) -> Result<Response<pb::Director>, Status> {
        handle(
            &self.core,
            "ReportDirector",
            request,
            |call, req| async move {
                let parsed = required(&req.report, "report")
                    .and_then(|r| agents::director_report_in(r).map_err(Error::from));
                let report = self.admit(&call, &req.cluster, parsed).await?;
                Ok(apply::director(
                    self.core
                        .report_director(&call.caller, &req.cluster, &req.name, report)
                        .await?,
                ))
            },
        )
        .await
    }

    async fn get_rollout(
        &self,
        request: Request<pb::GetRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        handle(&self.core, "GetRollout", request, |_, req| async move {
            Ok(agents::rollout(self.core.rollout(&req.cluster).await?))
        })
        .await
    }

    async fn release_rollout(
        &self,
        request: Request<pb::ReleaseRolloutRequest>,
    ) -> Result<Response<pb::Rollout>, Status> {
        handle(
            &self.core,
            "ReleaseRollout",
            request,
            |call, req| async move {
                Ok(agents::rollout(
                    self.core
                        .release_rollout(&call.caller, &req.cluster)
                        .await?,
                ))
            },
        )
        .await
    }

    async fn zero_counters(
        &self,
        request: Request<pb::ZeroCountersRequest>,
    ) -> Result<Response<pb::ZeroCountersResponse>, Status> {
        handle(
            &self.core,
            "ZeroCounters",
            request,
            |call, req| async move {
                Ok(agents::zeroed(
                    self.core
                        .zero(&call.caller, &req.cluster, req.service)
                        .await?,
                ))
            },
        )
        .await
    }

    async fn get_ha(
        &self,
        request: Request<pb::GetHaRequest>,
    ) -> Result<Response<pb::HaView>, Status> {
        handle(&self.core, "GetHa", request, |_, req| async move {
            Ok(super::ha::ha_view_out(self.core.ha(&req.cluster).await?))
        })
        .await
    }

    async fn switchover(
        &self,
        request: Request<pb::StartSwitchoverRequest>,
    ) -> Result<Response<pb::Switchover>, Status> {
        handle(&self.core, "Switchover", request, |call, req| async move {
            Ok(super::ha::switchover_out(
                self.core
                    .switchover(&call.caller, &req.cluster, req.instance)
                    .await?,
            ))
        })
        .await
    }

    async fn get_counters(
        &self,
        request: Request<pb::GetCountersRequest>,
    ) -> Result<Response<pb::GetCountersResponse>, Status> {
        handle(&self.core, "GetCounters", request, |_, req| async move {
            let counters = self.core.counters(&req.cluster).await?;
            Ok(pb::GetCountersResponse {
                directors: counters
                    .into_iter()
                    .map(agents::director_counters)
                    .collect(),
            })
        })
        .await
    }

    async fn create_cluster(
        &self,
        request: Request<pb::CreateClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        handle(
            &self.core,
            "CreateCluster",
            request,
            |call, req| async move {
                let view = self
                    .core
                    .create_cluster(&call.caller, &req.name, &req.description)
                    .await?;
                Ok(convert::cluster(view))
            },
        )
        .await
    }

    async fn list_clusters(
        &self,
        request: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        handle(&self.core, "ListClusters", request, |_, _| async move {
            let clusters = self.core.list_clusters().await?;
            Ok(pb::ListClustersResponse {
                clusters: clusters.into_iter().map(convert::cluster).collect(),
            })
        })
        .await
    }

    async fn get_cluster(
        &self,
        request: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        handle(&self.core, "GetCluster", request, |_, req| async move {
            Ok(convert::cluster(self.core.get_cluster(&req.name).await?))
        })
        .await
    }

    async fn delete_cluster(
        &self,
        request: Request<pb::DeleteClusterRequest>,
    ) -> Result<Response<pb::DeleteClusterResponse>, Status> {
        handle(
            &self.core,
            "DeleteCluster",
            request,
            |call, req| async move {
                self.core
                    .delete_cluster(&call.caller, &req.name, req.force)
                    .await?;
                Ok(pb::DeleteClusterResponse {})
            },
        )
        .await
    }

    async fn get_draft(
        &self,
        request: Request<pb::GetDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        handle(&self.core, "GetDraft", request, |_, req| async move {
            Ok(convert::draft(self.core.get_draft(&req.cluster).await?))
        })
        .await
    }

    async fn import_draft(
        &self,
        request: Request<pb::ImportDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        handle(&self.core, "ImportDraft", request, |call, req| async move {
            let view = self
                .core
                .import_draft(
                    &call.caller,
                    &req.cluster,
                    &req.text,
                    &precondition(&req.if_match),
                )
                .await?;
            Ok(convert::draft(view))
        })
        .await
    }

    async fn import_keepalived(
        &self,
        request: Request<pb::ImportKeepalivedRequest>,
    ) -> Result<Response<pb::ImportKeepalivedResponse>, Status> {
        handle(
            &self.core,
            "ImportKeepalived",
            request,
            |call, req| async move {
                let import = crate::core::KeepalivedImport {
                    main: req.main,
                    files: req.files.into_iter().map(|f| (f.path, f.text)).collect(),
                    strict: req.strict,
                };
                let imported = self
                    .core
                    .import_keepalived(
                        &call.caller,
                        &req.cluster,
                        &import,
                        &precondition(&req.if_match),
                    )
                    .await?;
                Ok(convert::keepalived_imported(imported))
            },
        )
        .await
    }

    async fn replace_draft(
        &self,
        request: Request<pb::ReplaceDraftRequest>,
    ) -> Result<Response<pb::Draft>, Status> {
        handle(
            &self.core,
            "ReplaceDraft",
            request,
            |call, req| async move {
                let doc = self
                    .admit(
                        &call,
                        &req.cluster,
                        required(&req.spec, "spec").and_then(|s| Ok(convert::spec_doc(s)?)),
                    )
                    .await?;
                let view = self
                    .core
                    .replace_draft(
                        &call.caller,
                        &req.cluster,
                        &doc,
                        &precondition(&req.if_match),
                    )
                    .await?;
                Ok(convert::draft(view))
            },
        )
        .await
    }

    async fn add_service(
        &self,
        request: Request<pb::AddServiceRequest>,
    ) -> Result<Response<pb::AddServiceResponse>, Status> {
        handle(&self.core, "AddService", request, |call, req| async move {
            let parsed =
                required(&req.service, "service").and_then(|s| Ok(convert::service_doc(s)?));
            let doc = self.admit(&call, &req.cluster, parsed).await?;
            let edited = self
                .core
                .add_service(
                    &call.caller,
                    &req.cluster,
                    &doc,
                    &precondition(&req.if_match),
                )
                .await?;
            Ok(pb::AddServiceResponse {
                service: Some(convert::service(&edited.value)),
                etag: edited.etag,
            })
        })
        .await
    }

    async fn get_service(
        &self,
        request: Request<pb::GetServiceRequest>,
    ) -> Result<Response<pb::GetServiceResponse>, Status> {
        handle(&self.core, "GetService", request, |_, req| async move {
            let found = self.core.get_service(&req.cluster, &req.service_id).await?;
            Ok(pb::GetServiceResponse {
                service: Some(convert::service(&found.value)),
                etag: found.etag,
            })
        })
        .await
    }

    async fn update_service(
        &self,
        request: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::UpdateServiceResponse>, Status> {
        handle(&self.core, "UpdateService", request, |call, req| async move {
            let parsed = required(&req.service, "service").and_then(|service| {
                let keep_servers = match req.keep_servers {
                    Some(true) if !service.servers.is_empty() => {
                        return Err(Error::invalid(
                            "keep_servers",
                            "true, but the service lists real servers: leave them out to keep the current ones, or set keep_servers false to replace them",
                        ));
                    }
                    Some(keep) => keep,
                    None => service.servers.is_empty(),
                };
                Ok((convert::service_doc(service)?, keep_servers))
            });
            let (doc, keep_servers) = self.admit(&call, &req.cluster, parsed).await?;
            let edited = self
                .core
                .put_service(&call.caller, &req.cluster, &req.service_id, &doc, keep_servers, &precondition(&req.if_match))
                .await?;
            Ok(pb::UpdateServiceResponse { service: Some(convert::service(&edited.value)), etag: edited.etag })
        })
        .await
    }

    async fn patch_service(
        &self,
        request: Request<pb::PatchServiceRequest>,
    ) -> Result<Response<pb::PatchServiceResponse>, Status> {
        handle(
            &self.core,
            "PatchService",
            request,
            |call, req| async move {
                let patch = self
                    .admit(&call, &req.cluster, service_patch(&req.patch))
                    .await?;
                let edited = self
                    .core
                    .patch_service(
                        &call.caller,
                        &req.cluster,
                        &req.service_id,
                        &patch,
                        &precondition(&req.if_match),
                    )
                    .await?;
                Ok(pb::PatchServiceResponse {
                    service: Some(convert::service(&edited.value)),
                    etag: edited.etag,
                })
            },
        )
        .await
    }

    async fn delete_service(
        &self,
        request: Request<pb::DeleteServiceRequest>,
    ) -> Result<Response<pb::DeleteServiceResponse>, Status> {
        handle(
            &self.core,
            "DeleteService",
            request,
            |call, req| async move {
                let edited = self
                    .core
                    .delete_service(
                        &call.caller,
                        &req.cluster,
                        &req.service_id,
                        &precondition(&req.if_match),
                    )
                    .await?;
                Ok(pb::DeleteServiceResponse { etag: edited.etag })
            },
        )
        .await
    }

    async fn add_server(
        &self,
        request: Request<pb::AddServerRequest>,
    ) -> Result<Response<pb::AddServerResponse>, Status> {
        handle(&self.core, "AddServer", request, |call, req| async move {
            let parsed = required(&req.server, "server").and_then(|s| Ok(convert::server_doc(s)?));
            let doc = self.admit(&call, &req.cluster, parsed).await?;
            let edited = self
                .core
                .add_server(
                    &call.caller,
                    &req.cluster,
                    &req.service_id,
                    &doc,
                    &precondition(&req.if_match),
                )
                .await?;
            Ok(pb::AddServerResponse {
                server: Some(convert::server(&edited.value)),
                etag: edited.etag,
            })
        })
        .await
    }

    async fn get_server(
        &self,
        request: Request<pb::GetServerRequest>,
    ) -> Result<Response<pb::GetServerResponse>, Status> {
        handle(&self.core, "GetServer", request, |_, req| async move {
            let found = self
                .core
                .get_server(&req.cluster, &req.service_id, &req.server_id)
                .await?;
            Ok(pb::GetServerResponse {
                server: Some(convert::server(&found.value)),
                etag: found.etag,
            })
        })
        .await
    }

    async fn update_server(
        &self,
        request: Request<pb::UpdateServerRequest>,
    ) -> Result<Response<pb::UpdateServerResponse>, Status> {
        handle(
            &self.core,
            "UpdateServer",
            request,
            |call, req| async move {
                let parsed =
                    required(&req.server, "server").and_then(|s| Ok(convert::server_doc(s)?));
                let doc = self.admit(&call, &req.cluster, parsed).await?;
                let precondition = precondition(&req.if_match);
                let edited = self
                    .core
                    .put_server(
                        &call.caller,
                        &req.cluster,
                        &req.service_id,
                        &req.server_id,
                        &doc,
                        &precondition,
                    )
                    .await?;
                Ok(pb::UpdateServerResponse {
                    server: Some(convert::server(&edited.value)),
                    etag: edited.etag,
                })
            },
        )
        .await
    }

    async fn patch_server(
        &self,
        request: Request<pb::PatchServerRequest>,
    ) -> Result<Response<pb::PatchServerResponse>, Status> {
        handle(&self.core, "PatchServer", request, |call, req| async move {
            let patch = self
                .admit(&call, &req.cluster, server_patch(&req.patch))
                .await?;
            let precondition = precondition(&req.if_match);
            let edited = self
                .core
                .patch_server(
                    &call.caller,
                    &req.cluster,
                    &req.service_id,
                    &req.server_id,
                    &patch,
                    &precondition,
                )
                .await?;
            Ok(pb::PatchServerResponse {
                server: Some(convert::server(&edited.value)),
                etag: edited.etag,
            })
        })
        .await
    }

    async fn delete_server(
        &self,
        request: Request<pb::DeleteServerRequest>,
    ) -> Result<Response<pb::DeleteServerResponse>, Status> {
        handle(
            &self.core,
            "DeleteServer",
            request,
            |call, req| async move {
                let precondition = precondition(&req.if_match);
                let edited = self
                    .core
                    .delete_server(
                        &call.caller,
                        &req.cluster,
                        &req.service_id,
                        &req.server_id,
                        &precondition,
                    )
                    .await?;
                Ok(pb::DeleteServerResponse { etag: edited.etag })
            },
        )
        .await
    }

    async fn commit(
        &self,
        request: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        handle(&self.core, "Commit", request, |call, req| async move {
            // The core validates the spec and names its fields `spec.…`; what
            // fails before it, in conversion, is named the same way.
            let parsed = req
                .spec
                .as_ref()
                .map(|spec| convert::spec_doc(spec).map_err(|e| e.within("spec")))
                .transpose();
            let spec = self.admit(&call, &req.cluster, parsed).await?;
            let commit = CommitRequest {
                message: req.message,
                author: non_empty(req.author),
                expected_base: req.expected_base,
                activate: req.activate.unwrap_or(true),
                spec,
                precondition: precondition(&req.if_match),
                confirm_within: req.confirm_within,
            };
            Ok(convert::commit_outcome(
                self.core.commit(&call.caller, &req.cluster, commit).await?,
            ))
        })
        .await
    }

    async fn list_revisions(
        &self,
        request: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        handle(&self.core, "ListRevisions", request, |_, req| async move {
            let page = self
                .core
                .list_revisions(&req.cluster, req.before, req.limit)
                .await?;
            Ok(pb::ListRevisionsResponse {
                revisions: page.revisions.into_iter().map(convert::revision).collect(),
                next_before: page.next_before,
            })
        })
        .await
    }

    async fn export_revision(
        &self,
        request: Request<pb::ExportRevisionRequest>,
    ) -> Result<Response<pb::ExportRevisionResponse>, Status> {
        handle(&self.core, "ExportRevision", request, |_, req| async move {
            let text = self.core.export_revision(&req.cluster, req.number).await?;
            Ok(pb::ExportRevisionResponse { text })
        })
        .await
    }

    async fn export_keepalived(
        &self,
        request: Request<pb::ExportRevisionRequest>,
    ) -> Result<Response<pb::ExportRevisionResponse>, Status> {
        handle(
            &self.core,
            "ExportKeepalived",
            request,
            |_, req| async move {
                let text = self
                    .core
                    .export_revision_keepalived(&req.cluster, req.number)
                    .await?;
                Ok(pb::ExportRevisionResponse { text })
            },
        )
        .await
    }

    async fn get_revision(
        &self,
        request: Request<pb::GetRevisionRequest>,
    ) -> Result<Response<pb::Revision>, Status> {
        handle(&self.core, "GetRevision", request, |_, req| async move {
            Ok(convert::revision(
                self.core.get_revision(&req.cluster, req.number).await?,
            ))
        })
        .await
    }

    async fn diff_revisions(
        &self,
        request: Request<pb::DiffRevisionsRequest>,
    ) -> Result<Response<pb::DiffRevisionsResponse>, Status> {
        handle(&self.core, "DiffRevisions", request, |_, req| async move {
            let (from, diff) = self
                .core
                .diff_revisions(&req.cluster, req.number, req.against)
                .await?;
            Ok(pb::DiffRevisionsResponse {
                from,
                to: req.number,
                diff: Some(convert::spec_diff(&diff)),
            })
        })
        .await
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        handle(&self.core, "Rollback", request, |call, req| async move {
            let message = non_empty(req.message);
            let outcome = self
                .core
                .rollback(
                    &call.caller,
                    &req.cluster,
                    req.to,
                    req.expected_base,
                    message,
                    req.confirm_within.as_deref(),
                )
                .await?;
            Ok(convert::commit_outcome(outcome))
        })
        .await
    }

    async fn activate(
        &self,
        request: Request<pb::ActivateRequest>,
    ) -> Result<Response<pb::Revision>, Status> {
        handle(&self.core, "Activate", request, |call, req| async move {
            Ok(convert::revision(
                self.core
                    .activate(&call.caller, &req.cluster, req.number)
                    .await?,
            ))
        })
        .await
    }

    async fn confirm(
        &self,
        request: Request<pb::ConfirmRequest>,
    ) -> Result<Response<pb::ConfirmResponse>, Status> {
        handle(&self.core, "Confirm", request, |call, req| async move {
            Ok(apply::confirmed(
                self.core.confirm(&call.caller, &req.cluster).await?,
            ))
        })
        .await
    }

    async fn plan_revision(
        &self,
        request: Request<pb::PlanRevisionRequest>,
    ) -> Result<Response<pb::PlanPreview>, Status> {
        handle(&self.core, "PlanRevision", request, |_, req| async move {
            Ok(apply::plan_preview(
                self.core.plan_preview(&req.cluster, req.number).await?,
            ))
        })
        .await
    }

    async fn list_directors(
        &self,
        request: Request<pb::ListDirectorsRequest>,
    ) -> Result<Response<pb::ListDirectorsResponse>, Status> {
        handle(&self.core, "ListDirectors", request, |_, req| async move {
            let directors = self.core.directors(&req.cluster).await?;
            Ok(pb::ListDirectorsResponse {
                directors: directors.into_iter().map(apply::director).collect(),
            })
        })
        .await
    }

    async fn get_health(
        &self,
        request: Request<pb::GetHealthRequest>,
    ) -> Result<Response<pb::GetHealthResponse>, Status> {
        handle(&self.core, "GetHealth", request, |_, req| async move {
            let directors = self.core.health(&req.cluster).await?;
            Ok(pb::GetHealthResponse {
                directors: directors
                    .iter()
                    .map(super::convert::director_health)
                    .collect(),
            })
        })
        .await
    }

    async fn get_director(
        &self,
        request: Request<pb::GetDirectorRequest>,
    ) -> Result<Response<pb::Director>, Status> {
        handle(&self.core, "GetDirector", request, |_, req| async move {
            Ok(apply::director(
                self.core.director(&req.cluster, &req.name).await?,
            ))
        })
        .await
    }

    async fn apply_director(
        &self,
        request: Request<pb::ApplyDirectorRequest>,
    ) -> Result<Response<pb::ApplyReport>, Status> {
        handle(
            &self.core,
            "ApplyDirector",
            request,
            |call, req| async move {
                let report = self
                    .core
                    .apply_director(&call.caller, &req.cluster, &req.name, req.force)
                    .await?;
                Ok(apply::report(report))
            },
        )
        .await
    }

    async fn get_settings(
        &self,
        request: Request<pb::GetSettingsRequest>,
    ) -> Result<Response<pb::ClusterSettings>, Status> {
        handle(&self.core, "GetSettings", request, |_, req| async move {
            Ok(apply::settings(self.core.settings(&req.cluster).await?))
        })
        .await
    }

    async fn update_settings(
        &self,
        request: Request<pb::UpdateSettingsRequest>,
    ) -> Result<Response<pb::ClusterSettings>, Status> {
        handle(
            &self.core,
            "UpdateSettings",
            request,
            |call, req| async move {
                let parsed = required(&req.settings, "settings")
                    .and_then(|s| apply::settings_in(s).map_err(Error::from));
                let settings = self.admit(&call, &req.cluster, parsed).await?;
                Ok(apply::settings(
                    self.core
                        .put_settings(
                            &call.caller,
                            &req.cluster,
                            settings,
                            &precondition(&req.if_match),
                        )
                        .await?,
                ))
            },
        )
        .await
    }

    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        handle(&self.core, "ListAudit", request, |_, req| async move {
            let query = AuditQuery {
                cluster: non_empty(req.cluster),
                actor: non_empty(req.actor),
                action: non_empty(req.action),
                since: non_empty(req.since),
                until: non_empty(req.until),
                before: req.before,
                limit: req.limit,
            };
            let entries = self.core.audit(query).await?;
            Ok(pb::ListAuditResponse {
                entries: entries.into_iter().map(convert::audit_entry).collect(),
            })
        })
        .await
    }
}
