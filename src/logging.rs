//! The main log (taskmaster(1), LOG): slog with synchronous drains only, since taskmaster has no
//! thread to give an asynchronous one. One drain appends supervisord-style lines to the log file;
//! the other mirrors them on the console (above the prompt, or as plain lines). The level can
//! change and the file can be reopened at run time (reload, log rotation).

use crate::append::OpenError;
use crate::config::RunAs;
use crate::config::{LogLevel, describe_io};
use crate::output::{Rotating, Trouble};
use crate::sys::outbox::Outbox;
use slog::{Drain, Level, OwnedKVList, Record};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Where console lines go: stdout, or above the prompt of the interactive shell.
pub(crate) trait Console: Send + Sync + std::panic::RefUnwindSafe {
    fn line(&self, text: &str);

    /// Text with no newline after it: a prompt.
    fn prompt(&self, _text: &str) {}

    /// The descriptor to hear taking more output, when output may wait for it (see `flush`).
    fn output_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// The output takes more: send what waits, and say so if some was dropped meanwhile.
    fn flush(&self) {}

    /// Bytes as they are, for a process's output while the shell follows or is attached to it;
    /// only a shell at a terminal shows them.
    fn raw(&self, _bytes: &[u8]) {}

    /// A few bytes that must get there even while output is being dropped (the note on
    /// leaving an attachment, the terminal's modes put back).
    fn raw_note(&self, _bytes: &[u8]) {}

    /// While held, lines wait (a few hundred at most) and are shown when released: the shell is
    /// attached to a process and its output is on the screen.
    fn hold(&self, _held: bool) {}
}

/// Plain lines on standard output: a file or a socket, whose writes never wait on a reader
/// for long (a terminal or a pipe gets `Queued`).
pub(crate) struct Stdout;

impl Console for Stdout {
    fn line(&self, text: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn prompt(&self, text: &str) {
        let mut out = io::stdout().lock();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }
}

/// Plain lines on a terminal or a pipe that may stop taking them: queued, never waited for
/// (see `sys::outbox`).
pub(crate) struct Queued {
    outbox: Outbox,
    /// Said once the reader takes output again after some was dropped.
    loss_note: &'static str,
}

impl Queued {
    /// stdout as a queued console, when it is a terminal or a pipe; else plain `Stdout`.
    pub(crate) fn stdout(loss_note: &'static str) -> Arc<dyn Console> {
        match Outbox::stdout() {
            Some(outbox) => Arc::new(Queued { outbox, loss_note }),
            None => Arc::new(Stdout),
        }
    }

    fn tell_loss(&self) {
        if self.outbox.take_loss() {
            self.outbox.write(format!("{}\n", self.loss_note).as_bytes());
        }
    }
}

impl Console for Queued {
    fn line(&self, text: &str) {
        // A loss is told before the lines that follow it.
        self.flush();
        self.outbox.write(format!("{text}\n").as_bytes());
    }

    fn prompt(&self, text: &str) {
        self.outbox.write(text.as_bytes());
    }

    fn output_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.outbox.out_fd())
    }

    fn flush(&self) {
        self.outbox.flush();
        self.tell_loss();
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.outbox.finish();
    }
}

/// The log file, rotated by size (`logfile_maxbytes`), and the line being written to it: a
/// line goes to the file whole, so that a rotation never cuts one.
struct MainFile {
    /// `None`: it could not be created again (its folder was removed): tried again at each
    /// line.
    log: Option<Rotating>,
    path: PathBuf,
    rotation: Rotation,
    line: Vec<u8>,
    /// What was said of a failed rotation, until one works.
    rotate_failing: Option<String>,
    /// What is to be logged about the file itself (see `Logging::end_turn`).
    notes: Vec<String>,
    /// What rotations may still cost in renames in this turn of the loop.
    renames_left: u32,
}

/// The log file, shared with the drain so that it can be swapped on reopen.
#[derive(Clone, Default)]
struct SharedFile(Arc<Mutex<Option<MainFile>>>);

impl SharedFile {
    fn path(&self) -> Option<PathBuf> {
        self.0.lock().ok().and_then(|f| f.as_ref().map(|f| f.path.clone()))
    }
}

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self.0.lock().map_err(|_| io::Error::other("log lock poisoned"))?;
        let Some(file) = slot.as_mut() else { return Ok(buf.len()) };
        file.line.extend_from_slice(buf);
        let Some(end) = memchr::memrchr(b'\n', &file.line) else { return Ok(buf.len()) };
        let rest = file.line.split_off(end + 1);
        let whole = std::mem::replace(&mut file.line, rest);
        if file.log.is_none() {
            let (maxbytes, backups) = file.rotation;
            let opened = Rotating::open(&file.path, maxbytes, backups, None);
            file.log = Some(opened.map_err(|e| io::Error::other(e.message().to_string()))?);
        }
        let Some(log) = &mut file.log else { return Ok(buf.len()) };
        // As for child output (see `output::sinks`): the renames of a turn are bounded.
        let cost = log.rotation_cost();
        let mut rotations = file.renames_left / cost;
        let before = rotations;
        let result = log.append(&whole, None, &mut rotations);
        file.renames_left -= (before - rotations) * cost;
        match result {
            Ok(()) => {
                if rotations < before {
                    file.rotate_failing = None;
                }
                Ok(buf.len())
            }
            Err(trouble @ Trouble::Gone(_)) => {
                file.log = None;
                Err(io::Error::other(trouble.to_string()))
            }
            // The line was written: said once, as news, not as a lost line.
            Err(Trouble::Rotate(why)) => {
                let line =
                    format!("couldn't rotate the log file {}: {why}; it grows on", file.path.display());
                if file.rotate_failing.as_ref() != Some(&line) {
                    file.notes.push(line.clone());
                    file.rotate_failing = Some(line);
                }
                Ok(buf.len())
            }
            Err(trouble) => Err(io::Error::other(trouble.to_string())),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type FileFormat = slog_term::FullFormat<slog_term::PlainSyncDecorator<SharedFile>>;

/// The drain behind the logger: a level filter, the file, and the console.
struct Root {
    level: Arc<AtomicUsize>,
    file: FileFormat,
    path: SharedFile,
    console: Option<Arc<dyn Console>>,
    /// Why the log file cannot be written, while it cannot.
    failure: Arc<Mutex<Option<String>>>,
}

impl Root {
    /// A log file on a full disk must not take the daemon down, nor lose lines unseen: the
    /// failure is said once on the console (and shown by `status`), and again only after a
    /// write succeeded in between.
    fn note(&self, written: io::Result<()>) {
        let Ok(mut failure) = self.failure.lock() else { return };
        let path = self.path.path().map(|p| p.display().to_string()).unwrap_or_default();
        let said = match (written, failure.is_some()) {
            (Ok(()), false) => return,
            (Ok(()), true) => {
                *failure = None;
                format!("the log file {path} can be written again")
            }
            (Err(_), true) => return,
            (Err(e), false) => {
                let why = format!("couldn't write the log file {path}: {}", describe_io(&e));
                *failure = Some(why.clone());
                format!("{why}; log lines are lost until it can be written again")
            }
        };
        if let Some(console) = &self.console {
            console.line(&said);
        } else {
            let _ = writeln!(io::stderr(), "taskmaster: {said}");
        }
    }
}

impl Drain for Root {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        if !record.level().is_at_least(level_from(self.level.load(Ordering::Relaxed))) {
            return Ok(());
        }
        self.note(self.file.log(record, values));
        if let Some(console) = &self.console {
            let stamp = chrono::Local::now().format("%H:%M:%S");
            console.line(&format!("{stamp} {} {}", record.level().as_short_str(), record.msg()));
        }
        Ok(())
    }
}

/// The daemon's logger and the handles to change it.
pub(crate) struct Logging {
    logger: slog::Logger,
    level: Arc<AtomicUsize>,
    file: SharedFile,
    failure: Arc<Mutex<Option<String>>>,
    /// Who the file is opened for: the user taskmaster gives root up for (see `append`).
    owner: Option<RunAs>,
}

/// What the main log's rotations may cost in renames in a turn of the loop.
const RENAMES_PER_TURN: u32 = 128;

/// `logfile_maxbytes` and `logfile_backups`.
pub(crate) type Rotation = (u64, u32);

impl Logging {
    /// Opens the log file (if any) and builds the drains. Fails when the file cannot be opened.
    /// `owner`: the user taskmaster will run as, who opens (or gets) the file.
    pub(crate) fn new(
        (path, rotation): (Option<&Path>, Rotation),
        level: LogLevel,
        console: Option<Arc<dyn Console>>,
        owner: Option<&RunAs>,
    ) -> Result<Logging, String> {
        let file = SharedFile::default();
        if let Some(path) = path {
            let opened = open_log(path, rotation, owner)?;
            *file.0.lock().map_err(|_| "log lock poisoned".to_string())? = Some(opened);
        }
        let level_cell = Arc::new(AtomicUsize::new(slog_level(level).as_usize()));
        let format = slog_term::FullFormat::new(slog_term::PlainSyncDecorator::new(file.clone()))
            .use_custom_timestamp(|out: &mut dyn Write| {
                write!(out, "{}", chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f"))
            })
            .build();
        let failure = Arc::new(Mutex::new(None));
        let root = Root {
            level: level_cell.clone(),
            file: format,
            path: file.clone(),
            console,
            failure: failure.clone(),
        };
        let logger = slog::Logger::root(root.fuse(), slog::o!());
        Ok(Logging { logger, level: level_cell, file, failure, owner: owner.cloned() })
    }

    pub(crate) fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Error => slog::error!(self.logger, "{}", message),
            LogLevel::Warn => slog::warn!(self.logger, "{}", message),
            LogLevel::Info => slog::info!(self.logger, "{}", message),
            LogLevel::Debug => slog::debug!(self.logger, "{}", message),
        }
    }

    pub(crate) fn set_level(&self, level: LogLevel) {
        self.level.store(slog_level(level).as_usize(), Ordering::Relaxed);
    }

    /// Opens `path` (again, or anew) and writes there from now on; `None` stops file logging.
    /// Ok: what to say of the file it replaces (deleted meanwhile). Err: why it cannot be
    /// opened, and what happens to log lines meanwhile.
    pub(crate) fn reopen(
        &mut self,
        path: Option<&Path>,
        rotation: Rotation,
    ) -> Result<Option<String>, String> {
        let Ok(mut slot) = self.file.0.lock() else { return Err("log lock poisoned".into()) };
        let gone = slot.as_ref().is_some_and(|f| f.log.as_ref().is_none_or(Rotating::deleted));
        let note = gone.then(|| {
            let path = slot.as_ref().map(|f| f.path.display().to_string()).unwrap_or_default();
            format!("the log file {path} had been deleted (what was logged to it since is lost); it is created again")
        });
        let Some(path) = path else {
            *slot = None;
            return Ok(None);
        };
        match open_log(path, rotation, self.owner.as_ref()) {
            Ok(file) => {
                *slot = Some(file);
                drop(slot);
                if let Ok(mut failure) = self.failure.lock() {
                    *failure = None;
                }
                Ok(note)
            }
            // The file in use is gone: lines wait for the new one, tried again at each line.
            Err(e) if gone => {
                *slot = Some(MainFile {
                    log: None,
                    path: path.to_path_buf(),
                    rotation,
                    line: Vec::new(),
                    rotate_failing: None,
                    notes: Vec::new(),
                    renames_left: RENAMES_PER_TURN,
                });
                drop(slot);
                let why = format!("{e}; log lines are lost until it can be (tried again at each line)");
                if let Ok(mut failure) = self.failure.lock() {
                    *failure = Some(why.clone());
                }
                Err(why)
            }
            Err(e) => Err(format!("{e}; logging goes on to the previous file")),
        }
    }

    /// A turn of the loop ends: the rotations of the next may cost renames again. Returns
    /// what the log file itself had to say (a rotation that failed), for the loop to log once
    /// the line that met it is written.
    pub(crate) fn end_turn(&self) -> Vec<String> {
        let Ok(mut slot) = self.file.0.lock() else { return Vec::new() };
        let Some(file) = slot.as_mut() else { return Vec::new() };
        file.renames_left = RENAMES_PER_TURN;
        std::mem::take(&mut file.notes)
    }

    /// Why the log file cannot be written, while it cannot.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

fn open_log(path: &Path, (maxbytes, backups): Rotation, owner: Option<&RunAs>) -> Result<MainFile, String> {
    let log = Rotating::open(path, maxbytes, backups, owner).map_err(|e| match e {
        OpenError::Refused(why) => format!("cannot use the log file: {why}"),
        OpenError::Failed(why) => format!("cannot open the log file {}: {why}", path.display()),
    })?;
    Ok(MainFile {
        log: Some(log),
        path: path.to_path_buf(),
        rotation: (maxbytes, backups),
        line: Vec::new(),
        rotate_failing: None,
        notes: Vec::new(),
        renames_left: RENAMES_PER_TURN,
    })
}

fn slog_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::Error,
        LogLevel::Warn => Level::Warning,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
    }
}

fn level_from(n: usize) -> Level {
    Level::from_usize(n).unwrap_or(Level::Info)
}

/// A console that keeps its lines, for tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Lines(pub(crate) Mutex<Vec<String>>);

#[cfg(test)]
impl Console for Lines {
    fn line(&self, text: &str) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(text.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_the_file_and_the_console_at_the_level() {
        let dir = std::env::temp_dir().join(format!("tm-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("main.log");
        let console = Arc::new(Lines::default());
        let log = Logging::new((Some(&path), (0, 0)), LogLevel::Info, Some(console.clone()), None).unwrap();
        log.log(LogLevel::Info, "spawned: 'a' with pid 1");
        log.log(LogLevel::Debug, "hidden");
        log.set_level(LogLevel::Debug);
        log.log(LogLevel::Debug, "shown");
        log.log(LogLevel::Warn, "exited: a (exit status 1; not expected)");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let (stamp, rest) = lines[0].split_at(23);
        assert_eq!(rest, " INFO spawned: 'a' with pid 1");
        assert_eq!((stamp.as_bytes()[4], stamp.as_bytes()[10], stamp.as_bytes()[19]), (b'-', b' ', b','));
        assert!(lines[1].ends_with(" DEBG shown"));
        assert!(lines[2].ends_with(" WARN exited: a (exit status 1; not expected)"));
        let shown = console.0.lock().unwrap().clone();
        assert_eq!(shown.len(), 3);
        assert!(shown[0].ends_with(" INFO spawned: 'a' with pid 1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_log_file_is_an_error() {
        let err =
            Logging::new((Some(Path::new("/nonexistent/dir/x.log")), (0, 0)), LogLevel::Info, None, None)
                .err()
                .unwrap();
        assert!(err.contains("/nonexistent/dir/x.log") && err.contains("No such file"), "{err}");
    }
}
