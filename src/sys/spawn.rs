//! Spawning a child (taskmaster(1), PROCESS STATES): its own session and process group (no
//! controlling terminal), its user (PRIVILEGES), stdin from /dev/null,
//! stdout and stderr into pipes (or all three on a pseudo-terminal of its own, `tty: true`), every signal at its default disposition with an empty mask, no
//! descriptor but 0, 1 and 2, the configured umask, working directory and environment, and SIGKILL
//! if taskmaster dies (see `clone` for how). Exec failures come back as errors, never panics.
//! Taskmaster's own helpers (an alert's delivery) are started the same way.

pub(crate) use super::clone::reserve_slots;
use super::clone::{Credentials, Launch, Prepared, Stage, launch};
use crate::config::ProgramSpec;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::signal::SigSet;
use nix::sys::stat::Mode;
use nix::unistd::{Pid, pipe2};
use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A child that was started: its pid and where its output comes from.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: Pid,
    pub(crate) output: ChildOutput,
}

#[derive(Debug)]
pub(crate) enum ChildOutput {
    /// The read ends of its stdout and stderr pipes; no stderr pipe when stderr is the stdout
    /// pipe (`stderr: stdout`).
    Pipes { stdout: OwnedFd, stderr: Option<OwnedFd> },
    /// The master side of its terminal (`tty: true`): its output, and where its keys go.
    Terminal(OwnedFd),
}

/// Why a process could not be started; `Display` is the reason a person reads after
/// `spawnerr:` and in `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpawnError {
    /// No such command (as written, or in PATH).
    NotFound(String),
    Directory(PathBuf),
    NotExecutable(PathBuf),
    /// The program's user could not run it (or reach it).
    NotExecutableBy {
        path: PathBuf,
        user: String,
    },
    /// The command could not even be looked at.
    Inaccessible {
        path: PathBuf,
        why: String,
    },
    /// A NUL byte in the command or the environment (which no program can be given).
    NulByte,
    /// Taskmaster itself ran short (a pipe, /dev/null, the clone, the signal mask).
    Resource {
        what: &'static str,
        errno: Errno,
    },
    Chdir {
        dir: PathBuf,
        errno: Errno,
    },
    Exec {
        program: PathBuf,
        errno: Errno,
    },
    /// The child could not set itself up (its standard streams, group, parent-death signal).
    Setup(Errno),
    /// One of the program's `rlimits` could not be set.
    Rlimit {
        limit: &'static str,
        value: String,
        errno: Errno,
    },
    /// The child could not take the program's user (the step: setgroups, setgid or setuid); it
    /// never runs with part of them.
    Credentials {
        step: &'static str,
        user: String,
        errno: Errno,
    },
    /// A step the program's user was not allowed (to enter its folder, to run its command).
    AsUser {
        error: Box<SpawnError>,
        user: String,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            SpawnError::NotFound(program) => write!(f, "can't find command '{program}'"),
            SpawnError::Directory(path) => write!(f, "command at '{}' is a directory", path.display()),
            SpawnError::NotExecutable(path) => write!(f, "command at '{}' is not executable", path.display()),
            SpawnError::NotExecutableBy { path, user } => {
                write!(f, "command at '{}' is not executable by user '{user}'", path.display())
            }
            SpawnError::Inaccessible { path, why } => {
                write!(f, "can't run command '{}': {why}", path.display())
            }
            SpawnError::NulByte => write!(f, "a NUL byte in the command or its environment"),
            SpawnError::Resource { what, errno } => write!(f, "couldn't {what}: {}", errno.desc()),
            SpawnError::Chdir { dir, errno } => {
                write!(f, "couldn't chdir to {}: {}", dir.display(), errno.desc())
            }
            SpawnError::Exec { program, errno } => {
                write!(f, "couldn't exec {}: {}", program.display(), errno.desc())
            }
            SpawnError::Setup(errno) => write!(f, "couldn't set up the process: {}", errno.desc()),
            SpawnError::Rlimit { limit, value, errno: Errno::EPERM } => write!(
                f,
                "couldn't set rlimits {limit} to {value}: above the hard limit, which only a root \
                 taskmaster with CAP_SYS_RESOURCE can raise"
            ),
            SpawnError::Rlimit { limit, value, errno } => {
                write!(f, "couldn't set rlimits {limit} to {value}: {}", errno.desc())
            }
            SpawnError::Credentials { step, user, errno } => {
                write!(f, "couldn't become user '{user}' ({step}): {}", errno.desc())
            }
            SpawnError::AsUser { error, user } => write!(f, "{error} (as user '{user}')"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Starts one process of `spec`. The error is the reason a person reads after `spawnerr:`. `nofile`: the (soft, hard)
/// open-file limit the program gets.
pub(crate) fn spawn(
    spec: &ProgramSpec,
    identity: &[(&str, String)],
    nofile: (u64, u64),
) -> Result<Child, SpawnError> {
    // A relative command is found from the working folder: a folder that is not there is the
    // problem to name, not the command that cannot be found in it.
    if let Some(dir) = &spec.workingdir
        && let Err(e) = std::fs::metadata(dir).and_then(|m| match m.is_dir() {
            true => Ok(()),
            false => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
        })
    {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT));
        return Err(SpawnError::Chdir { dir: dir.clone(), errno });
    }
    let path_var = spec.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
    let program = super::lookup::resolve(spec.cmd.program(), path_var.as_deref(), spec.run_as.as_ref())?;
    let mut prepared = Prepared::new(spec, identity, &program)?;
    prepared.nofile = libc::rlimit { rlim_cur: nofile.0, rlim_max: nofile.1 };
    let short = |what| move |errno| SpawnError::Resource { what, errno };
    let (launched, output) = match spec.tty {
        true => {
            let owner = prepared.credentials.as_ref().map(|c| c.uid);
            let pair = super::pty::open_pair(owner).map_err(short("open a pseudo-terminal"))?;
            prepared.controlling_terminal = true;
            let t = &pair.terminal;
            (launch(&prepared, [t, t, t]), ChildOutput::Terminal(pair.master))
        }
        false => {
            let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(short("create a pipe"));
            let (out_r, out_w) = pipe()?;
            let null = open("/dev/null", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(short("open /dev/null"))?;
            match spec.stderr == Some(crate::config::Output::Stdout) {
                true => (
                    launch(&prepared, [&null, &out_w, &out_w]),
                    ChildOutput::Pipes { stdout: out_r, stderr: None },
                ),
                false => {
                    let (err_r, err_w) = pipe()?;
                    let output = ChildOutput::Pipes { stdout: out_r, stderr: Some(err_r) };
                    (launch(&prepared, [&null, &out_w, &err_w]), output)
                }
            }
        }
    };
    match launched {
        Ok(pid) => Ok(Child { pid, output }),
        Err(Launch::Resource { what, errno }) => Err(SpawnError::Resource { what, errno }),
        Err(Launch::Failed(stage, errno)) => {
            // Refused to the program's user, not to taskmaster: said, or it reads as nonsense
            // under a root taskmaster.
            let user = prepared.credentials.as_ref().and(spec.run_as.as_ref()).map(|r| r.user.clone());
            let as_user = |error: SpawnError| match (user.clone(), errno) {
                (Some(user), Errno::EACCES | Errno::EPERM) => {
                    SpawnError::AsUser { error: Box::new(error), user }
                }
                _ => error,
            };
            Err(match stage {
                Stage::Chdir => {
                    as_user(SpawnError::Chdir { dir: spec.workingdir.clone().unwrap_or_default(), errno })
                }
                Stage::Exec => as_user(SpawnError::Exec { program, errno }),
                Stage::Setup => SpawnError::Setup(errno),
                Stage::Rlimit(n) => {
                    let (limit, value) = spec.rlimits.iter().nth(n).map_or(("?", 0), |(l, v)| (l.name(), *v));
                    SpawnError::Rlimit { limit, value: crate::config::rlimits::shown(value), errno }
                }
                Stage::Setgroups | Stage::Setgid | Stage::Setuid => SpawnError::Credentials {
                    step: match stage {
                        Stage::Setgroups => "setgroups",
                        Stage::Setgid => "setgid",
                        _ => "setuid",
                    },
                    user: spec.run_as.as_ref().map_or_else(String::new, |r| r.user.clone()),
                    errno,
                },
            })
        }
    }
}

/// Starts one of taskmaster's own helpers: `program` (a path) with `argv`, taskmaster's
/// environment and `env`, `stdio` as its descriptors 0 to 2; a session of its own, so that its
/// whole group can be killed at its deadline; taskmaster's own user and limits.
pub(crate) fn spawn_helper(
    program: &Path,
    argv: &[String],
    env: &[(String, String)],
    stdio: [&OwnedFd; 3],
) -> Result<Pid, SpawnError> {
    let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| SpawnError::NulByte);
    let set_later = |key: &str| env.iter().any(|(k, _)| k == key);
    let inherited = std::env::vars_os().filter(|(k, _)| !set_later(&k.to_string_lossy()));
    let given = env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v)));
    let (soft, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let prepared = Prepared {
        program: c(program.as_os_str().as_bytes())?,
        argv: argv.iter().map(|a| c(a.as_bytes())).collect::<Result<_, _>>()?,
        envp: inherited
            .chain(given)
            .map(|(k, v)| c(&[k.into_vec(), b"=".to_vec(), v.into_vec()].concat()))
            .collect::<Result<_, _>>()?,
        workingdir: None,
        umask: None,
        nofile: libc::rlimit { rlim_cur: soft, rlim_max: hard },
        rlimits: Vec::new(),
        fd_limit: libc::c_int::try_from(soft).unwrap_or(libc::c_int::MAX),
        no_signals: SigSet::empty(),
        credentials: None,
        controlling_terminal: false,
    };
    match launch(&prepared, stdio) {
        Ok(pid) => Ok(pid),
        Err(Launch::Resource { what, errno }) => Err(SpawnError::Resource { what, errno }),
        Err(Launch::Failed(Stage::Exec, errno)) => Err(SpawnError::Exec { program: program.into(), errno }),
        Err(Launch::Failed(_, errno)) => Err(SpawnError::Setup(errno)),
    }
}

impl Prepared {
    /// The environment is taskmaster's own, then `identity` (who the process is: its name and
    /// its user's HOME, USER, LOGNAME, SHELL), then the program's `env`, each later one winning.
    fn new(spec: &ProgramSpec, identity: &[(&str, String)], program: &Path) -> Result<Prepared, SpawnError> {
        let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| SpawnError::NulByte);
        let user_env: Vec<(&str, String)> = spec.run_as.iter().flat_map(|r| r.environment()).collect();
        let identity: Vec<&(&str, String)> = identity.iter().chain(user_env.iter()).collect();
        let set_later = |key: &str| spec.env.contains_key(key) || identity.iter().any(|(k, _)| *k == key);
        let mut env: Vec<(OsString, OsString)> =
            std::env::vars_os().filter(|(k, _)| !set_later(&k.to_string_lossy())).collect();
        env.extend(
            identity
                .iter()
                .filter(|(k, _)| !spec.env.contains_key(*k))
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        // Only root changes users; otherwise the configuration allowed only taskmaster's own.
        let credentials = spec
            .run_as
            .as_ref()
            .filter(|_| nix::unistd::geteuid().is_root())
            .map(|r| Credentials { groups: r.groups.clone(), gid: r.gid, uid: r.uid });
        env.extend(spec.env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        Ok(Prepared {
            program: c(program.as_os_str().as_bytes())?,
            argv: spec.cmd.argv.iter().map(|a| c(a.as_bytes())).collect::<Result<_, _>>()?,
            envp: env
                .into_iter()
                .map(|(k, v)| c(&[k.into_vec(), b"=".to_vec(), v.into_vec()].concat()))
                .collect::<Result<_, _>>()?,
            workingdir: spec.workingdir.as_ref().map(|d| c(d.as_os_str().as_bytes())).transpose()?,
            umask: spec.umask.map(|m| m.0 as libc::mode_t),
            nofile: libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY },
            rlimits: spec
                .rlimits
                .iter()
                .map(|(limit, value)| {
                    let resource = super::limits::resource_of(*limit) as libc::__rlimit_resource_t;
                    (resource, libc::rlimit { rlim_cur: *value, rlim_max: *value })
                })
                .collect(),
            fd_limit: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(1024, |(soft, _)| libc::c_int::try_from(soft).unwrap_or(libc::c_int::MAX)),
            no_signals: SigSet::empty(),
            credentials,
            controlling_terminal: false,
        })
    }
}
