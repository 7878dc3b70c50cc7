//! A program's `stdout_*`, `stderr_*` and `redirect_stderr` keys, decided together: taskmaster
//! gives each stream one destination (taskmaster(1), CHILD LOGS), supervisord a file and syslog.

use super::ini::{Entry, Section};
use super::map::{Inherited, Mapper};
use super::percent::{Into, convert};
use super::program::Mapped;
use super::values::{boolean, byte_size, int_within};
use super::yaml::{flow_scalar, scalar};
use std::collections::HashMap;

/// What each of these keys becomes, and what is said of the streams as a whole.
pub(super) struct Streams {
    outcomes: HashMap<String, Mapped>,
    comments: Vec<String>,
}

/// Where supervisord writes a stream, from its `*_logfile`.
enum Kind {
    /// No `*_logfile`: an AUTO file supervisord names itself.
    Unsaid,
    Auto,
    Nowhere,
    Syslog,
    File(String),
}

impl Streams {
    pub(super) fn plan(
        m: &Mapper,
        section: &Section,
        name: &str,
        numprocs: u32,
        inherited: &Inherited,
    ) -> Self {
        let mut plan = Streams { outcomes: HashMap::new(), comments: Vec::new() };
        let literal = |e: &Entry| m.literal(e, name, numprocs);
        let flag = |key: &str| section.get(key).map_or(Ok(false), |e| literal(e).and_then(|v| boolean(&v)));
        let redirect = flag("redirect_stderr");
        plan.outcomes.insert(
            "redirect_stderr".into(),
            match &redirect {
                Ok(true) => Ok(Some(("stderr".into(), "stdout".into()))),
                Ok(false) => Ok(None),
                Err(why) => Err(why.clone()),
            },
        );
        for stream in ["stdout", "stderr"] {
            let key = |k: &str| format!("{stream}_{k}");
            let logfile = section.get(&key("logfile"));
            if stream == "stderr" && redirect == Ok(true) {
                for k in ["logfile", "logfile_maxbytes", "logfile_backups", "syslog"] {
                    let why = "redirect_stderr sends stderr to stdout's destination";
                    plan.outcomes.insert(key(k), Err(why.to_string()));
                }
                continue;
            }
            let kind = match logfile {
                None => Kind::Unsaid,
                Some(e) => match e.value.trim().to_ascii_lowercase().as_str() {
                    "none" | "off" => Kind::Nowhere,
                    "auto" => Kind::Auto,
                    "syslog" => Kind::Syslog,
                    "/dev/stdout" | "/dev/stderr" | "/dev/fd/1" | "/dev/fd/2" | "/proc/self/fd/1"
                    | "/proc/self/fd/2" => {
                        let why = "taskmaster appends to files and terminals, not to its own output, which \
                                   may be a pipe: the stream is discarded here; name a file, or `attach` to the program";
                        plan.outcomes.insert(key("logfile"), Err(why.to_string()));
                        Kind::Nowhere
                    }
                    _ => match convert(&e.value, &m.names(e, Some(name), numprocs), Into::Expanded) {
                        Ok(path) => Kind::File(path),
                        Err(why) => {
                            plan.outcomes.insert(key("logfile"), Err(why));
                            Kind::Nowhere
                        }
                    },
                },
            };
            let syslog = flag(&key("syslog"));
            let path = match kind {
                Kind::File(path) => Some(path),
                Kind::Auto => {
                    let dir =
                        inherited.childlogdir.clone().unwrap_or_else(|| m.files[0].dir.replace('$', "$$"));
                    plan.comments.push(format!(
                        "{stream}_logfile AUTO: supervisord names the file itself; here it is {dir}/..."
                    ));
                    Some(match numprocs {
                        1 => format!("{dir}/${{TASKMASTER_PROGRAM}}-{stream}.log"),
                        _ => format!(
                            "{dir}/${{TASKMASTER_PROGRAM}}_${{TASKMASTER_PROCESS_NUM:02}}-{stream}.log"
                        ),
                    })
                }
                Kind::Syslog => {
                    plan.outcomes.insert(key("logfile"), Ok(Some((stream.into(), "syslog".into()))));
                    None
                }
                Kind::Unsaid if syslog == Ok(true) => {
                    plan.comments
                        .push(format!("supervisord also kept {stream} in an AUTO file; here syslog only"));
                    None
                }
                Kind::Unsaid => {
                    plan.comments.push(format!(
                        "supervisord kept {stream} in an AUTO file; here it is discarded unless `{stream}` names a file"
                    ));
                    None
                }
                Kind::Nowhere => None,
            };
            let maxbytes =
                section.get(&key("logfile_maxbytes")).map(|e| literal(e).and_then(|v| byte_size(&v)));
            let backups = section
                .get(&key("logfile_backups"))
                .map(|e| literal(e).and_then(|v| int_within(&v, 0, 1000)));
            match path {
                Some(path) => {
                    let value = file(&path, maxbytes.clone(), backups.clone());
                    plan.outcomes.insert(key("logfile"), Ok(Some((stream.into(), value))));
                    if syslog == Ok(true) {
                        plan.outcomes.insert(
                            key("syslog"),
                            Err("one destination per stream here: the file is kept".into()),
                        );
                    }
                    for (k, said) in [
                        ("logfile_maxbytes", maxbytes.map(|r| r.map(|_| ()))),
                        ("logfile_backups", backups.map(|r| r.map(|_| ()))),
                    ] {
                        plan.outcomes.insert(key(k), said.unwrap_or(Ok(())).map(|()| None));
                    }
                }
                None => {
                    let none = "it applies to a log file, which this stream does not have here";
                    plan.outcomes.insert(key("logfile_maxbytes"), Err(none.into()));
                    plan.outcomes.insert(key("logfile_backups"), Err(none.into()));
                    let written =
                        plan.outcomes.get(&key("logfile")).is_some_and(|o| matches!(o, Ok(Some(_))));
                    let said = match syslog {
                        Ok(true) if !written => Ok(Some((stream.into(), "syslog".into()))),
                        Ok(_) => Ok(None),
                        Err(why) => Err(why),
                    };
                    plan.outcomes.insert(key("syslog"), said);
                    plan.outcomes.entry(key("logfile")).or_insert(Ok(None));
                }
            }
        }
        plan
    }

    /// What `key` becomes, if it is one of these.
    pub(super) fn take(&mut self, key: &str) -> Option<Mapped> {
        self.outcomes.remove(key)
    }

    pub(super) fn comments(&mut self) -> Vec<String> {
        std::mem::take(&mut self.comments)
    }
}

/// A log file with supervisord's rotation (50MB, 10 backups unless said): the mapping form, or
/// the path alone when it never rotates (`maxbytes` 0).
fn file(
    path: &str,
    maxbytes: Option<Result<String, String>>,
    backups: Option<Result<i64, String>>,
) -> String {
    let maxbytes = maxbytes.and_then(Result::ok).unwrap_or_else(|| "50MiB".to_string());
    let backups = backups.and_then(Result::ok).unwrap_or(10);
    match (maxbytes.as_str(), backups) {
        ("0", _) => scalar(path),
        (max, 10) => format!("{{path: {}, maxbytes: {max}}}", flow_scalar(path)),
        (max, backups) => format!("{{path: {}, maxbytes: {max}, backups: {backups}}}", flow_scalar(path)),
    }
}
