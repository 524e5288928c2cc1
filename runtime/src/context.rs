//! [`Context`]: Python's `get_context(method)`, constructors bound to one start method. Above
//! `process`, `pool` and `manager`, which it builds.

use crate::error::Result;
use crate::method::{StartMethod, get_start_method};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A start method to start processes, pools and managers with, leaving the process-wide one alone.
/// Python: `multiprocessing.get_context(method)`. It has Python's constructors too (`ctx.Queue()` is
/// `ctx.queue()`, `ctx.Lock()` is `ctx.lock()`, ...), so code written against a context ports as is;
/// queues, pipes, locks and shared values do not depend on the start method (they are handles that
/// travel to any child), so those are the plain constructors (`Queue::new()`, `Lock::new()`, ...).
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let ctx = multiproc::get_context(multiproc::StartMethod::Spawn);
/// assert_eq!(ctx.process_builder().spawn(square, (3,))?.join()?, 9);
/// let pool = ctx.pool(2)?;
/// let q = ctx.queue::<u64>()?;              // ctx.Queue()
/// let lock = ctx.lock()?;                   // ctx.Lock()
/// let mgr = ctx.manager()?;                 // ctx.Manager(): its server started by Spawn
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

    /// Options for a manager whose server starts this way. Python: `ctx.Manager()` before `start`.
    pub fn manager_builder(&self) -> crate::ManagerBuilder {
        crate::Manager::builder().start_method(self.method)
    }

    /// A manager whose server starts this way. Python: `ctx.Manager()`.
    pub fn manager(&self) -> Result<crate::Manager> {
        self.manager_builder().start()
    }

    /// `Queue::new()`. Python: `ctx.Queue()`.
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<crate::Queue<T>> {
        crate::Queue::new()
    }

    /// `Queue::bounded(maxsize)`. Python: `ctx.Queue(maxsize)`.
    pub fn queue_bounded<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<crate::Queue<T>> {
        crate::Queue::bounded(maxsize)
    }

    /// `SimpleQueue::new()`. Python: `ctx.SimpleQueue()`.
    pub fn simple_queue<T: Serialize + DeserializeOwned>(&self) -> Result<crate::SimpleQueue<T>> {
        crate::SimpleQueue::new()
    }

    /// `JoinableQueue::new()`. Python: `ctx.JoinableQueue()`.
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<crate::JoinableQueue<T>> {
        crate::JoinableQueue::new()
    }

    /// `Pipe::new()`. Python: `ctx.Pipe()`.
    pub fn pipe<T: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<(crate::Connection<T>, crate::Connection<T>)> {
        crate::Pipe::<T>::new()
    }

    /// `Lock::new()`. Python: `ctx.Lock()`.
    pub fn lock(&self) -> Result<crate::Lock> {
        crate::Lock::new()
    }

    /// `RLock::new()`. Python: `ctx.RLock()`.
    pub fn rlock(&self) -> Result<crate::RLock> {
        crate::RLock::new()
    }

    /// `Semaphore::new(value)`. Python: `ctx.Semaphore(value)`.
    pub fn semaphore(&self, value: u32) -> Result<crate::Semaphore> {
        crate::Semaphore::new(value)
    }

    /// `BoundedSemaphore::new(value)`. Python: `ctx.BoundedSemaphore(value)`.
    pub fn bounded_semaphore(&self, value: u32) -> Result<crate::BoundedSemaphore> {
        crate::BoundedSemaphore::new(value)
    }

    /// `Condition::new()`. Python: `ctx.Condition()`.
    pub fn condition(&self) -> Result<crate::Condition> {
        crate::Condition::new()
    }

    /// `Event::new()`. Python: `ctx.Event()`.
    pub fn event(&self) -> Result<crate::Event> {
        crate::Event::new()
    }

    /// `Barrier::new(parties)`. Python: `ctx.Barrier(parties)`.
    pub fn barrier(&self, parties: u32) -> Result<crate::Barrier> {
        crate::Barrier::new(parties)
    }

    /// `Value::new(value)`. Python: `ctx.Value(typecode, value)`.
    pub fn value<T: crate::Shareable>(&self, value: T) -> Result<crate::Value<T>> {
        crate::Value::new(value)
    }

    /// `Array::new(len)` (zeroed). Python: `ctx.Array(typecode, size)`.
    pub fn array<T: crate::Shareable>(&self, len: usize) -> Result<crate::Array<T>> {
        crate::Array::new(len)
    }
}

/// A [`Context`] for `method` (`None`: the current [`get_start_method`]). Python:
/// `multiprocessing.get_context(method)`.
pub fn get_context(method: impl Into<Option<StartMethod>>) -> Context {
    Context {
        method: method.into().unwrap_or_else(get_start_method),
    }
}
