//! Finding the program to run as exec would (taskmaster(1), Programs: `cmd`), before anything is
//! forked, so that a missing or unusable command is a clear spawn error: a name with a slash is
//! used as it is, a bare name is looked up in PATH. For a program with a `user`, "usable" means
//! by that user (taskmaster(1), PRIVILEGES): root's PATH may lead to a command only root can
//! reach (`/root/.local/bin`), and the lookup goes on to one the user can run.

use super::spawn::SpawnError;
use crate::config::{RunAs, describe_io};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The program's path; `who` is its user, when it has one (the PATH is root's or the program's
/// own `env` PATH, when it sets one).
pub(crate) fn resolve(
    program: &str,
    path_var: Option<&std::ffi::OsStr>,
    who: Option<&RunAs>,
) -> Result<PathBuf, SpawnError> {
    if program.contains('/') {
        return check_executable(Path::new(program), who).map(|()| PathBuf::from(program));
    }
    let dirs = path_var.map_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"), OsString::from);
    let mut denied = None;
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(program);
        match check_executable(&candidate, who) {
            Ok(()) => return Ok(candidate),
            Err(e) if candidate.exists() => denied = denied.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or_else(|| SpawnError::NotFound(program.to_string())))
}

fn check_executable(path: &Path, who: Option<&RunAs>) -> Result<(), SpawnError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SpawnError::NotFound(path.display().to_string()),
        _ => SpawnError::Inaccessible { path: path.to_path_buf(), why: describe_io(&e) },
    })?;
    if meta.is_dir() {
        return Err(SpawnError::Directory(path.to_path_buf()));
    }
    // Only a root taskmaster changes users; otherwise the program runs as taskmaster does.
    match who.filter(|_| nix::unistd::geteuid().is_root()) {
        Some(user) if !runnable_by(path, &meta, user) => {
            Err(SpawnError::NotExecutableBy { path: path.to_path_buf(), user: user.user.clone() })
        }
        Some(_) => Ok(()),
        None => match nix::unistd::access(path, nix::unistd::AccessFlags::X_OK) {
            Ok(()) => Ok(()),
            Err(_) => Err(SpawnError::NotExecutable(path.to_path_buf())),
        },
    }
}

/// Whether `user` may enter the folder `dir` (and every folder above it), for `--check`.
pub(crate) fn enterable_by(dir: &Path, user: &RunAs) -> bool {
    std::fs::metadata(dir).is_ok_and(|meta| runnable_by(dir, &meta, user))
}

/// Whether `user` may run the file at `path` (whose metadata is `meta`): execute permission on
/// it and search permission on every folder above it, by their permission bits (an ACL that
/// grants more is not seen; exec would then still succeed, which only this check misses).
fn runnable_by(path: &Path, meta: &std::fs::Metadata, user: &RunAs) -> bool {
    let allowed = |m: &std::fs::Metadata| {
        let mode = m.mode();
        let bits = match (user.uid, m.uid() == user.uid, user.groups.contains(&m.gid())) {
            // Root needs one execute bit on a file, none on a folder.
            (0, _, _) => return m.is_dir() || mode & 0o111 != 0,
            (_, true, _) => mode >> 6,
            (_, false, true) => mode >> 3,
            (_, false, false) => mode,
        };
        bits & 0o1 != 0
    };
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    allowed(meta) && absolute.ancestors().skip(1).all(|dir| std::fs::metadata(dir).is_ok_and(|m| allowed(&m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, groups: &[u32]) -> RunAs {
        RunAs {
            user: format!("u{uid}"),
            uid,
            group: String::new(),
            gid: groups[0],
            groups: groups.to_vec(),
            home: "/".into(),
            shell: "/bin/sh".into(),
        }
    }

    #[test]
    fn a_user_needs_to_reach_and_run_the_command() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("tm-lookup-{}", std::process::id()));
        let inner = d.join("private");
        std::fs::create_dir_all(&inner).unwrap();
        let tool = inner.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o750)).unwrap();
        let (me, my_group) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        let meta = std::fs::metadata(&tool).unwrap();
        let stranger = user(me + 4242, &[my_group + 4242]);
        assert!(runnable_by(&tool, &meta, &user(me, &[my_group])), "the owner");
        assert!(!runnable_by(&tool, &meta, &stranger), "0750: not others");
        assert!(runnable_by(&tool, &meta, &user(me + 4242, &[my_group + 4242, my_group])), "the group");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let meta = std::fs::metadata(&tool).unwrap();
        assert!(runnable_by(&tool, &meta, &stranger), "0755: anyone");
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!runnable_by(&tool, &meta, &stranger), "but not through a folder it cannot enter");
        assert!(runnable_by(&tool, &meta, &user(0, &[0])), "root enters anything");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn resolves_commands_like_exec() {
        assert_eq!(resolve("sh", Some("/nonexistent:/bin".as_ref()), None), Ok(PathBuf::from("/bin/sh")));
        let said = |r: Result<PathBuf, SpawnError>| r.map_err(|e| e.to_string());
        assert_eq!(
            said(resolve("nosuch_cmd_xyz", None, None)),
            Err("can't find command 'nosuch_cmd_xyz'".to_string())
        );
        assert_eq!(
            said(resolve("/nonexistent/x", None, None)),
            Err("can't find command '/nonexistent/x'".to_string())
        );
        assert_eq!(said(resolve("/tmp", None, None)), Err("command at '/tmp' is a directory".to_string()));
        let plain = std::env::temp_dir().join(format!("tm-noexec-{}", std::process::id()));
        std::fs::write(&plain, "echo hi").unwrap();
        let shown = plain.to_str().unwrap();
        assert_eq!(said(resolve(shown, None, None)), Err(format!("command at '{shown}' is not executable")));
        std::fs::remove_file(&plain).unwrap();
    }
}
