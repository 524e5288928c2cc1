//! What the launch layer needs from the system around a child process: its id type, the signals it
//! sends, waiting for a child's exit or for the parent's end of a socket to close, and the descriptor
//! hygiene of a freshly started child (restoring stdout, closing everything it was not given).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The process id type (see `sys::identity`).
pub(crate) use super::identity::Pid;

/// A signal the launch layer sends.
pub(crate) type Signal = rustix::process::Signal;
/// Ends a process at once.
pub(crate) const SIGKILL: Signal = Signal::KILL;
/// Asks a process to end.
pub(crate) const SIGTERM: Signal = Signal::TERM;

/// Sends `sig` to a child, through its pidfd when there is one (no pid-reuse race). A child that is
/// already gone (`ESRCH`) is not an error.
pub(crate) fn signal(pid: Pid, pidfd: Option<BorrowedFd<'_>>, sig: Signal) -> io::Result<()> {
    let res = match pidfd {
        Some(fd) => super::process::pidfd_signal(fd, sig),
        None => super::process::kill(pid, sig),
    };
    match res {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        other => other,
    }
}

/// Waits up to `timeout_ms` (< 0: forever) for the process behind `pidfd` to exit; true once it has.
pub(crate) fn has_exited(pidfd: BorrowedFd<'_>, timeout_ms: i32) -> bool {
    super::socket::poll_one(pidfd, libc::POLLIN, timeout_ms).is_ok_and(|r| r != 0)
}

/// Waits until one of `fds` is readable (or has exited, for a pidfd). Returns, for each descriptor in
/// order, whether it is ready (none after an interruption).
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    super::socket::poll_fds(&mut pfds, -1)?;
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// How a wait for the peer's end of a socket ended.
pub(crate) enum Hangup {
    /// The peer's end closed (the peer process died, or dropped it).
    Peer,
    /// Our own descriptor was closed under us, or polling failed: nothing more can be learnt.
    Blind,
}

/// Blocks until the peer's end of the stream socket `fd` closes.
pub(crate) fn wait_hangup(fd: BorrowedFd<'_>) -> Hangup {
    loop {
        match super::socket::poll_one(fd, libc::POLLRDHUP, -1) {
            Ok(rev) if rev & libc::POLLNVAL != 0 => return Hangup::Blind,
            Ok(rev) if rev & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 => {
                return Hangup::Peer;
            }
            Ok(_) => continue,
            Err(_) => return Hangup::Blind,
        }
    }
}

/// Puts the parent's stdout, passed to the child as `saved`, back onto fd 1 and closes the spare.
pub(crate) fn restore_stdout(saved: RawFd) {
    // SAFETY: `saved` was handed to this process by its spawn and is owned by nobody else here; dup2
    // onto fd 1 replaces the /dev/null the spawn put there, then the spare number is closed.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
}

/// Takes ownership of a descriptor the spawn passed to this process under the number `fd`, and marks it
/// close-on-exec so that programs this process runs do not inherit it.
///
/// Call once per number, with a number the process's start-up says was passed to it (the bootstrap
/// reads it from its environment after checking that it is an open socket).
pub(crate) fn adopt_passed(fd: RawFd) -> OwnedFd {
    // SAFETY: per this function's contract the number is open, was passed to this process for it, and
    // nothing else here owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = super::fd::set_cloexec(owned.as_fd(), true);
    owned
}

/// Closes every descriptor of this process above 2 except those in `keep`. Called in a freshly forked
/// child before it runs anything, so that it holds only what it was given.
pub(crate) fn close_all_except(keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd > 2).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: RawFd = 3;
    for &fd in &keep {
        if fd > first {
            close_range(first, fd - 1);
        }
        first = fd + 1;
    }
    close_range(first, RawFd::MAX);
}

/// Closes the descriptors `first..=last`.
fn close_range(first: RawFd, last: RawFd) {
    // SAFETY: raw syscall with integer arguments (kernel >= 5.9); the caller owns every number in the
    // range and never uses those numbers again.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
    if rc == 0 {
        return;
    }
    // An older kernel: close what /proc lists, or, without /proc, every number up to the limit.
    let listed: Option<Vec<RawFd>> = std::fs::read_dir("/proc/self/fd").ok().map(|dir| {
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    });
    let fds = match listed {
        Some(fds) => fds,
        None => (first..=last.min(max_fd())).collect(),
    };
    super::process::close_raw(fds.into_iter().filter(|fd| (first..=last).contains(fd)));
}

/// The highest descriptor number this process may hold (`RLIMIT_NOFILE` - 1).
fn max_fd() -> RawFd {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    soft.map_or(RawFd::MAX, |n| {
        RawFd::try_from(n.saturating_sub(1)).unwrap_or(RawFd::MAX)
    })
}
