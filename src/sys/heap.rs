//! Giving memory back to the system after a large answer (taskmaster(1), IMPLEMENTATION NOTES).
//!
//! glibc keeps freed memory for later, and raises its threshold for mapping large blocks
//! separately after one is freed: the megabytes of a status of ten thousand processes would stay
//! in taskmaster's resident size for good. Trimming the heap once such an answer is built gives
//! them back (about 8 MiB with ten thousand processes, for some 4 ms of page faults at the next
//! such answer).

/// Answers at least this large are given back once built.
pub(crate) const LARGE: usize = 1 << 20;

/// Returns the heap's free memory to the system.
pub(crate) fn give_back() {
    // SAFETY: malloc_trim(3) takes an integer and only releases free memory of the allocator.
    unsafe { libc::malloc_trim(0) };
}
