//! taskmaster giving root up for good (taskmaster(1), PRIVILEGES: `taskmaster: user:`), once its
//! socket is bound and its log open: every group, the group, then the user (real, effective and
//! saved), and a check that root cannot be taken back.

use crate::config::RunAs;
use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};

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
