//! Starting child processes, both sides of it. The parent picks a [`StartMethod`] and gets a [`Child`]
//! (its pid, pidfd, bootstrap socket and reaping) with its task sent; the child decides at start-up
//! that it is one (`boot`), answers on its bootstrap socket and runs the task (`serve`), watched by a
//! thread that kills it when the parent goes away (`watch`). [`Process`](crate::Process) is the public
//! handle on top.
//!
//! Each start method is one file: `spawn` (re-exec this binary) and `forkserver` (fork a server that
//! was itself started by `spawn`). A new one (MPI) is a new file here, a [`StartMethod`] variant and an
//! arm in [`start`]; it hands back a [`Child`] whose socket speaks the child protocol
//! ([`crate::protocol::child`]).

mod boot;
mod child;
mod forkserver;
mod harness;
mod serve;
mod spawn;
mod watch;

pub use boot::init;
pub(crate) use boot::run_child_if_spawned;
pub(crate) use child::Child;
pub(crate) use harness::test_entry;

use crate::codec::Encoded;
use crate::error::Result;
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};
use std::sync::atomic::{AtomicU8, Ordering};

/// How a child process starts. Python: `multiprocessing.set_start_method`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// #[multiproc::worker]
/// fn noop() {}
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     multiproc::set_start_method(multiproc::StartMethod::ForkServer);
///     noop::spawn()?.join()?; // forked from the fork server: no exec
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// Re-execute this binary (`posix_spawn` of `/proc/self/exe`). Python's `spawn`: a fresh process
    /// that has run none of the program's code. The default.
    #[default]
    Spawn,
    /// Fork a *fork server*: a copy of this binary started once (by `Spawn`) and kept right after the
    /// bootstrap, so it too has run none of the program's code, but each child skips `exec`, dynamic
    /// loading and runtime start-up. Python's `forkserver`. Several times faster to start.
    ForkServer,
}

impl StartMethod {
    /// The method numbered `n` (its discriminant), as a task frame carries it.
    pub(crate) fn from_u8(n: u8) -> Option<StartMethod> {
        match n {
            0 => Some(StartMethod::Spawn),
            1 => Some(StartMethod::ForkServer),
            _ => None,
        }
    }
}

static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets how children start from now on (default [`StartMethod::Spawn`]). Python:
/// `multiprocessing.set_start_method(..)`; unlike Python it may be called again. A child inherits the
/// method its parent had set when it was started (its own children start the same way), as in Python.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// multiproc::set_start_method(multiproc::StartMethod::ForkServer);
/// assert_eq!(multiproc::get_start_method(), multiproc::StartMethod::ForkServer);
/// ```
pub fn set_start_method(method: StartMethod) {
    DEFAULT_METHOD.store(method as u8, Ordering::Relaxed);
}

/// How children start by default. Python: `multiprocessing.get_start_method()`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// assert_eq!(multiproc::get_start_method(), multiproc::StartMethod::Spawn);
/// ```
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT_METHOD.load(Ordering::Relaxed)).unwrap_or_default()
}

/// Starts a child with `method` and sends it `task` (a task frame of the child protocol). A child that
/// dies before reading its task is still returned: its end is reported when it is waited for.
pub(crate) fn start(method: StartMethod, task: &Encoded) -> Result<Child> {
    Channel::check_sendable(task.bytes.len(), task.fds.len(), DEFAULT_MAX_MESSAGE)?;
    let child = match method {
        StartMethod::Spawn => spawn::start()?,
        StartMethod::ForkServer => forkserver::start()?,
    };
    // On error the child is dropped: killed and reaped.
    child.send_task(task)?;
    Ok(child)
}
