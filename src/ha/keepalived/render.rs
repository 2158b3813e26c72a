//! The keepalived configuration of one director: `global_defs`, one
//! `track_file`, the `vrrp_instance` blocks and their `vrrp_sync_group`,
//! nothing else. A pure function of the spec, so a revision that leaves
//! the `ha` section alone renders byte for byte the same text and the
//! agent does not reload keepalived for it.

use std::fmt::Write;
use std::net::IpAddr;

use super::Paths;
use crate::model::{HaSettings, Spec, VrrpInstanceDoc};

/// The `track_file` every instance follows.
pub const TRACK_FILE_NAME: &str = "lvsd_fault";
/// The sync group holding every instance, so they change state together.
pub const SYNC_GROUP_NAME: &str = "lvsd";
/// Suffix of the instance that carries an instance's internal VIP.
pub const INTERNAL_SUFFIX: &str = "_gw";

/// Gratuitous ARP defaults: a second burst one second after takeover, five
/// packets a burst, and a refresh every minute while master (switches that
/// forgot the VIP's MAC learn it again).
const GARP_MASTER_DELAY: u32 = 1;
const GARP_MASTER_REPEAT: u32 = 5;
const GARP_MASTER_REFRESH: u32 = 60;

/// Renders director `director`'s keepalived configuration, or `None` when
/// the spec has no `ha` section.
pub fn render(spec: &Spec, director: &str, paths: &Paths) -> Option<String> {
    let ha = spec.ha()?;
    let cluster_vips = spec.vips();
    let mut out = String::new();
    let w = &mut out;
    line(
        w,
        0,
        "# Rendered by lvsd agent; edits are overwritten. VRRP only: lvsd owns the IPVS table.",
    );
    line(w, 0, "global_defs {");
    line(w, 1, &format!("router_id {director}"));
    line(w, 1, "vrrp_version 3");
    line(
        w,
        1,
        &format!("vrrp_notify_fifo {}", paths.notify_fifo().display()),
    );
    // A master that hears a lower-priority master answers at once, so a
    // healed split brain settles in one advert instead of a timeout.
    line(w, 1, "vrrp_higher_prio_send_advert true");
    line(w, 0, "}");
    line(w, 0, "");
    line(w, 0, &format!("track_file {TRACK_FILE_NAME} {{"));
    line(w, 1, &format!("file {}", paths.track_file().display()));
    // Weight 0: any value but 0 is a fault, whatever the priority and the
    // preemption, so a faulty or stepping-down master always lets go.
    line(w, 1, "weight 0");
    line(w, 1, "init_file 0");
    line(w, 0, "}");

    let mut members = Vec::new();
    for instance in ha.instances() {
        let vips = HaSettings::vips_of(instance, &cluster_vips);
        let peers = ha.peers_of(instance, director);
        let source = ha.directors().get(director).copied();
        line(w, 0, "");
        let advert = Advert {
            source: (!peers.is_empty()).then_some(source).flatten(),
            peers: &peers,
        };
        write_instance(
            w,
            &instance.name,
            instance,
            director,
            &instance.interface,
            &vips,
            &advert,
            instance.virtual_router_id,
        );
        members.push(instance.name.clone());
        if let Some(internal) = &instance.internal_vip {
            let name = format!("{}{INTERNAL_SUFFIX}", instance.name);
            let prefix = internal
                .prefix_len
                .unwrap_or(if internal.address.is_ipv4() { 32 } else { 128 });
            line(w, 0, "");
            // The real servers' side has no director addresses: multicast.
            let advert = Advert {
                source: None,
                peers: &[],
            };
            write_instance_with(
                w,
                &name,
                instance,
                director,
                &internal.interface,
                &[(internal.address, prefix)],
                &advert,
                internal.virtual_router_id,
            );
            members.push(name);
        }
    }
    if members.len() > 1 {
        line(w, 0, "");
        line(w, 0, &format!("vrrp_sync_group {SYNC_GROUP_NAME} {{"));
        line(w, 1, "group {");
        for member in &members {
            line(w, 2, member);
        }
        line(w, 1, "}");
        line(w, 0, "}");
    }
    Some(out)
}

struct Advert<'a> {
    source: Option<IpAddr>,
    peers: &'a [IpAddr],
}

#[allow(clippy::too_many_arguments)]
fn write_instance(
    w: &mut String,
    name: &str,
    instance: &VrrpInstanceDoc,
    director: &str,
    interface: &str,
    vips: &[IpAddr],
    advert: &Advert,
    vrid: u32,
) {
    let vips: Vec<(IpAddr, u8)> = vips
        .iter()
        .map(|a| (*a, if a.is_ipv4() { 32 } else { 128 }))
        .collect();
    write_instance_with(w, name, instance, director, interface, &vips, advert, vrid);
}

#[allow(clippy::too_many_arguments)]
fn write_instance_with(
    w: &mut String,
    name: &str,
    instance: &VrrpInstanceDoc,
    director: &str,
    interface: &str,
    vips: &[(IpAddr, u8)],
    advert: &Advert,
    vrid: u32,
) {
    line(w, 0, &format!("vrrp_instance {name} {{"));
    // Every director starts as backup; the election makes one master.
    line(w, 1, "state BACKUP");
    line(w, 1, &format!("interface {interface}"));
    line(w, 1, &format!("virtual_router_id {vrid}"));
    line(
        w,
        1,
        &format!("priority {}", instance.priority_of(director)),
    );
    line(
        w,
        1,
        &format!("advert_int {}", seconds(instance.advert_interval_ms())),
    );
    if instance.preempt {
        if let Some(delay) = instance.preempt_delay_secs {
            line(w, 1, &format!("preempt_delay {delay}"));
        }
    } else {
        line(w, 1, "nopreempt");
    }
    if let Some(source) = advert.source {
        line(w, 1, &format!("unicast_src_ip {source}"));
    }
    if !advert.peers.is_empty() {
        line(w, 1, "unicast_peer {");
        for peer in advert.peers {
            line(w, 2, &peer.to_string());
        }
        line(w, 1, "}");
    }
    // VRRP carries addresses of one family; the other family's VIPs move
    // with the instance without being advertised.
    let family_v4 = advert
        .source
        .or_else(|| advert.peers.first().copied())
        .or_else(|| vips.first().map(|(a, _)| *a))
        .is_none_or(|a| a.is_ipv4());
    let (carried, excluded): (Vec<_>, Vec<_>) =
        vips.iter().partition(|(a, _)| a.is_ipv4() == family_v4);
    for (block, list) in [
        ("virtual_ipaddress", carried),
        ("virtual_ipaddress_excluded", excluded),
    ] {
        if list.is_empty() {
            continue;
        }
        line(w, 1, &format!("{block} {{"));
        for (address, prefix) in list {
            line(w, 2, &format!("{address}/{prefix} dev {interface}"));
        }
        line(w, 1, "}");
    }
    // keepalived tracks the instance's own interface already.
    let tracked: Vec<_> = instance
        .track_interfaces
        .iter()
        .filter(|t| *t != interface)
        .collect();
    if !tracked.is_empty() {
        line(w, 1, "track_interface {");
        for tracked in tracked {
            line(w, 2, tracked);
        }
        line(w, 1, "}");
    }
    line(w, 1, "track_file {");
    line(w, 2, TRACK_FILE_NAME);
    line(w, 1, "}");
    let garp = instance.garp.unwrap_or_default();
    line(
        w,
        1,
        &format!(
            "garp_master_delay {}",
            garp.master_delay_secs.unwrap_or(GARP_MASTER_DELAY)
        ),
    );
    line(
        w,
        1,
        &format!(
            "garp_master_repeat {}",
            garp.master_repeat.unwrap_or(GARP_MASTER_REPEAT)
        ),
    );
    let refresh = garp.master_refresh_secs.unwrap_or(GARP_MASTER_REFRESH);
    if refresh > 0 {
        line(w, 1, &format!("garp_master_refresh {refresh}"));
    }
    line(w, 0, "}");
}

/// Milliseconds as keepalived's seconds (`0.2`, `1`, `2.5`).
fn seconds(ms: u32) -> String {
    match ms % 1000 {
        0 => (ms / 1000).to_string(),
        frac => format!(
            "{}.{}",
            ms / 1000,
            format!("{frac:03}").trim_end_matches('0')
        ),
    }
}

fn line(w: &mut String, depth: usize, text: &str) {
    let _ = writeln!(w, "{:indent$}{text}", "", indent = depth * 4);
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    const SERVICES: &str = r#""services":[{"id":"tcp:172.25.0.100:80"},{"id":"tcp:172.25.0.100:443"},{"id":"tcp:[fd00:25::100]:80"},{"fwmark":3}]"#;

    fn spec(ha: &str) -> Spec {
        Spec::from_json(format!(r#"{{{SERVICES},"ha":{ha}}}"#).as_bytes()).unwrap()
    }

    fn paths() -> Paths {
        Paths::new("/run/lvsd/ha/web")
    }

    /// (case name, director, `ha` section)
    const CASES: &[(&str, &str, &str)] = &[
        (
            "defaults_unicast",
            "d1",
            r#"{"directors":{"d1":"172.25.0.1","d2":"172.25.0.2"},
                "vrrp":[{"name":"VI_1","virtual_router_id":51,"interface":"br0","priority":{"d1":150}}]}"#,
        ),
        (
            "defaults_unicast_backup",
            "d2",
            r#"{"directors":{"d1":"172.25.0.1","d2":"172.25.0.2"},
                "vrrp":[{"name":"VI_1","virtual_router_id":51,"interface":"br0","priority":{"d1":150}}]}"#,
        ),
        (
            "multicast_subsecond_preempt",
            "d1",
            r#"{"vrrp":[{"name":"VI_1","virtual_router_id":7,"interface":"eth0","advert_interval_ms":250,
                "vips":["172.25.0.100"],"preempt":true,"preempt_delay_secs":10,
                "track_interfaces":["eth1"],"garp":{"master_repeat":2,"master_refresh_secs":0}}]}"#,
        ),
        (
            "nat_internal_vip_sync_group",
            "d2",
            r#"{"directors":{"d1":"192.168.31.11","d2":"192.168.31.12","d3":"192.168.31.13"},
                "vrrp":[{"name":"VI_1","virtual_router_id":51,"interface":"eth0","vips":["192.168.31.100"],
                "internal_vip":{"address":"172.25.0.254","prefix_len":24,"interface":"eth1","virtual_router_id":52}}],
                "sync":{"interface":"eth1","syncid":5}}"#,
        ),
        (
            "explicit_peers_two_instances",
            "d1",
            r#"{"directors":{"d1":"172.25.0.1"},
                "vrrp":[{"name":"VI_1","virtual_router_id":51,"interface":"br0","unicast_peers":["172.25.0.9"],"advert_interval_ms":1500},
                        {"name":"VI_2","virtual_router_id":52,"interface":"br0","vips":["172.25.0.101"]}]}"#,
        ),
    ];

    #[test]
    fn renders_vrrp_blocks_only() {
        for (name, director, ha) in CASES {
            let text = render(&spec(ha), director, &paths()).unwrap();
            assert!(!text.contains("virtual_server"), "{name}");
            assert!(!text.contains("vrrp_strict"), "{name}");
            insta::assert_snapshot!(*name, text);
        }
    }

    #[test]
    fn no_ha_section_renders_nothing() {
        let spec = Spec::from_json(format!("{{{SERVICES}}}").as_bytes()).unwrap();
        assert_eq!(render(&spec, "d1", &paths()), None);
    }

    #[test]
    fn intervals_read_as_seconds() {
        for (ms, text) in [
            (10, "0.01"),
            (200, "0.2"),
            (1000, "1"),
            (1250, "1.25"),
            (40950, "40.95"),
        ] {
            assert_eq!(seconds(ms), text);
        }
    }

    /// keepalived itself (Debian's, as in the VM and CI) accepts every
    /// rendered case; `-t` checks that interfaces exist (and refuses `lo`),
    /// so the cases speak on one of this host's own interfaces here.
    #[test]
    fn keepalived_accepts_what_is_rendered() {
        let dir = tempfile::tempdir().unwrap();
        let mut links: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "lo")
            .collect();
        links.sort();
        let link = links.first().expect("a network interface besides lo");
        for (name, director, ha) in CASES {
            let paths = Paths::new(dir.path());
            let here = ha
                .replace("br0", link)
                .replace("eth0", link)
                .replace("eth1", link);
            let text = render(&spec(&here), director, &paths).unwrap();
            std::fs::write(paths.config(), &text).unwrap();
            let out = Command::new("keepalived")
                .args(paths.check_args())
                .output()
                .expect("keepalived is installed (apt-get install keepalived)");
            assert!(
                out.status.success(),
                "{name}: keepalived -t refused it:\n{}\n{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
