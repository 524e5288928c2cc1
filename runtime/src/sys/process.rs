//! Child processes: reaping, pidfds, signals.

use super::identity::Pid;
use rustix::io::Errno;
use rustix::process::{PidfdFlags, Signal, WaitOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

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
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// The kernel's pid for `pid`; `EINVAL` for 0 and negative numbers, which `kill` and `waitpid` would
/// read as "a process group" or "any child".
fn kernel_pid(pid: Pid) -> io::Result<rustix::process::Pid> {
    rustix::process::Pid::from_raw(pid.raw()).ok_or_else(|| rustix::io::Errno::INVAL.into())
}

/// Reaps `pid`: `Ok(None)` if `nohang` and it still runs.
pub(crate) fn wait_pid(pid: Pid, nohang: bool) -> io::Result<Option<ExitStatus>> {
    let kpid = kernel_pid(pid)?;
    let options = if nohang {
        WaitOptions::NOHANG
    } else {
        WaitOptions::empty()
    };
    loop {
        match rustix::process::waitpid(Some(kpid), options) {
            Ok(Some((_, status))) => {
                return Ok(Some(match status.terminating_signal() {
                    Some(sig) => ExitStatus::Signal(sig),
                    None => ExitStatus::Code(status.exit_status().unwrap_or(0)),
                }));
            }
            Ok(None) => return Ok(None),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A pidfd for `pid` (Linux >= 5.3), readable once the process has exited. pidfds are always
/// close-on-exec.
pub(crate) fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_open(
        kernel_pid(pid)?,
        PidfdFlags::empty(),
    )?)
}

/// Sends `sig` through a pidfd (no pid-reuse race).
pub(crate) fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> io::Result<()> {
    Ok(rustix::process::pidfd_send_signal(pidfd, sig)?)
}

/// Sends `sig` to `pid`.
pub(crate) fn kill(pid: Pid, sig: Signal) -> io::Result<()> {
    Ok(rustix::process::kill_process(kernel_pid(pid)?, sig)?)
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
    let name: Vec<u8> = std::os::unix::ffi::OsStrExt::as_bytes(base)
        .iter()
        .copied()
        .take(15)
        .collect();
    // PR_SET_NAME on this (the main) thread: the process's `comm`. A name with a NUL is left alone.
    if let Ok(name) = std::ffi::CString::new(name) {
        let _ = rustix::thread::set_name(&name);
    }
}

/// True while `pid` runs: false once it has exited, even while it is an unreaped zombie (which `kill(pid,
/// 0)` would still report as alive). A pid reused by a new process reads as alive.
pub(crate) fn is_running(pid: Pid) -> bool {
    match pidfd_open(pid) {
        // A pidfd polls readable once its process has exited; a failed poll tells nothing: alive.
        Ok(fd) => crate::sys::socket::readable_within(fd.as_fd(), 0).map_or(true, |r| !r),
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
    u32::try_from(rustix::thread::sched_getcpu()).ok()
}

/// Restores the default action for `SIGCHLD`, so that children stay waitable (zombies) until reaped.
pub(crate) fn default_sigchld() {
    // SAFETY: installing the default disposition for one signal; no handler code is involved.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}
