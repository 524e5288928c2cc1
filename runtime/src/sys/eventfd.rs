//! Event counters (`eventfd`): a doorbell one process rings and another sleeps on with `poll`, beside
//! other descriptors (a socket whose hang-up means the peer is gone). Descriptors travel with
//! `SCM_RIGHTS` like any other.

use rustix::event::{EventfdFlags, eventfd};
use rustix::io::Errno;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// A new non-blocking, close-on-exec event counter at zero.
pub(crate) fn create() -> io::Result<OwnedFd> {
    Ok(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
}

/// Rings the doorbell: adds one to the counter, waking a `poll` on it.
pub(crate) fn notify(fd: BorrowedFd<'_>) -> io::Result<()> {
    loop {
        match rustix::io::write(fd, &1u64.to_ne_bytes()) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            // The counter is at its maximum: the sleeper has plenty to wake it.
            Err(Errno::AGAIN) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Resets the counter to zero without blocking (nothing happens if it already was).
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut count = [0u8; 8];
    // A zero counter fails with EAGAIN: nothing to reset.
    let _ = rustix::io::read(fd, &mut count);
}
