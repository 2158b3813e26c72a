//! Director high availability (the spec's `ha` section): the VRRP instances
//! keepalived runs on every director to move the VIPs, and how the IPVS
//! connection sync daemon follows them.
//!
//! lvsd never speaks VRRP itself: `lvsd agent` renders these settings into a
//! keepalived configuration with VRRP blocks only (see `crate::ha`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationError;
use super::host::{check_director_name, check_interface_name};

/// Priority of a director an instance's `priority` map does not name.
pub const DEFAULT_PRIORITY: u8 = 100;
/// Advertisement interval when left out (keepalived's `advert_int 1`).
pub const DEFAULT_ADVERT_INTERVAL_MS: u32 = 1000;
/// VRRPv3 counts the interval in centiseconds on 12 bits.
const MAX_ADVERT_INTERVAL_MS: u32 = 40_950;

/// The `ha` section as clients send and receive it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HaDoc {
    /// The directors of the cluster by name (as `lvsd agent --name` calls
    /// them), each with the address it speaks VRRP from. Unicast peers
    /// default to the other directors' addresses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, String>, example = json!({"d1": "172.25.0.1", "d2": "172.25.0.2"}))]
    pub directors: BTreeMap<String, IpAddr>,
    /// VRRP instances; all of them form one sync group, so they move together.
    #[serde(default)]
    pub vrrp: Vec<VrrpInstanceDoc>,
    /// The IPVS connection sync daemon that keeps established connections
    /// across a failover. Left out: no sync daemon from this section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<HaSyncDoc>,
}

/// One VRRP instance (keepalived's `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VrrpInstanceDoc {
    /// Name of the instance (letters, digits, `_`, `-`), e.g. `VI_1`.
    #[schema(example = "VI_1")]
    pub name: String,
    /// 1 to 255, unique per interface on the LAN.
    #[schema(example = 51)]
    pub virtual_router_id: u32,
    /// Interface VRRP speaks on and the VIPs are bound to on the master.
    #[schema(example = "eth0")]
    pub interface: String,
    /// Advertisement interval in milliseconds (VRRPv3: a multiple of 10,
    /// sub-second allowed). Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 200)]
    pub advert_interval_ms: Option<u32>,
    /// VIPs this instance carries. Left out: every VIP of the cluster's
    /// services (firewall-mark services have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub vips: Option<Vec<IpAddr>>,
    /// Priority (1-254) by director name; a director left out gets 100.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub priority: BTreeMap<String, u32>,
    /// Addresses to send adverts to. Left out: the other directors'
    /// addresses of `ha.directors` (multicast when that is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub unicast_peers: Option<Vec<IpAddr>>,
    /// Advertise by multicast (224.0.0.18 / ff02::12) instead of unicast.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multicast: bool,
    /// A higher-priority director that comes back takes the VIPs over.
    /// Default false (`nopreempt`): once failed over, nothing moves back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preempt: bool,
    /// Seconds a returning director waits before preempting (needs `preempt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempt_delay_secs: Option<u32>,
    /// Interfaces whose loss puts this director in FAULT (it gives the VIPs up).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<String>,
    /// NAT clusters: the real servers' gateway address, moved with this
    /// instance (a second instance in the same sync group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_vip: Option<InternalVipDoc>,
    /// Gratuitous ARP / unsolicited neighbour advertisements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp: Option<GarpDoc>,
}

/// The real servers' gateway on the internal side of a NAT cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalVipDoc {
    #[schema(value_type = String, example = "172.25.0.254")]
    pub address: IpAddr,
    /// Prefix length bound with it; default /32 (/128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    /// Interface on the real servers' side.
    #[schema(example = "eth1")]
    pub interface: String,
    /// Its own virtual router id (1-255) on that interface.
    pub virtual_router_id: u32,
}

/// Gratuitous ARP settings; each field left out takes lvsd's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GarpDoc {
    /// Seconds after becoming master before the second burst (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_delay_secs: Option<u32>,
    /// Gratuitous ARPs per burst (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_repeat: Option<u32>,
    /// Seconds between refreshes while master (default 60; 0: none), so a
    /// switch that lost its table learns the VIP again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_refresh_secs: Option<u32>,
}

/// When the IPVS sync daemon threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Master and backup threads on every director all the time: no race
    /// at a role switch, failback keeps connections too.
    #[default]
    Both,
    /// Master thread on the VRRP master, backup thread on the others.
    FollowVrrp,
}

/// The sync daemon of the `ha` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HaSyncDoc {
    #[serde(default)]
    pub mode: SyncMode,
    /// Interface the sync messages go out and come in on.
    #[schema(example = "eth0")]
    pub interface: String,
    /// 0 to 255 (`--syncid`).
    #[serde(default)]
    pub syncid: u32,
    /// Multicast group; the kernel's 224.0.0.81 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub mcast_group: Option<IpAddr>,
}

/// A validated `ha` section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HaSettings {
    doc: HaDoc,
}

impl HaDoc {
    pub fn is_empty(&self) -> bool {
        *self == HaDoc::default()
    }

    pub fn validate(&self) -> Result<HaSettings, ValidationError> {
        for name in self.directors.keys() {
            check_director_name(name).map_err(|e| e.within("directors"))?;
        }
        for (name, address) in &self.directors {
            if !is_unicast(*address) {
                return Err(ValidationError::new(
                    format!("directors.{name}"),
                    format!("{address} is not a unicast address a director can send from"),
                ));
            }
        }
        if self.vrrp.is_empty() {
            return Err(ValidationError::new(
                "vrrp",
                "give at least one VRRP instance (or leave the whole `ha` section out)",
            ));
        }
        let mut names = BTreeSet::new();
        let mut routers = BTreeSet::new();
        for (i, instance) in self.vrrp.iter().enumerate() {
            let at = format!("vrrp[{i}]");
            instance
                .validate(&self.directors)
                .map_err(|e| e.within(&at))?;
            if !names.insert(instance.name.as_str()) {
                return Err(ValidationError::new(
                    format!("{at}.name"),
                    format!("instance `{}` is listed twice", instance.name),
                ));
            }
            let mut claim = |interface: &str, vrid: u32, field: &str| {
                if routers.insert((interface.to_string(), vrid)) {
                    Ok(())
                } else {
                    Err(ValidationError::new(
                        format!("{at}.{field}"),
                        format!(
                            "virtual router id {vrid} is used twice on {interface}: each instance on one LAN needs its own"
                        ),
                    ))
                }
            };
            claim(
                &instance.interface,
                instance.virtual_router_id,
                "virtual_router_id",
            )?;
            if let Some(internal) = &instance.internal_vip {
                claim(
                    &internal.interface,
                    internal.virtual_router_id,
                    "internal_vip.virtual_router_id",
                )?;
            }
        }
        if let Some(sync) = &self.sync {
            sync.validate().map_err(|e| e.within("sync"))?;
        }
        Ok(HaSettings { doc: self.clone() })
    }
}

fn is_unicast(a: IpAddr) -> bool {
    !(a.is_unspecified() || a.is_multicast() || a.is_loopback())
}

fn check_vrid(vrid: u32) -> Result<(), ValidationError> {
    if (1..=255).contains(&vrid) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "",
            format!("{vrid} is out of range: virtual router ids go from 1 to 255"),
        ))
    }
}

fn check_interface(name: &str, field: &str) -> Result<(), ValidationError> {
    check_interface_name(name).map_err(|e| {
        ValidationError::new(
            field,
            format!("`{name}` is not an interface name: 1 to 15 characters, no '/', ':' or spaces"),
        )
        .within(e.field)
    })
}

impl VrrpInstanceDoc {
    fn validate(&self, directors: &BTreeMap<String, IpAddr>) -> Result<(), ValidationError> {
        let name_ok = (1..=32).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        if !name_ok {
            return Err(ValidationError::new(
                "name",
                format!(
                    "`{}` is not an instance name: 1 to 32 letters, digits, '_' or '-'",
                    self.name
                ),
            ));
        }
        check_vrid(self.virtual_router_id).map_err(|e| e.within("virtual_router_id"))?;
        check_interface(&self.interface, "interface")?;
        if let Some(ms) = self.advert_interval_ms
            && (ms == 0 || ms % 10 != 0 || ms > MAX_ADVERT_INTERVAL_MS)
        {
            return Err(ValidationError::new(
                "advert_interval_ms",
                format!(
                    "{ms} is not an advertisement interval: VRRPv3 counts centiseconds, so 10 to {MAX_ADVERT_INTERVAL_MS} ms in steps of 10"
                ),
            ));
        }
        if let Some(vips) = &self.vips {
            for (i, vip) in vips.iter().enumerate() {
                if !is_unicast(*vip) {
                    return Err(ValidationError::new(
                        format!("vips[{i}]"),
                        format!("{vip} cannot be a virtual IP"),
                    ));
                }
            }
            if let Some(i) = (1..vips.len()).find(|&i| vips[..i].contains(&vips[i])) {
                return Err(ValidationError::new(
                    format!("vips[{i}]"),
                    format!("{} is listed twice", vips[i]),
                ));
            }
        }
        for (director, priority) in &self.priority {
            let at = format!("priority.{director}");
            check_director_name(director).map_err(|e| e.within("priority"))?;
            if !directors.is_empty() && !directors.contains_key(director) {
                return Err(ValidationError::new(
                    at,
                    format!("`{director}` is not one of `ha.directors`"),
                ));
            }
            if !(1..=254).contains(priority) {
                return Err(ValidationError::new(
                    at,
                    format!(
                        "{priority} is out of range: priorities go from 1 to 254 (255 is the address owner's, which a floating VIP never has)"
                    ),
                ));
            }
        }
        if let Some(peers) = &self.unicast_peers {
            if self.multicast {
                return Err(ValidationError::new(
                    "unicast_peers",
                    "give unicast peers or `multicast: true`, not both",
                ));
            }
            for (i, peer) in peers.iter().enumerate() {
                if !is_unicast(*peer) {
                    return Err(ValidationError::new(
                        format!("unicast_peers[{i}]"),
                        format!("{peer} is not a unicast address"),
                    ));
                }
            }
        }
        if let Some(delay) = self.preempt_delay_secs {
            if !self.preempt {
                return Err(ValidationError::new(
                    "preempt_delay_secs",
                    "a preemption delay needs `preempt: true` (the default is not to preempt)",
                ));
            }
            if delay > 1000 {
                return Err(ValidationError::new(
                    "preempt_delay_secs",
                    format!("{delay} is out of range: 0 to 1000 seconds"),
                ));
            }
        }
        for (i, interface) in self.track_interfaces.iter().enumerate() {
            check_interface(interface, &format!("track_interfaces[{i}]"))?;
        }
        if let Some(internal) = &self.internal_vip {
            internal.validate().map_err(|e| e.within("internal_vip"))?;
            if internal.virtual_router_id == self.virtual_router_id
                && internal.interface == self.interface
            {
                return Err(ValidationError::new(
                    "internal_vip.virtual_router_id",
                    "the internal VIP needs its own virtual router id on that interface",
                ));
            }
        }
        if let Some(garp) = &self.garp {
            for (value, field, max) in [
                (garp.master_delay_secs, "master_delay_secs", 1000),
                (garp.master_repeat, "master_repeat", 1000),
                (garp.master_refresh_secs, "master_refresh_secs", 86_400),
            ] {
                if let Some(v) = value
                    && v > max
                {
                    return Err(ValidationError::new(
                        format!("garp.{field}"),
                        format!("{v} is out of range: 0 to {max}"),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn advert_interval_ms(&self) -> u32 {
        self.advert_interval_ms
            .unwrap_or(DEFAULT_ADVERT_INTERVAL_MS)
    }

    /// The priority director `name` advertises before tracked health.
    pub fn priority_of(&self, name: &str) -> u8 {
        self.priority
            .get(name)
            .map_or(DEFAULT_PRIORITY, |&p| p as u8)
    }
}

impl InternalVipDoc {
    fn validate(&self) -> Result<(), ValidationError> {
        if !is_unicast(self.address) {
            return Err(ValidationError::new(
                "address",
                format!("{} cannot be a gateway address", self.address),
            ));
        }
        let max = if self.address.is_ipv4() { 32 } else { 128 };
        if let Some(len) = self.prefix_len
            && !(1..=max).contains(&len)
        {
            return Err(ValidationError::new(
                "prefix_len",
                format!("{len} is out of range: 1 to {max}"),
            ));
        }
        check_interface(&self.interface, "interface")?;
        check_vrid(self.virtual_router_id).map_err(|e| e.within("virtual_router_id"))
    }
}

impl HaSyncDoc {
    fn validate(&self) -> Result<(), ValidationError> {
        check_interface(&self.interface, "interface")?;
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
        Ok(())
    }
}

impl HaSettings {
    pub fn to_doc(&self) -> HaDoc {
        self.doc.clone()
    }

    pub fn directors(&self) -> &BTreeMap<String, IpAddr> {
        &self.doc.directors
    }

    pub fn instances(&self) -> &[VrrpInstanceDoc] {
        &self.doc.vrrp
    }

    pub fn sync(&self) -> Option<&HaSyncDoc> {
        self.doc.sync.as_ref()
    }

    /// The VIPs `instance` carries: its own list, or the cluster's VIPs.
    pub fn vips_of(instance: &VrrpInstanceDoc, cluster_vips: &[IpAddr]) -> Vec<IpAddr> {
        instance
            .vips
            .clone()
            .unwrap_or_else(|| cluster_vips.to_vec())
    }

    /// Every address keepalived binds on a master: (interface, address,
    /// prefix length), the internal VIPs included.
    pub fn bound_addresses(&self, cluster_vips: &[IpAddr]) -> Vec<(String, IpAddr, u8)> {
        let full = |a: &IpAddr| if a.is_ipv4() { 32 } else { 128 };
        let mut out = Vec::new();
        for instance in &self.doc.vrrp {
            for vip in Self::vips_of(instance, cluster_vips) {
                out.push((instance.interface.clone(), vip, full(&vip)));
            }
            if let Some(internal) = &instance.internal_vip {
                let prefix = internal.prefix_len.unwrap_or(full(&internal.address));
                out.push((internal.interface.clone(), internal.address, prefix));
            }
        }
        out
    }

    /// The peers director `name` sends adverts to; empty means multicast.
    pub fn peers_of(&self, instance: &VrrpInstanceDoc, name: &str) -> Vec<IpAddr> {
        if instance.multicast {
            return Vec::new();
        }
        match &instance.unicast_peers {
            Some(peers) => peers.clone(),
            None => self
                .doc
                .directors
                .iter()
                .filter(|(other, _)| other.as_str() != name)
                .map(|(_, address)| *address)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(json: &str) -> String {
        let doc: HaDoc = serde_json::from_str(json).unwrap();
        doc.validate().unwrap_err().field
    }

    #[test]
    fn refusals_name_the_field() {
        let vi = |extra: &str| {
            format!(
                r#"{{"directors":{{"d1":"10.0.0.1","d2":"10.0.0.2"}},"vrrp":[{{"name":"VI_1","virtual_router_id":51,"interface":"eth0"{extra}}}]}}"#
            )
        };
        let cases = [
            (r#"{"vrrp":[]}"#.to_string(), "vrrp"),
            (
                r#"{"directors":{"d1":"224.0.0.1"},"vrrp":[{"name":"a","virtual_router_id":1,"interface":"e"}]}"#.into(),
                "directors.d1",
            ),
            (
                r#"{"directors":{"-x":"10.0.0.1"},"vrrp":[{"name":"a","virtual_router_id":1,"interface":"e"}]}"#.into(),
                "directors",
            ),
            (
                vi("").replace("\"virtual_router_id\":51", "\"virtual_router_id\":256"),
                "vrrp[0].virtual_router_id",
            ),
            (
                vi("").replace("\"virtual_router_id\":51", "\"virtual_router_id\":0"),
                "vrrp[0].virtual_router_id",
            ),
            (vi("").replace("VI_1", "VI 1"), "vrrp[0].name"),
            (vi("").replace("eth0", "a/b"), "vrrp[0].interface"),
            (vi(r#","advert_interval_ms":15"#), "vrrp[0].advert_interval_ms"),
            (vi(r#","advert_interval_ms":0"#), "vrrp[0].advert_interval_ms"),
            (vi(r#","advert_interval_ms":41000"#), "vrrp[0].advert_interval_ms"),
            (vi(r#","vips":["0.0.0.0"]"#), "vrrp[0].vips[0]"),
            (vi(r#","vips":["10.1.1.1","10.1.1.1"]"#), "vrrp[0].vips[1]"),
            (vi(r#","priority":{"d3":100}"#), "vrrp[0].priority.d3"),
            (vi(r#","priority":{"d1":255}"#), "vrrp[0].priority.d1"),
            (vi(r#","priority":{"d1":0}"#), "vrrp[0].priority.d1"),
            (
                vi(r#","unicast_peers":["10.0.0.2"],"multicast":true"#),
                "vrrp[0].unicast_peers",
            ),
            (vi(r#","unicast_peers":["ff02::12"]"#), "vrrp[0].unicast_peers[0]"),
            (vi(r#","preempt_delay_secs":5"#), "vrrp[0].preempt_delay_secs"),
            (
                vi(r#","preempt":true,"preempt_delay_secs":5000"#),
                "vrrp[0].preempt_delay_secs",
            ),
            (vi(r#","track_interfaces":["ok","no way"]"#), "vrrp[0].track_interfaces[1]"),
            (
                vi(r#","internal_vip":{"address":"172.25.0.254","interface":"eth0","virtual_router_id":51}"#),
                "vrrp[0].internal_vip.virtual_router_id",
            ),
            (
                vi(r#","internal_vip":{"address":"172.25.0.254","prefix_len":33,"interface":"eth1","virtual_router_id":52}"#),
                "vrrp[0].internal_vip.prefix_len",
            ),
            (vi(r#","garp":{"master_repeat":5000}"#), "vrrp[0].garp.master_repeat"),
            (
                vi(r#"},{"name":"VI_1","virtual_router_id":52,"interface":"eth0""#),
                "vrrp[1].name",
            ),
            (
                vi(r#"},{"name":"VI_2","virtual_router_id":51,"interface":"eth0""#),
                "vrrp[1].virtual_router_id",
            ),
            (
                vi("").replace("]}", r#"],"sync":{"interface":"eth0","syncid":256}}"#),
                "sync.syncid",
            ),
            (
                vi("").replace("]}", r#"],"sync":{"interface":"eth0","mcast_group":"10.0.0.1"}}"#),
                "sync.mcast_group",
            ),
        ];
        for (json, field) in cases {
            assert_eq!(refusal(&json), field, "{json}");
        }
    }

    #[test]
    fn defaults_follow_the_directors() {
        let doc: HaDoc = serde_json::from_str(
            r#"{"directors":{"d1":"10.0.0.1","d2":"10.0.0.2","d3":"10.0.0.3"},
                "vrrp":[{"name":"VI_1","virtual_router_id":51,"interface":"eth0","priority":{"d1":150}},
                        {"name":"VI_2","virtual_router_id":52,"interface":"eth0","multicast":true,"vips":["10.9.9.9"]}]}"#,
        )
        .unwrap();
        let ha = doc.validate().unwrap();
        let [vi1, vi2] = ha.instances() else { panic!() };
        assert_eq!(vi1.priority_of("d1"), 150);
        assert_eq!(vi1.priority_of("d2"), DEFAULT_PRIORITY);
        assert_eq!(vi1.advert_interval_ms(), 1000);
        let peers: Vec<String> = ha
            .peers_of(vi1, "d2")
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(peers, ["10.0.0.1", "10.0.0.3"]);
        assert!(ha.peers_of(vi2, "d2").is_empty());
        let cluster = ["10.1.1.1".parse().unwrap()];
        assert_eq!(HaSettings::vips_of(vi1, &cluster), cluster);
        assert_eq!(
            HaSettings::vips_of(vi2, &cluster),
            ["10.9.9.9".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(ha.to_doc(), doc);
    }
}
