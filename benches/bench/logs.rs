//! The child log rows (taskmaster(1), CHILD LOGS): `yes` writing the same 100-byte log line as
//! fast as it can, its stdout a plain file, a file rotated every megabyte, a file whose lines are
//! stamped; against the same producer piped into `cat > file` with no supervisor, and into a
//! minimal rotating copier (this bench binary itself, run again with `BENCH_ROTATING_COPY`: the
//! least any rotation costs on this machine). Then the worst case of the stamps: plain `yes`,
//! 2-byte lines, against its own raw limit.
//!
//! What is counted is what the producer wrote: `wchar` of `yes`'s /proc/PID/io, the bytes its
//! write(2) calls put into the pipe. A rotated file is renamed every megabyte, so its size says
//! nothing, and a stamped file holds more than the program wrote; the producer's count is the
//! same measure for every row. CPU per GB is the writer's (cat's, taskmaster's) per GB of that
//! input. supervisord has rotation but no timestamps: these rows are taskmaster's alone.

use super::daemons::{Daemon, Taskmaster, children, scratch};
use super::{Program, Row, comm, measure_count, median};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Set to a file's path, the bench binary is the minimal rotating copier into that file.
pub(crate) const ROTATING_COPY: &str = "BENCH_ROTATING_COPY";

/// The copier's `maxbytes`: taskmaster's `1MB`.
const COPY_MAXBYTES: usize = 1_000_000;

/// The copier's `backups`.
const COPY_BACKUPS: u32 = 3;

/// A realistic access log line: 99 characters, 100 bytes with its newline.
const LINE: &str =
    "2026-11-30 INFO GET /api/v1/items?page=3 status=200 took=12ms user=alice req=7f3c9a1e agent=curl/85";

/// How the producer's output is written.
#[derive(Clone, Copy)]
enum Writer {
    /// `| cat > file`, no supervisor: the limit.
    Cat,
    /// `| BENCH_ROTATING_COPY=file bench`, no supervisor: the limit of rotation.
    RotatingCopy,
    /// taskmaster, `stdout: FILE`.
    Plain,
    /// taskmaster, `stdout: {path: FILE, maxbytes: 1MB, backups: 3}`.
    Rotated,
    /// taskmaster, `stdout: {path: FILE, timestamps: true}`.
    Stamped,
}

/// The cases of a round, in the order they run: the 100-byte line (`Some`) or plain `yes`.
const CASES: [(Writer, Option<&str>); 7] = [
    (Writer::Cat, Some(LINE)),
    (Writer::Plain, Some(LINE)),
    (Writer::Rotated, Some(LINE)),
    (Writer::RotatingCopy, Some(LINE)),
    (Writer::Stamped, Some(LINE)),
    (Writer::Cat, None),
    (Writer::Stamped, None),
];

pub(crate) fn rows(seconds: u64) -> Vec<Row> {
    let dir = scratch("logs");
    // Rounds taken in turn, so that a passing disk slowdown falls on all of them alike.
    let mut samples: Vec<[Vec<f64>; 2]> = CASES.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for _ in 0..3 {
        for (case, sample) in CASES.iter().zip(&mut samples) {
            let (mb_s, s_gb) = measure(*case, &dir, seconds);
            sample[0].push(mb_s);
            sample[1].push(s_gb);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (rate, cpu): (Vec<f64>, Vec<f64>) = samples.iter_mut().map(|[r, c]| (median(r), median(c))).unzip();
    let row = |scenario: String, unit: &'static str, value: f64| {
        let mut row = Row::new(scenario, unit);
        row.taskmaster = Some(value);
        row
    };
    let bytes = LINE.len() + 1;
    let limit = format!(
        "logs: no supervisor, `yes` of {bytes}-byte lines into `cat > file`, for {seconds} s, median of 3"
    );
    let mut rows = vec![
        row(limit, "MB/s", rate[0]),
        row("  cat's own CPU per GB".into(), "s/GB", cpu[0]),
        row(
            format!(
                "logs: no supervisor, `yes` of {bytes}-byte lines into a minimal rotating copier (1MB, 3 backups)"
            ),
            "MB/s",
            rate[3],
        ),
        row("  of the raw limit".into(), "%", rate[3] / rate[0] * 100.0),
        row("  the copier's own CPU per GB".into(), "s/GB", cpu[3]),
    ];
    let captured = [
        (1, "logs: captured, `stdout: FILE`"),
        (2, "logs: rotated, `maxbytes: 1MB`, `backups: 3`"),
        (4, "logs: stamped, `timestamps: true` (MB/s of the lines, before their stamps)"),
    ];
    for (i, scenario) in captured {
        rows.push(row(scenario.into(), "MB/s", rate[i]));
        rows.push(row("  of the raw limit".into(), "%", rate[i] / rate[0] * 100.0));
        if i == 2 {
            rows.push(row(
                "  of the rotating limit (the minimal copier)".into(),
                "%",
                rate[2] / rate[3] * 100.0,
            ));
        }
        rows.push(row("  taskmaster's CPU per GB of the lines".into(), "s/GB", cpu[i]));
    }
    rows.extend([
        row("logs: no supervisor, plain `yes` (2-byte lines) into `cat > file`".into(), "MB/s", rate[5]),
        row("  cat's own CPU per GB".into(), "s/GB", cpu[5]),
        row("logs: plain `yes` stamped (27 bytes written per 2 read)".into(), "MB/s", rate[6]),
        row("  of its raw limit (plain `yes` into `cat > file`)".into(), "%", rate[6] / rate[5] * 100.0),
        row("  taskmaster's CPU per GB of the lines".into(), "s/GB", cpu[6]),
    ]);
    rows
}

/// One case for `seconds`: MB/s written by the producer, and the writer's CPU seconds per GB of it.
fn measure((writer, line): (Writer, Option<&str>), dir: &Path, seconds: u64) -> (f64, f64) {
    let file = dir.join("out.log");
    let command = line.map_or_else(|| "yes".to_string(), |l| format!("yes '{l}'"));
    let result = match writer {
        Writer::Cat | Writer::RotatingCopy => {
            let mut sh = std::process::Command::new("sh");
            match writer {
                Writer::Cat => sh.arg("-c").arg(format!("exec {command} | cat > {}", file.display())),
                _ => sh
                    .arg("-c")
                    .arg(format!("exec {command} | exec \"$0\""))
                    .arg(std::env::current_exe().expect("the bench binary"))
                    .env(ROTATING_COPY, &file),
            };
            let mut sh = sh
                // Not the shell's word on its pipeline killed at the end.
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("yes | cat");
            std::thread::sleep(Duration::from_millis(300));
            let both = children(sh.id() as i32);
            // `yes`, and the copier (cat or the bench binary).
            let yes = both.iter().copied().find(|p| comm(*p) == "yes").unwrap_or(0);
            let copier = both.iter().copied().find(|p| *p != yes).unwrap_or(0);
            let result = measure_count(|| written(yes), copier, seconds);
            for p in both {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = sh.kill();
            let _ = sh.wait();
            result
        }
        Writer::Plain | Writer::Rotated | Writer::Stamped => {
            let path = file.display();
            let extra = match writer {
                Writer::Rotated => {
                    format!("    stdout:\n      path: {path}\n      maxbytes: 1MB\n      backups: 3\n")
                }
                Writer::Stamped => format!("    stdout:\n      path: {path}\n      timestamps: true\n"),
                Writer::Cat | Writer::RotatingCopy | Writer::Plain => String::new(),
            };
            let program = Program { command, ..Program::yes(&file) };
            let d = Taskmaster::start_with_extra("", &[program], &extra);
            d.wait_running(1);
            std::thread::sleep(Duration::from_millis(300));
            let yes = children(d.pid()).into_iter().find(|p| comm(*p) == "yes").unwrap_or(0);
            let result = measure_count(|| written(yes), d.pid(), seconds);
            Box::new(d).stop();
            result
        }
    };
    for name in ["out.log", "out.log.1", "out.log.2", "out.log.3"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    result
}

/// The bytes a process has written so far (`wchar` of /proc/PID/io: what its write calls passed
/// to the kernel, whatever the destination).
fn written(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The minimal rotating copier: stdin, read 64 KiB at a time, appended to `file`; when a write
/// would make it pass `COPY_MAXBYTES`, it is cut after the last whole line that fits and rotated
/// as logrotate would (`file.3` removed, `.2` → `.3`, `.1` → `.2`, `file` → `.1`, a new `file`).
/// No line is split. What any rotating writer must do at the least: the limit of rotation.
pub(crate) fn rotating_copy(file: &Path) {
    let mut input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().expect("stdin"));
    let mut out = open_append(file);
    let (mut size, mut at_line_start) = (0usize, true);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let mut bytes = match input.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => &buffer[..n],
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("reading stdin: {e}"),
        };
        while size + bytes.len() > COPY_MAXBYTES {
            let room = COPY_MAXBYTES.saturating_sub(size).min(bytes.len());
            // After the last line that fits; else, with the file ending inside a line, after
            // the end of that line; else (a file of whole lines) rotated as it is.
            let cut = match memchr::memrchr(b'\n', &bytes[..room]) {
                Some(i) => i + 1,
                None if size > 0 && at_line_start => 0,
                None => match memchr::memchr(b'\n', bytes) {
                    Some(i) => i + 1,
                    None => break,
                },
            };
            out.write_all(&bytes[..cut]).expect("writing the file");
            bytes = &bytes[cut..];
            let _ = std::fs::remove_file(numbered(file, COPY_BACKUPS));
            for n in (1..COPY_BACKUPS).rev() {
                let _ = std::fs::rename(numbered(file, n), numbered(file, n + 1));
            }
            std::fs::rename(file, numbered(file, 1)).expect("renaming the file");
            out = open_append(file);
            (size, at_line_start) = (0, true);
        }
        if let Some(last) = bytes.last() {
            out.write_all(bytes).expect("writing the file");
            size += bytes.len();
            at_line_start = *last == b'\n';
        }
    }
}

/// `file` opened to append (O_APPEND | O_CREAT | O_CLOEXEC).
fn open_append(file: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().append(true).create(true).open(file).expect("opening the file")
}

/// `PATH.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}
