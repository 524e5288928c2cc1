//! How children start: the [`StartMethod`]s and the process-wide choice. The lowest floor that knows
//! of them (the child protocol carries the parent's choice to its children; `launch` starts children
//! each way; `current` adopts the parent's choice in a child).

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
