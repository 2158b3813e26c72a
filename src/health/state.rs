//! The rise/fall state machine of one real server: `fall` failed checks in
//! a row take a healthy server out, `rise` successful ones bring it back.
//! Pure: the caller runs the checks and passes their outcomes and the time.

use std::time::SystemTime;

/// What the checks of one real server have shown so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// Servers start healthy: a restart of lvsd must not take every real
    /// server out until its checks have run `rise` times.
    pub healthy: bool,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    /// When the current run of failures began (cleared by a success while
    /// healthy, and when the server comes back).
    pub failing_since: Option<SystemTime>,
    /// The reason of the latest failed check, kept after a recovery.
    pub last_error: Option<String>,
    pub checks: u64,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            healthy: true,
            consecutive_successes: 0,
            consecutive_failures: 0,
            failing_since: None,
            last_error: None,
            checks: 0,
        }
    }
}

/// A change of a server's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// `fall` checks failed in a row; the reason of the last one.
    Down { reason: String },
    /// `rise` checks succeeded in a row after a failure.
    Up,
}

impl ServerState {
    /// Takes in one check's outcome; returns the transition it causes, if any.
    pub fn observe(
        &mut self,
        outcome: Result<(), String>,
        rise: u32,
        fall: u32,
        now: SystemTime,
    ) -> Option<Transition> {
        self.checks += 1;
        match outcome {
            Ok(()) => {
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                self.consecutive_failures = 0;
                if self.healthy {
                    self.failing_since = None;
                    None
                } else if self.consecutive_successes >= rise {
                    self.healthy = true;
                    self.failing_since = None;
                    Some(Transition::Up)
                } else {
                    None
                }
            }
            Err(reason) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_successes = 0;
                self.failing_since.get_or_insert(now);
                self.last_error = Some(reason.clone());
                if self.healthy && self.consecutive_failures >= fall {
                    self.healthy = false;
                    Some(Transition::Down { reason })
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// Runs outcomes (`true` a success) through a fresh state; returns the
    /// transitions by check index, and the state.
    fn run(outcomes: &[bool], rise: u32, fall: u32) -> (Vec<(usize, Transition)>, ServerState) {
        let mut state = ServerState::default();
        let mut transitions = Vec::new();
        for (i, ok) in outcomes.iter().enumerate() {
            let outcome = if *ok {
                Ok(())
            } else {
                Err(format!("failure {i}"))
            };
            if let Some(t) = state.observe(outcome, rise, fall, at(i as u64)) {
                transitions.push((i, t));
            }
        }
        (transitions, state)
    }

    #[test]
    fn rise_and_fall_by_table() {
        let down = |i: usize| Transition::Down {
            reason: format!("failure {i}"),
        };
        // (outcomes, rise, fall, transitions, healthy at the end)
        type Case = (&'static str, u32, u32, Vec<(usize, Transition)>, bool);
        let cases: Vec<Case> = vec![
            ("+++", 2, 3, vec![], true),
            ("--", 2, 3, vec![], true),
            ("---", 2, 3, vec![(2, down(2))], false),
            ("--+--", 2, 3, vec![], true),
            ("---+", 2, 3, vec![(2, down(2))], false),
            ("---++", 2, 3, vec![(2, down(2)), (4, Transition::Up)], true),
            (
                "---+-++",
                2,
                3,
                vec![(2, down(2)), (6, Transition::Up)],
                true,
            ),
            ("-", 1, 1, vec![(0, down(0))], false),
            ("-+", 1, 1, vec![(0, down(0)), (1, Transition::Up)], true),
            ("------", 1, 3, vec![(2, down(2))], false),
            (
                "---++---",
                2,
                3,
                vec![(2, down(2)), (4, Transition::Up), (7, down(7))],
                false,
            ),
        ];
        for (outcomes, rise, fall, expected, healthy) in cases {
            let oks: Vec<bool> = outcomes.chars().map(|c| c == '+').collect();
            let (transitions, state) = run(&oks, rise, fall);
            assert_eq!(transitions, expected, "{outcomes} rise {rise} fall {fall}");
            assert_eq!(state.healthy, healthy, "{outcomes} rise {rise} fall {fall}");
        }
    }

    #[test]
    fn failing_since_is_the_first_failure_of_the_run() {
        let mut state = ServerState::default();
        state.observe(Err("refused".into()), 2, 3, at(10));
        state.observe(Err("timed out".into()), 2, 3, at(11));
        assert_eq!(state.failing_since, Some(at(10)));
        assert_eq!(state.last_error.as_deref(), Some("timed out"));
        assert_eq!(state.consecutive_failures, 2);
        state.observe(Ok(()), 2, 3, at(12));
        assert_eq!(
            state.failing_since, None,
            "a short run of failures ends with a success"
        );
        assert_eq!(
            state.last_error.as_deref(),
            Some("timed out"),
            "the last error stays for the operator"
        );
    }

    proptest! {
        /// Transitions alternate (down, up, down, ...), a down comes right
        /// after `fall` failures in a row and an up after `rise` successes.
        #[test]
        fn transitions_follow_the_counts(outcomes in prop::collection::vec(any::<bool>(), 0..60), rise in 1u32..5, fall in 1u32..5) {
            let (transitions, state) = run(&outcomes, rise, fall);
            for (n, (i, t)) in transitions.iter().enumerate() {
                let expect_down = n % 2 == 0;
                prop_assert_eq!(matches!(t, Transition::Down { .. }), expect_down);
                let needed = if expect_down { fall } else { rise } as usize;
                prop_assert!(*i + 1 >= needed);
                let window = &outcomes[*i + 1 - needed..=*i];
                prop_assert!(window.iter().all(|ok| *ok != expect_down), "{:?} at {}", window, i);
            }
            prop_assert_eq!(state.healthy, transitions.len() % 2 == 0);
            prop_assert_eq!(state.checks, outcomes.len() as u64);
        }
    }
}
