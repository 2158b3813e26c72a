//! IPVS's own settings (`net.ipv4.vs.*`, one set per network namespace):
//! what the kernel does with connection entries when real servers go,
//! come back or are quiesced, and how the sync daemon sends them.
//!
//! A director applies them with its other host settings. Unless a spec says
//! `recommended: false`, the fields it leaves out take lvsd's recommended
//! values ([`RECOMMENDED`]); every other field left out stays as the host
//! has it. docs/connection-continuity.md explains each field and default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationError;

/// The kernel's `sync_threshold` default: a connection is synced at its 3rd packet...
pub const KERNEL_SYNC_THRESHOLD: u32 = 3;
/// ...and then every 50 packets.
pub const KERNEL_SYNC_PERIOD: u32 = 50;
/// Most sync threads the kernel starts (`IPVS_SYNC_PORTS_MAX`).
pub const MAX_SYNC_PORTS: u32 = 64;

/// What lvsd sets when a spec leaves these out (and does not turn
/// `recommended` off), with why.
pub const RECOMMENDED: &[(&str, &str, &str)] = &[
    (
        "expire_nodest_conn",
        "1",
        "entries of a deleted real server expire, so their clients reach a live one",
    ),
    (
        "expire_quiescent_template",
        "1",
        "persistence templates of a quiesced real server expire, so returning clients go elsewhere",
    ),
    (
        "conn_reuse_mode",
        "1",
        "a new TCP connection reusing a TIME_WAIT entry's port is scheduled afresh",
    ),
];

/// The `net.ipv4.vs.*` settings of a spec (or of one director, over the
/// spec's, field by field). A field left out is left as the host has it,
/// unless lvsd recommends a value for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IpvsSysctls {
    /// Fill the fields left out with lvsd's recommended values
    /// (expire_nodest_conn 1, expire_quiescent_template 1, conn_reuse_mode 1).
    /// Default `true`; `false`: lvsd sets only the fields given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<bool>,
    /// Expire a connection entry when its real server is deleted (at once,
    /// and in the kernel's background flush) instead of dropping its packets
    /// until it times out. Kernel default 0; lvsd recommends 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_nodest_conn: Option<bool>,
    /// Expire a persistence template when its real server is quiesced
    /// (weight 0), so a returning client is scheduled afresh. Kernel default
    /// 0; lvsd recommends 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_quiescent_template: Option<bool>,
    /// What a new TCP connection reusing the ports of an old entry gets: 0
    /// the old entry's real server; 1 scheduled afresh when the old one is in
    /// TIME_WAIT (NAT); 3 also in FIN_WAIT (DR, TUN). Kernel default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 3)]
    pub conn_reuse_mode: Option<u8>,
    /// Create entries for TCP packets other than SYN (a flow moved here from
    /// another director: active/active, or a failover without sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sloppy_tcp: Option<bool>,
    /// Create entries for SCTP packets other than INIT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sloppy_sctp: Option<bool>,
    /// Schedule ICMP packets (ping the VIP through to a real server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_icmp: Option<bool>,
    /// Leave tunneled packets of unknown protocols alone (a director that is
    /// also a TUN real server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_tunneled: Option<bool>,
    /// Keep conntrack entries for IPVS connections (stateful firewall rules,
    /// source NAT). Fullnat real servers need it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<bool>,
    /// Answer packets from NAT real servers that match no entry with ICMP
    /// unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_icmp_send: Option<bool>,
    /// Route replies of NAT real servers as if the director sent them
    /// (policy routing). Kernel default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snat_reroute: Option<bool>,
    /// Stop directing traffic while the sync daemon runs as backup (DR/TUN
    /// loops between two directors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_only: Option<bool>,
    /// Sync a connection at this many incoming packets... (kernel 3; with
    /// `sync_period`, one kernel setting `sync_threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_threshold: Option<u32>,
    /// ...and again every this many (kernel 50; 0: once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_period: Option<u32>,
    /// Sync message format: 0 for very old backups, 1 (kernel default) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 1)]
    pub sync_version: Option<u8>,
    /// Sync threads (and UDP ports from 8848 up), a power of two up to 64;
    /// read when the sync daemon starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 64)]
    pub sync_ports: Option<u32>,
    /// Send (master) or receive (backup) buffer of the sync sockets, bytes;
    /// 0: the system's default. Read when the sync daemon starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_sock_size: Option<u32>,
}

/// One setting a director applies: its name under `net.ipv4.vs`, the
/// value as `/proc/sys` takes it, and whether it is lvsd's recommended
/// value rather than the spec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsSysctl {
    pub name: &'static str,
    pub value: String,
    pub recommended: bool,
}

impl IpvsSysctls {
    pub fn is_empty(&self) -> bool {
        *self == IpvsSysctls::default()
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if let Some(mode) = self.conn_reuse_mode
            && mode > 3
        {
            return Err(ValidationError::new(
                "conn_reuse_mode",
                format!(
                    "{mode} is not a mode: 0 (off), 1 (reschedule over TIME_WAIT entries), 3 (and over FIN_WAIT entries; 2 alone is 3)"
                ),
            ));
        }
        if let Some(version) = self.sync_version
            && version > 1
        {
            return Err(ValidationError::new(
                "sync_version",
                format!("{version} is not a sync protocol version: 0 or 1"),
            ));
        }
        if let Some(ports) = self.sync_ports
            && !(ports.is_power_of_two() && ports <= MAX_SYNC_PORTS)
        {
            return Err(ValidationError::new(
                "sync_ports",
                format!(
                    "{ports} sync ports: the kernel takes a power of two from 1 to {MAX_SYNC_PORTS}"
                ),
            ));
        }
        for (value, field) in [
            (self.sync_threshold, "sync_threshold"),
            (self.sync_period, "sync_period"),
            (self.sync_sock_size, "sync_sock_size"),
        ] {
            if let Some(v) = value
                && v > i32::MAX as u32
            {
                return Err(ValidationError::new(
                    field,
                    format!("{v} is out of range: at most {}", i32::MAX),
                ));
            }
        }
        if let Some((threshold, period)) = self.sync_pair()
            && period != 0
            && threshold >= period
        {
            let field = match self.sync_threshold {
                Some(_) => "sync_threshold",
                None => "sync_period",
            };
            return Err(ValidationError::new(
                field,
                format!(
                    "a connection syncs at packet {threshold} of every {period}: the threshold must be below the period (or the period 0: sync once)"
                ),
            ));
        }
        Ok(())
    }

    /// `sync_threshold` and `sync_period`, one kernel setting: the one left
    /// out takes the kernel's default. `None` when both are left out.
    fn sync_pair(&self) -> Option<(u32, u32)> {
        match (self.sync_threshold, self.sync_period) {
            (None, None) => None,
            (threshold, period) => Some((
                threshold.unwrap_or(KERNEL_SYNC_THRESHOLD),
                period.unwrap_or(KERNEL_SYNC_PERIOD),
            )),
        }
    }

    /// These settings with `own`'s on top, field by field (a director's).
    pub fn overlaid(&self, own: &IpvsSysctls) -> IpvsSysctls {
        IpvsSysctls {
            recommended: own.recommended.or(self.recommended),
            expire_nodest_conn: own.expire_nodest_conn.or(self.expire_nodest_conn),
            expire_quiescent_template: own
                .expire_quiescent_template
                .or(self.expire_quiescent_template),
            conn_reuse_mode: own.conn_reuse_mode.or(self.conn_reuse_mode),
            sloppy_tcp: own.sloppy_tcp.or(self.sloppy_tcp),
            sloppy_sctp: own.sloppy_sctp.or(self.sloppy_sctp),
            schedule_icmp: own.schedule_icmp.or(self.schedule_icmp),
            ignore_tunneled: own.ignore_tunneled.or(self.ignore_tunneled),
            conntrack: own.conntrack.or(self.conntrack),
            nat_icmp_send: own.nat_icmp_send.or(self.nat_icmp_send),
            snat_reroute: own.snat_reroute.or(self.snat_reroute),
            backup_only: own.backup_only.or(self.backup_only),
            sync_threshold: own.sync_threshold.or(self.sync_threshold),
            sync_period: own.sync_period.or(self.sync_period),
            sync_version: own.sync_version.or(self.sync_version),
            sync_ports: own.sync_ports.or(self.sync_ports),
            sync_sock_size: own.sync_sock_size.or(self.sync_sock_size),
        }
    }

    /// Whether lvsd's recommended values fill the fields left out.
    pub fn recommends(&self) -> bool {
        self.recommended != Some(false)
    }

    /// Every setting to apply, by kernel name: those given, then lvsd's
    /// recommended values of those left out (unless turned off).
    pub fn entries(&self) -> Vec<IpvsSysctl> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let given: [(&'static str, Option<String>); 15] = [
            ("expire_nodest_conn", self.expire_nodest_conn.map(flag)),
            (
                "expire_quiescent_template",
                self.expire_quiescent_template.map(flag),
            ),
            (
                "conn_reuse_mode",
                self.conn_reuse_mode.map(|m| m.to_string()),
            ),
            ("sloppy_tcp", self.sloppy_tcp.map(flag)),
            ("sloppy_sctp", self.sloppy_sctp.map(flag)),
            ("schedule_icmp", self.schedule_icmp.map(flag)),
            ("ignore_tunneled", self.ignore_tunneled.map(flag)),
            ("conntrack", self.conntrack.map(flag)),
            ("nat_icmp_send", self.nat_icmp_send.map(flag)),
            ("snat_reroute", self.snat_reroute.map(flag)),
            ("backup_only", self.backup_only.map(flag)),
            (
                "sync_threshold",
                self.sync_pair().map(|(t, p)| format!("{t} {p}")),
            ),
            ("sync_version", self.sync_version.map(|v| v.to_string())),
            ("sync_ports", self.sync_ports.map(|p| p.to_string())),
            ("sync_sock_size", self.sync_sock_size.map(|s| s.to_string())),
        ];
        let mut entries: Vec<IpvsSysctl> = given
            .into_iter()
            .filter_map(|(name, value)| {
                value.map(|value| IpvsSysctl {
                    name,
                    value,
                    recommended: false,
                })
            })
            .collect();
        if self.recommends() {
            for (name, value, _) in RECOMMENDED {
                if !entries.iter().any(|e| e.name == *name) {
                    entries.push(IpvsSysctl {
                        name,
                        value: value.to_string(),
                        recommended: true,
                    });
                }
            }
        }
        entries
    }
}

/// Why lvsd recommends the value of setting `name`, if it does.
pub fn recommendation(name: &str) -> Option<&'static str> {
    RECOMMENDED
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, why)| *why)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn parse(json: &str) -> Result<(), ValidationError> {
        let doc: IpvsSysctls =
            serde_json::from_str(json).map_err(|e| ValidationError::new("", e.to_string()))?;
        doc.validate()
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"conn_reuse_mode": 4}"#, "conn_reuse_mode"),
            (r#"{"sync_version": 2}"#, "sync_version"),
            (r#"{"sync_ports": 0}"#, "sync_ports"),
            (r#"{"sync_ports": 3}"#, "sync_ports"),
            (r#"{"sync_ports": 128}"#, "sync_ports"),
            (r#"{"sync_threshold": 50}"#, "sync_threshold"),
            (
                r#"{"sync_threshold": 10, "sync_period": 10}"#,
                "sync_threshold",
            ),
            (r#"{"sync_period": 3}"#, "sync_period"),
            (r#"{"sync_sock_size": 4294967295}"#, "sync_sock_size"),
        ];
        for (json, field) in cases {
            assert_eq!(parse(json).unwrap_err().field, field, "{json}");
        }
        for json in [
            r#"{"conn_reuse_mode": 3, "sync_version": 0, "sync_ports": 64}"#,
            r#"{"sync_threshold": 60, "sync_period": 0}"#,
            r#"{"sync_threshold": 0}"#,
            r#"{"sync_period": 4}"#,
        ] {
            assert_eq!(parse(json), Ok(()), "{json}");
        }
    }

    fn entries(json: &str) -> Vec<String> {
        let doc: IpvsSysctls = serde_json::from_str(json).unwrap();
        doc.entries()
            .into_iter()
            .map(|e| {
                let mark = if e.recommended { " (recommended)" } else { "" };
                format!("{}={}{mark}", e.name, e.value)
            })
            .collect()
    }

    #[test]
    fn entries_of_a_spec() {
        let cases: [(&str, &str, &[&str]); 5] = [
            (
                "nothing given: lvsd's recommended values",
                "{}",
                &[
                    "expire_nodest_conn=1 (recommended)",
                    "expire_quiescent_template=1 (recommended)",
                    "conn_reuse_mode=1 (recommended)",
                ],
            ),
            ("recommended off: nothing", r#"{"recommended": false}"#, &[]),
            (
                "a given field wins over the recommendation",
                r#"{"expire_nodest_conn": false, "sloppy_tcp": true}"#,
                &[
                    "expire_nodest_conn=0",
                    "sloppy_tcp=1",
                    "expire_quiescent_template=1 (recommended)",
                    "conn_reuse_mode=1 (recommended)",
                ],
            ),
            (
                "threshold alone takes the kernel's period",
                r#"{"recommended": false, "sync_threshold": 2}"#,
                &["sync_threshold=2 50"],
            ),
            (
                "every other field",
                r#"{"recommended": false, "sloppy_sctp": true, "schedule_icmp": true, "ignore_tunneled": false,
                    "conntrack": true, "nat_icmp_send": true, "snat_reroute": false, "backup_only": true,
                    "sync_period": 100, "sync_version": 0, "sync_ports": 4, "sync_sock_size": 1048576}"#,
                &[
                    "sloppy_sctp=1",
                    "schedule_icmp=1",
                    "ignore_tunneled=0",
                    "conntrack=1",
                    "nat_icmp_send=1",
                    "snat_reroute=0",
                    "backup_only=1",
                    "sync_threshold=3 100",
                    "sync_version=0",
                    "sync_ports=4",
                    "sync_sock_size=1048576",
                ],
            ),
        ];
        for (what, json, want) in cases {
            assert_eq!(entries(json), want, "{what}");
        }
    }

    #[test]
    fn a_director_overrides_field_by_field() {
        let spec: IpvsSysctls =
            serde_json::from_str(r#"{"sloppy_tcp": true, "conn_reuse_mode": 0}"#).unwrap();
        let own: IpvsSysctls =
            serde_json::from_str(r#"{"recommended": false, "conn_reuse_mode": 3}"#).unwrap();
        let both = spec.overlaid(&own);
        assert_eq!(both.sloppy_tcp, Some(true));
        assert_eq!(both.conn_reuse_mode, Some(3));
        assert!(!both.recommends());
    }

    proptest! {
        /// Whatever validates, the kernel takes: every value is in its range.
        #[test]
        fn valid_settings_are_in_the_kernels_ranges(
            mode in proptest::option::of(0u8..8),
            version in proptest::option::of(0u8..4),
            ports in proptest::option::of(0u32..200),
            threshold in proptest::option::of(0u32..120),
            period in proptest::option::of(0u32..120),
        ) {
            let doc = IpvsSysctls {
                conn_reuse_mode: mode,
                sync_version: version,
                sync_ports: ports,
                sync_threshold: threshold,
                sync_period: period,
                ..IpvsSysctls::default()
            };
            if doc.validate().is_ok() {
                prop_assert!(mode.is_none_or(|m| m <= 3));
                prop_assert!(version.is_none_or(|v| v <= 1));
                prop_assert!(ports.is_none_or(|p| (1..=64).contains(&p) && p.is_power_of_two()));
                if let Some((t, p)) = doc.sync_pair() {
                    prop_assert!(p == 0 || t < p);
                }
            }
        }
    }
}
