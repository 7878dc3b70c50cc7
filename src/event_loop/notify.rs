//! Telling systemd how taskmaster is doing (taskmaster(1), RUNNING AS A SERVICE): the sd_notify
//! protocol, one datagram of `KEY=VALUE` lines to the socket `NOTIFY_SOCKET` names. READY=1
//! once nothing is on its way up after the start and after each reload, RELOADING=1 when a
//! reload begins, STOPPING=1 when the shutdown does, WATCHDOG=1 at half the interval systemd
//! asks for: a deadline of the loop, so an idle taskmaster without a watchdog never wakes up.

use crate::sys::service::{ServiceEnv, monotonic_usec};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// The shortest time between two WATCHDOG=1.
const WATCHDOG_FLOOR: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Starting, or reloading: READY=1 comes once things settle.
    Coming,
    Ready,
    Stopping,
}

pub(crate) struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
    phase: Phase,
    watchdog: Option<Duration>,
    next_watchdog: Option<Instant>,
    /// A failed send is said once, until one succeeds.
    failing: bool,
}

impl Notifier {
    /// Taskmaster's notifier; the problem with its socket, if any, to be logged.
    pub(crate) fn new(env: &ServiceEnv, now: Instant) -> (Notifier, Option<String>) {
        let mut problem = None;
        let target = env.notify_socket.as_ref().and_then(|name| match open(name) {
            Ok((socket, addr)) => Some((socket, addr, name.clone())),
            Err(e) => {
                problem = Some(format!(
                    "couldn't use NOTIFY_SOCKET {name}: {e}; systemd is not told how taskmaster is"
                ));
                None
            }
        });
        // Half the interval, as sd_watchdog_enabled(3) advises.
        // Never more often than every WATCHDOG_FLOOR, whatever is asked: a loop that spins is
        // no watchdog's purpose.
        let watchdog = env.watchdog_usec.filter(|_| target.is_some()).map(|us| {
            let half = Duration::from_micros(us / 2);
            if half < WATCHDOG_FLOOR {
                problem = Some(format!(
                    "WATCHDOG_USEC={us} is less than {} ms: WATCHDOG=1 goes every {} ms",
                    2 * WATCHDOG_FLOOR.as_millis(),
                    WATCHDOG_FLOOR.as_millis()
                ));
            }
            half.max(WATCHDOG_FLOOR)
        });
        let next_watchdog = watchdog.map(|every| now + every);
        (Notifier { target, phase: Phase::Coming, watchdog, next_watchdog, failing: false }, problem)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_watchdog
    }

    /// A reload begins.
    pub(crate) fn reloading(&mut self) -> Option<String> {
        if self.phase == Phase::Stopping {
            return None;
        }
        self.phase = Phase::Coming;
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration",
            monotonic_usec()
        ))
    }

    /// After each turn: READY=1 once `settled`, STOPPING=1 once `stopping`, WATCHDOG=1 when
    /// due. `status` says how the processes are, for `systemctl status`.
    pub(crate) fn after_turn(
        &mut self,
        settled: impl FnOnce() -> bool,
        stopping: bool,
        status: impl FnOnce() -> String,
        now: Instant,
    ) -> Option<String> {
        let mut problem = None;
        if self.next_watchdog.is_some_and(|at| at <= now)
            && let Some(every) = self.watchdog
        {
            self.next_watchdog = Some(now + every);
            problem = problem.or(self.send("WATCHDOG=1"));
        }
        let message = match (self.phase, stopping) {
            (Phase::Stopping, _) => None,
            (_, true) => {
                self.phase = Phase::Stopping;
                Some("STOPPING=1\nSTATUS=shutting down".to_string())
            }
            // Looked at only while coming up: it goes over every process.
            (Phase::Coming, false) if settled() => {
                self.phase = Phase::Ready;
                Some(format!("READY=1\nSTATUS={}", status()))
            }
            (Phase::Coming | Phase::Ready, false) => None,
        };
        match message {
            Some(message) => problem.or(self.send(&message)),
            None => problem,
        }
    }

    fn send(&mut self, message: &str) -> Option<String> {
        let (socket, addr, name) = self.target.as_ref()?;
        match socket.send_to_addr(message.as_bytes(), addr) {
            Ok(_) => {
                self.failing = false;
                None
            }
            Err(_) if self.failing => None,
            Err(e) => {
                self.failing = true;
                Some(format!("couldn't notify systemd at {name}: {e}"))
            }
        }
    }
}

/// A socket to send to `name`: a path, or `@name` in the abstract namespace.
fn open(name: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
    let addr = match name.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes())?,
        None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
        None => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not an absolute path or an @abstract name",
            ));
        }
    };
    let socket = UnixDatagram::unbound()?;
    // A datagram that the manager does not take at once is dropped, never waited for.
    socket.set_nonblocking(true)?;
    Ok((socket, addr))
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn listener(tag: &str) -> (UnixDatagram, String) {
        let path = std::env::temp_dir().join(format!("tm-notify-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        (socket, path.display().to_string())
    }

    fn received(socket: &UnixDatagram) -> Vec<String> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            all.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        all
    }

    #[test]
    fn ready_waits_until_settled_then_reload_and_stop_are_said_once() {
        let (socket, path) = listener("a");
        let now = Instant::now();
        let env = ServiceEnv { notify_socket: Some(path.clone()), watchdog_usec: None, problems: Vec::new() };
        let (mut n, problem) = Notifier::new(&env, now);
        assert_eq!(problem, None);
        assert_eq!(n.next_deadline(), None, "no watchdog: nothing wakes the loop");
        assert_eq!(n.after_turn(|| false, false, || "x".into(), now), None);
        assert!(received(&socket).is_empty(), "not settled: not ready");
        n.after_turn(|| true, false, || "2 RUNNING".into(), now);
        n.after_turn(|| true, false, || "2 RUNNING".into(), now);
        assert_eq!(received(&socket), ["READY=1\nSTATUS=2 RUNNING"]);
        n.reloading();
        let reloading = received(&socket);
        assert!(reloading[0].starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading:?}");
        n.after_turn(|| true, false, || "1 RUNNING".into(), now);
        assert_eq!(received(&socket), ["READY=1\nSTATUS=1 RUNNING"]);
        n.after_turn(|| false, true, || "x".into(), now);
        n.after_turn(|| true, true, || "x".into(), now);
        assert_eq!(received(&socket), ["STOPPING=1\nSTATUS=shutting down"]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn the_watchdog_is_fed_at_half_its_interval() {
        let (socket, path) = listener("w");
        let now = Instant::now();
        let env = ServiceEnv {
            notify_socket: Some(path.clone()),
            watchdog_usec: Some(2_000_000),
            problems: Vec::new(),
        };
        let (mut n, _) = Notifier::new(&env, now);
        assert_eq!(n.next_deadline(), Some(now + Duration::from_secs(1)));
        n.after_turn(|| false, false, String::new, now + Duration::from_millis(999));
        assert!(received(&socket).is_empty());
        n.after_turn(|| false, false, String::new, now + Duration::from_secs(1));
        assert_eq!(received(&socket), ["WATCHDOG=1"]);
        assert_eq!(n.next_deadline(), Some(now + Duration::from_secs(2)));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_watchdog_asked_too_often_is_fed_every_100_ms_and_said() {
        let (_socket, path) = listener("f");
        let now = Instant::now();
        let env =
            ServiceEnv { notify_socket: Some(path.clone()), watchdog_usec: Some(1), problems: Vec::new() };
        let (n, problem) = Notifier::new(&env, now);
        assert_eq!(n.next_deadline(), Some(now + Duration::from_millis(100)));
        assert!(problem.is_some_and(|p| p.contains("WATCHDOG_USEC=1 is less than 200 ms")));
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_socket_that_is_not_there_is_said_once() {
        let env = ServiceEnv {
            notify_socket: Some("/nonexistent/notify".into()),
            watchdog_usec: None,
            problems: Vec::new(),
        };
        let (mut n, problem) = Notifier::new(&env, Instant::now());
        assert_eq!(problem, None, "opened; the send finds out");
        let first = n.after_turn(|| true, false, String::new, Instant::now());
        assert!(first.is_some_and(|p| p.contains("couldn't notify systemd at /nonexistent/notify")));
        n.reloading();
        assert_eq!(n.after_turn(|| true, false, String::new, Instant::now()), None, "said once");
        let (_, problem) = Notifier::new(
            &ServiceEnv { notify_socket: Some("relative".into()), watchdog_usec: None, problems: Vec::new() },
            Instant::now(),
        );
        assert!(problem.is_some_and(|p| p.contains("not an absolute path")));
    }
}
