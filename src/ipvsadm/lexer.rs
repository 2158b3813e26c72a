//! Splits ipvsadm text into command lines of words, the way a shell would
//! for the simple scripts operators keep: `#` comments, `\` continuations,
//! single and double quotes. Anything a shell would expand or redirect is
//! refused, since lvsd cannot know what it would have become.

use super::ParseError;

/// One word of a command, with the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub text: String,
    pub line: usize,
}

/// One ipvsadm invocation: the words after the program name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CommandLine {
    /// Line the command starts on.
    pub line: usize,
    pub words: Vec<Word>,
}

/// Splits `text` into commands, dropping comments, blank lines and a leading
/// `ipvsadm` (scripts have it, `ipvsadm -S` output does not).
pub(super) fn split(text: &str) -> Result<Vec<CommandLine>, ParseError> {
    // Scripts saved on Windows: a `\` before CRLF still continues the line.
    let text = text.replace("\r\n", "\n");
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        commands: Vec::new(),
        words: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer
        .commands
        .into_iter()
        .filter_map(strip_program)
        .collect())
}

fn strip_program(mut command: CommandLine) -> Option<CommandLine> {
    let first = command.words.first()?;
    if first.text == "ipvsadm" || first.text.ends_with("/ipvsadm") {
        command.words.remove(0);
        // `ipvsadm` alone lists the table: it changes nothing.
        let first = command.words.first()?;
        command.line = first.line;
    }
    Some(command)
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    commands: Vec<CommandLine>,
    words: Vec<Word>,
}

impl Lexer<'_> {
    fn run(&mut self) -> Result<(), ParseError> {
        while let Some(c) = self.chars.next() {
            match c {
                '\n' => {
                    self.end_command();
                    self.line += 1;
                }
                ' ' | '\t' | '\r' => {}
                '#' => self.skip_comment(),
                '\\' if self.chars.peek() == Some(&'\n') => {
                    self.chars.next();
                    self.line += 1;
                }
                _ => self.word(c)?,
            }
        }
        self.end_command();
        Ok(())
    }

    fn end_command(&mut self) {
        if !self.words.is_empty() {
            let words = std::mem::take(&mut self.words);
            self.commands.push(CommandLine {
                line: words[0].line,
                words,
            });
        }
    }

    /// Everything up to the newline, which still ends the command.
    fn skip_comment(&mut self) {
        while self.chars.peek().is_some_and(|&c| c != '\n') {
            self.chars.next();
        }
    }

    /// Reads one word starting with `first`.
    fn word(&mut self, first: char) -> Result<(), ParseError> {
        let line = self.line;
        let mut text = String::new();
        let mut next = Some(first);
        while let Some(c) = next {
            match c {
                ' ' | '\t' | '\r' => break,
                '\n' => {
                    // Ends the word and the command.
                    self.words.push(Word { text, line });
                    self.end_command();
                    self.line += 1;
                    return Ok(());
                }
                '\'' => self.single_quoted(&mut text)?,
                '"' => self.double_quoted(&mut text)?,
                '\\' => match self.chars.next() {
                    Some('\n') => self.line += 1,
                    Some(escaped) => text.push(escaped),
                    None => {}
                },
                c => {
                    refuse_shell_syntax(c, self.line)?;
                    text.push(c);
                }
            }
            next = self.chars.next();
        }
        self.words.push(Word { text, line });
        Ok(())
    }

    fn single_quoted(&mut self, text: &mut String) -> Result<(), ParseError> {
        let start = self.line;
        loop {
            match self.chars.next() {
                Some('\'') => return Ok(()),
                Some(c) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    text.push(c);
                }
                None => return Err(ParseError::new(start, "unterminated single quote")),
            }
        }
    }

    fn double_quoted(&mut self, text: &mut String) -> Result<(), ParseError> {
        let start = self.line;
        loop {
            match self.chars.next() {
                Some('"') => return Ok(()),
                // Inside double quotes a backslash only escapes these.
                Some('\\') => match self.chars.next() {
                    Some('\n') => self.line += 1,
                    Some(c @ ('"' | '\\' | '$' | '`')) => text.push(c),
                    Some(c) => {
                        text.push('\\');
                        text.push(c);
                    }
                    None => return Err(ParseError::new(start, "unterminated double quote")),
                },
                Some(c @ ('$' | '`')) => refuse_shell_syntax(c, self.line)?,
                Some(c) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    text.push(c);
                }
                None => return Err(ParseError::new(start, "unterminated double quote")),
            }
        }
    }
}

/// Characters a shell would act on; reading them literally would silently
/// build something other than what the script built.
fn refuse_shell_syntax(c: char, line: usize) -> Result<(), ParseError> {
    let why = match c {
        '$' | '`' => "shell expansions are not performed: write the value itself",
        ';' | '&' | '|' => "one ipvsadm command per line, without shell operators",
        '<' | '>' => "redirections are not supported",
        '(' | ')' => "subshells are not supported",
        _ => return Ok(()),
    };
    Err(ParseError::new(line, format!("`{c}`: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(usize, Vec<(usize, String)>)> {
        split(text)
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.line,
                    c.words.into_iter().map(|w| (w.line, w.text)).collect(),
                )
            })
            .collect()
    }

    fn w(line: usize, text: &str) -> (usize, String) {
        (line, text.to_string())
    }

    #[test]
    fn comments_blank_lines_and_program_name() {
        let text = "#!/bin/sh\n\n  # a comment\nipvsadm -C   # flush\n/sbin/ipvsadm -A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\nipvsadm\n";
        assert_eq!(
            words(text),
            vec![
                (4, vec![w(4, "-C")]),
                (5, vec![w(5, "-A"), w(5, "-t"), w(5, "10.0.0.1:80")]),
                (
                    6,
                    vec![
                        w(6, "-a"),
                        w(6, "-t"),
                        w(6, "10.0.0.1:80"),
                        w(6, "-r"),
                        w(6, "10.0.1.1")
                    ]
                ),
            ]
        );
    }

    #[test]
    fn continuations_and_quotes() {
        let text =
            "ipvsadm -A \\\r\n  -t '10.0.0.1:80' \\\n  -s \"wrr\"\r\n-a -t 10.0.0.1:80 -r\\ 1 x#y";
        assert_eq!(
            words(text),
            vec![
                (
                    1,
                    vec![
                        w(1, "-A"),
                        w(2, "-t"),
                        w(2, "10.0.0.1:80"),
                        w(3, "-s"),
                        w(3, "wrr")
                    ]
                ),
                (
                    4,
                    vec![
                        w(4, "-a"),
                        w(4, "-t"),
                        w(4, "10.0.0.1:80"),
                        w(4, "-r 1"),
                        w(4, "x#y")
                    ]
                ),
            ]
        );
    }

    #[test]
    fn refuses_what_a_shell_would_expand() {
        for (text, line) in [
            ("-A -t $VIP:80", 1),
            ("\n-A -t \"$VIP\"", 2),
            ("-C; -A -t 1.1.1.1:80", 1),
            ("-S > rules", 1),
            ("\n\n-A -t '1.1.1.1:80", 3),
            ("-A -t \"1.1.1.1:80", 1),
        ] {
            let err = split(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
        }
    }
}
