//! taskmaster giving root up for good (taskmaster(1), PRIVILEGES: `taskmaster: user:`), once its
//! socket is bound and its log open: every group, the group, then the user (real, effective and
//! saved), and a check that root cannot be taken back. And, for a moment, opening files as a
//! program's user would.

use crate::config::RunAs;
use nix::unistd::{Gid, Uid, getgroups, setfsgid, setfsuid, setgroups, setresgid, setresuid};

/// Whose rights a file is opened with now: taskmaster's, or a program's user's inside
/// `with_files_of` (setfsuid with an id it refuses changes nothing and says the current one).
pub(crate) fn opener() -> u32 {
    setfsuid(Uid::from_raw(u32::MAX)).as_raw()
}

/// Runs `open` with the file-system identity of `user` (its uid, gid and groups): what it opens
/// is allowed, links are followed, and what it creates is owned, as if that user did it; root's
/// other rights are kept (the kernel drops the file capabilities while the file-system uid is not
/// root). Only a root taskmaster calls it; it has one thread, so nothing else runs meanwhile.
pub(crate) fn with_files_of<T>(user: &RunAs, open: impl FnOnce() -> T) -> Result<T, String> {
    let failed = |what: &str| format!("cannot act as user '{}' ({what})", user.user);
    let groups = getgroups().map_err(|_| failed("getgroups"))?;
    let theirs: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&theirs).map_err(|_| failed("setgroups"))?;
    let (old_gid, old_uid) = (setfsgid(Gid::from_raw(user.gid)), setfsuid(Uid::from_raw(user.uid)));
    // setfsuid says nothing of a failure: asking again (with an id it refuses) tells the current.
    let taken = setfsuid(Uid::from_raw(u32::MAX)) == Uid::from_raw(user.uid)
        && setfsgid(Gid::from_raw(u32::MAX)) == Gid::from_raw(user.gid);
    let result = taken.then(open);
    setfsuid(old_uid);
    setfsgid(old_gid);
    setgroups(&groups).map_err(|_| failed("setgroups back"))?;
    result.ok_or_else(|| failed("setfsuid"))
}

/// Becomes `user` for the rest of taskmaster's life.
pub(crate) fn give_up_root(user: &RunAs) -> Result<(), String> {
    let fail = |step: &str, e: nix::errno::Errno| {
        format!("cannot become user '{}' ({step}): {}", user.user, e.desc())
    };
    if Uid::effective().as_raw() == user.uid {
        return Ok(());
    }
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups).map_err(|e| fail("setgroups", e))?;
    let gid = Gid::from_raw(user.gid);
    setresgid(gid, gid, gid).map_err(|e| fail("setgid", e))?;
    let uid = Uid::from_raw(user.uid);
    setresuid(uid, uid, uid).map_err(|e| fail("setuid", e))?;
    // Saved set-user-ID included, nothing may give root back.
    if user.uid != 0 && setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)).is_ok() {
        return Err(format!("became user '{}' but could take root back; stopping", user.user));
    }
    Ok(())
}
