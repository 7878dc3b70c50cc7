//! supervisord's sections as taskmaster's keys (taskmaster(1), SWITCHING FROM SUPERVISORD): each
//! key mapped, left out when it says what taskmaster does anyway, or listed as not carried over,
//! on standard error and as a comment where it was.

use super::environment::environment;
use super::ini::{Entry, Section};
use super::percent::{Into, Names, convert};
use super::yaml::{Writer, flow_scalar, scalar};
use std::path::PathBuf;

/// One file read: the main one or one it includes, with its sections.
pub(crate) struct Source {
    /// As the user would name it.
    pub(crate) shown: String,
    pub(crate) dir: PathBuf,
    pub(crate) sections: Vec<Section>,
}

/// The YAML, and one line per key not carried over (`FILE:LINE: [section] key: why`).
pub(crate) struct Imported {
    pub(crate) yaml: String,
    pub(crate) unmapped: Vec<String>,
}

struct Mapper<'a> {
    sources: &'a [Source],
    host: String,
    notes: Vec<String>,
}

/// supervisord's own settings that every program gets: `[supervisord] environment` and `umask`.
#[derive(Default)]
struct Inherited {
    env: Vec<(String, String, usize)>,
    umask: Option<String>,
    childlogdir: Option<String>,
}

pub(crate) fn map(sources: &[Source], host: &str) -> Imported {
    let mut m = Mapper { sources, host: host.to_string(), notes: Vec::new() };
    let mut out = Writer::default();
    let main = &sources[0];
    out.comment(0, &format!("Imported from {} by `taskmaster --import`.", main.shown));
    if sources.len() > 1 {
        let files: Vec<&str> = sources[1..].iter().map(|s| s.shown.as_str()).collect();
        out.comment(
            0,
            &format!(
                "The programs of [include] files ({}) are in it, each under a comment naming its file.",
                files.join(", ")
            ),
        );
    }
    let (taskmaster, inherited) = m.daemon();
    if !taskmaster.is_empty() {
        out.line(0, "taskmaster:");
        for (text, level) in taskmaster {
            out.line(level, &text);
        }
    }
    out.line(0, "programs:");
    let mut trailing = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        for section in &source.sections {
            match section.name.split_once(':') {
                Some(("program", name)) => {
                    if index > 0 {
                        out.comment(1, &format!("from {}", source.shown));
                    }
                    m.program(&mut out, source, section, name, &inherited);
                }
                Some(("group", name)) => {
                    let members = section.get("programs").map_or("", |e| e.value.as_str());
                    trailing.push(format!(
                        "[group:{name}] ({}:{}): programs {members}: taskmaster has no groups; name the \
                         programs in commands (`restart a b`)",
                        source.shown, section.line
                    ));
                    for entry in section.entries.iter().filter(|e| e.key != "programs") {
                        trailing.push(m.unmapped(source, section, entry, "groups are not carried over"));
                    }
                }
                _ if ["supervisord", "unix_http_server", "include"].contains(&section.name.as_str()) => {}
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
                        trailing.push(m.unmapped(source, section, entry, why));
                    }
                    if section.entries.is_empty() {
                        let line = format!("{}:{}: [{}]: {why}", source.shown, section.line, section.name);
                        m.notes.push(line.clone());
                        trailing.push(line);
                    }
                }
            }
        }
    }
    let programs =
        sources.iter().flat_map(|s| &s.sections).filter(|s| s.name.starts_with("program:")).count();
    if programs == 0 {
        m.notes.push(format!(
            "{} defines no program ([program:NAME] sections): taskmaster needs at least one",
            main.shown
        ));
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
    fn unmapped(&mut self, source: &Source, section: &Section, entry: &Entry, why: &str) -> String {
        let first = entry.value.lines().next().unwrap_or_default();
        let line =
            format!("{}:{}: [{}] {} = {first}: {why}", source.shown, entry.line, section.name, entry.key);
        self.notes.push(line.clone());
        line
    }

    /// The taskmaster section's lines (text, indent) from `[supervisord]` and
    /// `[unix_http_server]`, and what programs inherit.
    fn daemon(&mut self) -> (Vec<(String, usize)>, Inherited) {
        let mut lines = Vec::new();
        let mut inherited = Inherited::default();
        let sources = self.sources;
        for source in sources {
            let (here, host) = (source.dir.to_string_lossy().into_owned(), self.host.clone());
            let names = Names { program: None, here: &here, numprocs: 1, host: &host };
            for section in &source.sections {
                for entry in &section.entries {
                    let expanded = || convert(&entry.value, &names, Into::Expanded);
                    let mapped: Result<Option<(&str, String)>, String> =
                        match (section.name.as_str(), entry.key.as_str()) {
                            ("supervisord", "logfile") => expanded().map(|v| Some(("logfile", scalar(&v)))),
                            ("supervisord", "logfile_maxbytes") => {
                                Ok(Some(("logfile_maxbytes", scalar(&entry.value))))
                            }
                            ("supervisord", "logfile_backups") => {
                                Ok(Some(("logfile_backups", entry.value.clone())))
                            }
                            ("supervisord", "loglevel") => {
                                Ok(Some(("loglevel", level(&entry.value).to_string())))
                            }
                            // supervisord started as root stays root: so does taskmaster, without `user`.
                            ("supervisord", "user") if entry.value == "root" => Ok(None),
                            ("supervisord", "user") => Ok(Some(("user", scalar(&entry.value)))),
                            ("supervisord", "environment") => {
                                inherited.env = environment(&entry.value, &names).unwrap_or_default();
                                Ok(None)
                            }
                            // supervisord sets its umask when it daemonizes, not in the foreground.
                            ("supervisord", "umask") if foreground(sources) => {
                                Err("supervisord ignores it with nodaemon=true".to_string())
                            }
                            ("supervisord", "umask") => {
                                inherited.umask = Some(entry.value.clone());
                                Ok(None)
                            }
                            ("supervisord", "childlogdir") => {
                                inherited.childlogdir = expanded().ok();
                                Ok(None)
                            }
                            ("unix_http_server", "file") => expanded().map(|v| Some(("socket", scalar(&v)))),
                            ("unix_http_server", "chmod") => {
                                Ok(Some(("socket_mode", scalar(&format!("{:0>4}", entry.value)))))
                            }
                            ("unix_http_server", "chown") => Ok(Some(("socket_owner", scalar(&entry.value)))),
                            ("supervisord" | "unix_http_server", _) => Err(why_not(&entry.key).to_string()),
                            _ => continue,
                        };
                    match mapped {
                        Ok(Some((key, value))) => lines.push((format!("{key}: {value}"), 1)),
                        Ok(None) => {}
                        Err(why) => {
                            let line = self.unmapped(source, section, entry, &why);
                            lines.push((format!("# {line}"), 1));
                        }
                    }
                }
            }
        }
        (lines, inherited)
    }

    /// One `[program:NAME]`.
    fn program(
        &mut self,
        out: &mut Writer,
        source: &Source,
        section: &Section,
        name: &str,
        inherited: &Inherited,
    ) {
        let get = |key: &str| section.get(key).map(|e| e.value.as_str());
        let numprocs: u32 = get("numprocs").and_then(|n| n.parse().ok()).unwrap_or(1);
        let here = source.dir.to_string_lossy().into_owned();
        let host = self.host.clone();
        let names = Names { program: Some(name), here: &here, numprocs, host: &host };
        out.line(1, &format!("{}:", scalar(name)));
        if get("command").is_none() {
            out.comment(2, "supervisord refuses a program without `command`: give it one");
            self.notes.push(format!("{}:{}: [{}]: no command", source.shown, section.line, section.name));
        }
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut env: Vec<(String, String)> =
            inherited.env.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
        let mut comments = Vec::new();
        let mut skip_stderr = false;
        for entry in &section.entries {
            let value = entry.value.as_str();
            let expanded = || convert(value, &names, Into::Expanded);
            let mapped: Result<Option<(&str, String)>, String> = match entry.key.as_str() {
                "command" => expanded().map(|v| Some(("cmd", scalar(&v)))),
                "numprocs" => Ok((numprocs != 1).then(|| ("numprocs", numprocs.to_string()))),
                "priority" => Ok((value != "999").then(|| ("priority", value.to_string()))),
                "autostart" => boolean(value).map(|b| (!b).then(|| ("autostart", "false".to_string()))),
                "autorestart" => match value.to_ascii_lowercase().as_str() {
                    "true" => Ok(Some(("autorestart", "always".to_string()))),
                    "false" => Ok(Some(("autorestart", "never".to_string()))),
                    "unexpected" => Ok(None),
                    _ => Err(format!("`{value}` is not true, false or unexpected")),
                },
                "startsecs" => Ok((value != "1").then(|| ("starttime", value.to_string()))),
                "startretries" => Ok((value != "3").then(|| ("startretries", value.to_string()))),
                "exitcodes" => Ok((value.replace(' ', "") != "0")
                    .then(|| ("exitcodes", format!("[{}]", value.replace(',', ", "))))),
                "stopsignal" => match value.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
                    "TERM" => Ok(None),
                    "KILL" => {
                        comments.push(
                            "stopsignal KILL: here a stop sends TERM and KILL at once (stoptime: 0)"
                                .to_string(),
                        );
                        Ok(Some(("stoptime", "0".to_string())))
                    }
                    other => Ok(Some(("stopsignal", other.to_string()))),
                },
                "stopwaitsecs" => Ok((value != "10"
                    && get("stopsignal").is_none_or(|s| !s.contains("KILL")))
                .then(|| ("stoptime", value.to_string()))),
                "stopasgroup" | "killasgroup" => boolean(value).map(|b| {
                    let first = ["stopasgroup", "killasgroup"]
                        .iter()
                        .find(|k| get(k).and_then(|v| boolean(v).ok()) == Some(true));
                    (b && first == Some(&entry.key.as_str())).then(|| ("stopasgroup", "true".to_string()))
                }),
                "user" => Ok(Some(("user", scalar(value)))),
                "directory" => expanded().map(|v| Some(("workingdir", scalar(&v)))),
                "umask" => Ok(Some(("umask", value.to_string()))),
                "environment" => match environment(value, &names) {
                    Ok(pairs) => {
                        env.extend(pairs.into_iter().map(|(k, v, _)| (k, v)));
                        Ok(None)
                    }
                    Err(why) => Err(why),
                },
                "redirect_stderr" => boolean(value).map(|b| {
                    skip_stderr = b;
                    b.then(|| ("stderr", "stdout".to_string()))
                }),
                "stdout_logfile" => {
                    self.logfile(section, "stdout", &names, inherited).map(|v| v.map(|v| ("stdout", v)))
                }
                "stderr_logfile"
                    if skip_stderr || get("redirect_stderr").and_then(|v| boolean(v).ok()) == Some(true) =>
                {
                    Err("redirect_stderr sends stderr to stdout's file".to_string())
                }
                "stderr_logfile" => {
                    self.logfile(section, "stderr", &names, inherited).map(|v| v.map(|v| ("stderr", v)))
                }
                "stdout_logfile_maxbytes"
                | "stdout_logfile_backups"
                | "stderr_logfile_maxbytes"
                | "stderr_logfile_backups"
                    if section.get(&format!("{}_logfile", &entry.key[..6])).is_some() =>
                {
                    Ok(None)
                }
                "stdout_syslog" | "stderr_syslog" => {
                    match (boolean(value), section.get(&format!("{}_logfile", &entry.key[..6]))) {
                        (Ok(true), None) => Ok(Some((&entry.key[..6], "syslog".to_string()))),
                        (Ok(true), Some(_)) => {
                            Err("one destination per stream here: the file is kept".to_string())
                        }
                        _ => Ok(None),
                    }
                }
                "process_name"
                    if [
                        "%(program_name)s",
                        "%(program_name)s_%(process_num)02d",
                        "%(program_name)s_%(process_num)d",
                    ]
                    .contains(&value) =>
                {
                    Ok(None)
                }
                "numprocs_start" if value == "0" => Ok(None),
                "stdout_capture_maxbytes" | "stderr_capture_maxbytes" if value == "0" => Ok(None),
                "stdout_events_enabled" | "stderr_events_enabled" if boolean(value) == Ok(false) => Ok(None),
                other => Err(why_not(other).to_string()),
            };
            match mapped {
                Ok(Some(pair)) => keys.push((pair.0.to_string(), pair.1)),
                Ok(None) => {}
                Err(why) => comments.push(self.unmapped(source, section, entry, &why)),
            }
        }
        if get("stdout_logfile").is_none() && get("stdout_syslog").is_none() {
            comments.push(
                "supervisord kept stdout in an AUTO file; here it is discarded unless `stdout` names a file"
                    .to_string(),
            );
        }
        if section.get("umask").is_none()
            && let Some(umask) = &inherited.umask
        {
            keys.push(("umask".to_string(), umask.clone()));
        }
        for (key, value) in keys {
            out.key(2, &key, &value);
        }
        if !env.is_empty() {
            out.line(2, "env:");
            for (k, v) in env {
                out.key(3, &k, &scalar(&v));
            }
        }
        for comment in comments {
            out.comment(2, &comment);
        }
    }

    /// `stdout_logfile` or `stderr_logfile` (and its rotation): a path, or the mapping form.
    fn logfile(
        &self,
        section: &Section,
        stream: &str,
        names: &Names,
        inherited: &Inherited,
    ) -> Result<Option<String>, String> {
        let get = |key: &str| section.get(&format!("{stream}_{key}")).map(|e| e.value.as_str());
        let Some(value) = get("logfile") else { return Ok(None) };
        let path = match value {
            "NONE" => return Ok(None),
            "syslog" => return Ok(Some("syslog".to_string())),
            "AUTO" => {
                let dir = inherited.childlogdir.clone().unwrap_or_else(|| names.here.replace('$', "$$"));
                match names.numprocs {
                    1 => format!("{dir}/${{TASKMASTER_PROGRAM}}-{stream}.log"),
                    _ => format!("{dir}/${{TASKMASTER_PROGRAM}}_${{TASKMASTER_PROCESS_NUM:02}}-{stream}.log"),
                }
            }
            other => convert(other, names, Into::Expanded)?,
        };
        let maxbytes = get("logfile_maxbytes").unwrap_or("50MB");
        let backups = get("logfile_backups").unwrap_or("10");
        Ok(Some(match (maxbytes, backups) {
            ("0", _) => scalar(&path),
            (max, "10") => format!("{{path: {}, maxbytes: {}}}", flow_scalar(&path), flow_scalar(max)),
            (max, backups) => {
                format!(
                    "{{path: {}, maxbytes: {}, backups: {}}}",
                    flow_scalar(&path),
                    flow_scalar(max),
                    flow_scalar(backups)
                )
            }
        }))
    }
}

/// `[supervisord] nodaemon = true`.
fn foreground(sources: &[Source]) -> bool {
    let sections = sources.iter().flat_map(|s| &s.sections).filter(|s| s.name == "supervisord");
    sections.filter_map(|s| s.get("nodaemon")).next_back().is_some_and(|e| boolean(&e.value) == Ok(true))
}

/// supervisord's log levels as taskmaster's.
fn level(value: &str) -> &'static str {
    match value.to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warn" | "warning" => "warn",
        "debug" | "trace" | "blather" => "debug",
        _ => "info",
    }
}

/// supervisord's booleans.
fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("`{value}` is not a boolean")),
    }
}

/// Why a key has no equivalent.
fn why_not(key: &str) -> &'static str {
    match key {
        "pidfile" | "nodaemon" | "nocleanup" => "taskmaster runs in the foreground, without a pid file",
        "minfds" => "taskmaster raises its open-file limit itself",
        "minprocs" => "no equivalent",
        "username" | "password" => "the socket is guarded by its mode and owner",
        "serverurl" => "programs reach taskmaster through its socket",
        "process_name" => "processes are named PROGRAM or PROGRAM:PROGRAM_00, PROGRAM:PROGRAM_01 ...",
        "numprocs_start" => "process numbers start at 0",
        "stdout_events_enabled" | "stderr_events_enabled" => "no event listeners",
        "stdout_capture_maxbytes" | "stderr_capture_maxbytes" => "no capture mode",
        _ => "no equivalent in taskmaster",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_booleans() {
        assert_eq!(level("BLATHER"), "debug");
        assert_eq!(level("critical"), "error");
        assert_eq!(boolean("Yes"), Ok(true));
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn a_program_maps_key_by_key_and_says_what_it_leaves() {
        let text = "[program:web]\ncommand = gunicorn -b :80%(process_num)02d app\nnumprocs = 2\n\
                    process_name = %(program_name)s_%(process_num)02d\ndirectory = %(here)s/app\n\
                    stdout_logfile = %(here)s/web.log\nstdout_logfile_maxbytes = 1MB\nredirect_stderr = true\n\
                    stopsignal = INT\nserverurl = AUTO\nautorestart = true\n";
        let sections = super::super::ini::parse(text).expect("ini");
        let sources = [Source { shown: "s.conf".into(), dir: "/etc/sv".into(), sections }];
        let imported = map(&sources, "box");
        assert_eq!(
            imported.yaml,
            "# Imported from s.conf by `taskmaster --import`.\nprograms:\n  web:\n    \
             cmd: gunicorn -b :80${TASKMASTER_PROCESS_NUM:02} app\n    numprocs: 2\n    workingdir: /etc/sv/app\n    \
             stdout: {path: /etc/sv/web.log, maxbytes: 1MB}\n    stderr: stdout\n    stopsignal: INT\n    \
             autorestart: always\n    # s.conf:10: [program:web] serverurl = AUTO: programs reach taskmaster through its socket\n"
        );
        assert_eq!(
            imported.unmapped,
            ["s.conf:10: [program:web] serverurl = AUTO: programs reach taskmaster through its socket"]
        );
    }
}
