//! Typed proxies for the blocking objects: [`QueueProxy`], [`LockProxy`], [`EventProxy`], and the rest
//! of Python's `SyncManager` blocking types: [`JoinableQueueProxy`] (`Queue(maxsize)`,
//! `JoinableQueue`), [`RLockProxy`], [`SemaphoreProxy`] (`Semaphore`, `BoundedSemaphore`),
//! [`ConditionProxy`] and [`BarrierProxy`]. The server does the waiting; every blocking call has a
//! `_timeout` form; a caller whose process dies stops waiting there too, and a lock whose holder's
//! process dies is released.

use super::containers::proxy_type;
use super::objects::BarrierOutcome;
use super::protocol::Blob;
use super::proxy::{Proxy, ProxyCore};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::time::{Duration, Instant};

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// An unbounded FIFO queue held by a manager. Python: `manager.Queue()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// use std::time::{Duration, Instant};
/// let q = multiproc::Manager::start()?.queue::<String>()?;
/// q.put("job")?;                                            // q.put('job')
/// assert_eq!(q.get()?, "job");                             // q.get()
/// assert!(q.try_get().unwrap_err().kind() == &multiproc::ErrorKind::Empty);  // q.get_nowait()
/// assert!(q.get_timeout(Duration::from_millis(10)).unwrap_err().is_timeout());
/// # Ok(()) }
/// ```
pub struct QueueProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(
    QueueProxy[T],
    format!("queue<{}>", std::any::type_name::<T>())
);

impl<T: Serialize + DeserializeOwned> QueueProxy<T> {
    /// Adds `value` at the back. Python: `q.put(value)`.
    pub fn put<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.core.call("put", &Blob::encode(value)?)
    }

    /// [`put`](Self::put) for async code (feature `async`).
    #[cfg(feature = "async")]
    pub async fn put_async<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let item = Blob::encode(value)?;
        self.core.call_async("put", &item).await
    }

    fn take(&self, timeout: Option<Duration>) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call("get", &timeout.map(micros))?;
        b.map(|b| b.decode()).transpose()
    }

    /// Removes and returns the front item, waiting for one. Python: `q.get()`.
    pub fn get(&self) -> Result<T> {
        loop {
            if let Some(v) = self.take(None)? {
                return Ok(v);
            }
        }
    }

    /// [`get`](Self::get) for async code (feature `async`): the server waits for an item, and the
    /// reply is awaited without a thread. Dropping the future before the reply drops its
    /// connection; an item the server took in that moment is lost with it.
    #[cfg(feature = "async")]
    pub async fn get_async(&self) -> Result<T> {
        loop {
            let b: Option<Blob> = self.core.call_async("get", &None::<u64>).await?;
            if let Some(b) = b {
                return b.decode();
            }
        }
    }

    /// Like [`get`](Self::get), giving up with [`ErrorKind::Timeout`] after `timeout`. Python:
    /// `q.get(timeout=t)`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.take(Some(timeout))?.ok_or_else(|| {
            Error::new(
                ErrorKind::Timeout,
                format!("queue get timed out after {timeout:?}"),
            )
        })
    }

    /// The front item if there is one now, else [`ErrorKind::Empty`]. Python: `q.get_nowait()`.
    pub fn try_get(&self) -> Result<T> {
        self.take(Some(Duration::ZERO))?
            .ok_or_else(|| Error::new(ErrorKind::Empty, "queue is empty"))
    }

    /// Number of items. Python: `q.qsize()`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True when the queue has no items. Python: `q.empty()`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// A lock held by a manager. The server releases it if the holder's process dies. Python:
/// `manager.Lock()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let mgr = multiproc::Manager::start()?;
/// let (lock, d) = (mgr.lock()?, mgr.dict::<String, u64>()?);
/// {
///     let _guard = lock.acquire()?;                    // with lock:
///     let n = d.get("count")?.unwrap_or(0);
///     d.insert("count", &(n + 1))?;                    //     d['count'] += 1
/// }
/// # Ok(()) }
/// ```
pub struct LockProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(LockProxy[], "lock".to_string());

impl LockProxy {
    fn acquire_for(&self, timeout: Option<Duration>) -> Result<bool> {
        self.core.call("acquire", &timeout.map(micros))
    }

    /// Waits for the lock; it is released when the guard drops. Python: `lock.acquire()`.
    pub fn acquire(&self) -> Result<LockGuard<'_>> {
        while !self.acquire_for(None)? {}
        Ok(LockGuard::new(self))
    }

    /// Like [`acquire`](Self::acquire), giving up with [`ErrorKind::Timeout`] after `timeout`.
    /// Python: `lock.acquire(timeout=t)`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        if self.acquire_for(Some(timeout))? {
            Ok(LockGuard::new(self))
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("lock acquire timed out after {timeout:?}"),
            ))
        }
    }

    /// The lock if it is free now, else `None`. Python: `lock.acquire(blocking=False)`.
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
        Ok(self
            .acquire_for(Some(Duration::ZERO))?
            .then(|| LockGuard::new(self)))
    }

    /// True while someone holds the lock. Python: `lock.locked()`.
    pub fn locked(&self) -> Result<bool> {
        self.core.call("locked", &())
    }
}

/// Holds a [`LockProxy`]'s lock; dropping it releases the lock (errors then are ignored: use
/// [`release`](LockGuard::release) to see them). The server ties the lock to the connection of the
/// thread that acquired it, so the guard stays on that thread (it is not `Send`):
///
/// ```compile_fail
/// # extern crate multiproc_runtime as multiproc;
/// fn send<T: Send>(_: T) {}
/// fn hand_over(guard: multiproc::manager::LockGuard<'static>) {
///     send(guard);
/// }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a LockProxy,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl<'a> LockGuard<'a> {
    fn new(lock: &'a LockProxy) -> LockGuard<'a> {
        LockGuard {
            lock,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl LockGuard<'_> {
    /// Releases the lock, reporting a failure (the manager is gone). Python: `lock.release()`.
    pub fn release(self) -> Result<()> {
        let res = self.lock.core.call("release", &());
        std::mem::forget(self);
        res
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _: Result<()> = self.lock.core.call("release", &());
    }
}

/// An event held by a manager. Python: `manager.Event()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// use std::time::{Duration, Instant};
/// let ev = multiproc::Manager::start()?.event()?;
/// assert!(!ev.wait_timeout(Duration::from_millis(1))?);   // ev.wait(0.001) -> False
/// ev.set()?;                                              // ev.set()
/// assert!(ev.is_set()?);                                  // ev.is_set()
/// ev.wait()?;                                             // returns at once
/// # Ok(()) }
/// ```
pub struct EventProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(EventProxy[], "event".to_string());

impl EventProxy {
    /// Sets the flag, waking every waiter. Python: `ev.set()`.
    pub fn set(&self) -> Result<()> {
        self.core.call("set", &())
    }

    /// Clears the flag. Python: `ev.clear()`.
    pub fn clear(&self) -> Result<()> {
        self.core.call("clear", &())
    }

    /// The flag. Python: `ev.is_set()`.
    pub fn is_set(&self) -> Result<bool> {
        self.core.call("is_set", &())
    }

    /// Waits until the flag is set. Python: `ev.wait()`.
    pub fn wait(&self) -> Result<()> {
        while !self.core.call::<_, bool>("wait", &None::<u64>)? {}
        Ok(())
    }

    /// Waits up to `timeout`; true if the flag was set. Python: `ev.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.core.call("wait", &Some(micros(timeout)))
    }
}

fn timed_out(what: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what} timed out after {timeout:?}"),
    )
}

/// A FIFO queue held by a manager, optionally bounded, that counts unfinished items. Python:
/// `manager.Queue(maxsize)` and `manager.JoinableQueue(maxsize)` (both are `queue.Queue` there,
/// with `task_done` and `join`). Made by [`Manager::queue_bounded`](super::Manager::queue_bounded)
/// and [`Manager::joinable_queue`](super::Manager::joinable_queue).
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// use multiproc::ErrorKind;
/// let q = multiproc::Manager::start()?.queue_bounded::<u32>(1)?;  // manager.Queue(maxsize=1)
/// q.put(&1)?;
/// assert!(q.is_full()?);                                           // q.full()
/// assert_eq!(q.try_put(&2).unwrap_err().kind(), &ErrorKind::Full);  // q.put_nowait(2)
/// assert_eq!(q.get()?, 1);
/// q.task_done()?;                                                  // q.task_done()
/// q.join()?;                                                       // q.join()
/// # Ok(()) }
/// ```
pub struct JoinableQueueProxy<T> {
    core: ProxyCore,
    _t: std::marker::PhantomData<fn() -> T>,
}

proxy_type!(
    JoinableQueueProxy[T],
    format!("joinable_queue<{}>", std::any::type_name::<T>())
);

impl<T: Serialize + DeserializeOwned> JoinableQueueProxy<T> {
    fn put_for<Q: Serialize + ?Sized>(&self, value: &Q, timeout: Option<Duration>) -> Result<bool> {
        self.core
            .call("put", &(Blob::encode(value)?, timeout.map(micros)))
    }

    /// Adds `value` at the back, waiting while the queue is full. Python: `q.put(value)`.
    pub fn put<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        let blob = Blob::encode(value)?;
        while !self.core.call::<_, bool>("put", &(&blob, None::<u64>))? {}
        Ok(())
    }

    /// Like [`put`](Self::put), giving up with [`ErrorKind::Timeout`] after `timeout`. Python:
    /// `q.put(value, timeout=t)` (`queue.Full` there).
    pub fn put_timeout<Q>(&self, value: &Q, timeout: Duration) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        if self.put_for(value, Some(timeout))? {
            Ok(())
        } else {
            Err(timed_out("queue put", timeout))
        }
    }

    /// Adds `value` if there is room now, else [`ErrorKind::Full`]. Python: `q.put_nowait(value)`.
    pub fn try_put<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        if self.put_for(value, Some(Duration::ZERO))? {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Full, "queue is full"))
        }
    }

    fn take(&self, timeout: Option<Duration>) -> Result<Option<T>> {
        let b: Option<Blob> = self.core.call("get", &timeout.map(micros))?;
        b.map(|b| b.decode()).transpose()
    }

    /// Removes and returns the front item, waiting for one. Python: `q.get()`.
    pub fn get(&self) -> Result<T> {
        loop {
            if let Some(v) = self.take(None)? {
                return Ok(v);
            }
        }
    }

    /// Like [`get`](Self::get), giving up with [`ErrorKind::Timeout`] after `timeout`. Python:
    /// `q.get(timeout=t)`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.take(Some(timeout))?
            .ok_or_else(|| timed_out("queue get", timeout))
    }

    /// The front item if there is one now, else [`ErrorKind::Empty`]. Python: `q.get_nowait()`.
    pub fn try_get(&self) -> Result<T> {
        self.take(Some(Duration::ZERO))?
            .ok_or_else(|| Error::new(ErrorKind::Empty, "queue is empty"))
    }

    /// Number of items. Python: `q.qsize()`.
    pub fn len(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("len", &())? as usize)
    }

    /// True when the queue has no items. Python: `q.empty()`.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// True when a bounded queue holds `maxsize` items (never for an unbounded one). Python:
    /// `q.full()`.
    pub fn is_full(&self) -> Result<bool> {
        self.core.call("full", &())
    }

    /// The bound given at creation, 0 for none. Python: `q.maxsize`.
    pub fn maxsize(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("maxsize", &())? as usize)
    }

    /// Marks one item taken with `get` as processed. Calling it more times than items were put is
    /// [`ErrorKind::InvalidInput`] (Python: `ValueError`). Python: `q.task_done()`.
    pub fn task_done(&self) -> Result<()> {
        self.core.call("task_done", &())
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done).
    pub fn unfinished(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("unfinished", &())? as usize)
    }

    /// Waits until every item put has been marked done. Python: `q.join()`.
    pub fn join(&self) -> Result<()> {
        while !self.core.call::<_, bool>("join", &None::<u64>)? {}
        Ok(())
    }

    /// Like [`join`](Self::join), giving up with [`ErrorKind::Timeout`] after `timeout`.
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        if self.core.call("join", &Some(micros(timeout)))? {
            Ok(())
        } else {
            Err(timed_out("queue join", timeout))
        }
    }
}

/// A reentrant lock held by a manager: the thread that holds it may acquire it again, and it is
/// free once released as many times. The server releases it, whatever the depth, if the holder's
/// thread or process goes away. Python: `manager.RLock()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let rlock = multiproc::Manager::start()?.rlock()?;
/// let outer = rlock.acquire()?;     // with rlock:
/// let inner = rlock.acquire()?;     //     with rlock:  (same thread: no deadlock)
/// drop(inner);
/// drop(outer);
/// assert!(!rlock.locked()?);
/// # Ok(()) }
/// ```
pub struct RLockProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(RLockProxy[], "rlock".to_string());

impl RLockProxy {
    fn acquire_for(&self, timeout: Option<Duration>) -> Result<bool> {
        self.core.call("acquire", &timeout.map(micros))
    }

    /// Waits for the lock (at once if this thread holds it); it is released when the guard drops.
    /// Python: `rlock.acquire()`.
    pub fn acquire(&self) -> Result<RLockGuard<'_>> {
        while !self.acquire_for(None)? {}
        Ok(RLockGuard::new(&self.core))
    }

    /// Like [`acquire`](Self::acquire), giving up with [`ErrorKind::Timeout`] after `timeout`.
    /// Python: `rlock.acquire(timeout=t)`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>> {
        if self.acquire_for(Some(timeout))? {
            Ok(RLockGuard::new(&self.core))
        } else {
            Err(timed_out("rlock acquire", timeout))
        }
    }

    /// The lock if it is free now (or this thread holds it), else `None`. Python:
    /// `rlock.acquire(blocking=False)`.
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<'_>>> {
        Ok(self
            .acquire_for(Some(Duration::ZERO))?
            .then(|| RLockGuard::new(&self.core)))
    }

    /// True while any thread holds the lock. Python: `rlock.locked()` (3.14).
    pub fn locked(&self) -> Result<bool> {
        self.core.call("locked", &())
    }

    /// How many times this thread holds the lock (0 if it does not).
    pub fn depth(&self) -> Result<u64> {
        self.core.call("depth", &())
    }
}

/// Holds one level of a reentrant manager lock ([`RLockProxy`] or [`ConditionProxy`]); dropping it
/// releases that level (errors then are ignored: use [`release`](RLockGuard::release) to see them).
/// The server ties the lock to the connection of the thread that acquired it, so the guard stays on
/// that thread (it is not `Send`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    core: &'a ProxyCore,
    _not_send: std::marker::PhantomData<*const ()>,
}

/// The guard of a [`ConditionProxy`]'s lock.
pub type ConditionGuard<'a> = RLockGuard<'a>;

impl<'a> RLockGuard<'a> {
    fn new(core: &'a ProxyCore) -> RLockGuard<'a> {
        RLockGuard {
            core,
            _not_send: std::marker::PhantomData,
        }
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard")
            .field("lock", self.core)
            .finish()
    }
}

impl RLockGuard<'_> {
    /// Releases this level, reporting a failure (the manager is gone). Python: `rlock.release()`.
    pub fn release(self) -> Result<()> {
        let res = self.core.call("release", &());
        std::mem::forget(self);
        res
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let _: Result<()> = self.core.call("release", &());
    }
}

/// A counting semaphore held by a manager. A bounded one refuses a `release` that would take it
/// past its initial value. Unlike a lock it has no owner: any process may release it, and a
/// process that dies keeps what it acquired. Python: `manager.Semaphore(n)`,
/// `manager.BoundedSemaphore(n)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let mgr = multiproc::Manager::start()?;
/// let sem = mgr.bounded_semaphore(2)?;       // manager.BoundedSemaphore(2)
/// sem.acquire()?;                            // sem.acquire()
/// assert_eq!(sem.value()?, 1);               // sem.get_value()
/// sem.release()?;                            // sem.release()
/// assert!(sem.release().is_err());           // ValueError: released too many times
/// # Ok(()) }
/// ```
pub struct SemaphoreProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(SemaphoreProxy[], "semaphore".to_string());

impl SemaphoreProxy {
    fn acquire_for(&self, timeout: Option<Duration>) -> Result<bool> {
        self.core.call("acquire", &timeout.map(micros))
    }

    /// Takes one unit, waiting while the value is 0. Python: `sem.acquire()`.
    pub fn acquire(&self) -> Result<()> {
        while !self.acquire_for(None)? {}
        Ok(())
    }

    /// Like [`acquire`](Self::acquire), giving up with [`ErrorKind::Timeout`] after `timeout`.
    /// Python: `sem.acquire(timeout=t)` (which returns `False`).
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        if self.acquire_for(Some(timeout))? {
            Ok(())
        } else {
            Err(timed_out("semaphore acquire", timeout))
        }
    }

    /// Takes one unit if there is one now; false otherwise. Python: `sem.acquire(False)`.
    pub fn try_acquire(&self) -> Result<bool> {
        self.acquire_for(Some(Duration::ZERO))
    }

    /// Gives one unit back. For a bounded semaphore at its initial value: [`ErrorKind::InvalidInput`]
    /// and no change (Python: `ValueError`). Python: `sem.release()`.
    pub fn release(&self) -> Result<()> {
        self.release_n(1)
    }

    /// Gives `n` units back at once (all or none for a bounded semaphore). Python: `sem.release(n)`.
    pub fn release_n(&self, n: u64) -> Result<()> {
        if self.core.call("release", &n)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidInput,
                "a bounded semaphore was released more times than it was acquired",
            ))
        }
    }

    /// The current value. Python: `sem.get_value()` (`_value`).
    pub fn value(&self) -> Result<u64> {
        self.core.call("value", &())
    }

    /// The initial value of a bounded semaphore, `None` for a plain one.
    pub fn bound(&self) -> Result<Option<u64>> {
        self.core.call("bounded", &())
    }
}

/// A condition variable held by a manager, with its own reentrant lock (Python's default
/// `Condition()`, whose lock is an `RLock`). `wait` and `notify` need the lock, held by the calling
/// thread ([`ErrorKind::InvalidInput`] otherwise: Python's `RuntimeError`). Python:
/// `manager.Condition()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// use std::time::Duration;
/// let cond = multiproc::Manager::start()?.condition()?;
/// let guard = cond.acquire()?;                               // with cond:
/// let woken = cond.wait_timeout(Duration::from_millis(10))?; //     cond.wait(0.01)
/// assert!(!woken);
/// cond.notify_all()?;                                        //     cond.notify_all()
/// drop(guard);
/// # Ok(()) }
/// ```
pub struct ConditionProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(ConditionProxy[], "condition".to_string());

impl ConditionProxy {
    fn acquire_for(&self, timeout: Option<Duration>) -> Result<bool> {
        self.core.call("acquire", &timeout.map(micros))
    }

    /// Takes the condition's lock (reentrant); released when the guard drops. Python:
    /// `cond.acquire()` / `with cond:`.
    pub fn acquire(&self) -> Result<ConditionGuard<'_>> {
        while !self.acquire_for(None)? {}
        Ok(RLockGuard::new(&self.core))
    }

    /// Like [`acquire`](Self::acquire), giving up with [`ErrorKind::Timeout`] after `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ConditionGuard<'_>> {
        if self.acquire_for(Some(timeout))? {
            Ok(RLockGuard::new(&self.core))
        } else {
            Err(timed_out("condition acquire", timeout))
        }
    }

    fn wait_for_notify(&self, timeout: Option<Duration>) -> Result<bool> {
        self.core.call("wait", &timeout.map(micros))
    }

    /// Releases the lock, waits for a `notify`, and takes the lock back. Python: `cond.wait()`.
    pub fn wait(&self) -> Result<()> {
        // The server answers false without a timeout only to a caller that hung up.
        while !self.wait_for_notify(None)? {}
        Ok(())
    }

    /// Like [`wait`](Self::wait) for at most `timeout`; true if notified, false if the time ran
    /// out (the lock is taken back either way). Python: `cond.wait(timeout)`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.wait_for_notify(Some(timeout))
    }

    /// Waits until `predicate()` holds, checking it (with the lock held) first and after each
    /// notify. Python: `cond.wait_for(predicate)`.
    pub fn wait_for(&self, mut predicate: impl FnMut() -> bool) -> Result<()> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Like [`wait_for`](Self::wait_for) for at most `timeout`; returns the predicate's last
    /// value. Python: `cond.wait_for(predicate, timeout)`.
    pub fn wait_for_timeout(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if predicate() {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            self.wait_timeout(left)?;
        }
    }

    /// Wakes the longest waiting thread, if any. Python: `cond.notify()`.
    pub fn notify(&self) -> Result<()> {
        self.notify_n(1).map(drop)
    }

    /// Wakes up to `n` waiting threads; returns how many it woke. Python: `cond.notify(n)`.
    pub fn notify_n(&self, n: usize) -> Result<usize> {
        Ok(self.core.call::<_, u64>("notify", &(n as u64))? as usize)
    }

    /// Wakes every waiting thread. Python: `cond.notify_all()`.
    pub fn notify_all(&self) -> Result<usize> {
        self.notify_n(usize::MAX)
    }

    /// True while any thread holds the condition's lock.
    pub fn locked(&self) -> Result<bool> {
        self.core.call("locked", &())
    }

    /// How many threads wait for a notify now.
    pub fn n_waiting(&self) -> Result<usize> {
        Ok(self.core.call::<_, u64>("n_waiting", &())? as usize)
    }
}

/// A barrier held by a manager: `parties` callers of [`wait`](BarrierProxy::wait) block until the
/// last arrives, then all go on. A waiter that times out (or whose process dies) breaks it, as in
/// Python: the others, and later waiters, get [`ErrorKind::BrokenBarrier`] until
/// [`reset`](BarrierProxy::reset). Python: `manager.Barrier(parties)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let barrier = multiproc::Manager::start()?.barrier(1)?;
/// assert_eq!(barrier.wait()?, 0);        // barrier.wait() -> the caller's index
/// assert_eq!(barrier.parties()?, 1);
/// # Ok(()) }
/// ```
pub struct BarrierProxy {
    core: ProxyCore,
    _t: std::marker::PhantomData<()>,
}

proxy_type!(BarrierProxy[], "barrier".to_string());

fn broken() -> Error {
    Error::new(
        ErrorKind::BrokenBarrier,
        "the manager barrier is broken (aborted, reset while waiting, or a party timed out or \
         died): reset it before using it again",
    )
}

impl BarrierProxy {
    fn wait_for(&self, timeout: Option<Duration>) -> Result<u64> {
        match self
            .core
            .call::<_, BarrierOutcome>("wait", &timeout.map(micros))?
        {
            BarrierOutcome::Passed(i) => Ok(i),
            BarrierOutcome::Broken => Err(broken()),
            BarrierOutcome::TimedOut => match timeout {
                Some(t) => Err(timed_out("barrier wait", t)),
                None => Err(broken()),
            },
        }
    }

    /// Waits for the other parties; returns this caller's arrival index, `0..parties` (exactly one
    /// caller per round gets `parties - 1`). [`ErrorKind::BrokenBarrier`] if the barrier is or
    /// becomes broken. Python: `barrier.wait()`.
    pub fn wait(&self) -> Result<u64> {
        self.wait_for(None)
    }

    /// Like [`wait`](Self::wait) for at most `timeout`: then [`ErrorKind::Timeout`], and the
    /// barrier is broken for the others (Python raises `BrokenBarrierError` in every party).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u64> {
        self.wait_for(Some(timeout))
    }

    /// Breaks the barrier: current and later waiters get [`ErrorKind::BrokenBarrier`]. Python:
    /// `barrier.abort()`.
    pub fn abort(&self) -> Result<()> {
        self.core.call("abort", &())
    }

    /// Back to the initial, unbroken state; current waiters get [`ErrorKind::BrokenBarrier`].
    /// Python: `barrier.reset()`.
    pub fn reset(&self) -> Result<()> {
        self.core.call("reset", &())
    }

    /// How many callers must wait. Python: `barrier.parties`.
    pub fn parties(&self) -> Result<u64> {
        self.core.call("parties", &())
    }

    /// How many callers wait now. Python: `barrier.n_waiting`.
    pub fn n_waiting(&self) -> Result<u64> {
        self.core.call("n_waiting", &())
    }

    /// True when broken. Python: `barrier.broken`.
    pub fn is_broken(&self) -> Result<bool> {
        self.core.call("broken", &())
    }
}
