//! A program's `env_file` (taskmaster(1), the `env_file` key): KEY=VALUE lines, read at load and
//! at every reload, under `env` (which wins). Its values become part of the program's
//! environment, so a change to the file is a change to `env`: the program restarts.

use super::super::node::Node;
use super::super::raw::read_path;
use super::{Here, Validator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

/// Larger is not an environment file.
const MAX_ENV_FILE: u64 = 1024 * 1024;

impl Validator<'_> {
    /// The file and what it sets; `Some((None, empty))` without one.
    pub(super) fn env_file(
        &mut self,
        e: &Entries,
        dir: &Path,
    ) -> Option<(Option<PathBuf>, BTreeMap<String, String>)> {
        let Some((at, node)) = e.get("env_file") else { return Some((None, BTreeMap::new())) };
        if matches!(node, Node::Null) {
            return Some((None, BTreeMap::new()));
        }
        let home = self.ctx.home.clone();
        let read = read_path(node, dir, home.as_deref()).and_then(|path| {
            let vars = load(&path).map_err(|why| format!("{}: {why}", path.display()))?;
            Ok((Some(path), vars))
        });
        match read {
            Ok(found) => Some(found),
            Err(msg) => {
                self.problem(at, Some("env_file"), msg);
                None
            }
        }
    }
}

/// Reads the file: one `KEY=VALUE` a line, `#` comments and blank lines skipped, an optional
/// `export ` before the key, the value's surrounding quotes (`"..."` or `'...'`) taken off.
fn load(path: &Path) -> Result<BTreeMap<String, String>, String> {
    parse(crate::config::node::without_bom(&super::super::read_small_file(path, MAX_ENV_FILE)?))
}

pub(super) fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    let mut wrong = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            wrong.push(format!("line {}: expected KEY=VALUE, found `{line}`", n + 1));
            continue;
        };
        let key = key.trim();
        if !super::super::expand::is_name(key) {
            let msg = format!(
                "`{key}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            );
            wrong.push(format!("line {}: {msg}", n + 1));
            continue;
        }
        let value = value.trim();
        let unquoted =
            ['"', '\''].iter().find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q)).unwrap_or(value);
        if unquoted.contains('\0') {
            wrong.push(format!("line {}: a value cannot contain a NUL byte", n + 1));
            continue;
        }
        vars.insert(key.to_string(), unquoted.to_string());
    }
    match wrong.len() {
        0 => Ok(vars),
        // A file that is not one at all (a binary, a wrong path) is said in a few lines.
        n if n > MAX_SAID => {
            Err(format!("{}; and {} more lines", wrong[..MAX_SAID].join("; "), n - MAX_SAID))
        }
        _ => Err(wrong.join("; ")),
    }
}

/// Bad lines said one by one, at most.
const MAX_SAID: usize = 5;

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lines_comments_quotes_and_export() {
        let vars =
            parse("# db\nDB_HOST=db.local\n\nexport PORT = 5432\nNAME=\"a b\"\nQ='it''s'\nEMPTY=\nURL=x=y\n")
                .expect("parsed");
        assert_eq!(vars["DB_HOST"], "db.local");
        assert_eq!(vars["PORT"], "5432");
        assert_eq!(vars["NAME"], "a b");
        assert_eq!(vars["Q"], "it''s");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars["URL"], "x=y", "the first = splits");
        assert_eq!(parse("A=1\nnot a pair\n").unwrap_err(), "line 2: expected KEY=VALUE, found `not a pair`");
        assert!(parse("=1\n").unwrap_err().starts_with("line 1: "));
        assert_eq!(
            parse("1BAD=x\nA B=1\nOK=1\nexport\n").unwrap_err(),
            "line 1: `1BAD` is not a variable name (letters, digits and `_`, not starting with a digit); \
             line 2: `A B` is not a variable name (letters, digits and `_`, not starting with a digit); \
             line 4: expected KEY=VALUE, found `export`"
        );
        let many = parse(&"x\n".repeat(9)).unwrap_err();
        assert!(many.ends_with("line 5: expected KEY=VALUE, found `x`; and 4 more lines"), "{many}");
    }
}
