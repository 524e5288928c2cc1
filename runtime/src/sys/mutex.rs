//! Robust, process-shared pthread mutexes living in shared memory. If a holder dies, the next locker
//! gets the mutex with [`Locked::OwnerDied`] and the mutex is made consistent again.
//!
//! Beside the pthread mutex each one records its holder itself (process and recursion depth, written
//! by our lock and unlock while the mutex is held), so whether this process holds it is answered from
//! our own field, never from the C library's private layout.

use super::identity::ProcessId;
use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

unsafe extern "C" {
    // glibc >= 2.30; not yet bound by the libc crate.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// A `pthread_mutex_t` to be placed in shared memory and initialised once with [`RobustMutex::init`],
/// with the record of its holder. All-zero bytes are the record of a free mutex.
#[repr(C)]
pub(crate) struct RobustMutex {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    /// The holding process as a packed [`ProcessId`], 0 when free. Written only by the holder, after
    /// locking and before unlocking; a holder that dies leaves its own, replaced by the next locker.
    holder: AtomicU64,
    /// How many times the holder has locked it (above 1 only for [`MutexKind::Recursive`]).
    depth: AtomicU32,
}

// SAFETY: a process-shared pthread mutex is designed to be used concurrently from many threads/processes.
unsafe impl Sync for RobustMutex {}
// SAFETY: as above; it holds no thread-affine data.
unsafe impl Send for RobustMutex {}

/// The pthread mutex type: what relocking by the holding thread does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MutexKind {
    /// Relocking deadlocks (the default).
    Normal,
    /// Relocking fails with `EDEADLK`; unlocking by a non-holder fails with `EPERM`.
    ErrorCheck,
    /// The holding thread may lock again; each lock needs its unlock.
    Recursive,
}

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Normally.
    Clean,
    /// The previous holder died holding it; the data it guards may be half-updated.
    OwnerDied,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

impl RobustMutex {
    /// Initialises the mutex in place as robust and process-shared.
    ///
    /// # Safety
    /// `this` must point to writable memory of the right size and alignment that no other thread or
    /// process uses until this returns.
    pub(crate) unsafe fn init(this: *mut RobustMutex) -> io::Result<()> {
        // SAFETY: same contract as ours.
        unsafe { Self::init_kind(this, MutexKind::Normal) }
    }

    /// Like [`init`](Self::init), of the given kind.
    ///
    /// # Safety
    /// As for [`init`](Self::init).
    pub(crate) unsafe fn init_kind(this: *mut RobustMutex, kind: MutexKind) -> io::Result<()> {
        let kind = match kind {
            MutexKind::Normal => libc::PTHREAD_MUTEX_NORMAL,
            MutexKind::ErrorCheck => libc::PTHREAD_MUTEX_ERRORCHECK,
            MutexKind::Recursive => libc::PTHREAD_MUTEX_RECURSIVE,
        };
        // SAFETY: attr is initialised before use and destroyed after; `this` is valid per the contract.
        unsafe {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let attr_ptr = attr.as_mut_ptr();
            let res = check(libc::pthread_mutexattr_setpshared(
                attr_ptr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|_| {
                check(libc::pthread_mutexattr_setrobust(
                    attr_ptr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|_| check(libc::pthread_mutexattr_settype(attr_ptr, kind)))
            .and_then(|_| check(libc::pthread_mutex_init((*this).mutex.get(), attr_ptr)));
            libc::pthread_mutexattr_destroy(attr_ptr);
            res
        }
    }

    #[inline]
    fn outcome(&self, rc: libc::c_int) -> io::Result<Locked> {
        match rc {
            0 => {
                // Held now: the record is ours to write. A relock by a recursive holder adds a level.
                // Only the holder writes the depth, so a load and a store do (no locked
                // read-modify-write on the uncontended path).
                let depth = self.depth.load(Ordering::Relaxed);
                self.depth.store(depth + 1, Ordering::Relaxed);
                self.holder
                    .store(ProcessId::this().pack(), Ordering::Release);
                Ok(Locked::Clean)
            }
            libc::EOWNERDEAD => {
                // SAFETY: we hold the mutex (EOWNERDEAD means acquired); mark it usable again.
                unsafe { libc::pthread_mutex_consistent(self.mutex.get()) };
                // The dead holder's record (and its depth) is replaced by ours.
                self.depth.store(1, Ordering::Relaxed);
                self.holder
                    .store(ProcessId::this().pack(), Ordering::Release);
                Ok(Locked::OwnerDied)
            }
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Blocks until locked.
    #[inline]
    pub(crate) fn lock(&self) -> io::Result<Locked> {
        // SAFETY: initialised robust mutex in mapped shared memory.
        self.outcome(unsafe { libc::pthread_mutex_lock(self.mutex.get()) })
    }

    /// Locks if free; `Ok(None)` if another holds it.
    #[inline]
    pub(crate) fn try_lock(&self) -> io::Result<Option<Locked>> {
        // SAFETY: as in `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.mutex.get()) };
        if rc == libc::EBUSY {
            Ok(None)
        } else {
            self.outcome(rc).map(Some)
        }
    }

    /// Locks, waiting until `deadline` at most; `Ok(None)` on timeout.
    pub(crate) fn lock_until(&self, deadline: Instant) -> io::Result<Option<Locked>> {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into a local timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let mut nsec = now.tv_nsec + i64::from(left.subsec_nanos());
        let mut sec = now.tv_sec + left.as_secs().min(i32::MAX as u64) as i64;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            sec += 1;
        }
        let abs = libc::timespec {
            tv_sec: sec as libc::time_t,
            tv_nsec: nsec as libc::c_long,
        };
        // SAFETY: as in `lock`, with a valid absolute CLOCK_MONOTONIC timeout.
        let rc = unsafe { pthread_mutex_clocklock(self.mutex.get(), libc::CLOCK_MONOTONIC, &abs) };
        if rc == libc::ETIMEDOUT {
            Ok(None)
        } else {
            self.outcome(rc).map(Some)
        }
    }

    /// True if a thread of this process holds the mutex (so it is on that thread's robust list, which
    /// the C library and the kernel walk through the mutex's own memory: it must stay mapped). Read
    /// from the holder record our lock and unlock keep.
    pub(crate) fn held_in_this_process(&self) -> bool {
        self.holder.load(Ordering::Acquire) == ProcessId::this().pack()
    }

    /// The holding process and how many times it has locked, from the holder record; `None` when
    /// free. A snapshot: the record is written just after locking and cleared just before unlocking,
    /// and a holder that died keeps its record until the next locker replaces it.
    pub(crate) fn holder(&self) -> Option<(ProcessId, u32)> {
        ProcessId::unpack(self.holder.load(Ordering::Acquire))
            .map(|p| (p, self.depth.load(Ordering::Relaxed).max(1)))
    }

    /// Unlocks; the caller must hold the mutex.
    #[inline]
    pub(crate) fn unlock(&self) {
        // Still held: the record is ours to write. The last level clears it before the mutex is free.
        let depth = self.depth.load(Ordering::Relaxed);
        if depth <= 1 {
            self.depth.store(0, Ordering::Relaxed);
            self.holder.store(0, Ordering::Release);
        } else {
            self.depth.store(depth - 1, Ordering::Relaxed);
        }
        // SAFETY: initialised mutex held by this thread (callers guarantee it through their guards).
        unsafe { libc::pthread_mutex_unlock(self.mutex.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutex(kind: MutexKind) -> Box<RobustMutex> {
        // SAFETY: all-zero bytes are a valid (uninitialised) pthread_mutex_t and a free record.
        let mut m: Box<RobustMutex> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: exclusively ours, aligned, writable.
        unsafe { RobustMutex::init_kind(&raw mut *m, kind) }.unwrap();
        m
    }

    #[test]
    fn the_holder_record_follows_lock_and_unlock() {
        let m = mutex(MutexKind::ErrorCheck);
        assert!(!m.held_in_this_process());
        assert_eq!(m.lock().unwrap(), Locked::Clean);
        assert!(m.held_in_this_process());
        m.unlock();
        assert!(!m.held_in_this_process());
        assert_eq!(m.try_lock().unwrap(), Some(Locked::Clean));
        assert!(m.held_in_this_process());
        m.unlock();
        assert!(!m.held_in_this_process());
    }

    #[test]
    fn a_recursive_holder_is_recorded_until_its_last_unlock() {
        let m = mutex(MutexKind::Recursive);
        m.lock().unwrap();
        m.lock().unwrap();
        m.unlock();
        assert!(m.held_in_this_process());
        m.unlock();
        assert!(!m.held_in_this_process());
    }

    #[test]
    fn a_holder_in_another_thread_of_this_process_counts() {
        let m = mutex(MutexKind::Normal);
        std::thread::scope(|s| {
            s.spawn(|| {
                m.lock().unwrap();
                assert!(m.held_in_this_process());
                m.unlock();
            });
        });
        assert!(!m.held_in_this_process());
    }
}
