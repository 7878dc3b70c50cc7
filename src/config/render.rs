//! The normalised configuration that `--check` prints: every key with its value, defaults filled
//! in, canonical forms. The output is itself a valid configuration that normalises to itself.

use super::expand::{Template, escape};
use super::output::{Output, OutputView};
use super::per_process::PerProcess;
use super::spec::{CommandLine, Config, DaemonSpec, Probe, ProgramSpec, signal_name};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The configuration as canonical YAML, in one file: the programs of included files are in it,
/// each under a comment naming its file (taskmaster(1), INCLUDED FILES), and `include` is not.
pub(crate) fn render(config: &Config) -> String {
    let mut out = yaml(&DaemonSection { taskmaster: DaemonView::from(&config.daemon) });
    out.push_str("programs:\n");
    for (name, program) in &config.programs {
        if let Some(file) = &program.origin {
            // A file's name may hold a newline: it stays in the comment.
            out.push_str(&format!("  # from {}\n", file.escape_debug()));
        }
        let one = yaml(&BTreeMap::from([(name.as_str(), ProgramView::from(program))]));
        for line in one.lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn yaml<T: Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

#[derive(Serialize)]
struct DaemonSection {
    taskmaster: DaemonView,
}

/// Field names and order follow `raw::DAEMON_KEYS`.
#[derive(Serialize)]
struct DaemonView {
    logfile: Option<String>,
    logfile_maxbytes: u64,
    logfile_backups: u32,
    loglevel: &'static str,
    socket: String,
    socket_mode: String,
    socket_owner: Option<String>,
    history: Option<String>,
    user: Option<String>,
    admins: Vec<String>,
    syslog_address: String,
    alerts: Option<crate::config::alerts::AlertsView>,
    detach_key: String,
    metrics: Option<String>,
}

impl From<&DaemonSpec> for DaemonView {
    fn from(d: &DaemonSpec) -> Self {
        DaemonView {
            logfile: d.logfile.as_deref().map(expanded),
            logfile_maxbytes: d.logfile_maxbytes,
            logfile_backups: d.logfile_backups,
            loglevel: d.loglevel.name(),
            socket: expanded(&d.socket),
            socket_mode: d.socket_mode.to_string(),
            socket_owner: d.socket_owner.as_ref().map(|o| o.text.clone()),
            history: d.history.as_deref().map(expanded),
            user: d.user.as_ref().map(|u| u.user.clone()),
            admins: d.admins.written.clone(),
            syslog_address: d.syslog_address.to_string(),
            alerts: d.alerts.as_ref().map(crate::config::alerts::AlertsView::from),
            detach_key: d.detach_key.to_string(),
            metrics: d.metrics.as_ref().map(|a| a.addr.to_string()),
        }
    }
}

/// Field names and order follow `raw::PROGRAM_KEYS`.
#[derive(Serialize)]
struct ProgramView<'a> {
    cmd: String,
    numprocs: u32,
    umask: Option<String>,
    workingdir: Option<String>,
    user: Option<&'a str>,
    group: Option<&'a str>,
    autostart: bool,
    autorestart: &'static str,
    exitcodes: &'a [u8],
    startretries: u32,
    starttime: f64,
    stopsignal: &'static str,
    stoptime: f64,
    stopasgroup: bool,
    critical: bool,
    alerts: bool,
    stdout: Option<OutputView>,
    stderr: Option<OutputView>,
    env: BTreeMap<&'a str, String>,
    tail_bytes: usize,
    tty: bool,
    priority: i32,
    depends_on: &'a [String],
    ready: Option<ReadyView>,
    healthcheck: Option<HealthView>,
    backoff: BackoffView,
    rlimits: BTreeMap<&'static str, LimitView>,
    env_file: Option<String>,
}

/// A limit as written: a number, or `unlimited`.
#[derive(Serialize)]
#[serde(untagged)]
enum LimitView {
    Number(u64),
    Word(&'static str),
}

/// `backoff:` as `--check` prints it.
#[derive(Serialize)]
struct BackoffView {
    base: f64,
    max: Option<f64>,
}

/// `ready:` as `--check` prints it.
#[derive(Serialize)]
struct ReadyView {
    #[serde(flatten)]
    probe: BTreeMap<&'static str, String>,
    timeout: f64,
}

#[derive(Serialize)]
struct HealthView {
    #[serde(flatten)]
    probe: BTreeMap<&'static str, String>,
    interval: f64,
    timeout: f64,
    retries: u32,
}

/// A probe as written: an address, a URL or a file where `${NAME}` is expanded (each `$`
/// doubled, or the template of a target that names the process); a command or a pattern as is.
fn probe_view(probe: &Probe, template: Option<&Template>) -> BTreeMap<&'static str, String> {
    let target = match (probe, template) {
        (_, Some(t)) => t.written(),
        (Probe::Tcp(_) | Probe::Http(_) | Probe::File(_), None) => escape(&probe.target()),
        (Probe::Cmd(_) | Probe::Log(_), None) => probe.target(),
    };
    BTreeMap::from([(probe.kind(), target)])
}

impl<'a> From<&'a ProgramSpec> for ProgramView<'a> {
    /// Values where `${NAME}` is expanded are printed as read again they give the same: each
    /// `$` doubled, a process's number or name by its variable (taskmaster(1), VARIABLES).
    fn from(p: &'a ProgramSpec) -> Self {
        let holes = p.per_process.as_deref();
        let hole = |pick: fn(&PerProcess) -> &Option<Template>| holes.and_then(|h| pick(h).as_ref());
        let written = |t: Option<&Template>, fixed: &str| t.map_or_else(|| escape(fixed), Template::written);
        ProgramView {
            cmd: hole(|h| &h.cmd).map_or_else(|| fixed_cmd(&p.cmd), Template::written),
            numprocs: p.numprocs,
            umask: p.umask.map(|m| m.to_string()),
            workingdir: p.workingdir.as_deref().map(|d| written(hole(|h| &h.workingdir), &text(d))),
            user: p.run_as.as_ref().map(|r| r.user.as_str()),
            group: p.run_as.as_ref().map(|r| r.group.as_str()),
            autostart: p.autostart,
            autorestart: p.autorestart.name(),
            exitcodes: &p.exitcodes,
            startretries: p.startretries,
            starttime: seconds(p.starttime),
            stopsignal: signal_name(p.stopsignal),
            stoptime: seconds(p.stoptime),
            stopasgroup: p.stopasgroup,
            critical: p.critical,
            alerts: p.alerts,
            stdout: p.stdout.as_ref().map(|o| output_view(o, hole(|h| &h.stdout))),
            stderr: p.stderr.as_ref().map(|o| output_view(o, hole(|h| &h.stderr))),
            // What the env file sets stays in the env file: it may be secret, and written here
            // it would win over the file's next edit.
            env: p
                .env
                .iter()
                .filter(|(k, v)| p.env_file.as_ref().is_none_or(|f| f.vars.get(*k) != Some(*v)))
                .map(|(k, v)| (k.as_str(), written(holes.and_then(|h| h.env.get(k)), v)))
                .collect(),
            tail_bytes: p.tail_bytes,
            tty: p.tty,
            priority: p.priority,
            depends_on: &p.depends_on,
            ready: p.ready.as_ref().map(|r| ReadyView {
                probe: probe_view(&r.probe, hole(|h| &h.ready)),
                timeout: seconds(r.timeout),
            }),
            healthcheck: p.healthcheck.as_ref().map(|h| HealthView {
                probe: probe_view(&h.probe, hole(|h| &h.healthcheck)),
                interval: seconds(h.interval),
                timeout: seconds(h.timeout),
                retries: h.retries,
            }),
            backoff: BackoffView { base: seconds(p.backoff.base), max: p.backoff.max.map(seconds) },
            env_file: p.env_file.as_ref().map(|f| expanded(&f.path)),
            rlimits: p
                .rlimits
                .iter()
                .map(|(l, v)| match *v {
                    crate::config::rlimits::UNLIMITED => (l.name(), LimitView::Word("unlimited")),
                    n => (l.name(), LimitView::Number(n)),
                })
                .collect(),
        }
    }
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A command as written to be read back: a program given by a relative path was made absolute
/// (from its file's folder), and is printed so.
fn fixed_cmd(cmd: &CommandLine) -> String {
    let first = shell_words::split(&cmd.text).ok().and_then(|words| words.into_iter().next());
    match first.as_deref() == Some(cmd.program()) {
        true => escape(&cmd.text),
        false => escape(&shell_words::join(&cmd.argv)),
    }
}

/// A path where `${NAME}` is expanded, as written to be read back.
fn expanded(path: &Path) -> String {
    escape(&text(path))
}

/// `stdout` or `stderr`, a file's path as written to be read back.
fn output_view(output: &Output, template: Option<&Template>) -> OutputView {
    let path = match output {
        Output::File(f) => template.map_or_else(|| expanded(&f.path), Template::written),
        Output::Syslog | Output::Stdout => return OutputView::from(output),
    };
    match OutputView::from(output) {
        OutputView::Text(_) => OutputView::Text(path),
        OutputView::File { maxbytes, backups, timestamps, .. } => {
            OutputView::File { path, maxbytes, backups, timestamps }
        }
    }
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
