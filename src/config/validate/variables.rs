//! `${NAME}` in the values that are expanded (taskmaster(1), VARIABLES): the keys it applies to,
//! and what a name may stand for in each.

use super::super::expand::{self, Found, Lookup, PROCESS_NAME, PROCESS_NUM, Template};
use super::super::node::Node;
use super::{Here, Validator};
use std::collections::BTreeMap;

/// A program's keys whose values are expanded, each process's own where the value says so.
pub(super) const PROGRAM_EXPANDED: &[&str] =
    &["cmd", "workingdir", "stdout", "stderr", "ready", "healthcheck"];

/// Inside a mapping value of those keys, the keys expanded: a file's path, a probe's target (a
/// probe's `cmd` runs in a shell that has the process's variables; a `log` pattern is a regular
/// expression, whose `$` ends a line).
const INNER_EXPANDED: &[&str] = &["path", "tcp", "http", "file"];
/// The taskmaster section's keys whose values are expanded, from taskmaster's environment.
pub(super) const DAEMON_EXPANDED: &[&str] = &["logfile", "socket", "history", "include"];

/// The variable that holds the program's name.
const PROGRAM: &str = "TASKMASTER_PROGRAM";

/// What `${NAME}` may name in one value.
pub(super) struct Scope<'a> {
    /// The program's `env` (as read so far, for an `env` value), then its `env_file`, then
    /// taskmaster's environment.
    pub(super) env: &'a BTreeMap<String, Template>,
    pub(super) file: &'a BTreeMap<String, String>,
    pub(super) outer: &'a BTreeMap<String, String>,
    /// The program the value is for, `None` in the taskmaster section.
    pub(super) program: Option<&'a str>,
    /// The processes of a program may each have their own value here.
    pub(super) per_process: bool,
    /// The name of the program's first process, whose values the spec holds.
    pub(super) first: &'a str,
    /// For an `env` value: the names set below it, which it cannot see.
    pub(super) below: &'a [&'a str],
    /// The env file could not be read (that problem is said): a name it may have set is not
    /// said to be missing, and stands for nothing.
    pub(super) partial: bool,
}

/// No variables of a program's own.
static NONE: BTreeMap<String, Template> = BTreeMap::new();
static NO_FILE: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Scope<'a> {
    /// Taskmaster's environment alone, for `program` (`None`: the taskmaster section), whose
    /// first process is named `first`.
    pub(super) fn outer(
        outer: &'a BTreeMap<String, String>,
        program: Option<&'a str>,
        first: &'a str,
    ) -> Scope<'a> {
        Scope {
            env: &NONE,
            file: &NO_FILE,
            outer,
            program,
            per_process: false,
            first,
            below: &[],
            partial: false,
        }
    }
}

impl Lookup for Scope<'_> {
    fn find(&self, name: &str) -> Found {
        if let Some(hole) = expand::process_variable(name) {
            return match (self.per_process, self.program) {
                (true, Some(_)) => Found::Value(hole),
                (false, Some(_)) => Found::NotHere(
                    "differs from one process of a program to the next: it has no one value here \
                     (it may be used in cmd, env, workingdir, stdout, stderr, ready and healthcheck)"
                        .to_string(),
                ),
                (_, None) => Found::NotHere(
                    "is a process's: it has no value in the taskmaster section (it may be used in a \
                     program's cmd, env, workingdir, stdout, stderr, ready and healthcheck)"
                        .to_string(),
                ),
            };
        }
        if let (PROGRAM, Some(program)) = (name, self.program) {
            return Found::Value(Template::text(program));
        }
        if let Some(value) = self.env.get(name) {
            return Found::Value(value.clone());
        }
        match self.file.get(name).or_else(|| self.outer.get(name)) {
            Some(value) => Found::Value(Template::text(value)),
            None if self.below.contains(&name) => Found::NotHere(
                "is set below this value in env: a value sees only the names set above it; move it up"
                    .to_string(),
            ),
            None if self.partial => Found::Value(Template::default()),
            None => Found::Unset,
        }
    }

    fn places(&self) -> &'static str {
        match self.program {
            Some(_) => "the program's env, its env_file or taskmaster's environment",
            None => "taskmaster's environment",
        }
    }

    fn names(&self) -> Vec<String> {
        let process = self.program.map(|_| [PROCESS_NUM, PROCESS_NAME, PROGRAM]);
        let own = process.into_iter().flatten().map(str::to_string);
        own.chain(self.env.keys().chain(self.file.keys()).chain(self.outer.keys()).cloned()).collect()
    }
}

impl Validator<'_> {
    /// `text`, written at `at` under `key`, expanded in `scope`; `None` after a problem.
    pub(super) fn expand_text(
        &mut self,
        at: &Here,
        key: &str,
        text: &str,
        scope: &Scope,
    ) -> Option<Template> {
        match expand::expand(text, scope) {
            Ok(t) => Some(t),
            Err(message) => {
                self.problem(at, Some(key), message);
                None
            }
        }
    }

    /// The values of `keys` in `e` expanded: texts, the texts of a list, and a mapping's `path`;
    /// for each key, the new value and, when it differs between processes, its template; `None`
    /// for a value that could not be (its problem is said).
    pub(super) fn expand_entries(
        &mut self,
        e: &BTreeMap<String, (Here, &Node)>,
        keys: &[&str],
        scope: &Scope,
    ) -> Expanded {
        let mut out = BTreeMap::new();
        for key in keys {
            let Some((at, node)) = e.get(*key) else { continue };
            let one = |v: &mut Self, text: &str| {
                let t = v.expand_text(at, key, text, scope)?;
                let fixed = t.render(0, scope.first);
                Some((Node::Str(fixed), (!t.is_fixed()).then_some(t)))
            };
            let expanded = match node {
                Node::Str(text) => one(self, text),
                Node::Seq(items) => {
                    let items: Option<Vec<Node>> = items
                        .iter()
                        .map(|item| match item {
                            Node::Str(text) => one(self, text).map(|(n, _)| n),
                            other => Some(other.clone()),
                        })
                        .collect();
                    items.map(|items| (Node::Seq(items), None))
                }
                Node::Map(pairs) => {
                    let (mut template, mut fine) = (None, true);
                    let mut pairs = pairs.clone();
                    for (_, value) in pairs.iter_mut().filter(|(k, _)| INNER_EXPANDED.contains(&k.as_str())) {
                        if let Node::Str(text) = value {
                            match one(self, text) {
                                Some(found) => (*value, template) = found,
                                None => fine = false,
                            }
                        }
                    }
                    fine.then_some((Node::Map(pairs), template))
                }
                _ => continue,
            };
            out.insert(key.to_string(), expanded);
        }
        out
    }
}

/// Expanded values by key (see `Validator::expand_entries`).
pub(super) type Expanded = BTreeMap<String, Option<(Node, Option<Template>)>>;

/// The template of `key`'s value, when it differs between processes.
pub(super) fn template(expanded: &Expanded, key: &str) -> Option<Template> {
    expanded.get(key).and_then(|found| found.as_ref()?.1.clone())
}

/// `e` with the values of `expanded` in place of what was written; without those that could not
/// be expanded, whose problem is said already.
pub(super) fn swap<'n>(
    e: &BTreeMap<String, (Here, &'n Node)>,
    expanded: &'n Expanded,
) -> BTreeMap<String, (Here, &'n Node)> {
    e.iter()
        .filter_map(|(k, (at, node))| {
            let node = match expanded.get(k) {
                Some(Some((n, _))) => n,
                Some(None) => return None,
                None => *node,
            };
            Some((k.clone(), (at.clone(), node)))
        })
        .collect()
}
