//! [`Barrier`]: `parties` processes wait until all have arrived. Arrivals are counted under a robust
//! mutex; waiters sleep on a futex word holding the generation, whose top bit marks a broken barrier.
//! Python: `multiprocessing.Barrier`.

use crate::error::{Error, ErrorKind, Result};
use crate::shm::block::{Mapped, MutexHeader};
use crate::shm::guard::{self, Acquire};
use crate::sys::mutex::{MutexKind, RobustMutex};
use crate::sys::wait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const BROKEN: u32 = 1 << 31;

#[repr(C)]
pub(crate) struct BarrierState {
    magic: u32,
    parties: AtomicU32,
    count: AtomicU32,
    /// Generation number (low 31 bits) | BROKEN.
    word: AtomicU32,
    mutex: RobustMutex,
}

// SAFETY: repr(C), magic first, zero-valid, no pointers; MUTEX_AT is the offset of `mutex`.
unsafe impl MutexHeader for BarrierState {
    // Version 2: the mutex records its holder.
    const MAGIC: u32 = 0x6d70_6232;
    const WHAT: &'static str = "Barrier";
    const KIND: MutexKind = MutexKind::ErrorCheck;
    const MUTEX_AT: usize = std::mem::offset_of!(BarrierState, mutex);
}

/// A barrier for `parties` processes (or threads): [`wait`](Barrier::wait) blocks until that many
/// have called it, then all go on, and the barrier is ready for the next round. A
/// [`wait_timeout`](Barrier::wait_timeout) that expires breaks the barrier, as in Python: every waiter,
/// present and future, gets [`ErrorKind::BrokenBarrier`]. A party that dies before arriving cannot be
/// told from a slow one: use the timeout form when that may happen. Python: `Barrier(parties)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Barrier;
///
/// #[multiproc::worker]
/// fn party(b: Barrier) -> u32 {
///     b.wait().unwrap()
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let b = Barrier::new(3)?;
///     let ps = [party::spawn(b.clone())?, party::spawn(b.clone())?];
///     b.wait()?;                                  // all three pass together
///     for p in ps { p.join()?; }
///     Ok(())
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Barrier {
    mapped: Mapped<BarrierState>,
}

fn broken() -> Error {
    Error::new(
        ErrorKind::BrokenBarrier,
        "the barrier is broken (a wait timed out or abort() was called); create a new one",
    )
}

impl Barrier {
    /// A barrier for `parties` (at least 1) participants.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let b = multiproc::Barrier::new(1)?;
    /// assert_eq!(b.wait()?, 0);                    // one party: passes at once
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(parties: u32) -> Result<Barrier> {
        if parties == 0 || parties >= BROKEN {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a barrier needs between 1 and {} parties, not {parties}",
                    BROKEN - 1
                ),
            ));
        }
        let mapped = Mapped::<BarrierState>::create(0)?;
        mapped.header().parties.store(parties, Ordering::SeqCst);
        Ok(Barrier { mapped })
    }

    fn state(&self) -> &BarrierState {
        self.mapped.header()
    }

    /// The number of parties. Python: `barrier.parties`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Barrier::new(4)?.parties(), 4);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn parties(&self) -> u32 {
        self.state().parties.load(Ordering::Relaxed)
    }

    /// How many are waiting now. Python: `barrier.n_waiting`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Barrier::new(4)?.n_waiting(), 0);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn n_waiting(&self) -> u32 {
        self.state().count.load(Ordering::SeqCst)
    }

    /// True once a wait timed out or [`abort`](Self::abort) was called. Python: `barrier.broken`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let b = multiproc::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.is_broken());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state().word.load(Ordering::SeqCst) & BROKEN != 0
    }

    /// Breaks the barrier: current and future waiters get [`ErrorKind::BrokenBarrier`].
    /// Python: `barrier.abort()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let b = multiproc::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.wait().is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn abort(&self) {
        let s = self.state();
        s.word.fetch_or(BROKEN, Ordering::SeqCst);
        wait::wake_all(&s.word);
    }

    /// With the lock held: ends the round of generation `word` (moves the generation on unless the
    /// barrier broke meanwhile), resets the count, and wakes every waiter. False if it was broken.
    fn release(&self, word: u32) -> bool {
        let s = self.state();
        let released = word & BROKEN == 0
            && s.word
                .compare_exchange(
                    word,
                    (word + 1) & !BROKEN,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok();
        s.count.store(0, Ordering::SeqCst);
        wait::wake_all(&s.word);
        released
    }

    fn wait_until(&self, timeout: Option<Duration>) -> Result<u32> {
        let deadline = timeout.and_then(crate::sys::deadline_after);
        let s = self.state();
        let wait = match timeout {
            Some(t) => Acquire::Timeout(t),
            None => Acquire::Block,
        };
        let held = guard::acquire_some(&s.mutex, "Barrier's lock", wait)?;
        let parties = s.parties.load(Ordering::SeqCst);
        if held.owner_died() && s.count.load(Ordering::SeqCst) >= parties {
            // The last party of a round died between counting itself and resetting the count (the
            // release itself may or may not be published): finish its work. Advancing a generation
            // that has no waiters is harmless (none can arrive while the lock was held).
            let word = s.word.load(Ordering::SeqCst);
            self.release(word);
        }
        let word = s.word.load(Ordering::SeqCst);
        if word & BROKEN != 0 {
            return Err(broken());
        }
        let index = s.count.fetch_add(1, Ordering::SeqCst);
        if index + 1 >= parties {
            // Publish the release before resetting the count (see above), and only if nobody broke
            // the barrier meanwhile (a timed-out waiter or abort() sets BROKEN without the lock).
            let released = self.release(word);
            drop(held);
            return if released { Ok(index) } else { Err(broken()) };
        }
        drop(held);
        loop {
            let now = s.word.load(Ordering::SeqCst);
            if now != word {
                return if now & BROKEN != 0 && (now & !BROKEN) == word {
                    Err(broken())
                } else {
                    Ok(index)
                };
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        // Break it unless the last party arrived meanwhile.
                        if s.word
                            .compare_exchange(
                                word,
                                word | BROKEN,
                                Ordering::SeqCst,
                                Ordering::SeqCst,
                            )
                            .is_ok()
                        {
                            wait::wake_all(&s.word);
                            return Err(Error::timeout(
                                "Barrier wait",
                                timeout.unwrap_or_default(),
                            ));
                        }
                        continue;
                    }
                },
                None => None,
            };
            wait::wait(&s.word, word, left);
        }
    }

    /// Waits until all parties have arrived; returns this caller's arrival index, `0..parties`
    /// (exactly one caller per round gets `parties - 1`, the last to arrive). Python: `barrier.wait()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Barrier::new(1)?.wait()?, 0);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait(&self) -> Result<u32> {
        self.wait_until(None)
    }

    /// [`wait`](Self::wait) at most `timeout`; on expiry the barrier breaks for everyone and this
    /// caller gets [`ErrorKind::Timeout`]. Python: `barrier.wait(timeout)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let b = multiproc::Barrier::new(2)?;
    /// assert!(b.wait_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
    /// assert!(b.is_broken());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32> {
        self.wait_until(Some(timeout))
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.is_broken())
            .finish()
    }
}
