//! Who is at the other end of a control connection, as the kernel recorded it when the client
//! connected (taskmaster(1), PRIVILEGES): its user and group (SO_PEERCRED) and its supplementary
//! groups (SO_PEERGROUPS). Nothing the client says can change these, and no name service is
//! asked: `@group` admins are matched by number.

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::os::fd::{AsFd, AsRawFd};

/// A client's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerCred {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Its supplementary groups; empty when the kernel cannot tell (before Linux 4.13).
    pub(crate) groups: Vec<u32>,
}

/// The credentials of the peer of a connected UNIX socket.
pub(crate) fn credentials(socket: &impl AsFd) -> std::io::Result<PeerCred> {
    let cred = getsockopt(socket, PeerCredentials)?;
    Ok(PeerCred {
        pid: cred.pid(),
        uid: cred.uid(),
        gid: cred.gid(),
        groups: groups(socket).unwrap_or_default(),
    })
}

/// SO_PEERGROUPS, in the option's own number (the libc crate does not export it): 59 on every
/// architecture taskmaster builds for but the MIPS and SPARC families.
const SO_PEERGROUPS: libc::c_int = 59;

fn groups(socket: &impl AsFd) -> std::io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = libc::socklen_t::try_from(groups.len() * size_of::<libc::gid_t>())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::ERANGE))?;
        // SAFETY: getsockopt(2) writes at most `len` bytes into `groups`, which holds that many,
        // and sets `len` to what it wrote (or, with ERANGE, to what it needs).
        let done = unsafe {
            libc::getsockopt(
                socket.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let needed = len as usize / size_of::<libc::gid_t>();
        match done {
            0 => {
                groups.truncate(needed);
                return Ok(groups);
            }
            _ => {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::ERANGE) && needed > groups.len() && needed <= 65_536 {
                    groups.resize(needed, 0);
                    continue;
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_a_socket_pair_is_this_process() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let cred = credentials(&a).unwrap();
        assert_eq!(cred.pid, std::process::id() as i32);
        assert_eq!(cred.uid, nix::unistd::getuid().as_raw());
        assert_eq!(cred.gid, nix::unistd::getgid().as_raw());
        let mut mine: Vec<u32> = nix::unistd::getgroups().unwrap().iter().map(|g| g.as_raw()).collect();
        let mut theirs = cred.groups.clone();
        mine.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(theirs, mine);
    }
}
