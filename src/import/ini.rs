//! supervisord's configuration files as its parser reads them: Python's `RawConfigParser` with
//! `;` and `#` comments (a whole line, or after a space), `=` or `:` between a key and its
//! value, keys in any case, continuation lines (indented) joined with a newline, and a section
//! or key written twice merged, the last value winning. No crate reads INI this way and says on
//! which line each key is, which every message here needs.

/// One `key = value` of a section, where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Lower case, as supervisord looks keys up.
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
}

/// One `[name]` and its entries in the order first written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) entries: Vec<Entry>,
}

impl Section {
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// The sections of `text`, in the order first written; `Err`: the line and what is wrong there.
pub(crate) fn parse(text: &str) -> Result<Vec<Section>, (usize, String)> {
    let mut sections: Vec<Section> = Vec::new();
    // The section and entry being written, and the indent of the line that opened the entry.
    let mut current: Option<usize> = None;
    let mut open: Option<(usize, usize)> = None;
    let mut indent_level = usize::MAX;
    for (n, raw) in text.lines().enumerate() {
        let number = n + 1;
        let value = strip_comment(raw);
        if value.trim().is_empty() {
            // A blank line inside a value is kept (trimmed at the end); a comment line is not,
            // and ends nothing either.
            match (is_comment(raw), open, current) {
                (false, Some((_, entry)), Some(s)) if raw.trim().is_empty() => {
                    sections[s].entries[entry].value.push('\n');
                }
                (false, _, _) => indent_level = usize::MAX,
                (true, _, _) => {}
            }
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if let (Some(s), Some((_, entry))) = (current, open)
            && indent > indent_level
        {
            let v = &mut sections[s].entries[entry].value;
            v.push('\n');
            v.push_str(value.trim());
            continue;
        }
        indent_level = indent;
        let value = value.trim();
        if let Some(name) = header(value) {
            open = None;
            current = match sections.iter().position(|s| s.name == name) {
                Some(i) => Some(i),
                None => {
                    sections.push(Section { name: name.to_string(), line: number, entries: Vec::new() });
                    Some(sections.len() - 1)
                }
            };
            continue;
        }
        let Some(s) = current else {
            return Err((number, format!("`{value}` comes before any [section]")));
        };
        let Some(at) = value.find(['=', ':']) else {
            return Err((number, format!("`{value}` is not `key = value`")));
        };
        let key = value[..at].trim_end().to_lowercase();
        let entry = Entry { key, value: value[at + 1..].trim_start().to_string(), line: number };
        let entries = &mut sections[s].entries;
        let index = match entries.iter().position(|e| e.key == entry.key) {
            Some(i) => {
                entries[i] = entry;
                i
            }
            None => {
                entries.push(entry);
                entries.len() - 1
            }
        };
        open = Some((s, index));
    }
    for section in &mut sections {
        for entry in &mut section.entries {
            let trimmed = entry.value.trim_end().len();
            entry.value.truncate(trimmed);
        }
    }
    Ok(sections)
}

/// `[name]` at the start of a line: the name.
fn header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

fn is_comment(raw: &str) -> bool {
    let t = raw.trim_start();
    t.starts_with('#') || t.starts_with(';')
}

/// The line without its comment: all of it when it starts with `;` or `#`, else from a `;` or
/// `#` that follows whitespace.
fn strip_comment(raw: &str) -> &str {
    if is_comment(raw) {
        return "";
    }
    let bytes = raw.as_bytes();
    let cut =
        (1..bytes.len()).find(|&i| matches!(bytes[i], b';' | b'#') && bytes[i - 1].is_ascii_whitespace());
    &raw[..cut.unwrap_or(raw.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Vec<(String, String, usize)> {
        let sections = parse(text).expect("parses");
        sections[0].entries.iter().map(|e| (e.key.clone(), e.value.clone(), e.line)).collect()
    }

    fn pair(key: &str, value: &str, line: usize) -> (String, String, usize) {
        (key.to_string(), value.to_string(), line)
    }

    #[test]
    fn keys_take_either_delimiter_and_any_case() {
        assert_eq!(
            one("[program:x]\nCommand = /bin/cat\nnumprocs:2\nurl=http://h:80/x\n"),
            [pair("command", "/bin/cat", 2), pair("numprocs", "2", 3), pair("url", "http://h:80/x", 4)]
        );
    }

    #[test]
    fn comments_are_whole_lines_or_follow_a_space() {
        assert_eq!(
            one("; top\n[a]\n# c\nk = v ; note\nj = a;b#c\n  ; indented comment\nl = x #y\n"),
            [pair("k", "v", 4), pair("j", "a;b#c", 5), pair("l", "x", 7)]
        );
    }

    #[test]
    fn indented_lines_continue_a_value() {
        let entries = one("[a]\nenvironment = A=1,\n    B=2\n\n    C=3\nnext = n\n");
        assert_eq!(entries, [pair("environment", "A=1,\nB=2\n\nC=3", 2), pair("next", "n", 6)]);
        assert_eq!(one("[a]\nk = v\n\n\n")[0].1, "v", "blank lines at the end are not part of it");
    }

    #[test]
    fn sections_and_keys_written_twice_merge_and_the_last_wins() {
        let sections = parse("[a]\nk = 1\nj = 2\n[b]\n[a]\nk = 3\n").expect("parses");
        assert_eq!(sections.len(), 2);
        assert_eq!(
            sections[0].entries,
            [
                Entry { key: "k".into(), value: "3".into(), line: 6 },
                Entry { key: "j".into(), value: "2".into(), line: 3 }
            ]
        );
    }

    #[test]
    fn what_is_not_ini_is_said_with_its_line() {
        assert_eq!(parse("k = v\n"), Err((1, "`k = v` comes before any [section]".into())));
        assert_eq!(parse("[a]\njust words\n"), Err((2, "`just words` is not `key = value`".into())));
        assert_eq!(parse("[program:x]\n").expect("parses")[0].name, "program:x");
    }
}
