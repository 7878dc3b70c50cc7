//! The reload plan: what changed between two configurations, program by program and field by field
//! (taskmaster(1), RELOAD). Pure; the supervisor applies the plan.

use super::output::same_place;
use super::per_process::{checking, defining};
use super::spec::{Config, DaemonSpec, ProgramSpec};
use serde::Serialize;

/// A program whose number of processes changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Scale {
    pub(crate) program: String,
    pub(crate) from: u32,
    pub(crate) to: u32,
}

/// What a reload does. A program can be both restarted (or updated) and scaled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Plan {
    /// New programs.
    pub(crate) added: Vec<String>,
    /// Programs no longer in the file.
    pub(crate) removed: Vec<String>,
    /// A field that defines the process changed: its processes are started again with it.
    pub(crate) restarted: Vec<String>,
    /// Only supervision fields changed: applied in place, no process touched.
    pub(crate) updated: Vec<String>,
    pub(crate) scaled: Vec<Scale>,
    /// Processes of changed programs that were not running and that the new configuration
    /// wants running (filled in by the supervisor, which knows their states).
    pub(crate) started: Vec<String>,
    /// Programs with no change at all.
    pub(crate) unchanged: usize,
    /// Keys of the taskmaster section that changed (`alerts`, `loglevel`...).
    pub(crate) settings: Vec<&'static str>,
    /// The programs it stops, in the order they stop (filled in by the supervisor).
    pub(crate) stop_order: Vec<String>,
    /// The programs it starts, in the order they start.
    pub(crate) start_order: Vec<String>,
    /// Settings that could not be applied (a socket or an address that could not be bound):
    /// the old ones stay (filled in by the event loop, which binds them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) problems: Vec<String>,
}

/// How one program changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Unchanged,
    /// Supervision fields only.
    Retune,
    /// A field that defines the process.
    Relaunch,
}

/// How `new` differs from `old`, numprocs aside (see `Plan::scaled`). Every field of a program is
/// named here, so that a new one does not compile until it is said which kind it is.
pub(crate) fn change(old: &ProgramSpec, new: &ProgramSpec) -> Change {
    let ProgramSpec {
        name: _,
        numprocs: _,
        // Fields that define the process: a change means a new process.
        cmd,
        env,
        workingdir,
        umask,
        run_as,
        tty,
        per_process,
        // Their place defines the process; how a file is written is supervision.
        stdout,
        stderr,
        // Fields that only say how it is supervised: a change applies in place.
        autostart,
        autorestart,
        exitcodes,
        starttime,
        startretries,
        stopsignal,
        stoptime,
        stopasgroup,
        critical,
        alerts,
        tail_bytes,
        priority,
        depends_on,
        ready,
        healthcheck,
        backoff,
        rlimits,
        // What it sets is in `env`: a change there restarts, a new path to the same values does not.
        env_file: _,
        // Moving a program to another file changes nothing about it.
        origin: _,
    } = new;
    // The command as split, not as written: `sleep  10` is `sleep 10`.
    let defines = cmd.argv != old.cmd.argv
        || *env != old.env
        || *workingdir != old.workingdir
        || *umask != old.umask
        || !same_place(stdout, &old.stdout)
        || !same_place(stderr, &old.stderr)
        || *run_as != old.run_as
        || *tty != old.tty
        || *rlimits != old.rlimits
        // What differs from one process to the next: the first's values may not show it.
        || defining(per_process.as_deref()) != defining(old.per_process.as_deref());
    let supervises = *autostart != old.autostart
        || *autorestart != old.autorestart
        || *exitcodes != old.exitcodes
        || *starttime != old.starttime
        || *startretries != old.startretries
        || *stopsignal != old.stopsignal
        || *stoptime != old.stoptime
        || *stopasgroup != old.stopasgroup
        || *critical != old.critical
        || *alerts != old.alerts
        || *tail_bytes != old.tail_bytes
        // Order and checks apply from the next start or look (taskmaster(1), ORDER AND HEALTH).
        || *priority != old.priority
        || *depends_on != old.depends_on
        || *ready != old.ready
        || *healthcheck != old.healthcheck
        || *backoff != old.backoff
        || checking(per_process.as_deref()) != checking(old.per_process.as_deref())
        // How a file is rotated or stamped (taskmaster(1), CHILD LOGS).
        || *stdout != old.stdout
        || *stderr != old.stderr;
    match (defines, supervises) {
        (true, _) => Change::Relaunch,
        (false, true) => Change::Retune,
        (false, false) => Change::Unchanged,
    }
}

/// The plan that takes `old` to `new`.
pub(crate) fn plan(old: &Config, new: &Config) -> Plan {
    let mut plan = Plan::default();
    for name in old.programs.keys().filter(|n| !new.programs.contains_key(*n)) {
        plan.removed.push(name.clone());
    }
    for (name, new_spec) in &new.programs {
        let Some(old_spec) = old.programs.get(name) else {
            plan.added.push(name.clone());
            continue;
        };
        let scaled = old_spec.numprocs != new_spec.numprocs;
        if scaled {
            plan.scaled.push(Scale { program: name.clone(), from: old_spec.numprocs, to: new_spec.numprocs });
        }
        match change(old_spec, new_spec) {
            Change::Relaunch => plan.restarted.push(name.clone()),
            Change::Retune => plan.updated.push(name.clone()),
            Change::Unchanged if !scaled => plan.unchanged += 1,
            Change::Unchanged => {}
        }
    }
    plan.settings = settings(&old.daemon, &new.daemon);
    plan
}

/// The keys of the taskmaster section that differ; every field is named, so that a new one does
/// not compile until it is listed.
fn settings(old: &DaemonSpec, new: &DaemonSpec) -> Vec<&'static str> {
    let DaemonSpec {
        logfile,
        logfile_maxbytes,
        logfile_backups,
        loglevel,
        socket,
        socket_mode,
        socket_owner,
        history,
        user,
        admins,
        syslog_address,
        alerts,
        detach_key,
        metrics,
    } = new;
    [
        ("logfile", *logfile != old.logfile),
        ("logfile_maxbytes", *logfile_maxbytes != old.logfile_maxbytes),
        ("logfile_backups", *logfile_backups != old.logfile_backups),
        ("loglevel", *loglevel != old.loglevel),
        ("socket", *socket != old.socket),
        ("socket_mode", *socket_mode != old.socket_mode),
        ("socket_owner", *socket_owner != old.socket_owner),
        ("history", *history != old.history),
        ("user", *user != old.user),
        ("admins", *admins != old.admins),
        ("syslog_address", *syslog_address != old.syslog_address),
        ("alerts", *alerts != old.alerts),
        ("detach_key", *detach_key != old.detach_key),
        ("metrics", *metrics != old.metrics),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(key, _)| key)
    .collect()
}

impl Plan {
    /// The main log's summary line (taskmaster(1), LOG).
    pub(crate) fn log_line(&self) -> String {
        let scaled: Vec<String> =
            self.scaled.iter().map(|s| format!("{} {}→{}", s.program, s.from, s.to)).collect();
        format!(
            "reload: added [{}] removed [{}] restarted [{}] updated [{}] scaled [{}] started [{}] unchanged {}, settings [{}]",
            self.added.join(", "),
            self.removed.join(", "),
            self.restarted.join(", "),
            self.updated.join(", "),
            scaled.join(", "),
            self.started.join(", "),
            self.unchanged,
            self.settings.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Context, validate};

    fn config(programs: &str) -> Config {
        let ctx = Context::for_tests("/tmp");
        validate(&format!("programs:\n{programs}"), "t.yaml", &ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    const BASE: &str = "  a: {cmd: a}\n  b: {cmd: b, numprocs: 2}\n  c: {cmd: c}\n";

    #[test]
    fn the_same_file_changes_nothing() {
        let p = plan(&config(BASE), &config(BASE));
        assert_eq!(p, Plan { unchanged: 3, ..Plan::default() });
    }

    #[test]
    fn added_and_removed_programs() {
        let p = plan(&config(BASE), &config("  a: {cmd: a}\n  b: {cmd: b, numprocs: 2}\n  d: {cmd: d}\n"));
        assert_eq!(
            (p.added.as_slice(), p.removed.as_slice(), p.unchanged),
            (&["d".to_string()][..], &["c".to_string()][..], 2)
        );
    }

    #[test]
    fn each_defining_field_restarts() {
        for (field, value) in [
            ("cmd", "other --flag"),
            ("env", "{X: 1}"),
            ("workingdir", "/srv"),
            ("umask", "077"),
            ("stdout", "/tmp/o"),
            ("stderr", "/tmp/e"),
        ] {
            let changed = match field {
                "cmd" => format!("  a: {{cmd: {value}}}\n"),
                _ => format!("  a: {{cmd: a, {field}: {value}}}\n"),
            };
            let p = plan(&config("  a: {cmd: a}\n"), &config(&changed));
            assert_eq!(p.restarted, ["a"], "{field}");
            assert!(p.updated.is_empty() && p.unchanged == 0, "{field}");
        }
    }

    #[test]
    fn where_output_goes_restarts_and_how_a_file_is_written_does_not() {
        let before = "  a: {cmd: a, stdout: /tmp/o, stderr: /tmp/e}\n";
        let tuned =
            "  a: {cmd: a, stdout: {path: /tmp/o, maxbytes: 1MB, timestamps: true}, stderr: /tmp/e}\n";
        let p = plan(&config(before), &config(tuned));
        assert_eq!((p.updated.as_slice(), p.restarted.len()), (&["a".to_string()][..], 0));
        for moved in [
            "  a: {cmd: a, stdout: {path: /tmp/p, maxbytes: 1MB}, stderr: /tmp/e}\n",
            "  a: {cmd: a, stdout: /tmp/o, stderr: stdout}\n",
            "  a: {cmd: a, stdout: syslog, stderr: /tmp/e}\n",
            "  a: {cmd: a, stdout: /tmp/o}\n",
        ] {
            assert_eq!(plan(&config(before), &config(moved)).restarted, ["a"], "{moved}");
        }
    }

    #[test]
    fn each_supervising_field_updates_in_place() {
        for (field, value) in [
            ("autostart", "false"),
            ("autorestart", "always"),
            ("exitcodes", "[0, 3]"),
            ("starttime", "5"),
            ("startretries", "9"),
            ("stopsignal", "INT"),
            ("stoptime", "1.5"),
            ("stopasgroup", "true"),
        ] {
            let p =
                plan(&config("  a: {cmd: a}\n"), &config(&format!("  a: {{cmd: a, {field}: {value}}}\n")));
            assert_eq!(p.updated, ["a"], "{field}");
            assert!(p.restarted.is_empty(), "{field}");
        }
    }

    #[test]
    fn numprocs_scales_and_combines_with_other_changes() {
        let p = plan(
            &config(BASE),
            &config("  a: {cmd: a, numprocs: 3}\n  b: {cmd: b, numprocs: 1, stoptime: 2}\n  c: {cmd: x}\n"),
        );
        assert_eq!(
            p.scaled,
            [Scale { program: "a".into(), from: 1, to: 3 }, Scale { program: "b".into(), from: 2, to: 1 }]
        );
        assert_eq!(p.updated, ["b"]);
        assert_eq!(p.restarted, ["c"]);
        assert_eq!(p.unchanged, 0);
    }

    #[test]
    fn a_command_written_differently_but_the_same_is_unchanged() {
        let p = plan(&config("  a: {cmd: 'sleep  10'}\n"), &config("  a: {cmd: \"sleep 10\"}\n"));
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn the_log_line_names_every_kind() {
        let p = plan(&config(BASE), &config("  a: {cmd: a, numprocs: 2}\n  d: {cmd: d}\n"));
        assert_eq!(
            p.log_line(),
            "reload: added [d] removed [b, c] restarted [] updated [] scaled [a 1→2] started [] unchanged 0, settings []"
        );
    }
}
