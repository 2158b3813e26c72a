//! The gRPC API end to end: a real `lvsd serve` on ephemeral ports over a
//! temporary SQLite file or a PostgreSQL database (both_backends!), driven
//! with the generated client.

use lvsd::api::grpc::error::{error_code_of, field_of, field_violations};
use lvsd::api::grpc::pb;
use tonic::Code;

use harness::*;

mod common;

use common::both_backends;

mod harness {
    use lvsd::api::grpc::pb;
    use lvsd::api::grpc::pb::lvs_service_client::LvsServiceClient;
    use tonic::transport::Channel;

    pub type Client = LvsServiceClient<Channel>;

    /// A real `lvsd serve` process with its own database, killed when dropped.
    pub struct GrpcServer {
        pub server: crate::common::TestServer,
    }

    impl GrpcServer {
        pub async fn start() -> Self {
            GrpcServer {
                server: crate::common::TestServer::start(),
            }
        }

        /// A server on `db` (kept by the caller, who may restart on it).
        pub async fn start_on(db: &crate::common::TestDb) -> Self {
            GrpcServer {
                server: crate::common::TestServer::start_on(db),
            }
        }

        pub fn url(&self) -> String {
            self.server.grpc.clone()
        }

        pub async fn channel(&self) -> Channel {
            Channel::from_shared(self.url())
                .expect("a valid url")
                .connect()
                .await
                .expect("the server accepts connections")
        }

        pub async fn client(&self) -> Client {
            LvsServiceClient::new(self.channel().await)
        }

        /// Stops the server with SIGTERM; fails unless it shuts down cleanly.
        pub async fn stop(mut self) -> anyhow::Result<()> {
            let status = self.server.terminate();
            anyhow::ensure!(status.success(), "lvsd exited with {status}");
            Ok(())
        }
    }

    pub const VIP: &str = "tcp:192.168.31.100:80";

    /// `ipvsadm -A -t 192.168.31.100:80 -s wrr`
    pub fn nat_service() -> pb::VirtualService {
        pb::VirtualService {
            protocol: Some(pb::Protocol::Tcp.into()),
            address: "192.168.31.100".into(),
            port: Some(80),
            scheduler: Some(pb::Scheduler::Wrr.into()),
            ..Default::default()
        }
    }

    /// `ipvsadm -a -t 192.168.31.100:80 -r ADDRESS:80 -m -w WEIGHT`
    pub fn nat_server(address: &str, weight: u32) -> pb::RealServer {
        pb::RealServer {
            address: address.into(),
            port: Some(80),
            forwarding: Some(pb::Forwarding::Nat.into()),
            weight: Some(weight),
            ..Default::default()
        }
    }

    pub async fn create_cluster(client: &mut Client, name: &str) -> pb::Cluster {
        let request = pb::CreateClusterRequest {
            name: name.into(),
            description: format!("the {name} cluster"),
        };
        client
            .create_cluster(request)
            .await
            .expect("the cluster is created")
            .into_inner()
    }

    pub async fn draft(client: &mut Client, cluster: &str) -> pb::Draft {
        client
            .get_draft(pb::GetDraftRequest {
                cluster: cluster.into(),
            })
            .await
            .expect("the draft")
            .into_inner()
    }

    /// The classic LVS-NAT example in the draft of a new cluster: one wrr
    /// service, real servers 172.25.0.31-33 with weights 1, 2, 3.
    pub async fn nat_example(client: &mut Client, cluster: &str) -> pb::Draft {
        let created = create_cluster(client, cluster).await;
        let added = client
            .add_service(pb::AddServiceRequest {
                cluster: cluster.into(),
                service: Some(nat_service()),
                if_match: created.draft_etag,
            })
            .await
            .expect("the service is added")
            .into_inner();
        let mut etag = added.etag;
        for (i, weight) in [(1, 1), (2, 2), (3, 3)] {
            let request = pb::AddServerRequest {
                cluster: cluster.into(),
                service_id: VIP.into(),
                server: Some(nat_server(&format!("172.25.0.3{i}"), weight)),
                if_match: etag,
            };
            etag = client
                .add_server(request)
                .await
                .expect("the real server is added")
                .into_inner()
                .etag;
        }
        draft(client, cluster).await
    }

    pub async fn commit(
        client: &mut Client,
        cluster: &str,
        message: &str,
        expected_base: i64,
    ) -> pb::CommitResponse {
        let request = pb::CommitRequest {
            cluster: cluster.into(),
            message: message.into(),
            expected_base: Some(expected_base),
            ..Default::default()
        };
        client
            .commit(request)
            .await
            .expect("the commit succeeds")
            .into_inner()
    }

    /// A merge patch as a google.protobuf.Struct, from JSON.
    pub fn patch(json: serde_json::Value) -> prost_types::Struct {
        match lvsd::api::grpc::convert::json_to_value(&json).kind {
            Some(prost_types::value::Kind::StructValue(fields)) => fields,
            other => panic!("a merge patch is an object, not {other:?}"),
        }
    }

    /// Asserts INVALID_ARGUMENT naming `field` in the message, the metadata
    /// and the BadRequest detail.
    pub fn assert_invalid(status: &tonic::Status, field: &str) {
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "message names {field}: {}",
            status.message()
        );
        assert_eq!(
            lvsd::api::grpc::error::field_of(status),
            Some(field),
            "lvs-field of {status:?}"
        );
        let violations = lvsd::api::grpc::error::field_violations(status);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].0, field);
    }
}

fn weights(spec: &pb::Spec) -> Vec<(String, Option<u32>)> {
    spec.services[0]
        .servers
        .iter()
        .map(|s| (s.id.clone(), s.weight))
        .collect()
}

both_backends! {
async fn the_nat_example_from_draft_to_rollback(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;

    let first_draft = nat_example(&mut client, "web").await;
    assert!(first_draft.dirty);
    assert_eq!(first_draft.base_revision, None);
    let spec = first_draft.spec.as_ref().unwrap();
    assert_eq!(spec.services[0].id, VIP);
    assert_eq!(spec.services[0].scheduler, Some(pb::Scheduler::Wrr.into()));
    assert_eq!(
        weights(spec),
        [
            ("172.25.0.31:80".to_string(), Some(1)),
            ("172.25.0.32:80".to_string(), Some(2)),
            ("172.25.0.33:80".to_string(), Some(3))
        ]
    );
    assert!(
        spec.services[0]
            .servers
            .iter()
            .all(|s| s.forwarding == Some(pb::Forwarding::Nat.into()))
    );

    // First commit: revision 1, active.
    let first = commit(&mut client, "web", "LVS-NAT for the web farm", 0).await;
    assert!(first.created);
    let rev1 = first.revision.unwrap();
    assert_eq!((rev1.number, rev1.parent, rev1.active), (1, None, true));
    assert_eq!((rev1.services, rev1.servers), (1, 3));
    assert_eq!(rev1.kind, i32::from(pb::RevisionKind::Commit));

    let got = client
        .get_revision(pb::GetRevisionRequest {
            cluster: "web".into(),
            number: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.spec.as_ref(), Some(spec));
    assert_eq!(got.author, "anonymous");
    assert_eq!(got.content_hash, rev1.content_hash);

    // A retried commit (same spec, same expected base) returns the same revision.
    let retried = commit(&mut client, "web", "LVS-NAT for the web farm", 0).await;
    assert!(!retried.created);
    assert_eq!(retried.revision.unwrap().number, 1);

    // Change one weight with a merge patch, commit revision 2.
    let etag = draft(&mut client, "web").await.etag;
    let patched = client
        .patch_server(pb::PatchServerRequest {
            cluster: "web".into(),
            service_id: VIP.into(),
            server_id: "172.25.0.32:80".into(),
            patch: Some(pb::patch_server_request::Patch::MergePatch(patch(
                serde_json::json!({"weight": 5}),
            ))),
            if_match: etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(patched.server.unwrap().weight, Some(5));
    assert_ne!(patched.etag, etag);
    let second = commit(&mut client, "web", "more traffic to .32", 1).await;
    let rev2 = second.revision.unwrap();
    assert_eq!((rev2.number, rev2.parent), (2, Some(1)));

    // The diff is one field of one real server.
    let diff = client
        .diff_revisions(pb::DiffRevisionsRequest {
            cluster: "web".into(),
            number: 2,
            against: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((diff.from, diff.to), (1, 2));
    let diff = diff.diff.unwrap();
    assert!(diff.services_added.is_empty() && diff.services_removed.is_empty());
    let changed = &diff.services_changed[0];
    assert_eq!(changed.id, VIP);
    assert!(
        changed.changes.is_empty()
            && changed.servers_added.is_empty()
            && changed.servers_removed.is_empty()
    );
    let server_change = &changed.servers_changed[0];
    assert_eq!(server_change.id, "172.25.0.32:80");
    assert_eq!(server_change.changes.len(), 1);
    let weight = &server_change.changes[0];
    assert_eq!(weight.field, "weight");
    let number = |v: &Option<prost_types::Value>| match v.as_ref().and_then(|v| v.kind.clone()) {
        Some(prost_types::value::Kind::NumberValue(n)) => n,
        other => panic!("a number, not {other:?}"),
    };
    assert_eq!((number(&weight.from), number(&weight.to)), (2.0, 5.0));

    // Roll back to revision 1: revision 3 with revision 1's spec, active.
    let rolled = client
        .rollback(pb::RollbackRequest {
            cluster: "web".into(),
            to: 1,
            expected_base: Some(2),
            message: None,
            confirm_within: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(rolled.created);
    let rev3 = rolled.revision.unwrap();
    assert_eq!(
        (rev3.number, rev3.parent, rev3.rollback_of, rev3.active),
        (3, Some(2), Some(1), true)
    );
    assert_eq!(rev3.kind, i32::from(pb::RevisionKind::Rollback));
    assert_eq!(rev3.message, "rollback to revision 1");
    assert_eq!(rev3.spec.as_ref(), Some(spec));
    assert_eq!(rev3.content_hash, rev1.content_hash);
    let last_draft = draft(&mut client, "web").await;
    assert_eq!(
        weights(last_draft.spec.as_ref().unwrap())[1].1,
        Some(2),
        "the draft follows the rollback"
    );
    assert!(!last_draft.dirty);

    // The history, newest first, in pages.
    let all = client
        .list_revisions(pb::ListRevisionsRequest {
            cluster: "web".into(),
            before: None,
            limit: None,
        })
        .await
        .unwrap()
        .into_inner();
    let numbers: Vec<_> = all.revisions.iter().map(|r| (r.number, r.active)).collect();
    assert_eq!(numbers, [(3, true), (2, false), (1, false)]);
    assert!(
        all.revisions.iter().all(|r| r.spec.is_none()),
        "listings leave the spec out"
    );
    assert_eq!(all.next_before, None);
    let page = client
        .list_revisions(pb::ListRevisionsRequest {
            cluster: "web".into(),
            before: None,
            limit: Some(2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.revisions.len(), 2);
    assert_eq!(page.next_before, Some(2));
    let rest = client
        .list_revisions(pb::ListRevisionsRequest {
            cluster: "web".into(),
            before: page.next_before,
            limit: Some(2),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rest.revisions.iter().map(|r| r.number).collect::<Vec<_>>(),
        [1]
    );

    let cluster = client
        .get_cluster(pb::GetClusterRequest { name: "web".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            cluster.active_revision,
            cluster.latest_revision,
            cluster.draft_dirty
        ),
        (Some(3), Some(3), false)
    );

    server.stop().await.expect("the server stops cleanly");
}
}

both_backends! {
async fn services_and_servers_are_edited_one_at_a_time(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;
    nat_example(&mut client, "edit").await;

    // Update the service without servers: they stay.
    let mut rr = nat_service();
    rr.scheduler = Some(pb::Scheduler::Rr.into());
    rr.persistence = Some(pb::Persistence {
        timeout: Some(600),
        netmask: Some(pb::persistence::Netmask::Mask("255.255.255.0".into())),
    });
    let updated = client
        .update_service(pb::UpdateServiceRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            service: Some(rr),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let service = updated.service.unwrap();
    assert_eq!(service.scheduler, Some(pb::Scheduler::Rr.into()));
    assert_eq!(service.servers.len(), 3);
    let persistence = service.persistence.unwrap();
    assert_eq!(persistence.timeout, Some(600));
    assert_eq!(
        persistence.netmask,
        Some(pb::persistence::Netmask::PrefixLength(24))
    );

    // A merge patch as JSON text removes the persistence.
    let patched = client
        .patch_service(pb::PatchServiceRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            patch: Some(pb::patch_service_request::Patch::MergePatchJson(
                r#"{"persistence": null}"#.into(),
            )),
            if_match: updated.etag,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(patched.service.as_ref().unwrap().persistence, None);

    // Replace a real server whole, by its id alone.
    let replaced = client
        .update_server(pb::UpdateServerRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            server_id: "172.25.0.31:80".into(),
            server: Some(pb::RealServer {
                forwarding: Some(pb::Forwarding::Nat.into()),
                weight: Some(0),
                upper_threshold: 100,
                ..Default::default()
            }),
            if_match: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let rs = replaced.server.unwrap();
    assert_eq!(
        (rs.id.as_str(), rs.weight, rs.upper_threshold),
        ("172.25.0.31:80", Some(0), 100)
    );

    let got = client
        .get_server(pb::GetServerRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            server_id: "172.25.0.31:80".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.server.unwrap().weight, Some(0));
    assert_eq!(got.etag, replaced.etag);

    // Delete one server, then the service; both answer the new ETag.
    let deleted = client
        .delete_server(pb::DeleteServerRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            server_id: "172.25.0.33:80".into(),
            if_match: got.etag,
        })
        .await
        .unwrap()
        .into_inner();
    let service = client
        .get_service(pb::GetServiceRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(service.etag, deleted.etag);
    assert_eq!(service.service.unwrap().servers.len(), 2);
    client
        .delete_service(pb::DeleteServiceRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
            if_match: deleted.etag,
        })
        .await
        .unwrap();
    let missing = client
        .get_service(pb::GetServiceRequest {
            cluster: "edit".into(),
            service_id: VIP.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(error_code_of(&missing), Some("not_found"));

    // Replace the whole draft, then commit a whole spec directly.
    let mut spec = pb::Spec {
        services: vec![nat_service()],
        ..Default::default()
    };
    spec.services[0].servers.push(nat_server("172.25.0.40", 4));
    spec.timeouts = Some(pb::Timeouts {
        tcp: Some(900),
        tcpfin: Some(120),
        udp: Some(300),
    });
    let replaced = client
        .replace_draft(pb::ReplaceDraftRequest {
            cluster: "edit".into(),
            spec: Some(spec.clone()),
            if_match: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replaced.spec.as_ref().unwrap().timeouts.unwrap().tcpfin,
        Some(120)
    );
    spec.services[0].servers[0].weight = Some(9);
    let committed = client
        .commit(pb::CommitRequest {
            cluster: "edit".into(),
            message: "whole spec".into(),
            author: Some("ops-bot".into()),
            activate: Some(false),
            spec: Some(spec),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rev = committed.revision.unwrap();
    assert_eq!(
        (rev.number, rev.active, rev.author.as_str()),
        (1, false, "ops-bot")
    );
    assert_eq!(weights(rev.spec.as_ref().unwrap())[0].1, Some(9));
    let activated = client
        .activate(pb::ActivateRequest {
            cluster: "edit".into(),
            number: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(activated.active);

    server.stop().await.unwrap();
}
}

both_backends! {
async fn two_writers_with_one_etag_one_wins_and_nothing_is_lost(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let (mut alice, mut bob) = (server.client().await, server.client().await);
    let etag = nat_example(&mut alice, "race").await.etag;

    let add = |address: &str, if_match: &str| pb::AddServerRequest {
        cluster: "race".into(),
        service_id: VIP.into(),
        server: Some(nat_server(address, 4)),
        if_match: if_match.into(),
    };
    alice
        .add_server(add("172.25.0.34", &etag))
        .await
        .expect("the first writer wins");
    let lost = bob
        .add_server(add("172.25.0.35", &etag))
        .await
        .expect_err("the second writer is refused");
    assert_eq!(lost.code(), Code::FailedPrecondition);
    assert_eq!(error_code_of(&lost), Some("precondition_failed"));
    assert_eq!(field_of(&lost), None);

    let after = draft(&mut bob, "race").await;
    let ids: Vec<_> = weights(after.spec.as_ref().unwrap())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        ids.contains(&"172.25.0.34:80".to_string()),
        "the winner's change is kept"
    );
    assert!(
        !ids.contains(&"172.25.0.35:80".to_string()),
        "the refused change is not written"
    );

    // The loser reads again and reapplies: both changes are there.
    bob.add_server(add("172.25.0.35", &after.etag))
        .await
        .expect("the retry with a fresh ETag succeeds");
    let ids: Vec<_> = weights(draft(&mut bob, "race").await.spec.as_ref().unwrap())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 5);

    // Commits race on the expected base revision the same way.
    commit(&mut alice, "race", "alice's farm", 0).await;
    let spec = pb::Spec {
        services: vec![nat_service()],
        ..Default::default()
    };
    let late = bob
        .commit(pb::CommitRequest {
            cluster: "race".into(),
            message: "bob's farm".into(),
            expected_base: Some(0),
            spec: Some(spec),
            ..Default::default()
        })
        .await
        .expect_err("a commit on a stale base is refused");
    assert_eq!(late.code(), Code::FailedPrecondition);
    let last_draft = draft(&mut bob, "race").await;
    assert_eq!(
        last_draft.spec.unwrap().services[0].servers.len(),
        5,
        "the refused commit changed nothing"
    );
}
}

both_backends! {
async fn bad_input_is_refused_naming_the_field_and_nothing_is_written(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;
    let before = nat_example(&mut client, "bad").await;
    let etag = before.etag.clone();

    let add_service = |service: pb::VirtualService| pb::AddServiceRequest {
        cluster: "bad".into(),
        service: Some(service),
        if_match: etag.clone(),
    };
    let other = || pb::VirtualService {
        address: "192.168.31.101".into(),
        ..nat_service()
    };

    let unspecified = pb::VirtualService {
        scheduler: Some(pb::Scheduler::Unspecified.into()),
        ..other()
    };
    let status = client
        .add_service(add_service(unspecified))
        .await
        .unwrap_err();
    assert_invalid(&status, "scheduler");
    assert!(
        status.message().contains("SCHEDULER_UNSPECIFIED"),
        "{}",
        status.message()
    );

    let unknown = pb::VirtualService {
        scheduler: Some(99),
        ..other()
    };
    assert_invalid(
        &client.add_service(add_service(unknown)).await.unwrap_err(),
        "scheduler",
    );

    let bad_address = pb::VirtualService {
        address: "192.168.31.300".into(),
        ..other()
    };
    assert_invalid(
        &client
            .add_service(add_service(bad_address))
            .await
            .unwrap_err(),
        "address",
    );

    let fwmark_with_port = pb::VirtualService {
        fwmark: Some(12),
        protocol: None,
        address: String::new(),
        port: Some(80),
        ..nat_service()
    };
    assert_invalid(
        &client
            .add_service(add_service(fwmark_with_port))
            .await
            .unwrap_err(),
        "port",
    );

    let mut duplicate = other();
    duplicate.servers = vec![nat_server("172.25.0.31", 1), nat_server("172.25.0.31", 2)];
    assert_invalid(
        &client
            .add_service(add_service(duplicate))
            .await
            .unwrap_err(),
        "servers",
    );

    let mut nested = other();
    nested.servers = vec![
        nat_server("172.25.0.31", 1),
        nat_server("172.25.0.32", 70_000),
    ];
    assert_invalid(
        &client.add_service(add_service(nested)).await.unwrap_err(),
        "servers[1].weight",
    );

    let add_server = |server: pb::RealServer| pb::AddServerRequest {
        cluster: "bad".into(),
        service_id: VIP.into(),
        server: Some(server),
        if_match: etag.clone(),
    };
    assert_invalid(
        &client
            .add_server(add_server(nat_server("172.25.0.34", 70_000)))
            .await
            .unwrap_err(),
        "weight",
    );
    assert_invalid(
        &client
            .add_server(add_server(nat_server("172.25.0.300", 1)))
            .await
            .unwrap_err(),
        "address",
    );
    let dr_mapped = pb::RealServer {
        forwarding: Some(pb::Forwarding::Dr.into()),
        port: Some(8080),
        ..nat_server("172.25.0.34", 1)
    };
    assert_invalid(
        &client.add_server(add_server(dr_mapped)).await.unwrap_err(),
        "port",
    );
    // The same real server again is a conflict with the draft, not bad input.
    let again = client
        .add_server(add_server(nat_server("172.25.0.31", 1)))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let weight_patch = client
        .patch_server(pb::PatchServerRequest {
            cluster: "bad".into(),
            service_id: VIP.into(),
            server_id: "172.25.0.31:80".into(),
            patch: Some(pb::patch_server_request::Patch::MergePatch(patch(
                serde_json::json!({"weight": 70000}),
            ))),
            if_match: etag.clone(),
        })
        .await
        .unwrap_err();
    assert_invalid(&weight_patch, "weight");
    let scheduler_patch = client
        .patch_service(pb::PatchServiceRequest {
            cluster: "bad".into(),
            service_id: VIP.into(),
            patch: Some(pb::patch_service_request::Patch::MergePatchJson(
                r#"{"scheduler": "fastest"}"#.into(),
            )),
            if_match: etag.clone(),
        })
        .await
        .unwrap_err();
    assert_invalid(&scheduler_patch, "scheduler");

    let mut spec = before.spec.clone().unwrap();
    spec.services[0].servers[2].weight = Some(70_000);
    let replace = client
        .replace_draft(pb::ReplaceDraftRequest {
            cluster: "bad".into(),
            spec: Some(spec.clone()),
            if_match: etag.clone(),
        })
        .await
        .unwrap_err();
    assert_invalid(&replace, "services[0].servers[2].weight");
    let commit = client
        .commit(pb::CommitRequest {
            cluster: "bad".into(),
            message: "bad spec".into(),
            spec: Some(spec),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&commit, "spec.services[0].servers[2].weight");
    let no_message = client
        .commit(pb::CommitRequest {
            cluster: "bad".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&no_message, "message");
    let bad_name = client
        .create_cluster(pb::CreateClusterRequest {
            name: "Web Farm".into(),
            description: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&bad_name, "name");
    let violations = field_violations(&bad_name);
    assert!(violations[0].1.contains("Web Farm"), "{violations:?}");

    let after = draft(&mut client, "bad").await;
    assert_eq!(
        after.etag, before.etag,
        "no refused request moved the draft"
    );
    assert_eq!(after.spec, before.spec);
    let revisions = client
        .list_revisions(pb::ListRevisionsRequest {
            cluster: "bad".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        revisions.revisions.is_empty(),
        "no refused commit made a revision"
    );

    // Every refusal is audited, those caught in conversion included.
    let audit = client
        .list_audit(pb::ListAuditRequest {
            cluster: Some("bad".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let refused: Vec<_> = audit
        .entries
        .iter()
        .filter(|e| e.outcome == "refused")
        .collect();
    assert!(refused.len() >= 14, "{refused:#?}");
    assert!(
        refused
            .iter()
            .any(|e| e.action == "request.rejected" && e.target == "/lvs.v1.LvsService/AddService"),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|e| e.action == "draft.server.add"),
        "{refused:#?}"
    );
}
}

both_backends! {
async fn deleting_a_live_cluster_is_a_conflict_and_refusals_are_audited(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;
    nat_example(&mut client, "live").await;
    commit(&mut client, "live", "go live", 0).await;

    let mut request = tonic::Request::new(pb::DeleteClusterRequest {
        name: "live".into(),
        force: false,
    });
    request
        .metadata_mut()
        .insert("x-request-id", "delete-1".parse().unwrap());
    let refused = client.delete_cluster(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(error_code_of(&refused), Some("conflict"));
    assert_eq!(refused.metadata().get("x-request-id").unwrap(), "delete-1");

    let audit = client
        .list_audit(pb::ListAuditRequest {
            cluster: Some("live".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let last = &audit.entries[0];
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("cluster.delete", "refused")
    );
    assert_eq!(
        (last.actor.as_str(), last.request_id.as_str()),
        ("anonymous", "delete-1")
    );
    assert!(
        audit
            .entries
            .iter()
            .any(|e| e.action == "revision.commit" && e.outcome == "ok")
    );
    let commits = client
        .list_audit(pb::ListAuditRequest {
            action: Some("draft.server.add".into()),
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(commits.entries.len(), 2);

    let response = client
        .delete_cluster(pb::DeleteClusterRequest {
            name: "live".into(),
            force: true,
        })
        .await
        .unwrap();
    assert!(
        response.metadata().get("x-request-id").is_some(),
        "every response carries its request id"
    );
    let gone = client
        .get_cluster(pb::GetClusterRequest {
            name: "live".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let clusters = client
        .list_clusters(pb::ListClustersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(clusters.clusters.is_empty());
}
}

#[tokio::test]
async fn health_is_serving_and_reflection_lists_the_service() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = GrpcServer::start().await;
    let channel = server.channel().await;

    let mut health = HealthClient::new(channel.clone());
    for service in ["", lvsd::api::grpc::SERVICE_NAME] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            status.status,
            ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("lvs.v1.VirtualService".into()),
    ]
    .map(|request| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    });
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let listed = answers
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap();
    let MessageResponse::ListServicesResponse(listed) = listed else {
        panic!("a service list, not {listed:?}")
    };
    let names: Vec<_> = listed.service.iter().map(|s| s.name.as_str()).collect();
    for name in [
        lvsd::api::grpc::SERVICE_NAME,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let file = answers
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap();
    let MessageResponse::FileDescriptorResponse(file) = file else {
        panic!("a file descriptor, not {file:?}")
    };
    let descriptor = <prost_types::FileDescriptorProto as prost::Message>::decode(
        file.file_descriptor_proto[0].as_slice(),
    )
    .unwrap();
    assert_eq!(descriptor.package(), "lvs.v1");

    // Older clients (grpcurl before v1 support) use v1alpha.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::ListServices(String::new())),
    };
    let mut alpha = AlphaClient::new(channel);
    let mut answers = alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(AlphaResponse::ListServicesResponse(listed)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("a service list")
    };
    assert!(
        listed
            .service
            .iter()
            .any(|s| s.name == lvsd::api::grpc::SERVICE_NAME)
    );

    server.stop().await.unwrap();
}

both_backends! {
async fn ipvsadm_text_imports_and_exports(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;
    client
        .create_cluster(pb::CreateClusterRequest { name: "text".into(), ..Default::default() })
        .await
        .unwrap();
    let script = "-A -t 192.168.31.100:80 -s wrr\n\
                  -a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1\n\
                  -a -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2\n";
    let import = |text: &str| pb::ImportDraftRequest { cluster: "text".into(), text: text.into(), ..Default::default() };
    let draft = client.import_draft(import(script)).await.unwrap().into_inner();
    let spec = draft.spec.unwrap();
    assert_eq!(weights(&spec), [("172.25.0.31:80".to_string(), Some(1)), ("172.25.0.32:80".to_string(), Some(2))]);

    let bad = client.import_draft(import("-A -t 10.0.0.1:80\n-a -t 10.0.0.9:80 -r 10.1.0.1\n")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(field_of(&bad), Some("line 2"));
    let unchanged = client.get_draft(pb::GetDraftRequest { cluster: "text".into() }).await.unwrap().into_inner();
    assert_eq!(unchanged.etag, draft.etag);

    let commit = pb::CommitRequest { cluster: "text".into(), message: "import".into(), ..Default::default() };
    client.commit(commit).await.unwrap();
    let export = pb::ExportRevisionRequest { cluster: "text".into(), number: 1 };
    let text = client.export_revision(export).await.unwrap().into_inner().text;
    assert_eq!(
        text,
        "-A -t 192.168.31.100:80 -s wrr\n-a -t 192.168.31.100:80 -r 172.25.0.31:80 -m -w 1\n-a -t 192.168.31.100:80 -r 172.25.0.32:80 -m -w 2\n"
    );
}
}

both_backends! {
async fn directors_plans_settings_and_confirmations(db: TestDb) {
    let args = ["--apply-local", "--table", "memory", "--director", "d1", "--reconcile-interval", "300ms"];
    let server = common::TestServer::start_with(&db, &args);
    let channel = tonic::transport::Channel::from_shared(server.grpc.clone()).unwrap().connect().await.unwrap();
    let mut client = pb::lvs_service_client::LvsServiceClient::new(channel);
    let draft = nat_example(&mut client, "web").await;
    commit(&mut client, "web", "nat", 0).await;

    let director = |client: &mut Client| {
        let mut client = client.clone();
        async move {
            let request = pb::GetDirectorRequest { cluster: "web".into(), name: "d1".into() };
            client.get_director(request).await.map(|r| r.into_inner())
        }
    };
    let mut applied = None;
    for _ in 0..200 {
        if let Ok(d) = director(&mut client).await
            && d.applied_revision == Some(1)
        {
            applied = Some(d);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let d = applied.expect("revision 1 applied");
    assert_eq!(d.result, Some(pb::ApplyResult::Applied.into()));
    assert!(d.in_sync);
    let report = d.last_report.unwrap();
    assert_eq!(report.ops, 4);
    assert_eq!(report.verified_hash.as_deref().map(str::len), Some(64));
    let listed = client.list_directors(pb::ListDirectorsRequest { cluster: "web".into() }).await.unwrap();
    assert_eq!(listed.into_inner().directors.len(), 1);

    // A revision committed without activation, previewed on this director.
    let mut spec = draft.spec.unwrap();
    spec.services[0].servers[0].weight = Some(5);
    let request = pb::CommitRequest {
        cluster: "web".into(),
        message: "weight 5".into(),
        activate: Some(false),
        spec: Some(spec),
        ..Default::default()
    };
    client.commit(request).await.unwrap();
    let preview = client.plan_revision(pb::PlanRevisionRequest { cluster: "web".into(), number: 2 }).await.unwrap();
    let preview = preview.into_inner();
    assert_eq!(preview.against(), pb::PlanTarget::Director);
    assert_eq!(preview.changes, ["~ real server 172.25.0.31:80 of tcp 192.168.31.100:80: weight 1 -> 5"]);
    assert_eq!(preview.summary.unwrap().servers_changed, 1);

    // Settings.
    let settings = pb::ClusterSettings {
        ownership: Some(pb::Ownership::Created.into()),
        drain: true,
        drain_timeout_secs: Some(60),
        removal_limit: Some(0.25),
        ..Default::default()
    };
    let defaults = client.get_settings(pb::GetSettingsRequest { cluster: "web".into() }).await.unwrap().into_inner();
    let put = client
        .update_settings(pb::UpdateSettingsRequest {
            cluster: "web".into(),
            settings: Some(settings.clone()),
            if_match: defaults.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((put.ownership(), put.drain, put.drain_timeout_secs), (pb::Ownership::Created, true, Some(60)));
    let got = client.get_settings(pb::GetSettingsRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(got.removal_limit, Some(0.25));
    assert_eq!(got.etag, put.etag);
    // Written over the settings read before: refused, not overwritten.
    let stale = client
        .update_settings(pb::UpdateSettingsRequest { cluster: "web".into(), settings: Some(settings), if_match: defaults.etag })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition, "{stale:?}");
    let bad = pb::ClusterSettings { ownership: Some(pb::Ownership::Unspecified.into()), ..Default::default() };
    let err = client
        .update_settings(pb::UpdateSettingsRequest { cluster: "web".into(), settings: Some(bad), if_match: String::new() })
        .await
        .unwrap_err();
    assert_invalid(&err, "ownership");

    // Commit confirmed, then confirmed.
    let request = pb::CommitRequest {
        cluster: "web".into(),
        message: "confirm me".into(),
        confirm_within: Some("1m".into()),
        spec: Some(pb::Spec { services: vec![nat_service()], ..Default::default() }),
        ..Default::default()
    };
    let committed = client.commit(request).await.unwrap().into_inner();
    let pending = committed.confirm.expect("a pending confirmation");
    assert_eq!((pending.revision, pending.fallback), (3, 1));
    let cluster = client.get_cluster(pb::GetClusterRequest { name: "web".into() }).await.unwrap().into_inner();
    assert_eq!(cluster.pending_confirm.map(|p| p.revision), Some(3));
    let confirmed = client.confirm(pb::ConfirmRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(confirmed.revision, 3);
    let again = client.confirm(pb::ConfirmRequest { cluster: "web".into() }).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let bad_window = pb::CommitRequest {
        cluster: "web".into(),
        message: "x".into(),
        confirm_within: Some("soon".into()),
        ..Default::default()
    };
    assert_invalid(&client.commit(bad_window).await.unwrap_err(), "confirm_within");

    // Applying on request: revision 3 takes every real server out, past the
    // limit of 25%: refused, then forced.
    let request = pb::ApplyDirectorRequest { cluster: "web".into(), name: "d1".into(), force: false };
    let report = client.apply_director(request.clone()).await.unwrap().into_inner();
    assert_eq!(report.result(), pb::ApplyResult::Refused);
    let forced = client.apply_director(pb::ApplyDirectorRequest { force: true, ..request }).await.unwrap().into_inner();
    assert_eq!((forced.result(), forced.cause()), (pb::ApplyResult::Applied, pb::ApplyCause::Forced));
    let other = pb::ApplyDirectorRequest { cluster: "web".into(), name: "elsewhere".into(), force: false };
    assert_eq!(client.apply_director(other).await.unwrap_err().code(), Code::FailedPrecondition);
}
}

/// An agent's applied report of `revision`, over gRPC.
fn applied_report(revision: i64) -> pb::DirectorReport {
    pb::DirectorReport {
        agent_version: "lvsd 0.1.0".into(),
        applied_revision: Some(revision),
        applies: vec![pb::ApplyReport {
            revision: Some(revision),
            cause: pb::ApplyCause::Activation.into(),
            result: pb::ApplyResult::Applied.into(),
            ops: 4,
            at: "2026-01-01T00:00:00.000Z".into(),
            ..Default::default()
        }],
        drift_check: Some(pb::DriftCheck {
            at: "2026-01-01T00:00:01.000Z".into(),
            revision,
            mode: pb::DriftMode::Restore.into(),
            hash: Some("ab".repeat(32)),
            ..Default::default()
        }),
        counters: Some(pb::Counters {
            at: "2026-01-01T00:00:01.000Z".into(),
            services: vec![pb::ServiceCounters {
                service: VIP.into(),
                traffic: Some(pb::Traffic {
                    conns: 7,
                    ..Default::default()
                }),
                servers: Vec::new(),
            }],
        }),
        report_interval_secs: 30,
        ..Default::default()
    }
}

both_backends! {
async fn agents_watch_what_to_run_and_report_back(db: TestDb) {
    let server = GrpcServer::start_on(&db).await;
    let mut client = server.client().await;
    nat_example(&mut client, "web").await;
    let first = commit(&mut client, "web", "nat", 0).await.revision.unwrap().number;

    // The stream sends what to run at once, then every change.
    let request = pb::WatchDesiredRequest { cluster: "web".into(), director: "lb-1".into() };
    let mut stream = client.watch_desired(request).await.expect("the watch starts").into_inner();
    let now = stream.message().await.unwrap().expect("the state on subscribe");
    assert_eq!(now.revision, Some(first));
    assert_eq!(now.spec.as_ref().unwrap().services[0].servers.len(), 3);
    assert_eq!(now.settings.as_ref().unwrap().ownership, Some(pb::Ownership::Table.into()));

    let patch_request = pb::PatchServerRequest {
        cluster: "web".into(),
        service_id: VIP.into(),
        server_id: "172.25.0.31:80".into(),
        patch: Some(pb::patch_server_request::Patch::MergePatchJson(r#"{"weight": 5}"#.into())),
        ..Default::default()
    };
    client.patch_server(patch_request).await.expect("the weight changes");
    let second = commit(&mut client, "web", "heavier", first).await.revision.unwrap().number;
    let next = stream.message().await.unwrap().expect("the new revision");
    assert_eq!(next.revision, Some(second));
    let weights = weights(next.spec.as_ref().unwrap());
    assert!(weights.contains(&("172.25.0.31:80".to_string(), Some(5))), "{weights:?}");

    // A zeroing request is a change too.
    let zero = client.zero_counters(pb::ZeroCountersRequest { cluster: "web".into(), service: None }).await.unwrap().into_inner();
    assert_eq!(zero.seq, 1);
    let zeroed = stream.message().await.unwrap().expect("the zeroing request");
    assert_eq!(zeroed.zero, Some(pb::ZeroRequest { seq: 1, service: None }));
    assert_eq!(zeroed.revision, Some(second));

    // The report is stored and shows as ListDirectors shows it.
    let request = pb::ReportDirectorRequest { cluster: "web".into(), name: "lb-1".into(), report: Some(applied_report(second)) };
    let director = client.report_director(request).await.expect("the report is stored").into_inner();
    assert_eq!(director.mode, "agent");
    assert_eq!(director.applied_revision, Some(second));
    assert_eq!(director.health, pb::DirectorHealth::Ok as i32);
    assert!(!director.stale);
    assert_eq!(director.agent_version.as_deref(), Some("lvsd 0.1.0"));
    let counters = client.get_counters(pb::GetCountersRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(counters.directors[0].director, "lb-1");
    assert_eq!(counters.directors[0].counters.as_ref().unwrap().services[0].traffic.unwrap().conns, 7);

    // Bad input names the field; nothing is stored.
    let mut bad = applied_report(second);
    bad.applies[0].result = pb::ApplyResult::Unspecified.into();
    let request = pb::ReportDirectorRequest { cluster: "web".into(), name: "lb-1".into(), report: Some(bad) };
    let status = client.report_director(request).await.unwrap_err();
    assert_invalid(&status, "applies[0].result");
    let request = pb::ReportDirectorRequest { cluster: "web".into(), name: "lb-1".into(), report: Some(applied_report(42)) };
    let status = client.report_director(request).await.unwrap_err();
    assert_invalid(&status, "applied_revision");
    let request = pb::WatchDesiredRequest { cluster: "web".into(), director: "no/such".into() };
    let Err(status) = client.watch_desired(request).await else { panic!("a bad director name is refused") };
    assert_invalid(&status, "director");
    let request = pb::WatchDesiredRequest { cluster: "nope".into(), director: "lb-1".into() };
    let Err(status) = client.watch_desired(request).await else { panic!("an unknown cluster is refused") };
    assert_eq!(status.code(), Code::NotFound);
    let request = pb::ZeroCountersRequest { cluster: "web".into(), service: Some("udp:192.168.31.100:53".into()) };
    assert_invalid(&client.zero_counters(request).await.unwrap_err(), "service");

    // Without canaries every revision is released as it becomes active.
    let rollout = client.get_rollout(pb::GetRolloutRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(rollout.state, pb::RolloutState::Released as i32);
    assert_eq!((rollout.revision, rollout.released_revision), (Some(second), Some(second)));
    let released = client.release_rollout(pb::ReleaseRolloutRequest { cluster: "web".into() }).await.unwrap().into_inner();
    assert_eq!(released.state, pb::RolloutState::Released as i32);
}
}
