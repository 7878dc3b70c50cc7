//! Turns the YAML tree into a validated `Config`, collecting every problem instead of stopping at
//! the first. Pure: the environment it needs (folders, HOME, uid) comes in a `Context`.

use super::accounts::Accounts;
use super::alerts::{DEFAULT_SYSLOG_ADDRESS, SyslogAddress};
use super::error::{ConfigError, Problem, nearest};
use super::node::{self, Node, Seg};
use super::raw::*;
use super::spec::{Config, DaemonSpec, DetachKey, LogLevel, ProgramSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

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
    /// taskmaster's environment, where `${NAME}` looks after the program's own `env` (taskmaster(1), VARIABLES).
    pub environment: BTreeMap<String, String>,
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
            environment: BTreeMap::from([
                ("HOME".into(), "/root".into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
            ]),
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
    let mut v = Validator::new(text, &root, file, ctx);
    let config = v.config(&root);
    v.finish(config)
}

/// Validates only the `taskmaster` section of `text`: what a client needs (the socket) from a
/// file whose programs may be half-edited.
pub(crate) fn validate_daemon(text: &str, file: &str, ctx: &Context) -> Result<DaemonSpec, ConfigError> {
    let root =
        node::parse(text).map_err(|(message, position)| ConfigError::whole(file, message, position))?;
    let mut v = Validator::new(text, &root, file, ctx);
    // What the daemon includes is not the client's business, nor variables set only for it.
    v.daemon_only = true;
    let section = match &root {
        Node::Map(pairs) => pairs.iter().find(|(k, _)| k == "taskmaster").map(|(_, n)| n),
        _ => None,
    };
    let daemon = v.daemon(&Here::top(MAIN).key("taskmaster", 0), section.unwrap_or(&Node::Null));
    v.finish(daemon)
}

impl<'c> Validator<'c> {
    fn new(text: &str, root: &Node, file: &str, ctx: &'c Context) -> Validator<'c> {
        let mut v = Validator {
            ctx,
            sources: Vec::new(),
            texts: HashMap::new(),
            problems: Vec::new(),
            daemon_uid: ctx.uid,
            daemon_user: None,
            places: HashMap::new(),
            includes: Vec::new(),
            daemon_only: false,
        };
        v.add_source(file, text, ctx.config_dir.clone(), Some(root));
        v
    }

    /// Takes in one more file (the main one first), parsed as `root`; its number, for
    /// `Here::file`.
    fn add_source(&mut self, shown: &str, text: &str, dir: PathBuf, root: Option<&Node>) -> usize {
        let file = self.sources.len();
        // The second pass over the text is taken only when one of those values is a number or a
        // boolean to YAML: a string's text is the string, and most files have none (a reload of
        // a thousand programs spent a fifth of its time on it).
        if root.is_some_and(|root| node::typed_scalar_at(root, AS_WRITTEN)) {
            let texts = node::scalar_texts(text, AS_WRITTEN);
            // Indexed, so that looking up thousands of `env` values stays linear; a path written
            // twice keeps each text, in file order, as the tree's walk meets them.
            self.texts.reserve(texts.len());
            for (path, text) in texts {
                self.texts.entry((file, path)).or_default().push(text);
            }
        }
        self.sources.push(Source { shown: shown.to_string(), text: text.to_string(), dir });
        file
    }

    /// The value, or every problem found, located in its file and in file order.
    fn finish<T>(self, value: Option<T>) -> Result<T, ConfigError> {
        match (value, self.problems.is_empty()) {
            (Some(value), true) => Ok(value),
            _ => {
                let mut problems = self.problems;
                let length: usize = self.sources.iter().map(|s| s.text.len()).sum();
                let located = (MAX_REREAD / length.max(1)).clamp(10, MAX_LOCATED);
                let text_of = |file: &Option<String>| match file {
                    Some(shown) => self.sources.iter().find(|s| s.shown == *shown).map(|s| s.text.as_str()),
                    None => Some(self.sources[MAIN].text.as_str()),
                };
                for p in problems.iter_mut().filter(|p| p.position.is_none()).take(located) {
                    p.position = text_of(&p.file).and_then(|text| node::locate(text, &p.path));
                }
                // The main file's first, then each included file's, each in file order as an
                // editor would walk them; problems without a place go last.
                let order = |p: &Problem| {
                    let file = p.file.as_ref().map_or(MAIN, |f| {
                        self.sources.iter().position(|s| s.shown == *f).unwrap_or(usize::MAX)
                    });
                    (file, p.position.map_or((usize::MAX, 0), |at| (at.line, at.column)))
                };
                problems.sort_by_key(order);
                Err(ConfigError { file: self.sources[MAIN].shown.clone(), problems })
            }
        }
    }
}

/// The values read as they were written, not as YAML typed them (see `node::scalar_texts`).
const AS_WRITTEN: &[&[Option<&str>]] = &[
    &[Some("programs"), None, Some("umask")],
    &[Some("programs"), None, Some("env"), None],
    &[Some("taskmaster"), Some("socket_mode")],
];

/// The number of the main file among the sources; included files follow.
const MAIN: usize = 0;

/// One file read: the main one, or one it includes.
struct Source {
    /// As the user would name it: the main file as given, an included one from the same folder.
    shown: String,
    text: String,
    /// The folder relative paths written in it start from (taskmaster(1), INCLUDED FILES).
    dir: PathBuf,
}

struct Validator<'c> {
    ctx: &'c Context,
    sources: Vec<Source>,
    /// Scalars as written, by file and path (see `node::scalar_texts`).
    texts: HashMap<(usize, Vec<String>), Vec<String>>,
    problems: Vec<Problem>,
    /// The user taskmaster runs as once started: its own, or `taskmaster: user:`.
    daemon_uid: u32,
    /// `taskmaster: user:` as resolved: the user of every program that names none.
    daemon_user: Option<super::accounts::RunAs>,
    /// Where each program is defined (the first time), for problems found across programs.
    places: HashMap<String, Here>,
    /// `include:` patterns, and where each is written.
    includes: Vec<(Here, include::Include)>,
    /// Only the taskmaster section is read, for a client: `include` is passed over.
    daemon_only: bool,
}

/// Where the validator is: the file, the document path and how a problem there is introduced.
/// Cheap to copy and to extend: every key read makes one, and only a problem reads it.
#[derive(Clone)]
struct Here {
    file: usize,
    path: Trail,
    section: Rc<str>,
}

impl Here {
    /// The top of file number `file`.
    fn top(file: usize) -> Here {
        Here { file, path: Trail(None), section: "".into() }
    }

    fn key(&self, name: &str, nth: usize) -> Here {
        let step = Step { up: self.path.clone(), seg: Seg { name: name.to_string(), nth } };
        Here { file: self.file, path: Trail(Some(Rc::new(step))), section: self.section.clone() }
    }
}

/// A document path shared with the paths it extends: each step holds the one above it.
#[derive(Clone)]
struct Trail(Option<Rc<Step>>);

struct Step {
    up: Trail,
    seg: Seg,
}

impl Trail {
    /// The path from the top.
    fn segs(&self) -> Vec<Seg> {
        let mut segs = Vec::new();
        let mut at = &self.0;
        while let Some(step) = at {
            segs.push(step.seg.clone());
            at = &step.up.0;
        }
        segs.reverse();
        segs
    }
}

impl Validator<'_> {
    fn problem(&mut self, at: &Here, key: Option<&str>, message: String) {
        self.problems.push(Problem {
            path: at.path.segs(),
            position: None,
            section: at.section.to_string(),
            key: key.map(str::to_string),
            message,
            file: (at.file != MAIN).then(|| self.sources[at.file].shown.clone()),
        });
    }

    /// The scalar at the `nth` `path` of the file `at` is in (from 0), as written.
    fn text_at(&self, at: &Here, path: &[&str], nth: usize) -> Option<&str> {
        if self.texts.is_empty() {
            return None;
        }
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.texts.get(&(at.file, path))?.get(nth).map(String::as_str)
    }

    /// Where program `name` is defined; `programs`'s own place for one never read.
    fn place(&self, programs: &Here, name: &str) -> Here {
        self.places.get(name).cloned().unwrap_or_else(|| programs.key(name, 0))
    }

    /// The folder relative paths of the file `at` is in start from.
    fn dir(&self, at: &Here) -> PathBuf {
        self.sources[at.file].dir.clone()
    }

    fn config(&mut self, root: &Node) -> Option<Config> {
        let top = Here::top(MAIN);
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
        let included = self.read_included();
        let programs_at =
            entries.get("programs").map_or_else(|| top.key("programs", 0), |(at, _)| at.clone());
        let mut sections = Vec::new();
        let mut complete = true;
        if let Some((at, node)) = entries.get("programs") {
            match node {
                Node::Map(pairs) => sections.push((at.clone(), pairs.as_slice())),
                Node::Null => {}
                other => {
                    let msg =
                        format!("expected a mapping of program names to settings, found {}", other.kind());
                    self.problem(at, Some("programs"), msg);
                    complete = false;
                }
            }
        }
        for (file, root) in &included {
            match self.included_programs(*file, root) {
                Some(Some(section)) => sections.push(section),
                Some(None) => {}
                None => complete = false,
            }
        }
        if complete && sections.iter().all(|(_, pairs)| pairs.is_empty()) {
            let also = if self.includes.is_empty() { "" } else { " (nor do the files it includes)" };
            match entries.get("programs") {
                Some((at, _)) => {
                    let msg = format!("is empty: define at least one program{also}");
                    self.problem(at, Some("programs"), msg);
                }
                None => {
                    let msg = format!("no `programs:` section: there is nothing to supervise{also}");
                    self.problem(&top, None, msg);
                }
            }
            return None;
        }
        let programs = self.programs(&programs_at, &sections).filter(|_| complete);
        if let (Some(daemon), Some(programs)) = (&daemon, &programs) {
            self.check_main_log(&programs_at, daemon, programs);
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
                        (key == "process_name").then(|| {
                            " (taskmaster names the processes itself: PROG, or PROG:PROG_00, PROG:PROG_01 \
                             ... with numprocs; ${TASKMASTER_PROCESS_NAME} gives the name)"
                                .to_string()
                        })
                    })
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
        let at = Here { section: "taskmaster".into(), ..at.clone() };
        let empty = Vec::new();
        let pairs = match node {
            Node::Map(pairs) => pairs,
            Node::Null => &empty,
            other => {
                self.problem(&at, None, format!("expected a mapping of settings, found {}", other.kind()));
                return None;
            }
        };
        let mut e = self.entries(&at, pairs, DAEMON_KEYS);
        if self.daemon_only {
            e.remove("include");
        }
        let ctx = self.ctx;
        let scope = variables::Scope::outer(&ctx.environment, None, "");
        let expanded = self.expand_entries(&e, variables::DAEMON_EXPANDED, &scope);
        let e = variables::swap(&e, &expanded);
        self.include_patterns(&e);
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
        let mode_text = self.text_at(&at, &["taskmaster", "socket_mode"], 0).map(str::to_string);
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

    /// The programs of every section (the main file's, then each included file's), each name
    /// once across all of them; `at`: the main file's `programs`.
    fn programs(&mut self, at: &Here, sections: &[(Here, Pairs)]) -> Option<BTreeMap<String, ProgramSpec>> {
        let mut programs = BTreeMap::new();
        let mut complete = true;
        let defined = sections.iter().flat_map(|(section, pairs)| {
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            pairs.iter().map(move |(name, body)| {
                let nth = seen.entry(name).or_default();
                *nth += 1;
                (
                    Here { section: format!("program '{name}'").into(), ..section.key(name, *nth - 1) },
                    name,
                    body,
                )
            })
        });
        let mut names = Vec::new();
        for (here, name, body) in defined {
            if let Some(first) = self.places.get(name.as_str()) {
                let msg = format!(
                    "is defined twice (first at {}); program names must be unique",
                    self.locate(first)
                );
                self.problem(&here, None, msg);
                complete = false;
                continue;
            }
            self.places.insert(name.clone(), here.clone());
            names.push(name.as_str());
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
        self.check_order(at, &programs, &names);
        complete.then_some(programs)
    }
}

mod alerts;
#[cfg(test)]
mod alerts_tests;
mod backoff;
mod env_file;
mod include;
#[cfg(test)]
mod include_tests;
mod limits;
mod order;
pub(crate) use order::reprobe;
#[cfg(test)]
mod order_tests;
mod output;
#[cfg(test)]
mod output_tests;
mod privileges;
#[cfg(test)]
mod privileges_tests;
mod program;
#[cfg(test)]
mod tests;
mod variables;
#[cfg(test)]
mod variables_tests;
