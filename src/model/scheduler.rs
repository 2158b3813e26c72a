use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ValidationError;

/// The IPVS scheduling algorithms of mainline Linux.
///
/// A kernel may lack some (`twos` arrived in 6.2); which ones load is the
/// director's business, reported by the driver, not a property of the spec.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    #[default]
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }

    /// Whether the scheduler reads the `fallback`/`port` flags (`-b`).
    pub fn takes_flags(self) -> bool {
        matches!(self, Scheduler::Sh | Scheduler::Mh)
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheduler {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheduler::ALL
            .into_iter()
            .find(|sched| sched.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Scheduler::ALL.iter().map(|s| s.as_str()).collect();
                ValidationError::new(
                    "scheduler",
                    format!(
                        "unknown scheduler `{s}`, expected one of {}",
                        known.join(", ")
                    ),
                )
            })
    }
}

/// The scheduler flags of `sh` and `mh` (`-b sh-fallback,sh-port`).
///
/// Both schedulers give the same kernel bits the same meaning, so they are kept
/// scheduler-neutral here and named after the scheduler when shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SchedFlags {
    /// Pick another server when the hashed one is unavailable (`IP_VS_SVC_F_SCHED1`).
    pub fallback: bool,
    /// Hash the source port too (`IP_VS_SVC_F_SCHED2`).
    pub port: bool,
}

impl SchedFlags {
    pub fn is_empty(&self) -> bool {
        !self.fallback && !self.port
    }

    /// The flag names as ipvsadm prints them for `scheduler`.
    pub fn names(&self, scheduler: Scheduler) -> Vec<String> {
        let prefix = scheduler.as_str();
        let mut names = Vec::new();
        if self.fallback {
            names.push(format!("{prefix}-fallback"));
        }
        if self.port {
            names.push(format!("{prefix}-port"));
        }
        names
    }

    /// Parses flag names (`sh-fallback`, `mh-port`, ...) for `scheduler`.
    pub fn parse<S: AsRef<str>>(
        names: &[S],
        scheduler: Scheduler,
    ) -> Result<Self, ValidationError> {
        let mut flags = SchedFlags::default();
        for name in names {
            let name = name.as_ref().trim();
            let (owner, flag) = name.split_once('-').unwrap_or(("", name));
            let known = matches!(owner, "sh" | "mh") && matches!(flag, "fallback" | "port");
            if !known {
                return Err(ValidationError::new(
                    "sched_flags",
                    format!(
                        "unknown scheduler flag `{name}`, expected sh-fallback, sh-port, mh-fallback or mh-port"
                    ),
                ));
            }
            if owner != scheduler.as_str() {
                return Err(ValidationError::new(
                    "sched_flags",
                    format!(
                        "flag `{name}` belongs to the {owner} scheduler, but the service uses {scheduler}"
                    ),
                ));
            }
            match flag {
                "fallback" => flags.fallback = true,
                _ => flags.port = true,
            }
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheduler_round_trips() {
        for sched in Scheduler::ALL {
            assert_eq!(sched.as_str().parse::<Scheduler>().unwrap(), sched);
        }
        assert_eq!("foo".parse::<Scheduler>().unwrap_err().field, "scheduler");
    }

    #[test]
    fn flags_must_match_the_scheduler() {
        let flags = SchedFlags::parse(&["sh-fallback", "sh-port"], Scheduler::Sh).unwrap();
        assert_eq!(
            flags,
            SchedFlags {
                fallback: true,
                port: true
            }
        );
        assert_eq!(flags.names(Scheduler::Sh), ["sh-fallback", "sh-port"]);
        assert!(SchedFlags::parse(&["mh-port"], Scheduler::Sh).is_err());
        assert!(SchedFlags::parse(&["sh-port"], Scheduler::Wrr).is_err());
        assert!(SchedFlags::parse(&["sh-bogus"], Scheduler::Sh).is_err());
    }
}
