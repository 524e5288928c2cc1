//! Typed proxies for the blocking objects: [`QueueProxy`], [`LockProxy`], [`EventProxy`]. The server
//! does the waiting; a caller whose process dies stops waiting there too, and a lock whose holder's
//! process dies is released.

use super::containers::proxy_type;
use super::protocol::Blob;
use super::proxy::{Proxy, ProxyCore};
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::time::Duration;

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// An unbounded FIFO queue held by a manager. Python: `manager.Queue()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// use std::time::Duration;
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
/// use std::time::Duration;
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
