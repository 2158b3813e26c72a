//! The cluster's high availability as every director's latest report
//! shows it: per VRRP instance, who is master, backup or in fault, and the
//! two states no single director can see, no master and two masters.
//! Pure: from the directors' latest reports to the view.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contract::agent::{HaReport, VrrpState};

/// One director's latest HA state, as the view is computed from it.
#[derive(Debug, Clone)]
pub struct HaSource {
    pub director: String,
    /// No report for three report intervals: shown, but it counts for no flag.
    pub stale: bool,
    /// `None`: not heard from since this server started (SQLite keeps live
    /// reports in memory); `Some(None)`: it reports no HA state.
    pub report: Option<Option<HaReport>>,
}

/// One director's part in a VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HaMember {
    pub director: String,
    pub state: VrrpState,
    /// Since when, RFC 3339.
    pub since: String,
    /// The priority it advertises now.
    pub priority: u8,
    /// State changes it saw since its agent started.
    pub transitions: u64,
    /// No report for three intervals: its state is as last reported, and it
    /// counts for no flag.
    pub stale: bool,
}

/// A VRRP instance across the cluster's directors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HaInstance {
    /// The instance's name in the spec.
    pub instance: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Directors (not stale) in each state; more than one master is a split brain.
    pub masters: Vec<String>,
    pub backups: Vec<String>,
    pub faults: Vec<String>,
    /// Every director that reports the instance, stale ones included, by name.
    pub directors: Vec<HaMember>,
    /// Directors report the instance and none of them is master (judged once
    /// every fresh director has reported since the server started).
    pub no_master: bool,
    /// Two or more directors are master at once: both answer for the VIPs.
    pub split_brain: bool,
}

/// A flag the server raises on a VRRP instance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HaFlag {
    NoMaster,
    SplitBrain,
}

impl HaFlag {
    pub fn as_str(self) -> &'static str {
        match self {
            HaFlag::NoMaster => "no_master",
            HaFlag::SplitBrain => "split_brain",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "no_master" => Some(HaFlag::NoMaster),
            "split_brain" => Some(HaFlag::SplitBrain),
            _ => None,
        }
    }
}

/// A flag on one instance: `(instance, vrid, flag)`.
pub type FlagKey = (String, u8, HaFlag);

/// The lowercase name keepalived gives a state.
pub fn state_name(state: VrrpState) -> &'static str {
    match state {
        VrrpState::Master => "master",
        VrrpState::Backup => "backup",
        VrrpState::Fault => "fault",
        VrrpState::Stopped => "stopped",
    }
}

/// Every state, for one metric series per state.
pub const STATES: [VrrpState; 4] = [
    VrrpState::Master,
    VrrpState::Backup,
    VrrpState::Fault,
    VrrpState::Stopped,
];

/// The directors not heard from since this server started that are not
/// stale: until they report, an instance without a master may just be
/// waiting for its master's report, so `no_master` is not judged.
pub fn pending(sources: &[HaSource]) -> Vec<String> {
    let mut names: Vec<String> = sources
        .iter()
        .filter(|s| !s.stale && s.report.is_none())
        .map(|s| s.director.clone())
        .collect();
    names.sort();
    names
}

/// The VRRP instances of the cluster, grouped by name and virtual router
/// id, in that order, with their flags.
pub fn instances(sources: &[HaSource]) -> Vec<HaInstance> {
    let undecided = !pending(sources).is_empty();
    let mut groups: BTreeMap<(String, u8), Vec<HaMember>> = BTreeMap::new();
    for source in sources {
        let Some(Some(report)) = &source.report else {
            continue;
        };
        for vrrp in &report.vrrp {
            groups
                .entry((vrrp.instance.clone(), vrrp.vrid))
                .or_default()
                .push(HaMember {
                    director: source.director.clone(),
                    state: vrrp.state,
                    since: vrrp.since.clone(),
                    priority: vrrp.priority,
                    transitions: vrrp.transitions,
                    stale: source.stale,
                });
        }
    }
    groups
        .into_iter()
        .map(|((instance, vrid), mut directors)| {
            directors.sort_by(|a, b| a.director.cmp(&b.director));
            let fresh = || directors.iter().filter(|m| !m.stale);
            let named = |state: VrrpState| -> Vec<String> {
                fresh()
                    .filter(|m| m.state == state)
                    .map(|m| m.director.clone())
                    .collect()
            };
            let (masters, backups, faults) = (
                named(VrrpState::Master),
                named(VrrpState::Backup),
                named(VrrpState::Fault),
            );
            let reporting = fresh().count();
            HaInstance {
                no_master: reporting > 0 && masters.is_empty() && !undecided,
                split_brain: masters.len() > 1,
                instance,
                vrid,
                masters,
                backups,
                faults,
                directors,
            }
        })
        .collect()
}

/// The flags raised on `instances`.
pub fn flags(instances: &[HaInstance]) -> BTreeSet<FlagKey> {
    instances
        .iter()
        .flat_map(|i| {
            [
                (i.no_master, HaFlag::NoMaster),
                (i.split_brain, HaFlag::SplitBrain),
            ]
            .into_iter()
            .filter(|(raised, _)| *raised)
            .map(|(_, flag)| (i.instance.clone(), i.vrid, flag))
        })
        .collect()
}

/// The flags to keep raised: those of `instances`, except that `no_master`
/// stays as `stored` says while some director is `undecided` (not heard
/// from since a restart), so a restart neither raises nor clears it.
pub fn settled_flags(
    instances: &[HaInstance],
    stored: &BTreeSet<FlagKey>,
    undecided: bool,
) -> BTreeSet<FlagKey> {
    let mut wanted = flags(instances);
    if undecided {
        wanted.retain(|(_, _, flag)| *flag != HaFlag::NoMaster);
        wanted.extend(
            stored
                .iter()
                .filter(|(_, _, flag)| *flag == HaFlag::NoMaster)
                .cloned(),
        );
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::agent::VrrpInstanceReport;

    use VrrpState::*;

    fn report(instances: &[(&str, u8, VrrpState)]) -> HaReport {
        HaReport {
            vrrp: instances
                .iter()
                .map(|(instance, vrid, state)| VrrpInstanceReport {
                    instance: instance.to_string(),
                    vrid: *vrid,
                    state: *state,
                    since: "2026-01-01T00:00:00.000Z".to_string(),
                    priority: 100,
                    transitions: 1,
                })
                .collect(),
            ..HaReport::default()
        }
    }

    fn source(director: &str, stale: bool, instances: &[(&str, u8, VrrpState)]) -> HaSource {
        HaSource {
            director: director.to_string(),
            stale,
            report: Some(Some(report(instances))),
        }
    }

    fn unheard(director: &str) -> HaSource {
        HaSource {
            director: director.to_string(),
            stale: false,
            report: None,
        }
    }

    fn without_ha(director: &str) -> HaSource {
        HaSource {
            director: director.to_string(),
            stale: false,
            report: Some(None),
        }
    }

    /// (instance, vrid, masters, no_master, split_brain)
    type Expected = Vec<(&'static str, u8, Vec<&'static str>, bool, bool)>;

    #[test]
    fn instances_are_grouped_and_flagged() {
        let cases: Vec<(&str, Vec<HaSource>, Expected)> = vec![
            (
                "no director reports HA",
                vec![without_ha("a"), without_ha("b")],
                vec![],
            ),
            (
                "one master, one backup",
                vec![
                    source("a", false, &[("VI_1", 51, Master)]),
                    source("b", false, &[("VI_1", 51, Backup)]),
                ],
                vec![("VI_1", 51, vec!["a"], false, false)],
            ),
            (
                "both backup: no master",
                vec![
                    source("a", false, &[("VI_1", 51, Backup)]),
                    source("b", false, &[("VI_1", 51, Backup)]),
                ],
                vec![("VI_1", 51, vec![], true, false)],
            ),
            (
                "fault and stopped are not masters",
                vec![
                    source("a", false, &[("VI_1", 51, Fault)]),
                    source("b", false, &[("VI_1", 51, Stopped)]),
                ],
                vec![("VI_1", 51, vec![], true, false)],
            ),
            (
                "two masters: split brain",
                vec![
                    source("b", false, &[("VI_1", 51, Master)]),
                    source("a", false, &[("VI_1", 51, Master)]),
                ],
                vec![("VI_1", 51, vec!["a", "b"], false, true)],
            ),
            (
                "a stale master counts for nothing",
                vec![
                    source("a", true, &[("VI_1", 51, Master)]),
                    source("b", false, &[("VI_1", 51, Backup)]),
                ],
                vec![("VI_1", 51, vec![], true, false)],
            ),
            (
                "a stale second master makes no split brain",
                vec![
                    source("a", true, &[("VI_1", 51, Master)]),
                    source("b", false, &[("VI_1", 51, Master)]),
                ],
                vec![("VI_1", 51, vec!["b"], false, false)],
            ),
            (
                "every director stale: nothing to judge",
                vec![
                    source("a", true, &[("VI_1", 51, Backup)]),
                    source("b", true, &[("VI_1", 51, Backup)]),
                ],
                vec![("VI_1", 51, vec![], false, false)],
            ),
            (
                "a director not heard from since a restart: no master is not judged",
                vec![source("a", false, &[("VI_1", 51, Backup)]), unheard("b")],
                vec![("VI_1", 51, vec![], false, false)],
            ),
            (
                "a director not heard from: two masters are still two",
                vec![
                    source("a", false, &[("VI_1", 51, Master)]),
                    source("b", false, &[("VI_1", 51, Master)]),
                    unheard("c"),
                ],
                vec![("VI_1", 51, vec!["a", "b"], false, true)],
            ),
            (
                "instances apart by name and by vrid",
                vec![
                    source(
                        "a",
                        false,
                        &[
                            ("VI_1", 51, Master),
                            ("VI_2", 52, Backup),
                            ("VI_1", 53, Backup),
                        ],
                    ),
                    source(
                        "b",
                        false,
                        &[
                            ("VI_1", 51, Backup),
                            ("VI_2", 52, Master),
                            ("VI_1", 53, Master),
                        ],
                    ),
                ],
                vec![
                    ("VI_1", 51, vec!["a"], false, false),
                    ("VI_1", 53, vec!["b"], false, false),
                    ("VI_2", 52, vec!["b"], false, false),
                ],
            ),
            (
                "one director alone as master",
                vec![source("a", false, &[("VI_1", 51, Master)]), without_ha("b")],
                vec![("VI_1", 51, vec!["a"], false, false)],
            ),
        ];
        for (case, sources, expected) in cases {
            let all = instances(&sources);
            let got: Vec<_> = all
                .iter()
                .map(|i| {
                    let masters: Vec<&str> = i.masters.iter().map(String::as_str).collect();
                    (
                        i.instance.as_str(),
                        i.vrid,
                        masters,
                        i.no_master,
                        i.split_brain,
                    )
                })
                .collect();
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn members_list_every_director_with_backups_and_faults_apart() {
        let sources = vec![
            source("c", false, &[("VI_1", 51, Fault)]),
            source("a", false, &[("VI_1", 51, Master)]),
            source("b", false, &[("VI_1", 51, Backup)]),
            source("d", true, &[("VI_1", 51, Backup)]),
        ];
        let all = instances(&sources);
        let one = &all[0];
        assert_eq!(one.backups, ["b"]);
        assert_eq!(one.faults, ["c"]);
        let names: Vec<&str> = one.directors.iter().map(|m| m.director.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(one.directors[3].stale);
    }

    #[test]
    fn no_master_stands_as_stored_while_a_director_is_undecided() {
        let key = |flag| ("VI_1".to_string(), 51, flag);
        let backup_only = instances(&[source("a", false, &[("VI_1", 51, Backup)])]);
        let two_masters = instances(&[
            source("a", false, &[("VI_1", 51, Master)]),
            source("b", false, &[("VI_1", 51, Master)]),
        ]);
        let stored: BTreeSet<FlagKey> = [key(HaFlag::NoMaster)].into();
        let none = BTreeSet::new();
        /// (case, instances, stored, undecided, expected)
        type Case<'a> = (
            &'a str,
            &'a [HaInstance],
            &'a BTreeSet<FlagKey>,
            bool,
            BTreeSet<FlagKey>,
        );
        let cases: Vec<Case> = vec![
            (
                "decided: as computed",
                &backup_only,
                &none,
                false,
                [key(HaFlag::NoMaster)].into(),
            ),
            (
                "undecided: not raised",
                &backup_only,
                &none,
                true,
                BTreeSet::new(),
            ),
            (
                "undecided: not cleared",
                &two_masters,
                &stored,
                true,
                [key(HaFlag::NoMaster), key(HaFlag::SplitBrain)].into(),
            ),
            (
                "decided: cleared",
                &two_masters,
                &stored,
                false,
                [key(HaFlag::SplitBrain)].into(),
            ),
        ];
        for (case, instances, stored, undecided, expected) in cases {
            assert_eq!(
                settled_flags(instances, stored, undecided),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn pending_directors_are_fresh_and_unheard() {
        let mut stale_unheard = unheard("z");
        stale_unheard.stale = true;
        let sources = vec![unheard("b"), without_ha("c"), stale_unheard, unheard("a")];
        assert_eq!(pending(&sources), ["a", "b"]);
    }
}
