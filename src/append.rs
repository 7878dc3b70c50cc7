//! Opening the files taskmaster appends to (child output, the main log) so that no path can
//! block it or make it write where it should not: the open never waits (a FIFO without a reader
//! would block `open`, one with a slow reader every `write`), only regular files and character
//! devices such as /dev/null are accepted, and a symbolic link that another user planted in a
//! shared sticky folder like /tmp is not followed, whatever `fs.protected_symlinks` says.

use crate::config::{RunAs, describe_io};
use std::fs::{File, Metadata, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The path names something taskmaster must not write to: a start fails on it.
    Refused(String),
    /// The file could not be opened (a missing folder, no permission): said once, and the
    /// output is dropped until it can be.
    Failed(String),
}

impl OpenError {
    pub(crate) fn message(&self) -> &str {
        match self {
            OpenError::Refused(m) | OpenError::Failed(m) => m,
        }
    }
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Written at its end, created if missing (mode 0666 less the umask): logs, output.
    Append,
    /// Written from the start, created if missing with mode 0600: a private file (history).
    Replace,
    Read,
}

/// Opens `path` for appending, creating it if missing (mode 0666 less the umask), close-on-exec
/// and non-blocking.
pub(crate) fn open_append(path: &Path) -> Result<File, OpenError> {
    open_safely(path, Access::Append)
}

/// Opens `path` for appending for `user` (taskmaster(1), PRIVILEGES): as that user would, so
/// that no link or folder the user controls can lead a root taskmaster to a file the user may
/// not write, and what is created is the user's; a terminal (`/dev/tty` is taskmaster's own) is
/// refused. Where the user may not create the file but no one but root controls the folders on
/// the way (`/var/log`), root creates it and gives it to the user, as supervisord users expect.
/// Without root, or without a user, as `open_append`.
pub(crate) fn open_append_for(path: &Path, user: Option<&RunAs>) -> Result<File, OpenError> {
    let Some(user) = user.filter(|_| nix::unistd::geteuid().is_root()) else { return open_append(path) };
    let as_user =
        crate::sys::privileges::with_files_of(user, || open_append(path)).map_err(OpenError::Failed)?;
    let file = match as_user {
        Err(OpenError::Failed(why)) => match root_folder(path) {
            Some((folder, name)) => open_in_root_folder(&folder, &name, path, user).map_err(|e| match e {
                OpenError::Failed(_) => OpenError::Failed(why),
                refused => refused,
            }),
            None => Err(OpenError::Failed(why)),
        },
        other => other,
    }?;
    not_taskmasters(path, file)
}

/// Refuses what would reach into taskmaster itself rather than a file of the program's: a
/// terminal (`/dev/tty` is taskmaster's own) and anything in /proc (`/proc/self` is taskmaster,
/// whose timer slack, say, is writable by its own user... and by the user it opens files as).
fn not_taskmasters(path: &Path, file: File) -> Result<File, OpenError> {
    let proc = || {
        nix::sys::statfs::fstatfs(&file)
            .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
    };
    let what = match () {
        () if std::io::IsTerminal::is_terminal(&file) => "a terminal",
        () if proc() => "in /proc",
        () => return Ok(file),
    };
    Err(OpenError::Refused(format!(
        "{} is {what}: the output of a program with a `user` may not go there (it would reach taskmaster)",
        path.display()
    )))
}

/// The folder of `path` and the file's name in it, opened from `/` one folder at a time without
/// following a link, when only root can change what it holds and which folder it is: each
/// belongs to root, and may be written by no one else, or, above the last one, is sticky (like
/// /tmp: no one else may move or remove root's folder in it). A link on the way (even one
/// root made: where it leads may be someone else's) or a `..` gives none.
/// Whether no one but root controls the folders on the way to `path` (see `root_folder`).
pub(crate) fn root_controlled(path: &Path) -> bool {
    nix::unistd::geteuid().is_root() && root_folder(path).is_some()
}

fn root_folder(path: &Path) -> Option<(OwnedFd, std::ffi::OsString)> {
    use nix::fcntl::{OFlag, open, openat};
    use std::path::Component;
    let name = path.file_name()?.to_os_string();
    let folders: Vec<Component> = path.parent()?.components().collect();
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let no_mode = nix::sys::stat::Mode::empty();
    let safe = |fd: &OwnedFd, last: bool| {
        nix::sys::stat::fstat(fd).is_ok_and(|st| {
            let others_write = st.st_mode & 0o022 != 0;
            let sticky = st.st_mode & 0o1000 != 0;
            st.st_uid == 0 && (!others_write || (!last && sticky))
        })
    };
    let mut folder: Option<OwnedFd> = None;
    for (i, part) in folders.iter().enumerate() {
        let last = i + 1 == folders.len();
        let next = match part {
            Component::RootDir => open("/", flags, no_mode).ok()?,
            Component::Normal(part) => openat(folder.as_ref()?, *part, flags, no_mode).ok()?,
            Component::CurDir => continue,
            Component::Prefix(_) | Component::ParentDir => return None,
        };
        if !safe(&next, last) {
            return None;
        }
        folder = Some(next);
    }
    Some((folder?, name))
}

/// In a folder only root controls: creates the file (nothing may be there, not even a link)
/// and gives it to `user`, or opens the one root put there, as it is.
fn open_in_root_folder(
    folder: &OwnedFd,
    name: &std::ffi::OsStr,
    path: &Path,
    user: &RunAs,
) -> Result<File, OpenError> {
    use nix::fcntl::{OFlag, openat};
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let failed = |e: nix::errno::Errno| OpenError::Failed(e.desc().to_string());
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    let file = match openat(folder, name, flags | OFlag::O_CREAT | OFlag::O_EXCL, mode) {
        Ok(fd) => {
            let file = File::from(fd);
            std::os::unix::fs::fchown(&file, Some(user.uid), Some(user.gid))
                .map_err(|e| OpenError::Failed(describe_io(&e)))?;
            file
        }
        Err(nix::errno::Errno::EEXIST) => File::from(openat(folder, name, flags, mode).map_err(failed)?),
        Err(e) => return Err(failed(e)),
    };
    let meta = file.metadata().map_err(|e| OpenError::Failed(describe_io(&e)))?;
    check_kind(path, &meta)?;
    Ok(file)
}

/// Opens `path` by the rules of this module, close-on-exec and non-blocking.
pub(crate) fn open_safely(path: &Path, access: Access) -> Result<File, OpenError> {
    let options = |follow: bool| {
        let mut o = OpenOptions::new();
        match access {
            Access::Append => o.append(true).create(true),
            Access::Replace => o.write(true).truncate(true).create(true).mode(0o600),
            Access::Read => o.read(true),
        };
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        o.custom_flags(libc::O_NONBLOCK | nofollow);
        o
    };
    // O_NOFOLLOW fails on a link (ELOOP, or EACCES for O_CREAT in a sticky folder on some
    // kernels): the link is looked at, then followed if it may be.
    let file = match options(false).open(path) {
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            check_link(path)?;
            options(true).open(path)
        }
        other => other,
    };
    let file = file.map_err(|e| explain(path, &e))?;
    let meta = file.metadata().map_err(|e| OpenError::Failed(describe_io(&e)))?;
    check_kind(path, &meta)?;
    if access == Access::Read && !meta.is_file() {
        // A device read to its end may never end (/dev/zero).
        return Err(refused(path, "not a regular file"));
    }
    Ok(file)
}

/// Refuses anything but a regular file or a character device.
fn check_kind(path: &Path, meta: &Metadata) -> Result<(), OpenError> {
    let kind = meta.file_type();
    if kind.is_file() || kind.is_char_device() {
        return Ok(());
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(refused(path, what))
}

fn refused(path: &Path, what: &str) -> OpenError {
    OpenError::Refused(format!(
        "{} is {what}: taskmaster appends only to regular files and character devices like /dev/null",
        path.display()
    ))
}

/// A symbolic link in a sticky, world-writable folder (/tmp) is followed only when it belongs to
/// the user who opens (taskmaster's, or a program's: see `open_append_for`) or to the folder's
/// owner: the rule of Linux's `fs.protected_symlinks`, applied even where that setting is off.
fn check_link(path: &Path) -> Result<(), OpenError> {
    let link = std::fs::symlink_metadata(path).map_err(|e| OpenError::Failed(describe_io(&e)))?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::metadata(folder).map_err(|e| OpenError::Failed(describe_io(&e)))?;
    let shared = dir.mode() & 0o1002 == 0o1002;
    let me = crate::sys::privileges::opener();
    match shared && link.uid() != me && link.uid() != dir.uid() {
        true => Err(OpenError::Refused(format!(
            "{} is a symbolic link of uid {} in the shared folder {}: not followed",
            path.display(),
            link.uid(),
            folder.display()
        ))),
        false => Ok(()),
    }
}

fn explain(path: &Path, e: &std::io::Error) -> OpenError {
    match e.raw_os_error() {
        // A FIFO without a reader, a socket, or a device with nothing behind it (/dev/tty
        // without a terminal), which is only a failure.
        Some(libc::ENXIO) => match std::fs::metadata(path).map(|m| m.file_type()) {
            Ok(kind) if kind.is_socket() => refused(path, "a socket"),
            Ok(kind) if kind.is_fifo() => refused(path, "a FIFO"),
            _ => OpenError::Failed(describe_io(e)),
        },
        Some(libc::EISDIR) => refused(path, "a folder"),
        _ if e.kind() == ErrorKind::WouldBlock => refused(path, "a FIFO"),
        _ => OpenError::Failed(describe_io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tm-append-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn regular_files_and_devices_open_and_the_rest_is_refused() {
        let d = dir("kinds");
        assert!(open_append(&d.join("new.log")).is_ok(), "created");
        assert!(open_append(Path::new("/dev/null")).is_ok());
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = open_append(&fifo).unwrap_err();
        assert!(matches!(&err, OpenError::Refused(m) if m.contains("is a FIFO")), "{err:?}");
        let err = open_append(&d).unwrap_err();
        assert!(matches!(&err, OpenError::Refused(m) if m.contains("is a folder")), "{err:?}");
        let err = open_append(&d.join("missing/x.log")).unwrap_err();
        assert_eq!(err, OpenError::Failed("No such file or directory".into()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fifo_with_a_reader_is_refused_too() {
        let d = dir("reader");
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let _reader = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        assert!(matches!(open_append(&fifo), Err(OpenError::Refused(_))));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_device_with_nothing_behind_it_is_a_failure_not_a_refusal() {
        // /dev/tty without a controlling terminal gives ENXIO, as a FIFO without a reader does.
        let enxio = std::io::Error::from_raw_os_error(libc::ENXIO);
        let err = explain(Path::new("/dev/null"), &enxio);
        assert_eq!(err, OpenError::Failed("No such device or address".into()));
        let d = dir("enxio");
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(explain(&fifo, &enxio), OpenError::Refused(m) if m.contains("is a FIFO")));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_link_of_ones_own_is_followed() {
        let d = dir("link");
        let target = d.join("target.log");
        std::os::unix::fs::symlink(&target, d.join("link.log")).unwrap();
        assert!(open_append(&d.join("link.log")).is_ok());
        assert!(target.exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
