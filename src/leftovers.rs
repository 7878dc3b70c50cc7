//! What a taskmaster killed with SIGKILL leaves behind. Its programs' main processes die with it
//! (the parent-death signal), but what they started in their process groups lives on and would
//! clash with the next taskmaster's programs (a port still bound, a second copy at work). So
//! each program's process group is recorded, with its leader's start time, in a small file next
//! to the socket (`SOCKET.groups`); a taskmaster that starts kills what is left in the groups of
//! the previous one before it starts anything, and says so in the log (taskmaster(1), FILES).
//!
//! A group is recognised by more than its number, which the kernel reuses: the machine's boot,
//! the session (each program is a session of its own, whose number is its group's; a file of an
//! older taskmaster names the one session of all), and start times no earlier than the recorded
//! leader's. The
//! decision is pure (`leftovers`); reading /proc and the file is the rest.

use crate::config::describe_io;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process as /proc shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub(crate) pid: i32,
    pub(crate) pgrp: i32,
    pub(crate) session: i32,
    /// Clock ticks since boot.
    pub(crate) start: u64,
}

/// What the file of a previous taskmaster says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Record {
    pub(crate) boot: String,
    pub(crate) session: i32,
    /// The taskmaster that wrote it, and its start time.
    pub(crate) owner: i32,
    pub(crate) owner_start: u64,
    /// Live groups: process group id → its leader's start time.
    pub(crate) groups: BTreeMap<i32, u64>,
    /// Processes programs left running (taskmaster(1), PROGRAMS THAT ESCAPE): pid → start time.
    pub(crate) pids: BTreeMap<i32, u64>,
}

const HEADER: &str = "taskmaster-groups 1";

impl Record {
    /// Reads the file's lines: a header, then `+ PGID START` when a group starts, `= PID START`
    /// when a process a program left is handed over, and `- PGID` or `- PID` when it is gone.
    /// Lines it does not understand are skipped.
    pub(crate) fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let mut record = Record::default();
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["boot", boot] => record.boot = boot.to_string(),
                ["session", sid] => record.session = sid.parse().ok()?,
                ["pid", pid, start] => {
                    record.owner = pid.parse().ok()?;
                    record.owner_start = start.parse().ok()?;
                }
                ["+", pgid, start] => {
                    if let (Ok(pgid), Ok(start)) = (pgid.parse(), start.parse()) {
                        record.groups.insert(pgid, start);
                    }
                }
                ["=", pid, start] => {
                    if let (Ok(pid), Ok(start)) = (pid.parse(), start.parse()) {
                        record.pids.insert(pid, start);
                    }
                }
                ["-", number] => {
                    if let Ok(number) = number.parse::<i32>() {
                        record.groups.remove(&number);
                        record.pids.remove(&number);
                    }
                }
                _ => {}
            }
        }
        Some(record)
    }
}

/// The processes to kill: the members of the recorded groups that are surely the previous
/// taskmaster's (same boot and session, started no earlier than the group's leader), in groups
/// whose number was not taken by a new leader since.
pub(crate) fn leftovers(record: &Record, boot: &str, processes: &[ProcInfo]) -> Vec<i32> {
    if record.boot != boot {
        return Vec::new();
    }
    let mut by_group: HashMap<i32, Vec<&ProcInfo>> = HashMap::new();
    for p in processes {
        by_group.entry(p.pgrp).or_default().push(p);
    }
    let mut doomed = Vec::new();
    for (pgid, leader_start) in &record.groups {
        let Some(members) = by_group.get(pgid) else { continue };
        let reused = members.iter().any(|p| p.pid == *pgid && p.start != *leader_start);
        if reused {
            continue;
        }
        doomed.extend(
            members
                .iter()
                .filter(|p| (p.session == *pgid || p.session == record.session) && p.start >= *leader_start)
                .map(|p| p.pid),
        );
    }
    // A process a program left: the very one (same pid, same start), and the group it leads.
    for (pid, start) in &record.pids {
        if processes.iter().any(|p| p.pid == *pid && p.start == *start) {
            doomed.extend(processes.iter().filter(|p| p.pgrp == *pid && p.start >= *start).map(|p| p.pid));
            doomed.push(*pid);
        }
    }
    doomed.sort_unstable();
    doomed.dedup();
    doomed
}

/// The groups file of the socket at `socket`.
pub(crate) fn path_for(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".groups");
    PathBuf::from(name)
}

/// Whether the taskmaster that wrote `record` still runs (same boot, same pid, same start; a
/// zombie, killed and not yet reaped by its parent, runs nothing).
pub(crate) fn owner_alive(record: &Record, boot: &str, owner: Option<(ProcInfo, char)>) -> bool {
    record.boot == boot
        && owner.is_some_and(|(p, state)| {
            !matches!(state, 'Z' | 'X') && p.pid == record.owner && p.start == record.owner_start
        })
}

/// Kills what a previous taskmaster left in its programs' groups and waits (a moment) for it to
/// be gone. Returns the log lines to write. Only a file of the user's own is trusted. Err: the
/// taskmaster that wrote the file still runs (someone removed its socket): nothing is touched,
/// and this one must not start beside it.
pub(crate) fn clean_up(file: &Path) -> Result<Vec<String>, String> {
    let text = match read_own(file) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(Vec::new()),
        Err(why) => return Ok(vec![why]),
    };
    let Some(record) = Record::parse(&text) else {
        return Ok(vec![format!("{} is not a groups file; ignored", file.display())]);
    };
    let boot = boot_id();
    let me = std::process::id() as i32;
    if record.owner != me && owner_alive(&record, &boot, info(record.owner)) {
        return Err(format!(
            "another taskmaster (pid {}) still runs the programs recorded in {}: its socket was \
             probably removed; send it SIGHUP to bind the socket again, or stop it first",
            record.owner,
            file.display()
        ));
    }
    let doomed = leftovers(&record, &boot, &processes());
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    for pid in &doomed {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
    }
    // They are not our children: wait until /proc no longer shows them alive (a killed process
    // goes within milliseconds, releasing its ports), with a bound. This is before the loop
    // starts, so the clock is read here.
    #[allow(clippy::disallowed_methods)]
    let deadline = Instant::now() + Duration::from_secs(2);
    #[allow(clippy::disallowed_methods)]
    while Instant::now() < deadline
        && doomed.iter().any(|pid| info(*pid).is_some_and(|(_, state)| state != 'Z'))
    {
        // A pause of 5 ms (poll on nothing).
        let _ = nix::poll::poll(&mut [], nix::poll::PollTimeout::from(5u8));
    }
    let pids: Vec<String> = doomed.iter().map(i32::to_string).collect();
    Ok(vec![format!(
        "killed {} process{} left running by the previous taskmaster (pid {}) in its programs' process groups: {}",
        doomed.len(),
        if doomed.len() == 1 { "" } else { "es" },
        record.owner,
        pids.join(", ")
    )])
}

/// The file's text if it is a regular file of the user's own that no one else may write;
/// `Ok(None)` when there is none.
fn read_own(file: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let opened = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(file);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {}", file.display(), describe_io(&e))),
    };
    let meta = f.metadata().map_err(|e| describe_io(&e))?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.is_file() || meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(format!("{} is not a private file of yours; not trusted, not used", file.display()));
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(|e| describe_io(&e))?;
    Ok(Some(text))
}

/// Every process of the machine.
fn processes() -> Vec<ProcInfo> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| info(pid).filter(|(_, state)| *state != 'Z').map(|(p, _)| p))
        .collect()
}

/// A process's identity and its state letter, from /proc/PID/stat.
pub(crate) fn info(pid: i32) -> Option<(ProcInfo, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let pgrp = fields.get(2)?.parse().ok()?;
    let session = fields.get(3)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ProcInfo { pid, pgrp, session, start }, state))
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The groups file of the running taskmaster: a line appended when a process starts its group
/// and when the group is gone; rewritten whole when the gone outnumber the live.
pub(crate) struct Groups {
    path: PathBuf,
    file: Option<File>,
    /// The file this taskmaster wrote (device, inode): another one at the path is not ours.
    identity: Option<(u64, u64)>,
    live: BTreeMap<i32, u64>,
    /// Processes programs left running, with their start times.
    adopted: BTreeMap<i32, u64>,
    lines: usize,
    /// The last write failed (and was said).
    failed: bool,
    /// Spawned since the last `flush`, not recorded yet.
    pending: Vec<i32>,
}

impl Groups {
    /// Starts a new file (replacing the previous taskmaster's, cleaned up by then).
    pub(crate) fn create(path: PathBuf) -> (Groups, Option<String>) {
        let mut groups = Groups {
            path,
            file: None,
            identity: None,
            live: BTreeMap::new(),
            adopted: BTreeMap::new(),
            lines: 0,
            failed: false,
            pending: Vec::new(),
        };
        let written = groups.rewrite();
        let problem = groups.report(written);
        (groups, problem)
    }

    /// A process was spawned: its group is recorded with its start time at the next `flush`.
    /// Not at once: its start time is read from /proc, which waits for the exec to finish, and a
    /// spawn would wait for it; taken together after a burst of spawns, the reads rarely wait.
    pub(crate) fn started(&mut self, pid: i32) {
        self.pending.push(pid);
    }

    /// Records the processes spawned since the last call, in one write. Called before the loop
    /// sleeps (taskmaster(1), IMPLEMENTATION NOTES).
    pub(crate) fn flush(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let mut lines = String::new();
        for pid in std::mem::take(&mut self.pending) {
            let start = info(pid).map_or(0, |(p, _)| p.start);
            self.live.insert(pid, start);
            lines.push_str(&format!("+ {pid} {start}\n"));
        }
        let written = self.append(&lines);
        self.report(written)
    }

    /// A process a program left was handed to taskmaster (taskmaster(1), PROGRAMS THAT ESCAPE):
    /// recorded by pid and start time (one identity, whatever group it moves to), so that the
    /// next taskmaster kills it, and the group it leads, if this one is killed.
    pub(crate) fn adopted(&mut self, pid: i32, start: u64) -> Option<String> {
        if self.adopted.insert(pid, start).is_some() {
            return None;
        }
        let written = self.append(&format!("= {pid} {start}\n"));
        self.report(written)
    }

    /// A process was reaped (and the rest of its group killed): its group, or it, is gone.
    pub(crate) fn ended(&mut self, pid: i32) -> Option<String> {
        if let Some(at) = self.pending.iter().position(|p| *p == pid) {
            self.pending.swap_remove(at);
            return None;
        }
        if self.live.remove(&pid).is_none() && self.adopted.remove(&pid).is_none() {
            return None;
        }
        let written = match self.lines > 2 * (self.live.len() + self.adopted.len()) + 64 {
            true => self.rewrite(),
            false => self.append(&format!("- {pid}\n")),
        };
        self.report(written)
    }

    /// The socket moved (a reload): the file follows it.
    pub(crate) fn move_to(&mut self, path: PathBuf) -> Option<String> {
        if path == self.path {
            return None;
        }
        let old = std::mem::replace(&mut self.path, path);
        let written = self.rewrite();
        if written.is_ok() {
            let _ = std::fs::remove_file(old);
        }
        self.report(written)
    }

    /// Everything stopped cleanly: nothing is left to clean up after this taskmaster. Only its
    /// own file is removed.
    pub(crate) fn remove(&mut self) {
        self.file = None;
        if self.is_in_place() {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Whether the file at the path is still the one this taskmaster writes.
    fn is_in_place(&self) -> bool {
        let found = std::fs::symlink_metadata(&self.path).map(|m| (m.dev(), m.ino())).ok();
        found.is_some() && found == self.identity
    }

    /// Appends a line; a file removed or replaced from outside is written anew, whole.
    fn append(&mut self, line: &str) -> Result<(), String> {
        self.lines += line.matches('\n').count();
        let in_place = self.is_in_place();
        match &mut self.file {
            Some(file) if in_place => file
                .write_all(line.as_bytes())
                .map_err(|e| format!("couldn't write {}: {}", self.path.display(), describe_io(&e))),
            _ => self.rewrite(),
        }
    }

    /// A failure is said once, and again only after a write succeeded in between.
    fn report(&mut self, written: Result<(), String>) -> Option<String> {
        match written {
            Ok(()) => {
                self.failed = false;
                None
            }
            Err(why) => (!std::mem::replace(&mut self.failed, true)).then_some(why),
        }
    }

    /// Writes the whole file anew (to a temporary file, renamed over the old one).
    fn rewrite(&mut self) -> Result<(), String> {
        let me = std::process::id() as i32;
        let mut text = format!(
            "{HEADER}\nboot {}\nsession {}\npid {me} {}\n",
            boot_id(),
            nix::unistd::getsid(None).map_or(0, |s| s.as_raw()),
            info(me).map_or(0, |(p, _)| p.start)
        );
        for (pgid, start) in &self.live {
            text.push_str(&format!("+ {pgid} {start}\n"));
        }
        for (pid, start) in &self.adopted {
            text.push_str(&format!("= {pid} {start}\n"));
        }
        let shown = self.path.display();
        let mut temp = self.path.clone().into_os_string();
        temp.push(".new");
        let temp = PathBuf::from(temp);
        let _ = std::fs::remove_file(&temp);
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
            .map_err(|e| format!("couldn't write {shown}: {}", describe_io(&e)))?;
        file.write_all(text.as_bytes())
            .map_err(|e| format!("couldn't write {shown}: {}", describe_io(&e)))?;
        std::fs::rename(&temp, &self.path)
            .map_err(|e| format!("couldn't write {shown}: {}", describe_io(&e)))?;
        let meta = file.metadata().map_err(|e| format!("couldn't write {shown}: {}", describe_io(&e)))?;
        self.identity = Some((meta.dev(), meta.ino()));
        self.lines = self.live.len() + self.adopted.len();
        self.file = Some(file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, pgrp: i32, session: i32, start: u64) -> ProcInfo {
        ProcInfo { pid, pgrp, session, start }
    }

    fn record(groups: &[(i32, u64)]) -> Record {
        Record {
            boot: "b".into(),
            session: 7,
            owner: 1,
            owner_start: 5,
            groups: groups.iter().copied().collect(),
            pids: BTreeMap::new(),
        }
    }

    #[test]
    fn a_process_a_program_left_is_killed_by_its_identity_with_the_group_it_leads() {
        let text = "taskmaster-groups 1\nboot b\nsession 7\npid 1 5\n= 40 100\n= 41 100\n- 41\n= 50 300\n";
        let record = Record::parse(text).expect("a record");
        assert_eq!(record.pids.keys().copied().collect::<Vec<_>>(), [40, 50]);
        let procs = [
            p(40, 40, 40, 100), // the daemon, leading its group
            p(42, 40, 40, 120), // its worker
            p(50, 9, 9, 999),   // pid 50 taken by another process since: left alone
            p(51, 50, 50, 1000),
        ];
        assert_eq!(leftovers(&record, "b", &procs), [40, 42]);
    }

    #[test]
    fn the_file_is_read_as_a_log_of_groups() {
        let text =
            "taskmaster-groups 1\nboot b\nsession 7\npid 1 5\n+ 10 100\n+ 20 200\n- 10\n+ 30 300\ngarbage\n";
        assert_eq!(Record::parse(text), Some(record(&[(20, 200), (30, 300)])));
        assert_eq!(Record::parse("something else\n"), None);
    }

    #[test]
    fn what_is_left_in_a_recorded_group_is_killed() {
        let r = record(&[(20, 200)]);
        // The leader is gone; two members of its group remain, one started later.
        let procs = [p(21, 20, 7, 200), p(22, 20, 7, 250), p(99, 99, 7, 10)];
        assert_eq!(leftovers(&r, "b", &procs), vec![21, 22]);
    }

    #[test]
    fn a_previous_taskmaster_that_still_runs_is_recognised() {
        let r = record(&[]);
        assert!(owner_alive(&r, "b", Some((p(1, 1, 7, 5), 'S'))));
        assert!(!owner_alive(&r, "b", Some((p(1, 1, 7, 6), 'S'))), "the pid was reused");
        assert!(!owner_alive(&r, "b", None), "gone");
        assert!(!owner_alive(&r, "other boot", Some((p(1, 1, 7, 5), 'R'))));
        assert!(!owner_alive(&r, "b", Some((p(1, 1, 7, 5), 'Z'))), "killed, not yet reaped");
    }

    #[test]
    fn a_group_number_taken_again_is_left_alone() {
        let r = record(&[(20, 200)]);
        // A new process 20 leads a group 20 of its own: not the recorded one.
        assert!(leftovers(&r, "b", &[p(20, 20, 7, 900), p(23, 20, 7, 950)]).is_empty());
        // The group's own session (each program is one) is ours.
        assert_eq!(leftovers(&r, "b", &[p(26, 20, 20, 300)]), vec![26]);
        // Members of another session, or older than the recorded leader, are not ours either.
        assert!(leftovers(&r, "b", &[p(24, 20, 8, 300), p(25, 20, 7, 100)]).is_empty());
        // After a reboot nothing recorded means anything.
        assert!(leftovers(&r, "other boot", &[p(21, 20, 7, 300)]).is_empty());
    }

    #[test]
    fn the_running_record_is_written_and_compacted() {
        let dir = std::env::temp_dir().join(format!("tm-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tm.sock.groups");
        let (mut groups, problem) = Groups::create(path.clone());
        assert_eq!(problem, None);
        let me = std::process::id() as i32;
        groups.started(me);
        assert_eq!(groups.flush(), None);
        for _ in 0..100 {
            groups.started(1_000_000);
            assert_eq!(groups.flush(), None);
            groups.ended(1_000_000);
        }
        groups.started(1_000_002);
        groups.ended(1_000_002);
        assert_eq!(groups.flush(), None, "ended before it was recorded: nothing to write");
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = Record::parse(&text).unwrap();
        assert_eq!(parsed.groups.keys().copied().collect::<Vec<_>>(), vec![me]);
        assert_eq!(parsed.owner, me);
        assert!(text.lines().count() < 100, "compacted: {} lines", text.lines().count());
        // Removed from outside: written again, whole, at the next change.
        std::fs::remove_file(&path).unwrap();
        groups.started(1_000_001);
        groups.flush();
        let parsed = Record::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(parsed.groups.keys().copied().collect::<Vec<_>>(), vec![me, 1_000_001]);
        // Replaced by another file: not ours to remove.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        groups.remove();
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
