//! Non-blocking socket calls for a single thread that serves many connections at once (the
//! manager's handshake gate): poll a set of descriptors, and send or receive without ever blocking,
//! whatever mode the socket is in.

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// One descriptor of a [`poll`] set; `revents != 0` once it is ready.
pub(crate) type PollFd = libc::pollfd;

/// A [`PollFd`] waiting for `fd` to be readable.
pub(crate) fn readable(fd: BorrowedFd<'_>) -> PollFd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Waits until one of `fds` is ready or `timeout_ms` passes (< 0: forever); returns how many are
/// ready (0 on timeout or interruption by a signal, so the caller simply polls again).
pub(crate) fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    super::socket::poll_fds(fds, timeout_ms)
}

/// Sends what fits of `buf` now (`MSG_DONTWAIT`), never raising `SIGPIPE`; `WouldBlock` if nothing
/// fits.
pub(crate) fn send_now(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        match rustix::net::send(fd, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => {}
            other => return Ok(other?),
        }
    }
}

/// Receives what has arrived, up to `buf.len()` bytes, without waiting (`MSG_DONTWAIT`): 0 means
/// the peer closed, `WouldBlock` that nothing is there yet. Descriptors a peer attaches are not
/// accepted (the kernel closes them).
pub(crate) fn recv_now(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd, &mut *buf, RecvFlags::DONTWAIT) {
            Err(Errno::INTR) => {}
            other => return Ok(other?.0),
        }
    }
}
