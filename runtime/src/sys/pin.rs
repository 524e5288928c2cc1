//! Open-file-description locks (`F_OFD_SETLK`): advisory byte locks owned by one open file
//! description. They travel with its descriptors (`dup`, `SCM_RIGHTS`) and vanish when the last
//! descriptor of that description is closed — by a drop, by an encoded message that is never
//! delivered, or by the kernel when every process holding one is killed. Another process holding any
//! descriptor of the same file can test for them.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// Opens the file behind `fd` again: a new open file description of the same file, with no locks.
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let file = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    Ok(OwnedFd::from(file))
}

/// Opens the file behind `fd` again for reading and writing (to map it shared): a new open file
/// description of the same file, with no locks.
pub(crate) fn reopen_rw(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    Ok(OwnedFd::from(file))
}

fn flock(kind: libc::c_int, at: u64) -> libc::flock {
    // SAFETY: `flock` is plain integers, for which all zero bytes is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = at as libc::off_t;
    fl.l_len = 1;
    fl
}

/// Takes a shared lock on byte `at` for `fd`'s open file description (never blocks: shared locks
/// only conflict with exclusive ones, which nobody takes).
pub(crate) fn share(fd: BorrowedFd<'_>, at: u64) -> io::Result<()> {
    let fl = flock(libc::F_RDLCK, at);
    // SAFETY: fcntl on an open descriptor with a pointer to a valid, initialised `flock`.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drops the lock on byte `at` that `fd`'s open file description holds (none held: nothing happens).
pub(crate) fn unshare(fd: BorrowedFd<'_>, at: u64) -> io::Result<()> {
    let fl = flock(libc::F_UNLCK, at);
    // SAFETY: as in `share`.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True if an open file description other than `fd`'s holds a lock on byte `at` of the file.
pub(crate) fn held_elsewhere(fd: BorrowedFd<'_>, at: u64) -> io::Result<bool> {
    let mut fl = flock(libc::F_WRLCK, at);
    // SAFETY: fcntl on an open descriptor with a pointer to a valid `flock` it may overwrite.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}
