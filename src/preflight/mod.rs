//! What `--check` can tell only by looking at this machine (taskmaster(1), OPTIONS): a command
//! that is not found or cannot be run (by the program's user), a working directory or an output
//! folder that does not exist, an output path that is not a file, a user that only a root
//! taskmaster could switch to. These are warnings, not errors: the machine that
//! checks a configuration is not always the one that runs it. Unlike the rest of `config`, this
//! looks at the file system.

mod hints;

use crate::config::accounts::RunAs;
use crate::config::node::{self, Node, Position, Seg};
use crate::config::{Config, ProgramSpec};
use crate::sys::spawn::SpawnError;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// One thing that would go wrong here: where it is written, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    /// `None`: the taskmaster section.
    pub(crate) program: Option<String>,
    pub(crate) key: &'static str,
    pub(crate) message: String,
    pub(crate) position: Option<Position>,
    /// The included file the program is defined in; `None`: the main file.
    pub(crate) file: Option<String>,
}

/// The warnings of `config`, located in `text` (the file it was read from), in file order.
pub(crate) fn warnings(config: &Config, text: &str) -> Vec<Warning> {
    // Included files are read again only to say where in them a warning is, and how a `cmd` is
    // written there.
    let mut texts: HashMap<Option<&str>, String> = HashMap::from([(None, text.to_string())]);
    for origin in config.programs.values().filter_map(|p| p.origin.as_deref()) {
        texts.entry(Some(origin)).or_insert_with(|| std::fs::read_to_string(origin).unwrap_or_default());
    }
    let roots: HashMap<Option<&str>, Node> =
        texts.iter().filter_map(|(file, text)| Some((*file, node::parse(text).ok()?))).collect();
    let mut found: Vec<Warning> = root_warnings(config);
    found.extend(alerts_warnings(config));
    let mut lookups = Lookups::default();
    found.extend(config.programs.values().flat_map(|p| program_warnings(p, &mut lookups)));
    found.extend(config.programs.values().flat_map(|p| {
        let written = roots.get(&p.origin.as_deref()).and_then(|root| hints::written_cmd(root, &p.name));
        hints::program_hints(p, written).into_iter().map(|(key, message)| about(p, key, message))
    }));
    found.extend(
        config.programs.values().flat_map(|p| syslog_output_warnings(p, &config.daemon.syslog_address)),
    );
    for w in &mut found {
        let path = match &w.program {
            Some(program) => vec![Seg::key("programs"), Seg::key(program), Seg::key(w.key)],
            None => vec![Seg::key("taskmaster"), Seg::key(w.key)],
        };
        w.file = w.program.as_ref().and_then(|p| config.programs.get(p)).and_then(|p| p.origin.clone());
        w.position = texts.get(&w.file.as_deref()).and_then(|text| node::locate(text, &path));
    }
    found.sort_by_key(|w| (w.file.clone(), w.position.map_or((usize::MAX, 0), |at| (at.line, at.column))));
    found
}

/// `t.yaml:3:5: warning: program 'web': cmd: can't find command 'nginxx'`; `file`: the main
/// file, for a warning about something written there.
pub(crate) fn line(file: &str, w: &Warning) -> String {
    let file = w.file.as_deref().unwrap_or(file);
    let place = match w.position {
        Some(at) => format!("{file}:{}:{}", at.line, at.column),
        None => file.to_string(),
    };
    match &w.program {
        Some(program) => format!("{place}: warning: program '{program}': {}: {}", w.key, w.message),
        None => format!("{place}: warning: taskmaster: {}: {}", w.key, w.message),
    }
}

/// What only root may do, checked by someone else: fine where root runs the file, refused here.
fn root_warnings(config: &Config) -> Vec<Warning> {
    let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    if uid == 0 {
        return Vec::new();
    }
    let needs = |program: Option<&str>, key: &'static str, what: String| Warning {
        program: program.map(str::to_string),
        key,
        message: format!("{what} needs taskmaster to run as root (this check ran as uid {uid})"),
        position: None,
        file: None,
    };
    let daemon = &config.daemon;
    let mut found = Vec::new();
    if let Some(user) = daemon.user.as_ref().filter(|u| u.uid != uid) {
        found.push(needs(None, "user", format!("'{}'", user.user)));
    }
    if let Some(owner) = daemon.socket_owner.as_ref().filter(|o| o.uid.is_some_and(|u| u != uid)) {
        found.push(needs(None, "socket_owner", format!("'{}'", owner.text)));
    }
    for spec in config.programs.values().filter(|_| daemon.user.is_none()) {
        match &spec.run_as {
            Some(r) if r.uid != uid => found.push(needs(Some(&spec.name), "user", format!("'{}'", r.user))),
            Some(r) if r.gid != gid => found.push(needs(Some(&spec.name), "group", format!("'{}'", r.group))),
            Some(_) | None => {}
        }
    }
    found
}

/// What would make every alert of a channel fail here (taskmaster(1), ALERTS).
fn alerts_warnings(config: &Config) -> Vec<Warning> {
    let Some(alerts) = &config.daemon.alerts else { return Vec::new() };
    let warn =
        |message: String| Warning { program: None, key: "alerts", message, position: None, file: None };
    let mut found = Vec::new();
    if alerts.events.is_empty() {
        found.push(warn("events is empty: only `alerts test` sends anything".to_string()));
    }
    if let Some(command) = &alerts.command
        && let Err(why) =
            crate::sys::lookup::resolve(&command.argv[0], std::env::var_os("PATH").as_deref(), None)
    {
        found.push(warn(format!("command: {why}")));
    }
    let files = [
        ("email: password_file", alerts.email.as_ref().and_then(|e| e.password_file.as_ref())),
        ("email: ca_file", alerts.email.as_ref().and_then(|e| e.ca_file.as_ref())),
        ("webhook: ca_file", alerts.webhook.as_ref().and_then(|w| w.ca_file.as_ref())),
    ];
    for (key, path) in files.into_iter().filter_map(|(k, p)| Some((k, p?))) {
        if let Err(e) = std::fs::File::open(path) {
            found.push(warn(format!("{key}: can't read {}: {e}", path.display())));
        }
    }
    if let Some(syslog) = &alerts.syslog
        && let crate::config::alerts::SyslogAddress::Unix(path) = &syslog.address
        && !std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
    {
        found.push(warn(format!("syslog: {} is not a socket here (syslog_address)", path.display())));
    }
    found
}

/// A warning about `key` of program `spec`.
fn about(spec: &ProgramSpec, key: &'static str, message: String) -> Warning {
    Warning { program: Some(spec.name.clone()), key, message, position: None, file: None }
}

/// Commands looked for once each: a thousand programs that run `sleep` walk PATH once.
#[derive(Default)]
struct Lookups(HashMap<LookupKey, Result<PathBuf, SpawnError>>);

/// A command, the PATH it is looked for in, and the user who must run it (named as the
/// warning names them, with the ids and groups that decide).
type LookupKey = (String, Option<OsString>, Option<(String, u32, u32, Vec<u32>)>);

impl Lookups {
    fn resolve(
        &mut self,
        program: &str,
        path_var: Option<&OsStr>,
        who: Option<&RunAs>,
    ) -> Result<PathBuf, SpawnError> {
        let key = (
            program.to_string(),
            path_var.map(OsString::from),
            who.map(|w| (w.user.clone(), w.uid, w.gid, w.groups.clone())),
        );
        self.0.entry(key).or_insert_with(|| crate::sys::lookup::resolve(program, path_var, who)).clone()
    }
}

fn program_warnings(spec: &ProgramSpec, lookups: &mut Lookups) -> Vec<Warning> {
    let warn = |key: &'static str, message: String| about(spec, key, message);
    let mut found = Vec::new();
    let path_var = spec.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
    if let Err(why) = lookups.resolve(spec.cmd.program(), path_var.as_deref(), spec.run_as.as_ref()) {
        found.push(warn("cmd", why.to_string()));
    } else if spec.per_process.as_ref().is_some_and(|h| h.cmd.is_some()) {
        // Each process's own command, where it names the process: the first not found.
        let names = spec.process_names();
        let missing = (1..spec.numprocs).find_map(|n| {
            let own = spec.for_process(n)?;
            let path_var = own.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
            let why = lookups.resolve(own.cmd.program(), path_var.as_deref(), own.run_as.as_ref()).err()?;
            Some(format!("{why} (for {}; each process has its own)", names[n as usize]))
        });
        found.extend(missing.map(|message| warn("cmd", message)));
    }
    let mut places = place_warnings(spec);
    // Each process's own folder or file, where they name the process: the first that fails.
    if spec
        .per_process
        .as_ref()
        .is_some_and(|h| h.workingdir.is_some() || h.stdout.is_some() || h.stderr.is_some())
    {
        let names = spec.process_names();
        let said: Vec<&str> = places.iter().map(|(key, _)| *key).collect();
        for key in ["workingdir", "stdout", "stderr"].into_iter().filter(|k| !said.contains(k)) {
            let failing = (1..spec.numprocs).find_map(|n| {
                let own = spec.for_process(n)?;
                let (_, message) = place_warnings(&own).into_iter().find(|(k, _)| *k == key)?;
                Some((key, format!("{message} (for {}; each process has its own)", names[n as usize])))
            });
            places.extend(failing);
        }
    }
    found.extend(places.into_iter().map(|(key, message)| warn(key, message)));
    found
}

/// What keeps `spec`'s working directory or output files from being used here.
fn place_warnings(spec: &ProgramSpec) -> Vec<(&'static str, String)> {
    let warn = |key: &'static str, message: String| (key, message);
    let mut found = Vec::new();
    if let Some(dir) = &spec.workingdir {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {
                let root = nix::unistd::geteuid().is_root();
                if let Some(user) = spec.run_as.as_ref().filter(|_| root)
                    && !crate::sys::lookup::enterable_by(dir, user)
                {
                    let message = format!("{} cannot be entered by user '{}'", dir.display(), user.user);
                    found.push(warn("workingdir", message));
                }
            }
            Ok(_) => found.push(warn("workingdir", format!("{} is not a folder", dir.display()))),
            Err(_) => found.push(warn("workingdir", format!("{} does not exist", dir.display()))),
        }
    }
    for (key, output) in [("stdout", &spec.stdout), ("stderr", &spec.stderr)] {
        let path = output.as_ref().and_then(crate::config::Output::file).map(|f| f.path.as_path());
        if let Some(message) = path.and_then(output_problem) {
            found.push(warn(key, message));
        }
    }
    found
}

/// A program whose output goes to syslog at a UNIX path where no datagram socket listens.
fn syslog_output_warnings(
    spec: &ProgramSpec,
    address: &crate::config::alerts::SyslogAddress,
) -> Vec<Warning> {
    let crate::config::alerts::SyslogAddress::Unix(path) = address else { return Vec::new() };
    let socket = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket());
    [("stdout", &spec.stdout), ("stderr", &spec.stderr)]
        .into_iter()
        .filter(|(_, o)| *o == &Some(crate::config::Output::Syslog) && !socket)
        .map(|(key, _)| Warning {
            program: Some(spec.name.clone()),
            key,
            message: format!(
                "syslog: {} is not a socket here (syslog_address): the lines will be dropped",
                path.display()
            ),
            position: None,
            file: None,
        })
        .collect()
}

/// What would keep taskmaster from appending to `path`, if anything.
fn output_problem(path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let kind = meta.file_type();
            (!kind.is_file() && !kind.is_char_device()).then(|| {
                format!(
                    "{} is not a regular file (taskmaster appends only to files and devices)",
                    path.display()
                )
            })
        }
        Err(_) => {
            let folder = path.parent()?;
            (!folder.is_dir()).then(|| format!("the folder {} does not exist", folder.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Context, validate};

    #[test]
    fn what_cannot_run_here_is_named_where_it_is_written() {
        let ctx = Context::for_tests("/tmp");
        let text = "programs:\n  a:\n    cmd: nosuch_cmd_xyz\n    workingdir: /nonexistent\n    \
                    stdout: /nonexistent/dir/a.out\n  b:\n    cmd: sh -c true\n    stderr: /tmp\n  \
                    ok:\n    cmd: sleep 1\n    stdout: /dev/null\n";
        let config = validate(text, "t.yaml", &ctx).expect("valid");
        let lines: Vec<String> = warnings(&config, text).iter().map(|w| line("t.yaml", w)).collect();
        assert_eq!(
            lines,
            [
                "t.yaml:3:5: warning: program 'a': cmd: can't find command 'nosuch_cmd_xyz'",
                "t.yaml:4:5: warning: program 'a': workingdir: /nonexistent does not exist",
                "t.yaml:5:5: warning: program 'a': stdout: the folder /nonexistent/dir does not exist",
                "t.yaml:8:5: warning: program 'b': stderr: /tmp is not a regular file (taskmaster appends only to files and devices)",
            ]
        );
    }

    #[test]
    fn a_command_looked_up_once_is_said_for_every_program_and_path_it_fails_in() {
        let ctx = Context::for_tests("/tmp");
        let text = "programs:\n  a: {cmd: nosuch_cmd_xyz}\n  b: {cmd: nosuch_cmd_xyz}\n  \
                    c: {cmd: sh -c true, env: {PATH: /nonexistent}}\n  d: {cmd: sh -c true}\n";
        let config = validate(text, "t.yaml", &ctx).expect("valid");
        let said: Vec<String> = warnings(&config, text)
            .iter()
            .map(|w| format!("{} {}", w.program.as_deref().unwrap_or("-"), w.message))
            .collect();
        assert_eq!(
            said,
            [
                "a can't find command 'nosuch_cmd_xyz'",
                "b can't find command 'nosuch_cmd_xyz'",
                "c can't find command 'sh'",
            ],
            "the PATH a program sets is its own lookup"
        );
    }

    #[test]
    fn a_lookup_is_remembered_per_user_name_as_the_warning_names_them() {
        let mut lookups = Lookups::default();
        let dir = std::env::temp_dir().join(format!("tm-lookup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let tool = dir.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        // Runnable by its owner only: nobody else may.
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        let owner = nix::unistd::geteuid().as_raw();
        let other = |user: &str| RunAs {
            user: user.to_string(),
            uid: owner + 1,
            group: user.to_string(),
            gid: owner + 1,
            groups: vec![owner + 1],
            home: "/".into(),
            shell: "/bin/sh".into(),
        };
        let program = tool.to_str().expect("utf-8");
        let first = lookups.resolve(program, None, Some(&other("nobody")));
        let second = lookups.resolve(program, None, Some(&other("nobody2")));
        let _ = std::fs::remove_dir_all(&dir);
        if !nix::unistd::geteuid().is_root() {
            return; // The user matters only to a root taskmaster.
        }
        assert!(first.expect_err("not runnable by another").to_string().contains("'nobody'"));
        assert!(second.expect_err("not runnable by another").to_string().contains("'nobody2'"));
    }

    #[test]
    fn slips_a_supervisord_user_makes_are_pointed_out() {
        let ctx = Context::for_tests("/tmp");
        let text = "programs:\n  a:\n    cmd: \"sh -c 'echo $$; echo $$$$'\"\n  \
                    b:\n    cmd: sleep 80%(process_num)02d\n    numprocs: 2\n  \
                    c:\n    cmd: sleep 1\n    numprocs: 3\n    workingdir: DIR/${TASKMASTER_PROCESS_NUM}\n  \
                    d:\n    cmd: DIR/${TASKMASTER_PROCESS_NUM}/run\n    numprocs: 2\n";
        let dir = std::env::temp_dir().join(format!("tm-preflight-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("0")).expect("process 0's folder");
        std::fs::copy("/bin/true", dir.join("0/run")).expect("process 0's command");
        let text = text.replace("DIR", &dir.display().to_string());
        let config = validate(&text, "t.yaml", &ctx).expect("valid");
        let lines: Vec<String> = warnings(&config, &text).iter().map(|w| line("t.yaml", w)).collect();
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert_eq!(
            lines,
            [
                "t.yaml:3:5: warning: program 'a': cmd: `$$;` gives the program one `$` (`$$` is a `$` in this file): for the shell's own pid, write `$$$$`",
                "t.yaml:5:5: warning: program 'b': cmd: `%(process_num)02d` is supervisord's syntax, taken here as text: write ${TASKMASTER_PROCESS_NUM:02}",
                &format!(
                    "t.yaml:10:5: warning: program 'c': workingdir: {}/1 does not exist (for c:c_01; each process has its own)",
                    dir.display()
                ),
                &format!(
                    "t.yaml:12:5: warning: program 'd': cmd: can't find command '{}/1/run' (for d:d_01; each process has its own)",
                    dir.display()
                ),
            ]
        );
    }

    #[test]
    fn limits_this_taskmaster_could_not_give_are_said() {
        use crate::config::rlimits::Limit;
        let hard = crate::sys::limits::hard_limit(Limit::Nofile);
        if hard == crate::config::rlimits::UNLIMITED {
            return;
        }
        let ctx = Context { purpose: crate::config::Purpose::Check, ..Context::for_tests("/tmp") };
        let text = format!("programs:\n  a:\n    cmd: sleep 1\n    rlimits: {{nofile: {}}}\n", hard + 1);
        let config = validate(&text, "t.yaml", &ctx).expect("valid");
        let said = warnings(&config, &text)
            .iter()
            .any(|w| w.key == "rlimits" && w.message.contains("above the hard limit here"));
        let may = nix::unistd::geteuid().is_root() && crate::sys::limits::may_raise_hard_limits();
        assert_eq!(said, !may);
    }
}
