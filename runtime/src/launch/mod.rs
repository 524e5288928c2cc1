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

/// How a child process starts. Python: `multiprocessing.set_start_method`. The default is
/// [`ForkServer`](StartMethod::ForkServer), as in Python 3.14 on Linux.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// #[multiproc::worker]
/// fn noop() {}
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     multiproc::set_start_method(multiproc::StartMethod::Spawn);
///     noop::spawn()?.join()?; // a fresh exec of this binary
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// Re-execute this binary (`posix_spawn` of `/proc/self/exe`). Python's `spawn`: a fresh process
    /// that has run none of the program's code, whose environment and logging are the program's at
    /// the moment of the spawn.
    Spawn,
    /// Fork a *fork server*: a copy of this binary started once (by `Spawn`) and kept right after the
    /// bootstrap, so it too has run none of the program's code, but each child skips `exec`, dynamic
    /// loading and runtime start-up. Python's `forkserver`. Several times faster to start. The
    /// default. Its children inherit the environment (variables, current directory, logging set by
    /// [`log_to_stderr`](crate::log_to_stderr)) the program had when the server started, at the first
    /// fork-server spawn, not at each spawn.
    #[default]
    ForkServer,
}

impl StartMethod {
    /// Python's name for it: `"spawn"`, `"forkserver"`.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }

    /// The method Python calls `name` (`"spawn"`, `"forkserver"`); `None` for others (`"fork"` is not
    /// offered: forking a program with threads is unsafe).
    pub fn from_name(name: &str) -> Option<StartMethod> {
        get_all_start_methods()
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// Every start method this platform offers, the default first. Python:
/// `multiprocessing.get_all_start_methods()`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::StartMethod;
/// assert_eq!(multiproc::get_all_start_methods(), [StartMethod::ForkServer, StartMethod::Spawn]);
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    vec![StartMethod::ForkServer, StartMethod::Spawn]
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

static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(StartMethod::ForkServer as u8);

/// Sets how children start from now on (default [`StartMethod::ForkServer`]). Python:
/// `multiprocessing.set_start_method(..)`; unlike Python it may be called again. A child inherits the
/// method its parent had set when it was started (its own children start the same way), as in Python.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// multiproc::set_start_method(multiproc::StartMethod::Spawn);
/// assert_eq!(multiproc::get_start_method(), multiproc::StartMethod::Spawn);
/// ```
pub fn set_start_method(method: StartMethod) {
    DEFAULT_METHOD.store(method as u8, Ordering::Relaxed);
}

/// How children start by default. Python: `multiprocessing.get_start_method()`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// assert_eq!(multiproc::get_start_method(), multiproc::StartMethod::ForkServer);
/// ```
pub fn get_start_method() -> StartMethod {
    StartMethod::from_u8(DEFAULT_METHOD.load(Ordering::Relaxed)).unwrap_or_default()
}

/// A start method to start processes and pools with, leaving the process-wide one alone. Python:
/// `multiprocessing.get_context(method)`. Queues, pipes, locks, shared memory and managers do not
/// depend on the start method here (they are handles that travel to any child), so they have no
/// constructor on the context: use `Queue::new()`, `Lock::new()`, ... as usual.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let ctx = multiproc::get_context(multiproc::StartMethod::Spawn);
/// assert_eq!(ctx.process_builder().spawn(square, (3,))?.join()?, 9);
/// let pool = ctx.pool(2)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// Its start method. Python: `ctx.get_start_method()`.
    pub fn get_start_method(&self) -> StartMethod {
        self.method
    }

    /// Options for a process started this way. Python: `ctx.Process(..)`.
    pub fn process_builder(&self) -> crate::ProcessBuilder {
        crate::Process::builder().start_method(self.method)
    }

    /// Options for a pool whose workers start this way. Python: `ctx.Pool(..)`.
    pub fn pool_builder(&self) -> crate::PoolBuilder {
        crate::Pool::builder().start_method(self.method)
    }

    /// A pool of `processes` workers started this way. Python: `ctx.Pool(processes)`.
    pub fn pool(&self, processes: usize) -> Result<crate::Pool> {
        self.pool_builder().processes(processes).build()
    }
}

/// A [`Context`] for `method` (`None`: the current [`get_start_method`]). Python:
/// `multiprocessing.get_context(method)`.
pub fn get_context(method: impl Into<Option<StartMethod>>) -> Context {
    Context {
        method: method.into().unwrap_or_else(get_start_method),
    }
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
