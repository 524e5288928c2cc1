//! Who this process is, in Python's terms: [`current_process`] and [`parent_process`]. Its children
//! are listed in [`children`](crate::children).
//!
//! A started child learns its name, daemon flag, start method and parent from the [`Origin`] its parent
//! puts in its task frame; the program's own process is `MainProcess`.

use crate::protocol::child::Origin;
use crate::sys::{self, identity::Pid};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
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
        crate::method::set_start_method(method);
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
