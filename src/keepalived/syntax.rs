//! keepalived.conf's block syntax, read into a tree of statements.
//!
//! A statement is a keyword and its words on one line, optionally followed
//! by a `{ ... }` block of statements (the `{` may also start the next
//! line). `#` and `!` start a comment outside quotes; `"..."` keeps spaces;
//! a `\` at the end of a line continues it. `include PATTERN` is replaced by
//! the files the pattern matches, resolved relative to the including file,
//! as keepalived does. Every word keeps its file, line and column.

use std::fmt;
use std::sync::Arc;

use super::sources::{Sources, resolve};

/// Where a word was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A configuration file that cannot be read as keepalived.conf, or whose
/// values lvsd refuses: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl SyntaxError {
    pub fn new(pos: &Pos, message: impl Into<String>) -> Self {
        Self {
            pos: pos.clone(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos.line {
            // The file itself could not be read: the message names it.
            0 => f.write_str(&self.message),
            _ => write!(f, "{}: {}", self.pos, self.message),
        }
    }
}

/// A word of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub pos: Pos,
}

/// One statement: `keyword args...` and its block, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub keyword: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Node>>,
}

impl Node {
    pub fn pos(&self) -> &Pos {
        &self.keyword.pos
    }

    pub fn name(&self) -> &str {
        &self.keyword.text
    }

    /// The statement as written, block left out: `real_server 10.0.0.1 80`.
    pub fn head(&self) -> String {
        std::iter::once(self.keyword.text.as_str())
            .chain(self.args.iter().map(|w| w.text.as_str()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(Word),
    Open(Pos),
    Close(Pos),
    EndOfLine,
}

/// Deepest nesting of includes, as keepalived's own limit guards against loops.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Reads `path` and every file it includes into statements.
pub fn parse(sources: &dyn Sources, path: &str) -> Result<Vec<Node>, SyntaxError> {
    let text = sources.read(path).map_err(|message| SyntaxError {
        pos: Pos {
            file: path.into(),
            line: 0,
            column: 0,
        },
        message,
    })?;
    let mut tokens = Vec::new();
    lex_file(sources, path, &text, 0, &mut tokens)?;
    let mut at = 0;
    let nodes = statements(&tokens, &mut at, None)?;
    Ok(nodes)
}

/// Statements until the end or until the `}` closing `open`.
fn statements(
    tokens: &[Token],
    at: &mut usize,
    open: Option<&Pos>,
) -> Result<Vec<Node>, SyntaxError> {
    let mut nodes: Vec<Node> = Vec::new();
    // Whether the last statement ended its line without a block, so that a
    // `{` alone on the next line opens its block.
    let mut may_open = false;
    while *at < tokens.len() {
        match &tokens[*at] {
            Token::EndOfLine => {
                *at += 1;
            }
            Token::Close(pos) => {
                *at += 1;
                return match open {
                    Some(_) => Ok(nodes),
                    None => Err(SyntaxError::new(pos, "`}` closes no block")),
                };
            }
            Token::Open(pos) => {
                let Some(last) = nodes.last_mut().filter(|_| may_open) else {
                    return Err(SyntaxError::new(
                        pos,
                        "`{` opens a block with no keyword before it",
                    ));
                };
                *at += 1;
                last.block = Some(statements(tokens, at, Some(pos))?);
                may_open = false;
            }
            Token::Word(keyword) => {
                let keyword = keyword.clone();
                *at += 1;
                let mut args = Vec::new();
                while let Some(Token::Word(word)) = tokens.get(*at) {
                    args.push(word.clone());
                    *at += 1;
                }
                let mut node = Node {
                    keyword,
                    args,
                    block: None,
                };
                may_open = true;
                if let Some(Token::Open(pos)) = tokens.get(*at) {
                    *at += 1;
                    node.block = Some(statements(tokens, at, Some(pos))?);
                    may_open = false;
                }
                nodes.push(node);
                continue;
            }
        }
    }
    match open {
        Some(pos) => Err(SyntaxError::new(pos, "this `{` is never closed")),
        None => Ok(nodes),
    }
}

fn lex_file(
    sources: &dyn Sources,
    path: &str,
    text: &str,
    depth: usize,
    out: &mut Vec<Token>,
) -> Result<(), SyntaxError> {
    let file: Arc<str> = path.into();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, first)) = lines.next() {
        let pos = |column: usize| Pos {
            file: file.clone(),
            line: index + 1,
            column,
        };
        // A line ending in `\` continues on the next one (comments aside).
        let mut line = first.to_string();
        while line.trim_end().ends_with('\\') && lines.peek().is_some() {
            let trimmed = line.trim_end();
            line = format!(
                "{} {}",
                &trimmed[..trimmed.len() - 1],
                lines.next().unwrap().1
            );
        }
        let mut tokens = lex_line(&line, &pos)?;
        if let Some(Token::Word(first)) = tokens.first() {
            if first.text.starts_with('$') && first.text.contains('=') {
                return Err(SyntaxError::new(
                    &first.pos,
                    "parameter definitions ($NAME=...) are not supported: expand them first (keepalived -t -d shows the result)",
                ));
            }
            if first.text.starts_with('@') {
                return Err(SyntaxError::new(
                    &first.pos,
                    "conditional lines (@NAME) are not supported: remove the lines that do not apply to this director",
                ));
            }
        }
        if let [Token::Word(keyword), rest @ ..] = tokens.as_slice()
            && keyword.text == "include"
        {
            let words: Vec<&Word> = rest
                .iter()
                .filter_map(|t| match t {
                    Token::Word(w) => Some(w),
                    _ => None,
                })
                .collect();
            let [pattern] = words.as_slice() else {
                return Err(SyntaxError::new(
                    &keyword.pos,
                    "include takes one file name or pattern",
                ));
            };
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(SyntaxError::new(
                    &keyword.pos,
                    format!(
                        "includes nest deeper than {MAX_INCLUDE_DEPTH} files: is a file including itself?"
                    ),
                ));
            }
            let target = resolve(path, &pattern.text);
            let found = sources
                .glob(&target)
                .map_err(|message| SyntaxError::new(&pattern.pos, message))?;
            if found.is_empty() && !target.contains(['*', '?', '[']) {
                return Err(SyntaxError::new(
                    &pattern.pos,
                    format!("include: {target} does not exist"),
                ));
            }
            for included in found {
                let text = sources
                    .read(&included)
                    .map_err(|message| SyntaxError::new(&pattern.pos, message))?;
                lex_file(sources, &included, &text, depth + 1, out)?;
                out.push(Token::EndOfLine);
            }
            continue;
        }
        out.append(&mut tokens);
        out.push(Token::EndOfLine);
    }
    Ok(())
}

fn lex_line(line: &str, pos: &dyn Fn(usize) -> Pos) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '#' | '!' => break,
            '{' => {
                tokens.push(Token::Open(pos(column)));
                i += 1;
            }
            '}' => {
                tokens.push(Token::Close(pos(column)));
                i += 1;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(SyntaxError::new(
                                &pos(column),
                                "this quote is never closed",
                            ));
                        }
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&c) => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push(Token::Word(Word {
                    text,
                    pos: pos(column),
                }));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '{' | '}' | '"')
                {
                    i += 1;
                }
                tokens.push(Token::Word(Word {
                    text: chars[start..i].iter().collect(),
                    pos: pos(column),
                }));
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::super::sources::Bundle;
    use super::*;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        Bundle {
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        }
    }

    fn outline(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let at = format!(
                    "{}@{}:{}:{}",
                    n.head(),
                    n.pos().file,
                    n.pos().line,
                    n.pos().column
                );
                match &n.block {
                    Some(children) => format!("{at}{{{}}}", outline(children)),
                    None => at,
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    #[test]
    fn blocks_comments_quotes_and_positions() {
        let text = "! Configuration File\nglobal_defs {\n   router_id LVS_1 # here\n}\n\nvirtual_server 10.0.0.1 80\n{\n  real_server 10.1.0.1 80 { weight 2 }\n  MISC_CHECK {\n    misc_path \"/bin/check --host x\"\n  }\n}\n";
        let nodes = parse(&bundle(&[("k.conf", text)]), "k.conf").unwrap();
        assert_eq!(
            outline(&nodes),
            "global_defs@k.conf:2:1{router_id LVS_1@k.conf:3:4};virtual_server 10.0.0.1 80@k.conf:6:1{real_server 10.1.0.1 80@k.conf:8:3{weight 2@k.conf:8:29};MISC_CHECK@k.conf:9:3{misc_path /bin/check --host x@k.conf:10:5}}"
        );
    }

    #[test]
    fn includes_splice_files_in_order() {
        let files = [
            (
                "etc/keepalived.conf",
                "global_defs {\n}\ninclude conf.d/*.conf\nvirtual_server fwmark 1 {\n include rs/*.rs\n}\n",
            ),
            ("etc/conf.d/b.conf", "virtual_server 10.0.0.2 80 {\n}\n"),
            ("etc/conf.d/a.conf", "virtual_server 10.0.0.1 80 {\n}\n"),
            ("etc/conf.d/skip.txt", "nonsense {"),
            ("etc/rs/1.rs", "real_server 10.1.0.1 0 {\n}\n"),
        ];
        let nodes = parse(&bundle(&files), "etc/keepalived.conf").unwrap();
        assert_eq!(
            outline(&nodes),
            "global_defs@etc/keepalived.conf:1:1{};virtual_server 10.0.0.1 80@etc/conf.d/a.conf:1:1{};virtual_server 10.0.0.2 80@etc/conf.d/b.conf:1:1{};virtual_server fwmark 1@etc/keepalived.conf:4:1{real_server 10.1.0.1 0@etc/rs/1.rs:1:1{}}"
        );
    }

    #[test]
    fn a_missing_main_file_is_named_once() {
        let err = parse(&bundle(&[]), "keepalived.conf").unwrap_err();
        assert_eq!(
            err.to_string(),
            "keepalived.conf is not among the files sent"
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases = [
            ("a {\n b\n", "k.conf:1:3: this `{` is never closed"),
            ("a\n}\n", "k.conf:2:1: `}` closes no block"),
            (
                "{\n}\n",
                "k.conf:1:1: `{` opens a block with no keyword before it",
            ),
            ("x \"open\n", "k.conf:1:3: this quote is never closed"),
            (
                "include missing.conf\n",
                "k.conf:1:9: include: missing.conf does not exist",
            ),
            (
                "include self.conf\n",
                "self.conf:1:1: includes nest deeper than 8 files: is a file including itself?",
            ),
            (
                "$IP=10.0.0.1\n",
                "k.conf:1:1: parameter definitions ($NAME=...) are not supported: expand them first (keepalived -t -d shows the result)",
            ),
        ];
        for (text, expected) in cases {
            let files = bundle(&[("k.conf", text), ("self.conf", "include self.conf\n")]);
            let err = parse(&files, "k.conf").unwrap_err();
            assert_eq!(err.to_string(), expected, "{text:?}");
        }
    }
}
