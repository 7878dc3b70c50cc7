//! Turns the YAML tree into a validated `Config`, collecting every problem instead of stopping at
//! the first. Pure: the environment it needs (folders, HOME, uid) comes in a `Context`.

use super::accounts::Accounts;
use super::alerts::{DEFAULT_SYSLOG_ADDRESS, SyslogAddress};
use super::error::{ConfigError, Problem, nearest};
use super::node::{self, Node, Seg};
use super::output::Output;
use super::raw::*;
use super::spec::{CommandLine, Config, DaemonSpec, DetachKey, LogLevel, ProgramSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The pairs of a YAML mapping.
type Pairs<'n> = &'n [(String, Node)];

/// What the defaults and relative paths depend on.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// The folder of the config file (absolute).
    pub config_dir: PathBuf,
    pub home: Option<PathBuf>,
    /// `$XDG_RUNTIME_DIR`, where the socket goes by default.
    pub runtime_dir: Option<PathBuf>,
    /// The user taskmaster runs as.
    pub uid: u32,
    /// Where users and groups are looked up.
    pub accounts: Accounts,
    pub purpose: Purpose,
    /// taskmaster's own hard limit of a resource (what `rlimits` may ask without root).
    pub hard_limit: fn(super::rlimits::Limit) -> u64,
}

/// What the configuration is read for: what a key that only root may use means depends on it
/// (taskmaster(1), PRIVILEGES).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// To run it (start, reload): what needs root, without root, is an error.
    Run,
    /// `--check`: the machine that checks a file is not always the one that runs it; what needs
    /// root is left to the checker's warnings.
    Check,
    /// taskmasterctl, which needs only the socket: who is who does not matter to it.
    Connect,
}

impl Context {
    /// The socket when the configuration names none: in `$XDG_RUNTIME_DIR`, else in a folder
    /// of the user's own under /tmp (see `private_socket_dir`).
    pub(crate) fn default_socket(&self) -> PathBuf {
        match &self.runtime_dir {
            Some(dir) => dir.join("taskmaster.sock"),
            None => private_socket_dir(self.uid).join("taskmaster.sock"),
        }
    }
}

#[cfg(test)]
impl Context {
    /// Root's, for a file in `dir`, with the accounts of `accounts::tests::table`.
    pub(crate) fn for_tests(dir: &str) -> Context {
        Context {
            config_dir: dir.into(),
            home: None,
            runtime_dir: None,
            uid: 0,
            accounts: super::accounts::tests::table(),
            purpose: Purpose::Run,
            hard_limit: |_| super::rlimits::UNLIMITED,
        }
    }
}

/// `/tmp/taskmaster-UID`: the default socket's folder when there is no `$XDG_RUNTIME_DIR`.
/// taskmaster creates it with mode 0700 and uses it only if it belongs to the user, so that no
/// one else can put a socket where taskmasterctl will look.
pub(crate) fn private_socket_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/taskmaster-{uid}"))
}

/// More problems than this are counted but not located (locating re-reads the file each time).
const MAX_LOCATED: usize = 200;
/// Locating one problem re-reads the file: at most this many bytes are re-read in all, so that a
/// huge file with thousands of mistakes is still checked in moments.
const MAX_REREAD: usize = 16 * 1024 * 1024;

/// Validates `text`, the content of the file the user named `file`.
pub(crate) fn validate(text: &str, file: &str, ctx: &Context) -> Result<Config, ConfigError> {
    let root =
        node::parse(text).map_err(|(message, position)| ConfigError::whole(file, message, position))?;
    let mut v = Validator::new(text, ctx);
    let config = v.config(&root);
    v.finish(config, text, file)
}

/// Validates only the `taskmaster` section of `text`: what a client needs (the socket) from a
/// file whose programs may be half-edited.
pub(crate) fn validate_daemon(text: &str, file: &str, ctx: &Context) -> Result<DaemonSpec, ConfigError> {
    let root =
        node::parse(text).map_err(|(message, position)| ConfigError::whole(file, message, position))?;
    let mut v = Validator::new(text, ctx);
    let section = match &root {
        Node::Map(pairs) => pairs.iter().find(|(k, _)| k == "taskmaster").map(|(_, n)| n),
        _ => None,
    };
    let top = Here { path: Vec::new(), section: String::new() };
    let daemon = v.daemon(&top.key("taskmaster", 0), section.unwrap_or(&Node::Null));
    v.finish(daemon, text, file)
}

impl<'c> Validator<'c> {
    fn new(text: &str, ctx: &'c Context) -> Validator<'c> {
        let texts = node::scalar_texts(
            text,
            &[
                &[Some("programs"), None, Some("umask")],
                &[Some("programs"), None, Some("env"), None],
                &[Some("taskmaster"), Some("socket_mode")],
            ],
        );
        // Indexed, so that looking up thousands of `env` values stays linear; the first of a
        // duplicated path is the one kept, as the tree's walk meets it first.
        let mut by_path = HashMap::with_capacity(texts.len());
        for (path, text) in texts {
            by_path.entry(path).or_insert(text);
        }
        Validator { ctx, texts: by_path, problems: Vec::new(), daemon_uid: ctx.uid, daemon_user: None }
    }

    /// The value, or every problem found, located in the file and in file order.
    fn finish<T>(self, value: Option<T>, text: &str, file: &str) -> Result<T, ConfigError> {
        match (value, self.problems.is_empty()) {
            (Some(value), true) => Ok(value),
            _ => {
                let mut problems = self.problems;
                let located = (MAX_REREAD / text.len().max(1)).clamp(10, MAX_LOCATED);
                for p in problems.iter_mut().take(located) {
                    p.position = node::locate(text, &p.path);
                }
                // In file order, as an editor would walk them; problems without a place go last.
                problems.sort_by_key(|p| p.position.map_or((usize::MAX, 0), |at| (at.line, at.column)));
                Err(ConfigError { file: file.to_string(), problems })
            }
        }
    }
}

struct Validator<'c> {
    ctx: &'c Context,
    /// Scalars as written, by path (see `node::scalar_texts`).
    texts: HashMap<Vec<String>, String>,
    problems: Vec<Problem>,
    /// The user taskmaster runs as once started: its own, or `taskmaster: user:`.
    daemon_uid: u32,
    /// `taskmaster: user:` as resolved: the user of every program that names none.
    daemon_user: Option<super::accounts::RunAs>,
}

/// Where the validator is: the document path and how a problem there is introduced.
#[derive(Clone)]
struct Here {
    path: Vec<Seg>,
    section: String,
}

impl Here {
    fn key(&self, name: &str, nth: usize) -> Here {
        let mut path = self.path.clone();
        path.push(Seg { name: name.to_string(), nth });
        Here { path, section: self.section.clone() }
    }
}

impl Validator<'_> {
    fn problem(&mut self, at: &Here, key: Option<&str>, message: String) {
        self.problems.push(Problem {
            path: at.path.clone(),
            position: None,
            section: at.section.clone(),
            key: key.map(str::to_string),
            message,
        });
    }

    fn text_at(&self, path: &[&str]) -> Option<&str> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.texts.get(&path).map(String::as_str)
    }

    fn config(&mut self, root: &Node) -> Option<Config> {
        let top = Here { path: Vec::new(), section: String::new() };
        let pairs = match root {
            Node::Map(pairs) => pairs,
            Node::Null => {
                self.problem(&top, None, "the file is empty: expected a `programs:` section".into());
                return None;
            }
            other => {
                let msg = format!("expected a mapping with a `programs:` section, found {}", other.kind());
                self.problem(&top, None, msg);
                return None;
            }
        };
        let entries = self.entries(&top, pairs, TOP_KEYS);
        let daemon = match entries.get("taskmaster") {
            Some((at, node)) => self.daemon(at, node),
            None => self.daemon(&top.key("taskmaster", 0), &Node::Null),
        };
        let programs = match entries.get("programs") {
            Some((at, node)) => self.programs(at, node),
            None => {
                self.problem(&top, None, "no `programs:` section: there is nothing to supervise".into());
                None
            }
        };
        if let (Some(daemon), Some(programs), Some((at, _))) = (&daemon, &programs, entries.get("programs")) {
            self.check_main_log(at, daemon, programs);
        }
        Some(Config { daemon: daemon?, programs: programs? })
    }

    /// The pairs of a mapping by key, reporting unknown and repeated keys.
    fn entries<'n>(
        &mut self,
        at: &Here,
        pairs: &'n [(String, Node)],
        known: &[&str],
    ) -> BTreeMap<String, (Here, &'n Node)> {
        let mut entries = BTreeMap::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (key, value) in pairs {
            let nth = seen.entry(key).or_default();
            let here = at.key(key, *nth);
            *nth += 1;
            if !known.contains(&key.as_str()) {
                let hint = SUPERVISORD_NAMES
                    .iter()
                    .find(|(theirs, _)| theirs == key)
                    .map(|(_, ours)| format!(" (taskmaster calls it `{ours}`)"))
                    .or_else(|| {
                        let misplaced = known == PROGRAM_KEYS && STREAM_FILE_KEYS.contains(&key.as_str());
                        misplaced.then(|| {
                            format!(" (it goes under stdout or stderr: `stdout: {{path: FILE, {key}: ...}}`)")
                        })
                    })
                    .or_else(|| nearest(key, known).map(|k| format!(" (did you mean `{k}`?)")))
                    .unwrap_or_else(|| format!(" (known keys: {})", known.join(", ")));
                self.problem(&here, None, format!("unknown key `{key}`{hint}"));
            } else if entries.contains_key(key) {
                self.problem(&here, Some(key), "appears twice; keep one".into());
            } else {
                entries.insert(key.clone(), (here, value));
            }
        }
        entries
    }

    fn daemon(&mut self, at: &Here, node: &Node) -> Option<DaemonSpec> {
        let at = Here { path: at.path.clone(), section: "taskmaster".to_string() };
        let empty = Vec::new();
        let pairs = match node {
            Node::Map(pairs) => pairs,
            Node::Null => &empty,
            other => {
                self.problem(&at, None, format!("expected a mapping of settings, found {}", other.kind()));
                return None;
            }
        };
        let e = self.entries(&at, pairs, DAEMON_KEYS);
        let dir = self.ctx.config_dir.clone();
        let home = self.ctx.home.clone();
        let path = |n: &Node| read_path(n, &dir, home.as_deref());
        let nullable_path = |n: &Node| match n {
            Node::Null => Ok(None),
            other => read_path(other, &dir, home.as_deref()).map(Some),
        };
        let logfile = self.key(&e, "logfile", nullable_path, Some(dir.join(DEFAULT_LOGFILE)));
        let rotation = self.main_log_rotation(&e);
        let loglevel = self.key(&e, "loglevel", read_loglevel, LogLevel::Info);
        let socket = self.key(&e, "socket", path, self.ctx.default_socket());
        let mode_text = self.text_at(&["taskmaster", "socket_mode"]).map(str::to_string);
        let socket_mode =
            self.key(&e, "socket_mode", |n| read_octal(n, mode_text.as_deref()), DEFAULT_SOCKET_MODE);
        let history_default = resolve_path(DEFAULT_HISTORY, &dir, home.as_deref()).ok();
        let history = self.key(&e, "history", nullable_path, history_default);
        let user = self.daemon_user(&at, &e);
        let socket_owner = self.socket_owner(&at, &e);
        let admins = self.admins(&e);
        let default_address = SyslogAddress::Unix(DEFAULT_SYSLOG_ADDRESS.into());
        let syslog_address = self.key(&e, "syslog_address", alerts::read_syslog_address, default_address);
        let alerts = self.alerts(&e, syslog_address.clone()?);
        let detach_key = self.key(&e, "detach_key", read_detach_key, DetachKey::default());
        // `metrics: null` is the default: no port is opened (taskmaster(1), METRICS).
        let metrics = self.key(
            &e,
            "metrics",
            |n| match n {
                Node::Null => Ok(None),
                other => order::read_address(other).map(Some),
            },
            None,
        );
        let socket = socket?;
        let length = socket.as_os_str().len();
        if length > MAX_SOCKET_PATH {
            let here = e.get("socket").map_or(at.clone(), |(h, _)| h.clone());
            let msg = format!("is {length} bytes long; a UNIX socket path holds at most {MAX_SOCKET_PATH}");
            self.problem(&here, Some("socket"), msg);
            return None;
        }
        let (logfile_maxbytes, logfile_backups) = rotation?;
        Some(DaemonSpec {
            logfile: logfile?,
            logfile_maxbytes,
            logfile_backups,
            loglevel: loglevel?,
            socket,
            socket_mode: socket_mode?,
            socket_owner: socket_owner?,
            history: history?,
            user: user?,
            admins: admins?,
            syslog_address: syslog_address?,
            alerts: alerts?,
            detach_key: detach_key?,
            metrics: metrics?,
        })
    }

    /// Reads one key with `read`, or gives `default` when it is absent. `None` means a problem
    /// was recorded.
    /// The pairs of the mapping under `key`, and where it is: `Some(None)` when absent or null,
    /// `None` after a problem (said, with what a mapping there looks like).
    fn mapping<'n>(
        &mut self,
        e: &BTreeMap<String, (Here, &'n Node)>,
        key: &str,
        like: &str,
    ) -> Option<Option<(Here, Pairs<'n>)>> {
        let Some((at, node)) = e.get(key) else { return Some(None) };
        match node {
            Node::Null => Some(None),
            Node::Map(pairs) => Some(Some((at.clone(), pairs.as_slice()))),
            other => {
                self.problem(
                    at,
                    Some(key),
                    format!("expected a mapping like {like}, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn key<T>(
        &mut self,
        entries: &BTreeMap<String, (Here, &Node)>,
        name: &str,
        read: impl FnOnce(&Node) -> Read<T>,
        default: T,
    ) -> Option<T> {
        match entries.get(name) {
            None => Some(default),
            Some((at, node)) => match read(node) {
                Ok(value) => Some(value),
                Err(message) => {
                    self.problem(at, Some(name), message);
                    None
                }
            },
        }
    }

    fn programs(&mut self, at: &Here, node: &Node) -> Option<BTreeMap<String, ProgramSpec>> {
        let pairs = match node {
            Node::Map(pairs) if !pairs.is_empty() => pairs,
            Node::Map(_) | Node::Null => {
                self.problem(at, Some("programs"), "is empty: define at least one program".into());
                return None;
            }
            other => {
                let msg = format!("expected a mapping of program names to settings, found {}", other.kind());
                self.problem(at, Some("programs"), msg);
                return None;
            }
        };
        let mut programs = BTreeMap::new();
        let mut complete = true;
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, body) in pairs {
            let nth = seen.entry(name).or_default();
            let here = Here { section: format!("program '{name}'"), ..at.key(name, *nth) };
            *nth += 1;
            if *nth > 1 {
                let msg = "is defined twice; program names must be unique".to_string();
                self.problem(&here, None, msg);
                complete = false;
                continue;
            }
            if let Err(message) = check_program_name(name) {
                self.problem(&here, None, message);
                complete = false;
            }
            match self.program(&here, name, body) {
                Some(spec) => {
                    programs.insert(name.clone(), spec);
                }
                None => complete = false,
            }
        }
        if complete {
            self.check_shared_files(at, &programs);
        }
        // Said with every other problem, of the programs that could be read.
        let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
        self.check_order(at, &programs, &names);
        complete.then_some(programs)
    }

    fn program(&mut self, at: &Here, name: &str, node: &Node) -> Option<ProgramSpec> {
        let Node::Map(pairs) = node else {
            let msg = format!("expected a mapping of settings with at least `cmd`, found {}", node.kind());
            self.problem(at, None, msg);
            return None;
        };
        let e = self.entries(at, pairs, PROGRAM_KEYS);
        let dir = self.ctx.config_dir.clone();
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
        let umask_text = self.text_at(&["programs", name, "umask"]).map(str::to_string);
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
        let stdout = self.output(&e, output::Which::Stdout);
        let stderr = self.output(&e, output::Which::Stderr);
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
        let config_dir = self.ctx.config_dir.clone();
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
        let base = workingdir.clone().flatten().unwrap_or_else(|| self.ctx.config_dir.clone());
        let ready = self.ready(&e, &base);
        let healthcheck = self.healthcheck(&e, &base);
        let backoff = self.backoff(&e);
        let rlimits = self.rlimits(&e);
        let workingdir = workingdir?;
        Some(ProgramSpec {
            name: name.to_string(),
            cmd: anchor_program(cmd??, workingdir.as_deref().unwrap_or(&self.ctx.config_dir)),
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
            let text = self.text_at(&["programs", program, "env", name]).map(str::to_string);
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

mod alerts;
#[cfg(test)]
mod alerts_tests;
mod backoff;
mod env_file;
mod limits;
mod order;
#[cfg(test)]
mod order_tests;
mod output;
#[cfg(test)]
mod output_tests;
mod privileges;
#[cfg(test)]
mod privileges_tests;
#[cfg(test)]
mod tests;
