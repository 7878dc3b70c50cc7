//! What `ready` and `healthcheck` ask (taskmaster(1), ORDER AND HEALTH): a probe (a TCP
//! connection, an HTTP GET, a command, a file, a line of output) and its times. Validated values
//! only; the event loop runs the probes (`checks`), the supervisor decides what their results do.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `priority` when none is given: after every program that has one below it.
pub(crate) const DEFAULT_PRIORITY: i32 = 999;
/// How long a process may take to become ready before its start counts as failed.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_HEALTH_RETRIES: u32 = 3;
pub(crate) const MAX_HEALTH_RETRIES: u32 = 100;

/// One way to look at a process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Probe {
    /// A TCP connection is accepted.
    Tcp(Address),
    /// `GET` answers with a 2xx status.
    Http(HttpTarget),
    /// `sh -c TEXT`, run like the program (its user, folder and environment), exits 0.
    Cmd(String),
    /// The file exists.
    File(PathBuf),
    /// The program printed a line that matches (readiness only).
    Log(LogPattern),
}

impl Probe {
    /// The key it is written with.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Probe::Tcp(_) => "tcp",
            Probe::Http(_) => "http",
            Probe::Cmd(_) => "cmd",
            Probe::File(_) => "file",
            Probe::Log(_) => "log",
        }
    }

    /// What it looks at, as written.
    pub(crate) fn target(&self) -> String {
        match self {
            Probe::Tcp(address) => address.text.clone(),
            Probe::Http(target) => target.text.clone(),
            Probe::Cmd(text) => text.clone(),
            Probe::File(path) => path.display().to_string(),
            Probe::Log(pattern) => pattern.regex.as_str().to_string(),
        }
    }
}

/// `tcp 127.0.0.1:5432`, as a person reads it in a reason.
impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.target())
    }
}

/// `HOST:PORT` as written, and where it leads (an IP address, or localhost: no name is looked up,
/// as the loop never waits for a resolver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) text: String,
    pub(crate) addr: SocketAddr,
}

/// `http://HOST[:PORT]/PATH`: where to connect, and the request's `Host` and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    pub(crate) text: String,
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    /// The path with its query, from `/`.
    pub(crate) path: String,
}

/// A regular expression looked for in each line of the program's output.
#[derive(Debug, Clone)]
pub(crate) struct LogPattern {
    pub(crate) regex: regex::Regex,
}

impl PartialEq for LogPattern {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str()
    }
}

/// `ready:`: what RUNNING means for the program, instead of "stayed up `starttime`".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Readiness {
    pub(crate) probe: Probe,
    /// Not ready this long after the spawn: a failed start (BACKOFF).
    pub(crate) timeout: Duration,
}

/// `healthcheck:`: looked at every `interval` while RUNNING; `retries` failures in a row and
/// the process is restarted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HealthCheck {
    pub(crate) probe: Probe,
    pub(crate) interval: Duration,
    /// One look that takes longer fails.
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
}
