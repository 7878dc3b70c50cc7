//! `include:` (taskmaster(1), INCLUDED FILES): more files, each with a `programs:` section of its
//! own, found by glob patterns relative to the main file and read in sorted order, at load and at
//! every reload. Like `env_file`, this reads the file system while validating: what a file
//! includes is part of what it says.

use super::super::node::{self, Node};
use super::super::raw::read_text;
use super::{Here, MAIN, Pairs, Validator};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

/// An included file larger than this is not a configuration.
const MAX_INCLUDED: u64 = 16 * 1024 * 1024;
/// More files than this from the patterns are a pattern that matches too much.
const MAX_FILES: usize = 10_000;

/// How the patterns match: `*` never matches a leading dot, as in a shell, so that editors'
/// lock and backup files (`.#web.yaml`) are not read.
const MATCHING: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

impl Validator<'_> {
    /// `include:` of the taskmaster section: a pattern or a list of them, kept for
    /// `read_included`.
    pub(super) fn include_patterns(&mut self, e: &Entries) {
        let Some((at, node)) = e.get("include") else { return };
        let items: Vec<(Here, &Node)> = match node {
            Node::Null => return,
            Node::Seq(items) => items.iter().map(|n| (at.clone(), n)).collect(),
            other => vec![(at.clone(), other)],
        };
        let (dir, home) = (self.dir(at), self.ctx.home.clone());
        for (here, item) in items {
            let read = read_text(item, "a file or a pattern like \"conf.d/*.yaml\"")
                .and_then(|written| anchored(&written, &dir, home.as_deref()).map(|p| (written, p)));
            match read {
                Ok((written, pattern)) => self.includes.push((here, Include { written, pattern })),
                Err(message) => self.problem(&here, Some("include"), message),
            }
        }
    }

    /// Every file the patterns match, each once, in the order of the patterns and sorted within
    /// each; parsed, each with its number among the sources. A file that cannot be read or
    /// parsed is a problem named after it.
    pub(super) fn read_included(&mut self) -> Vec<(usize, Node)> {
        let main = self.ctx.config_dir.join(self.sources[MAIN].shown.rsplit('/').next().unwrap_or(""));
        let mut seen: HashSet<PathBuf> = HashSet::from([canonical(&main)]);
        let mut roots = Vec::new();
        for (at, include) in self.includes.clone() {
            let paths = match matches(&include) {
                Ok(paths) => paths,
                Err(message) => {
                    self.problem(&at, Some("include"), message);
                    continue;
                }
            };
            if seen.len() + paths.len() > MAX_FILES {
                let msg = format!("{} matches more than {MAX_FILES} files", include.written);
                self.problem(&at, Some("include"), msg);
                return roots;
            }
            for path in paths {
                if !seen.insert(canonical(&path)) {
                    continue;
                }
                let shown = self.shown(&path);
                match super::super::read_small_file(&path, MAX_INCLUDED) {
                    Ok(text) => {
                        let dir = path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
                        let parsed = node::parse(&text);
                        let file = self.add_source(&shown, &text, dir, parsed.as_ref().ok());
                        match parsed {
                            Ok(root) => roots.push((file, root)),
                            Err((message, position)) => {
                                self.problem(&Here::top(file), None, message);
                                if let Some(p) = self.problems.last_mut() {
                                    p.position = position;
                                }
                            }
                        }
                    }
                    Err(why) => {
                        let msg = format!("{}: {why}", shown);
                        self.problem(&at, Some("include"), msg);
                    }
                }
            }
        }
        roots
    }

    /// The `programs:` section of an included file: `Some(None)` when it has none (an empty
    /// file adds nothing), `None` after a problem.
    pub(super) fn included_programs<'n>(
        &mut self,
        file: usize,
        root: &'n Node,
    ) -> Option<Option<(Here, Pairs<'n>)>> {
        let top = Here::top(file);
        let pairs = match root {
            Node::Map(pairs) => pairs,
            Node::Null => return Some(None),
            other => {
                let msg = format!("expected a mapping with a `programs:` section, found {}", other.kind());
                self.problem(&top, None, msg);
                return None;
            }
        };
        let mut programs = None;
        let mut fine = true;
        for (key, node) in pairs {
            let here = top.key(key, 0);
            match (key.as_str(), node) {
                ("programs", _) if programs.is_some() => {
                    self.problem(&here, Some("programs"), "appears twice; keep one".into());
                    fine = false;
                }
                ("programs", Node::Map(section)) => programs = Some((here, section.as_slice())),
                ("programs", Node::Null) => programs = Some((here, &[][..])),
                ("programs", other) => {
                    let msg =
                        format!("expected a mapping of program names to settings, found {}", other.kind());
                    self.problem(&here, Some("programs"), msg);
                    fine = false;
                }
                ("taskmaster", _) => {
                    let msg = format!(
                        "belongs in the main file, {}: an included file only adds programs",
                        self.sources[MAIN].shown
                    );
                    self.problem(&here, Some("taskmaster"), msg);
                    fine = false;
                }
                (other, _) => {
                    let msg = format!("unknown key `{other}` (an included file has only `programs:`)");
                    self.problem(&here, None, msg);
                    fine = false;
                }
            }
        }
        fine.then_some(programs)
    }

    /// An included file as the user would name it: from the main file's folder as the main
    /// file was named (`conf/conf.d/web.yaml`), else in full.
    fn shown(&self, path: &Path) -> String {
        let main = &self.sources[MAIN].shown;
        match (path.strip_prefix(&self.ctx.config_dir), main.rfind('/')) {
            (Ok(rest), Some(slash)) => format!("{}/{}", &main[..slash], rest.display()),
            (Ok(rest), None) => rest.display().to_string(),
            (Err(_), _) => path.display().to_string(),
        }
    }

    /// `FILE:LINE:COLUMN` of `at`, for a message that points at a second place.
    pub(super) fn locate(&self, at: &Here) -> String {
        let source = &self.sources[at.file];
        match node::locate(&source.text, &at.path.segs()) {
            Some(p) => format!("{}:{}:{}", source.shown, p.line, p.column),
            None => source.shown.clone(),
        }
    }
}

/// One entry of `include`: as written, and as a pattern from the root.
#[derive(Clone)]
pub(super) struct Include {
    written: String,
    pattern: String,
}

/// `written` as a pattern from the root: after the main file's folder (or the home folder for
/// `~/`), whose name is matched as it is even if it has `[` or `*` in it.
fn anchored(written: &str, dir: &Path, home: Option<&Path>) -> Result<String, String> {
    let escape = |p: &Path| glob::Pattern::escape(&p.to_string_lossy());
    let pattern = if let Some(rest) = written.strip_prefix("~/") {
        let home = home.ok_or_else(|| format!("`{written}` starts with ~ but HOME is not set"))?;
        format!("{}/{rest}", escape(home))
    } else if written.starts_with('/') {
        written.to_string()
    } else {
        format!("{}/{written}", escape(dir))
    };
    glob::Pattern::new(&pattern).map_err(|e| format!("{written} is not a valid pattern: {}", e.msg))?;
    Ok(pattern)
}

/// The files `include` matches, sorted. A name without wildcards must exist: it names one file.
fn matches(include: &Include) -> Result<Vec<PathBuf>, String> {
    let entries = glob::glob_with(&include.pattern, MATCHING)
        .map_err(|e| format!("{} is not a valid pattern: {}", include.written, e.msg))?;
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(path) => paths.push(path),
            Err(e) => {
                return Err(format!("{}: {}", e.path().display(), super::super::describe_io(e.error())));
            }
        }
    }
    if paths.is_empty() && !include.written.contains(['*', '?', '[']) {
        return Err(format!("{}: No such file or directory", include.written));
    }
    paths.sort();
    Ok(paths)
}

/// The file itself, links followed: the same file matched twice is read once.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
