//! What a service manager hands taskmaster in its environment (taskmaster(1), RUNNING AS A
//! SERVICE): where to send sd_notify messages, and how often the watchdog wants to hear.

/// The sd_notify settings taskmaster was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceEnv {
    /// `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    pub(crate) notify_socket: Option<String>,
    /// `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or names taskmaster.
    pub(crate) watchdog_usec: Option<u64>,
    /// What could not be used, to be logged.
    pub(crate) problems: Vec<String>,
}

const VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// Reads the settings and takes them out of the environment, so that no program taskmaster
/// starts (they inherit its environment) speaks to systemd in taskmaster's name. Called at
/// start, while taskmaster has one thread.
pub(crate) fn take() -> ServiceEnv {
    let mut problems = Vec::new();
    let mut get = |name: &str| match std::env::var(name) {
        Ok(value) => Some(value).filter(|v| !v.is_empty()),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            problems.push(format!("{name} is not UTF-8: ignored"));
            None
        }
    };
    let notify_socket = get("NOTIFY_SOCKET");
    let watchdog_pid = get("WATCHDOG_PID");
    let watchdog = get("WATCHDOG_USEC");
    let for_us = watchdog_pid.is_none_or(|pid| pid.trim() == std::process::id().to_string());
    let watchdog_usec = match watchdog.as_deref().map(|v| v.trim().parse::<u64>()) {
        None => None,
        Some(Ok(us)) if us > 0 => Some(us).filter(|_| for_us),
        Some(_) => {
            let value = watchdog.unwrap_or_default();
            problems.push(format!("WATCHDOG_USEC={value} is not a number of microseconds: no watchdog"));
            None
        }
    };
    let env = ServiceEnv { notify_socket, watchdog_usec, problems };
    for name in VARIABLES {
        // SAFETY: taskmaster has one thread (no other can read the environment meanwhile).
        unsafe { std::env::remove_var(name) };
    }
    env
}

/// CLOCK_MONOTONIC in microseconds, as systemd wants it with RELOADING=1.
pub(crate) fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}
