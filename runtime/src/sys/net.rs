//! Non-blocking socket calls for a single thread that serves many connections at once (the
//! manager's handshake gate): poll a set of descriptors, and send or receive without ever blocking,
//! whatever mode the socket is in.

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
    // SAFETY: `fds` is a valid, writable array of pollfd for its length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        return Ok(0);
    }
    Err(e)
}

/// Sends what fits of `buf` now (`MSG_DONTWAIT`), never raising `SIGPIPE`; `WouldBlock` if nothing
/// fits.
pub(crate) fn send_now(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: send reads at most `buf.len()` bytes from a live slice.
        let rc = unsafe {
            libc::send(
                fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives what has arrived, up to `buf.len()` bytes, without waiting (`MSG_DONTWAIT`): 0 means
/// the peer closed, `WouldBlock` that nothing is there yet. Descriptors a peer attaches are not
/// accepted (the kernel closes them).
pub(crate) fn recv_now(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: recv writes at most `buf.len()` bytes into a live, writable slice.
        let rc = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
