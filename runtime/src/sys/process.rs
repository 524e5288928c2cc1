//! Child processes: reaping, pidfds, signals.

use super::identity::Pid;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Python's `Process.exitcode`: the exit code, or minus the signal number.
    pub fn exitcode(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => -s,
        }
    }

    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {}", signal_name(s)),
        }
    }
}

/// `SIGKILL`, `SIGSEGV`, ... or the number.
pub fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

fn decode_status(status: libc::c_int) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    }
}

/// Reaps `pid`: `Ok(None)` if `nohang` and it still runs.
pub(crate) fn wait_pid(pid: Pid, nohang: bool) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let rc = unsafe {
            libc::waitpid(
                pid.raw(),
                &mut status,
                if nohang { libc::WNOHANG } else { 0 },
            )
        };
        if rc == pid.raw() {
            return Ok(Some(decode_status(status)));
        }
        if rc == 0 {
            return Ok(None);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A pidfd for `pid` (Linux >= 5.3), readable once the process has exited.
pub(crate) fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: raw syscall with integer arguments; returns a new descriptor or -1.
    // pidfds are always close-on-exec.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `sig` through a pidfd (no pid-reuse race).
pub(crate) fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: raw syscall with a valid pidfd and no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `sig` to `pid`.
pub(crate) fn kill(pid: Pid, sig: i32) -> io::Result<()> {
    // SAFETY: kill with integer arguments.
    if unsafe { libc::kill(pid.raw(), sig) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// This process's id.
pub(crate) fn getpid() -> Pid {
    Pid::this()
}

/// The parent's id.
pub(crate) fn getppid() -> Pid {
    Pid::parent()
}

/// Names this process (`comm`, shown by `ps`/`top`) after its executable: a child started through
/// `/proc/self/exe` would otherwise be called "exe".
pub(crate) fn name_after_executable() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let Some(base) = exe.file_name() else { return };
    let mut name: Vec<u8> = std::os::unix::ffi::OsStrExt::as_bytes(base)
        .iter()
        .copied()
        .take(15)
        .collect();
    name.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from a live buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// True while `pid` runs: false once it has exited, even while it is an unreaped zombie (which `kill(pid,
/// 0)` would still report as alive). A pid reused by a new process reads as alive.
pub(crate) fn is_running(pid: Pid) -> bool {
    match pidfd_open(pid) {
        // A pidfd polls readable once its process has exited; a failed poll tells nothing: alive.
        Ok(fd) => {
            crate::sys::socket::poll_one(fd.as_fd(), libc::POLLIN, 0).map_or(true, |r| r == 0)
        }
        Err(e) => e.raw_os_error() != Some(libc::ESRCH),
    }
}

/// Which side of a [`fork`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The process that forked, with the new process's id.
    Parent(Pid),
}

/// `fork(2)`.
///
/// # Safety
/// The caller must be the only thread that can touch shared state the child uses afterwards (the fork
/// server forks from its one serving thread; its only other thread sleeps in `poll`), and the child must
/// end with `exit`, never return into code that assumes the parent's threads exist.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: per this function's contract.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => Ok(Forked::Child),
        p if p > 0 => Ok(Forked::Parent(Pid::from_raw(p))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Closes descriptors by number (in a freshly forked child, those that belong to its parent's work).
pub(crate) fn close_raw(fds: impl IntoIterator<Item = std::os::fd::RawFd>) {
    for fd in fds {
        // SAFETY: the caller owns these numbers in this process and never uses them again.
        unsafe { libc::close(fd) };
    }
}

/// The CPU this thread runs on now (it may move at any time), if the kernel says.
pub(crate) fn current_cpu() -> Option<u32> {
    // SAFETY: no arguments; returns the CPU number or -1.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).ok()
}

/// Restores the default action for `SIGCHLD`, so that children stay waitable (zombies) until reaped.
pub(crate) fn default_sigchld() {
    // SAFETY: installing the default disposition for one signal; no handler code is involved.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}
