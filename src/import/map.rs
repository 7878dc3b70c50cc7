//! supervisord's sections as taskmaster's keys (taskmaster(1), SWITCHING FROM SUPERVISORD): each
//! key mapped, left out when it says what taskmaster does anyway, or listed as not carried over,
//! on standard error and as a comment where it was.

use super::environment::environment;
use super::ini::{Entry, Ini, Section};
use super::percent::{Into, Names, convert};
use super::values::{boolean, byte_size, int_within, octal};
use super::yaml::{Writer, scalar};
use std::collections::HashMap;

/// One file read: the main one or one it includes.
pub(crate) struct File {
    /// As the user would name it.
    pub(crate) shown: String,
    /// Its folder, `%(here)s` of what it writes.
    pub(crate) dir: String,
}

/// The YAML, and one line per key not carried over (`FILE:LINE: [section] key: why`).
pub(crate) struct Imported {
    pub(crate) yaml: String,
    pub(crate) unmapped: Vec<String>,
}

pub(super) struct Mapper<'a> {
    pub(super) ini: &'a Ini,
    pub(super) files: &'a [File],
    pub(super) host: String,
    pub(super) notes: Vec<String>,
    /// Program name → the `[group:NAME]` that lists it.
    pub(super) groups: HashMap<String, String>,
    /// `[supervisord] environment` as text, which `%(ENV_X)s` of programs sees.
    pub(super) environ: Vec<(String, String)>,
    /// The names taken by programs so far.
    pub(super) taken: std::collections::HashSet<String>,
    /// Whether the program being mapped is written under another name.
    pub(super) renamed: bool,
}

/// supervisord's own settings that every program gets.
#[derive(Default)]
pub(super) struct Inherited {
    pub(super) env: Vec<(String, String)>,
    pub(super) umask: Option<u32>,
    pub(super) childlogdir: Option<String>,
    /// The folder supervisord moves to when it daemonizes, where programs without `directory` run.
    pub(super) directory: Option<String>,
}

pub(crate) fn map(ini: &Ini, files: &[File], host: &str) -> Imported {
    let mut m = Mapper {
        ini,
        files,
        host: host.to_string(),
        notes: Vec::new(),
        groups: HashMap::new(),
        environ: Vec::new(),
        taken: ini
            .sections
            .iter()
            .filter_map(|s| s.name.strip_prefix("program:"))
            .map(|n| n.trim().to_string())
            .collect(),
        renamed: false,
    };
    let mut out = Writer::default();
    out.comment(0, &format!("Imported from {} by `taskmaster --import`.", files[0].shown));
    out.comment(
        0,
        "Processes get TASKMASTER_PROGRAM, TASKMASTER_PROCESS_NAME and TASKMASTER_PROCESS_NUM, not \
         supervisord's SUPERVISOR_* variables.",
    );
    if files.len() > 1 {
        let names: Vec<&str> = files[1..].iter().map(|f| f.shown.as_str()).collect();
        out.comment(
            0,
            &format!(
                "The programs of [include] files ({}) are in it, each under a comment naming its file.",
                names.join(", ")
            ),
        );
    }
    let mut trailing = m.groups_of_programs();
    let (taskmaster, inherited) = m.daemon();
    if !taskmaster.is_empty() {
        out.line(0, "taskmaster:");
        for (text, level) in taskmaster {
            out.line(level, &text);
        }
    }
    out.line(0, "programs:");
    let defaults = ini.section("DEFAULT");
    for section in &ini.sections {
        match section.name.split_once(':') {
            Some(("program", name)) => match defaults {
                Some(defaults) => {
                    m.program(&mut out, &section.with_defaults(defaults, |_| true), name, &inherited)
                }
                None => m.program(&mut out, section, name, &inherited),
            },
            _ if section.name == "DEFAULT" => {
                let what =
                    "its keys are those of every [program:NAME] that does not set them, as in supervisord";
                m.note(section, what);
            }
            Some(("group", _)) => {}
            _ if ["supervisord", "unix_http_server"].contains(&section.name.as_str()) => {}
            _ if section.name == "include" => {
                for entry in section.entries.iter().filter(|e| e.file > 0) {
                    let why = "supervisord reads [include] in the main file only";
                    trailing.push(m.unmapped(section, entry, why));
                }
            }
            _ => {
                let why = match section.name.as_str() {
                    "supervisorctl" => "taskmasterctl reads the socket from the configuration",
                    n if n.starts_with("rpcinterface:") => "taskmaster has no XML-RPC interface",
                    "inet_http_server" => "taskmaster listens on its UNIX socket only",
                    n if n.starts_with("eventlistener:") => "no event listeners (see ALERTS)",
                    n if n.starts_with("fcgi-program:") => "no FastCGI programs",
                    _ => "no such section in taskmaster",
                };
                for entry in &section.entries {
                    trailing.push(m.unmapped(section, entry, why));
                }
                if section.entries.is_empty() {
                    trailing.push(m.note(section, why));
                }
            }
        }
    }
    if !ini.sections.iter().any(|s| s.name.starts_with("program:")) {
        m.notes.push(format!(
            "{} defines no program ([program:NAME] sections): taskmaster needs at least one",
            files[0].shown
        ));
    }
    for section in &ini.sections {
        for entry in section.entries.iter().filter(|e| e.value.contains("%(host_node_name)")) {
            let line = format!(
                "{}:{}: [{}] {}: %(host_node_name)s is written as `{host}`, this machine's name",
                files[entry.file].shown, entry.line, section.name, entry.key
            );
            m.notes.push(line);
        }
    }
    if !trailing.is_empty() {
        out.blank();
        out.comment(0, "Not carried over:");
        for line in trailing {
            out.comment(0, &line);
        }
    }
    Imported { yaml: out.finish(), unmapped: m.notes }
}

impl Mapper<'_> {
    /// Says `entry` is not carried over; the comment's text.
    pub(super) fn unmapped(&mut self, section: &Section, entry: &Entry, why: &str) -> String {
        let first = entry.value.lines().next().unwrap_or_default();
        let more = if entry.value.contains('\n') { " ..." } else { "" };
        let line = format!(
            "{}:{}: [{}] {} = {first}{more}: {why}",
            self.files[entry.file].shown, entry.line, section.name, entry.key
        );
        self.notes.push(line.clone());
        line
    }

    /// Says something of a whole section; the comment's text.
    pub(super) fn note(&mut self, section: &Section, what: &str) -> String {
        let line = format!("{}:{}: [{}]: {what}", self.files[section.file].shown, section.line, section.name);
        self.notes.push(line.clone());
        line
    }

    /// The names `entry`'s value may use.
    pub(super) fn names<'n>(&'n self, entry: &Entry, program: Option<&'n str>, numprocs: u32) -> Names<'n> {
        let group = program.and_then(|p| self.groups.get(p)).map(String::as_str);
        Names {
            program,
            group,
            here: &self.files[entry.file].dir,
            numprocs,
            host: &self.host,
            program_is_name: !self.renamed,
            environ: if program.is_some() { &self.environ } else { &[] },
        }
    }

    /// Which group lists each program; what is said of the groups.
    fn groups_of_programs(&mut self) -> Vec<String> {
        let mut said = Vec::new();
        let ini = self.ini;
        for section in ini.sections.iter().filter(|s| s.name.starts_with("group:")) {
            let group = section.name["group:".len()..].trim();
            let members = section.get("programs").map_or("", |e| e.value.as_str());
            for member in members.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                if ini.section(&format!("program:{member}")).is_none() {
                    said.push(self.note(section, &format!("supervisord refuses it: no [program:{member}]")));
                }
                self.groups.insert(member.to_string(), group.to_string());
            }
            said.push(self.note(
                section,
                &format!(
                    "programs {members}: taskmaster has no groups; name the programs in commands \
                     (`restart a b`); %(group_name)s is written as {group}"
                ),
            ));
            for entry in section.entries.iter().filter(|e| e.key != "programs") {
                said.push(self.unmapped(section, entry, "groups are not carried over"));
            }
        }
        said
    }

    /// The taskmaster section's lines (text, indent) from `[supervisord]` and
    /// `[unix_http_server]`, and what programs inherit.
    fn daemon(&mut self) -> (Vec<(String, usize)>, Inherited) {
        let mut lines = Vec::new();
        let mut inherited = Inherited::default();
        let mut environ = Vec::new();
        let ini = self.ini;
        let foreground = ini
            .section("supervisord")
            .and_then(|s| s.get("nodaemon"))
            .is_some_and(|e| boolean(&e.value) == Ok(true));
        // supervisord reads these keys of its sections, and finds them in [DEFAULT] too.
        let reads = |section: &str, key: &str| match section {
            "supervisord" => DAEMON_KEYS.contains(&key),
            _ => ["file", "chmod", "chown"].contains(&key),
        };
        let defaults = ini.section("DEFAULT");
        for section in ["supervisord", "unix_http_server"].iter().filter_map(|name| ini.section(name)) {
            let section = &match defaults {
                Some(d) => section.with_defaults(d, |key| reads(&section.name, key)),
                None => section.clone(),
            };
            for entry in &section.entries {
                let names = self.names(entry, None, 1);
                let literal = || convert(&entry.value, &names, Into::Literal);
                let expanded = || convert(&entry.value, &names, Into::Expanded);
                let daemonizes = "supervisord uses it only when it daemonizes, and nodaemon = true here";
                let mapped: Result<Option<(&str, String)>, String> = match (
                    section.name.as_str(),
                    entry.key.as_str(),
                ) {
                    ("supervisord", "logfile") => match literal().as_deref() {
                        Ok("syslog") => Err("taskmaster's own log is a file".to_string()),
                        Ok("/dev/stdout" | "/dev/stderr" | "/dev/fd/1" | "/dev/fd/2") => Err(
                            "taskmaster shows its log on its terminal (unless -q) and keeps it in a file, \
                                 taskmaster.log by default; its output may be a pipe, where it writes no file"
                                .to_string(),
                        ),
                        _ => expanded().map(|v| Some(("logfile", scalar(&v)))),
                    },
                    ("supervisord", "logfile_maxbytes") => {
                        literal().and_then(|v| byte_size(&v)).map(|v| Some(("logfile_maxbytes", scalar(&v))))
                    }
                    ("supervisord", "logfile_backups") => literal()
                        .and_then(|v| int_within(&v, 0, 1000))
                        .map(|n| Some(("logfile_backups", n.to_string()))),
                    ("supervisord", "loglevel") => {
                        literal().map(|v| Some(("loglevel", level(&v).to_string())))
                    }
                    // supervisord started as root stays root: so does taskmaster, without `user`.
                    ("supervisord", "user") if entry.value == "root" => Ok(None),
                    ("supervisord", "nodaemon") => match literal().and_then(|v| boolean(&v)) {
                        Ok(true) => Ok(None),
                        Ok(false) => Err("taskmaster runs in the foreground: a service manager keeps it \
                                              running (see RUNNING AS A SERVICE)"
                            .to_string()),
                        Err(why) => Err(why),
                    },
                    ("supervisord", "user") => literal().map(|v| Some(("user", scalar(&v)))),
                    ("supervisord", "environment") => environment(&entry.value, &names).map(|env| {
                        inherited.env = env.iter().map(|p| (p.key.clone(), p.value.clone())).collect();
                        environ = env.into_iter().map(|p| (p.key, p.text)).collect();
                        None
                    }),
                    ("supervisord", "umask" | "directory") if foreground => Err(daemonizes.to_string()),
                    ("supervisord", "umask") => literal().and_then(|v| octal(&v)).map(|u| {
                        inherited.umask = Some(u);
                        None
                    }),
                    ("supervisord", "directory") => expanded().map(|v| {
                        inherited.directory = Some(v);
                        None
                    }),
                    ("supervisord", "childlogdir") => expanded().map(|v| {
                        inherited.childlogdir = Some(v);
                        None
                    }),
                    ("unix_http_server", "file") => expanded().map(|v| Some(("socket", scalar(&v)))),
                    ("unix_http_server", "chmod") => literal()
                        .and_then(|v| octal(&v))
                        .map(|m| Some(("socket_mode", scalar(&format!("{m:04o}"))))),
                    ("unix_http_server", "chown") => literal().map(|v| Some(("socket_owner", scalar(&v)))),
                    _ => Err(why_not(&entry.key).to_string()),
                };
                match mapped {
                    Ok(Some((key, value))) => lines.push((format!("{key}: {value}"), 1)),
                    Ok(None) => {}
                    Err(why) => {
                        let line = self.unmapped(section, entry, &why);
                        lines.push((format!("# {}", super::yaml::comment_text(&line)), 1));
                    }
                }
            }
        }
        // Daemonizing, supervisord sets the umask 022 unless told another.
        if !foreground && ini.section("supervisord").is_some() && inherited.umask.is_none() {
            inherited.umask = Some(0o22);
        }
        self.environ = environ;
        (lines, inherited)
    }
}

/// The keys of `[supervisord]` that supervisord reads.
const DAEMON_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "pidfile",
    "umask",
    "nodaemon",
    "silent",
    "minfds",
    "minprocs",
    "nocleanup",
    "childlogdir",
    "user",
    "directory",
    "strip_ansi",
    "environment",
    "identifier",
];

/// supervisord's log levels as taskmaster's.
fn level(value: &str) -> &'static str {
    match value.to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warn" | "warning" => "warn",
        "debug" | "trace" | "blather" => "debug",
        _ => "info",
    }
}

/// Why a key has no equivalent.
pub(super) fn why_not(key: &str) -> &'static str {
    match key {
        "pidfile" | "nodaemon" | "nocleanup" => "taskmaster runs in the foreground, without a pid file",
        "minfds" => "taskmaster raises its open-file limit itself",
        "minprocs" => "no equivalent",
        "username" | "password" => "the socket is guarded by its mode and owner",
        "serverurl" => "programs reach taskmaster through its socket",
        "process_name" => "processes are named PROGRAM or PROGRAM:PROGRAM_00, PROGRAM:PROGRAM_01 ...",
        "stdout_events_enabled" | "stderr_events_enabled" => "no event listeners",
        "stdout_capture_maxbytes" | "stderr_capture_maxbytes" => "no capture mode",
        _ => "no equivalent in taskmaster",
    }
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
