//! [`Semaphore`] and [`BoundedSemaphore`]: a permit counter on a futex word, with a table of holders so
//! that permits of processes that died are given back. Python: `multiprocessing.Semaphore` and
//! `BoundedSemaphore`.

use super::holders::Holders;
use crate::error::{Error, ErrorKind, Result};
use crate::shm::block::{BlockHeader, Mapped};
use crate::sys::wait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[repr(C)]
pub(crate) struct SemState<const BOUNDED: bool> {
    magic: u32,
    value: AtomicU32,
    /// Initial value; a bounded semaphore may not be released above it.
    max: AtomicU32,
    waiters: AtomicU32,
    /// Set when a dead holder's permit was reclaimed, until an acquirer reports it.
    died: AtomicU32,
    holders: Holders,
}

// SAFETY: repr(C), magic first, zero-valid (no permits, empty table), atomics only.
unsafe impl<const BOUNDED: bool> BlockHeader for SemState<BOUNDED> {
    const MAGIC: u32 = if BOUNDED { 0x6d70_6273 } else { 0x6d70_736d };
    const WHAT: &'static str = if BOUNDED {
        "BoundedSemaphore"
    } else {
        "Semaphore"
    };
    unsafe fn init(_: *mut Self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The shared implementation of both semaphores.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct Sem<const BOUNDED: bool> {
    mapped: Mapped<SemState<BOUNDED>>,
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; given back when dropped (or kept for good with
/// [`forget`](SemaphoreGuard::forget)).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let s = multiproc::Semaphore::new(2)?;
/// let a = s.acquire();
/// let b = s.acquire();
/// assert!(s.try_acquire().is_none());
/// drop((a, b));
/// assert_eq!(s.value(), 2);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct SemaphoreGuard<'a> {
    value: &'a AtomicU32,
    waiters: &'a AtomicU32,
    holders: &'a Holders,
    slot: Option<usize>,
    owner_died: bool,
    released: bool,
}

impl<const BOUNDED: bool> Sem<BOUNDED> {
    fn new(value: u32) -> Result<Self> {
        let mapped = Mapped::<SemState<BOUNDED>>::create(0)?;
        mapped.header().value.store(value, Ordering::SeqCst);
        mapped.header().max.store(value, Ordering::SeqCst);
        Ok(Sem { mapped })
    }

    fn state(&self) -> &SemState<BOUNDED> {
        self.mapped.header()
    }

    fn take(&self) -> bool {
        // SeqCst (like the waiter count and the releasers' adds), so that a waiter that counted itself
        // and then found no permit cannot miss a release that did not see it counted.
        let value = &self.state().value;
        let mut v = value.load(Ordering::SeqCst);
        while v > 0 {
            match value.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
        false
    }

    fn guard(&self) -> SemaphoreGuard<'_> {
        let s = self.state();
        let owner_died =
            s.died.load(Ordering::Relaxed) != 0 && s.died.swap(0, Ordering::SeqCst) != 0;
        SemaphoreGuard {
            value: &s.value,
            waiters: &s.waiters,
            holders: &s.holders,
            slot: s.holders.claim(),
            owner_died,
            released: false,
        }
    }

    fn reclaim_dead(&self) {
        let s = self.state();
        let freed = s.holders.reap_dead();
        if freed > 0 {
            s.died.store(1, Ordering::SeqCst);
            // A bounded semaphore never has more permits out and free than its initial value (the
            // dead holder's permit may have been given back already by a release() from another
            // process): free ones are capped at the maximum less those still recorded as held.
            // Neither kind wraps.
            let cap = if BOUNDED {
                s.max
                    .load(Ordering::SeqCst)
                    .saturating_sub(s.holders.count())
            } else {
                u32::MAX
            };
            let _ = s
                .value
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                    Some(v.saturating_add(freed).min(cap.max(v)))
                });
            wait::wake(&s.value, freed.min(i32::MAX as u32) as i32);
        }
    }

    /// `None` when the deadline passed.
    fn acquire_until(&self, deadline: Option<Instant>) -> Option<SemaphoreGuard<'_>> {
        if self.take() {
            return Some(self.guard());
        }
        let s = self.state();
        s.waiters.fetch_add(1, Ordering::SeqCst);
        let got = loop {
            if self.take() {
                break true;
            }
            let mut slice = crate::policy::LIVENESS_SLICE;
            if let Some(d) = deadline {
                match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => slice = slice.min(left),
                    _ => break false,
                }
            }
            if wait::wait(&s.value, 0, Some(slice)) == wait::Waited::TimedOut {
                self.reclaim_dead();
            }
        };
        s.waiters.fetch_sub(1, Ordering::SeqCst);
        got.then(|| self.guard())
    }

    fn acquire(&self) -> SemaphoreGuard<'_> {
        loop {
            if let Some(g) = self.acquire_until(None) {
                return g;
            }
        }
    }

    fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        if self.take() {
            return Some(self.guard());
        }
        self.reclaim_dead();
        self.take().then(|| self.guard())
    }

    fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>> {
        match crate::sys::deadline_after(timeout) {
            Some(d) => self.acquire_until(Some(d)).ok_or_else(|| {
                Error::timeout(
                    &format!("acquiring the {}", SemState::<BOUNDED>::WHAT),
                    timeout,
                )
            }),
            None => Ok(self.acquire()),
        }
    }

    fn release(&self) -> Result<()> {
        let s = self.state();
        let max = if BOUNDED {
            s.max.load(Ordering::SeqCst)
        } else {
            u32::MAX
        };
        let added = s
            .value
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                (v < max).then(|| v + 1)
            });
        if added.is_err() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                if BOUNDED {
                    format!(
                        "BoundedSemaphore released too many times: it already has its initial {max} permits"
                    )
                } else {
                    format!(
                        "Semaphore released too many times: it already has {max} permits, the most it can count"
                    )
                },
            ));
        }
        if s.waiters.load(Ordering::SeqCst) > 0 {
            wait::wake(&s.value, 1);
        }
        Ok(())
    }

    fn value(&self) -> u32 {
        self.state().value.load(Ordering::SeqCst)
    }
}

impl SemaphoreGuard<'_> {
    /// True if a permit held by a process that died was given back before this acquire (reported to
    /// one acquirer).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let s = multiproc::Semaphore::new(1)?;
    /// assert!(!s.acquire().owner_died());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Keeps the permit for good (Python's `acquire()` without a matching `release()`): another
    /// process may hand it back with `release()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let s = multiproc::Semaphore::new(1)?;
    /// s.acquire().forget();
    /// assert_eq!(s.value(), 0);
    /// s.release()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn forget(mut self) {
        if let Some(slot) = self.slot.take() {
            self.holders.clear(slot);
        }
        self.released = true;
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Some(slot) = self.slot.take() {
            self.holders.clear(slot);
        }
        // Saturating: the permit taken is given back, unless releases from elsewhere already filled
        // the counter to its limit.
        let _ = self
            .value
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_add(1));
        if self.waiters.load(Ordering::SeqCst) > 0 {
            wait::wake(self.value, 1);
        }
    }
}

macro_rules! semaphore {
    ($(#[$doc:meta])* $name:ident, $bounded:literal, $python:literal) => {
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name {
            sem: Sem<$bounded>,
        }

        impl $name {
            #[doc = concat!("A semaphore with `value` permits. Python: `", $python, "(value)`.")]
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("let s = multiproc::", stringify!($name), "::new(2)?;")]
            /// assert_eq!(s.value(), 2);
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn new(value: u32) -> Result<$name> {
                Ok($name { sem: Sem::new(value)? })
            }

            /// Takes a permit, waiting while none is free. Python: `sem.acquire()`.
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("let s = multiproc::", stringify!($name), "::new(1)?;")]
            /// let permit = s.acquire();
            /// assert_eq!(s.value(), 0);
            /// drop(permit);
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn acquire(&self) -> SemaphoreGuard<'_> {
                self.sem.acquire()
            }

            /// Takes a permit if one is free. Python: `sem.acquire(block=False)`.
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("let s = multiproc::", stringify!($name), "::new(1)?;")]
            /// let a = s.try_acquire();
            /// assert!(a.is_some() && s.try_acquire().is_none());
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
                self.sem.try_acquire()
            }

            /// Takes a permit, giving up with [`ErrorKind::Timeout`] after `timeout`.
            /// Python: `sem.acquire(timeout=t)`.
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("let s = multiproc::", stringify!($name), "::new(0)?;")]
            /// assert!(s.acquire_timeout(std::time::Duration::from_millis(1)).unwrap_err().is_timeout());
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>> {
                self.sem.acquire_timeout(timeout)
            }

            /// Adds a permit (one that was [`forget`](SemaphoreGuard::forget)-ed, or a new one for an
            /// unbounded semaphore). Python: `sem.release()`.
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("let s = multiproc::", stringify!($name), "::new(0)?;")]
            /// s.release().ok();
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn release(&self) -> Result<()> {
                self.sem.release()
            }

            /// Permits free now. Python: `sem.get_value()`.
            ///
            /// ```
            /// # extern crate multiproc_runtime as multiproc;
            #[doc = concat!("assert_eq!(multiproc::", stringify!($name), "::new(3)?.value(), 3);")]
            /// # Ok::<(), multiproc::Error>(())
            /// ```
            pub fn value(&self) -> u32 {
                self.sem.value()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("value", &self.value()).finish()
            }
        }
    };
}

semaphore!(
    /// A counting semaphore shared by processes. Each [`acquire`](Semaphore::acquire) returns a guard
    /// that gives the permit back when dropped. The holders of up to 64 permits at once are recorded:
    /// if one dies (even by `SIGKILL`), a waiter gives its permit back within about 10 ms and the
    /// acquirer that gets it sees [`SemaphoreGuard::owner_died`]. Permits beyond 64, and permits
    /// kept with [`forget`](SemaphoreGuard::forget), are not tracked. Python: `Semaphore(value)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// use multiproc::Semaphore;
    ///
    /// #[multiproc::worker]
    /// fn limited(slots: Semaphore) {
    ///     let _permit = slots.acquire();         // with sem:
    /// }
    ///
    /// #[multiproc::main]
    /// fn main() -> multiproc::Result<()> {
    ///     let slots = Semaphore::new(2)?;
    ///     let ps: Vec<_> = (0..4).map(|_| limited::spawn(slots.clone())).collect::<Result<_, _>>()?;
    ///     for p in ps { p.join()?; }
    ///     Ok(())
    /// }
    /// ```
    Semaphore, false, "Semaphore"
);

semaphore!(
    /// A [`Semaphore`] that refuses to be released above its initial value:
    /// [`release`](BoundedSemaphore::release) then fails with [`ErrorKind::InvalidInput`].
    /// Python: `BoundedSemaphore(value)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let s = multiproc::BoundedSemaphore::new(1)?;
    /// assert!(s.release().is_err());                // already at its initial value
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    BoundedSemaphore, true, "BoundedSemaphore"
);

impl std::fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("owner_died", &self.owner_died())
            .finish()
    }
}
