//! The validated configuration: domain types that cannot hold an invalid value. Everything past
//! `config::load` works with these, never with YAML.

pub(crate) use super::accounts::RunAs;
use super::alerts::{AlertsSpec, SyslogAddress};
pub(crate) use super::checks::{HealthCheck, Probe, Readiness};
pub(crate) use super::output::{LogFile, Output};
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A whole configuration file, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) daemon: DaemonSpec,
    /// Programs by name; names are unique.
    pub(crate) programs: BTreeMap<String, ProgramSpec>,
}

/// The `taskmaster:` section: settings of the daemon itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DaemonSpec {
    /// `None`: no log file (`logfile: null`).
    pub(crate) logfile: Option<PathBuf>,
    /// The main log is rotated when a line would make it larger; 0: never.
    pub(crate) logfile_maxbytes: u64,
    pub(crate) logfile_backups: u32,
    pub(crate) loglevel: LogLevel,
    pub(crate) socket: PathBuf,
    pub(crate) socket_mode: Mode,
    /// `None`: the socket keeps the owner taskmaster gives it (its user once root is given up).
    pub(crate) socket_owner: Option<SocketOwner>,
    /// `None`: history is not kept (`history: null`).
    pub(crate) history: Option<PathBuf>,
    /// Who taskmaster runs as once its socket and log are open; `None`: as it was started.
    pub(crate) user: Option<RunAs>,
    pub(crate) admins: Admins,
    /// Where syslog alerts go.
    pub(crate) syslog_address: SyslogAddress,
    /// `None`: no alerts are sent.
    pub(crate) alerts: Option<AlertsSpec>,
    /// The key that leaves an `attach` (taskmaster(1), ATTACH).
    pub(crate) detach_key: DetachKey,
    /// Where `GET /metrics` is served (taskmaster(1), METRICS); `None`: no port is opened.
    pub(crate) metrics: Option<super::checks::Address>,
}

/// `detach_key: ctrl-]`: a control key, as the one byte the terminal sends for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DetachKey(pub(crate) u8);

impl DetachKey {
    /// The keys that can be named: Ctrl with a letter or with one of `@[\]^_`.
    pub(crate) fn parse(text: &str) -> Option<DetachKey> {
        let lower = text.trim().to_ascii_lowercase();
        let rest = lower
            .strip_prefix("ctrl-")
            .or_else(|| lower.strip_prefix("ctrl+"))
            .or_else(|| lower.strip_prefix('^'))?;
        match rest.as_bytes() {
            [c @ b'a'..=b'z'] => Some(DetachKey(c - b'a' + 1)),
            [c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => Some(DetachKey(c - b'@')),
            _ => None,
        }
    }
}

impl DetachKey {
    /// Why a key is no good for leaving: terminals send it for keys typed every day.
    pub(crate) fn unusable(self) -> Option<&'static str> {
        match self.0 {
            0x1b => Some("it is Escape, which arrow and function keys begin with"),
            0x0d | 0x0a => Some("it is Enter"),
            0x09 => Some("it is Tab"),
            0x08 => Some("it is Backspace on many terminals"),
            0x00 => Some("it is what Ctrl-Space sends"),
            _ => None,
        }
    }
}

impl Default for DetachKey {
    fn default() -> Self {
        DetachKey(0x1d)
    }
}

/// `ctrl-]`, as it is written in the file.
impl fmt::Display for DetachKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            b @ 1..=26 => write!(f, "ctrl-{}", char::from(b'a' + b - 1)),
            b => write!(f, "ctrl-{}", char::from(b + b'@')),
        }
    }
}

impl DaemonSpec {
    /// Who the socket file is given to: `socket_owner`, else the user taskmaster gives root up
    /// for (so that it still owns its socket), else nobody new. (uid, gid); `None` keeps one.
    pub(crate) fn socket_chown(&self) -> Option<(Option<u32>, Option<u32>)> {
        match (&self.socket_owner, &self.user) {
            (Some(owner), _) => Some((owner.uid, owner.gid)),
            (None, Some(user)) => Some((Some(user.uid), Some(user.gid))),
            (None, None) => None,
        }
    }
}

/// `socket_owner: user[:group]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SocketOwner {
    /// As written.
    pub(crate) text: String,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

/// Who may change anything over the control socket (taskmaster(1), PRIVILEGES) besides root and
/// the user taskmaster runs as (see `control::access`): the `admins` names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Admins {
    /// The `admins` entries as written (`alice`, `@ops`).
    pub(crate) written: Vec<String>,
    pub(crate) uids: BTreeSet<u32>,
    pub(crate) gids: BTreeSet<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub(crate) const ALL: [LogLevel; 4] = [LogLevel::Error, LogLevel::Warn, LogLevel::Info, LogLevel::Debug];

    pub(crate) fn name(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<LogLevel> {
        let text = text.to_ascii_lowercase();
        match text.as_str() {
            "warning" => Some(LogLevel::Warn),
            _ => LogLevel::ALL.into_iter().find(|l| l.name() == text),
        }
    }
}

/// One `programs:` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProgramSpec {
    pub(crate) name: String,
    pub(crate) cmd: CommandLine,
    pub(crate) numprocs: u32,
    /// `None`: inherited from taskmaster.
    pub(crate) umask: Option<Mode>,
    /// `None`: taskmaster's working directory.
    pub(crate) workingdir: Option<PathBuf>,
    pub(crate) autostart: bool,
    pub(crate) autorestart: RestartPolicy,
    /// Sorted, without duplicates.
    pub(crate) exitcodes: Vec<u8>,
    pub(crate) startretries: u32,
    pub(crate) starttime: Duration,
    pub(crate) stopsignal: Signal,
    pub(crate) stoptime: Duration,
    pub(crate) stopasgroup: bool,
    /// When it enters FATAL, taskmaster stops everything and exits with status 1.
    pub(crate) critical: bool,
    /// `false`: no alert is sent about its processes.
    pub(crate) alerts: bool,
    /// `None`: the stream is read and dropped.
    pub(crate) stdout: Option<Output>,
    /// Never `Output::Stdout` with `tty`, whose one terminal is stdout.
    pub(crate) stderr: Option<Output>,
    pub(crate) env: BTreeMap<String, String>,
    /// `user` and `group`; `None`: taskmaster's own.
    pub(crate) run_as: Option<RunAs>,
    /// How much of each stream's last output is kept in memory (0: none).
    pub(crate) tail_bytes: usize,
    /// Runs on a pseudo-terminal of its own, which is its stdin, stdout and stderr.
    pub(crate) tty: bool,
    /// Lower starts first and stops last, in what acts on many programs at once.
    pub(crate) priority: i32,
    /// Programs that must be RUNNING before this one starts, and that stop after it; in the
    /// order written, each known, without cycles.
    pub(crate) depends_on: Vec<String>,
    /// `None`: RUNNING once it stayed up `starttime`.
    pub(crate) ready: Option<Readiness>,
    pub(crate) healthcheck: Option<HealthCheck>,
    /// The wait in BACKOFF before each retry (taskmaster(1), PROCESS STATES).
    pub(crate) backoff: Backoff,
    /// Where part of `env` was read from (its values are in `env`, under the ones written there).
    pub(crate) env_file: Option<EnvFile>,
    /// Resource limits set in the child before it runs the program.
    pub(crate) rlimits: super::rlimits::Rlimits,
    /// The included file it is defined in, as shown; `None`: the main file.
    pub(crate) origin: Option<String>,
    /// What differs from one of its processes to the next; `None`: nothing.
    pub(crate) per_process: Option<Box<super::per_process::PerProcess>>,
}

/// `env_file:` and what it set, before `env` (taskmaster(1), the `env_file` key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvFile {
    pub(crate) path: PathBuf,
    pub(crate) vars: BTreeMap<String, String>,
}

/// `backoff: {base, max}`: the wait before retry k (from 1) is min(max, base × k).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Option<Duration>,
}

impl Default for Backoff {
    /// 1, 2, 3... seconds: supervisord's.
    fn default() -> Backoff {
        Backoff { base: Duration::from_secs(1), max: None }
    }
}

impl Backoff {
    /// The wait before the retry that follows `retries` failed starts.
    pub(crate) fn delay(&self, retries: u32) -> Duration {
        let delay = self.base.saturating_mul(retries.saturating_add(1));
        self.max.map_or(delay, |max| delay.min(max))
    }
}

impl ProgramSpec {
    /// The names its processes are shown and addressed by: `nginx` alone, or `web:web_00` ...
    /// with at least two digits, three above 100 processes.
    pub(crate) fn process_names(&self) -> Vec<String> {
        (0..self.numprocs).map(|i| process_name(&self.name, self.numprocs, i)).collect()
    }

    pub(crate) fn expects(&self, code: i32) -> bool {
        u8::try_from(code).is_ok_and(|c| self.exitcodes.contains(&c))
    }
}

/// The name of process `index` of a program that has `numprocs` processes.
pub(crate) fn process_name(program: &str, numprocs: u32, index: u32) -> String {
    match numprocs {
        1 => program.to_string(),
        n => {
            let width = if n > 100 { 3 } else { 2 };
            format!("{program}:{program}_{index:0width$}")
        }
    }
}

/// `cmd` as written and as the argument vector it splits into (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine {
    pub(crate) text: String,
    pub(crate) argv: Vec<String>,
}

impl CommandLine {
    pub(crate) fn program(&self) -> &str {
        &self.argv[0]
    }
}

/// Permission bits (a umask or a file mode), at most 0o777; shown as four octal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode(pub u32);

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// What happens when a RUNNING process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    Always,
    Never,
    /// Only when the exit code is not in `exitcodes` or a signal ended it.
    Unexpected,
}

impl RestartPolicy {
    pub(crate) const ALL: [RestartPolicy; 3] =
        [RestartPolicy::Always, RestartPolicy::Never, RestartPolicy::Unexpected];

    pub(crate) fn name(self) -> &'static str {
        match self {
            RestartPolicy::Always => "always",
            RestartPolicy::Never => "never",
            RestartPolicy::Unexpected => "unexpected",
        }
    }
}

/// The name of a signal without its `SIG` prefix, as the configuration writes it.
pub(crate) fn signal_name(signal: Signal) -> &'static str {
    let full = signal.as_str();
    full.strip_prefix("SIG").unwrap_or(full)
}

/// Reads a signal written as `TERM`, `SIGTERM`, `term` or `15`.
pub(crate) fn parse_signal(text: &str) -> Option<Signal> {
    let text = text.trim();
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).ok();
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_names_follow_numprocs() {
        assert_eq!(process_name("nginx", 1, 0), "nginx");
        assert_eq!(process_name("web", 3, 2), "web:web_02");
        assert_eq!(process_name("web", 100, 99), "web:web_99");
        assert_eq!(process_name("web", 101, 7), "web:web_007");
        assert_eq!(process_name("web", 1000, 999), "web:web_999");
    }

    #[test]
    fn signals_parse_in_every_spelling() {
        for text in ["TERM", "SIGTERM", "term", "SigTerm", "15", " TERM "] {
            assert_eq!(parse_signal(text), Some(Signal::SIGTERM), "{text}");
        }
        assert_eq!(parse_signal("USR1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("99"), None);
        assert_eq!(signal_name(Signal::SIGUSR1), "USR1");
    }

    #[test]
    fn modes_show_four_octal_digits() {
        assert_eq!(Mode(0o22).to_string(), "0022");
        assert_eq!(Mode(0o777).to_string(), "0777");
        assert_eq!(Mode(0).to_string(), "0000");
    }

    #[test]
    fn log_levels_parse_case_insensitively() {
        assert_eq!(LogLevel::parse("INFO"), Some(LogLevel::Info));
        assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("verbose"), None);
    }
}
