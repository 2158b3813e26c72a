//! Property-based fuzzing of what lvsd reads from outside: ipvsadm text
//! (`ipvsadm::parse`), JSON specs (`Spec::from_json`) and the ids in URLs.
//! Each target draws inputs from a vocabulary of the format's own words mixed
//! with noise, and from valid documents mutated at random; it must never
//! panic, must refuse with a usable error, and what it accepts must
//! round-trip.
//!
//! They run with the unit tests, bounded: `LVSD_FUZZ_CASES` (or
//! `PROPTEST_CASES`) inputs per target, 3000 by default. Each target prints
//! how many inputs it tried and how many were accepted (shown with
//! `cargo nextest run fuzz --no-capture`). For a longer hunt:
//! `LVSD_FUZZ_CASES=200000 cargo nextest run --release fuzz`.

mod ids;
mod ipvsadm;
mod spec;

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Inputs per target.
fn cases() -> u32 {
    ["LVSD_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.parse().ok())
        .unwrap_or(3000)
}

/// Runs `check` on `cases()` inputs of `strategy`; `check` says whether the
/// input was accepted. Panics (with proptest's minimal failing input) on the
/// first failure, after printing the counts.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<bool, TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let config = Config { cases: cases(), failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let (tried, accepted) = (AtomicU64::new(0), AtomicU64::new(0));
    let outcome = runner.run(&strategy, |input| {
        tried.fetch_add(1, Ordering::Relaxed);
        if check(input)? {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    let (tried, accepted) = (tried.into_inner(), accepted.into_inner());
    println!("fuzz {name}: {tried} inputs tried, {accepted} accepted");
    if let Err(err) = outcome {
        panic!("fuzz {name}: {err}");
    }
}

/// Where to cut or insert in `text`: a char boundary at `fraction` of its length.
fn boundary(text: &str, fraction: f64) -> usize {
    let mut at = ((text.len() as f64) * fraction) as usize;
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// An edit of a text: delete a span, insert `words`, or repeat a span.
#[derive(Debug, Clone)]
enum Edit {
    Delete(f64, usize),
    Insert(f64, String),
    Repeat(f64, usize),
}

fn edit(words: impl Strategy<Value = String>) -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, 1..12usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, words).prop_map(|(at, word)| Edit::Insert(at, word)),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Repeat(at, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_string();
    for edit in edits {
        match edit {
            Edit::Delete(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, ((start + n) as f64 / text.len().max(1) as f64).min(1.0)).max(start);
                text.replace_range(start..end, "");
            }
            Edit::Insert(at, word) => {
                let at = boundary(&text, *at);
                text.insert_str(at, word);
            }
            Edit::Repeat(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(&text, ((start + n) as f64 / text.len().max(1) as f64).min(1.0)).max(start);
                let span = text[start..end].to_string();
                text.insert_str(end, &span);
            }
        }
    }
    text
}
