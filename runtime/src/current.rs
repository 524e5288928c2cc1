//! Who this process is, in Python's terms: [`current_process`], [`parent_process`], [`active_children`],
//! and the non-daemon children joined at exit ([`join_children_at_exit`]).
//!
//! A started child learns its name, daemon flag, start method and parent from the [`Origin`] its parent
//! puts in its task frame; the program's own process is `MainProcess`.

use crate::launch;
use crate::poison::lock;
use crate::protocol::child::Origin;
use crate::sys::{self, identity::Pid};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// What a started child was told about itself, and a pidfd of its parent, opened on first use (a
/// child holds no descriptor it was not given until it asks about its parent).
struct Adopted {
    origin: Origin,
    parent: OnceLock<Option<OwnedFd>>,
}

impl Adopted {
    fn parent_fd(&self) -> Option<BorrowedFd<'_>> {
        self.parent
            .get_or_init(|| sys::process::pidfd_open(Pid::from_u32(self.origin.parent_pid)).ok())
            .as_ref()
            .map(|fd| fd.as_fd())
    }
}

static ADOPTED: OnceLock<Adopted> = OnceLock::new();

/// Called in a started child with the [`Origin`] of its task: its parent's start method becomes its
/// own, and [`current_process`] / [`parent_process`] describe it from now on.
pub(crate) fn adopt_origin(origin: Origin) {
    if let Some(method) = origin.start_method() {
        launch::set_start_method(method);
    }
    // The parent's pid cannot be reused while this process runs: the parent watch kills this process
    // as soon as the parent is gone.
    let _ = ADOPTED.set(Adopted {
        origin,
        parent: OnceLock::new(),
    });
}

/// This process, as Python's `multiprocessing.current_process()` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    pid: u32,
    daemon: bool,
}

impl CurrentProcess {
    /// `MainProcess` in the program; in a child, the name its `Process` was given (`Process-N` by
    /// default). Python: `current_process().name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This process's id. Python: `current_process().pid` / `.ident`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this process was started as a daemon ([`ProcessBuilder::daemon`](crate::ProcessBuilder::daemon));
    /// false for the program itself. Python: `current_process().daemon`.
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

/// This process: its name, pid and daemon flag. Python: `multiprocessing.current_process()`. There is
/// no process-wide `authkey`: each [`Manager`](crate::Manager) has its own.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let me = multiproc::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// ```
pub fn current_process() -> CurrentProcess {
    let pid = sys::process::getpid().as_u32();
    match ADOPTED.get() {
        Some(a) => CurrentProcess {
            name: a.origin.name.clone(),
            pid,
            daemon: a.origin.daemon,
        },
        None => CurrentProcess {
            name: "MainProcess".to_string(),
            pid,
            daemon: false,
        },
    }
}

/// The process that started this one, seen from a child. Python: `multiprocessing.parent_process()`.
#[derive(Debug, Clone, Copy)]
pub struct ParentProcess {
    adopted: &'static Adopted,
}

impl std::fmt::Debug for Adopted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parent")
            .field("pid", &self.origin.parent_pid)
            .field("name", &self.origin.parent_name)
            .finish()
    }
}

impl ParentProcess {
    /// The parent program's pid: the process that asked for this child (for a fork-server child, not
    /// the fork server that forked it).
    pub fn pid(&self) -> u32 {
        self.adopted.origin.parent_pid
    }

    /// The parent's [`current_process`] name (`MainProcess` for the program).
    #[allow(clippy::misnamed_getters)] // the parent's name, not this process's
    pub fn name(&self) -> &str {
        &self.adopted.origin.parent_name
    }

    /// True while the parent runs. A multiproc child dies with its parent (the parent watch kills it),
    /// so a child rarely sees `false`: only in the moment between the two.
    pub fn is_alive(&self) -> bool {
        match self.adopted.parent_fd() {
            Some(fd) => !sys::child::has_exited(fd, 0),
            None => sys::process::is_running(Pid::from_u32(self.pid())),
        }
    }

    /// Waits up to `timeout` for the parent to end; true if it has. Python: `parent_process().join(t)`.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        match self.adopted.parent_fd() {
            Some(fd) => sys::child::has_exited(fd, ms),
            None => !self.is_alive(),
        }
    }

    /// A descriptor readable once the parent has ended (its pidfd), if one could be opened. Python:
    /// `parent_process().sentinel`.
    pub fn sentinel(&self) -> Option<BorrowedFd<'static>> {
        self.adopted.parent_fd()
    }
}

/// The process that started this one, or `None` in the program itself. Python:
/// `multiprocessing.parent_process()`.
pub fn parent_process() -> Option<ParentProcess> {
    ADOPTED.get().map(|adopted| ParentProcess { adopted })
}

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
