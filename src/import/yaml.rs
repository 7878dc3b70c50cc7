//! The YAML an import writes: by hand, so that it keeps the order of the input and says in
//! comments what it could not carry over.

/// `text` as a YAML scalar: bare when YAML reads it back as this text, else in single quotes.
pub(crate) fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text.trim() == text
        && !text.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`~".contains(c))
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.contains(['\n', '\t'])
        && !text.chars().any(unprintable)
        && !reads_as_other(text);
    match plain {
        true => text.to_string(),
        false if text.chars().any(|c| c == '\n' || c == '\t' || unprintable(c)) => double_quoted(text),
        false => format!("'{}'", text.replace('\'', "''")),
    }
}

/// A character YAML does not keep as written in a plain or single-quoted scalar, or in a comment:
/// control characters, and the line breaks of YAML 1.1 (NEL, LS, PS) and the byte-order mark.
fn unprintable(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn double_quoted(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if unprintable(c) => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` fit for a comment line: what would end the line or not show is written escaped.
pub(crate) fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if unprintable(c) { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// `text` as a scalar inside `{...}`, where `,` and brackets end a bare one.
pub(crate) fn flow_scalar(text: &str) -> String {
    match text.contains([',', '[', ']', '{', '}']) {
        true => format!("'{}'", text.replace('\'', "''")),
        false => scalar(text),
    }
}

/// YAML would read it as a number, a boolean or null.
fn reads_as_other(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n")
        || text.parse::<f64>().is_ok()
        || text.starts_with("0x")
        || text.starts_with("0o")
}

/// Lines of YAML with comments, indented by level.
#[derive(Default)]
pub(crate) struct Writer {
    out: String,
}

impl Writer {
    pub(crate) fn line(&mut self, level: usize, text: &str) {
        self.out.push_str(&"  ".repeat(level));
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub(crate) fn key(&mut self, level: usize, key: &str, value: &str) {
        self.line(level, &format!("{key}: {value}"));
    }

    /// A comment; each line of `text` is one.
    pub(crate) fn comment(&mut self, level: usize, text: &str) {
        for line in text.split('\n') {
            self.line(level, &format!("# {}", comment_text(line)));
        }
    }

    pub(crate) fn blank(&mut self) {
        self.out.push('\n');
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_bare_when_they_read_back_the_same() {
        assert_eq!(scalar("/usr/bin/nginx -g 'daemon off;'"), "/usr/bin/nginx -g 'daemon off;'");
        assert_eq!(scalar("true"), "'true'");
        assert_eq!(scalar("022"), "'022'");
        assert_eq!(scalar("a: b"), "'a: b'");
        assert_eq!(scalar("it's # x"), "'it''s # x'");
        assert_eq!(scalar("%(x)s"), "'%(x)s'");
        assert_eq!(scalar(""), "''");
        assert_eq!(scalar("a\nb"), "\"a\\nb\"");
        assert_eq!(scalar("a\rb\u{2028}"), "\"a\\u000Db\\u2028\"");
        assert_eq!(comment_text("x\ry\u{85}"), "x\\ry\\u{85}");
        for text in [
            "-x",
            "{a}",
            "[1]",
            "*x",
            "a #b",
            " lead",
            "no",
            "1e3",
            "~",
            "a\rb",
            "\u{85}\u{2028}\u{feff}x\u{7}",
        ] {
            let back: String = serde_yaml::from_str(&scalar(text)).expect("YAML");
            assert_eq!(back, text);
        }
    }
}
