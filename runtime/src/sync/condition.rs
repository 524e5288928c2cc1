//! [`Condition`]: a condition variable shared by processes, with its own robust lock and a futex
//! sequence word that notifications bump. Python: `multiprocessing.Condition`.

use crate::error::Result;
use crate::shm::block::{Mapped, MutexHeader};
use crate::shm::guard::{self, Acquire, MutexGuard};
use crate::sys::mutex::{MutexKind, RobustMutex};
use crate::sys::wait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[repr(C)]
pub(crate) struct ConditionState {
    magic: u32,
    seq: AtomicU32,
    mutex: RobustMutex,
}

// SAFETY: repr(C), magic first, zero-valid, no pointers; MUTEX_AT is the offset of `mutex`.
unsafe impl MutexHeader for ConditionState {
    // Version 2: the mutex records its holder.
    const MAGIC: u32 = 0x6d70_6332;
    const WHAT: &'static str = "Condition";
    const KIND: MutexKind = MutexKind::ErrorCheck;
    const MUTEX_AT: usize = std::mem::offset_of!(ConditionState, mutex);
}

/// A condition variable shared by processes. Take its lock with [`acquire`](Condition::acquire),
/// then [`wait`](ConditionGuard::wait) on the guard (the lock is released while waiting and taken
/// again before it returns); another process calls [`notify`](Condition::notify) or
/// [`notify_all`](Condition::notify_all). Like every condition variable, wake-ups may be spurious:
/// re-check your condition, or use [`wait_for`](ConditionGuard::wait_for). If a holder of the lock
/// dies, the next acquirer gets it with [`owner_died`](ConditionGuard::owner_died) set.
/// Python: `Condition()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{Condition, Value};
///
/// #[multiproc::worker]
/// fn produce(cond: Condition, ready: Value<bool>) {
///     let _g = cond.acquire().unwrap();
///     ready.set(true).unwrap();
///     cond.notify_all();                          // cond.notify_all()
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let (cond, ready) = (Condition::new()?, Value::new(false)?);
///     let p = produce::spawn(cond.clone(), ready.clone())?;
///     let mut g = cond.acquire()?;                // with cond:
///     assert!(g.wait_for(|| ready.get().unwrap(), None)?); //   cond.wait_for(lambda: ready.value)
///     drop(g);
///     p.join()?;
///     Ok(())
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Condition {
    mapped: Mapped<ConditionState>,
}

/// The held lock of a [`Condition`]; waits happen on it. Released when dropped.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let cond = multiproc::Condition::new()?;
/// let mut g = cond.acquire()?;                 // with cond:
/// let notified = g.wait_timeout(std::time::Duration::from_millis(1))?;
/// assert!(!notified);                          // nobody notified
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct ConditionGuard<'a> {
    held: MutexGuard<'a>,
    seq: &'a AtomicU32,
}

const WHAT: &str = "Condition's lock";

impl Condition {
    /// A new condition variable with its own lock.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<Condition> {
        Ok(Condition {
            mapped: Mapped::create(0)?,
        })
    }

    fn guard<'a>(&'a self, held: MutexGuard<'a>) -> ConditionGuard<'a> {
        ConditionGuard {
            held,
            seq: &self.mapped.header().seq,
        }
    }

    /// Takes the lock. Python: `cond.acquire()` / `with cond:`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// let g = cond.acquire()?;
    /// # drop(g);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn acquire(&self) -> Result<ConditionGuard<'_>> {
        guard::acquire_some(&self.mapped.header().mutex, WHAT, Acquire::Block)
            .map(|h| self.guard(h))
    }

    /// Takes the lock if it is free: `Ok(None)` if it is held.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// assert!(cond.try_acquire()?.is_some());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Option<ConditionGuard<'_>>> {
        Ok(guard::acquire(&self.mapped.header().mutex, WHAT, Acquire::Try)?.map(|h| self.guard(h)))
    }

    /// Takes the lock, giving up with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// let _g = cond.acquire_timeout(std::time::Duration::from_millis(10))?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ConditionGuard<'_>> {
        guard::acquire_some(&self.mapped.header().mutex, WHAT, Acquire::Timeout(timeout))
            .map(|h| self.guard(h))
    }

    /// Wakes up to `n` waiters. Holding the lock is not required (Python requires it).
    /// Python: `cond.notify(n)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// multiproc::Condition::new()?.notify(1);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn notify(&self, n: usize) {
        let seq = &self.mapped.header().seq;
        seq.fetch_add(1, Ordering::SeqCst);
        wait::wake(seq, n.min(i32::MAX as usize) as i32);
    }

    /// Wakes every waiter. Python: `cond.notify_all()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// multiproc::Condition::new()?.notify_all();
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn notify_all(&self) {
        let seq = &self.mapped.header().seq;
        seq.fetch_add(1, Ordering::SeqCst);
        wait::wake_all(seq);
    }
}

impl ConditionGuard<'_> {
    /// True if a previous holder of the lock died holding it (including while this guard waited).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// assert!(!cond.acquire()?.owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.held.owner_died()
    }

    /// Returns false if the deadline passed before a notification.
    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let seen = self.seq.load(Ordering::SeqCst);
        self.held.unlock_for_wait();
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let woke = if left.is_some_and(|l| l.is_zero()) {
            false
        } else {
            wait::wait(self.seq, seen, left) == wait::Waited::Woken
        };
        self.held.relock(WHAT)?;
        Ok(woke || self.seq.load(Ordering::SeqCst) != seen)
    }

    /// Releases the lock, waits for a notification, takes the lock again. Python: `cond.wait()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// let mut g = cond.acquire()?;
    /// g.wait()?;                                  // until another process notifies
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<()> {
        self.wait_until(None).map(|_| ())
    }

    /// [`wait`](Self::wait) for at most `timeout`: `Ok(false)` if it passed without a notification.
    /// Python: `cond.wait(timeout)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// let mut g = cond.acquire()?;
    /// assert!(!g.wait_timeout(std::time::Duration::from_millis(1))?);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.wait_until(crate::sys::deadline_after(timeout))
    }

    /// Waits until `predicate()` is true (checked under the lock), at most `timeout` if given;
    /// returns the predicate's last value. Python: `cond.wait_for(predicate, timeout)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let cond = multiproc::Condition::new()?;
    /// let mut g = cond.acquire()?;
    /// assert!(g.wait_for(|| true, None)?);
    /// assert!(!g.wait_for(|| false, Some(std::time::Duration::from_millis(2)))?);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait_for(
        &mut self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(crate::sys::deadline_after);
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl std::fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConditionGuard")
            .field("owner_died", &self.owner_died())
            .finish()
    }
}
