//! The client's config file: `~/.config/lvsd/config.toml` (or
//! `$XDG_CONFIG_HOME/lvsd/config.toml`, `--config`, `LVSD_CONFIG`).
//!
//! Three keys, one per line, in the TOML subset anyone writes by hand:
//!
//! ```toml
//! server = "http://10.0.0.1:7080"
//! token = "..."
//! cluster = "web"
//! ```
//!
//! `server` may also be a list, for agents of several servers sharing one
//! database (`server = ["http://10.0.0.1:7080", "http://10.0.0.2:7080"]`, on
//! one line); the client commands use the first.

use std::path::{Path, PathBuf};

use super::Failure;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The `server` key: one URL (as written: it may hold a comma-separated
    /// list), or the strings of a list; empty without the key.
    pub servers: Vec<String>,
    pub token: Option<String>,
    pub cluster: Option<String>,
}

impl Config {
    /// Reads `explicit`, or the default file when there is one.
    pub fn load(explicit: Option<PathBuf>) -> Result<Self, Failure> {
        let (path, required) = match explicit {
            Some(path) => (path, true),
            None => match default_path() {
                Some(path) => (path, false),
                None => return Ok(Config::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&text)
                .map_err(|err| Failure::Usage(format!("{}:{err}", path.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(err) => Err(Failure::Usage(format!(
                "cannot read the config file {}: {err}",
                path.display()
            ))),
        }
    }

    /// Parses the file; errors start with the line number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut config = Config::default();
        for (number, line) in text
            .lines()
            .enumerate()
            .map(|(i, line)| (i + 1, line.trim()))
        {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("{number}: expected `key = \"value\"`"))?;
            let (key, value) = (key.trim(), value.trim());
            if key == "server" {
                config.servers = if value.starts_with('[') {
                    list_value(value)
                } else {
                    string_value(value).map(|one| vec![one])
                }
                .map_err(|why| format!("{number}: {why}"))?;
                continue;
            }
            let value = string_value(value).map_err(|why| format!("{number}: {why}"))?;
            let slot = match key {
                "token" => &mut config.token,
                "cluster" => &mut config.cluster,
                other => {
                    return Err(format!(
                        "{number}: unknown key `{other}`: expected server, token or cluster"
                    ));
                }
            };
            *slot = Some(value);
        }
        Ok(config)
    }
}

impl Config {
    /// The server a client command talks to: the first one of `server`.
    pub fn first_server(&self) -> Option<String> {
        let first = self.servers.first()?.split(',').next()?.trim();
        (!first.is_empty()).then(|| first.to_string())
    }
}

fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| Path::new(&home).join(".config"))
        })?;
    Some(base.join("lvsd").join("config.toml"))
}

/// A one-line TOML list of quoted strings: `["a", 'b']`.
fn list_value(text: &str) -> Result<Vec<String>, String> {
    let mut rest = text
        .strip_prefix('[')
        .ok_or("expected a list")?
        .trim_start();
    let mut values = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return trailing(after).map(|()| values);
        }
        let (value, after) = quoted(rest)?
            .ok_or("expected a quoted string or `]` in the list (a list stays on one line)")?;
        values.push(value);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.starts_with(']') {
            return Err("expected `,` or `]` in the list (a list stays on one line)".into());
        }
    }
}

/// A quoted TOML string (`"..."` with `\"` and `\\`, or `'...'`), or a bare word.
fn string_value(text: &str) -> Result<String, String> {
    // A trailing comment after a quoted value.
    if let Some((value, rest)) = quoted(text)? {
        return trailing(rest).map(|()| value);
    }
    let bare = text.split('#').next().unwrap_or_default().trim();
    if bare.is_empty() {
        return Err("missing value".into());
    }
    Ok(bare.to_string())
}

/// The quoted string `text` starts with, and what follows it; `None` when
/// `text` does not start with a quote.
fn quoted(text: &str) -> Result<Option<(String, &str)>, String> {
    if let Some(rest) = text.strip_prefix('\'') {
        let end = rest.find('\'').ok_or("missing closing '")?;
        return Ok(Some((rest[..end].to_string(), &rest[end + 1..])));
    }
    if let Some(rest) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok(Some((value, &rest[i + 1..]))),
                '\\' => match chars.next() {
                    Some((_, '"')) => value.push('"'),
                    Some((_, '\\')) => value.push('\\'),
                    _ => return Err("only \\\" and \\\\ escapes are understood".into()),
                },
                c => value.push(c),
            }
        }
        return Err("missing closing \"".into());
    }
    Ok(None)
}

fn trailing(rest: &str) -> Result<(), String> {
    let rest = rest.trim();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(format!("unexpected `{rest}` after the value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_keys() {
        let text = "# lvsd\nserver = \"http://10.0.0.1:7080\"  # the VIP\n\ntoken = 'abc\"def'\ncluster = web\n";
        let config = Config::parse(text).unwrap();
        assert_eq!(
            config,
            Config {
                servers: vec!["http://10.0.0.1:7080".into()],
                token: Some("abc\"def".into()),
                cluster: Some("web".into())
            }
        );
    }

    #[test]
    fn server_may_be_a_list() {
        let config =
            Config::parse("server = [\"http://a:7080\", 'http://b:7080' ,] # two\n").unwrap();
        assert_eq!(config.servers, ["http://a:7080", "http://b:7080"]);
        assert_eq!(config.first_server().as_deref(), Some("http://a:7080"));
        let config = Config::parse("server = \"http://a:7080, http://b:7080\"\n").unwrap();
        assert_eq!(
            config.servers,
            ["http://a:7080, http://b:7080"],
            "as written: the agent splits it"
        );
        assert_eq!(config.first_server().as_deref(), Some("http://a:7080"));
        assert_eq!(Config::parse("server = []").unwrap().first_server(), None);
        assert!(
            Config::parse("server = [\"http://a:7080\"")
                .unwrap_err()
                .starts_with("1: expected")
        );
        assert!(
            Config::parse("server = [\"a\" \"b\"]")
                .unwrap_err()
                .contains("expected `,` or `]`")
        );
        assert!(
            Config::parse("server = [a]")
                .unwrap_err()
                .contains("quoted string")
        );
        assert!(
            Config::parse("server = [\"a\"] x")
                .unwrap_err()
                .contains("unexpected `x`")
        );
    }

    #[test]
    fn names_the_line_at_fault() {
        assert_eq!(
            Config::parse("server = \"x\"\nport = 1\n").unwrap_err(),
            "2: unknown key `port`: expected server, token or cluster"
        );
        assert!(
            Config::parse("server \"x\"")
                .unwrap_err()
                .starts_with("1: expected")
        );
        assert!(
            Config::parse("server = \"x")
                .unwrap_err()
                .contains("closing")
        );
        assert!(
            Config::parse("server = \"x\" y")
                .unwrap_err()
                .contains("unexpected `y`")
        );
    }
}
