//! [`RLock`]: a robust, process-shared, re-entrant mutex (a recursive glibc robust pthread mutex).
//! Python: `multiprocessing.RLock`.

use super::lock::MutexState;
use crate::error::Result;
use crate::shm::block::Mapped;
use crate::shm::guard::{self, Acquire, MutexGuard};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A re-entrant lock shared by processes: the thread that holds it may take it again, and it is free
/// once every guard is dropped. If its holder dies, the next acquirer gets it with
/// [`RLockGuard::owner_died`] set. Python: `RLock()`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let rlock = multiproc::RLock::new()?;
/// let outer = rlock.acquire()?;
/// let inner = rlock.acquire()?;                 // same thread: fine
/// drop(inner);
/// drop(outer);
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RLock {
    mapped: Mapped<MutexState<true>>,
}

/// One level of a held [`RLock`]; released when dropped.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let rlock = multiproc::RLock::new()?;
/// let outer = rlock.acquire()?;
/// drop(rlock.acquire()?);                      // inner level released, outer still held
/// drop(outer);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct RLockGuard<'a> {
    held: MutexGuard<'a>,
}

impl RLock {
    /// A new, unlocked re-entrant lock.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<RLock> {
        Ok(RLock {
            mapped: Mapped::create(0)?,
        })
    }

    #[inline]
    pub(crate) fn mutex(&self) -> &crate::sys::mutex::RobustMutex {
        &self.mapped.header().mutex
    }

    /// Takes the lock (again, if this thread holds it), waiting while another holds it.
    /// Python: `rlock.acquire()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// let _g = rlock.acquire()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<RLockGuard<'_>> {
        guard::acquire_some(&self.mapped.header().mutex, "RLock", Acquire::Block)
            .map(|held| RLockGuard { held })
    }

    /// Takes the lock if this thread may: `Ok(None)` if another holds it.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// let a = rlock.try_acquire()?;
    /// let b = rlock.try_acquire()?;                 // re-entrant
    /// assert!(a.is_some() && b.is_some());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Option<RLockGuard<'_>>> {
        Ok(
            guard::acquire(&self.mapped.header().mutex, "RLock", Acquire::Try)?
                .map(|held| RLockGuard { held }),
        )
    }

    /// Takes the lock, giving up with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// let _g = rlock.acquire_timeout(std::time::Duration::from_millis(10))?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>> {
        guard::acquire_some(
            &self.mapped.header().mutex,
            "RLock",
            Acquire::Timeout(timeout),
        )
        .map(|held| RLockGuard { held })
    }
    /// True while some thread or process holds the lock (a snapshot: it may change at once). A lock
    /// whose holder died holding it reads as locked until the next acquire recovers it (with
    /// `owner_died`). Python (3.14): `rlock.locked()`.
    /// For an `RLock` the holder may be this very thread: `locked()` says nothing of who.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// assert!(!rlock.locked());
    /// let held = rlock.acquire()?;
    /// assert!(rlock.locked());
    /// drop(held);
    /// assert!(!rlock.locked());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.mapped.header().mutex.holder().is_some()
    }
}

impl RLockGuard<'_> {
    /// True if the previous holder died holding the lock. Only the first acquirer after the death
    /// sees it.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let rlock = multiproc::RLock::new()?;
    /// assert!(!rlock.acquire()?.owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.held.owner_died()
    }
}

/// Shows whether it is held and by which process (its pid) and how deep, from the holder record.
impl std::fmt::Debug for RLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = self.mapped.header().mutex.holder();
        f.debug_struct("RLock")
            .field("locked", &holder.is_some())
            .field("holder", &holder.map(|(p, _)| p.pid().as_u32()))
            .field("depth", &holder.map(|(_, depth)| depth))
            .finish()
    }
}

impl std::fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RLockGuard")
            .field("owner_died", &self.owner_died())
            .finish()
    }
}
