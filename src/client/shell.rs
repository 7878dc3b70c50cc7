//! `taskmasterctl` without a command: the same shell as taskmaster's own (the same `Session`),
//! connected over the socket (prompt `taskmasterctl> `). One thread and one poll, like the
//! daemon: stdin, the socket and signals. The daemon going away ends the shell (exit 2) instead of
//! leaving it hung.

use super::{ClientError, CtlExit, MAX_ANSWER, request, status_records};
use crate::control::command::{Command, Order};
use crate::control::protocol::{Request, Response};
use crate::control::render;
use crate::shell::complete::target_names;
use crate::shell::editor::{Editor, Refresh, Targets};
use crate::shell::session::{Next, Session};
use mio::net::UnixStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCONT, SIGINT, SIGTERM, SIGWINCH};
use signal_hook_mio::v1_0::Signals;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const STDIN: Token = Token(0);
const SOCKET: Token = Token(1);
const SIGNALS: Token = Token(2);
const TERMINAL: Token = Token(3);

/// Why a request was sent, so that its answer is handled the right way.
enum Asked {
    /// Typed (or the first `status`): the session prints the answer.
    Typed(Command),
    /// Sent to learn the process names for Tab completion: nothing is printed.
    Names,
}

struct Shell {
    poll: Poll,
    path: PathBuf,
    socket: UnixStream,
    input: Vec<u8>,
    asked: VecDeque<Asked>,
    session: Session,
    editor: Editor,
    targets: Targets,
    color: bool,
}

/// Runs the interactive shell; returns the exit status.
pub(crate) fn run(path: &Path, history: Option<PathBuf>) -> Result<CtlExit, String> {
    let targets: Targets = Arc::new(Mutex::new(vec!["all".to_string()]));
    let note = "(some output was dropped while the terminal did not take it)";
    let editor = Editor::open("taskmasterctl", "taskmasterctl> ", history, targets.clone(), note)
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    let console = editor.console();
    editor.refresh_targets_with(targets.clone(), fresh_names(path.to_path_buf()));
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGWINCH, SIGCONT]).map_err(|e| e.to_string())?;
    poll.registry().register(&mut signals, SIGNALS, Interest::READABLE).map_err(|e| e.to_string())?;
    poll.registry().register(&mut SourceFd(&0), STDIN, Interest::READABLE).map_err(|e| e.to_string())?;
    let out = console.output_fd().ok_or("the terminal has no output")?;
    poll.registry().register(&mut SourceFd(&out), TERMINAL, Interest::WRITABLE).map_err(|e| e.to_string())?;
    let socket = connect(&poll, path)?;
    let mut s = Shell {
        poll,
        path: path.to_path_buf(),
        socket,
        input: Vec::new(),
        asked: VecDeque::new(),
        session: Session::new(console.clone()),
        editor,
        targets,
        color: render::color_wanted(),
    };
    // As supervisorctl does, the shell opens with `status`, as if it had been typed.
    s.send(&Request::new("status", &[]), Asked::Typed(Command::Order(Order::Status(Vec::new()))))?;
    let mut events = Events::with_capacity(16);
    loop {
        match s.poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
        for token in tokens {
            let done = match token {
                SOCKET => s.on_socket()?,
                TERMINAL => {
                    console.flush();
                    None
                }
                STDIN => {
                    let typed = s.editor.on_readable();
                    s.session.take(typed);
                    s.run_typed()?
                }
                _ => {
                    let pending: Vec<i32> = signals.pending().collect();
                    s.on_signals(&pending)?
                }
            };
            if let Some(exit) = done {
                return Ok(exit);
            }
        }
    }
}

/// The targets Tab completes, from the answer to a whole `status`.
fn names_in(response: &Response) -> Vec<String> {
    let mut programs: Vec<(String, Vec<String>)> = Vec::new();
    for record in status_records(response) {
        match programs.iter_mut().find(|(p, _)| *p == record.program) {
            Some((_, names)) => names.push(record.name),
            None => programs.push((record.program, vec![record.name])),
        }
    }
    target_names(programs.iter().map(|(p, n)| (p.as_str(), n.clone())))
}

/// Tab asks for the names over a connection of its own, so that a reload made elsewhere shows;
/// it waits a second at most (a shell is no place to hang).
fn fresh_names(path: PathBuf) -> Refresh {
    Box::new(move || {
        let mut connection = super::Connection::open(&path).ok()?;
        connection.reader.get_ref().set_read_timeout(Some(std::time::Duration::from_secs(1))).ok()?;
        let response = connection.call(&Request::new("status", &[])).ok()?;
        Some(names_in(&response))
    })
}

fn connect(poll: &Poll, path: &Path) -> Result<UnixStream, String> {
    let std = super::connect(path).map_err(|e| e.to_string())?;
    std.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut socket = UnixStream::from_std(std);
    poll.registry().register(&mut socket, SOCKET, Interest::READABLE).map_err(|e| e.to_string())?;
    Ok(socket)
}

impl Shell {
    fn send(&mut self, request: &Request, why: Asked) -> Result<(), String> {
        // Requests are at most 64 KiB: the socket buffer takes them whole.
        let line = super::encode(request).map_err(|e| e.to_string())?;
        self.socket.write_all(&line).map_err(|_| self.gone())?;
        self.asked.push_back(why);
        Ok(())
    }

    fn gone(&self) -> String {
        format!("taskmaster went away ({} is closed)", self.path.display())
    }

    /// Answers from the daemon; `Some` when the session ends.
    fn on_socket(&mut self) -> Result<Option<CtlExit>, String> {
        let mut buf = [0u8; 64 * 1024];
        let mut closed = false;
        loop {
            match self.socket.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(self.gone()),
            }
            if self.input.len() > MAX_ANSWER && !self.input.contains(&b'\n') {
                return Err(self.unreadable(format!("an answer longer than {MAX_ANSWER} bytes")));
            }
        }
        // Answers that came before the end are shown before the end is.
        while let Some(end) = self.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            let response: Response = serde_json::from_slice(&line)
                .map_err(|e| self.unreadable(format!("not JSON of the protocol ({e})")))?;
            if let Some(exit) = self.on_answer(response)? {
                return Ok(Some(exit));
            }
        }
        match closed {
            true => Err(self.gone()),
            false => Ok(None),
        }
    }

    fn unreadable(&self, why: String) -> String {
        ClientError::Unreadable { path: self.path.clone(), why }.to_string()
    }

    fn on_answer(&mut self, response: Response) -> Result<Option<CtlExit>, String> {
        match self.asked.pop_front() {
            Some(Asked::Typed(command)) => {
                self.session.answer(&render::response_text(&response, self.color));
                match command {
                    // taskmaster has stopped everything and is gone: so is the shell.
                    Command::Order(Order::Shutdown) if response.ok => return Ok(Some(CtlExit::Ok)),
                    // The whole status names every process: nothing more to ask.
                    Command::Order(Order::Status(targets)) if targets.is_empty() => {
                        self.learn_names(&response)
                    }
                    // A command may have been a reload, here or from elsewhere: names for Tab
                    // completion are asked again.
                    _ => self.send(&Request::new("status", &[]), Asked::Names)?,
                }
            }
            Some(Asked::Names) => self.learn_names(&response),
            None => {}
        }
        match self.asked.is_empty() {
            true => self.run_typed(),
            false => Ok(None),
        }
    }

    fn learn_names(&mut self, response: &Response) {
        if let Ok(mut targets) = self.targets.lock() {
            *targets = names_in(response);
        }
    }

    /// Sends what was typed, one command at a time (see `Session`); `quit`, `exit` and Ctrl-D
    /// leave the client, and the daemon runs on.
    fn run_typed(&mut self) -> Result<Option<CtlExit>, String> {
        // No prompt while an answer is due (the first `status`, the names after a command).
        if !self.asked.is_empty() {
            return Ok(None);
        }
        let editor = &mut self.editor;
        match self.session.next(|| editor.prompt()) {
            None => Ok(None),
            Some(Next::Run(_, Command::Quit) | Next::HangUp) => Ok(Some(CtlExit::Ok)),
            Some(Next::Leave) => {
                super::print_line("");
                Ok(Some(CtlExit::Ok))
            }
            Some(Next::Run(words, command)) if super::command_line::streams(&command).is_some() => {
                // On a connection of its own, while the shell waits: its own stays as it is.
                let attach = super::command_line::streams(&command) == Some(true);
                match super::attach::run(&self.path, &words, attach, false) {
                    Ok(super::attach::Ended::Signalled) => return Ok(Some(CtlExit::Ok)),
                    Ok(_) => self.session.answer(""),
                    Err(message) => self.session.answer(&message),
                }
                let typed = self.editor.continued();
                self.session.take(typed);
                self.run_typed()
            }
            Some(Next::Run(words, command)) => {
                let request = request(&words);
                if let Err(e) = super::encode(&request) {
                    // Said like an answer; the shell goes on.
                    self.session.answer(&e.to_string());
                    return self.run_typed();
                }
                self.send(&request, Asked::Typed(command))?;
                Ok(None)
            }
        }
    }

    fn on_signals(&mut self, signals: &[i32]) -> Result<Option<CtlExit>, String> {
        for &signo in signals {
            match signo {
                SIGINT if self.session.is_busy() => {
                    // Stop waiting: a new connection drops the old one, and with it the wait (the
                    // command itself goes on in taskmaster).
                    let _ = self.poll.registry().deregister(&mut self.socket);
                    self.socket = connect(&self.poll, &self.path)?;
                    self.asked.clear();
                    self.input.clear();
                    self.session.interrupt();
                    return self.run_typed();
                }
                SIGINT => self.editor.clear_line(),
                SIGWINCH | SIGCONT => {
                    let typed = match signo {
                        SIGWINCH => self.editor.resized(),
                        _ => self.editor.continued(),
                    };
                    self.session.take(typed);
                    if let Some(exit) = self.run_typed()? {
                        return Ok(Some(exit));
                    }
                }
                _ => return Ok(Some(CtlExit::Ok)),
            }
        }
        Ok(None)
    }
}
