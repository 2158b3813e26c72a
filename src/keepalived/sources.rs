//! Where configuration files come from: the filesystem (the command line),
//! or the files a client sent (the API). Both resolve `include` patterns
//! the same way, so a bundle read on one machine parses alike on another.

use std::collections::BTreeMap;

/// Reads configuration files and lists the ones a glob pattern names.
pub trait Sources {
    fn read(&self, path: &str) -> Result<String, String>;
    /// The paths `pattern` matches, sorted (as glob(3) returns them).
    fn glob(&self, pattern: &str) -> Result<Vec<String>, String>;
}

/// The path an `include` names, relative to the directory of the file
/// that includes it (keepalived's rule since 2.0).
pub fn resolve(including: &str, pattern: &str) -> String {
    if pattern.starts_with('/') {
        return pattern.to_string();
    }
    match including.rfind('/') {
        Some(slash) => format!("{}/{pattern}", &including[..=slash].trim_end_matches('/')),
        None => pattern.to_string(),
    }
}

/// Whether `name` matches the glob `pattern` (`*`, `?`, `[...]`, `[!...]`);
/// a wildcard never matches `/`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_from(&pattern, &name)
}

fn matches_from(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len())
            .take_while(|&skip| skip == 0 || name[skip - 1] != '/')
            .any(|skip| matches_from(&pattern[1..], &name[skip..])),
        Some('?') => {
            name.first().is_some_and(|c| *c != '/') && matches_from(&pattern[1..], &name[1..])
        }
        Some('[') => {
            let Some(close) = pattern
                .iter()
                .skip(2)
                .position(|c| *c == ']')
                .map(|i| i + 2)
            else {
                return name.first() == Some(&'[') && matches_from(&pattern[1..], &name[1..]);
            };
            let Some(&c) = name.first() else { return false };
            let (negated, set) = match pattern[1] {
                '!' | '^' => (true, &pattern[2..close]),
                _ => (false, &pattern[1..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negated && c != '/' && matches_from(&pattern[close + 1..], &name[1..])
        }
        Some(&literal) => name.first() == Some(&literal) && matches_from(&pattern[1..], &name[1..]),
    }
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Files on this machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filesystem;

impl Sources for Filesystem {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|err| format!("cannot read {path}: {err}"))
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        if !has_wildcard(pattern) {
            return Ok(match std::path::Path::new(pattern).exists() {
                true => vec![pattern.to_string()],
                false => Vec::new(),
            });
        }
        // Walk the pattern one component at a time.
        let (mut found, rest) = match pattern.strip_prefix('/') {
            Some(rest) => (vec![String::from("/")], rest),
            None => (vec![String::new()], pattern),
        };
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            let mut next = Vec::new();
            for base in &found {
                let join = |name: &str| match base.as_str() {
                    "" => name.to_string(),
                    "/" => format!("/{name}"),
                    base => format!("{base}/{name}"),
                };
                if !has_wildcard(part) {
                    let path = join(part);
                    if std::path::Path::new(&path).exists() {
                        next.push(path);
                    }
                    continue;
                }
                let dir = if base.is_empty() { "." } else { base.as_str() };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().to_string();
                    // As glob(3): a leading dot is matched only by a leading dot.
                    if name.starts_with('.') && !part.starts_with('.') {
                        continue;
                    }
                    if glob_match(part, &name) {
                        next.push(join(&name));
                    }
                }
            }
            found = next;
        }
        found.sort();
        Ok(found)
    }
}

/// Files held in memory, by the path they were read from.
#[derive(Debug, Default, Clone)]
pub struct Bundle {
    pub files: BTreeMap<String, String>,
}

impl Sources for Bundle {
    fn read(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| format!("{path} is not among the files sent"))
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, String> {
        Ok(self
            .files
            .keys()
            .filter(|name| glob_match(pattern, name))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_by_table() {
        let cases = [
            ("*.conf", "a.conf", true),
            ("*.conf", "dir/a.conf", false),
            ("conf.d/*.conf", "conf.d/web.conf", true),
            ("conf.d/*", "conf.d/x/y", false),
            ("web-?.conf", "web-1.conf", true),
            ("web-?.conf", "web-12.conf", false),
            ("web-[0-9].conf", "web-7.conf", true),
            ("web-[!0-9].conf", "web-7.conf", false),
            ("web-[!0-9].conf", "web-a.conf", true),
            ("plain", "plain", true),
            ("*", "", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_match(pattern, name), expected, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn includes_resolve_beside_the_including_file() {
        assert_eq!(
            resolve("/etc/keepalived/keepalived.conf", "conf.d/*.conf"),
            "/etc/keepalived/conf.d/*.conf"
        );
        assert_eq!(resolve("keepalived.conf", "conf.d/a.conf"), "conf.d/a.conf");
        assert_eq!(resolve("a/b.conf", "/etc/x.conf"), "/etc/x.conf");
    }
}
