//! Nagle off on a library's socket. lettre 0.11.23 leaves it on, and writes a message's end
//! (`\r\n.\r\n`) apart from its body: the end then waits for the server's delayed ACK, 40 ms per
//! email (lettre's pull request 1159, merged, not yet released). The delivery helper, whose only
//! sockets are its connection's, turns it off on every one.

use std::os::fd::RawFd;

/// Sets TCP_NODELAY on every socket this process has open (other sockets refuse it, harmlessly).
pub(crate) fn on_every_socket() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let sockets = entries.filter_map(Result::ok).filter_map(|entry| {
        let target = std::fs::read_link(entry.path()).ok()?;
        let fd: RawFd = entry.file_name().to_str()?.parse().ok()?;
        target.to_string_lossy().starts_with("socket:").then_some(fd)
    });
    let on: libc::c_int = 1;
    for fd in sockets {
        // SAFETY: setsockopt(2) on a descriptor number this process has open, with a pointer
        // to a local integer and its size; it changes nothing but the option.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}
