//! `attach` and `tail -f` from taskmasterctl (taskmaster(1), ATTACH): a connection of their own,
//! a first answer, then the process's output as it comes; for `attach`, the terminal in raw
//! mode with keys and window sizes sent as frames (see `control::stream`), until the detach key,
//! the process's exit or a signal. The terminal's mode is put back on every way out: by this
//! code on those it sees, by a watchdog process on those it cannot (SIGKILL).

use super::{ClientError, Connection, CtlExit, MAX_ANSWER};
use crate::config::DetachKey;
use crate::control::protocol::Response;
use crate::control::stream::{ALTERNATE_SCREEN_OFF, Frame, MAX_KEYS, MODES_OFF, screen_switch, until_detach};
use crate::sys::pty::{self, WindowSize};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::termios::{self, SetArg, Termios};
use signal_hook::consts::{SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook_mio::v1_0::Signals;
use std::cell::Cell;
use std::io::{BufRead, ErrorKind, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

const STDIN: Token = Token(0);
const SOCKET: Token = Token(1);
const SIGNALS: Token = Token(2);

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// taskmaster refused (the answer is printed): exit 1.
    Refused,
    /// The detach key (or Ctrl-C where keys go nowhere, or to stop `tail -f`).
    Left,
    /// The end of the stream, said by taskmaster in it (the process exited, taskmaster shuts
    /// down).
    Closed,
    /// The connection ended with nothing said: taskmaster went away (exit status 2).
    Lost,
    /// A signal from elsewhere (SIGTERM, SIGHUP): the client ends too.
    Signalled,
}

impl Ended {
    pub(crate) fn exit(&self) -> CtlExit {
        match self {
            Ended::Refused => CtlExit::Failed,
            Ended::Lost => CtlExit::Usage,
            Ended::Left | Ended::Closed | Ended::Signalled => CtlExit::Ok,
        }
    }
}

/// Why `attach` cannot run where stdin is no terminal.
pub(crate) const NOT_A_TERMINAL: &str = "attach needs a terminal: standard input is not one \
                                         (to follow a process's output, use `tail -f NAME`)";

/// Runs `attach` or `tail -f`, as `words` say; output goes to stdout, the first answer's text
/// there too (`json`: the whole answer as JSON).
pub(crate) fn run(path: &Path, words: &[String], attach: bool, json: bool) -> Result<Ended, String> {
    if attach && !std::io::stdin().is_terminal() {
        return Err(NOT_A_TERMINAL.to_string());
    }
    let mut connection = Connection::open(path).map_err(|e| e.to_string())?;
    let request = super::request(words);
    connection
        .writer
        .write_all(&super::encode(&request).map_err(|e| e.to_string())?)
        .map_err(|e| lost(path, &e))?;
    let answer = read_answer(&mut connection, path)?;
    let text = match json {
        true => serde_json::to_string(&answer).unwrap_or_default(),
        false => answer.output.clone(),
    };
    if !answer.ok {
        super::print_line(&text);
        return Ok(Ended::Refused);
    }
    // Bytes of the stream that came with the answer.
    let early = connection.reader.buffer().to_vec();
    let socket = connection.reader.into_inner();
    let ended = match attach {
        false => {
            if !text.is_empty() {
                super::print_line(&text);
            }
            if !json && std::io::stdout().is_terminal() {
                let (name, which) = (answer.data["name"].as_str(), answer.data["stream"].as_str());
                super::print_line(&format!(
                    "[following {} of {}: Ctrl-C stops]",
                    which.unwrap_or_default(),
                    name.unwrap_or_default()
                ));
            }
            stream(socket, &early, None).map(|(ended, _)| ended)
        }
        true => {
            let detach = answer.data["detach_key"].as_str().and_then(DetachKey::parse).unwrap_or_default();
            let keys = answer.data["tty"].as_bool().unwrap_or(false);
            let name = answer.data["name"].as_str().unwrap_or_default().to_string();
            let raw = RawTerminal::enter(keys)?;
            write_out(format!("{text}\r\n").as_bytes());
            let before = raw.before.clone();
            let alternate_screen = Cell::new(answer.data["alternate_screen"].as_bool().unwrap_or(false));
            let attached = Attached { detach, keys, before, alternate_screen };
            let ended = stream(socket, &early, Some(&attached));
            // What a full-screen program left on in the terminal goes with it.
            if keys {
                if attached.alternate_screen.get() {
                    write_out(ALTERNATE_SCREEN_OFF);
                }
                write_out(MODES_OFF);
            }
            drop(raw);
            if let Ok((Ended::Left, at_line_start)) = ended {
                // Said once the mode is back, on a line of its own.
                let new_line = if at_line_start { "" } else { "\n" };
                write_out(format!("{new_line}[detached from {name}]\n").as_bytes());
            }
            ended.map(|(ended, _)| ended)
        }
    };
    if let Ok(Ended::Lost) = ended {
        // On a line of its own, after whatever the stream left unfinished.
        eprintln!("\ntaskmasterctl: {}", lost(path, &std::io::Error::other("taskmaster went away")));
    }
    ended
}

/// What an attachment needs besides the socket.
struct Attached {
    detach: DetachKey,
    /// The process has a terminal: keys go to it (else Ctrl-C leaves, as the detach key does).
    keys: bool,
    /// The terminal's mode before, to make the attached one from again.
    before: Termios,
    /// The program's terminal shows the alternate screen, as far as its output says.
    alternate_screen: Cell<bool>,
}

impl Attached {
    fn reenter(&self) {
        let mode = crate::sys::tty::attached_mode(&self.before, self.keys);
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &mode);
    }
}

fn lost(path: &Path, e: &std::io::Error) -> String {
    ClientError::Lost { path: path.to_path_buf(), why: crate::config::describe_io(e) }.to_string()
}

fn read_answer(connection: &mut Connection, path: &Path) -> Result<Response, String> {
    let mut line = Vec::new();
    let read = (&mut connection.reader).take(MAX_ANSWER as u64 + 1).read_until(b'\n', &mut line);
    let unreadable = |why: String| ClientError::Unreadable { path: path.to_path_buf(), why }.to_string();
    match read {
        Ok(0) => {
            Err(ClientError::Lost { path: path.to_path_buf(), why: "taskmaster closed it".into() }
                .to_string())
        }
        Ok(_) => {
            serde_json::from_slice(&line).map_err(|e| unreadable(format!("not JSON of the protocol ({e})")))
        }
        Err(e) => Err(lost(path, &e)),
    }
}

/// Copies the stream to stdout (and, attached, keys and window sizes to it) until it ends; says
/// too whether the output ended a line. Output is read a few chunks at a time, keys and signals
/// looked at in between: a flood on the way in never keeps the user from leaving.
fn stream(socket: UnixStream, early: &[u8], attached: Option<&Attached>) -> Result<(Ended, bool), String> {
    write_out(early);
    let mut at_line_start = early.is_empty() || early.ends_with(b"\n");
    // taskmaster ends a stream with a note of its own: without one, it went away.
    let mut noted = early.ends_with(b"]\r\n");
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut socket = mio::net::UnixStream::from_std(socket);
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGCONT]).map_err(|e| e.to_string())?;
    let registry = poll.registry();
    registry.register(&mut signals, SIGNALS, Interest::READABLE).map_err(|e| e.to_string())?;
    registry.register(&mut socket, SOCKET, Interest::READABLE).map_err(|e| e.to_string())?;
    if attached.is_some() {
        registry.register(&mut SourceFd(&0), STDIN, Interest::READABLE).map_err(|e| e.to_string())?;
        send_size(&mut socket);
    }
    let mut events = Events::with_capacity(8);
    let mut buf = vec![0u8; OUTPUT_CHUNK];
    // The socket had more than one pass took: poll only looks at the rest, then it goes on.
    let mut unread = false;
    loop {
        let timeout = unread.then_some(std::time::Duration::ZERO);
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        let mut tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        if unread {
            tokens.push(SOCKET);
        }
        // Keys and signals first: the way out.
        tokens.sort_by_key(|t| *t == SOCKET);
        tokens.dedup();
        for token in tokens {
            match token {
                SOCKET => {
                    unread = false;
                    for _ in 0..CHUNKS_AT_ONCE {
                        match socket.read(&mut buf) {
                            Ok(0) if noted => return Ok((Ended::Closed, at_line_start)),
                            Ok(0) => return Ok((Ended::Lost, at_line_start)),
                            Ok(n) => {
                                write_out(&buf[..n]);
                                at_line_start = buf[n - 1] == b'\n';
                                noted = buf[..n].ends_with(b"]\r\n");
                                unread = true;
                                if let (Some(attached), Some(on)) = (attached, screen_switch(&buf[..n])) {
                                    attached.alternate_screen.set(on);
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                unread = false;
                                break;
                            }
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => return Ok((Ended::Lost, at_line_start)),
                        }
                    }
                }
                STDIN => {
                    let Some(attached) = attached else { continue };
                    let n = nix::unistd::read(std::io::stdin().as_fd(), &mut buf[..MAX_KEYS]).unwrap_or(0);
                    let (keys, leave) = until_detach(&buf[..n], attached.detach.0, !attached.keys);
                    if attached.keys && !keys.is_empty() {
                        send(&mut socket, &Frame::Keys(keys.to_vec()));
                    }
                    if leave {
                        return Ok((Ended::Left, at_line_start));
                    }
                }
                _ => {
                    for signal in signals.pending() {
                        match (signal, attached) {
                            (SIGWINCH, Some(_)) => send_size(&mut socket),
                            // Back from a stop: the shell that stopped it had its own mode.
                            (SIGCONT, Some(attached)) => attached.reenter(),
                            (SIGWINCH | SIGCONT, None) => {}
                            (SIGINT, _) => return Ok((Ended::Left, at_line_start)),
                            _ => return Ok((Ended::Signalled, at_line_start)),
                        }
                    }
                }
            }
        }
    }
}

/// Bytes of output read at once, and reads before keys and signals are looked at again: a
/// slow standard output (a pipe to a slow reader) holds the way out back by one chunk at most.
const OUTPUT_CHUNK: usize = 16 * 1024;
const CHUNKS_AT_ONCE: usize = 4;

/// Frames are small and rare (keys as typed, a window size): each is written whole, waiting a
/// second at most for the socket to take it; a taskmaster that takes nothing for that long
/// (stopped, say) loses the frame, and the user can still leave.
fn send(socket: &mut mio::net::UnixStream, frame: &Frame) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let bytes = frame.encode();
    let mut sent = 0;
    while sent < bytes.len() {
        match socket.write(&bytes[sent..]) {
            Ok(0) => return,
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let fd = std::os::fd::AsFd::as_fd(socket);
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                if !matches!(poll(&mut fds, PollTimeout::from(1000u16)), Ok(n) if n > 0) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn send_size(socket: &mut mio::net::UnixStream) {
    let size = pty::size_of(std::io::stdin().as_fd()).unwrap_or(WindowSize { rows: 24, cols: 80 });
    send(socket, &Frame::Resize(size));
}

/// Output as it comes; a reader gone (`| head`) ends taskmasterctl as a filter ends.
fn write_out(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush())
        && e.kind() == ErrorKind::BrokenPipe
    {
        std::process::exit(128 + libc::SIGPIPE);
    }
}

/// The user's terminal in raw mode while attached; its mode comes back when this drops.
struct RawTerminal {
    before: Termios,
    _watchdog: Option<crate::sys::tty::Watchdog>,
}

impl RawTerminal {
    fn enter(keys: bool) -> Result<RawTerminal, String> {
        let stdin = std::io::stdin();
        let before = termios::tcgetattr(stdin.as_fd())
            .map_err(|e| format!("cannot use the terminal: {}", e.desc()))?;
        let watchdog = crate::sys::tty::Watchdog::start(&before);
        let mode = crate::sys::tty::attached_mode(&before, keys);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &mode)
            .map_err(|e| format!("cannot use the terminal: {}", e.desc()))?;
        Ok(RawTerminal { before, _watchdog: watchdog })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.before);
    }
}
