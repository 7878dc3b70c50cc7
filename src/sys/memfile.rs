//! Files in memory (memfd) that hand a job to a helper without a pipe to watch: written before
//! the helper starts, read by it as its standard input, gone with the last descriptor.

use nix::sys::memfd::{MFdFlags, memfd_create};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;

/// A file holding `bytes`, read from its start.
pub(crate) fn with(name: &str, bytes: &[u8]) -> std::io::Result<File> {
    let fd: OwnedFd = memfd_create(name, MFdFlags::MFD_CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_is_read_from_its_start_and_closed_on_exec() {
        let job = with("job", b"{\"a\": 1}").expect("a memfd");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &job, &mut text).expect("readable");
        assert_eq!(text, "{\"a\": 1}");
        let flags = nix::fcntl::fcntl(&job, nix::fcntl::FcntlArg::F_GETFD).expect("flags");
        assert!(flags & libc::FD_CLOEXEC != 0);
    }
}
