//! Files in memory (memfd) that hand data to a helper and take its answer back without a pipe
//! to watch: the job is written before the helper starts, its answer read after it has ended.
//! The answer's file cannot grow past its size, so a helper that writes without end costs
//! taskmaster a few kilobytes, not its memory.

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

fn create(name: &str) -> std::io::Result<File> {
    let fd: OwnedFd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
    Ok(File::from(fd))
}

/// A file holding `bytes`, read from its start.
pub(crate) fn with(name: &str, bytes: &[u8]) -> std::io::Result<File> {
    let mut file = create(name)?;
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// An empty file that takes at most `size` bytes: a write that would go past them fails whole.
pub(crate) fn bounded(name: &str, size: u64) -> std::io::Result<File> {
    let file = create(name)?;
    file.set_len(size)?;
    fcntl(&file, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SHRINK))?;
    Ok(file)
}

/// What was written to a `bounded` file (by a process that shared it) up to where it stopped.
pub(crate) fn written(file: &File) -> Vec<u8> {
    let mut handle = file;
    let end = handle.stream_position().unwrap_or(0) as usize;
    let mut bytes = vec![0; end];
    let read = file.read_at(&mut bytes, 0).unwrap_or(0);
    bytes.truncate(read);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_file_keeps_what_fits_and_refuses_the_rest() {
        let file = bounded("test", 8).unwrap();
        let mut writer = file.try_clone().unwrap();
        assert_eq!(writer.write(b"hello").unwrap(), 5);
        assert!(writer.write_all(b" world").is_err(), "past the size, a write fails whole");
        assert_eq!(written(&file), b"hello");
        let job = with("job", b"{}").unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut &job, &mut text).unwrap();
        assert_eq!(text, "{}");
    }
}
