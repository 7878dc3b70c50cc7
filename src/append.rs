//! Opening the files taskmaster appends to (child output, the main log) so that no path can
//! block it or make it write where it should not: the open never waits (a FIFO without a reader
//! would block `open`, one with a slow reader every `write`), only regular files and character
//! devices such as /dev/null are accepted, and a symbolic link that another user planted in a
//! shared sticky folder like /tmp is not followed, whatever `fs.protected_symlinks` says.

use crate::config::{RunAs, describe_io};
use std::fs::{File, Metadata, OpenOptions};
use std::io::ErrorKind;
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
/// not write, and what is created is the user's. Where the user may not create the file but no
/// one but root controls the folders on the way (`/var/log`), root creates it and gives it to
/// the user, as supervisord users expect. Without root, or without a user, as `open_append`.
pub(crate) fn open_append_for(path: &Path, user: Option<&RunAs>) -> Result<File, OpenError> {
    let Some(user) = user.filter(|_| nix::unistd::geteuid().is_root()) else { return open_append(path) };
    let as_user =
        crate::sys::privileges::with_files_of(user, || open_append(path)).map_err(OpenError::Failed)?;
    match as_user {
        Err(OpenError::Failed(why)) if root_controlled(path.parent().unwrap_or(Path::new("/"))) => {
            match create_for(path, user) {
                Ok(file) => Ok(file),
                // There already (root put it there: no one else can): used as it is.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => open_append(path),
                Err(_) => Err(OpenError::Failed(why)),
            }
        }
        other => other,
    }
}

/// Creates `path` (nothing may be there, not even a link) and gives it to `user`.
fn create_for(path: &Path, user: &RunAs) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    std::os::unix::fs::fchown(&file, Some(user.uid), Some(user.gid))?;
    Ok(file)
}

/// Whether only root can change what `dir` holds and which folder it is: `dir` and every
/// folder above it belong to root, `dir` may be written by no one else, and a folder above it
/// only if it is sticky (like /tmp: no one else may move or remove root's folder in it).
fn root_controlled(dir: &Path) -> bool {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute.ancestors().enumerate().all(|(depth, d)| {
        std::fs::metadata(d).is_ok_and(|m| {
            let others_write = m.mode() & 0o022 != 0;
            let sticky = m.mode() & 0o1000 != 0;
            m.uid() == 0 && (!others_write || (depth > 0 && sticky))
        })
    })
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
/// taskmaster's user or to the folder's owner: the rule of Linux's `fs.protected_symlinks`,
/// applied even where that setting is off.
fn check_link(path: &Path) -> Result<(), OpenError> {
    let link = std::fs::symlink_metadata(path).map_err(|e| OpenError::Failed(describe_io(&e)))?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::metadata(folder).map_err(|e| OpenError::Failed(describe_io(&e)))?;
    let shared = dir.mode() & 0o1002 == 0o1002;
    let me = nix::unistd::geteuid().as_raw();
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
