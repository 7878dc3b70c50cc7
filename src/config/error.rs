//! Configuration errors: every problem of a file, each with where it is and what was expected.

use super::node::{Position, Seg};
use std::fmt;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// Where in the document; resolved to a line and column when the report is made.
    pub(crate) path: Vec<Seg>,
    pub(crate) position: Option<Position>,
    /// `program 'web'`, `taskmaster` or empty for the top level.
    pub(crate) section: String,
    /// The key the problem is about, when there is one.
    pub(crate) key: Option<String>,
    pub(crate) message: String,
    /// The included file it is in (as shown); `None`: the file the error is about.
    pub(crate) file: Option<String>,
}

/// Every problem found in one file. Never empty.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigError {
    /// The file as the user named it.
    pub(crate) file: String,
    pub(crate) problems: Vec<Problem>,
}

impl ConfigError {
    /// An error about the file as a whole (unreadable, not YAML, ...).
    pub(crate) fn whole(file: &str, message: String, position: Option<Position>) -> ConfigError {
        let problem =
            Problem { path: Vec::new(), position, section: String::new(), key: None, message, file: None };
        ConfigError { file: file.to_string(), problems: vec![problem] }
    }

    /// The problems, one line each, as printed by `--check` and returned by `reload`.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.problems.iter().map(|p| format!("{}: {}", self.place(p), describe(p))).collect()
    }

    fn place(&self, p: &Problem) -> String {
        let file = p.file.as_deref().unwrap_or(&self.file);
        match p.position {
            Some(pos) => format!("{file}:{}:{}", pos.line, pos.column),
            None => file.to_string(),
        }
    }
}

fn describe(p: &Problem) -> String {
    let mut out = String::new();
    if !p.section.is_empty() {
        out.push_str(&p.section);
        out.push_str(": ");
    }
    if let Some(key) = &p.key {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(&p.message);
    out
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "{line}")?;
        }
        match self.problems.len() {
            1 => write!(f, "{}: 1 error", self.file),
            n => write!(f, "{}: {n} errors", self.file),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The known word closest to a misspelt one, when it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&word, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1) || k.starts_with(&word) && word.len() >= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![(0..=b.len()).collect::<Vec<_>>()];
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (rows[i - 1][j] + 1).min(row[j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(rows[i - 2][j - 2] + 1);
            }
        }
        rows.push(row);
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["cmd", "numprocs", "stoptime", "starttime", "stopsignal", "umask", "env"];

    #[test]
    fn suggests_the_nearest_known_key() {
        assert_eq!(nearest("stoptim", KEYS), Some("stoptime"));
        assert_eq!(nearest("numproc", KEYS), Some("numprocs"));
        assert_eq!(nearest("umsak", KEYS), Some("umask"));
        assert_eq!(nearest("StopSignal", KEYS), Some("stopsignal"));
        assert_eq!(nearest("command", KEYS), None);
        assert_eq!(nearest("zzzzzz", KEYS), None);
    }

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance("umask", "umsak"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn display_lists_every_problem_and_counts_them() {
        let p = |line, key: &str, message: &str| Problem {
            path: Vec::new(),
            position: Some(Position { line, column: 5 }),
            section: "program 'web'".into(),
            key: Some(key.into()),
            message: message.into(),
            file: None,
        };
        let err = ConfigError {
            file: "x.yaml".into(),
            problems: vec![p(3, "numprocs", "too big"), p(4, "umask", "not octal")],
        };
        assert_eq!(
            err.to_string(),
            "x.yaml:3:5: program 'web': numprocs: too big\n\
             x.yaml:4:5: program 'web': umask: not octal\n\
             x.yaml: 2 errors"
        );
    }
}
