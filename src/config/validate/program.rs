//! One program's settings (taskmaster(1), CONFIGURATION): every key read, each problem said,
//! and the `ProgramSpec` they make.

use super::super::node::Node;
use super::super::output::Output;
use super::super::raw::*;
use super::super::spec::{CommandLine, ProgramSpec};
use super::output::Which;
use super::{Here, MAIN, Validator};
use std::collections::BTreeMap;
use std::path::Path;

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
        let nullable_path = |n: &Node| match n {
            Node::Null => Ok(None),
            other => read_path(other, &dir, home.as_deref()).map(Some),
        };
        let cmd = match e.get("cmd") {
            Some(_) => self.key(&e, "cmd", |n| read_cmd(n).map(Some), None),
            None => {
                self.problem(at, Some("cmd"), "is missing: every program needs a command".into());
                None
            }
        };
        let numprocs = self.key(&e, "numprocs", |n| read_count(n, 1, MAX_NUMPROCS), DEFAULT_NUMPROCS);
        let umask_text = self.text_at(at, &["programs", name, "umask"]).map(str::to_string);
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
        let env = match e.get("env") {
            Some((here, node)) => self.env(here, name, node),
            None => Some(BTreeMap::new()),
        };
        // Under `env`, which wins (taskmaster(1), the `env_file` key).
        let config_dir = self.dir(at);
        let env_file = self.env_file(&e, &config_dir);
        let (env_file, env) = match (env_file, env) {
            (Some((file, mut vars)), Some(env)) => {
                vars.extend(env);
                (Some(file), Some(vars))
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
        })
    }

    fn env(&mut self, at: &Here, program: &str, node: &Node) -> Option<BTreeMap<String, String>> {
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
        for (name, value) in pairs {
            let here = at.key(name, 0);
            let text = self.text_at(at, &["programs", program, "env", name]).map(str::to_string);
            let checked = check_env_name(name).and_then(|()| read_env_value(value, text.as_deref()));
            match checked {
                Ok(_) if env.contains_key(name) => {
                    let msg = format!("`{name}` is set twice; keep one");
                    self.problem(&here, Some("env"), msg);
                    complete = false;
                }
                Ok(value) => {
                    env.insert(name.clone(), value);
                }
                Err(message) => {
                    self.problem(&here, Some("env"), format!("{name}: {message}"));
                    complete = false;
                }
            }
        }
        complete.then_some(env)
    }
}

/// A relative program path with a slash (`./run.sh`) is found from the working directory, as a
/// shell that did `cd workingdir` would; a bare name is looked up in PATH at spawn time.
fn anchor_program(mut cmd: CommandLine, dir: &Path) -> CommandLine {
    let program = Path::new(&cmd.argv[0]);
    if program.is_relative() && cmd.argv[0].contains('/') {
        cmd.argv[0] = normalize(&dir.join(program)).to_string_lossy().into_owned();
    }
    cmd
}
