//! `${NAME}` in the values that say what a process runs (taskmaster(1), VARIABLES): filled in
//! from taskmaster's environment and the program's `env` when the file is read, except the two
//! that differ from one process of a program to the next, which stay in a `Template` until each
//! process is started. `$$` is a `$`; a `$` before anything else is kept, so that `$HOME` still
//! reaches a shell.

use std::fmt::Write as _;

/// The variable a process's number (from 0) is put in for.
pub(crate) const PROCESS_NUM: &str = "TASKMASTER_PROCESS_NUM";
/// The variable a process's name (`web:web_01`) is put in for.
pub(crate) const PROCESS_NAME: &str = "TASKMASTER_PROCESS_NAME";

/// A text with a hole for each use of a process's number or name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// The number, with at least this many digits (zeros before).
    Number(usize),
    Name,
}

impl Template {
    pub(crate) fn text(text: &str) -> Template {
        let mut t = Template::default();
        t.push_text(text);
        t
    }

    fn push_text(&mut self, text: &str) {
        match self.0.last_mut() {
            Some(Piece::Text(last)) => last.push_str(text),
            _ if text.is_empty() => {}
            _ => self.0.push(Piece::Text(text.to_string())),
        }
    }

    fn append(&mut self, other: &Template) {
        for piece in &other.0 {
            match piece {
                Piece::Text(text) => self.push_text(text),
                hole => self.0.push(hole.clone()),
            }
        }
    }

    /// The same holes, each text passed through `f` (to quote it, say).
    pub(crate) fn map_text(&self, f: impl Fn(&str) -> String) -> Template {
        Template(
            self.0
                .iter()
                .map(|p| match p {
                    Piece::Text(text) => Piece::Text(f(text)),
                    hole => hole.clone(),
                })
                .collect(),
        )
    }

    /// This, then `other`.
    pub(crate) fn then(mut self, other: &Template) -> Template {
        self.append(other);
        self
    }

    /// Without its first `bytes` bytes, which are text.
    pub(crate) fn strip_prefix(&self, bytes: usize) -> Template {
        let mut pieces = self.0.clone();
        if let Some(Piece::Text(first)) = pieces.first_mut() {
            first.drain(..bytes.min(first.len()));
            if first.is_empty() {
                pieces.remove(0);
            }
        }
        Template(pieces)
    }

    /// The text for the process numbered `number` and named `name`.
    pub(crate) fn render(&self, number: u32, name: &str) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Number(width) => {
                    let _ = write!(out, "{number:0width$}");
                }
                Piece::Name => out.push_str(name),
            }
        }
        out
    }

    /// The same for every process: no hole.
    pub(crate) fn is_fixed(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Piece::Text(_)))
    }

    /// As a configuration writes it: every `$` doubled, each hole by its variable. Read again,
    /// it is the same template.
    pub(crate) fn written(&self) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(&escape(text)),
                Piece::Number(0) => out.push_str(&format!("${{{PROCESS_NUM}}}")),
                Piece::Number(width) => out.push_str(&format!("${{{PROCESS_NUM}:0{width}}}")),
                Piece::Name => out.push_str(&format!("${{{PROCESS_NAME}}}")),
            }
        }
        out
    }
}

/// `text` as a configuration writes it where variables are expanded: `$` as `$$`.
pub(crate) fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// Where the values of names come from.
pub(crate) trait Lookup {
    fn find(&self, name: &str) -> Found;
    /// Every name it knows, for a hint when one is misspelt.
    fn names(&self) -> Vec<String>;
    /// Where it looks, as a message says it: "taskmaster's environment".
    fn places(&self) -> &'static str;
}

/// What a name stands for where a value is expanded.
pub(crate) enum Found {
    Value(Template),
    /// Not set anywhere the value may look.
    Unset,
    /// Set, but not usable here; the reason.
    NotHere(String),
}

/// `text` with `${NAME}` replaced by what `lookup` finds, `${NAME:-default}` by the default when
/// the name is unset, and `$$` by `$`. `Err`: the message for the first reference that could not
/// be filled in, or that is not one.
pub(crate) fn expand(text: &str, lookup: &dyn Lookup) -> Result<Template, String> {
    let mut out = Template::default();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_text(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push_text("$");
            rest = more;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = closing(inner) else {
                return Err(format!("`${{` is not closed in {text:?}: write `${{NAME}}`, or `$$` for a `$`"));
            };
            let reference = &inner[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            // `${TASKMASTER_PROCESS_NUM:02}`: 00, 01 ... (supervisord's `%(process_num)02d`).
            let (name, width) = match name.split_once(':') {
                Some((name, digits)) if digits.starts_with('0') && digits.len() > 1 => {
                    match (name, digits.parse::<usize>()) {
                        (PROCESS_NUM, Ok(width)) if width <= 9 => (name, width),
                        _ => {
                            return Err(format!(
                                "`${{{reference}}}`: only `${{{PROCESS_NUM}:0N}}` takes a width, of 1 to 9 digits"
                            ));
                        }
                    }
                }
                _ => (name, 0),
            };
            if !is_name(name) {
                return Err(format!(
                    "`${{{reference}}}` does not name a variable (letters, digits and `_`, not starting \
                     with a digit); write `$$` for a `$`"
                ));
            }
            match (lookup.find(name), default) {
                (Found::Value(value), _) if width > 0 => out.0.extend(value.0.iter().map(|p| match p {
                    Piece::Number(_) => Piece::Number(width),
                    other => other.clone(),
                })),
                (Found::Value(value), _) => out.append(&value),
                (Found::Unset, Some(default)) => out.append(&expand(default, lookup)?),
                (Found::Unset, None) => {
                    // `nearest` reads the word in lower case; names are mostly upper.
                    let names = lookup.names();
                    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
                    let known: Vec<&str> = lower.iter().map(String::as_str).collect();
                    let hint = super::nearest(name, &known)
                        .and_then(|n| known.iter().position(|k| *k == n))
                        .map(|i| format!(" (did you mean `{}`?)", names[i]))
                        .unwrap_or_default();
                    return Err(format!(
                        "`${{{name}}}` is not set in {}{hint}; give it a default with \
                         `${{{name}:-value}}`, or write `$${{{name}}}` for the text itself",
                        lookup.places()
                    ));
                }
                (Found::NotHere(why), _) => return Err(format!("`${{{name}}}` {why}")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push_text("$");
            rest = after;
        }
    }
    out.push_text(rest);
    Ok(out)
}

/// Where the `}` that closes a `${` is in `inner` (the text after it): a default may hold
/// references of its own (`${A:-${B}}`).
fn closing(inner: &str) -> Option<usize> {
    let bytes = inner.as_bytes();
    let (mut depth, mut i) = (1usize, 0);
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'$', Some(b'$')) => i += 2,
            (b'$', Some(b'{')) => {
                depth += 1;
                i += 2;
            }
            (b'}', _) => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The hole a process variable leaves, for a lookup that allows them.
pub(crate) fn process_variable(name: &str) -> Option<Template> {
    let piece = match name {
        PROCESS_NUM => Piece::Number(0),
        PROCESS_NAME => Piece::Name,
        _ => return None,
    };
    Some(Template(vec![piece]))
}

/// A variable's name as a shell takes it: letters, digits and `_`, not starting with a digit.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Known;

    impl Lookup for Known {
        fn find(&self, name: &str) -> Found {
            match name {
                "PORT" => Found::Value(Template::text("8080")),
                "SPACED" => Found::Value(Template::text("a b")),
                "SECRET" => Found::NotHere("is not for here".into()),
                other => process_variable(other).map_or(Found::Unset, Found::Value),
            }
        }

        fn names(&self) -> Vec<String> {
            vec!["PORT".into(), "SPACED".into()]
        }

        fn places(&self) -> &'static str {
            "the test's table"
        }
    }

    fn fixed(text: &str) -> String {
        let t = expand(text, &Known).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.is_fixed(), "{t:?}");
        t.render(9, "nine")
    }

    #[test]
    fn names_are_filled_in_and_dollars_kept_or_doubled() {
        assert_eq!(fixed("--port ${PORT}"), "--port 8080");
        assert_eq!(fixed("${PORT}${PORT}"), "80808080");
        assert_eq!(fixed("echo $$ $HOME $1 $"), "echo $ $HOME $1 $");
        assert_eq!(fixed("$${PORT}"), "${PORT}");
        assert_eq!(fixed("$$$${PORT}"), "$${PORT}");
        assert_eq!(fixed("$$$$${PORT}"), "$$8080");
        assert_eq!(fixed("${NOPE:-none} ${NOPE:-} ${PORT:-x}"), "none  8080");
        assert_eq!(fixed("${NOPE:-${PORT}} ${NOPE:-${NADA:-a}b}c"), "8080 abc");
        assert_eq!(fixed("${NOPE:-a$$}b}"), "a$b}");
        assert_eq!(fixed("${SPACED}"), "a b");
        assert_eq!(fixed("plain"), "plain");
    }

    #[test]
    fn a_process_variable_leaves_a_hole_for_each_process() {
        let t = expand("--port 80${TASKMASTER_PROCESS_NUM} --name=${TASKMASTER_PROCESS_NAME}$$", &Known)
            .expect("valid");
        assert!(!t.is_fixed());
        assert_eq!(t.render(0, "web:web_00"), "--port 800 --name=web:web_00$");
        assert_eq!(t.render(2, "web:web_02"), "--port 802 --name=web:web_02$");
        assert_eq!(t.written(), "--port 80${TASKMASTER_PROCESS_NUM} --name=${TASKMASTER_PROCESS_NAME}$$");
        let padded = expand("80${TASKMASTER_PROCESS_NUM:02}", &Known).expect("valid");
        assert_eq!(padded.render(3, "x"), "8003");
        assert_eq!(padded.render(123, "x"), "80123");
        assert_eq!(padded.written(), "80${TASKMASTER_PROCESS_NUM:02}");
        assert!(
            expand("${PORT:02}", &Known)
                .unwrap_err()
                .contains("only `${TASKMASTER_PROCESS_NUM:0N}` takes a width")
        );
        let again = expand(&t.written(), &Known).expect("reads back");
        assert_eq!(again, t);
    }

    #[test]
    fn what_cannot_be_filled_in_is_said() {
        let err = |text: &str| expand(text, &Known).expect_err(text);
        assert!(err("${PORTT}").starts_with("`${PORTT}` is not set"), "{}", err("${PORTT}"));
        assert!(err("${PORTT}").contains("did you mean `PORT`?"));
        assert!(err("${PORT").contains("is not closed"));
        assert!(err("${X:-${PORT}").contains("is not closed"));
        assert!(err("${X:-${NOPE}}").starts_with("`${NOPE}` is not set in the test's table"));
        assert!(err("${}").contains("does not name a variable"));
        assert!(err("${1X}").contains("does not name a variable"));
        assert!(err("${A B}").contains("does not name a variable"));
        assert_eq!(err("${SECRET}"), "`${SECRET}` is not for here");
    }
}
