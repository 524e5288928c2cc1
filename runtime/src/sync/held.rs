//! Taking a robust mutex in its three forms (blocking, try, timeout) and [`Held`], the guard that
//! unlocks it. Lock, RLock, Condition and the shared values build their guards on these.

use crate::error::{Error, ErrorKind, Result};
use crate::sys::mutex::{Locked, RobustMutex};
use std::marker::PhantomData;
use std::time::Duration;

/// How long to wait for a lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Until it is free.
    Block,
    /// Not at all.
    Try,
    /// At most this long, then [`ErrorKind::Timeout`].
    Timeout(Duration),
}

/// A held robust mutex; unlocks when dropped. Not `Send`: a pthread mutex is unlocked by the thread
/// that locked it.
pub(crate) struct Held<'a> {
    mutex: &'a RobustMutex,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl Held<'_> {
    pub(crate) fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Unlocks without dropping (for a condition wait), to be matched by [`Held::relock`].
    pub(crate) fn unlock_for_wait(&self) {
        self.mutex.unlock();
    }

    /// Locks again after [`Held::unlock_for_wait`]; records a holder's death in between.
    pub(crate) fn relock(&mut self, what: &str) -> Result<()> {
        let locked = self.mutex.lock().map_err(|e| lock_error(what, e))?;
        self.owner_died |= locked == Locked::OwnerDied;
        Ok(())
    }
}

impl Drop for Held<'_> {
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

/// Takes `mutex`: `Ok(None)` only for [`Wait::Try`] when another holds it.
#[inline]
pub(crate) fn acquire<'a>(
    mutex: &'a RobustMutex,
    what: &str,
    wait: Wait,
) -> Result<Option<Held<'a>>> {
    let locked = match wait {
        Wait::Block => Some(mutex.lock()),
        // The holding thread trying again just finds it taken (Python: `acquire(False)` is False).
        Wait::Try => match mutex.try_lock() {
            Err(e) if crate::sys::errors::already_held(&e) => None,
            other => other.transpose(),
        },
        Wait::Timeout(t) => match crate::sys::deadline_after(t) {
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
    Ok(Some(Held {
        mutex,
        owner_died: locked == Locked::OwnerDied,
        _not_send: PhantomData,
    }))
}

/// [`acquire`] for the blocking and timeout forms, which always give a guard or an error.
#[inline]
pub(crate) fn acquire_some<'a>(mutex: &'a RobustMutex, what: &str, wait: Wait) -> Result<Held<'a>> {
    acquire(mutex, what, wait)?
        .ok_or_else(|| Error::timeout(&format!("acquiring the {what}"), Duration::ZERO))
}
