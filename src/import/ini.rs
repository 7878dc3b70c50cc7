//! supervisord's configuration files as its parser reads them: Python's `RawConfigParser` with
//! `;` and `#` comments (a whole line, or after whitespace), `=` or `:` between a key and its
//! value, keys in any case, continuation lines (indented) joined with a newline, and a section
//! or key written twice, in one file or across the files an `[include]` reads, merged, the last
//! value winning. No crate reads INI this way and says on which line each key is, which every
//! message here needs.

use std::collections::HashMap;

/// One `key = value` of a section, where it was last written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Lower case, as supervisord looks keys up.
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) line: usize,
    /// Which of the files read (0: the main one).
    pub(crate) file: usize,
}

/// One `[name]` and its entries in the order first written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) line: usize,
    /// The file that first wrote it.
    pub(crate) file: usize,
    pub(crate) entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Section {
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    /// The section with the keys of `defaults` (`[DEFAULT]`) it does not set, as Python's parser
    /// looks a key up.
    pub(crate) fn with_defaults(&self, defaults: &Section, read: impl Fn(&str) -> bool) -> Section {
        let mut section = self.clone();
        for entry in defaults.entries.iter().filter(|e| self.get(&e.key).is_none() && read(&e.key)) {
            section.set(entry.clone());
        }
        section
    }

    /// Writes `entry`, replacing an earlier value of its key in place; its index.
    fn set(&mut self, entry: Entry) -> usize {
        match self.index.get(&entry.key) {
            Some(&i) => {
                self.entries[i] = entry;
                i
            }
            None => {
                self.index.insert(entry.key.clone(), self.entries.len());
                self.entries.push(entry);
                self.entries.len() - 1
            }
        }
    }
}

/// The sections of every file read so far, merged, in the order first written.
#[derive(Debug, Default)]
pub(crate) struct Ini {
    pub(crate) sections: Vec<Section>,
    index: HashMap<String, usize>,
}

impl Ini {
    pub(crate) fn section(&self, name: &str) -> Option<&Section> {
        self.index.get(name).map(|&i| &self.sections[i])
    }

    /// Adds the sections of `text`, file number `file`; `Err`: the line and what is wrong there.
    pub(crate) fn read(&mut self, text: &str, file: usize) -> Result<(), (usize, String)> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The section and entry being written, and the indent of the line that opened the entry.
        let mut current: Option<usize> = None;
        let mut open: Option<usize> = None;
        let mut indent_level = usize::MAX;
        for (n, raw) in lines(text).enumerate() {
            let number = n + 1;
            let cut = comment_start(raw);
            let value = raw[..cut.unwrap_or(raw.len())].trim();
            if value.is_empty() {
                // A blank line inside a value is kept (trimmed at the end); a comment is not.
                if let (None, Some(s), Some(entry)) = (cut, current, open) {
                    self.sections[s].entries[entry].value.push('\n');
                }
                continue;
            }
            let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
            if let (Some(s), Some(entry)) = (current, open)
                && indent > indent_level
            {
                let v = &mut self.sections[s].entries[entry].value;
                v.push('\n');
                v.push_str(value);
                continue;
            }
            indent_level = indent;
            if let Some(name) = header(value) {
                open = None;
                current = Some(self.open_section(name, number, file));
                continue;
            }
            let Some(s) = current else {
                return Err((number, format!("`{value}` comes before any [section]")));
            };
            let Some(at) = value.find(['=', ':']) else {
                return Err((number, format!("`{value}` is not `key = value`")));
            };
            let key = value[..at].trim_end().to_lowercase();
            if key.is_empty() {
                return Err((number, format!("`{value}` has no key before its `{}`", &value[at..=at])));
            }
            let entry = Entry { key, value: value[at + 1..].trim_start().to_string(), line: number, file };
            open = Some(self.sections[s].set(entry));
        }
        for entry in self.sections.iter_mut().flat_map(|s| &mut s.entries).filter(|e| e.file == file) {
            let trimmed = entry.value.trim_end().len();
            entry.value.truncate(trimmed);
        }
        Ok(())
    }

    fn open_section(&mut self, name: &str, line: usize, file: usize) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let section =
            Section { name: name.to_string(), line, file, entries: Vec::new(), index: HashMap::new() };
        self.index.insert(name.to_string(), self.sections.len());
        self.sections.push(section);
        self.sections.len() - 1
    }
}

/// Lines as Python's text files split them: at `\n`, `\r\n` or a lone `\r`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r']) {
            Some(at) => {
                let next = if t[at..].starts_with("\r\n") { at + 2 } else { at + 1 };
                rest = (next < t.len()).then(|| &t[next..]);
                Some(&t[..at])
            }
            None => {
                rest = None;
                (!t.is_empty()).then_some(t)
            }
        }
    })
}

/// `[name]` at the start of a line: the name.
fn header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Where the line's comment starts, as Python's parser finds it: the whole line when it starts
/// with `;` or `#`; else, taking each prefix's occurrences in turn (first `;` and first `#`, then
/// the second of each ...), the earliest that follows whitespace in the first turn that has one.
fn comment_start(raw: &str) -> Option<usize> {
    let t = raw.trim();
    if t.starts_with('#') || t.starts_with(';') {
        return Some(0);
    }
    let mut next: Vec<(u8, usize)> = vec![(b';', 0), (b'#', 0)];
    let bytes = raw.as_bytes();
    while !next.is_empty() {
        let mut found = None;
        let mut still = Vec::new();
        for (prefix, from) in next {
            let Some(at) = bytes[from..].iter().position(|&b| b == prefix).map(|p| p + from) else {
                continue;
            };
            still.push((prefix, at + 1));
            let after_space = at == 0 || raw[..at].chars().next_back().is_some_and(char::is_whitespace);
            if after_space {
                found = Some(found.map_or(at, |f: usize| f.min(at)));
            }
        }
        if found.is_some() {
            return found;
        }
        next = still;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Ini, (usize, String)> {
        let mut ini = Ini::default();
        ini.read(text, 0).map(|()| ini)
    }

    fn one(text: &str) -> Vec<(String, String, usize)> {
        let ini = parse(text).expect("parses");
        ini.sections[0].entries.iter().map(|e| (e.key.clone(), e.value.clone(), e.line)).collect()
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
    fn comments_are_whole_lines_or_follow_whitespace() {
        assert_eq!(
            one("; top\n[a]\n# c\nk = v ; note\nj = a;b#c\n  ; indented comment\nl = x\t#y\n"),
            [pair("k", "v", 4), pair("j", "a;b#c", 5), pair("l", "x", 7)]
        );
    }

    #[test]
    fn an_inline_comment_is_found_as_python_finds_it() {
        // The first `;` follows a space, the first `#` does not: Python stops at that turn and
        // keeps ` #c`, which follows a space too.
        assert_eq!(one("[a]\nk = a#b #c ;d\n"), [pair("k", "a#b #c", 2)]);
        assert_eq!(one("[a]\nk = a;b ;c #d\n"), [pair("k", "a;b ;c", 2)]);
        assert_eq!(one("[a]\nk = x #1 ;2\n"), [pair("k", "x", 2)]);
    }

    #[test]
    fn indented_lines_continue_a_value() {
        let entries = one("[a]\nenvironment = A=1,\n    B=2\n\n    ; not this\n    C=3\nnext = n\n");
        assert_eq!(entries, [pair("environment", "A=1,\nB=2\n\nC=3", 2), pair("next", "n", 7)]);
        assert_eq!(one("[a]\nk = v\n\n\n")[0].1, "v", "blank lines at the end are not part of it");
        assert_eq!(one("[a]\r\nk = 1\r  2\rj = 3")[0].1, "1\n2", "\\r ends a line as in Python");
    }

    #[test]
    fn sections_and_keys_written_twice_merge_and_the_last_wins_across_files() {
        let mut ini = parse("[a]\nk = 1\nj = 2\n[b]\n[a]\nk = 3\n").expect("parses");
        assert_eq!(ini.sections.len(), 2);
        let keys = |ini: &Ini| -> Vec<(String, String, usize, usize)> {
            ini.sections[0].entries.iter().map(|e| (e.key.clone(), e.value.clone(), e.line, e.file)).collect()
        };
        assert_eq!(keys(&ini), [("k".into(), "3".into(), 6, 0), ("j".into(), "2".into(), 3, 0)]);
        ini.read("[a]\nj = 4\n", 1).expect("parses");
        assert_eq!(keys(&ini)[1], ("j".into(), "4".into(), 2, 1));
        assert_eq!(ini.section("a").map(|s| s.file), Some(0));
    }

    #[test]
    fn what_is_not_ini_is_said_with_its_line() {
        assert_eq!(parse("k = v\n").unwrap_err(), (1, "`k = v` comes before any [section]".into()));
        assert_eq!(parse("[a]\njust words\n").unwrap_err(), (2, "`just words` is not `key = value`".into()));
        assert_eq!(parse("[a]\n= x\n").unwrap_err(), (2, "`= x` has no key before its `=`".into()));
        assert_eq!(parse("\u{feff}[program:x]\n").expect("parses").sections[0].name, "program:x");
    }
}
