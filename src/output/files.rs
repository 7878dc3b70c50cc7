//! Log files that rotate by size (taskmaster(1), CHILD LOGS): when a write would make the file
//! larger than `maxbytes`, it is cut after the last whole line that fits, the file becomes
//! `PATH.1` (`PATH.1` becomes `PATH.2` … the oldest is removed) and a new one is started. A line
//! is never split between two files: a line longer than `maxbytes` gets a file of its own, and
//! a file that ends inside a line (a partial line let go) is not rotated before that line ends.
//! Used for child output and for the main log.

use crate::append::{OpenError, open_append_for};
use crate::config::{RunAs, describe_io};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An open log file and what its rotation needs to know.
#[derive(Debug)]
pub(crate) struct Rotating {
    file: File,
    path: PathBuf,
    /// Rotated when a write would pass it; 0: never. Only regular files are rotated.
    maxbytes: u64,
    backups: u32,
    /// What the file holds, as far as taskmaster wrote it.
    size: u64,
    /// The last byte written ended a line.
    at_line_start: bool,
    /// The highest backup number there may be: looked for once, then kept up to date, so that
    /// a rotation renames only the backups there are.
    seen: Option<u32>,
    /// Whether only root controls its folders (see `rotate`): looked at once.
    root_folder: Option<bool>,
}

/// What went wrong in an append.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Trouble {
    /// The bytes could not be written: they are lost.
    Write(String),
    /// The rotation failed: the bytes were written, to the file as it was.
    Rotate(String),
    /// The rotation found the file deleted (what was written to it since is lost); a new one
    /// was started.
    Deleted,
    /// The file was moved aside but a new one could not be opened: what was not written yet is
    /// lost, and the old file is still the one held.
    Gone(String),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Trouble::Write(why) => write!(f, "{why}"),
            Trouble::Rotate(why) => write!(f, "couldn't rotate it: {why}"),
            Trouble::Deleted => {
                write!(f, "it had been deleted (what was written to it since is lost); it is created again")
            }
            Trouble::Gone(why) => write!(f, "couldn't start a new file after rotating it: {why}"),
        }
    }
}

impl Rotating {
    /// Opens `path` to append to, as `owner` would (see `append`).
    pub(crate) fn open(
        path: &Path,
        maxbytes: u64,
        backups: u32,
        owner: Option<&RunAs>,
    ) -> Result<Rotating, OpenError> {
        let file = open_append_for(path, owner)?;
        let meta = file.metadata().map_err(|e| OpenError::Failed(describe_io(&e)))?;
        let maxbytes = if meta.is_file() { maxbytes } else { 0 };
        let size = meta.len();
        Ok(Rotating {
            file,
            path: path.to_path_buf(),
            maxbytes,
            backups,
            size,
            at_line_start: true,
            seen: None,
            root_folder: None,
        })
    }

    /// New rotation settings (a reload), from the next write on.
    pub(crate) fn retune(&mut self, maxbytes: u64, backups: u32) {
        let regular = self.file.metadata().is_ok_and(|m| m.is_file());
        self.maxbytes = if regular { maxbytes } else { 0 };
        self.backups = backups;
    }

    /// The renames a rotation costs now: one per backup there is, and the file itself.
    pub(crate) fn rotation_cost(&self) -> u32 {
        self.seen.unwrap_or(self.backups).min(self.backups) + 1
    }

    /// Whether the file was deleted (or moved out of the way and deleted) since it was opened.
    pub(crate) fn deleted(&self) -> bool {
        self.file.metadata().is_ok_and(|m| m.nlink() == 0)
    }

    /// Appends `bytes`, rotating when the size asks, as many times as `rotations` still allows
    /// (a program writing faster than that makes larger files, rather than a loop busy
    /// renaming). `owner` renames and creates the files (as it opened the first).
    pub(crate) fn append(
        &mut self,
        mut bytes: &[u8],
        owner: Option<&RunAs>,
        rotations: &mut u32,
    ) -> Result<(), Trouble> {
        let mut trouble = None;
        while !bytes.is_empty() {
            let room = self.maxbytes.saturating_sub(self.size);
            if self.maxbytes == 0 || bytes.len() as u64 <= room || *rotations == 0 {
                self.write(bytes)?;
                break;
            }
            let cut = match memchr::memrchr(b'\n', &bytes[..room as usize]) {
                Some(i) => Some(i + 1),
                // The file is empty or ends inside a line: that line goes in whole when its end
                // is here; one still without an end is cut at twice `maxbytes` (an endless line
                // must not grow a file for ever).
                None if self.size == 0 || !self.at_line_start => {
                    let limit = (2 * self.maxbytes).saturating_sub(self.size) as usize;
                    match memchr::memchr(b'\n', bytes) {
                        Some(i) => Some(i + 1),
                        None if bytes.len() <= limit => {
                            self.write(bytes)?;
                            break;
                        }
                        None => (limit > 0).then_some(limit),
                    }
                }
                None => None,
            };
            if let Some(cut) = cut {
                self.write(&bytes[..cut])?;
                bytes = &bytes[cut..];
            }
            *rotations -= 1;
            match self.rotate(owner) {
                Ok(()) => {}
                // Tried again once the file has grown by `maxbytes` more.
                Err(note @ (Trouble::Rotate(_) | Trouble::Deleted)) => trouble = Some(note),
                Err(other) => return Err(other),
            }
        }
        trouble.map_or(Ok(()), Err)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Trouble> {
        let result = write_all(&mut self.file, bytes);
        let written = match &result {
            Ok(()) => bytes.len(),
            Err((n, _)) => *n,
        };
        self.size += written as u64;
        if written > 0 {
            self.at_line_start = bytes[written - 1] == b'\n';
        }
        result.map_err(|(_, e)| Trouble::Write(describe_io(&e)))
    }

    /// `PATH` becomes `PATH.1` and so on; a new `PATH` is opened. With no backups, the file is
    /// emptied instead. A file deleted meanwhile is created again, and said; one moved away by
    /// someone else (an outside rotation without `reopen`) is just followed by a new one.
    fn rotate(&mut self, owner: Option<&RunAs>) -> Result<(), Trouble> {
        if self.backups == 0 {
            let emptied = self.file.set_len(0);
            self.size = 0;
            return emptied.map_err(|e| Trouble::Rotate(format!("couldn't empty it: {}", describe_io(&e))));
        }
        // A deleted file is not moved aside: the backups keep their numbers.
        let deleted = self.deleted();
        self.size = 0;
        let (path, backups) = (self.path.clone(), self.backups);
        let seen = *self.seen.get_or_insert_with(|| highest_backup(&path, backups));
        let renamed = match deleted {
            true => Ok(()),
            // In a folder only root may write to (/var/log), the program's user could not
            // rename: root does, as root created the file there (see `append`).
            false if *self.root_folder.get_or_insert_with(|| crate::append::root_controlled(&path)) => {
                shift(&path, backups, seen).map_err(Trouble::Rotate)?
            }
            false => as_owner(owner, || shift(&path, backups, seen)).map_err(Trouble::Rotate)?,
        };
        if let Err(e) = &renamed
            && e.kind() != ErrorKind::NotFound
        {
            let why = format!("couldn't rename it to {}.1: {}", path.display(), describe_io(e));
            return Err(Trouble::Rotate(why));
        }
        let reopened = Rotating::open(&path, self.maxbytes, backups, owner).map_err(|e| match deleted {
            true => {
                Trouble::Gone(format!("it had been deleted, and cannot be created again: {}", e.message()))
            }
            false => Trouble::Gone(e.message().to_string()),
        })?;
        let seen = Some(if deleted { seen } else { (seen + 1).min(backups) });
        *self = Rotating { seen, root_folder: self.root_folder, ..reopened };
        match deleted {
            true => Err(Trouble::Deleted),
            false => Ok(()),
        }
    }
}

/// `PATH.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The highest `N` for which `PATH.N` exists, up to `backups`; 0 if none does.
fn highest_backup(path: &Path, backups: u32) -> u32 {
    (1..=backups).rev().find(|n| numbered(path, *n).exists()).unwrap_or(0)
}

/// Removes `PATH.N`, renames `PATH.k` to `PATH.k+1` from the oldest down (those up to `seen`,
/// the highest there may be), then `PATH` to `PATH.1`. The outer Err: the folder cannot be
/// worked in; the inner: renaming `PATH` itself (not found: moved away by someone else).
fn shift(path: &Path, backups: u32, seen: u32) -> Result<std::io::Result<()>, String> {
    if seen >= backups
        && let Err(e) = std::fs::remove_file(numbered(path, backups))
        && e.kind() != ErrorKind::NotFound
    {
        return Err(format!("couldn't remove {}: {}", numbered(path, backups).display(), describe_io(&e)));
    }
    for n in (1..=seen.min(backups - 1)).rev() {
        let (from, to) = (numbered(path, n), numbered(path, n + 1));
        if let Err(e) = std::fs::rename(&from, &to)
            && e.kind() != ErrorKind::NotFound
        {
            return Err(format!(
                "couldn't rename {} to {}: {}",
                from.display(),
                to.display(),
                describe_io(&e)
            ));
        }
    }
    Ok(std::fs::rename(path, numbered(path, 1)))
}

/// Runs `act` with the file rights of `owner` under a root taskmaster, as the file was opened.
fn as_owner<T>(owner: Option<&RunAs>, act: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match owner.filter(|_| nix::unistd::geteuid().is_root()) {
        Some(user) => crate::sys::privileges::with_files_of(user, act)?,
        None => act(),
    }
}

/// Writes all of `bytes`. Err: how much was written, and why not the rest. The file is
/// non-blocking: a device that cannot take more now loses the rest rather than stopping
/// taskmaster.
pub(crate) fn write_all(file: &mut File, bytes: &[u8]) -> Result<(), (usize, std::io::Error)> {
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => return Err((done, ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tm-rotate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("folder");
        dir
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_between_lines_and_keeps_the_backups_asked() {
        let dir = folder("lines");
        let path = dir.join("out.log");
        let mut log = Rotating::open(&path, 10, 2, None).expect("open");
        log.append(b"aaaa\nbbbb\ncccc\ndd", None, &mut 100).expect("append");
        log.append(b"d\neeeeeeeeeeeeeee\nf\n", None, &mut 100).expect("append");
        // Each file holds whole lines; the long one has a file of its own.
        assert_eq!(read(&dir.join("out.log.2")), "cccc\nddd\n");
        assert_eq!(read(&dir.join("out.log.1")), "eeeeeeeeeeeeeee\n");
        assert_eq!(read(&path), "f\n");
        assert!(!dir.join("out.log.3").exists(), "at most 2 backups");
        std::fs::remove_dir_all(dir).expect("clean");
    }

    #[test]
    fn a_file_ending_inside_a_line_is_not_rotated_before_its_end() {
        let dir = folder("partial");
        let path = dir.join("out.log");
        let mut log = Rotating::open(&path, 8, 1, None).expect("open");
        log.append(b"abcdef", None, &mut 100).expect("append");
        log.append(b"ghij\nk\n", None, &mut 100).expect("append");
        assert_eq!(read(&dir.join("out.log.1")), "abcdefghij\n");
        assert_eq!(read(&path), "k\n");
        std::fs::remove_dir_all(dir).expect("clean");
    }

    #[test]
    fn a_long_line_is_whole_and_an_endless_one_cut_at_twice_maxbytes() {
        let dir = folder("long");
        let path = dir.join("out.log");
        let mut log = Rotating::open(&path, 10, 5, None).expect("open");
        let long = format!("short\n{}\nafter\n", "A".repeat(50));
        log.append(long.as_bytes(), None, &mut 100).expect("append");
        assert_eq!(read(&dir.join("out.log.1")), format!("{}\n", "A".repeat(50)), "whole, alone");
        assert_eq!(read(&path), "after\n");
        let endless = "x".repeat(25);
        log.append(endless.as_bytes(), None, &mut 100).expect("append");
        log.append(endless.as_bytes(), None, &mut 100).expect("append");
        // 50 bytes without an end: files of 20 (twice maxbytes), then the rest.
        assert_eq!(read(&dir.join("out.log.3")), "after\n");
        assert_eq!(read(&dir.join("out.log.2")), "x".repeat(20));
        assert_eq!(read(&dir.join("out.log.1")), "x".repeat(20));
        assert_eq!(read(&path), "x".repeat(10));
        std::fs::remove_dir_all(dir).expect("clean");
    }

    #[test]
    fn no_backups_empties_the_file() {
        let dir = folder("empty");
        let path = dir.join("out.log");
        let mut log = Rotating::open(&path, 6, 0, None).expect("open");
        log.append(b"one\ntwo\nsix\n", None, &mut 100).expect("append");
        assert_eq!(read(&path), "six\n");
        assert!(!dir.join("out.log.1").exists());
        std::fs::remove_dir_all(dir).expect("clean");
    }

    #[test]
    fn a_deleted_file_is_said_and_started_again_at_rotation() {
        let dir = folder("deleted");
        let path = dir.join("out.log");
        let mut log = Rotating::open(&path, 6, 1, None).expect("open");
        log.append(b"one\n", None, &mut 100).expect("append");
        std::fs::write(dir.join("out.log.1"), "zero\n").expect("a backup");
        std::fs::remove_file(&path).expect("rm");
        assert!(log.deleted());
        assert_eq!(log.append(b"two\n", None, &mut 100), Err(Trouble::Deleted));
        assert_eq!(read(&path), "two\n");
        assert_eq!(read(&dir.join("out.log.1")), "zero\n", "the backups keep their numbers");
        std::fs::remove_dir_all(dir).expect("clean");
    }
}
