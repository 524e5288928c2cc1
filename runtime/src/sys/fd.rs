//! Descriptor flags.

use rustix::io::FdFlags;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};

/// Sets or clears `FD_CLOEXEC` on `fd`.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let mut flags = rustix::io::fcntl_getfd(fd)?;
    flags.set(FdFlags::CLOEXEC, on);
    Ok(rustix::io::fcntl_setfd(fd, flags)?)
}

/// True when `fd` is an open Unix-domain socket. Takes a number, not a `BorrowedFd`: the bootstrap
/// asks this of numbers it read from its environment, which may not be open at all.
pub(crate) fn is_unix_socket(fd: RawFd) -> bool {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `domain`; an invalid fd just fails.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && domain == libc::AF_UNIX
}

/// Number of open descriptors of this process (for leak checks in tests).
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}
