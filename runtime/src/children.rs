//! The children this process started, in Python's terms: [`active_children`], and the non-daemon
//! children joined at exit ([`join_children_at_exit`]). [`Process`](crate::Process) registers each
//! child it starts here and detaches a non-daemon one whose handle is dropped unjoined.

use crate::launch;
use crate::poison::lock;
use crate::sys;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Mutex;

/// A child of this process that is still running, as [`active_children`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveChild {
    /// Its process id.
    pub pid: u32,
    /// Its [`Process`](crate::Process) name.
    pub name: String,
}

/// The live `Process` handles of this process: (pidfd number, pid, name). An entry is removed before
/// its handle closes the pidfd, so every number listed here is open.
static LIVE: Mutex<Vec<(RawFd, u32, String)>> = Mutex::new(Vec::new());

pub(crate) fn register(pidfd: RawFd, pid: u32, name: &str) {
    lock(&LIVE).push((pidfd, pid, name.to_string()));
}

pub(crate) fn unregister(pidfd: RawFd) {
    lock(&LIVE).retain(|(fd, _, _)| *fd != pidfd);
}

/// The children this process started (through a [`Process`](crate::Process) whose handle it still
/// holds, a non-daemon one handed to [`join_children_at_exit`] included) that have not ended yet.
/// Python: `multiprocessing.active_children()` (which returns `Process` objects; here a handle has one
/// owner, so the list names them). Pool workers and manager servers count, as in Python.
pub fn active_children() -> Vec<ActiveChild> {
    lock(&LIVE)
        .iter()
        .filter(|(fd, _, _)| {
            // SAFETY: the descriptor is open while its entry is in LIVE, and LIVE is locked.
            let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
            !sys::child::has_exited(fd, 0)
        })
        .map(|(_, pid, name)| ActiveChild {
            pid: *pid,
            name: name.clone(),
        })
        .collect()
}

/// Non-daemon children whose handles were dropped unjoined: they run on until joined here.
static DETACHED: Mutex<Vec<launch::Child>> = Mutex::new(Vec::new());

pub(crate) fn detach(child: launch::Child) {
    lock(&DETACHED).push(child);
}

/// Waits for every non-daemon child whose [`Process`](crate::Process) was dropped without a join
/// (their results are discarded). Python joins its non-daemon children at exit; `#[multiproc::main]`
/// calls this when `main` returns, so call it yourself only with [`init`](crate::init), or before a
/// `std::process::exit` (which skips it; the children then die with the program, as daemons do).
pub fn join_children_at_exit() {
    let children = std::mem::take(&mut *lock(&DETACHED));
    for mut child in children {
        // Read (and drop) its report first: a large one would keep it from exiting.
        let _ = child.recv_report(None);
        child.reap(true);
        unregister(child.pidfd().as_raw_fd());
    }
}

/// Held by `#[multiproc::main]` for the length of `main`: joins the non-daemon children when it ends.
#[doc(hidden)]
#[derive(Debug)]
pub struct MainGuard(());

impl MainGuard {
    pub(crate) fn new() -> MainGuard {
        MainGuard(())
    }
}

impl Drop for MainGuard {
    fn drop(&mut self) {
        join_children_at_exit();
    }
}
