//! `tail -f` and `attach` (taskmaster(1), ATTACH): who follows which process's output, the
//! terminals of `tty: true` processes with the keys and window sizes sent to them, and
//! taskmaster's own shell while it follows or is attached. Output is passed on as capture reads
//! it (its `fed`), to a client's stream (bounded: see `Server::stream_out`) or to the console;
//! nothing is kept for a follower beyond that, and a process nobody follows costs nothing more.

use super::Daemon;
use crate::control::reply::{AttachReply, Reply};
use crate::control::stream::{
    ALTERNATE_SCREEN_OFF, ALTERNATE_SCREEN_ON, Frame, MODES_OFF, screen_switch, until_detach, without_queries,
};
use crate::process::ExitKind;
use crate::supervisor::{Hands, Requester};
use crate::sys::pty::{self, WindowSize};
use crate::tail::Stream;
use mio::Token;
use nix::sys::signal::Signal;
use nix::sys::termios::Termios;
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};

/// Lines of recent output shown again on attach.
const REPLAY_LINES: usize = 20;
/// At most this much of them: a client's stream takes 256 KiB at once.
const REPLAY_BYTES: usize = 64 * 1024;
/// Bytes of keys read from taskmaster's own terminal at once while attached.
const KEYS_AT_ONCE: usize = 4096;

#[derive(Default)]
pub(super) struct Attachments {
    watches: Vec<Watch>,
    pub(super) terminals: Terminals,
    /// taskmaster's own shell follows or is attached to a process.
    console: Option<ConsoleView>,
    /// Window sizes told so far, to order them.
    sizes_told: u64,
}

struct Watch {
    who: Requester,
    name: String,
    /// `None`: both streams (attach).
    stream: Option<Stream>,
    /// Attached to this run of the process: the attachment ends with it.
    pid: Option<Pid>,
    /// Keys go to it: it has a terminal.
    keys: bool,
    /// Its window's size, and when it was last told (a count): the terminal takes the size of
    /// the last one resized, and of the one before when that one leaves.
    size: Option<(WindowSize, u64)>,
}

/// taskmaster's own shell while it follows or is attached.
struct ConsoleView {
    name: String,
    /// The terminal's mode to go back to.
    mode: Option<Termios>,
    /// Keys go nowhere, so Ctrl-C leaves too.
    ctrl_c_leaves: bool,
    /// The last byte shown ended a line (the note on leaving starts a line of its own).
    at_line_start: bool,
    /// `tail -f` (left without a note), not `attach`.
    following: bool,
    /// The detach key when it began (a reload meanwhile does not change the key it told).
    detach: u8,
    /// The process's terminal shows the alternate screen (see `output::Stream`).
    alternate_screen: bool,
}

/// The master side of each `tty: true` process's terminal, by pid.
#[derive(Default)]
pub(super) struct Terminals(HashMap<Pid, OwnedFd>);

impl Terminals {
    pub(super) fn add(&mut self, pid: Pid, master: OwnedFd) {
        self.0.insert(pid, master);
    }

    pub(super) fn remove(&mut self, pid: Pid) {
        self.0.remove(&pid);
    }

    /// The descriptors they hold (one each, besides the one capture reads).
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Keys for the program. What its terminal does not take now (it does not read its input)
    /// is dropped: taskmaster never waits for it.
    fn type_keys(&self, pid: Pid, mut keys: &[u8]) {
        let Some(master) = self.0.get(&pid) else { return };
        while !keys.is_empty() {
            match nix::unistd::write(master, keys) {
                Ok(0) => return,
                Ok(n) => keys = &keys[n..],
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    /// The attached user's window size; the program hears SIGWINCH even when the size is the
    /// same, so that a full-screen program draws itself again for the new viewer.
    fn resize(&self, pid: Pid, size: WindowSize) {
        // A terminal of no size says nothing (a client that could not tell its own).
        let Some(master) = self.0.get(&pid).filter(|_| size.rows > 0 && size.cols > 0) else { return };
        let before = pty::size_of(master.as_fd());
        let _ = pty::set_size(master.as_fd(), size);
        // A terminal with no foreground group says 0, and killpg(0) would be taskmaster's own.
        if before == Some(size)
            && let Ok(group) = nix::unistd::tcgetpgrp(master)
            && group.as_raw() > 1
            && group != nix::unistd::getpgrp()
        {
            let _ = crate::sys::signals::send(group, Signal::SIGWINCH, true);
        }
    }
}

impl Attachments {
    /// `who`'s window has `size`: so has the terminal it is attached to, if it takes keys.
    fn resize(&mut self, who: Requester, size: WindowSize) {
        self.sizes_told += 1;
        let told = self.sizes_told;
        if let Some(watch) = self.watches.iter_mut().find(|w| w.who == who && w.keys)
            && let Some(pid) = watch.pid
        {
            watch.size = Some((size, told));
            self.terminals.resize(pid, size);
        }
    }

    /// `who` leaves: the terminal it was attached to takes the size of the last one still there.
    fn remove(&mut self, who: Requester) {
        let left: Vec<Watch> = self.watches.extract_if(.., |w| w.who == who).collect();
        for pid in left.iter().filter(|w| w.keys && w.size.is_some()).filter_map(|w| w.pid) {
            let sizes = self.watches.iter().filter(|w| w.pid == Some(pid)).filter_map(|w| w.size);
            if let Some((size, _)) = sizes.max_by_key(|(_, told)| *told) {
                self.terminals.resize(pid, size);
            }
        }
    }

    pub(super) fn watched(&self) -> HashSet<String> {
        self.watches.iter().map(|w| w.name.clone()).collect()
    }

    /// A process goes by another name: so do its followers (see `Hands::renamed`).
    pub(super) fn rename(&mut self, from: &str, to: &str) {
        for watch in self.watches.iter_mut().filter(|w| w.name == from) {
            watch.name = to.to_string();
        }
    }

    fn of(&self, who: Requester) -> Option<&Watch> {
        self.watches.iter().find(|w| w.who == who)
    }

    pub(super) fn console_attached(&self) -> bool {
        self.console.is_some()
    }
}

impl Daemon {
    /// `tail -f`: the last lines, then what the process writes, until the follower leaves.
    pub(super) fn follow(&mut self, from: Requester, name: String, stream: Stream, lines: usize) {
        let reply = self.tail(name.clone(), stream, lines);
        if !matches!(reply, Reply::Tail(_)) {
            return self.io.reply(from, reply);
        }
        if from == Requester::Console && !self.console_may_attach() {
            let why = "tail -f needs taskmaster's shell on a terminal (Ctrl-C ends it); elsewhere use \
                       `taskmasterctl tail -f`";
            return self.io.reply(from, Reply::Refused(why.to_string()));
        }
        let Some(early) = self.open_stream(from, &reply) else { return };
        if from == Requester::Console {
            let note = format!("[following {} of {name}: Ctrl-C stops]", stream.name());
            self.io.console.line(&note);
            self.enter_console(&name, true, true);
        }
        let watch = Watch { who: from, name, stream: Some(stream), pid: None, keys: false, size: None };
        self.io.attach.watches.push(watch);
        self.io.capture.watched = self.io.attach.watched();
        self.apply_frames(from, early);
    }

    /// `attach`: the recent output, then live output and, for a `tty: true` process, keys.
    pub(super) fn attach(&mut self, from: Requester, name: String) {
        let process = match self.process_named(&name, "attach to") {
            Ok(process) => process,
            Err(why) => return self.io.reply(from, Reply::Refused(why)),
        };
        let (state, tty) = (process.machine.state.name().as_str(), process.spec.tty);
        let Some(pid) = process.machine.state.pid() else {
            let why = format!(
                "{name} is not running ({state}): start it first (`tail {name}` shows what it wrote)"
            );
            return self.io.reply(from, Reply::Refused(why));
        };
        if from == Requester::Console && !self.console_may_attach() {
            let why = "attach needs taskmaster's shell on a terminal; elsewhere use `taskmasterctl attach` \
                       (or `tail -f` to follow the output)";
            return self.io.reply(from, Reply::Refused(why.to_string()));
        }
        let keys = tty && self.io.attach.terminals.0.contains_key(&pid);
        let detach_key = self.io.daemon.detach_key.to_string();
        let alternate_screen = keys && self.io.capture.on_alternate_screen(pid);
        let reply = Reply::Attached(AttachReply {
            name: name.clone(),
            pid: pid.as_raw(),
            tty: keys,
            detach_key,
            alternate_screen,
        });
        let Some(early) = self.open_stream(from, &reply) else { return };
        let replay = self.replay(&name, alternate_screen);
        match from {
            Requester::Client(token) => {
                let io = &mut self.io;
                io.server.stream_out(io.poll.registry(), Token(token), &replay);
            }
            Requester::Console => {
                self.enter_console(&name, !keys, false);
                self.show(&replay);
            }
        }
        let watch = Watch { who: from, name, stream: None, pid: Some(pid), keys, size: None };
        self.io.attach.watches.push(watch);
        self.io.capture.watched = self.io.attach.watched();
        if from == Requester::Console {
            self.console_resized();
        }
        self.apply_frames(from, early);
    }

    /// What an attachment shows first: the process's last lines as they were written, at most
    /// `REPLAY_BYTES`, without the questions they asked the terminal; on its alternate screen
    /// when the program is (a full-screen program draws itself again at the window size).
    fn replay(&self, name: &str, alternate_screen: bool) -> Vec<u8> {
        let last = self.io.capture.tails.last_bytes(name, Stream::Stdout, REPLAY_LINES);
        let cut = last.len().saturating_sub(REPLAY_BYTES);
        let start = match cut {
            0 => 0,
            cut => last[cut..].iter().position(|&b| b == b'\n').map_or(last.len(), |i| cut + i + 1),
        };
        let mut replay = if alternate_screen { ALTERNATE_SCREEN_ON.to_vec() } else { Vec::new() };
        replay.extend(without_queries(&last[start..]));
        replay
    }

    /// Answers a follower and turns its connection into a stream. Returns the frames it sent
    /// with its request, to apply once it is watching; `None` when it is gone.
    fn open_stream(&mut self, from: Requester, reply: &Reply) -> Option<Vec<Frame>> {
        match from {
            Requester::Console => {
                let text = crate::control::render::text(reply, self.io.color);
                self.io.console.line(&text);
                Some(Vec::new())
            }
            Requester::Client(token) => {
                // A stream first, so that a client done sending is not closed after the answer.
                let io = &mut self.io;
                let early = io.server.stream(io.poll.registry(), Token(token));
                self.io.reply(from, reply.clone());
                early
            }
        }
    }

    /// Frames a client sent before its stream began.
    fn apply_frames(&mut self, from: Requester, frames: Vec<Frame>) {
        let Requester::Client(token) = from else { return };
        for frame in frames {
            match frame {
                Frame::Keys(keys) => self.on_keys(Token(token), &keys),
                Frame::Resize(size) => self.on_resize(Token(token), size),
            }
        }
    }

    /// What capture read from followed processes, to their followers.
    pub(super) fn pass_output(&mut self) {
        let io = &mut self.io;
        for (name, stream, bytes) in std::mem::take(&mut io.capture.fed) {
            let to =
                io.attach.watches.iter().filter(|w| w.name == name && w.stream.is_none_or(|s| s == stream));
            for watch in to {
                match watch.who {
                    Requester::Client(token) => {
                        io.server.stream_out(io.poll.registry(), Token(token), &bytes)
                    }
                    // Sent to the background, the shell leaves the terminal alone.
                    Requester::Console if !crate::sys::tty::is_foreground() => {}
                    Requester::Console => {
                        io.console.raw(&bytes);
                        if let Some(view) = io.attach.console.as_mut() {
                            view.at_line_start = bytes.ends_with(b"\n");
                            if let Some(on) = screen_switch(&bytes) {
                                view.alternate_screen = on;
                            }
                        }
                    }
                }
            }
        }
    }

    /// A process was reaped: whoever was attached to it is told how it ended and let go.
    pub(super) fn on_attached_exit(&mut self, pid: Pid, exit: ExitKind) {
        self.io.attach.terminals.remove(pid);
        self.end_watches(|w| w.pid == Some(pid), |name| format!("[{name} exited: {exit}]"));
    }

    /// Followers of a process that a reload took away (its program removed, or scaled down) are
    /// told and let go once it is gone: nothing more will come.
    pub(super) fn end_follows_of_removed(&mut self) {
        if self.io.attach.watches.is_empty() {
            return;
        }
        let sup = &self.sup;
        let removed: HashSet<String> = (self.io.attach.watches.iter())
            .filter(|w| w.pid.is_none() && !sup.processes().any(|p| p.name == w.name && !p.retiring))
            .map(|w| w.name.clone())
            .collect();
        let note = |name: &str| format!("[{name} is no longer in the configuration]");
        self.end_watches(|w| w.pid.is_none() && removed.contains(&w.name), note);
    }

    /// Ends the watches `which` picks, each with its note (on a line of its own).
    fn end_watches(&mut self, which: impl Fn(&Watch) -> bool, note: impl Fn(&str) -> String) {
        let (ended, kept): (Vec<Watch>, Vec<Watch>) =
            std::mem::take(&mut self.io.attach.watches).into_iter().partition(|w| which(w));
        self.io.attach.watches = kept;
        for watch in ended {
            let note = note(&watch.name);
            match watch.who {
                Requester::Client(token) => {
                    let io = &mut self.io;
                    io.server.end_stream(io.poll.registry(), Token(token), &note);
                }
                Requester::Console => self.leave_console(&note),
            }
        }
        self.io.capture.watched = self.io.attach.watched();
    }

    /// taskmaster shuts down: followers are told (the attached are told each process's end).
    pub(super) fn end_follows_at_shutdown(&mut self) {
        if self.sup.is_shutting_down() && self.io.attach.watches.iter().any(|w| w.pid.is_none()) {
            self.end_watches(|w| w.pid.is_none(), |_| "[taskmaster is shutting down]".to_string());
        }
    }

    /// Keys from an attached client.
    pub(super) fn on_keys(&mut self, token: Token, keys: &[u8]) {
        if let Some(Watch { pid: Some(pid), keys: true, .. }) = self.io.attach.of(Requester::Client(token.0))
        {
            self.io.attach.terminals.type_keys(*pid, keys);
        }
    }

    /// An attached client's window changed size.
    pub(super) fn on_resize(&mut self, token: Token, size: WindowSize) {
        self.io.attach.resize(Requester::Client(token.0), size);
    }

    /// A follower went away (a client closed, Ctrl-C at the shell).
    pub(super) fn unwatch(&mut self, who: Requester) {
        self.io.attach.remove(who);
        self.io.capture.watched = self.io.attach.watched();
    }

    fn console_may_attach(&self) -> bool {
        self.io.typist.is_editor() && crate::sys::tty::is_foreground()
    }

    fn enter_console(&mut self, name: &str, ctrl_c_leaves: bool, following: bool) {
        let mode = crate::sys::tty::enter_attached(!ctrl_c_leaves);
        self.io.console.hold(true);
        let name = name.to_string();
        self.io.attach.console = Some(ConsoleView {
            name,
            mode,
            ctrl_c_leaves,
            at_line_start: true,
            following,
            alternate_screen: false,
            detach: self.io.daemon.detach_key.0,
        });
    }

    fn show(&mut self, bytes: &[u8]) {
        if let Some(view) = self.io.attach.console.as_mut()
            && !bytes.is_empty()
        {
            self.io.console.raw(bytes);
            view.at_line_start = bytes.ends_with(b"\n");
            if let Some(on) = screen_switch(bytes) {
                view.alternate_screen = on;
            }
        }
    }

    /// Back to the prompt: the terminal's mode as it was, the log lines held meanwhile, `note`.
    pub(super) fn leave_console(&mut self, note: &str) {
        let Some(view) = self.io.attach.console.take() else { return };
        self.unwatch(Requester::Console);
        if let Some(mode) = &view.mode {
            crate::sys::tty::leave_attached(mode);
        }
        // What a full-screen program left on in the terminal goes with it.
        let mut last = Vec::new();
        if !view.ctrl_c_leaves {
            if view.alternate_screen {
                last.extend_from_slice(ALTERNATE_SCREEN_OFF);
            }
            last.extend_from_slice(MODES_OFF);
        }
        if !view.at_line_start {
            last.extend_from_slice(b"\r\n");
        }
        // The note first, then what was logged meanwhile.
        if !note.is_empty() {
            last.extend_from_slice(format!("{note}\r\n").as_bytes());
        }
        self.io.console.raw_note(&last);
        self.io.console.hold(false);
        self.io.session.answer("");
        self.io.answered = true;
    }

    /// Ctrl-C at the shell while it follows or is attached with no keys to send: it leaves.
    pub(super) fn console_interrupted(&mut self) {
        if let Some(view) = &self.io.attach.console {
            let note = match view.following {
                true => String::new(),
                false => format!("[detached from {}]", view.name),
            };
            self.leave_console(&note);
        }
    }

    /// Keys typed at taskmaster's own terminal while attached: to the process, up to the detach
    /// key (taskmaster(1), ATTACH).
    pub(super) fn on_console_keys(&mut self) {
        let Some(view) = &self.io.attach.console else { return };
        // In the background, reading the terminal would stop taskmaster (SIGTTIN); the keys
        // wait for `fg`.
        if !crate::sys::tty::is_foreground() {
            return;
        }
        let (detach, ctrl_c) = (view.detach, view.ctrl_c_leaves);
        let mut buf = [0u8; KEYS_AT_ONCE];
        let n = nix::unistd::read(std::io::stdin().as_fd(), &mut buf).unwrap_or(0);
        let (keys, leave) = until_detach(&buf[..n], detach, ctrl_c);
        if let Some(Watch { pid: Some(pid), keys: true, .. }) = self.io.attach.of(Requester::Console) {
            self.io.attach.terminals.type_keys(*pid, keys);
        }
        if leave {
            self.console_interrupted();
        } else if n == buf.len() {
            self.io.hot.push(super::STDIN);
        }
    }

    /// taskmaster goes on after a stop while attached: the terminal gets the attached mode back.
    /// Returns whether taskmaster has its terminal (else it looks again later).
    pub(super) fn console_continued(&mut self) -> bool {
        if !crate::sys::tty::is_foreground() {
            return false;
        }
        if let Some(ConsoleView { mode: Some(mode), ctrl_c_leaves, .. }) = &self.io.attach.console {
            crate::sys::tty::reenter_attached(mode, !ctrl_c_leaves);
        }
        self.console_resized();
        // Keys typed while it was away.
        self.on_console_keys();
        true
    }

    /// taskmaster's window changed size while attached: so does the process's terminal.
    pub(super) fn console_resized(&mut self) {
        if let Some(size) = pty::size_of(std::io::stdin().as_fd()) {
            self.io.attach.resize(Requester::Console, size);
        }
    }
}
