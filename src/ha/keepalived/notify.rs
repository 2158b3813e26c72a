//! keepalived's `vrrp_notify_fifo`: one line per VRRP state change,
//! `INSTANCE "VI_1" MASTER 150` (type, quoted name, state, priority).

use crate::model::ha::DEFAULT_PRIORITY;

/// A VRRP state as keepalived tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Master,
    Backup,
    Fault,
    /// keepalived stopped the instance (shutdown or reload removing it).
    Stop,
}

/// One line of the FIFO about an instance (group lines are left out: the
/// instances of a group tell the same change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub instance: String,
    pub state: State,
    pub priority: u8,
}

/// Parses one FIFO line; `None` for group lines, states lvsd does not
/// follow (`MASTER_RX_LOWER_PRI`, ...) and anything malformed.
pub fn parse(line: &str) -> Option<Notice> {
    let rest = line.trim().strip_prefix("INSTANCE ")?;
    let rest = rest.strip_prefix('"')?;
    let (instance, rest) = rest.split_once('"')?;
    let mut words = rest.split_whitespace();
    let state = match words.next()? {
        "MASTER" => State::Master,
        "BACKUP" => State::Backup,
        "FAULT" => State::Fault,
        "STOP" => State::Stop,
        _ => return None,
    };
    let priority = match words.next() {
        Some(word) => word.parse().ok()?,
        None => DEFAULT_PRIORITY,
    };
    Some(Notice {
        instance: instance.to_string(),
        state,
        priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_instance_lines() {
        let notice = |instance: &str, state, priority| {
            Some(Notice {
                instance: instance.into(),
                state,
                priority,
            })
        };
        let cases = [
            (
                "INSTANCE \"VI_1\" MASTER 150\n",
                notice("VI_1", State::Master, 150),
            ),
            (
                "INSTANCE \"VI_1_gw\" BACKUP 100",
                notice("VI_1_gw", State::Backup, 100),
            ),
            ("INSTANCE \"a b\" FAULT 0", notice("a b", State::Fault, 0)),
            (
                "INSTANCE \"VI_1\" STOP 100",
                notice("VI_1", State::Stop, 100),
            ),
            (
                "INSTANCE \"VI_1\" MASTER",
                notice("VI_1", State::Master, DEFAULT_PRIORITY),
            ),
            ("GROUP \"lvsd\" MASTER", None),
            ("INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100", None),
            ("INSTANCE VI_1 MASTER 100", None),
            ("INSTANCE \"VI_1\" MASTER 999", None),
            ("", None),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), expected, "{line:?}");
        }
    }
}
