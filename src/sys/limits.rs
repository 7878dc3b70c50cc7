//! The open-file limit. Taskmaster holds two pipes per process, so a thousand processes need
//! more descriptors than the usual soft limit of 1024: at start it raises its soft limit to the
//! hard one, and gives its children the limit it was started with (programs that use select(2)
//! break with descriptors above 1024).

use crate::config::rlimits::Limit;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// The open-file limits: what taskmaster was started with, and what it runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileLimits {
    /// (soft, hard) as inherited; children get these back.
    pub(crate) inherited: (u64, u64),
    /// The soft limit in force for taskmaster.
    pub(crate) current: u64,
}

/// Raises the soft open-file limit as far as the hard limit allows, and the hard limit too when
/// `wanted` is above it and taskmaster may (root with CAP_SYS_RESOURCE), up to `fs.nr_open`, as
/// supervisord's `minfds` does.
pub(crate) fn raise_open_files(wanted: u64) -> FileLimits {
    let inherited = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let current = match setrlimit(Resource::RLIMIT_NOFILE, inherited.1, inherited.1) {
        Ok(()) => inherited.1,
        Err(_) => inherited.0,
    };
    FileLimits { inherited, current: raise_hard(current, wanted) }
}

/// The limit after trying to raise `current` (soft and hard) to `wanted`, at most `fs.nr_open`.
pub(crate) fn raise_hard(current: u64, wanted: u64) -> u64 {
    if wanted <= current || !may_raise_hard_limits() {
        return current;
    }
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    let target = wanted.min(ceiling).max(current);
    match setrlimit(Resource::RLIMIT_NOFILE, target, target) {
        Ok(()) => target,
        Err(_) => current,
    }
}

/// The `setrlimit(2)` resource of a program's limit.
pub(crate) fn resource_of(limit: Limit) -> Resource {
    match limit {
        Limit::Nofile => Resource::RLIMIT_NOFILE,
        Limit::Nproc => Resource::RLIMIT_NPROC,
        Limit::Core => Resource::RLIMIT_CORE,
        Limit::Cpu => Resource::RLIMIT_CPU,
        Limit::Fsize => Resource::RLIMIT_FSIZE,
        Limit::Memlock => Resource::RLIMIT_MEMLOCK,
        Limit::As => Resource::RLIMIT_AS,
        Limit::Stack => Resource::RLIMIT_STACK,
    }
}

/// taskmaster's own hard limit of a resource.
pub(crate) fn hard_limit(limit: Limit) -> u64 {
    getrlimit(resource_of(limit)).map_or(crate::config::rlimits::UNLIMITED, |(_, hard)| hard)
}

/// How many descriptors are open now (read once at start: afterwards the loop counts its own).
pub(crate) fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count().saturating_sub(1)).unwrap_or(0)
}

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were closed when taskmaster
/// started), so that nothing taskmaster opens later lands on them: a child's standard streams are
/// set up on the assumption that every other descriptor is above 2.
pub(crate) fn ensure_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only asks whether the descriptor number is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            let _ = nix::fcntl::open("/dev/null", nix::fcntl::OFlag::O_RDWR, nix::sys::stat::Mode::empty())
                .map(std::mem::forget::<std::os::fd::OwnedFd>);
        }
    }
}

/// This process may raise a hard limit (it has CAP_SYS_RESOURCE): root, unless a container or
/// a service manager took the capability away.
pub(crate) fn may_raise_hard_limits() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim);
    caps.and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .is_some_and(|bits| bits & (1 << CAP_SYS_RESOURCE) != 0)
}

/// capability(7)'s number of CAP_SYS_RESOURCE.
const CAP_SYS_RESOURCE: u32 = 24;
