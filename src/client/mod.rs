//! The client side of the control socket, for `taskmasterctl`: where the socket is, one request and
//! its answer, and what exit status an answer means (taskmaster(1), EXIT STATUS).

pub(crate) mod attach;
pub(crate) mod command_line;
pub(crate) mod shell;

use crate::config::{self, describe_io};
use crate::control::command::{Command, Order};
use crate::control::protocol::{MAX_LINE, Request, Response};
use crate::control::render::StatusRecord;
use crate::process::StateName;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// `taskmasterctl --help` (the command list follows it).
pub const USAGE: &str = "\
usage: taskmasterctl [-c FILE | -s SOCKET] [--json] [-h] [-V] [COMMAND [ARG...]]

Sends COMMAND to a running taskmaster and prints its answer; without a COMMAND,
opens a shell of commands (prompt `taskmasterctl> `).

options:
  -c, --config FILE    find the socket in this configuration file
  -s, --socket SOCKET  the control socket to use
      --json           print the whole answer as one line of JSON
  -h, --help           print this help and exit
  -V, --version        print the version and exit

exit status: 0 success; 1 taskmaster answered with an error; 2 usage error or no
taskmaster; 3 `status` lists a process that is STOPPED, EXITED or FATAL.

Commands (`taskmasterctl help COMMAND` for one):";

/// Prints a line on standard output. A reader that went away (`taskmasterctl status | head`)
/// ends taskmasterctl quietly, with the status a filter killed by SIGPIPE has (141), as any Unix
/// filter; any other failure (a closed terminal) is ignored.
pub(crate) fn print_line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(128 + libc::SIGPIPE);
    }
}

/// Exit statuses of `taskmasterctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlExit {
    Ok = 0,
    /// The daemon answered with an error for some target.
    Failed = 1,
    /// A usage error, or no daemon to talk to.
    Usage = 2,
    /// `status` lists a process that is STOPPED, EXITED or FATAL.
    NotRunning = 3,
}

impl CtlExit {
    pub const ALL: [CtlExit; 4] = [CtlExit::Ok, CtlExit::Failed, CtlExit::Usage, CtlExit::NotRunning];
}

/// The socket to talk to: `-s`, else the config of `-c`, else the default config file if there is
/// one, else the default socket path. Only the file's `taskmaster` section matters: a mistake in
/// a program must not keep anyone from the running daemon, so it comes back as a warning.
pub(crate) fn socket_path(
    socket: Option<&Path>,
    config_file: Option<&Path>,
) -> Result<(PathBuf, Option<String>), String> {
    if let Some(socket) = socket {
        return Ok((socket.to_path_buf(), None));
    }
    let file = match config_file.map(Path::to_path_buf).or_else(config::find_default) {
        Some(file) => file,
        None => {
            let here = config::Context::for_file(Path::new("taskmaster.yaml"), config::Purpose::Connect);
            return Ok((here.default_socket(), None));
        }
    };
    match config::load_for(&file, config::Purpose::Connect) {
        Ok(config) => {
            trust(config.daemon.user.as_ref());
            Ok((config.daemon.socket, None))
        }
        Err(errors) => {
            let daemon = config::load_daemon(&file).map_err(|e| e.to_string())?;
            trust(daemon.user.as_ref());
            let shown = file.display();
            let warning = format!(
                "warning: {shown} has {} (`taskmaster --check -c {shown}` lists them); its socket is {}",
                match errors.problems.len() {
                    1 => "an error".to_string(),
                    n => format!("{n} errors"),
                },
                daemon.socket.display()
            );
            Ok((daemon.socket, Some(warning)))
        }
    }
}

/// A connection to the daemon.
pub(crate) struct Connection {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    path: PathBuf,
}

/// The longest answer read: as much as taskmaster queues for one client before it drops it.
pub(crate) const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// What went wrong between taskmasterctl and taskmaster, said once, by `Display`.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// The socket could not be reached.
    Connect { path: PathBuf, source: std::io::Error },
    /// Who serves the socket could not be told.
    Credentials { path: PathBuf, errno: nix::errno::Errno },
    /// The socket is served by another user's program.
    Stranger { path: PathBuf, uid: u32 },
    /// The connection broke, or taskmaster closed it.
    Lost { path: PathBuf, why: String },
    /// The answer was not one: too long, or not JSON of the protocol.
    Unreadable { path: PathBuf, why: String },
    /// The command is longer than a request may be (taskmaster would close the connection).
    TooLong { bytes: usize },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ClientError::Connect { path, source } => {
                let hint = match source.kind() {
                    std::io::ErrorKind::PermissionDenied => "(taskmaster's socket_mode does not let you in)",
                    _ => "(is taskmaster running?)",
                };
                write!(f, "cannot connect to {}: {} {hint}", path.display(), describe_io(source))
            }
            ClientError::Credentials { path, errno } => {
                write!(f, "cannot tell who serves {}: {}", path.display(), errno.desc())
            }
            ClientError::Stranger { path, uid } => write!(
                f,
                "{} is served by a program of {}, not by you or root: refusing to talk to it \
                 (if it is a taskmaster that gives root up to that user, name its file with -c)",
                path.display(),
                crate::control::socket_file::user_name(*uid)
            ),
            ClientError::Lost { path, why } => write!(f, "lost the connection to {}: {why}", path.display()),
            ClientError::Unreadable { path, why } => {
                write!(f, "unreadable answer from {}: {why}", path.display())
            }
            ClientError::TooLong { bytes } => write!(
                f,
                "the command is too long to send ({bytes} bytes; a request is at most {MAX_LINE}): \
                 name fewer targets at once, or a program instead of its processes"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// Connects to the socket at `path` and checks who serves it.
pub(crate) fn connect(path: &Path) -> Result<UnixStream, ClientError> {
    let stream = UnixStream::connect(path)
        .map_err(|source| ClientError::Connect { path: path.to_path_buf(), source })?;
    check_peer(&stream, path)?;
    Ok(stream)
}

/// The user the configuration file makes taskmaster run as (`taskmaster: user:`), whom the
/// client trusts at the socket too.
static DAEMON_USER: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

fn trust(user: Option<&config::RunAs>) {
    if let Some(user) = user {
        let _ = DAEMON_USER.set(user.uid);
    }
}

/// Talks only to a daemon run by root, by the user itself, or by the user its configuration file
/// says it runs as (the kernel says who is at the other end), so that a socket another user put
/// in the way gets no command and forges no answer.
fn check_peer(stream: &impl std::os::fd::AsFd, path: &Path) -> Result<(), ClientError> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let peer = getsockopt(stream, PeerCredentials)
        .map_err(|errno| ClientError::Credentials { path: path.to_path_buf(), errno })?;
    let me = nix::unistd::getuid().as_raw();
    match peer.uid() == me || peer.uid() == 0 || DAEMON_USER.get() == Some(&peer.uid()) {
        true => Ok(()),
        false => Err(ClientError::Stranger { path: path.to_path_buf(), uid: peer.uid() }),
    }
}

impl Connection {
    pub(crate) fn open(path: &Path) -> Result<Connection, ClientError> {
        let stream = connect(path)?;
        let lost = |e: std::io::Error| ClientError::Lost { path: path.to_path_buf(), why: describe_io(&e) };
        let writer = stream.try_clone().map_err(lost)?;
        Ok(Connection { reader: BufReader::new(stream), writer, path: path.to_path_buf() })
    }

    /// Sends one request and waits for its answer.
    pub(crate) fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        let path = self.path.clone();
        let lost = |why: String| ClientError::Lost { path: path.clone(), why };
        // A refused connection (too many clients) is answered and closed before the request
        // arrives: the answer that waits says why, better than the broken pipe.
        let sent = self.writer.write_all(&encode(request)?);
        let mut line = Vec::new();
        if let Err(e) = sent {
            let waiting = (&mut self.reader).take(MAX_ANSWER as u64).read_until(b'\n', &mut line);
            return match waiting.ok().and_then(|_| serde_json::from_slice::<Response>(&line).ok()) {
                Some(answer) => Ok(answer),
                None => Err(lost(describe_io(&e))),
            };
        }
        let read = (&mut self.reader).take(MAX_ANSWER as u64 + 1).read_until(b'\n', &mut line);
        let unreadable = |why: String| ClientError::Unreadable { path: path.clone(), why };
        match read {
            Ok(0) => Err(lost("taskmaster closed it".into())),
            Ok(n) if n > MAX_ANSWER => Err(unreadable(format!("an answer longer than {MAX_ANSWER} bytes"))),
            Ok(_) => serde_json::from_slice(&line)
                .map_err(|e| unreadable(format!("not JSON of the protocol ({e})"))),
            Err(e) => Err(lost(describe_io(&e))),
        }
    }
}

/// The line that carries `request`, if taskmaster takes one that long.
pub(crate) fn encode(request: &Request) -> Result<Vec<u8>, ClientError> {
    let line = request.to_line();
    match line.len() > MAX_LINE {
        true => Err(ClientError::TooLong { bytes: line.len() }),
        false => Ok(line),
    }
}

/// The exit status for an answer to `command`.
pub(crate) fn exit_status(command: &Command, response: &Response) -> CtlExit {
    if !response.ok {
        return CtlExit::Failed;
    }
    match command {
        Command::Order(Order::Status(_)) if status_records(response).iter().any(not_running) => {
            CtlExit::NotRunning
        }
        _ => CtlExit::Ok,
    }
}

/// The records of a `status` answer (none if it is not one).
pub(crate) fn status_records(response: &Response) -> Vec<StatusRecord> {
    serde_json::from_value(response.data.clone()).unwrap_or_default()
}

fn not_running(record: &StatusRecord) -> bool {
    matches!(record.state, StateName::Stopped | StateName::Exited | StateName::Fatal)
}

/// The request that carries the command `words` (as typed) to taskmaster.
pub(crate) fn request(words: &[String]) -> Request {
    match words.split_first() {
        Some((name, args)) => Request::new(name, args),
        None => Request::new("", &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(state: &str) -> serde_json::Value {
        json!({"name": "a", "program": "a", "state": state, "pid": null, "uptime": null,
               "exitstatus": null, "signal": null, "retries": 0, "description": "", "expected": null})
    }

    #[test]
    fn status_exits_3_when_something_is_not_running() {
        let status = Command::Order(Order::Status(vec![]));
        let ok = |data| Response { ok: true, output: String::new(), data };
        let running = ok(json!([record("RUNNING")]));
        let exited = ok(json!([record("RUNNING"), record("EXITED")]));
        assert_eq!(exit_status(&status, &running), CtlExit::Ok);
        assert_eq!(exit_status(&status, &exited), CtlExit::NotRunning);
        assert_eq!(exit_status(&Command::Order(Order::Start(vec![])), &exited), CtlExit::Ok);
        assert_eq!(exit_status(&status, &Response::error("x")), CtlExit::Failed);
    }

    #[test]
    fn the_socket_comes_from_the_flag_first() {
        let flag = Path::new("/run/x.sock");
        assert_eq!(
            socket_path(Some(flag), Some(Path::new("/nonexistent.yaml"))),
            Ok((flag.to_path_buf(), None))
        );
        assert!(socket_path(None, Some(Path::new("/nonexistent.yaml"))).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn a_broken_program_does_not_hide_the_socket() {
        let dir = std::env::temp_dir().join(format!("tm-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.yaml");
        std::fs::write(
            &file,
            "taskmaster:\n  socket: here.sock\nprograms:\n  a:\n    cmd: a\n    numprocs: 0\n",
        )
        .unwrap();
        let (socket, warning) = socket_path(None, Some(&file)).unwrap();
        assert_eq!(socket, dir.join("here.sock"));
        let warning = warning.expect("a warning");
        assert!(warning.contains("has an error") && warning.contains("taskmaster --check"), "{warning}");
        std::fs::write(&file, "taskmaster:\n  socket: [1]\nprograms:\n  a:\n    cmd: a\n").unwrap();
        assert!(socket_path(None, Some(&file)).unwrap_err().contains("socket"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
