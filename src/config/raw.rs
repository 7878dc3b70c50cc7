//! The configuration file as written: the keys it may hold, their defaults, and how one YAML
//! value of each kind is read. Each reader takes a `Node` and returns the typed value or a message
//! saying what was expected; it never looks at other keys (that is `validate`'s job).

use super::node::Node;
use super::spec::{CommandLine, LogLevel, Mode, RestartPolicy, parse_signal};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Keys of the top level of the file.
pub const TOP_KEYS: &[&str] = &["taskmaster", "programs"];

/// Keys of the `taskmaster:` section, in the order `--check` prints them.
pub const DAEMON_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "loglevel",
    "socket",
    "socket_mode",
    "socket_owner",
    "history",
    "user",
    "admins",
    "syslog_address",
    "alerts",
    "detach_key",
    "metrics",
    "include",
];

/// Keys of a program, in the order `--check` prints them.
pub const PROGRAM_KEYS: &[&str] = &[
    "cmd",
    "numprocs",
    "umask",
    "workingdir",
    "user",
    "group",
    "autostart",
    "autorestart",
    "exitcodes",
    "startretries",
    "starttime",
    "stopsignal",
    "stoptime",
    "stopasgroup",
    "critical",
    "alerts",
    "stdout",
    "stderr",
    "env",
    "tail_bytes",
    "tty",
    "priority",
    "depends_on",
    "ready",
    "healthcheck",
    "backoff",
    "rlimits",
    "env_file",
];

/// Keys of `backoff:` (taskmaster(1), PROCESS STATES).
pub(crate) const BACKOFF_KEYS: &[&str] = &["base", "max"];

/// Keys of `ready:` (taskmaster(1), ORDER AND HEALTH): one probe and its timeout.
pub(crate) const READY_KEYS: &[&str] = &["tcp", "http", "cmd", "file", "log", "timeout"];
/// Keys of `healthcheck:`.
pub(crate) const HEALTH_KEYS: &[&str] = &["tcp", "http", "cmd", "interval", "timeout", "retries"];

/// Keys of the mapping form of `stdout` and `stderr` (taskmaster(1), CHILD LOGS).
pub(crate) const STREAM_FILE_KEYS: &[&str] = &["path", "maxbytes", "backups", "timestamps"];

/// supervisord's names for our keys, so that a config carried over gets a pointed hint.
pub(crate) const SUPERVISORD_NAMES: &[(&str, &str)] = &[
    ("command", "cmd"),
    ("directory", "workingdir"),
    ("environment", "env"),
    ("startsecs", "starttime"),
    ("stopwaitsecs", "stoptime"),
    ("stdout_logfile", "stdout"),
    ("stderr_logfile", "stderr"),
    ("redirect_stderr", "stderr: stdout"),
    ("stdout_logfile_maxbytes", "stdout: {path: FILE, maxbytes: 50MB}"),
    ("stdout_logfile_backups", "stdout: {path: FILE, backups: 10}"),
    ("stderr_logfile_maxbytes", "stderr: {path: FILE, maxbytes: 50MB}"),
    ("stderr_logfile_backups", "stderr: {path: FILE, backups: 10}"),
    ("stdout_syslog", "stdout: syslog"),
    ("stderr_syslog", "stderr: syslog"),
];

pub(crate) const DEFAULT_NUMPROCS: u32 = 1;
pub(crate) const MAX_NUMPROCS: u32 = 1000;
pub(crate) const DEFAULT_AUTOSTART: bool = true;
pub(crate) const DEFAULT_AUTORESTART: RestartPolicy = RestartPolicy::Unexpected;
pub(crate) const DEFAULT_EXITCODES: &[u8] = &[0];
pub(crate) const DEFAULT_STARTRETRIES: u32 = 3;
pub(crate) const MAX_STARTRETRIES: u32 = 1000;
pub(crate) const DEFAULT_STARTTIME: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_STOPSIGNAL: Signal = Signal::SIGTERM;
pub(crate) const DEFAULT_STOPTIME: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_STOPASGROUP: bool = false;
pub(crate) const DEFAULT_CRITICAL: bool = false;
pub(crate) const DEFAULT_TTY: bool = false;
pub(crate) const DEFAULT_TAIL_BYTES: usize = 16 * 1024;
/// Kept per stream and process at most: enough for any screen, bounded for thousands of them.
pub(crate) const MAX_TAIL_BYTES: usize = 16 * 1024 * 1024;
/// Times are bounded so that deadline arithmetic can never overflow; a day is plenty.
pub(crate) const MAX_SECONDS: f64 = 86_400.0;
pub(crate) const DEFAULT_LOGFILE: &str = "taskmaster.log";
pub(crate) const DEFAULT_SOCKET_MODE: Mode = Mode(0o600);
pub(crate) const DEFAULT_HISTORY: &str = "~/.taskmaster_history";
/// `sun_path` holds 108 bytes including the terminating NUL.
pub(crate) const MAX_SOCKET_PATH: usize = 107;

pub(crate) type Read<T> = Result<T, String>;

fn found(expected: &str, node: &Node) -> String {
    format!("expected {expected}, found {}", node.kind())
}

/// `detach_key: ctrl-]`.
pub(crate) fn read_detach_key(node: &Node) -> Read<super::spec::DetachKey> {
    let expected = "a control key such as ctrl-] or ctrl-a";
    match node {
        Node::Str(text) => match super::spec::DetachKey::parse(text) {
            Some(key) => match key.unusable() {
                Some(why) => Err(format!("{key} cannot leave an attach: {why} (ctrl-] is the default)")),
                None => Ok(key),
            },
            None => Err(found(expected, node)),
        },
        other => Err(found(expected, other)),
    }
}

pub(crate) fn read_bool(node: &Node) -> Read<bool> {
    match node {
        Node::Bool(b) => Ok(*b),
        other => Err(found("true or false", other)),
    }
}

/// A whole number from `min` to `max`.
pub(crate) fn read_count(node: &Node, min: u32, max: u32) -> Read<u32> {
    let expected = format!("a whole number from {min} to {max}");
    match node {
        Node::Int(i) if (i128::from(min)..=i128::from(max)).contains(i) => {
            u32::try_from(*i).map_err(|_| found(&expected, node))
        }
        other => Err(found(&expected, other)),
    }
}

/// A number of seconds, fractions allowed.
pub(crate) fn read_seconds(node: &Node) -> Read<Duration> {
    let expected = format!("a number of seconds from 0 to {MAX_SECONDS}");
    let seconds = match node {
        Node::Int(i) => *i as f64,
        Node::Float(f) => *f,
        other => return Err(found(&expected, other)),
    };
    match (0.0..=MAX_SECONDS).contains(&seconds) {
        true => Ok(Duration::from_secs_f64(seconds)),
        false => Err(found(&expected, node)),
    }
}

/// Permission bits written in octal, however YAML typed them: `022`, `0022`, `"022"`, `0o22`
/// and `22` all mean 0o022. `text` is the value as written in the file, when known; without it a
/// number is read back as its decimal digits.
pub(crate) fn read_octal(node: &Node, text: Option<&str>) -> Read<Mode> {
    let written = match (node, text) {
        (Node::Str(_) | Node::Int(_), Some(t)) => t.to_string(),
        (Node::Str(s), None) => s.clone(),
        (Node::Int(i), None) => i.to_string(),
        (other, _) => return Err(found("octal digits like 022", other)),
    };
    let digits = written.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    if digits.is_empty() {
        return Err("expected octal digits like 022, found nothing".to_string());
    }
    if let Some(bad) = digits.chars().find(|c| !('0'..='7').contains(c)) {
        return Err(format!("is octal (digits 0 to 7), but `{written}` has `{bad}`"));
    }
    match u32::from_str_radix(digits, 8) {
        Ok(bits) if bits <= 0o777 => Ok(Mode(bits)),
        _ => Err(format!("is octal and at most 0777, but `{written}` is larger")),
    }
}

pub(crate) fn read_restart(node: &Node) -> Read<RestartPolicy> {
    let expected = "always, never or unexpected";
    match node {
        Node::Bool(true) => Ok(RestartPolicy::Always),
        Node::Bool(false) => Ok(RestartPolicy::Never),
        Node::Str(s) => RestartPolicy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| found(expected, node)),
        other => Err(found(expected, other)),
    }
}

/// One exit code or a list of them, each from 0 to 255; sorted, duplicates dropped.
pub(crate) fn read_exitcodes(node: &Node) -> Read<Vec<u8>> {
    let expected = "an exit code from 0 to 255, or a list of them like [0, 2]";
    let one = |n: &Node| match n {
        Node::Int(i) => u8::try_from(*i).map_err(|_| found(expected, n)),
        other => Err(found(expected, other)),
    };
    let mut codes = match node {
        Node::Seq(items) => items.iter().map(one).collect::<Read<Vec<u8>>>()?,
        single => vec![one(single)?],
    };
    codes.sort_unstable();
    codes.dedup();
    Ok(codes)
}

/// A stop signal: a name with or without SIG, in any case, or a number. SIGKILL and SIGSTOP are
/// refused: neither lets a process stop gracefully, and SIGKILL comes anyway after `stoptime`.
pub(crate) fn read_stopsignal(node: &Node) -> Read<Signal> {
    let text = match node {
        Node::Str(s) => s.clone(),
        Node::Int(i) => i.to_string(),
        other => return Err(found("a signal name like TERM or USR1, or its number", other)),
    };
    match parse_signal(&text) {
        Some(Signal::SIGKILL) => {
            Err("KILL cannot be a stop signal: it gives the program no chance to stop cleanly, \
             and taskmaster sends it anyway once `stoptime` has passed"
                .to_string())
        }
        Some(Signal::SIGSTOP) => {
            Err("STOP cannot be a stop signal: it pauses the program instead of ending it".into())
        }
        Some(signal) => Ok(signal),
        None => Err(format!("`{text}` is not a signal name or number (try TERM, INT, QUIT, USR1)")),
    }
}

/// A size in bytes: a whole number, or one with a unit (`16KiB`, `64K`, `1MB`: K and KB are
/// 1000, KiB 1024, likewise M and G).
pub(crate) fn read_bytes(node: &Node, max: usize) -> Read<usize> {
    let expected = format!("a number of bytes from 0 to {max} (units: K, KB, KiB, M, MB, MiB, G, GB, GiB)");
    let bytes = match node {
        Node::Int(i) => u128::try_from(*i).ok(),
        Node::Str(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (digits, unit) = s.split_at(split);
            let factor: Option<u128> = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => Some(1),
                "k" | "kb" => Some(1000),
                "kib" => Some(1024),
                "m" | "mb" => Some(1_000_000),
                "mib" => Some(1024 * 1024),
                "g" | "gb" => Some(1_000_000_000),
                "gib" => Some(1024 * 1024 * 1024),
                _ => None,
            };
            digits.parse::<u128>().ok().zip(factor).map(|(n, f)| n.saturating_mul(f))
        }
        _ => None,
    };
    bytes.filter(|b| *b <= max as u128).map(|b| b as usize).ok_or_else(|| found(&expected, node))
}

/// Text: a non-empty string (numbers are not silently turned into paths or commands).
pub(crate) fn read_text(node: &Node, what: &str) -> Read<String> {
    match node {
        Node::Str(s) if !s.trim().is_empty() => Ok(s.clone()),
        Node::Str(_) => Err(format!("expected {what}, found an empty text")),
        other => Err(found(what, other)),
    }
}

/// A path: `~` at the start is the home folder, a relative path is relative to `base` (the
/// config file's folder).
pub(crate) fn read_path(node: &Node, base: &Path, home: Option<&Path>) -> Read<PathBuf> {
    let text = read_text(node, "a path")?;
    resolve_path(&text, base, home)
}

pub(crate) fn resolve_path(text: &str, base: &Path, home: Option<&Path>) -> Read<PathBuf> {
    if text.contains('\0') {
        return Err("a path cannot contain a NUL byte".to_string());
    }
    let expanded = match text.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match home {
            Some(home) => home.join(rest.trim_start_matches('/')),
            None => return Err(format!("`{text}` starts with ~ but HOME is not set")),
        },
        _ => PathBuf::from(text),
    };
    Ok(normalize(&base.join(expanded)))
}

/// Drops `.` components and empty segments without touching the file system (so no symlink is
/// resolved and a path that does not exist yet stays valid).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}

/// `env:` values: any scalar, taken as the text it was written with.
pub(crate) fn read_env_value(node: &Node, text: Option<&str>) -> Read<String> {
    let value = match (node, text) {
        (Node::Seq(_) | Node::Map(_), _) => return Err(found("a single value", node)),
        (Node::Null, _) => String::new(),
        (_, Some(t)) => t.to_string(),
        (Node::Str(s), None) => s.clone(),
        (Node::Int(i), None) => i.to_string(),
        (Node::Float(f), None) => f.to_string(),
        (Node::Bool(b), None) => b.to_string(),
    };
    match value.contains('\0') {
        true => Err("an environment value cannot contain a NUL byte".to_string()),
        false => Ok(value),
    }
}

/// Environment variable names: not empty, no `=` and no NUL.
pub(crate) fn check_env_name(name: &str) -> Read<()> {
    match name.is_empty() || name.contains(['=', '\0']) {
        true => Err(format!("`{name}` is not a valid environment variable name")),
        false => Ok(()),
    }
}

pub(crate) fn read_loglevel(node: &Node) -> Read<LogLevel> {
    let names: Vec<_> = LogLevel::ALL.iter().map(|l| l.name()).collect();
    let expected = format!("one of {}", names.join(", "));
    match node {
        Node::Str(s) => {
            LogLevel::parse(s).ok_or_else(|| format!("expected {expected}, found {}", node.kind()))
        }
        other => Err(format!("expected {expected}, found {}", other.kind())),
    }
}

pub(crate) fn read_cmd(node: &Node) -> Read<CommandLine> {
    let text = read_text(node, "a command line like \"/usr/bin/nginx -g 'daemon off;'\"")?;
    if text.contains('\0') {
        return Err("cannot contain a NUL byte (no program can be given one)".to_string());
    }
    match shell_words::split(&text) {
        Ok(argv) if !argv.is_empty() && !argv[0].is_empty() => Ok(CommandLine { text, argv }),
        Ok(_) => Err("is empty: expected a command to run".to_string()),
        Err(_) => Err(format!("has an unterminated quote: {text}")),
    }
}

/// A relative program path with a slash (`./run.sh`) is found from the working directory, as a
/// shell that did `cd workingdir` would; a bare name is looked up in PATH at spawn time. A path
/// made absolute from a file's folder (`/etc/tm/./run.sh`, see `per_process`) is tidied the same.
pub(crate) fn anchor_program(mut cmd: CommandLine, dir: &Path) -> CommandLine {
    let program = Path::new(&cmd.argv[0]);
    if cmd.argv[0].contains("/./") || program.is_relative() && cmd.argv[0].contains('/') {
        cmd.argv[0] = normalize(&dir.join(program)).to_string_lossy().into_owned();
    }
    cmd
}

/// Program names: letters, digits, `_`, `-` and `.`; not `all`, which means every program.
pub(crate) fn check_program_name(name: &str) -> Read<()> {
    if name.is_empty() {
        return Err("a program needs a name".to_string());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c))) {
        return Err(format!(
            "`{bad}` is not allowed in a program name (letters, digits, `_`, `-` and `.` only)"
        ));
    }
    if name.starts_with('-') {
        return Err("a program name cannot start with `-` (it would read as an option)".to_string());
    }
    if name == "all" {
        return Err("`all` is reserved: it means every program in commands".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Node {
        Node::Str(text.to_string())
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(read_bytes(&s("16KiB"), MAX_TAIL_BYTES), Ok(16 * 1024));
        assert_eq!(read_bytes(&s("64 K"), MAX_TAIL_BYTES), Ok(64_000));
        assert_eq!(read_bytes(&s("1MiB"), MAX_TAIL_BYTES), Ok(1 << 20));
        assert_eq!(read_bytes(&Node::Int(0), MAX_TAIL_BYTES), Ok(0));
        assert!(read_bytes(&s("lots"), MAX_TAIL_BYTES).is_err());
        assert!(read_bytes(&s("17MiB"), MAX_TAIL_BYTES).is_err(), "above the most");
        assert!(read_bytes(&Node::Int(-1), MAX_TAIL_BYTES).is_err());
    }

    #[test]
    fn umask_is_octal_however_written() {
        assert_eq!(read_octal(&s("022"), Some("022")), Ok(Mode(0o22)));
        assert_eq!(read_octal(&s("0022"), Some("0022")), Ok(Mode(0o22)));
        assert_eq!(read_octal(&s("022"), None), Ok(Mode(0o22)));
        assert_eq!(read_octal(&Node::Int(18), Some("0o22")), Ok(Mode(0o22)));
        assert_eq!(read_octal(&Node::Int(22), Some("22")), Ok(Mode(0o22)));
        assert_eq!(read_octal(&Node::Int(77), None), Ok(Mode(0o77)));
        assert_eq!(read_octal(&Node::Int(0), Some("0")), Ok(Mode(0)));
        assert_eq!(read_octal(&s("0777"), None), Ok(Mode(0o777)));
    }

    #[test]
    fn umask_rejects_non_octal_digits_and_large_values() {
        let e = read_octal(&s("028"), Some("028")).unwrap_err();
        assert!(e.contains("octal") && e.contains('8'), "{e}");
        assert!(read_octal(&Node::Int(19), Some("19")).unwrap_err().contains("octal"));
        assert!(read_octal(&s("1000"), None).unwrap_err().contains("0777"));
        assert!(read_octal(&s("abc"), None).is_err());
        assert!(read_octal(&Node::Bool(true), None).is_err());
        assert!(read_octal(&s(""), Some("")).is_err());
    }

    #[test]
    fn exitcodes_take_a_scalar_or_a_list() {
        assert_eq!(read_exitcodes(&Node::Int(0)), Ok(vec![0]));
        let list = Node::Seq(vec![Node::Int(2), Node::Int(0), Node::Int(2)]);
        assert_eq!(read_exitcodes(&list), Ok(vec![0, 2]));
        assert_eq!(read_exitcodes(&Node::Seq(vec![])), Ok(vec![]));
        assert!(read_exitcodes(&Node::Int(256)).is_err());
        assert!(read_exitcodes(&Node::Int(-1)).is_err());
        assert!(read_exitcodes(&s("0,2")).unwrap_err().contains("[0, 2]"));
    }

    #[test]
    fn stopsignal_refuses_kill_and_stop() {
        assert_eq!(read_stopsignal(&s("USR1")), Ok(Signal::SIGUSR1));
        assert_eq!(read_stopsignal(&s("sigint")), Ok(Signal::SIGINT));
        assert_eq!(read_stopsignal(&Node::Int(15)), Ok(Signal::SIGTERM));
        assert!(read_stopsignal(&s("KILL")).unwrap_err().contains("stoptime"));
        assert!(read_stopsignal(&Node::Int(9)).unwrap_err().contains("KILL"));
        assert!(read_stopsignal(&s("SIGSTOP")).unwrap_err().contains("pauses"));
        assert!(read_stopsignal(&s("TERMINATE")).unwrap_err().contains("not a signal"));
    }

    #[test]
    fn autorestart_takes_words_and_booleans() {
        assert_eq!(read_restart(&s("always")), Ok(RestartPolicy::Always));
        assert_eq!(read_restart(&s("Unexpected")), Ok(RestartPolicy::Unexpected));
        assert_eq!(read_restart(&Node::Bool(true)), Ok(RestartPolicy::Always));
        assert_eq!(read_restart(&Node::Bool(false)), Ok(RestartPolicy::Never));
        assert!(read_restart(&s("sometimes")).unwrap_err().contains("always, never or unexpected"));
    }

    #[test]
    fn seconds_may_be_fractional_but_not_negative() {
        assert_eq!(read_seconds(&Node::Int(5)), Ok(Duration::from_secs(5)));
        assert_eq!(read_seconds(&Node::Float(0.25)), Ok(Duration::from_millis(250)));
        assert_eq!(read_seconds(&Node::Int(0)), Ok(Duration::ZERO));
        assert!(read_seconds(&Node::Int(-1)).is_err());
        assert!(read_seconds(&Node::Float(f64::NAN)).is_err());
        assert!(read_seconds(&Node::Float(f64::INFINITY)).is_err());
        assert!(read_seconds(&s("5s")).is_err());
    }

    #[test]
    fn counts_are_bounded() {
        assert_eq!(read_count(&Node::Int(3), 1, 1000), Ok(3));
        assert!(read_count(&Node::Int(0), 1, 1000).unwrap_err().contains("from 1 to 1000"));
        assert!(read_count(&Node::Int(1001), 1, 1000).is_err());
        assert!(read_count(&Node::Float(1.5), 1, 1000).is_err());
    }

    #[test]
    fn paths_resolve_against_the_config_folder_and_home() {
        let base = Path::new("/etc/tm");
        let home = Some(Path::new("/home/u"));
        assert_eq!(resolve_path("out.log", base, home), Ok(PathBuf::from("/etc/tm/out.log")));
        assert_eq!(resolve_path("./a/./b", base, home), Ok(PathBuf::from("/etc/tm/a/b")));
        assert_eq!(resolve_path("/tmp/x", base, home), Ok(PathBuf::from("/tmp/x")));
        assert_eq!(resolve_path("~/h", base, home), Ok(PathBuf::from("/home/u/h")));
        assert_eq!(resolve_path("~", base, home), Ok(PathBuf::from("/home/u")));
        assert_eq!(resolve_path("~x", base, home), Ok(PathBuf::from("/etc/tm/~x")));
        assert!(resolve_path("~/h", base, None).unwrap_err().contains("HOME"));
    }

    #[test]
    fn env_values_are_the_text_as_written() {
        assert_eq!(read_env_value(&Node::Int(42), Some("42")), Ok("42".into()));
        assert_eq!(read_env_value(&Node::Float(1.1), Some("1.10")), Ok("1.10".into()));
        assert_eq!(read_env_value(&Node::Float(1.5), None), Ok("1.5".into()));
        assert_eq!(read_env_value(&Node::Bool(true), None), Ok("true".into()));
        assert_eq!(read_env_value(&Node::Null, None), Ok(String::new()));
        assert!(read_env_value(&Node::Seq(vec![]), None).is_err());
        assert!(check_env_name("A=B").is_err());
        assert!(check_env_name("").is_err());
        assert!(check_env_name("PATH").is_ok());
    }
}
