//! Event counters (`eventfd`): a doorbell one process rings and another sleeps on with `poll`, beside
//! other descriptors (a socket whose hang-up means the peer is gone). Descriptors travel with
//! `SCM_RIGHTS` like any other.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A new non-blocking, close-on-exec event counter at zero.
pub(crate) fn create() -> io::Result<OwnedFd> {
    // SAFETY: integer arguments; returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Rings the doorbell: adds one to the counter, waking a `poll` on it.
pub(crate) fn notify(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: u64 = 1;
    loop {
        // SAFETY: writes 8 bytes from a live local u64.
        let rc = unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
        if rc == 8 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            // The counter is at its maximum: the sleeper has plenty to wake it.
            io::ErrorKind::WouldBlock => return Ok(()),
            _ => return Err(err),
        }
    }
}

/// Resets the counter to zero without blocking (nothing happens if it already was).
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut count: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live local u64; a zero counter fails with EAGAIN.
    let _ = unsafe { libc::read(fd.as_raw_fd(), (&raw mut count).cast(), 8) };
}
