//! Host settings of a spec: what directors and real servers need beyond the
//! IPVS table (VIPs bound to an interface, forwarding, the source NAT that
//! completes fullnat), and what one director does differently from the rest.
//!
//! `lvsd host` and the engines read them; the IPVS table itself never
//! depends on them, and ipvsadm import/export leave them out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ipvs_sysctls::IpvsSysctls;
use super::spec::Timeouts;
use super::{SyncDaemon, SyncDaemonDoc, ValidationError};

/// The dummy interface directors bind VIPs on unless told otherwise.
pub const DEFAULT_VIP_INTERFACE: &str = "lvs0";
/// `vip_interface` value meaning "do not bind VIPs on this director".
pub const NO_VIP_INTERFACE: &str = "none";

/// Host settings as clients send and receive them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostDoc {
    /// Interface the directors bind every VIP on (/32, /128); created as a
    /// dummy interface when missing. `"none"`: bind no VIPs. Default `lvs0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "lvs0")]
    pub vip_interface: Option<String>,
    /// Turn on forwarding (`net.ipv4.ip_forward`, and IPv6's for IPv6
    /// services). Left out: on when a nat or fullnat real server exists;
    /// `false`: lvsd leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_forward: Option<bool>,
    /// Source address of packets a director forwards to fullnat real servers
    /// (its family only; the other family masquerades). Left out: masquerade
    /// to the address of the outgoing interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "172.25.0.1")]
    pub snat_address: Option<IpAddr>,
    /// IPVS's own settings (`net.ipv4.vs.*`) on every director. Left out:
    /// lvsd's recommended values (see `recommended`).
    #[serde(default, skip_serializing_if = "IpvsSysctls::is_empty")]
    pub ipvs_sysctls: IpvsSysctls,
    /// What a director, by name, does differently from the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directors: BTreeMap<String, DirectorHostDoc>,
}

/// One director's own settings; a field left out follows the spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorHostDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_forward: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub snat_address: Option<IpAddr>,
    /// This director's sync daemons instead of the spec's (`[]`: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_daemons: Option<Vec<SyncDaemonDoc>>,
    /// Timeouts this director sets differently, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// IPVS settings this director sets differently, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvs_sysctls: Option<IpvsSysctls>,
}

/// Where a director binds its VIPs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VipInterface {
    Interface(String),
    /// The VIPs are local some other way (or the services are firewall marks).
    None,
}

impl VipInterface {
    fn parse(name: &str) -> Result<Self, ValidationError> {
        if name == NO_VIP_INTERFACE {
            return Ok(VipInterface::None);
        }
        check_interface_name(name)?;
        Ok(VipInterface::Interface(name.to_string()))
    }

    fn to_doc(&self) -> String {
        match self {
            VipInterface::Interface(name) => name.clone(),
            VipInterface::None => NO_VIP_INTERFACE.to_string(),
        }
    }
}

/// Validated host settings (the whole `host` section).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct HostSettings {
    vip_interface: Option<VipInterface>,
    ip_forward: Option<bool>,
    snat_address: Option<IpAddr>,
    ipvs_sysctls: IpvsSysctls,
    directors: BTreeMap<String, DirectorHost>,
}

/// Validated settings of one director.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DirectorHost {
    vip_interface: Option<VipInterface>,
    ip_forward: Option<bool>,
    snat_address: Option<IpAddr>,
    pub sync_daemons: Option<Vec<SyncDaemon>>,
    pub timeouts: Option<Timeouts>,
    ipvs_sysctls: Option<IpvsSysctls>,
}

/// The host settings one director applies: the spec's with its own on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorSettings {
    pub vip_interface: VipInterface,
    /// `None`: on when the spec has nat or fullnat real servers.
    pub ip_forward: Option<bool>,
    pub snat_address: Option<IpAddr>,
    /// The spec's IPVS settings with the director's own on top.
    pub ipvs_sysctls: IpvsSysctls,
}

impl HostDoc {
    pub fn is_empty(&self) -> bool {
        *self == HostDoc::default()
    }

    /// Validates everything but what needs the services (the sync daemons'
    /// address families): `Spec` checks that.
    pub fn validate(&self) -> Result<HostSettings, ValidationError> {
        let vip_interface = parse_interface(self.vip_interface.as_deref())?;
        check_snat(self.snat_address)?;
        self.ipvs_sysctls
            .validate()
            .map_err(|e| e.within("ipvs_sysctls"))?;
        let mut directors = BTreeMap::new();
        for (name, doc) in &self.directors {
            check_director_name(name).map_err(|e| e.within("directors"))?;
            let director = doc
                .validate()
                .map_err(|e| e.within(format!("directors.{name}")))?;
            directors.insert(name.clone(), director);
        }
        Ok(HostSettings {
            vip_interface,
            ip_forward: self.ip_forward,
            snat_address: self.snat_address,
            ipvs_sysctls: self.ipvs_sysctls,
            directors,
        })
    }
}

impl DirectorHostDoc {
    fn validate(&self) -> Result<DirectorHost, ValidationError> {
        let vip_interface = parse_interface(self.vip_interface.as_deref())?;
        check_snat(self.snat_address)?;
        let sync_daemons = match &self.sync_daemons {
            Some(docs) => Some(
                docs.iter()
                    .enumerate()
                    .map(|(i, doc)| {
                        doc.validate()
                            .map_err(|e| e.within(format!("sync_daemons[{i}]")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        if let Some(timeouts) = &self.timeouts {
            timeouts.validate().map_err(|e| e.within("timeouts"))?;
        }
        if let Some(sysctls) = &self.ipvs_sysctls {
            sysctls.validate().map_err(|e| e.within("ipvs_sysctls"))?;
        }
        Ok(DirectorHost {
            vip_interface,
            ip_forward: self.ip_forward,
            snat_address: self.snat_address,
            sync_daemons,
            timeouts: self.timeouts,
            ipvs_sysctls: self.ipvs_sysctls,
        })
    }
}

fn parse_interface(name: Option<&str>) -> Result<Option<VipInterface>, ValidationError> {
    name.map(VipInterface::parse)
        .transpose()
        .map_err(|e| e.within("vip_interface"))
}

fn check_snat(address: Option<IpAddr>) -> Result<(), ValidationError> {
    match address {
        Some(a) if a.is_unspecified() || a.is_multicast() || a.is_loopback() => {
            Err(ValidationError::new(
                "snat_address",
                format!(
                    "{a} cannot be a source address on the wire: give one of the director's unicast addresses, or leave it out to masquerade"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Interface names as the kernel takes them (`dev_valid_name`).
pub(crate) fn check_interface_name(name: &str) -> Result<(), ValidationError> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "",
            format!(
                "`{name}` is not an interface name: 1 to 15 characters, no '/', ':' or spaces (\"{NO_VIP_INTERFACE}\" binds no VIPs)"
            ),
        ))
    }
}

pub(crate) fn check_director_name(name: &str) -> Result<(), ValidationError> {
    let valid = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if valid {
        Ok(())
    } else {
        Err(ValidationError::new(
            "",
            format!(
                "`{name}` is not a director name: 1 to 63 characters of letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ))
    }
}

impl HostSettings {
    pub fn is_empty(&self) -> bool {
        *self == HostSettings::default()
    }

    /// The spec's IPVS settings (a director's own come from [`Self::for_director`]).
    pub fn ipvs_sysctls(&self) -> &IpvsSysctls {
        &self.ipvs_sysctls
    }

    pub fn directors(&self) -> &BTreeMap<String, DirectorHost> {
        &self.directors
    }

    /// The settings director `name` applies (a director the spec does not
    /// name follows the spec's settings).
    pub fn for_director(&self, name: &str) -> DirectorSettings {
        let own = self.directors.get(name);
        let vip_interface = own
            .and_then(|d| d.vip_interface.clone())
            .or_else(|| self.vip_interface.clone())
            .unwrap_or_else(|| VipInterface::Interface(DEFAULT_VIP_INTERFACE.to_string()));
        DirectorSettings {
            vip_interface,
            ip_forward: own.and_then(|d| d.ip_forward).or(self.ip_forward),
            snat_address: own.and_then(|d| d.snat_address).or(self.snat_address),
            ipvs_sysctls: match own.and_then(|d| d.ipvs_sysctls.as_ref()) {
                Some(own) => self.ipvs_sysctls.overlaid(own),
                None => self.ipvs_sysctls,
            },
        }
    }

    pub fn to_doc(&self) -> HostDoc {
        HostDoc {
            vip_interface: self.vip_interface.as_ref().map(VipInterface::to_doc),
            ip_forward: self.ip_forward,
            snat_address: self.snat_address,
            ipvs_sysctls: self.ipvs_sysctls,
            directors: self
                .directors
                .iter()
                .map(|(name, d)| (name.clone(), d.to_doc()))
                .collect(),
        }
    }
}

impl DirectorHost {
    fn to_doc(&self) -> DirectorHostDoc {
        DirectorHostDoc {
            vip_interface: self.vip_interface.as_ref().map(VipInterface::to_doc),
            ip_forward: self.ip_forward,
            snat_address: self.snat_address,
            sync_daemons: self.sync_daemons.clone(),
            timeouts: self.timeouts,
            ipvs_sysctls: self.ipvs_sysctls,
        }
    }
}
