//! Python's `shlex`, in the two modes supervisord uses it: `shlex.split` (POSIX rules) for
//! `command`, and the older, non-POSIX lexer for `environment`, whose quotes stay in the word and
//! whose other characters each make a word of their own. An import must cut a line where
//! supervisord cuts it, not where a shell would.

const WHITESPACE: &str = " \t\r\n";

/// `shlex.split(text)`: the words of a command as supervisord passes them to `execve`.
pub(crate) fn split(text: &str) -> Result<Vec<String>, String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Quote(char),
        /// After a backslash; the state to return to.
        Escape(Option<char>),
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut state = State::Between;
    for c in text.chars() {
        state = match (state, c) {
            (State::Between | State::Word, c) if WHITESPACE.contains(c) => {
                if state == State::Word || quoted {
                    words.push(std::mem::take(&mut word));
                }
                quoted = false;
                State::Between
            }
            (State::Between | State::Word, '\\') => State::Escape(None),
            (State::Between | State::Word, '"' | '\'') => {
                quoted = true;
                State::Quote(c)
            }
            (State::Between | State::Word, c) => {
                word.push(c);
                State::Word
            }
            (State::Quote(q), c) if c == q => State::Word,
            (State::Quote('"'), '\\') => State::Escape(Some('"')),
            (State::Quote(q), c) => {
                word.push(c);
                State::Quote(q)
            }
            (State::Escape(within), c) => {
                // Inside double quotes only `"` and `\` are escaped; the backslash stays before
                // anything else (`"\$HOME"` is `\$HOME`).
                if let Some(q) = within
                    && c != q
                    && c != '\\'
                {
                    word.push('\\');
                }
                word.push(c);
                within.map_or(State::Word, State::Quote)
            }
        };
    }
    match state {
        State::Quote(_) => Err("a quote is not closed".to_string()),
        State::Escape(_) => Err("it ends with a lone `\\`".to_string()),
        State::Word => {
            words.push(word);
            Ok(words)
        }
        State::Between => Ok(words),
    }
}

/// The words of supervisord's non-POSIX lexer: runs of letters, digits and `_/.+-():` (and of
/// `is_word` characters), quoted strings with their quotes, `#` to the end of the line dropped,
/// and any other character a word by itself.
pub(crate) fn words(text: &str, is_word: impl Fn(char) -> bool) -> Result<Vec<String>, String> {
    let word_char = |c: char| c.is_ascii_alphanumeric() || "_/.+-():".contains(c) || is_word(c);
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars();
    #[derive(PartialEq)]
    enum State {
        Between,
        Word,
        Quote(char),
    }
    let mut state = State::Between;
    let skip_line = |chars: &mut std::str::Chars| {
        for c in chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
    };
    while let Some(c) = chars.next() {
        match state {
            State::Between => match c {
                c if WHITESPACE.contains(c) => {}
                '#' => skip_line(&mut chars),
                '\'' | '"' => {
                    word.push(c);
                    state = State::Quote(c);
                }
                c if word_char(c) => {
                    word.push(c);
                    state = State::Word;
                }
                c => words.push(c.to_string()),
            },
            State::Quote(q) => {
                word.push(c);
                if c == q {
                    words.push(std::mem::take(&mut word));
                    state = State::Between;
                }
            }
            // A comment inside a word drops the rest of the line, and the word goes on with
            // the next one: Python's own behaviour in this mode.
            State::Word => match c {
                c if WHITESPACE.contains(c) => {
                    words.push(std::mem::take(&mut word));
                    state = State::Between;
                }
                '#' => skip_line(&mut chars),
                c if word_char(c) || c == '\'' || c == '"' => word.push(c),
                c => {
                    words.push(std::mem::take(&mut word));
                    words.push(c.to_string());
                    state = State::Between;
                }
            },
        }
    }
    match state {
        State::Quote(_) => Err("a quote is not closed".to_string()),
        State::Word => {
            words.push(word);
            Ok(words)
        }
        State::Between => Ok(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_ok(text: &str) -> Vec<String> {
        split(text).expect("splits")
    }

    #[test]
    fn split_keeps_what_python_keeps() {
        assert_eq!(split_ok("a  'b c' \"d\\\"e\" f\\ g"), ["a", "b c", "d\"e", "f g"]);
        assert_eq!(split_ok("echo \"\\$HOME\" '\\n' \"\\\\\""), ["echo", "\\$HOME", "\\n", "\\"]);
        assert_eq!(split_ok("x '' \"\"y # z"), ["x", "", "y", "#", "z"]);
        assert!(split("a 'b").is_err());
        assert!(split("a \\").is_err());
    }

    #[test]
    fn words_are_the_non_posix_lexer_s() {
        let w = |t: &str| words(t, |_| false).expect("lexes");
        assert_eq!(w("A=1, B=\"two, three\""), ["A", "=", "1", ",", "B", "=", "\"two, three\""]);
        assert_eq!(w("A=x\"y z\""), ["A", "=", "x\"y", "z\""]);
        assert_eq!(w("D=$x,P=/a:b"), ["D", "=", "$", "x", ",", "P", "=", "/a:b"]);
        assert_eq!(w("A=1 # note\nB=2"), ["A", "=", "1", "B", "=", "2"]);
        assert_eq!(w("A=1#note\nB=2"), ["A", "=", "1B", "=", "2"]);
        assert!(words("A='x", |_| false).is_err());
    }
}
