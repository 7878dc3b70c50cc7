//! The control socket's file: where it may be bound and what may be replaced there. A stale
//! socket of the user's own is replaced, a live one (another taskmaster) refused, and anything
//! that belongs to another user is left alone. The default folder under /tmp is the user's own
//! (created 0700, checked). On exit only the very file this taskmaster bound is removed, never
//! one another daemon put at the same path since.
//!
//! The file gets its mode as it is created (no chmod follows, which a link swapped in meanwhile
//! could lead elsewhere); one that must change owner (`socket_owner`), or replace the socket in
//! place, is made in a new folder of taskmaster's own beside it, used through a descriptor,
//! given away there, and only then moved into place, so that no one who may write to the
//! socket's folder can have root chown something else instead.

use crate::config::{Mode, describe_io, private_socket_dir};
use mio::net::UnixListener;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The socket file this taskmaster made, known by its device and inode, with the access it got.
pub(crate) struct SocketFile {
    path: PathBuf,
    identity: (u64, u64),
    access: Access,
}

/// Who may connect: the socket file's permissions and, when given, its owner (uid, gid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) mode: Mode,
    pub(crate) owner: Option<(Option<u32>, Option<u32>)>,
}

/// Binds a listener at `path` with `access`.
pub(crate) fn bind(path: &Path, access: Access) -> Result<(UnixListener, SocketFile), String> {
    let me = nix::unistd::geteuid().as_raw();
    if let Some(dir) = path.parent()
        && dir == private_socket_dir(me)
    {
        ensure_private_dir(dir, me)?;
    }
    clear_stale(path, me)?;
    make(path, access, false)
}

/// Binds a new socket over this taskmaster's own at `path`, for a new `access`: the old file
/// is replaced at once, and clients connected to it stay.
pub(crate) fn replace(path: &Path, access: Access) -> Result<(UnixListener, SocketFile), String> {
    make(path, access, true)
}

fn make(path: &Path, access: Access, replacing: bool) -> Result<(UnixListener, SocketFile), String> {
    let shown = path.display();
    let made = match replacing || access.owner.is_some() {
        true => made_aside(path, access),
        false => listen(path, access.mode),
    };
    let (listener, identity) = made.map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    Ok((listener, SocketFile { path: path.to_path_buf(), identity, access }))
}

/// Binds at `path` with `access.mode` from the start. The daemon has one thread: the umask
/// change is safe.
fn listen(path: &Path, mode: Mode) -> Result<(UnixListener, (u64, u64)), String> {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(!mode.0 & 0o777));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| describe_io(&e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| describe_io(&e))?;
    Ok((listener, (meta.dev(), meta.ino())))
}

/// Made in a new folder of taskmaster's own beside `path`, given its owner there, then moved to
/// `path`. The folder is used through a descriptor from the moment it is made: whoever may write
/// beside it may rename it or put something in its place, but never reach into it.
fn made_aside(path: &Path, access: Access) -> Result<(UnixListener, (u64, u64)), String> {
    use nix::fcntl::{AtFlags, OFlag, open, renameat};
    use nix::unistd::{UnlinkatFlags, fchownat, unlinkat};
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or("the socket path names no file")?;
    // The folder named in the configuration, as it is now (through a link like /var/run).
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let parent_fd = open(parent, flags, nix::sys::stat::Mode::empty()).map_err(|e| e.desc().to_string())?;
    let (aside, aside_name) = private_folder(&parent_fd)?;
    let inside = PathBuf::from(format!("/proc/self/fd/{}/s", aside.as_raw_fd()));
    let made = listen(&inside, access.mode).and_then(|(listener, identity)| {
        if let Some((uid, gid)) = access.owner {
            fchownat(&aside, "s", uid.map(Into::into), gid.map(Into::into), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| format!("socket_owner: {}", e.desc()))?;
        }
        renameat(&aside, "s", &parent_fd, name).map_err(|e| e.desc().to_string())?;
        Ok((listener, identity))
    });
    if made.is_err() {
        let _ = unlinkat(&aside, "s", UnlinkatFlags::NoRemoveDir);
    }
    // By name: if someone moved the folder, what they put there is not removed unless empty.
    let _ = unlinkat(&parent_fd, aside_name.as_path(), UnlinkatFlags::RemoveDir);
    made
}

/// A new folder in `parent` (a random name, mode 0700), opened without following a link and
/// checked to be the one made: taskmaster's, and private (a setgid folder passes its bit on:
/// that bit is no access).
fn private_folder(parent: &OwnedFd) -> Result<(OwnedFd, PathBuf), String> {
    use nix::fcntl::{OFlag, open};
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let me = nix::unistd::geteuid().as_raw();
    let template = PathBuf::from(format!("/proc/self/fd/{}/.taskmaster-XXXXXX", parent.as_raw_fd()));
    for _ in 0..8 {
        let made = nix::unistd::mkdtemp(&template)
            .map_err(|e| format!("cannot make a folder beside the socket: {}", e.desc()))?;
        let name = made.file_name().map(PathBuf::from).unwrap_or_default();
        let opened = open(&made, flags, nix::sys::stat::Mode::empty()).ok().filter(|fd| {
            nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_uid == me && st.st_mode & 0o077 == 0)
        });
        match opened {
            Some(fd) => return Ok((fd, name)),
            // Moved and replaced at once by someone who may write there: removed if empty.
            None => {
                let _ = nix::unistd::unlinkat(parent, name.as_path(), nix::unistd::UnlinkatFlags::RemoveDir);
            }
        }
    }
    Err("cannot make a folder of taskmaster's own beside the socket".to_string())
}

impl SocketFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file at the path is still the socket this taskmaster bound.
    pub(crate) fn is_in_place(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity)
    }

    /// The access the file was made with.
    pub(crate) fn access(&self) -> Access {
        self.access
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.is_in_place() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What is at `path` before binding: nothing, a stale socket of ours (removed), or a refusal.
fn clear_stale(path: &Path, me: u32) -> Result<(), String> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot look at {shown}: {}", describe_io(&e))),
    };
    if !meta.file_type().is_socket() {
        return Err(format!("{shown} exists and is not a socket; not replacing it"));
    }
    let owner = meta.uid();
    let live = std::os::unix::net::UnixStream::connect(path).is_ok();
    match (live, owner == me) {
        (true, true) => Err(format!(
            "another taskmaster is already serving {shown} (to run both, give this configuration a `socket:` of its own)"
        )),
        (true, false) => Err(format!(
            "{shown} is served by a program of {}, not yours; refusing to use it (choose another `socket`)",
            user_name(owner)
        )),
        (false, false) if me != 0 => Err(format!(
            "{shown} is a stale socket of {}; not removing another user's file (choose another `socket`)",
            user_name(owner)
        )),
        (false, _) => std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the stale socket {shown}: {}", describe_io(&e))),
    }
}

/// Makes sure `dir` is a folder that only user `me` can enter: created 0700 if missing; one
/// that belongs to someone else is refused; one of the user's own with a wider mode is narrowed.
fn ensure_private_dir(dir: &Path, me: u32) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create the socket folder {shown}: {}", describe_io(&e))),
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot look at the socket folder {shown}: {}", describe_io(&e)))?;
    if !meta.file_type().is_dir() {
        return Err(format!("{shown} is not a folder; remove it or choose another `socket`"));
    }
    if meta.uid() != me {
        return Err(format!(
            "the socket folder {shown} belongs to {}, not to you; remove it or choose another `socket`",
            user_name(meta.uid())
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {shown} private: {}", describe_io(&e)))?;
    }
    Ok(())
}

/// `uid 1000 (alice)`, or `uid 1000` when the user has no name.
pub(crate) fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}
