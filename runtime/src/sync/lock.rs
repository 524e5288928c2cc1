//! [`Lock`]: a robust, process-shared, non-re-entrant mutex (a glibc robust pthread mutex in shared
//! memory). Python: `multiprocessing.Lock`.

use crate::error::Result;
use crate::shm::block::{Mapped, MutexHeader};
use crate::shm::guard::{self, Acquire, MutexGuard};
use crate::sys::mutex::{MutexKind, RobustMutex};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[repr(C)]
pub(crate) struct MutexState<const RECURSIVE: bool> {
    magic: u32,
    pub(crate) mutex: RobustMutex,
}

// SAFETY: repr(C), magic first, zero-valid, no pointers; MUTEX_AT is the offset of `mutex`.
unsafe impl<const RECURSIVE: bool> MutexHeader for MutexState<RECURSIVE> {
    // Version 2: the mutex records its holder.
    const MAGIC: u32 = if RECURSIVE { 0x6d70_7232 } else { 0x6d70_6c32 };
    const WHAT: &'static str = if RECURSIVE { "RLock" } else { "Lock" };
    const KIND: MutexKind = if RECURSIVE {
        MutexKind::Recursive
    } else {
        MutexKind::ErrorCheck
    };
    const MUTEX_AT: usize = std::mem::offset_of!(MutexState<RECURSIVE>, mutex);
}

/// A lock shared by processes. If its holder dies (even by `SIGKILL`), the next acquirer gets it at
/// once with [`LockGuard::owner_died`] set — never a deadlock. Taking it again from the thread that
/// holds it is an error, not a hang (use [`RLock`](crate::RLock) for that). Clones and copies sent to
/// workers are the same lock. Python: `Lock()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Lock;
///
/// #[multiproc::worker]
/// fn report(lock: Lock, i: u32) {
///     let _held = lock.acquire().unwrap();     // with lock:
///     println!("hello from {i}");
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let lock = Lock::new()?;
///     let ps: Vec<_> = (0..3).map(|i| report::spawn(lock.clone(), i)).collect::<Result<_, _>>()?;
///     for p in ps { p.join()?; }
///     Ok(())
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lock {
    mapped: Mapped<MutexState<false>>,
}

/// A held [`Lock`]; released when dropped.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let lock = multiproc::Lock::new()?;
/// {
///     let _guard = lock.acquire()?;            // with lock:
/// }                                            // released here
/// assert!(lock.try_acquire()?.is_some());
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct LockGuard<'a> {
    held: MutexGuard<'a>,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<Lock> {
        Ok(Lock {
            mapped: Mapped::create(0)?,
        })
    }

    #[inline]
    pub(crate) fn mutex(&self) -> &RobustMutex {
        &self.mapped.header().mutex
    }

    /// Takes the lock, waiting while another thread or process holds it. Python: `lock.acquire()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// let guard = lock.acquire()?;
    /// assert!(lock.acquire().is_err());             // same thread again: an error, not a hang
    /// drop(guard);                                  // lock.release()
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<LockGuard<'_>> {
        guard::acquire_some(self.mutex(), "Lock", Acquire::Block).map(|held| LockGuard { held })
    }

    /// Takes the lock if it is free: `Ok(None)` if it is held. Python: `lock.acquire(block=False)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// let g = lock.try_acquire()?;
    /// assert!(g.is_some());
    /// assert!(lock.try_acquire()?.is_none());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_>>> {
        Ok(guard::acquire(self.mutex(), "Lock", Acquire::Try)?.map(|held| LockGuard { held }))
    }

    /// Takes the lock, giving up with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) after
    /// `timeout`. Python: `lock.acquire(timeout=t)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// let g = lock.acquire_timeout(std::time::Duration::from_millis(10))?;
    /// # drop(g);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        guard::acquire_some(self.mutex(), "Lock", Acquire::Timeout(timeout))
            .map(|held| LockGuard { held })
    }
    /// True while some thread or process holds the lock (a snapshot: it may change at once). A lock
    /// whose holder died holding it reads as locked until the next acquire recovers it (with
    /// `owner_died`). Python (3.14): `lock.locked()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// assert!(!lock.locked());
    /// let held = lock.acquire()?;
    /// assert!(lock.locked());
    /// drop(held);
    /// assert!(!lock.locked());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.mutex().holder().is_some()
    }
}

impl LockGuard<'_> {
    /// True if the previous holder died holding the lock (what it protected may be half-updated).
    /// Only the first acquirer after the death sees it.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let lock = multiproc::Lock::new()?;
    /// assert!(!lock.acquire()?.owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.held.owner_died()
    }
}

/// Shows whether it is held and by which process (its pid), from the holder record.
impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let holder = self.mutex().holder();
        f.debug_struct("Lock")
            .field("locked", &holder.is_some())
            .field("holder", &holder.map(|(p, _)| p.pid().as_u32()))
            .finish()
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner_died", &self.owner_died())
            .finish()
    }
}
