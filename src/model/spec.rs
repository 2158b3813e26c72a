use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ha::{HaDoc, HaSettings, SyncMode};
use super::host::{HostDoc, HostSettings};
use super::{
    AddressFamily, MAX_TIMEOUT_SECS, ServiceKey, ValidationError, VirtualService, VirtualServiceDoc,
};

/// IPVS connection timeouts (`--set tcp tcpfin udp`); a missing one is left
/// as the kernel has it (the kernel reads 0 as "unchanged", so 0 is not a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcpfin: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<u32>,
}

impl Timeouts {
    pub fn is_empty(&self) -> bool {
        self.tcp.is_none() && self.tcpfin.is_none() && self.udp.is_none()
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        for (value, field) in [
            (self.tcp, "tcp"),
            (self.tcpfin, "tcpfin"),
            (self.udp, "udp"),
        ] {
            if let Some(secs) = value
                && (secs == 0 || secs > MAX_TIMEOUT_SECS)
            {
                return Err(ValidationError::new(
                    field,
                    format!(
                        "{secs} is out of range: timeouts go from 1 to {MAX_TIMEOUT_SECS} seconds (leave it out to keep the kernel's)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DaemonRole {
    Master,
    Backup,
}

impl DaemonRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        }
    }
}

/// The connection synchronisation daemon (`--start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncDaemonDoc {
    pub role: DaemonRole,
    /// Multicast interface (`--mcast-interface`).
    pub interface: String,
    /// 0 to 255 (`--syncid`); 0 when left out, as the kernel.
    #[serde(default)]
    pub syncid: u32,
    /// Largest sync message payload in bytes (`--sync-maxlen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_maxlen: Option<u16>,
    /// Multicast group (`--mcast-group`); the kernel's default 224.0.0.81 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mcast_group: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_ttl: Option<u8>,
}

/// A validated sync daemon.
pub type SyncDaemon = SyncDaemonDoc;

impl SyncDaemonDoc {
    pub(crate) fn validate(&self) -> Result<SyncDaemon, ValidationError> {
        let name = &self.interface;
        let valid_name = !name.is_empty()
            && name.len() < 16
            && name != "."
            && name != ".."
            && !name
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace());
        if !valid_name {
            return Err(ValidationError::new(
                "interface",
                format!(
                    "`{name}` is not an interface name: 1 to 15 characters, no '/', ':' or spaces"
                ),
            ));
        }
        if self.syncid > 255 {
            return Err(ValidationError::new(
                "syncid",
                format!("{} is out of range: sync ids go from 0 to 255", self.syncid),
            ));
        }
        if let Some(group) = self.mcast_group
            && !group.is_multicast()
        {
            return Err(ValidationError::new(
                "mcast_group",
                format!("{group} is not a multicast address"),
            ));
        }
        if let Some(len) = self.sync_maxlen
            && !(1..=65507).contains(&len)
        {
            return Err(ValidationError::new(
                "sync_maxlen",
                format!("{len} is out of range: 1 to 65507 bytes"),
            ));
        }
        if self.mcast_ttl == Some(0) {
            return Err(ValidationError::new(
                "mcast_ttl",
                "0 is out of range: ttl goes from 1 to 255",
            ));
        }
        if self.mcast_port == Some(0) {
            return Err(ValidationError::new("mcast_port", "0 is not a port"));
        }
        Ok(self.clone())
    }
}

/// A cluster's full desired state as clients send and receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SpecDoc {
    #[serde(default, deserialize_with = "super::capped::services")]
    pub services: Vec<VirtualServiceDoc>,
    #[serde(default, skip_serializing_if = "Timeouts::is_empty")]
    pub timeouts: Timeouts,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_daemons: Vec<SyncDaemonDoc>,
    /// Host settings of directors and real servers (`lvsd host`); the IPVS
    /// table does not depend on them, and ipvsadm import/export leave them out.
    #[serde(default, skip_serializing_if = "HostDoc::is_empty")]
    pub host: HostDoc,
    /// Director high availability: VRRP through keepalived, and the sync
    /// daemon that goes with it. Left out: directors bind every VIP themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaDoc>,
}

/// A validated spec: services sorted by id and unique, every value in range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Spec {
    services: Vec<VirtualService>,
    pub timeouts: Timeouts,
    sync_daemons: Vec<SyncDaemon>,
    host: HostSettings,
    ha: Option<HaSettings>,
}

impl SpecDoc {
    pub fn validate(&self) -> Result<Spec, ValidationError> {
        let services = self
            .services
            .iter()
            .enumerate()
            .map(|(i, doc)| {
                doc.validate()
                    .map_err(|e| e.within(format!("services[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.timeouts.validate().map_err(|e| e.within("timeouts"))?;
        let daemons = self
            .sync_daemons
            .iter()
            .enumerate()
            .map(|(i, doc)| {
                doc.validate()
                    .map_err(|e| e.within(format!("sync_daemons[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let host = self.host.validate().map_err(|e| e.within("host"))?;
        let ha = self
            .ha
            .as_ref()
            .map(|doc| doc.validate().map_err(|e| e.within("ha")))
            .transpose()?;
        Spec::new(services, self.timeouts, daemons)?
            .with_host(host)?
            .with_ha(ha)
    }
}

impl Spec {
    pub fn new(
        mut services: Vec<VirtualService>,
        timeouts: Timeouts,
        mut sync_daemons: Vec<SyncDaemon>,
    ) -> Result<Self, ValidationError> {
        services.sort_by_key(|s| s.key);
        if let Some(pair) = services.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(ValidationError::new(
                "services",
                format!("service {} is listed twice", pair[0].key),
            ));
        }
        if !sync_daemons.is_empty() {
            let crossing = services.iter().find_map(|svc| {
                svc.servers()
                    .iter()
                    .find(|rs| AddressFamily::of(rs.key.ip()) != svc.key.family())
                    .map(|rs| (svc.key, rs.key))
            });
            if let Some((service, server)) = crossing {
                // The kernel refuses the combination (EINVAL) in either order.
                return Err(ValidationError::new(
                    "sync_daemons",
                    format!(
                        "real server {server} of {service} is in another address family, which the sync daemon cannot carry: drop the daemon or that server"
                    ),
                ));
            }
        }
        sync_daemons.sort_by_key(|d| d.role);
        if let Some(pair) = sync_daemons.windows(2).find(|w| w[0].role == w[1].role) {
            return Err(ValidationError::new(
                "sync_daemons",
                format!(
                    "a director runs one {} sync daemon at most",
                    pair[0].role.as_str()
                ),
            ));
        }
        Ok(Spec {
            services,
            timeouts,
            sync_daemons,
            host: HostSettings::default(),
            ha: None,
        })
    }

    /// This spec with `host` as its host settings; refused when a director's
    /// own sync daemons do not fit the services.
    pub fn with_host(mut self, host: HostSettings) -> Result<Self, ValidationError> {
        for (name, director) in host.directors() {
            if let Some(daemons) = &director.sync_daemons {
                Spec::new(self.services.clone(), Timeouts::default(), daemons.clone()).map_err(
                    |e| {
                        ValidationError::new("", e.message)
                            .within(format!("host.directors.{name}.sync_daemons"))
                    },
                )?;
            }
        }
        let fullnat = self
            .services
            .iter()
            .flat_map(|s| s.servers())
            .any(|rs| rs.forwarding == super::Forwarding::Fullnat);
        if fullnat {
            let refused = |field: String| {
                Err(ValidationError::new(
                    field,
                    "false, but fullnat real servers need it on: IPVS must keep conntrack entries for the source NAT to apply",
                ))
            };
            if host.ipvs_sysctls().conntrack == Some(false) {
                return refused("host.ipvs_sysctls.conntrack".to_string());
            }
            for name in host.directors().keys() {
                if host.for_director(name).ipvs_sysctls.conntrack == Some(false) {
                    return refused(format!("host.directors.{name}.ipvs_sysctls.conntrack"));
                }
            }
        }
        self.host = host;
        Ok(self)
    }

    pub fn host(&self) -> &HostSettings {
        &self.host
    }

    /// This spec with `ha` as its high-availability section; refused when
    /// its sync daemon would run beside the spec's own or cannot carry the
    /// services.
    pub fn with_ha(mut self, ha: Option<HaSettings>) -> Result<Self, ValidationError> {
        if ha.as_ref().and_then(HaSettings::sync).is_some() {
            let own = !self.sync_daemons.is_empty()
                || self
                    .host
                    .directors()
                    .values()
                    .any(|d| d.sync_daemons.is_some());
            if own {
                return Err(ValidationError::new(
                    "ha.sync",
                    "the spec already sets sync daemons (`sync_daemons` or a director's own): keep one of the two",
                ));
            }
            let daemons = Self::ha_daemons(ha.as_ref(), true, true);
            Spec::new(self.services.clone(), Timeouts::default(), daemons)
                .map_err(|e| ValidationError::new("ha.sync", e.message))?;
        }
        self.ha = ha;
        Ok(self)
    }

    pub fn ha(&self) -> Option<&HaSettings> {
        self.ha.as_ref()
    }

    /// The VIPs of the services (firewall marks have none), each once.
    pub fn vips(&self) -> Vec<IpAddr> {
        let mut vips: Vec<IpAddr> = Vec::new();
        for service in &self.services {
            if let ServiceKey::Addr { addr, .. } = service.key
                && !vips.contains(&addr.ip())
            {
                vips.push(addr.ip());
            }
        }
        vips
    }

    /// The sync daemons of the `ha` section with the threads asked for.
    fn ha_daemons(ha: Option<&HaSettings>, master: bool, backup: bool) -> Vec<SyncDaemon> {
        let Some(sync) = ha.and_then(HaSettings::sync) else {
            return Vec::new();
        };
        [(master, DaemonRole::Master), (backup, DaemonRole::Backup)]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, role)| SyncDaemon {
                role,
                interface: sync.interface.clone(),
                syncid: sync.syncid,
                sync_maxlen: None,
                mcast_group: sync.mcast_group,
                mcast_port: None,
                mcast_ttl: None,
            })
            .collect()
    }

    /// This spec with the `ha` sync daemon's threads as a director in VRRP
    /// state `master` runs them: both always in `both` mode; in
    /// `follow_vrrp` the master thread on the master, the backup thread
    /// elsewhere. A spec without `ha.sync` is returned unchanged.
    pub fn with_ha_sync_role(&self, master: bool) -> Spec {
        let Some(sync) = self.ha.as_ref().and_then(HaSettings::sync) else {
            return self.clone();
        };
        let (m, b) = match sync.mode {
            SyncMode::Both => (true, true),
            SyncMode::FollowVrrp => (master, !master),
        };
        let mut spec = self.clone();
        spec.sync_daemons = Self::ha_daemons(self.ha.as_ref(), m, b);
        spec
    }

    /// [`Spec::for_director`] of a shared spec: the same `Arc` when the host
    /// settings do not name `name` (most directors), so that comparing it
    /// with the spec last run stays cheap.
    pub fn shared_for_director(spec: Arc<Spec>, name: &str) -> Arc<Spec> {
        let ha_sync = spec.ha.as_ref().and_then(HaSettings::sync).is_some();
        match ha_sync || spec.host.directors().contains_key(name) {
            true => Arc::new(spec.for_director(name)),
            false => spec,
        }
    }

    /// The spec as director `name` applies it: its own sync daemons and
    /// timeouts (field by field) in place of the spec's. A director the
    /// host settings do not name gets the spec unchanged. The `ha` sync
    /// daemon's threads are those of a director not (yet) VRRP master.
    pub fn for_director(&self, name: &str) -> Spec {
        let Some(own) = self.host.directors().get(name) else {
            return self.with_ha_sync_role(false);
        };
        let mut spec = self.clone();
        if let Some(daemons) = &own.sync_daemons {
            let mut daemons = daemons.clone();
            daemons.sort_by_key(|d| d.role);
            spec.sync_daemons = daemons;
        }
        if let Some(t) = own.timeouts {
            spec.timeouts = Timeouts {
                tcp: t.tcp.or(self.timeouts.tcp),
                tcpfin: t.tcpfin.or(self.timeouts.tcpfin),
                udp: t.udp.or(self.timeouts.udp),
            };
        }
        spec
    }

    /// Parses and validates a spec in its JSON form.
    pub fn from_json(json: &[u8]) -> Result<Self, ValidationError> {
        ValidationError::from_json::<SpecDoc>(json)?.validate()
    }

    pub fn services(&self) -> &[VirtualService] {
        &self.services
    }

    pub fn sync_daemons(&self) -> &[SyncDaemon] {
        &self.sync_daemons
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services
            .binary_search_by(|s| s.key.cmp(key))
            .ok()
            .map(|i| &self.services[i])
    }

    pub fn server_count(&self) -> usize {
        self.services.iter().map(|s| s.servers().len()).sum()
    }

    /// This spec with `service` added, or replacing the one with its key.
    pub fn with_service(&self, service: VirtualService) -> Self {
        let mut spec = self.clone();
        match spec.services.binary_search_by(|s| s.key.cmp(&service.key)) {
            Ok(i) => spec.services[i] = service,
            Err(i) => spec.services.insert(i, service),
        }
        spec
    }

    /// This spec without the service `key`, or `None` when it has no such service.
    pub fn without_service(&self, key: &ServiceKey) -> Option<Self> {
        let i = self.services.binary_search_by(|s| s.key.cmp(key)).ok()?;
        let mut spec = self.clone();
        spec.services.remove(i);
        Some(spec)
    }

    pub fn with_sync_daemons(&self, daemons: Vec<SyncDaemon>) -> Result<Self, ValidationError> {
        Spec::new(self.services.clone(), self.timeouts, daemons)?
            .with_host(self.host.clone())?
            .with_ha(self.ha.clone())
    }

    pub fn to_doc(&self) -> SpecDoc {
        SpecDoc {
            services: self.services.iter().map(VirtualService::to_doc).collect(),
            timeouts: self.timeouts,
            sync_daemons: self.sync_daemons.clone(),
            host: self.host.to_doc(),
            ha: self.ha.as_ref().map(HaSettings::to_doc),
        }
    }

    /// Canonical JSON: services and servers sorted, fields in a fixed order.
    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a spec always serializes")
    }

    /// SHA-256 of the canonical JSON, hex: equal specs have equal hashes.
    pub fn content_hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_canonical_json().as_bytes()))
    }
}

impl Serialize for Spec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_doc().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = r#"{
        "services": [{
            "protocol": "tcp", "address": "192.168.31.100", "port": 80, "scheduler": "wrr",
            "servers": [
                {"address": "172.25.0.33", "forwarding": "nat", "weight": 3},
                {"address": "172.25.0.31", "forwarding": "nat", "weight": 1},
                {"address": "172.25.0.32", "forwarding": "nat", "weight": 2}
            ]
        }],
        "timeouts": {"tcp": 900, "tcpfin": 120, "udp": 300},
        "sync_daemons": [{"role": "master", "interface": "eth0", "syncid": 7}]
    }"#;

    #[test]
    fn canonical_form_is_order_independent() {
        let spec = Spec::from_json(NAT.as_bytes()).unwrap();
        let servers: Vec<_> = spec.services()[0]
            .servers()
            .iter()
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(
            servers,
            ["172.25.0.31:80", "172.25.0.32:80", "172.25.0.33:80"]
        );
        let again = Spec::from_json(spec.to_canonical_json().as_bytes()).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.content_hash(), spec.content_hash());
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"services":[{"id":"tcp:1.1.1.1:80"},{"id":"tcp:1.1.1.1:80"}]}"#,
                "services",
            ),
            (r#"{"timeouts":{"tcp":0}}"#, "timeouts.tcp"),
            (r#"{"timeouts":{"udp":2678401}}"#, "timeouts.udp"),
            (
                r#"{"sync_daemons":[{"role":"master","interface":"eth0"},{"role":"master","interface":"eth1"}]}"#,
                "sync_daemons",
            ),
            (
                r#"{"sync_daemons":[{"role":"backup","interface":"a/b"}]}"#,
                "sync_daemons[0].interface",
            ),
            (
                r#"{"sync_daemons":[{"role":"backup","interface":"eth0","syncid":256}]}"#,
                "sync_daemons[0].syncid",
            ),
            (
                r#"{"sync_daemons":[{"role":"slave","interface":"eth0"}]}"#,
                "sync_daemons[0].role",
            ),
            (
                r#"{"services":[{"id":"tcp:1.1.1.1:80","servers":[{"address":"nope"}]}]}"#,
                "services[0].servers[0].address",
            ),
            (r#"{"services":{}}"#, "services"),
            (
                r#"{"sync_daemons":[{"role":"backup","interface":"eth0","sync_maxlen":0}]}"#,
                "sync_daemons[0].sync_maxlen",
            ),
            (
                r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"2001:db8::1","forwarding":"tun"}]}],"sync_daemons":[{"role":"master","interface":"eth0"}]}"#,
                "sync_daemons",
            ),
        ];
        for (json, field) in cases {
            let err = Spec::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn ha_sync_daemon_runs_both_threads_unless_it_follows_vrrp() {
        let spec = |mode: &str, extra: &str| {
            Spec::from_json(
                format!(
                    r#"{{"services":[{{"id":"tcp:10.0.0.1:80"}},{{"id":"udp:10.0.0.1:53"}},{{"fwmark":3}}]{extra},
                        "ha":{{"vrrp":[{{"name":"VI_1","virtual_router_id":1,"interface":"eth0"}}],
                               "sync":{{"mode":"{mode}","interface":"eth0","syncid":4}}}}}}"#
                )
                .as_bytes(),
            )
        };
        let roles = |spec: &Spec| -> Vec<&str> {
            spec.sync_daemons()
                .iter()
                .map(|d| d.role.as_str())
                .collect()
        };
        let both = spec("both", "").unwrap();
        assert_eq!(both.vips(), ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert!(
            both.sync_daemons().is_empty(),
            "the revision keeps its own form"
        );
        assert_eq!(roles(&both.for_director("d1")), ["master", "backup"]);
        assert_eq!(roles(&both.with_ha_sync_role(true)), ["master", "backup"]);
        let follow = spec("follow_vrrp", "").unwrap();
        assert_eq!(roles(&follow.for_director("d1")), ["backup"]);
        assert_eq!(roles(&follow.with_ha_sync_role(true)), ["master"]);
        let twice = spec(
            "both",
            r#","sync_daemons":[{"role":"master","interface":"eth0"}]"#,
        );
        assert_eq!(twice.unwrap_err().field, "ha.sync");
        assert_eq!(
            Spec::from_json(both.to_canonical_json().as_bytes()).unwrap(),
            both
        );
    }

    #[test]
    fn host_refusals_name_the_field() {
        let cases = [
            (r#"{"host":{"vip_interface":"a b"}}"#, "host.vip_interface"),
            (
                r#"{"host":{"vip_interface":"abcdefghijklmnop"}}"#,
                "host.vip_interface",
            ),
            (
                r#"{"host":{"snat_address":"0.0.0.0"}}"#,
                "host.snat_address",
            ),
            (r#"{"host":{"snat_address":"nope"}}"#, "host.snat_address"),
            (r#"{"host":{"mtu":1500}}"#, "host.mtu"),
            (r#"{"host":{"directors":{"-d1":{}}}}"#, "host.directors"),
            (
                r#"{"host":{"ipvs_sysctls":{"conn_reuse_mode":9}}}"#,
                "host.ipvs_sysctls.conn_reuse_mode",
            ),
            (
                r#"{"host":{"ipvs_sysctls":{"expire_nodest_conn":2}}}"#,
                "host.ipvs_sysctls.expire_nodest_conn",
            ),
            (
                r#"{"host":{"directors":{"d1":{"ipvs_sysctls":{"sync_ports":6}}}}}"#,
                "host.directors.d1.ipvs_sysctls.sync_ports",
            ),
            (
                r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1","forwarding":"fullnat"}]}],"host":{"ipvs_sysctls":{"conntrack":false}}}"#,
                "host.ipvs_sysctls.conntrack",
            ),
            (
                r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"10.1.0.1","forwarding":"fullnat"}]}],"host":{"directors":{"d2":{"ipvs_sysctls":{"conntrack":false}}}}}"#,
                "host.directors.d2.ipvs_sysctls.conntrack",
            ),
            (
                r#"{"host":{"directors":{"d1":{"vip_interface":"x/y"}}}}"#,
                "host.directors.d1.vip_interface",
            ),
            (
                r#"{"host":{"directors":{"d1":{"snat_address":"224.0.0.1"}}}}"#,
                "host.directors.d1.snat_address",
            ),
            (
                r#"{"host":{"directors":{"d1":{"timeouts":{"tcp":0}}}}}"#,
                "host.directors.d1.timeouts.tcp",
            ),
            (
                r#"{"host":{"directors":{"d2":{"sync_daemons":[{"role":"backup","interface":"eth0","syncid":300}]}}}}"#,
                "host.directors.d2.sync_daemons[0].syncid",
            ),
            (
                r#"{"host":{"directors":{"d2":{"sync_daemons":[{"role":"backup","interface":"eth0"},{"role":"backup","interface":"eth1"}]}}}}"#,
                "host.directors.d2.sync_daemons",
            ),
            (
                r#"{"services":[{"id":"tcp:10.0.0.1:80","servers":[{"address":"2001:db8::1","forwarding":"tun"}]}],
                    "host":{"directors":{"d2":{"sync_daemons":[{"role":"master","interface":"eth0"}]}}}}"#,
                "host.directors.d2.sync_daemons",
            ),
        ];
        for (json, field) in cases {
            let err = Spec::from_json(json.as_bytes()).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn a_director_applies_its_own_daemons_and_timeouts() {
        let json = r#"{
            "timeouts": {"tcp": 900, "udp": 300},
            "sync_daemons": [{"role": "master", "interface": "eth0", "syncid": 7}],
            "host": {"vip_interface": "none", "directors": {
                "d2": {"sync_daemons": [{"role": "backup", "interface": "eth1", "syncid": 7}], "timeouts": {"tcp": 60}},
                "d3": {"vip_interface": "lvs1", "sync_daemons": []}
            }}
        }"#;
        let spec = Spec::from_json(json.as_bytes()).unwrap();
        let roles = |s: &Spec| {
            s.sync_daemons()
                .iter()
                .map(|d| (d.role, d.interface.clone()))
                .collect::<Vec<_>>()
        };
        let d1 = spec.for_director("d1");
        assert_eq!(roles(&d1), [(DaemonRole::Master, "eth0".to_string())]);
        assert_eq!(d1.timeouts, spec.timeouts);
        let d2 = spec.for_director("d2");
        assert_eq!(roles(&d2), [(DaemonRole::Backup, "eth1".to_string())]);
        assert_eq!(
            d2.timeouts,
            Timeouts {
                tcp: Some(60),
                tcpfin: None,
                udp: Some(300)
            }
        );
        assert_eq!(roles(&spec.for_director("d3")), []);
        use crate::model::VipInterface;
        assert_eq!(
            spec.host().for_director("d1").vip_interface,
            VipInterface::None
        );
        assert_eq!(
            spec.host().for_director("d3").vip_interface,
            VipInterface::Interface("lvs1".into())
        );
        assert_eq!(
            Spec::default().host().for_director("d1").vip_interface,
            VipInterface::Interface("lvs0".into())
        );
        // The host section survives the canonical form; a spec without one keeps its old hash.
        assert_eq!(
            Spec::from_json(spec.to_canonical_json().as_bytes()).unwrap(),
            spec
        );
        assert!(
            !Spec::from_json(NAT.as_bytes())
                .unwrap()
                .to_canonical_json()
                .contains("host")
        );
    }
}
