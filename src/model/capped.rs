//! Lists capped while they are parsed: a spec of more services (or one
//! service of more real servers) than the server takes is refused at the
//! first element past the cap, before the rest is built. Counting after the
//! parse would let one request of tiny services take gigabytes first.
//!
//! The caps are the server's own limits (`lvsd serve --max-services`,
//! `--max-servers`), set once at start; elsewhere they are the defaults.
//! One element past the limit is still parsed, so that the core's check
//! (which counts servers across services too) names the exact count.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserializer;
use serde::de::{self, Deserialize, SeqAccess, Visitor};

static MAX_SERVICES: AtomicUsize = AtomicUsize::new(20_000);
static MAX_SERVERS: AtomicUsize = AtomicUsize::new(200_000);

/// Sets the caps of every spec parsed from now on in this process.
pub fn set_parse_limits(max_services: usize, max_servers: usize) {
    MAX_SERVICES.store(max_services, Ordering::Relaxed);
    MAX_SERVERS.store(max_servers, Ordering::Relaxed);
}

pub(super) fn services<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let cap = MAX_SERVICES.load(Ordering::Relaxed);
    deserializer.deserialize_seq(Capped {
        cap,
        what: "virtual services",
        flag: "--max-services",
        element: PhantomData,
    })
}

pub(super) fn servers<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let cap = MAX_SERVERS.load(Ordering::Relaxed);
    deserializer.deserialize_seq(Capped {
        cap,
        what: "real servers",
        flag: "--max-servers",
        element: PhantomData,
    })
}

struct Capped<T> {
    cap: usize,
    what: &'static str,
    flag: &'static str,
    element: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Capped<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {} {}", self.cap, self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            if items.len() > self.cap {
                return Err(de::Error::custom(format!(
                    "more than {} {}: a spec holds at most {} (lvsd serve {})",
                    self.cap, self.what, self.cap, self.flag
                )));
            }
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_past_its_cap_is_refused_while_parsed() {
        #[derive(serde::Deserialize, Debug)]
        struct Doc {
            #[serde(deserialize_with = "super::services")]
            services: Vec<u8>,
        }
        // One past the limit is left for the core to count and name.
        let within = format!("{{\"services\": [{}]}}", vec!["1"; 20_001].join(","));
        assert_eq!(
            serde_json::from_str::<Doc>(&within).unwrap().services.len(),
            20_001
        );
        let past = format!("{{\"services\": [{}]}}", vec!["1"; 20_002].join(","));
        let err = serde_json::from_str::<Doc>(&past).unwrap_err().to_string();
        assert!(err.contains("more than 20000 virtual services"), "{err}");
    }
}
