//! The servers an agent may talk to, and the one it talks to now.
//!
//! Several lvsd servers may share one database: any of them answers an agent
//! alike. The agent sticks to one server (the current one) while it answers,
//! and moves on to the next in the list, round-robin, only when a request to
//! it fails for want of a server (no connection, a timeout, a 5xx). A refusal
//! (4xx) is no reason to move: the servers share the database, so the next
//! one would refuse as well.
//!
//! The watcher and the report sender share the current index, so that
//! whichever finds the current server dead moves both, and the watcher drops
//! a long-poll held by a server the sender found dead (see
//! [`Servers::moved_from`]).

use std::sync::Arc;

use tokio::sync::watch;

/// The list of server base URLs and the index of the current one. Clones
/// share the current index.
#[derive(Debug, Clone)]
pub struct Servers {
    urls: Arc<[String]>,
    /// A watch channel rather than a bare atomic: the watcher waits on it to
    /// leave a server the sender found dead without waiting out its long-poll.
    current: Arc<watch::Sender<usize>>,
}

impl Servers {
    /// The servers from `values`, each one URL or a comma-separated list of
    /// them (`--server` repeated, or `--server http://a:7080,http://b:7080`),
    /// in order; the first is the current one. Every URL must be an http or
    /// https URL, listed once; the error names the one at fault.
    pub fn parse<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut urls: Vec<String> = Vec::new();
        for value in values {
            for item in value.as_ref().split(',') {
                let item = item.trim();
                if item.is_empty() {
                    return Err(format!(
                        "--server {}: an empty server in the list; expected URL[,URL...]",
                        value.as_ref()
                    ));
                }
                let url = validate(item)?;
                if urls.contains(&url) {
                    return Err(format!("--server {item}: listed twice"));
                }
                urls.push(url);
            }
        }
        if urls.is_empty() {
            return Err("--server: no server given; expected http://HOST:PORT".to_string());
        }
        Ok(Servers {
            urls: urls.into(),
            current: Arc::new(watch::channel(0).0),
        })
    }

    /// How many servers there are: at least one, never empty (hence not `len`).
    pub fn count(&self) -> usize {
        self.urls.len()
    }

    /// All the servers' URLs, in order (for the log).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The index of the server to ask now.
    pub fn current(&self) -> usize {
        *self.current.borrow()
    }

    /// The base URL of server `index` (without a trailing slash).
    pub fn url(&self, index: usize) -> &str {
        &self.urls[index % self.urls.len()]
    }

    /// Server `index` failed (`why`): when it is still the current one, the
    /// next one in the list becomes current, and the switch is logged. When
    /// the other task moved on already, nothing changes: two tasks seeing
    /// the same dead server move once, not twice. Returns the current index.
    pub fn failed(&self, index: usize, why: &str) -> usize {
        let next = (index + 1) % self.urls.len();
        let moved = self.current.send_if_modified(|current| {
            if *current == index && next != index {
                *current = next;
                true
            } else {
                false
            }
        });
        if moved {
            tracing::info!(
                server = self.url(next),
                failed = self.url(index),
                reason = why,
                "switching to server {}: {} failed",
                self.url(next),
                self.url(index)
            );
        }
        self.current()
    }

    /// Resolves once the current server is no longer `index`.
    pub async fn moved_from(&self, index: usize) {
        let mut current = self.current.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = current.wait_for(|now| *now != index).await;
    }
}

/// One server URL, checked: http or https, without its trailing slash.
fn validate(server: &str) -> Result<String, String> {
    let base = server.trim_end_matches('/').to_string();
    match reqwest::Url::parse(&base) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(base),
        _ => Err(format!(
            "--server {server}: not a server URL; expected http://HOST:PORT or https://HOST:PORT"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_a_list_of_one_as_before() {
        let servers = Servers::parse(["http://10.0.0.1:7080/"]).unwrap();
        assert_eq!(servers.urls(), ["http://10.0.0.1:7080"]);
        assert_eq!(servers.current(), 0);
        assert_eq!(servers.url(servers.current()), "http://10.0.0.1:7080");
    }

    #[test]
    fn commas_and_repeated_flags_make_one_list_in_order() {
        let servers = Servers::parse(["http://a:7080, https://b:7080", "http://c:7080"]).unwrap();
        assert_eq!(
            servers.urls(),
            ["http://a:7080", "https://b:7080", "http://c:7080"]
        );
    }

    #[test]
    fn a_bad_url_is_named_in_the_error() {
        let err = Servers::parse(["http://a:7080,10.0.0.2:7080"]).unwrap_err();
        assert!(
            err.starts_with("--server 10.0.0.2:7080: not a server URL"),
            "{err}"
        );
        assert!(err.contains("expected http://HOST:PORT"), "{err}");
        let err = Servers::parse(["ftp://a"]).unwrap_err();
        assert!(err.starts_with("--server ftp://a:"), "{err}");
        let err = Servers::parse(["http://a:7080,,http://b:7080"]).unwrap_err();
        assert!(err.contains("an empty server"), "{err}");
        let err = Servers::parse(["http://a:7080", "http://a:7080/"]).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        assert!(Servers::parse(Vec::<String>::new()).is_err());
    }

    #[test]
    fn a_failure_moves_to_the_next_server_round_robin() {
        let servers = Servers::parse(["http://a:1,http://b:1,http://c:1"]).unwrap();
        assert_eq!(servers.failed(0, "refused"), 1);
        assert_eq!(servers.failed(1, "refused"), 2);
        assert_eq!(servers.failed(2, "refused"), 0, "after the last, the first");
    }

    #[test]
    fn the_current_server_sticks_and_a_stale_failure_moves_nothing() {
        let servers = Servers::parse(["http://a:1,http://b:1,http://c:1"]).unwrap();
        let sender = servers.clone();
        // The watcher finds a dead: both move to b.
        assert_eq!(servers.failed(0, "reset"), 1);
        assert_eq!(sender.current(), 1, "clones share the current server");
        // The sender's request to a, sent before the move, fails too: b stays.
        assert_eq!(sender.failed(0, "reset"), 1);
        assert_eq!(servers.current(), 1);
    }

    #[test]
    fn a_single_server_stays_current() {
        let servers = Servers::parse(["http://a:1"]).unwrap();
        assert_eq!(servers.failed(0, "down"), 0);
    }

    #[tokio::test]
    async fn moved_from_resolves_when_another_clone_moves_on() {
        let servers = Servers::parse(["http://a:1,http://b:1"]).unwrap();
        let other = servers.clone();
        let waiting = tokio::spawn(async move { other.moved_from(0).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        servers.failed(0, "down");
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("the wait ends")
            .unwrap();
        // Already elsewhere: at once.
        servers.moved_from(0).await;
    }
}
