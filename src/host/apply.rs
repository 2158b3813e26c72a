//! Makes the host match a plan, and takes back what lvsd added when the plan
//! no longer asks for it. Each change is recorded in the state before the
//! next one, so a failure halfway leaves records of everything done.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::nft::{self, NftFamily};
use super::plan::{
    HostPlan, IPVS_SYSCTLS, PlannedAddress, PlannedLink, PlannedSysctl, sysctl_name,
};
use super::rtnl::{Link, LinkKind, Rtnl};
use super::state::{ChangedSysctl, HostState, NftTable};
use super::{Change, HostError, HostReport, sysctl};
use crate::model::AddressFamily;

/// Applies `plan` to this host (its network namespace), recording in
/// `state` what lvsd adds, and removing what lvsd added before that the plan
/// no longer has.
pub fn apply(plan: &HostPlan, state: &mut HostState) -> Result<HostReport, HostError> {
    let mut rtnl =
        Rtnl::open().map_err(|e| HostError::netlink("opening an rtnetlink socket", e))?;
    let mut report = HostReport {
        notes: plan.notes.clone(),
        ..HostReport::default()
    };
    release(&mut rtnl, state, plan, &mut report)?;
    for link in &plan.links {
        ensure_link(&mut rtnl, state, link, &mut report)?;
    }
    // Settings before addresses: a real server must never answer ARP for a
    // VIP, not even for the moment between the two.
    ensure_sysctls(&plan.sysctls, state, &mut report)?;
    ensure_addresses(&mut rtnl, state, &plan.addresses, &mut report)?;
    for family in [NftFamily::Ip, NftFamily::Ip6] {
        let rules = plan
            .snat
            .iter()
            .filter(|r| NftFamily::of(r.family()) == family)
            .count();
        if rules == 0 {
            continue;
        }
        let script = nft::render(family, &plan.snat, plan.snat_address);
        let digest = hex::encode(Sha256::digest(script.as_bytes()));
        let recorded = state
            .records
            .nft_tables
            .iter()
            .any(|t| t.family == family && t.sha256 == digest);
        if recorded && nft::exists(family) {
            continue;
        }
        nft::run(&script).map_err(HostError::Nft)?;
        state.records.nft_tables.retain(|t| t.family != family);
        state.records.nft_tables.push(NftTable {
            family,
            sha256: digest,
        });
        state.save().map_err(HostError::State)?;
        let target = plan.snat_target(match family {
            NftFamily::Ip => AddressFamily::Ipv4,
            NftFamily::Ip6 => AddressFamily::Ipv6,
        });
        report.changes.push(Change::NftWritten {
            family,
            rules,
            target,
        });
    }
    Ok(report)
}

/// Applies only the IPVS settings of `plan` (`net.ipv4.vs.*`), and restores
/// those lvsd set before that the plan no longer has; everything else the
/// records hold stays as it is (the local director, beside `lvsd host`).
pub fn apply_ipvs_sysctls(plan: &HostPlan, state: &mut HostState) -> Result<HostReport, HostError> {
    let ipvs = |path: &str| path.starts_with(IPVS_SYSCTLS);
    let wanted: Vec<PlannedSysctl> = plan
        .sysctls
        .iter()
        .filter(|s| ipvs(&s.path))
        .cloned()
        .collect();
    let mut report = HostReport::default();
    release_sysctls(state, &wanted, ipvs, &mut report)?;
    ensure_sysctls(&wanted, state, &mut report)?;
    Ok(report)
}

/// Sets each setting that differs, recording the value it had before the
/// first time lvsd changes it. A setting changed behind lvsd's back since
/// is put back (its record keeps the value from before lvsd).
fn ensure_sysctls(
    wanted: &[PlannedSysctl],
    state: &mut HostState,
    report: &mut HostReport,
) -> Result<(), HostError> {
    for wanted in wanted {
        let current = sysctl::read(&wanted.path)?;
        if sysctl::same_value(&current, &wanted.value) {
            continue;
        }
        // Recorded first: the previous value must survive a crash right after the write.
        let first_change = !state.records.sysctls.iter().any(|s| s.path == wanted.path);
        if first_change {
            state.records.sysctls.push(ChangedSysctl {
                path: wanted.path.clone(),
                previous: current.clone(),
                value: wanted.value.clone(),
                reason: wanted.reason.to_string(),
            });
            state.save().map_err(HostError::State)?;
        }
        if let Err(e) = sysctl::write(&wanted.path, &wanted.value) {
            if first_change {
                state.records.sysctls.retain(|s| s.path != wanted.path);
                state.save().map_err(HostError::State)?;
            }
            return Err(e);
        }
        report.changes.push(Change::Sysctl {
            name: sysctl_name(&wanted.path),
            from: current,
            to: wanted.value.clone(),
            reason: wanted.reason,
        });
    }
    Ok(())
}

/// Removes everything lvsd added and restores the settings it changed.
pub fn clean(state: &mut HostState) -> Result<HostReport, HostError> {
    let mut rtnl =
        Rtnl::open().map_err(|e| HostError::netlink("opening an rtnetlink socket", e))?;
    let mut report = HostReport::default();
    release(&mut rtnl, state, &HostPlan::default(), &mut report)?;
    Ok(report)
}

/// This host's addresses, less those lvsd added (a VIP lvsd put on `lo` does
/// not make this host a real server of that address).
pub fn local_addresses(state: &HostState) -> Result<BTreeSet<IpAddr>, HostError> {
    let mut rtnl =
        Rtnl::open().map_err(|e| HostError::netlink("opening an rtnetlink socket", e))?;
    let added: BTreeSet<IpAddr> = state.records.addresses.iter().map(|a| a.address).collect();
    Ok(rtnl
        .addresses()
        .map_err(|e| HostError::netlink("listing addresses", e))?
        .into_iter()
        .map(|a| a.address)
        .filter(|a| !added.contains(a))
        .collect())
}

/// Takes back what the records hold and `plan` does not: addresses first,
/// then source NAT tables, settings, and last the interfaces.
fn release(
    rtnl: &mut Rtnl,
    state: &mut HostState,
    plan: &HostPlan,
    report: &mut HostReport,
) -> Result<(), HostError> {
    let stale: Vec<PlannedAddress> = state
        .records
        .addresses
        .iter()
        .filter(|a| !plan.addresses.contains(a))
        .cloned()
        .collect();
    if !stale.is_empty() {
        let links = list_links(rtnl)?;
        let present = rtnl
            .addresses()
            .map_err(|e| HostError::netlink("listing addresses", e))?;
        for address in stale {
            let link = links.iter().find(|l| l.name == address.interface);
            if let Some(link) = link
                && present
                    .iter()
                    .any(|a| a.index == link.index && a.address == address.address)
            {
                rtnl.delete_address(link.index, address.address, address.prefix())
                    .map_err(|e| HostError::netlink(format!("removing {address}"), e))?;
                report.changes.push(Change::AddressRemoved(address.clone()));
            }
            state.records.addresses.retain(|a| *a != address);
            state.save().map_err(HostError::State)?;
        }
    }

    let stale: Vec<NftFamily> = state
        .records
        .nft_tables
        .iter()
        .map(|t| t.family)
        .filter(|family| {
            !plan
                .snat
                .iter()
                .any(|r| NftFamily::of(r.family()) == *family)
        })
        .collect();
    for family in stale {
        nft::run(&nft::render_delete(family)).map_err(HostError::Nft)?;
        report.changes.push(Change::NftDeleted(family));
        state.records.nft_tables.retain(|t| t.family != family);
        state.save().map_err(HostError::State)?;
    }

    release_sysctls(state, &plan.sysctls, |_| true, report)?;

    let wanted = |name: &str| plan.links.iter().any(|l| l.name == name);
    let raised: Vec<String> = state
        .records
        .raised_links
        .iter()
        .filter(|n| !wanted(n))
        .cloned()
        .collect();
    let created: Vec<String> = state
        .records
        .created_links
        .iter()
        .filter(|n| !wanted(n))
        .cloned()
        .collect();
    if !raised.is_empty() || !created.is_empty() {
        let links = list_links(rtnl)?;
        for name in raised {
            if let Some(link) = links.iter().find(|l| l.name == name && l.up) {
                rtnl.set_up(link.index, false)
                    .map_err(|e| HostError::netlink(format!("setting {name} down"), e))?;
                report.changes.push(Change::LinkDown(name.clone()));
            }
            state.records.raised_links.retain(|n| *n != name);
            state.save().map_err(HostError::State)?;
        }
        for name in created {
            if let Some(link) = links.iter().find(|l| l.name == name) {
                rtnl.delete_link(link.index)
                    .map_err(|e| HostError::netlink(format!("deleting interface {name}"), e))?;
                report.changes.push(Change::LinkDeleted(name.clone()));
            }
            state.records.created_links.retain(|n| *n != name);
            state.save().map_err(HostError::State)?;
        }
    }
    Ok(())
}

/// Restores the settings lvsd changed (those `scope` takes) that `wanted`
/// no longer has, unless someone changed them since.
fn release_sysctls(
    state: &mut HostState,
    wanted: &[PlannedSysctl],
    scope: impl Fn(&str) -> bool,
    report: &mut HostReport,
) -> Result<(), HostError> {
    let stale: Vec<ChangedSysctl> = state
        .records
        .sysctls
        .iter()
        .filter(|s| scope(&s.path) && !wanted.iter().any(|p| p.path == s.path))
        .cloned()
        .collect();
    for changed in stale {
        let name = sysctl_name(&changed.path);
        match sysctl::read(&changed.path) {
            Ok(current) if sysctl::same_value(&current, &changed.value) => {
                sysctl::write(&changed.path, &changed.previous)?;
                report.changes.push(Change::SysctlRestored { name, to: changed.previous.clone() });
            }
            Ok(current) => report.notes.push(format!(
                "{name} is {current}, not the {} lvsd set: someone changed it since, so lvsd leaves it",
                changed.value
            )),
            Err(_) => {}
        }
        state.records.sysctls.retain(|s| s.path != changed.path);
        state.save().map_err(HostError::State)?;
    }

    Ok(())
}

fn list_links(rtnl: &mut Rtnl) -> Result<Vec<Link>, HostError> {
    rtnl.links()
        .map_err(|e| HostError::netlink("listing interfaces", e))
}

fn ensure_link(
    rtnl: &mut Rtnl,
    state: &mut HostState,
    wanted: &PlannedLink,
    report: &mut HostReport,
) -> Result<(), HostError> {
    let name = &wanted.name;
    let link = match list_links(rtnl)?.into_iter().find(|l| l.name == *name) {
        Some(link) => link,
        None => {
            match wanted.kind {
                LinkKind::Dummy => {
                    rtnl.create_link(name, LinkKind::Dummy).map_err(|e| {
                        HostError::netlink(format!("creating dummy interface {name}"), e)
                    })?;
                    state.records.created_links.push(name.clone());
                    state.save().map_err(HostError::State)?;
                    report.changes.push(Change::LinkCreated(name.clone()));
                }
                LinkKind::IpipFallback => match rtnl.create_link(name, LinkKind::IpipFallback) {
                    // Loading ipip created tunl0 before this request could.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(HostError::netlink(
                            format!("loading the ipip module for {name}"),
                            e,
                        ));
                    }
                    Ok(()) => {}
                },
            }
            list_links(rtnl)?.into_iter().find(|l| l.name == *name).ok_or_else(|| {
                HostError::Missing(format!("interface {name} did not appear after creating it (is the ipip or dummy module available?)"))
            })?
        }
    };
    if !link.up {
        let created = state.records.created_links.contains(name);
        rtnl.set_up(link.index, true)
            .map_err(|e| HostError::netlink(format!("setting {name} up"), e))?;
        if !created && !state.records.raised_links.contains(name) {
            state.records.raised_links.push(name.clone());
            state.save().map_err(HostError::State)?;
        }
        if !created {
            report.changes.push(Change::LinkUp(name.clone()));
        }
    }
    Ok(())
}

fn ensure_addresses(
    rtnl: &mut Rtnl,
    state: &mut HostState,
    wanted: &[PlannedAddress],
    report: &mut HostReport,
) -> Result<(), HostError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let links = list_links(rtnl)?;
    let present = rtnl
        .addresses()
        .map_err(|e| HostError::netlink("listing addresses", e))?;
    for address in wanted {
        let link = links
            .iter()
            .find(|l| l.name == address.interface)
            .ok_or_else(|| {
                HostError::Missing(format!(
                    "interface {} does not exist, so {} cannot be bound",
                    address.interface, address.address
                ))
            })?;
        // Already there (lvsd's, or the administrator's, which lvsd then never removes).
        if present
            .iter()
            .any(|a| a.index == link.index && a.address == address.address)
        {
            continue;
        }
        rtnl.add_address(link.index, address.address, address.prefix())
            .map_err(|e| HostError::netlink(format!("adding {address}"), e))?;
        if !state.records.addresses.contains(address) {
            state.records.addresses.push(address.clone());
            state.save().map_err(HostError::State)?;
        }
        report.changes.push(Change::AddressAdded(address.clone()));
    }
    Ok(())
}
