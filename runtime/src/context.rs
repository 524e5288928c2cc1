//! [`Context`]: Python's `get_context(method)`, constructors bound to one start method. Above both
//! `process` and `pool`, which it builds.

use crate::error::Result;
use crate::method::{StartMethod, get_start_method};

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
