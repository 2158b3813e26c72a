//! Property-based fuzzing of what lvsd reads from outside: ipvsadm text
//! (`ipvsadm::parse`), JSON specs (`Spec::from_json`), the ids in URLs, and
//! the kernel's netlink replies (in `ipvs/netlink/tests/fuzz.rs`, next to
//! the captured bytes it starts from).
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
pub(crate) fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
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
                let end = boundary(
                    &text,
                    ((start + n) as f64 / text.len().max(1) as f64).min(1.0),
                )
                .max(start);
                text.replace_range(start..end, "");
            }
            Edit::Insert(at, word) => {
                let at = boundary(&text, *at);
                text.insert_str(at, word);
            }
            Edit::Repeat(at, n) => {
                let start = boundary(&text, *at);
                let end = boundary(
                    &text,
                    ((start + n) as f64 / text.len().max(1) as f64).min(1.0),
                )
                .max(start);
                let span = text[start..end].to_string();
                text.insert_str(end, &span);
            }
        }
    }
    text
}

/// An edit of bytes: the kind of damage a hostile or broken peer does to a
/// binary message (flipped bits, wrong lengths, cut short, padded, spliced).
#[derive(Debug, Clone)]
pub(crate) enum ByteEdit {
    Flip(f64, u8),
    Set(f64, u8),
    SetU16(f64, u16),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    Repeat(f64, usize),
}

pub(crate) fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let lengths = prop_oneof![
        Just(0u16),
        Just(1),
        Just(3),
        Just(4),
        Just(8),
        Just(16),
        Just(0xffff),
        any::<u16>()
    ];
    prop_oneof![
        3 => (0.0..1.0f64, 0..8u8).prop_map(|(at, bit)| ByteEdit::Flip(at, bit)),
        2 => (0.0..1.0f64, any::<u8>()).prop_map(|(at, byte)| ByteEdit::Set(at, byte)),
        3 => (0.0..1.0f64, lengths).prop_map(|(at, value)| ByteEdit::SetU16(at, value)),
        1 => (0.0..1.0f64).prop_map(ByteEdit::Truncate),
        1 => (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| ByteEdit::Insert(at, bytes)),
        1 => (0.0..1.0f64, 1..64usize).prop_map(|(at, n)| ByteEdit::Repeat(at, n)),
    ]
}

pub(crate) fn apply_bytes(bytes: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    let index = |len: usize, at: f64| ((len as f64) * at) as usize;
    for edit in edits {
        let len = bytes.len();
        match edit {
            ByteEdit::Flip(at, bit) if len > 0 => bytes[index(len, *at).min(len - 1)] ^= 1 << bit,
            ByteEdit::Set(at, byte) if len > 0 => bytes[index(len, *at).min(len - 1)] = *byte,
            ByteEdit::SetU16(at, value) if len > 1 => {
                let i = index(len - 1, *at);
                bytes[i..i + 2].copy_from_slice(&value.to_ne_bytes());
            }
            ByteEdit::Truncate(at) => bytes.truncate(index(len, *at)),
            ByteEdit::Insert(at, more) => {
                let i = index(len, *at);
                bytes.splice(i..i, more.iter().copied());
            }
            ByteEdit::Repeat(at, n) => {
                let start = index(len, *at);
                let end = (start + n).min(len);
                let span = bytes[start..end].to_vec();
                bytes.splice(end..end, span);
            }
            _ => {}
        }
    }
    bytes
}
