//! One `[program:NAME]` as taskmaster's program (taskmaster(1), SWITCHING FROM SUPERVISORD).

use super::environment::environment;
use super::ini::{Entry, Section};
use super::map::{Inherited, Mapper, why_not};
use super::percent::{Into, convert};
use super::shlex;
use super::streams::Streams;
use super::values::{boolean, exitcodes, int, int_within, octal, signal};
use super::yaml::{Writer, scalar};
use nix::sys::signal::Signal;

/// A key's outcome: written (key, YAML value), left out (the default), or not carried over (why).
pub(super) type Mapped = Result<Option<(String, String)>, String>;

fn key(name: &str, value: impl ToString) -> Mapped {
    Ok(Some((name.to_string(), value.to_string())))
}

impl Mapper<'_> {
    /// One `[program:NAME]`.
    pub(super) fn program(&mut self, out: &mut Writer, section: &Section, name: &str, inherited: &Inherited) {
        let name = name.trim();
        if let Some(bad) = [' ', ':', '/'].into_iter().find(|c| name.contains(*c)) {
            let line = self.note(section, &format!("supervisord refuses the name `{name}` (it has `{bad}`)"));
            out.comment(1, &line);
            return;
        }
        let written = match crate::config::raw::check_program_name(name) {
            Ok(()) => name.to_string(),
            Err(why) => {
                let mut renamed = rename(name);
                while self.taken.contains(&renamed) {
                    renamed.push('_');
                }
                self.taken.insert(renamed.clone());
                let line = self.note(section, &format!("{why}: written as `{renamed}`"));
                out.comment(1, &line);
                renamed
            }
        };
        self.renamed = written != name;
        if section.file > 0 {
            out.comment(1, &format!("from {}", self.files[section.file].shown));
        }
        out.line(1, &format!("{}:", scalar(&written)));
        let get = |key: &str| section.get(key);
        let said = get("numprocs").map(|e| self.literal(e, name, 1).and_then(|v| int_within(&v, 0, 1000)));
        // supervisord runs no process of `numprocs = 0`: one that does not start is the nearest.
        let none_started = matches!(said, Some(Ok(0)));
        let (numprocs, numprocs_said) = match said {
            None | Some(Ok(1)) => (1, Ok(None)),
            Some(Ok(0)) => (
                1,
                Err("supervisord starts no process of it: written as one that does not start \
                     (autostart: false)"
                    .to_string()),
            ),
            Some(Ok(n)) => (n as u32, key("numprocs", n)),
            Some(Err(why)) => (1, Err(format!("{why}; written as one process"))),
        };
        if get("command").is_none() {
            out.comment(2, "supervisord refuses a program without `command`: give it one");
            self.note(section, "no command");
        }
        let stop = get("stopsignal").map(|e| self.literal(e, name, numprocs).and_then(|v| signal(&v)));
        let killed_at_once = matches!(stop, Some(Ok(Signal::SIGKILL)));
        let as_group = |k: &str, default: bool| {
            get(k).map_or(Ok(default), |e| self.literal(e, name, numprocs).and_then(|v| boolean(&v)))
        };
        let stopasgroup = as_group("stopasgroup", false);
        let killasgroup = as_group("killasgroup", *stopasgroup.as_ref().unwrap_or(&false));
        let mut streams = Streams::plan(self, section, name, numprocs, inherited);
        let mut keys: Vec<(String, String)> = Vec::new();
        let mut env = inherited.env.clone();
        let mut comments = Vec::new();
        for entry in &section.entries {
            let names = self.names(entry, Some(name), numprocs);
            let literal = || convert(&entry.value, &names, Into::Literal);
            let expanded = || convert(&entry.value, &names, Into::Expanded);
            let mapped: Mapped = match entry.key.as_str() {
                "command" => expanded()
                    .and_then(|v| command(&v, || convert(&entry.value, &names, Into::EnvFilled)))
                    .and_then(|v| key("cmd", scalar(&v))),
                "numprocs" => numprocs_said.clone(),
                "numprocs_start" => literal().and_then(|v| int(&v)).and_then(|n| match n {
                    0 => Ok(None),
                    n => Err(offset(section, n)),
                }),
                "priority" => literal()
                    .and_then(|v| int_within(&v, -1_000_000, 1_000_000))
                    .and_then(|n| if n == 999 { Ok(None) } else { key("priority", n) }),
                "autostart" if none_started => Ok(None),
                "autostart" => literal()
                    .and_then(|v| boolean(&v))
                    .and_then(|b| if b { Ok(None) } else { key("autostart", false) }),
                "autorestart" => literal().and_then(|v| autorestart(&v)),
                "startsecs" => literal()
                    .and_then(|v| int_within(&v, 0, 86_400))
                    .and_then(|n| if n == 1 { Ok(None) } else { key("starttime", n) }),
                "startretries" => literal()
                    .and_then(|v| int_within(&v, 0, 1000))
                    .and_then(|n| if n == 3 { Ok(None) } else { key("startretries", n) }),
                "stopsignal" => match stop.clone().unwrap_or(Ok(Signal::SIGTERM)) {
                    Ok(Signal::SIGTERM) => Ok(None),
                    Ok(Signal::SIGKILL) => {
                        comments.push(
                            "stopsignal KILL: here a stop sends TERM and KILL at once (stoptime: 0)".into(),
                        );
                        key("stoptime", 0)
                    }
                    Ok(Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) => {
                        Err("a stop here must end the process, not pause it".to_string())
                    }
                    Ok(s) => key("stopsignal", s.as_str().trim_start_matches("SIG")),
                    Err(why) => Err(why),
                },
                "stopwaitsecs" if killed_at_once => Ok(None),
                "stopwaitsecs" => literal()
                    .and_then(|v| int_within(&v, 0, 86_400))
                    .and_then(|n| if n == 10 { Ok(None) } else { key("stoptime", n) }),
                "stopasgroup" => match (&stopasgroup, &killasgroup) {
                    (Ok(true), Ok(false)) => {
                        Err("supervisord refuses stopasgroup without killasgroup".into())
                    }
                    (Ok(true), _) => key("stopasgroup", true),
                    (Ok(false), _) => Ok(None),
                    (Err(why), _) => Err(why.clone()),
                },
                "killasgroup" => match (&stopasgroup, &killasgroup) {
                    (Ok(false), Ok(true)) => {
                        Err("taskmaster signals the group for both the stop and the kill \
                                                  (stopasgroup), not for the kill alone"
                            .into())
                    }
                    (_, Err(why)) => Err(why.clone()),
                    _ => Ok(None),
                },
                "exitcodes" => {
                    literal().and_then(|v| exitcodes(&v)).and_then(|codes| match codes.as_slice() {
                        [0] => Ok(None),
                        [] => key("exitcodes", "[]"),
                        codes => key("exitcodes", format!("{codes:?}")),
                    })
                }
                "user" => literal().and_then(|v| key("user", scalar(&v))),
                "directory" => expanded().and_then(|v| key("workingdir", scalar(&v))),
                "umask" => {
                    literal().and_then(|v| octal(&v)).and_then(|u| key("umask", scalar(&format!("{u:03o}"))))
                }
                "environment" => environment(&entry.value, &names).map(|pairs| {
                    merge(&mut env, pairs.into_iter().map(|p| (p.key, p.value)));
                    None
                }),
                "process_name" => process_name(&entry.value, numprocs),
                "stdout_capture_maxbytes" | "stderr_capture_maxbytes"
                    if literal().is_ok_and(|v| int(&v) == Ok(0)) =>
                {
                    Ok(None)
                }
                "stdout_events_enabled" | "stderr_events_enabled"
                    if literal().is_ok_and(|v| boolean(&v) == Ok(false)) =>
                {
                    Ok(None)
                }
                "serverurl" if entry.value.trim().eq_ignore_ascii_case("auto") => Ok(None),
                other => streams.take(other).unwrap_or_else(|| Err(why_not(other).to_string())),
            };
            match mapped {
                Ok(Some(pair)) => keys.push(pair),
                Ok(None) => {}
                Err(why) => comments.push(self.unmapped(section, entry, &why)),
            }
        }
        comments.extend(streams.comments());
        if none_started {
            keys.push(("autostart".to_string(), "false".to_string()));
        }
        if get("umask").is_none()
            && let Some(umask) = inherited.umask
        {
            keys.push(("umask".to_string(), scalar(&format!("{umask:03o}"))));
        }
        if get("directory").is_none()
            && let Some(dir) = &inherited.directory
        {
            keys.push(("workingdir".to_string(), scalar(dir)));
        }
        for (k, v) in keys {
            out.key(2, &k, &v);
        }
        if !env.is_empty() {
            out.line(2, "env:");
            for (k, v) in env {
                out.key(3, &scalar(&k), &scalar(&v));
            }
        }
        for comment in comments {
            out.comment(2, &comment);
        }
    }

    /// `entry`'s value with its names filled in, as supervisord reads every key but a few.
    pub(super) fn literal(&self, entry: &Entry, program: &str, numprocs: u32) -> Result<String, String> {
        convert(&entry.value, &self.names(entry, Some(program), numprocs), Into::Literal)
    }
}

/// The program's variables after those of `[supervisord]`: a name set in both keeps its place
/// and takes the program's value, as supervisord's merged environment does.
fn merge(env: &mut Vec<(String, String)>, pairs: impl Iterator<Item = (String, String)>) {
    let mut index: std::collections::HashMap<String, usize> =
        env.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
    for (k, v) in pairs {
        match index.get(&k) {
            Some(&i) => env[i].1 = v,
            None => {
                index.insert(k.clone(), env.len());
                env.push((k, v));
            }
        }
    }
}

/// A command as supervisord cuts it into words (Python's `shlex.split`), written so that
/// taskmaster cuts it the same: unchanged when the two agree, else each word quoted, with the
/// environment's variables filled in first as supervisord does (a value may be several words).
fn command(text: &str, filled: impl Fn() -> Result<String, String>) -> Result<String, String> {
    let words = shlex::split(text).map_err(|why| format!("supervisord refuses it: {why}"))?;
    if words.is_empty() {
        return Err("supervisord refuses an empty command".to_string());
    }
    match shell_words::split(text) {
        Ok(ours) if ours == words => Ok(text.to_string()),
        _ => {
            let words = shlex::split(&filled()?).map_err(|why| format!("supervisord refuses it: {why}"))?;
            Ok(shell_words::join(&words))
        }
    }
}

fn autorestart(value: &str) -> Mapped {
    match value.to_ascii_lowercase().as_str() {
        "unexpected" => Ok(None),
        other => match boolean(other) {
            Ok(true) => key("autorestart", "always"),
            Ok(false) => key("autorestart", "never"),
            Err(_) => Err(format!("`{value}` is not true, false or unexpected")),
        },
    }
}

/// supervisord's `process_name`: its usual forms are taskmaster's own names.
fn process_name(value: &str, numprocs: u32) -> Mapped {
    let usual =
        ["%(program_name)s", "%(program_name)s_%(process_num)02d", "%(program_name)s_%(process_num)d"];
    match (usual.contains(&value.trim()), numprocs) {
        (true, _) => Ok(None),
        (false, 1) => Err("the process is named as its program here".to_string()),
        (false, _) if !value.contains("%(process_num)") => {
            Err("supervisord refuses it: with numprocs above 1 it needs %(process_num)".to_string())
        }
        (false, _) => Err(why_not("process_name").to_string()),
    }
}

/// What `numprocs_start = n` changes.
fn offset(section: &Section, n: i64) -> String {
    let using: Vec<&str> = section
        .entries
        .iter()
        .filter(|e| e.value.contains("%(process_num)"))
        .map(|e| e.key.as_str())
        .collect();
    match using.as_slice() {
        [] => format!("process numbers start at 0 here, not {n}"),
        keys => format!(
            "process numbers start at 0 here, not {n}: %(process_num) in {} is {n} less than under \
             supervisord (ports, files); change them if it matters",
            keys.join(", ")
        ),
    }
}

/// A name supervisord takes and taskmaster does not, made one it takes.
fn rename(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect();
    if out.starts_with('-') {
        out.insert(0, '_');
    }
    if out == "all" || out.is_empty() {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_cut_where_supervisord_cuts_them() {
        let same = |t: &str| command(t, || Ok(t.to_string()));
        assert_eq!(same("gunicorn -b :80 'a b'").as_deref(), Ok("gunicorn -b :80 'a b'"));
        assert_eq!(same("echo \"\\$$HOME\"").as_deref(), Ok("echo '\\$$HOME'"));
        assert!(same("echo 'x").unwrap_err().contains("refuses"));
        assert!(same("  ").is_err());
        let filled = command("p \"\\$$x\" ${OPTS}", || Ok("p \"\\$$x\" -x -y".to_string()));
        assert_eq!(
            filled.as_deref(),
            Ok("p '\\$$x' -x -y"),
            "a variable that is several words stays several"
        );
    }

    #[test]
    fn names_taskmaster_refuses_are_made_ones_it_takes() {
        assert_eq!(rename("a@b"), "a_b");
        assert_eq!(rename("-x"), "_-x");
        assert_eq!(rename("all"), "all_");
    }

    #[test]
    fn autorestart_takes_supervisord_s_booleans() {
        assert_eq!(autorestart("Yes"), key("autorestart", "always"));
        assert_eq!(autorestart("0"), key("autorestart", "never"));
        assert_eq!(autorestart("UNEXPECTED"), Ok(None));
        assert!(autorestart("sometimes").is_err());
    }
}
