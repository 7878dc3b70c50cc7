//! The line editor (linefeed) driven step by step from the event loop: no thread, no polling.
//! The loop calls `on_readable` when stdin has bytes; each call runs the editor only on what is
//! there. While a command waits for its answer the editor is not stepped, so no prompt shows and
//! keys wait in the terminal until the answer is printed. Output goes above the prompt, which is
//! redrawn with the half-typed line intact.

use super::complete::candidates;
use crate::append::{Access, open_safely};
use crate::logging::Console;
use crate::sys::outbox::Outbox;
use crate::sys::terminal::{Signs, Tty};
use crate::sys::tty;
use crate::sys::typing::LINE_LIMIT;
use linefeed::complete::{Completer, Completion};
use linefeed::{Interface, Prompter, ReadResult, Terminal};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io;
use std::os::fd::AsFd;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Iface = Interface<Tty>;

/// The names Tab completes targets from, kept up to date by the owner.
pub(crate) type Targets = Arc<Mutex<Vec<String>>>;

/// Asks for the names anew when Tab completes a target (taskmasterctl, whose daemon may have
/// reloaded since it last asked); none when the answer does not come.
pub(crate) type Refresh = Box<dyn Fn() -> Option<Vec<String>> + Send + Sync>;

/// What the person at the keyboard did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Typed {
    Line(String),
    /// Ctrl-D on an empty line, or the terminal went away.
    Eof,
    /// Ctrl-C while the editor had the terminal.
    Interrupt,
    /// The terminal went away.
    HangUp,
    /// A line longer than `limit` bytes, no command, was dropped.
    TooLong {
        limit: usize,
    },
}

pub(crate) struct Editor {
    iface: Arc<Iface>,
    /// The terminal went away: nothing may touch it any more (a write fails, and the terminal
    /// library's complaint on stderr, itself the dead terminal, would abort the process).
    gone: Arc<AtomicBool>,
    history: Option<PathBuf>,
    history_failed: bool,
    /// A prompt is shown and a line is being edited.
    reading: bool,
    /// The terminal belongs to another job of the shell (taskmaster was continued in the
    /// background): output goes out as plain lines, with no prompt to keep, and the terminal's
    /// mode is the shell's until taskmaster is in front again.
    behind: Arc<AtomicBool>,
    /// Output the terminal has not taken yet.
    outbox: Outbox,
    /// Said once the terminal takes output again after some was dropped.
    loss_note: &'static str,
    signs: Signs,
}

/// How many lines of history are kept.
const HISTORY_SIZE: usize = 1000;

impl Editor {
    /// Takes over the terminal on stdin. Fails when stdin or stdout is not a terminal.
    /// `loss_note` is printed when the terminal takes output again after some was dropped.
    pub(crate) fn open(
        app: &str,
        prompt: &str,
        history: Option<PathBuf>,
        targets: Targets,
        loss_note: &'static str,
    ) -> io::Result<Editor> {
        let tty = Tty::open()?;
        let (outbox, signs) = (tty.outbox(), tty.signs());
        let iface = Interface::with_term(app.to_string(), tty)?;
        iface.set_prompt(prompt)?;
        // No yank (Ctrl-Y, Alt-Y): each one re-measures the whole line, and yanks that double
        // the kill ring make a line of gigabytes from a few keys (see `typing` for the rest).
        iface.unbind_sequence("\x19");
        iface.unbind_sequence("\x1by");
        iface.set_completer(Arc::new(TargetCompleter { targets, refresh: None }));
        iface.set_history_size(HISTORY_SIZE);
        if let Some(path) = &history {
            for line in read_history(path) {
                iface.add_history(line);
            }
        }
        tty::enter_raw().map_err(io::Error::from)?;
        let gone = Arc::new(AtomicBool::new(false));
        let iface = Arc::new(iface);
        let behind = Arc::new(AtomicBool::new(false));
        Ok(Editor {
            iface,
            gone,
            history,
            history_failed: false,
            reading: false,
            behind,
            outbox,
            loss_note,
            signs,
        })
    }

    /// Tab asks `refresh` for the names before it completes a target.
    pub(crate) fn refresh_targets_with(&self, targets: Targets, refresh: Refresh) {
        self.iface.set_completer(Arc::new(TargetCompleter { targets, refresh: Some(refresh) }));
    }

    /// A console that prints above the prompt, for the log and for answers; the owner listens
    /// for the terminal taking more output and calls its `flush` (a terminal that stops reading
    /// never stops taskmaster: see `sys::outbox`).
    pub(crate) fn console(&self) -> Arc<dyn Console> {
        Arc::new(EditorConsole {
            iface: AssertUnwindSafe(self.iface.clone()),
            gone: self.gone.clone(),
            behind: self.behind.clone(),
            outbox: self.outbox.clone(),
            loss_note: self.loss_note,
            held: Mutex::new(None),
        })
    }

    /// Shows the prompt (if it is not shown) and takes what was typed meanwhile.
    pub(crate) fn prompt(&mut self) -> Vec<Typed> {
        if self.is_gone() {
            return Vec::new();
        }
        self.reading = true;
        self.step()
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// The terminal was closed: from now on the editor leaves it alone.
    pub(crate) fn hang_up(&mut self) {
        self.gone.store(true, Ordering::Relaxed);
        self.reading = false;
    }

    /// stdin has bytes: lets the editor handle them. While a command waits (no prompt), the keys
    /// stay in the terminal for later.
    pub(crate) fn on_readable(&mut self) -> Vec<Typed> {
        match self.reading && !self.is_gone() {
            true => self.step(),
            false => Vec::new(),
        }
    }

    /// Runs the editor until it needs more input. Stops after a complete line, so the line's
    /// command runs (and answers) before the next prompt.
    fn step(&mut self) -> Vec<Typed> {
        let mut typed = Vec::new();
        if !self.in_front() {
            return typed;
        }
        loop {
            let step = self.iface.read_line_step(Some(Duration::ZERO));
            // Too long as it came (a paste), or as the editor made it (Ctrl-Y): see `typing`.
            let mut length = self.iface.buffer().len();
            if self.signs.overflowed.swap(false, Ordering::Relaxed) || length > LINE_LIMIT {
                let _ = self.iface.set_buffer("");
                length = 0;
                typed.push(Typed::TooLong { limit: LINE_LIMIT });
            }
            self.signs.line_length.store(length, Ordering::Relaxed);
            match step {
                Ok(Some(ReadResult::Input(line))) => {
                    self.remember(&line);
                    self.reading = false;
                    typed.push(Typed::Line(line));
                    return typed;
                }
                Ok(Some(ReadResult::Eof)) => {
                    self.reading = false;
                    typed.push(Typed::Eof);
                    return typed;
                }
                Err(_) if tty::is_gone() => {
                    self.hang_up();
                    typed.push(Typed::HangUp);
                    return typed;
                }
                // Input the editor could not take (none reaches it but text: see `typing`):
                // what was typed so far goes, the shell stays.
                Err(_) => {
                    let _ = self.iface.set_buffer("");
                    return typed;
                }
                Ok(Some(ReadResult::Signal(_))) => typed.push(Typed::Interrupt),
                // mio reports readiness once per arrival: keep going while bytes are there.
                Ok(None) if input_pending() => {}
                Ok(None) => return typed,
            }
        }
    }

    /// Uses another history file from now on; what is in memory is kept.
    pub(crate) fn set_history(&mut self, path: Option<PathBuf>) {
        if path != self.history {
            self.history = path;
            self.history_failed = false;
        }
    }

    /// Ctrl-C at the prompt: the line is dropped.
    pub(crate) fn clear_line(&self) {
        if self.reading && !self.is_gone() {
            let _ = self.iface.set_buffer("");
            self.signs.line_length.store(0, Ordering::Relaxed);
        }
    }

    /// The window changed size: the next step redraws the prompt and the line in place for the
    /// new width. Returns what was typed meanwhile, like `on_readable`.
    pub(crate) fn resized(&mut self) -> Vec<Typed> {
        self.signs.resized.store(true, Ordering::Relaxed);
        self.on_readable()
    }

    /// taskmaster was stopped (`kill -STOP`, or Ctrl-Z in another program's mode) and goes
    /// on: the terminal gets the editor's mode back and the line is redrawn.
    pub(crate) fn continued(&mut self) -> Vec<Typed> {
        if self.is_gone() || !self.in_front() {
            return Vec::new();
        }
        tty::reenter_raw();
        self.resized()
    }

    /// Whether taskmaster has the terminal. In the background the terminal is the shell's:
    /// reading it or changing its mode would stop taskmaster (SIGTTIN, SIGTTOU). Back in front
    /// (the shell's `fg`), the editor's mode comes first, then the prompt is drawn again: keys
    /// typed from then on are the editor's, never echoed by the terminal.
    fn in_front(&mut self) -> bool {
        if !tty::is_foreground() {
            self.behind.store(true, Ordering::Relaxed);
            return false;
        }
        if self.behind.swap(false, Ordering::Relaxed) {
            tty::reenter_raw();
            self.signs.resized.store(true, Ordering::Relaxed);
        }
        true
    }

    /// Keeps a line in the history (no blank lines, no duplicates) and saves the file.
    fn remember(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let older: Vec<usize> = match self.iface.lock_writer_append() {
            Ok(writer) => writer.history().enumerate().filter(|(_, h)| *h == line).map(|(i, _)| i).collect(),
            Err(_) => Vec::new(),
        };
        for index in older.into_iter().rev() {
            self.iface.remove_history(index);
        }
        self.iface.add_history(line.to_string());
        let Some(path) = &self.history else { return };
        let lines: Vec<String> = match self.iface.lock_writer_append() {
            Ok(writer) => writer.history().map(str::to_string).collect(),
            Err(_) => return,
        };
        match write_history(path, &lines) {
            Ok(()) => self.history_failed = false,
            Err(why) if !self.history_failed => {
                self.history_failed = true;
                let _ =
                    writeln_to(&self.iface, &format!("cannot save the history in {}: {why}", path.display()));
            }
            Err(_) => {}
        }
    }
}

impl Drop for Editor {
    fn drop(&mut self) {
        if self.is_gone() {
            // Never dropped, since dropping it writes to the terminal.
            std::mem::forget(self.iface.clone());
            return;
        }
        // In the background the terminal's mode is the shell's already (and changing it would
        // stop taskmaster on its way out).
        let in_front = tty::is_foreground();
        if self.reading && in_front {
            let _ = self.iface.cancel_read_line();
        }
        self.outbox.finish();
        if in_front {
            tty::restore();
        }
    }
}

/// The lines of a history file; none when there is no file yet (the first run) or it may not be
/// read (a FIFO, another user's link: see `append`).
fn read_history(path: &std::path::Path) -> Vec<String> {
    use std::io::Read;
    let mut text = String::new();
    match open_safely(path, Access::Read).map(|mut f| f.read_to_string(&mut text)) {
        Ok(Ok(_)) => text.lines().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Writes the history file anew, private (mode 0600: the commands one types are one's own
/// business), by the rules of `append`: never blocking on a FIFO, never through another user's
/// link.
fn write_history(path: &std::path::Path, lines: &[String]) -> Result<(), String> {
    use std::io::Write;
    let mut file = open_safely(path, Access::Replace).map_err(|e| e.message().to_string())?;
    if file.metadata().is_ok_and(|m| m.is_file()) {
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    file.write_all(text.as_bytes()).map_err(|e| crate::config::describe_io(&e))
}

/// Whether stdin has input right now.
fn input_pending() -> bool {
    let stdin = io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

fn writeln_to(iface: &Iface, text: &str) -> io::Result<()> {
    use std::fmt::Write as _;
    let mut line = String::with_capacity(text.len() + 1);
    let _ = writeln!(line, "{text}");
    iface.lock_writer_erase()?.write_str(&line)
}

/// Prints above the prompt, keeping what is being typed.
struct EditorConsole {
    iface: AssertUnwindSafe<Arc<Iface>>,
    gone: Arc<AtomicBool>,
    behind: Arc<AtomicBool>,
    outbox: Outbox,
    loss_note: &'static str,
    /// Lines that wait while the shell is attached, and how many more there were.
    held: Mutex<Option<(Vec<String>, usize)>>,
}

/// Lines kept while the shell is attached; the rest are counted (they are in the log file).
const HELD_LINES: usize = 500;

impl EditorConsole {
    fn tell_loss(&self) {
        if self.outbox.take_loss() {
            self.put(self.loss_note);
        }
    }

    /// Above the prompt, or as a plain line while the terminal is another job's.
    fn put(&self, text: &str) {
        match self.behind.load(Ordering::Relaxed) {
            true => self.outbox.write(format!("{text}\n").as_bytes()),
            false => {
                let _ = writeln_to(&self.iface, text);
            }
        }
    }
}

impl Console for EditorConsole {
    fn line(&self, text: &str) {
        if let Ok(mut held) = self.held.lock()
            && let Some((lines, more)) = held.as_mut()
        {
            match lines.len() < HELD_LINES {
                true => lines.push(text.to_string()),
                false => *more += 1,
            }
            return;
        }
        if !self.gone.load(Ordering::Relaxed) {
            // A loss is told before the lines that follow it.
            self.flush();
            self.put(text);
        }
    }

    fn output_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.outbox.out_fd())
    }

    fn flush(&self) {
        if !self.gone.load(Ordering::Relaxed) {
            self.outbox.flush();
            self.tell_loss();
        }
    }

    fn raw(&self, bytes: &[u8]) {
        if !self.gone.load(Ordering::Relaxed) {
            self.outbox.write(bytes);
        }
    }

    fn raw_note(&self, bytes: &[u8]) {
        if !self.gone.load(Ordering::Relaxed) {
            self.outbox.write_past_limit(bytes);
        }
    }

    fn hold(&self, on: bool) {
        let released = match self.held.lock() {
            Ok(mut held) if on => {
                held.get_or_insert_with(|| (Vec::new(), 0));
                None
            }
            Ok(mut held) => held.take(),
            Err(_) => None,
        };
        if let Some((lines, more)) = released {
            for line in lines {
                self.line(&line);
            }
            if more > 0 {
                self.line(&format!("({more} more lines were logged meanwhile: see the log file)"));
            }
        }
    }
}

/// Completes command names, targets and signal names (see `complete`).
struct TargetCompleter {
    targets: Targets,
    refresh: Option<Refresh>,
}

impl<Term: Terminal> Completer<Term> for TargetCompleter {
    fn complete(
        &self,
        word: &str,
        prompter: &Prompter<Term>,
        start: usize,
        _end: usize,
    ) -> Option<Vec<Completion>> {
        let line = prompter.buffer();
        let before: Vec<&str> = line[..start.min(line.len())].split_whitespace().collect();
        let fresh = self.refresh.as_ref().filter(|_| !before.is_empty()).and_then(|refresh| refresh());
        if let (Some(names), Ok(mut targets)) = (fresh, self.targets.lock()) {
            *targets = names;
        }
        let targets = self.targets.lock().map(|t| t.clone()).unwrap_or_default();
        Some(candidates(&before, word, &targets).into_iter().map(Completion::simple).collect())
    }
}
