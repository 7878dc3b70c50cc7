//! One program's settings (taskmaster(1), CONFIGURATION): every key read, each problem said,
//! and the `ProgramSpec` they make.

use super::super::expand::Template;
use super::super::node::Node;
use super::super::output::Output;
use super::super::per_process::{self, PerProcess};
use super::super::raw::*;
use super::super::spec::{EnvFile, Probe, ProgramSpec, process_name};
use super::output::Which;
use super::reprobe;
use super::variables::{Expanded, PROGRAM_EXPANDED, Scope, swap, template};
use super::{Here, MAIN, Validator};
use std::collections::BTreeMap;
use std::path::Path;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

impl Validator<'_> {
    pub(super) fn program(&mut self, at: &Here, name: &str, node: &Node) -> Option<ProgramSpec> {
        let Node::Map(pairs) = node else {
            let msg = format!("expected a mapping of settings with at least `cmd`, found {}", node.kind());
            self.problem(at, None, msg);
            return None;
        };
        let e = self.entries(at, pairs, PROGRAM_KEYS);
        let dir = self.dir(at);
        let home = self.ctx.home.clone();
        let numprocs = self.key(&e, "numprocs", |n| read_count(n, 1, MAX_NUMPROCS), DEFAULT_NUMPROCS);
        // `${NAME}` (taskmaster(1), VARIABLES): the env file's path from taskmaster's environment,
        // each `env` value from the ones before it, the env file and taskmaster's environment,
        // the other values from all of them.
        let first = process_name(name, numprocs.unwrap_or(1), 0);
        let ctx = self.ctx;
        let mut scope = Scope::outer(&ctx.environment, Some(name), &first);
        let file_expanded = self.expand_entries(&e, &["env_file"], &scope);
        let env_file = self.env_file(&swap(&e, &file_expanded), &dir);
        let file_vars = env_file.as_ref().map_or_else(BTreeMap::new, |(_, vars)| vars.clone());
        scope.file = &file_vars;
        scope.partial = env_file.is_none();
        let templates = match e.get("env") {
            Some((here, node)) => self.env(here, name, node, &scope),
            None => Some(BTreeMap::new()),
        };
        let nothing = BTreeMap::new();
        scope.env = templates.as_ref().unwrap_or(&nothing);
        scope.per_process = true;
        let expanded = self.expand_entries(&e, PROGRAM_EXPANDED, &scope);
        let written_cmd = e.get("cmd").map(|(_, n)| *n);
        let e = swap(&e, &expanded);
        let nullable_path = |n: &Node| match n {
            Node::Null => Ok(None),
            other => read_path(other, &dir, home.as_deref()).map(Some),
        };
        let cmd = match e.get("cmd") {
            // Once `${...}` are filled in, the line as written is not said: a value may be secret.
            Some((_, filled_in)) if written_cmd != Some(*filled_in) => {
                let filled = |n: &Node| {
                    read_cmd(n).map(Some).map_err(|m| match m.split_once(": ") {
                        Some((what, _)) => format!("{what} once its variables are filled in"),
                        None => m,
                    })
                };
                self.key(&e, "cmd", filled, None)
            }
            Some(_) => self.key(&e, "cmd", |n| read_cmd(n).map(Some), None),
            // One that could not be expanded is said already.
            None if expanded.contains_key("cmd") => None,
            None => {
                self.problem(at, Some("cmd"), "is missing: every program needs a command".into());
                None
            }
        };
        let umask_text = self.text_at(at, &["programs", name, "umask"], 0).map(str::to_string);
        let umask = self.key(
            &e,
            "umask",
            |n| match n {
                Node::Null => Ok(None),
                other => read_octal(other, umask_text.as_deref()).map(Some),
            },
            None,
        );
        let workingdir = self.key(&e, "workingdir", nullable_path, None);
        let autostart = self.key(&e, "autostart", read_bool, DEFAULT_AUTOSTART);
        let autorestart = self.key(&e, "autorestart", read_restart, DEFAULT_AUTORESTART);
        let exitcodes = self.key(&e, "exitcodes", read_exitcodes, DEFAULT_EXITCODES.to_vec());
        let retries = |n: &Node| read_count(n, 0, MAX_STARTRETRIES);
        let startretries = self.key(&e, "startretries", retries, DEFAULT_STARTRETRIES);
        let starttime = self.key(&e, "starttime", read_seconds, DEFAULT_STARTTIME);
        let stopsignal = self.key(&e, "stopsignal", read_stopsignal, DEFAULT_STOPSIGNAL);
        let stoptime = self.key(&e, "stoptime", read_seconds, DEFAULT_STOPTIME);
        let stopasgroup = self.key(&e, "stopasgroup", read_bool, DEFAULT_STOPASGROUP);
        let critical = self.key(&e, "critical", read_bool, DEFAULT_CRITICAL);
        let alerts = self.program_alerts(&e);
        let stdout = self.output(&e, Which::Stdout);
        let stderr = self.output(&e, Which::Stderr);
        let run_as = self.run_as(at, &e);
        let tail_bytes = self.key(&e, "tail_bytes", |n| read_bytes(n, MAX_TAIL_BYTES), DEFAULT_TAIL_BYTES);
        let tty = self.key(&e, "tty", read_bool, DEFAULT_TTY);
        if tty == Some(true) && matches!(stderr, Some(Some(ref o)) if *o != Output::Stdout) {
            let here = e.get("stderr").map_or(at.clone(), |(h, _)| h.clone());
            let msg =
                "a program with `tty: true` has one terminal for both streams: its output goes to `stdout`"
                    .into();
            self.problem(&here, Some("stderr"), msg);
        }
        // Under `env`, which wins (taskmaster(1), the `env_file` key).
        let (env_file, env) = match (env_file, &templates) {
            (Some((path, vars)), Some(env)) => {
                let mut all = vars.clone();
                all.extend(env.iter().map(|(k, t)| (k.clone(), t.render(0, &first))));
                (Some(path.map(|path| EnvFile { path, vars })), Some(all))
            }
            _ => (None, None),
        };
        let priority = self.priority(&e);
        let depends_on = self.depends_on(&e, name);
        let base = workingdir.clone().flatten().unwrap_or_else(|| self.dir(at));
        let ready = self.ready(&e, &base);
        let healthcheck = self.healthcheck(&e, &base);
        let backoff = self.backoff(&e);
        let rlimits = self.rlimits(&e);
        let workingdir = workingdir?;
        let probes = [
            ready.as_ref().and_then(|r| r.as_ref().map(|r| &r.probe)),
            healthcheck.as_ref().and_then(|h| h.as_ref().map(|h| &h.probe)),
        ];
        let names: Vec<String> =
            (0..numprocs.unwrap_or(1)).map(|n| process_name(name, numprocs.unwrap_or(1), n)).collect();
        let per_process = self.per_process(
            &e,
            &expanded,
            templates.as_ref(),
            (&dir, workingdir.as_deref()),
            probes,
            &names,
        );
        Some(ProgramSpec {
            name: name.to_string(),
            cmd: anchor_program(cmd??, workingdir.as_deref().unwrap_or(&self.dir(at))),
            numprocs: numprocs?,
            umask: umask?,
            workingdir,
            autostart: autostart?,
            autorestart: autorestart?,
            exitcodes: exitcodes?,
            startretries: startretries?,
            starttime: starttime?,
            stopsignal: stopsignal?,
            stoptime: stoptime?,
            stopasgroup: stopasgroup?,
            critical: critical?,
            alerts: alerts?,
            stdout: stdout?,
            stderr: stderr?,
            env: env?,
            env_file: env_file?,
            run_as: run_as?,
            tail_bytes: tail_bytes?,
            tty: tty?,
            priority: priority?,
            depends_on: depends_on?,
            ready: ready?,
            healthcheck: healthcheck?,
            backoff: backoff?,
            rlimits: rlimits?,
            origin: (at.file != MAIN).then(|| self.sources[at.file].shown.clone()),
            per_process: per_process?,
        })
    }

    /// `env`, each value expanded in `scope` and the values before it.
    fn env(
        &mut self,
        at: &Here,
        program: &str,
        node: &Node,
        scope: &Scope,
    ) -> Option<BTreeMap<String, Template>> {
        let pairs = match node {
            Node::Map(pairs) => pairs,
            Node::Null => return Some(BTreeMap::new()),
            other => {
                let msg = format!("expected a mapping of NAME: value, found {}", other.kind());
                self.problem(at, Some("env"), msg);
                return None;
            }
        };
        let mut env = BTreeMap::new();
        let mut complete = true;
        let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
        for (i, (name, value)) in pairs.iter().enumerate() {
            // A name written twice is said at its second place, read with its own text.
            let nth = names[..i].iter().filter(|n| **n == name).count();
            let here = at.key(name, nth);
            let text = self.text_at(at, &["programs", program, "env", name], nth).map(str::to_string);
            let checked = check_env_name(name).and_then(|()| read_env_value(value, text.as_deref()));
            match checked {
                Ok(_) if env.contains_key(name) => {
                    let msg = format!("`{name}` is set twice; keep one");
                    self.problem(&here, Some("env"), msg);
                    complete = false;
                }
                Ok(value) => {
                    let before = Scope { env: &env, per_process: true, below: &names[i + 1..], ..*scope };
                    match self.expand_text(&here, "env", &value, &before) {
                        Some(t) => {
                            env.insert(name.clone(), t);
                        }
                        None => complete = false,
                    }
                }
                Err(message) => {
                    self.problem(&here, Some("env"), format!("{name}: {message}"));
                    complete = false;
                }
            }
        }
        complete.then_some(env)
    }

    /// What differs between the processes: the templates among the expanded values and `env`,
    /// paths made absolute from `dir` (a relative command or file probe from the working
    /// directory, each process's own when it names the process); `None` after a problem.
    fn per_process(
        &mut self,
        e: &Entries,
        expanded: &Expanded,
        env: Option<&BTreeMap<String, Template>>,
        (dir, workingdir): (&Path, Option<&Path>),
        probes: [Option<&Probe>; 2],
        names: &[String],
    ) -> Option<Option<Box<PerProcess>>> {
        let home = self.ctx.home.clone();
        let template = |key: &str| template(expanded, key);
        let from = |base: &Template, t: Option<Template>| {
            t.map(|t| per_process::resolve(&t, base, home.as_deref())).transpose().ok()
        };
        let folder = Template::text(&dir.display().to_string());
        let workingdir_t = from(&folder, template("workingdir"))?;
        let fixed = |t: Option<Template>, text: Option<&str>| match (&workingdir_t, t) {
            (_, Some(t)) => Some(t),
            (Some(_), None) => text.map(Template::text),
            (None, None) => None,
        };
        // A relative command or file probe is from the working directory: a template of its
        // own when that folder is each process's.
        let base = workingdir_t
            .clone()
            .unwrap_or_else(|| Template::text(&workingdir.unwrap_or(dir).display().to_string()));
        let probe = |key: &str, probe: Option<&Probe>| match probe {
            Some(Probe::File(_)) => from(&base, fixed(template(key), inner_text(expanded, key, "file"))),
            _ => Some(template(key)),
        };
        // A command given by a relative path is made absolute here, not at each start, so that
        // `--check` prints where it is (a printed `./run` would be found from elsewhere).
        let cmd = fixed(template("cmd"), inner_text(expanded, "cmd", "")).and_then(|t| {
            let words = shell_words::split(&t.render(0, &names[0])).unwrap_or_default();
            match words.first() {
                Some(program) if Path::new(program).is_relative() && program.contains('/') => {
                    let head = workingdir_t.as_ref().map_or_else(
                        || Template::text(&shell_words::quote(&workingdir.unwrap_or(dir).to_string_lossy())),
                        |w| w.map_text(|text| shell_words::quote(text).into_owned()),
                    );
                    Some(head.then(&Template::text("/")).then(&t))
                }
                _ => template("cmd"),
            }
        });
        let holes = PerProcess {
            cmd,
            workingdir: workingdir_t.clone(),
            stdout: from(&folder, template("stdout"))?,
            stderr: from(&folder, template("stderr"))?,
            env: env
                .into_iter()
                .flatten()
                .filter(|(_, t)| !t.is_fixed())
                .map(|(k, t)| (k.clone(), t.clone()))
                .collect(),
            ready: probe("ready", probes[0])?,
            healthcheck: probe("healthcheck", probes[1])?,
            dir: dir.to_path_buf(),
            home: home.clone(),
        };
        // Each process's probe must read as the first's did.
        let targets = [("ready", &holes.ready, probes[0]), ("healthcheck", &holes.healthcheck, probes[1])];
        for (key, t, like) in targets {
            let (Some(t), Some(like)) = (t, like) else { continue };
            let base = holes.workingdir.as_ref().map_or_else(|| base.render(0, ""), |w| w.render(0, ""));
            let wrong = names.iter().enumerate().skip(1).find_map(|(n, name)| {
                let target = t.render(n as u32, name);
                reprobe(like, &target, Path::new(&base), home.as_deref()).is_none().then_some((name, target))
            });
            if let (Some((name, target)), Some((here, _))) = (wrong, e.get(key)) {
                let msg = format!("for {name} it is `{target}`, which is not a {} target", like.kind());
                self.problem(here, Some(key), msg);
                return None;
            }
        }
        Some((!holes.is_empty()).then(|| Box::new(holes)))
    }
}

/// The text of `key` as expanded (for the first process), or of `inner` in its mapping.
fn inner_text<'e>(expanded: &'e Expanded, key: &str, inner: &str) -> Option<&'e str> {
    let (node, _) = expanded.get(key)?.as_ref()?;
    let node = match node {
        Node::Map(pairs) => &pairs.iter().find(|(k, _)| k == inner)?.1,
        other => other,
    };
    match node {
        Node::Str(text) => Some(text),
        _ => None,
    }
}
