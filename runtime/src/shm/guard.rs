//! Taking a robust mutex in shared memory in its three forms (blocking, try, timeout) and
//! [`MutexGuard`], the guard that unlocks it. The shared values, the queue ring, and `sync`'s Lock,
//! RLock, Condition and Barrier build their guards on these.

use crate::error::{Error, ErrorKind, Result};
use crate::sys::mutex::{Locked, RobustMutex};
use std::marker::PhantomData;
use std::time::Duration;

/// How long to wait for a lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Acquire {
    /// Until it is free.
    Block,
    /// Not at all.
    Try,
    /// At most this long, then [`ErrorKind::Timeout`].
    Timeout(Duration),
}

/// A held robust mutex; unlocks when dropped. Not `Send`: a pthread mutex is unlocked by the thread
/// that locked it.
pub(crate) struct MutexGuard<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> MutexGuard<'a> {
    /// The guard of `mutex`, which the caller has just locked (`locked` says how).
    #[inline]
    pub(crate) fn adopt(mutex: &'a RobustMutex, locked: Locked) -> MutexGuard<'a> {
        MutexGuard {
            mutex,
            owner_died: locked == Locked::OwnerDied,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Unlocks without dropping (for a condition wait), to be matched by [`MutexGuard::relock`].
    pub(crate) fn unlock_for_wait(&self) {
        self.mutex.unlock();
    }

    /// Locks again after [`MutexGuard::unlock_for_wait`]; records a holder's death in between.
    pub(crate) fn relock(&mut self, what: &str) -> Result<()> {
        let locked = self.mutex.lock().map_err(|e| lock_error(what, e))?;
        self.owner_died |= locked == Locked::OwnerDied;
        Ok(())
    }
}

impl Drop for MutexGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

#[cold]
fn lock_error(what: &str, e: std::io::Error) -> Error {
    if crate::sys::errors::already_held(&e) {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "this thread already holds the {what}; it is not re-entrant (use an RLock to lock again from the same thread)"
            ),
        )
    } else {
        Error::io(format!("could not take the {what}"), e)
    }
}

/// Takes `mutex`: `Ok(None)` only for [`Acquire::Try`] when another holds it.
#[inline]
pub(crate) fn acquire<'a>(
    mutex: &'a RobustMutex,
    what: &str,
    how: Acquire,
) -> Result<Option<MutexGuard<'a>>> {
    let locked = match how {
        Acquire::Block => Some(mutex.lock()),
        // The holding thread trying again just finds it taken (Python: `acquire(False)` is False).
        Acquire::Try => match mutex.try_lock() {
            Err(e) if crate::sys::errors::already_held(&e) => None,
            other => other.transpose(),
        },
        Acquire::Timeout(t) => match crate::sys::deadline_after(t) {
            Some(deadline) => match mutex.lock_until(deadline) {
                Ok(None) => return Err(Error::timeout(&format!("acquiring the {what}"), t)),
                other => other.transpose(),
            },
            None => Some(mutex.lock()),
        },
    };
    let Some(locked) = locked else {
        return Ok(None);
    };
    let locked = locked.map_err(|e| lock_error(what, e))?;
    Ok(Some(MutexGuard::adopt(mutex, locked)))
}

/// [`acquire`] for the blocking and timeout forms, which always give a guard or an error.
#[inline]
pub(crate) fn acquire_some<'a>(
    mutex: &'a RobustMutex,
    what: &str,
    how: Acquire,
) -> Result<MutexGuard<'a>> {
    acquire(mutex, what, how)?
        .ok_or_else(|| Error::timeout(&format!("acquiring the {what}"), Duration::ZERO))
}
