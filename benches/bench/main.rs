//! `make bench`: taskmaster measured from outside (through /proc and the control socket, never
//! by its own account), side by side with supervisord when it can be installed from PyPI into a
//! virtualenv under target/. Prints one table. Not a test: nothing here passes or fails.

// The bench measures time from outside: it reads the clock.
#![allow(clippy::disallowed_methods)]

mod alerts;
mod attach;
mod checks;
mod daemons;
mod logs;
mod metrics;
mod reload;
mod scale;

use daemons::{Daemon, Supervisord, Taskmaster, children, usage};
use std::io::Write;
use std::time::{Duration, Instant};

/// One row of the table: a scenario and what each daemon measured.
struct Row {
    scenario: String,
    unit: &'static str,
    taskmaster: Option<f64>,
    supervisord: Option<f64>,
}

/// Clock ticks per second of /proc's CPU times (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The user rows measured daemon by daemon, as one row per scenario with both columns.
fn merge_rows(measured: Vec<(Row, Row)>) -> Vec<(Row, Row)> {
    let mut merged: Vec<(Row, Row)> = Vec::new();
    for (row, cpu) in measured {
        match merged.iter_mut().find(|(r, _)| r.scenario == row.scenario) {
            Some((r, c)) => {
                r.taskmaster = r.taskmaster.or(row.taskmaster);
                r.supervisord = r.supervisord.or(row.supervisord);
                c.taskmaster = c.taskmaster.or(cpu.taskmaster);
                c.supervisord = c.supervisord.or(cpu.supervisord);
            }
            None => merged.push((row, cpu)),
        }
    }
    merged
}

/// Whether the bench runs as root (switching users needs it).
fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")))
}

/// Whether a group of scenarios runs: all by default, or those named in BENCH_ONLY
/// (`spawn,user,restart,busy,idle,log,logs,stop,alerts,attach,checks,metrics,scale,reload,status`).
fn wanted(group: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|g| g == group))
}

fn main() {
    // Run again by the logs rows as their minimal rotating copier.
    if let Some(file) = std::env::var_os(logs::ROTATING_COPY) {
        logs::rotating_copy(std::path::Path::new(&file));
        return;
    }
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let supervisord = Supervisord::install();
    if supervisord.is_none() {
        eprintln!("supervisord is not available: taskmaster's column only");
    }
    let mut rows = Vec::new();
    let mut user_rows: Vec<(Row, Row)> = Vec::new();
    let kinds: Vec<Kind> = [Some(Kind::Taskmaster), supervisord.as_ref().map(|_| Kind::Supervisord)]
        .into_iter()
        .flatten()
        .collect();
    let run = |kind: &Kind, programs: &[Program]| -> Box<dyn Daemon> {
        match kind {
            Kind::Taskmaster => Box::new(Taskmaster::start(programs)),
            Kind::Supervisord => Box::new(supervisord.as_ref().expect("installed").start(programs)),
        }
    };
    let sizes: &[usize] = match (quick, wanted("spawn")) {
        (_, false) => &[],
        (true, true) => &[100],
        (false, true) => &[100, 500, 1000],
    };
    for &n in sizes {
        let mut spawn = Row::new(format!("spawn {n} processes to RUNNING, median of 3"), "ms");
        let mut rss = Row::new(format!("daemon RSS with {n} processes"), "MiB");
        for kind in &kinds {
            // The median of three launches: this kind of machine is noisy.
            let mut times = Vec::new();
            for _ in 0..3 {
                let started = Instant::now();
                let d = run(kind, &[Program::sleepers("many", n)]);
                d.wait_running(n);
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                rss.set(kind, usage(d.pid()).rss_kib as f64 / 1024.0);
                d.stop();
            }
            times.sort_by(f64::total_cmp);
            spawn.set(kind, times[1]);
        }
        rows.push(spawn);
        rows.push(rss);
    }
    // What switching users costs a spawn: the same processes as `nobody`, the two launched in
    // turn (this machine's noise drifts), wall time and the daemon's own CPU time.
    if wanted("user") && nix_root() {
        let (n, rounds) = if quick { (100, 3) } else { (1000, 9) };
        let users = [None, Some("nobody")];
        for kind in &kinds {
            let mut wall = [Vec::new(), Vec::new()];
            let mut cpu = [Vec::new(), Vec::new()];
            for _ in 0..rounds {
                for (i, user) in users.iter().enumerate() {
                    let program = Program { user: user.map(str::to_string), ..Program::sleepers("many", n) };
                    let started = Instant::now();
                    let d = run(kind, &[program]);
                    d.wait_running(n);
                    wall[i].push(started.elapsed().as_secs_f64() * 1000.0);
                    cpu[i].push(usage(d.pid()).cpu_ticks as f64 * 1000.0 / TICKS_PER_SECOND);
                    d.stop();
                }
            }
            for (i, user) in users.iter().enumerate() {
                let shown = user.map_or_else(|| "own user".to_string(), |u| format!("`user: {u}`"));
                let mut row = Row::new(format!("spawn {n} processes as {shown}, median of {rounds}"), "ms");
                let mut cpu_row =
                    Row::new(format!("daemon CPU to spawn {n} as {shown}, median of {rounds}"), "ms");
                row.set(kind, median(&mut wall[i]));
                cpu_row.set(kind, median(&mut cpu[i]));
                user_rows.push((row, cpu_row));
            }
        }
    }
    // Rows of both daemons, merged by scenario.
    for (row, cpu_row) in merge_rows(user_rows) {
        rows.push(row);
        rows.push(cpu_row);
    }
    let kills = match (quick, wanted("restart")) {
        (_, false) => 0,
        (true, true) => 5,
        (false, true) => 20,
    };
    let mut restart = [
        Row::new(format!("restart after kill -9, min of {kills}"), "ms"),
        Row::new(format!("restart after kill -9, median of {kills}"), "ms"),
        Row::new(format!("restart after kill -9, max of {kills}"), "ms"),
    ];
    for kind in kinds.iter().filter(|_| kills > 0) {
        let d = run(kind, &[Program::sleepers("victim", 1)]);
        d.wait_running(1);
        let mut times = Vec::new();
        for _ in 0..kills {
            // Runs of a second or more: no crash-loop delay applies.
            std::thread::sleep(Duration::from_millis(1100));
            times.push(kill_and_time(d.pid()));
        }
        times.sort_by(f64::total_cmp);
        restart[0].set(kind, times[0]);
        restart[1].set(kind, times[times.len() / 2]);
        restart[2].set(kind, times[times.len() - 1]);
        d.stop();
    }
    if kills > 0 {
        rows.extend(restart);
    }
    // The cost of a death must not grow with the work clients give: the same kill while
    // clients ask for the status of every process, back to back.
    let (pollers, busy_kills) = if quick { (20, 3) } else { (50, 10) };
    let mut busy = Row::new(
        format!("restart after kill -9 while {pollers} clients poll status of 1000, median of {busy_kills}"),
        "ms",
    );
    for kind in kinds.iter().filter(|_| wanted("busy")) {
        let d = run(kind, &[Program::sleepers("many", 1000)]);
        d.wait_running(1000);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut times = std::thread::scope(|scope| {
            for _ in 0..pollers {
                scope.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        d.status_count();
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(500));
            let times: Vec<f64> = (0..busy_kills)
                .map(|_| {
                    std::thread::sleep(Duration::from_millis(1100));
                    kill_one_and_time(d.pid())
                })
                .collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            times
        });
        times.sort_by(f64::total_cmp);
        busy.set(kind, times[times.len() / 2]);
        d.stop();
    }
    if wanted("busy") {
        rows.push(busy);
    }
    let idle_seconds = if quick { 3 } else { 10 };
    let mut idle_cpu = Row::new("idle, 100 sleeping children: CPU".to_string(), "ms/s");
    let mut idle_wakeups = Row::new("idle, 100 sleeping children: wakeups".to_string(), "/s");
    for kind in kinds.iter().filter(|_| wanted("idle")) {
        let d = run(kind, &[Program::sleepers("idle", 100)]);
        d.wait_running(100);
        std::thread::sleep(Duration::from_millis(500));
        let before = usage(d.pid());
        std::thread::sleep(Duration::from_secs(idle_seconds));
        let after = usage(d.pid());
        idle_cpu.set(kind, (after.cpu_ticks - before.cpu_ticks) as f64 * 10.0 / idle_seconds as f64);
        idle_wakeups.set(kind, (after.switches - before.switches) as f64 / idle_seconds as f64);
        d.stop();
    }
    if wanted("idle") {
        rows.push(idle_cpu);
        rows.push(idle_wakeups);
    }
    if wanted("log") {
        rows.extend(log_throughput(&kinds, &run, if quick { 2 } else { 5 }));
    }
    if wanted("logs") {
        rows.extend(logs::rows(if quick { 2 } else { 5 }));
    }
    let stops: &[usize] = match (quick, wanted("stop")) {
        (_, false) => &[],
        (true, true) => &[100],
        (false, true) => &[100, 500],
    };
    for &n in stops {
        let mut row = Row::new(format!("stop all of {n} (TERM obeyed)"), "ms");
        for kind in &kinds {
            let d = run(kind, &[Program::sleepers("many", n)]);
            d.wait_running(n);
            let started = Instant::now();
            d.stop_all();
            while !children(d.pid()).is_empty() {
                std::thread::sleep(Duration::from_micros(200));
            }
            row.set(kind, started.elapsed().as_secs_f64() * 1000.0);
            d.stop();
        }
        rows.push(row);
    }
    if wanted("alerts") {
        rows.extend(alerts::rows(quick));
    }
    if wanted("attach") {
        rows.extend(attach::rows(quick));
    }
    if wanted("checks") {
        rows.extend(checks::rows(quick));
    }
    if wanted("metrics") {
        rows.extend(metrics::rows(quick));
    }
    if wanted("reload") {
        rows.extend(reload::rows(quick));
    }
    if wanted("scale") {
        rows.extend(scale::rows(quick, supervisord.as_ref()));
    }
    let statuses: &[usize] = match (quick, wanted("status")) {
        (_, false) => &[],
        (true, true) => &[100],
        (false, true) => &[100, 1000],
    };
    for &n in statuses {
        let mut row = Row::new(format!("status of {n} processes, round trip"), "ms");
        for kind in &kinds {
            let d = run(kind, &[Program::sleepers("many", n)]);
            d.wait_running(n);
            let mut times: Vec<f64> = (0..20)
                .map(|_| {
                    let started = Instant::now();
                    d.status_count();
                    started.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(f64::total_cmp);
            row.set(kind, times[times.len() / 2]);
            d.stop();
        }
        rows.push(row);
    }
    print_table(&rows, supervisord.is_some());
}

/// Starts a daemon of a kind on some programs.
type Launcher<'a> = dyn Fn(&Kind, &[Program]) -> Box<dyn Daemon> + 'a;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Taskmaster,
    Supervisord,
}

/// A program in a benchmark configuration.
pub struct Program {
    pub name: String,
    pub command: String,
    pub numprocs: usize,
    pub stdout: Option<std::path::PathBuf>,
    /// `user` (taskmaster) / `user=` (supervisord): who the processes run as.
    pub user: Option<String>,
}

impl Program {
    /// `yes`, its output captured into `file`: the log capture rows' writer.
    pub(crate) fn yes(file: &std::path::Path) -> Program {
        Program {
            name: "yes".into(),
            command: "yes".into(),
            stdout: Some(file.to_path_buf()),
            ..Program::sleepers("yes", 1)
        }
    }

    fn sleepers(name: &str, numprocs: usize) -> Program {
        Program {
            name: name.to_string(),
            command: "sleep 100000".to_string(),
            numprocs,
            stdout: None,
            user: None,
        }
    }
}

impl Row {
    fn new(scenario: String, unit: &'static str) -> Row {
        Row { scenario, unit, taskmaster: None, supervisord: None }
    }

    fn set(&mut self, kind: &Kind, value: f64) {
        match kind {
            Kind::Taskmaster => self.taskmaster = Some(value),
            Kind::Supervisord => self.supervisord = Some(value),
        }
    }
}

/// Kills the daemon's only child with SIGKILL and times, from outside, until a new child runs.
fn kill_and_time(daemon: i32) -> f64 {
    let old = children(daemon);
    let Some(&victim) = old.first() else { return f64::NAN };
    let started = Instant::now();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL);
    loop {
        let now = children(daemon);
        if now.iter().any(|p| *p != victim) {
            return started.elapsed().as_secs_f64() * 1000.0;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return f64::NAN;
        }
    }
}

/// Kills one of the daemon's children with SIGKILL and times, from outside, until a child that
/// was not there runs.
fn kill_one_and_time(daemon: i32) -> f64 {
    let Some(&victim) = children(daemon).first() else { return f64::NAN };
    let mut seen = last_pid();
    let started = Instant::now();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL);
    // The new process is watched for through the pid counter: each pid handed out since the
    // kill is checked for the daemon as its parent. Reading the daemon's list of children
    // instead would cost milliseconds with 10 000 of them, and take a core from the daemon.
    loop {
        let last = last_pid();
        while seen != last {
            seen = if seen >= pid_max() { 1 } else { seen + 1 };
            if parent_of(seen) == Some(daemon) {
                return started.elapsed().as_secs_f64() * 1000.0;
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            return f64::NAN;
        }
    }
}

/// The last pid handed out in this pid namespace.
fn last_pid() -> i32 {
    std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn pid_max() -> i32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 22)
}

/// A process's parent, from /proc/PID/stat (the field after the state, past the name's `)`).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// One child writing as fast as it can into its stdout file, against the same producer piped
/// into `cat > file` with no supervisor.
fn log_throughput(kinds: &[Kind], run: &Launcher, seconds: u64) -> Vec<Row> {
    let dir = daemons::scratch("log");
    let mut rate = Row::new(format!("log capture, `yes` for {seconds} s, median of 3"), "MB/s");
    let mut cpu = Row::new("log capture: daemon CPU per GB captured".to_string(), "s/GB");
    let mut limit = Row::new("  (yes | cat > file, no supervisor)".to_string(), "MB/s");
    let mut cat_cpu = Row::new("  (cat's own CPU per GB)".to_string(), "s/GB");
    // Rounds taken in turn, so that a passing disk slowdown falls on all of them alike.
    let mut samples: Vec<Vec<(Option<Kind>, f64, f64)>> = Vec::new();
    for _ in 0..3 {
        let mut round = Vec::new();
        for kind in kinds {
            let file = dir.join("yes.out");
            let _ = std::fs::remove_file(&file);
            let program = Program::yes(&file);
            let d = run(kind, &[program]);
            d.wait_running(1);
            let (mb_s, s_gb) = measure_writer(&file, d.pid(), seconds);
            round.push((Some(*kind), mb_s, s_gb));
            d.stop();
            let _ = std::fs::remove_file(&file);
        }
        // The physical limit: the same producer into cat, no supervisor.
        let file = dir.join("cat.out");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec yes | cat > {}", file.display()))
            .spawn()
            .expect("yes | cat");
        std::thread::sleep(Duration::from_millis(300));
        let cat = children(child.id() as i32).into_iter().find(|p| comm(*p) == "cat").unwrap_or(0);
        let (mb_s, s_gb) = measure_writer(&file, cat, seconds);
        round.push((None, mb_s, s_gb));
        for p in children(child.id() as i32) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_file(&file);
        samples.push(round);
    }
    let median = |who: Option<Kind>, field: fn(&(Option<Kind>, f64, f64)) -> f64| {
        let mut values: Vec<f64> = samples.iter().flatten().filter(|s| s.0 == who).map(field).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for kind in kinds {
        rate.set(kind, median(Some(*kind), |s| s.1));
        cpu.set(kind, median(Some(*kind), |s| s.2));
    }
    limit.taskmaster = Some(median(None, |s| s.1));
    cat_cpu.taskmaster = Some(median(None, |s| s.2));
    let _ = std::fs::remove_dir_all(&dir);
    vec![rate, limit, cpu, cat_cpu]
}

/// How fast `file` grows while `writer` copies into it: MB/s, and the writer's CPU seconds per GB.
pub(crate) fn measure_writer(file: &std::path::Path, writer: i32, seconds: u64) -> (f64, f64) {
    measure_count(|| file_size(file), writer, seconds)
}

/// How fast a count of bytes grows while `writer` works: MB/s, and the writer's CPU seconds per
/// GB counted.
pub(crate) fn measure_count(bytes: impl Fn() -> u64, writer: i32, seconds: u64) -> (f64, f64) {
    let (count0, cpu0, t0) = (bytes(), usage(writer).cpu_ticks, Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (count1, cpu1, elapsed) = (bytes(), usage(writer).cpu_ticks, t0.elapsed().as_secs_f64());
    let bytes = count1.saturating_sub(count0) as f64;
    (bytes / elapsed / 1e6, (cpu1 - cpu0) as f64 / 100.0 / (bytes / 1e9))
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

fn print_table(rows: &[Row], with_supervisord: bool) {
    let mut out = std::io::stdout().lock();
    let fmt = |v: Option<f64>| match v {
        Some(v) if v.is_nan() => "n/a".to_string(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 1.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
        None => String::new(),
    };
    let _ = writeln!(out);
    match with_supervisord {
        true => {
            let _ = writeln!(
                out,
                "| scenario | unit | taskmaster | supervisord 4.3.0 | taskmaster/supervisord |"
            );
            let _ = writeln!(out, "|---|---|---:|---:|---:|");
        }
        false => {
            let _ = writeln!(out, "| scenario | unit | taskmaster |");
            let _ = writeln!(out, "|---|---|---:|");
        }
    }
    for r in rows {
        match with_supervisord {
            true => {
                let ratio = match (r.taskmaster, r.supervisord) {
                    (Some(t), Some(s)) if s > 0.0 => format!("{:.3}", t / s),
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {ratio} |",
                    r.scenario,
                    r.unit,
                    fmt(r.taskmaster),
                    fmt(r.supervisord)
                );
            }
            false => {
                let _ = writeln!(out, "| {} | {} | {} |", r.scenario, r.unit, fmt(r.taskmaster));
            }
        }
    }
}
