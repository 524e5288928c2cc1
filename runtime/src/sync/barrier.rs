//! [`Barrier`]: `parties` processes wait until all have arrived. Arrivals are counted under a robust
//! mutex; waiters sleep on a futex word holding the generation, whose top bit marks a broken barrier.
//! Python: `multiprocessing.Barrier`.
//!
//! The word: bit 31 marks a broken barrier, bit 30 a generation begun by [`Barrier::reset`] (so that
//! the parties a reset turned away see `BrokenBarrier`, not a release), the low 30 bits count
//! generations.

use crate::error::{Error, ErrorKind, Result};
use crate::shm::block::{Mapped, MutexHeader};
use crate::shm::guard::{self, Acquire};
use crate::sys::mutex::{MutexKind, RobustMutex};
use crate::sys::wait;
use crate::worker::WorkerFn;
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BROKEN: u32 = 1 << 31;
const RESET: u32 = 1 << 30;
const GEN: u32 = RESET - 1;

fn next_gen(word: u32) -> u32 {
    (word & GEN).wrapping_add(1) & GEN
}

#[repr(C)]
pub(crate) struct BarrierState {
    magic: u32,
    parties: AtomicU32,
    count: AtomicU32,
    /// Generation number (low 31 bits) | BROKEN.
    word: AtomicU32,
    /// The default timeout of `wait`, in nanoseconds; 0: none.
    timeout_ns: AtomicU64,
    mutex: RobustMutex,
}

// SAFETY: repr(C), magic first, zero-valid, no pointers; MUTEX_AT is the offset of `mutex`.
unsafe impl MutexHeader for BarrierState {
    // Version 3: the default timeout (version 2: the mutex records its holder).
    const MAGIC: u32 = 0x6d70_6233;
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
pub struct Barrier {
    mapped: Mapped<BarrierState>,
    #[serde(with = "action_serde")]
    action: Option<Arc<Action>>,
}

/// A barrier's action: a `#[worker]` function, by its registry name, and its encoded arguments. It
/// travels with the handle (every clone and every copy sent to another process), so whichever party
/// arrives last finds it in its own process: the name is looked up in that process's registry.
struct Action {
    name: String,
    args: Vec<u8>,
    fds: Vec<OwnedFd>,
}

#[derive(Serialize, Deserialize)]
struct ActionFd(#[serde(with = "crate::codec::fd")] OwnedFd);

#[derive(Serialize, Deserialize)]
struct ActionWire {
    name: String,
    args: Vec<u8>,
    fds: Vec<ActionFd>,
}

mod action_serde {
    use super::{Action, ActionFd, ActionWire};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub(super) fn serialize<S: Serializer>(
        action: &Option<Arc<Action>>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let wire = match action {
            None => None,
            Some(a) => Some(ActionWire {
                name: a.name.clone(),
                args: a.args.clone(),
                fds: a
                    .fds
                    .iter()
                    .map(|fd| fd.try_clone().map(ActionFd))
                    .collect::<std::io::Result<_>>()
                    .map_err(|e| S::Error::custom(format!("dup of a barrier action's fd: {e}")))?,
            }),
        };
        wire.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Arc<Action>>, D::Error> {
        Ok(Option::<ActionWire>::deserialize(d)?.map(|w| {
            Arc::new(Action {
                name: w.name,
                args: w.args,
                fds: w.fds.into_iter().map(|f| f.0).collect(),
            })
        }))
    }
}

impl Action {
    fn new<F, Args>(f: F, args: &Args) -> Result<Action>
    where
        F: WorkerFn<Args, Output = ()>,
        Args: Serialize,
    {
        let entry = crate::registry::lookup_fn(f.entry_name())?;
        let enc = crate::codec::encode(args)?;
        Ok(Action {
            name: entry.name.to_string(),
            args: enc.bytes,
            fds: enc.fds,
        })
    }

    /// Runs it here; a panic or an error is returned.
    fn run(&self) -> Result<()> {
        let entry = crate::registry::by_name(&self.name)
            .ok_or_else(|| crate::registry::not_found(&self.name))?;
        let fds = self
            .fds
            .iter()
            .map(OwnedFd::try_clone)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io("could not pass the barrier action its descriptors", e))?;
        match catch_unwind(AssertUnwindSafe(|| (entry.invoke)(&self.args, fds))) {
            Ok(r) => r.map(drop),
            Err(panic) => {
                let message = crate::protocol::child::panic_message(&*panic);
                Err(Error::new(
                    ErrorKind::WorkerPanicked {
                        message: message.clone(),
                        location: None,
                        backtrace: None,
                    },
                    format!(
                        "the barrier action `{}` panicked: {message}; the barrier is broken",
                        self.name
                    ),
                ))
            }
        }
    }
}

/// Builds a [`Barrier`] with Python's optional `action` and `timeout`: [`Barrier::builder`].
#[must_use]
pub struct BarrierBuilder {
    parties: u32,
    timeout: Option<Duration>,
    action: Option<Result<Action>>,
}

impl BarrierBuilder {
    /// The default timeout of [`Barrier::wait`] (Python: `Barrier(n, timeout=t)`); a wait that
    /// outlasts it breaks the barrier, as [`Barrier::wait_timeout`] does.
    pub fn timeout(mut self, timeout: Duration) -> BarrierBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// The action: `f(args..)`, run once per round by the last party to arrive, in its own process,
    /// before any party is released (Python: `Barrier(n, action=f)`). `f` is a `#[worker]` function
    /// returning `()` (the last party may be any process, which finds `f` by its registered name);
    /// `args` is encoded once now and travels with the handle. If the action panics or cannot run,
    /// the barrier breaks: that party's `wait` returns the error, the others `BrokenBarrier`.
    pub fn action<F, Args>(mut self, f: F, args: Args) -> BarrierBuilder
    where
        F: WorkerFn<Args, Output = ()>,
        Args: Serialize,
    {
        self.action = Some(Action::new(f, &args));
        self
    }

    /// The barrier.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let b = multiproc::Barrier::builder(2).timeout(Duration::from_millis(5)).build()?;
    /// assert!(b.wait().unwrap_err().is_timeout());     // the default timeout applies
    /// assert!(b.is_broken());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn build(self) -> Result<Barrier> {
        let action = self.action.transpose()?.map(Arc::new);
        let mut b = Barrier::new(self.parties)?;
        b.action = action;
        if let Some(t) = self.timeout {
            let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX).max(1);
            b.state().timeout_ns.store(ns, Ordering::SeqCst);
        }
        Ok(b)
    }
}

fn broken() -> Error {
    Error::new(
        ErrorKind::BrokenBarrier,
        "the barrier is broken (a wait timed out, its action failed, abort() or reset() was called); \
         call reset() or create a new one",
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
        Ok(Barrier {
            mapped,
            action: None,
        })
    }

    /// A builder for a barrier with an action or a default timeout. Python:
    /// `Barrier(parties, action=None, timeout=None)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// use multiproc::{Barrier, Value};
    ///
    /// #[multiproc::worker]
    /// fn count_round(rounds: Value<u32>) {
    ///     *rounds.lock().unwrap() += 1;
    /// }
    ///
    /// #[multiproc::worker]
    /// fn party(b: Barrier) {
    ///     b.wait().unwrap();
    /// }
    ///
    /// #[multiproc::main]
    /// fn main() -> multiproc::Result<()> {
    ///     let rounds = Value::new(0u32)?;
    ///     let b = Barrier::builder(2).action(count_round, (rounds.clone(),)).build()?;
    ///     let p = party::spawn(b.clone())?;
    ///     b.wait()?;
    ///     assert_eq!(rounds.get()?, 1);               // ran once, before anyone was released
    ///     p.join()?;
    ///     Ok(())
    /// }
    /// ```
    pub fn builder(parties: u32) -> BarrierBuilder {
        BarrierBuilder {
            parties,
            timeout: None,
            action: None,
        }
    }

    /// This handle with `f(args..)` as its action (replacing any): see [`BarrierBuilder::action`].
    /// The action belongs to the handle and to its clones and copies sent on, not to the shared
    /// barrier: a round runs the action of the handle its last party waited on (none if that handle
    /// has none).
    pub fn with_action<F, Args>(mut self, f: F, args: Args) -> Result<Barrier>
    where
        F: WorkerFn<Args, Output = ()>,
        Args: Serialize,
    {
        self.action = Some(Arc::new(Action::new(f, &args)?));
        Ok(self)
    }

    /// The default timeout of [`wait`](Self::wait), if one was set. Python: `barrier._timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        match self.state().timeout_ns.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
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
        if self.is_broken() {
            return 0;
        }
        self.state().count.load(Ordering::SeqCst)
    }

    /// True once a wait timed out or [`abort`](Self::abort) was called, until [`reset`](Self::reset).
    /// Python: `barrier.broken`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let b = multiproc::Barrier::new(2)?;
    /// b.abort();
    /// assert!(b.is_broken());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    #[doc(alias = "broken")]
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

    /// Returns the barrier to its empty state: parties waiting now get [`ErrorKind::BrokenBarrier`],
    /// a broken barrier works again, and the next `parties` arrivals make a round. Python:
    /// `barrier.reset()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let b = multiproc::Barrier::new(1)?;
    /// b.abort();
    /// b.reset()?;
    /// assert!(!b.is_broken());
    /// assert_eq!(b.wait()?, 0);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn reset(&self) -> Result<()> {
        let s = self.state();
        let held = guard::acquire_some(&s.mutex, "Barrier's lock", Acquire::Block)?;
        let word = s.word.load(Ordering::SeqCst);
        s.count.store(0, Ordering::SeqCst);
        // Waiters of the generation `word` see the next one marked RESET: broken for them.
        s.word.store(next_gen(word) | RESET, Ordering::SeqCst);
        wait::wake_all(&s.word);
        drop(held);
        Ok(())
    }

    /// With the lock held: ends the round of generation `word` (moves the generation on unless the
    /// barrier broke meanwhile), resets the count, and wakes every waiter. False if it was broken.
    fn release(&self, word: u32) -> bool {
        let s = self.state();
        let released = word & BROKEN == 0
            && s.word
                .compare_exchange(word, next_gen(word), Ordering::SeqCst, Ordering::SeqCst)
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
            if let Some(action) = &self.action {
                // Run before anyone is released, under the lock (as Python's action); a failure breaks
                // the barrier for the others and goes to this party.
                if let Err(e) = action.run() {
                    let _ = s.word.compare_exchange(
                        word,
                        word | BROKEN,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                    s.count.store(0, Ordering::SeqCst);
                    wait::wake_all(&s.word);
                    drop(held);
                    return Err(e);
                }
            }
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
                let same_gen = now & GEN == word & GEN;
                let reset = now & RESET != 0 && now & GEN == next_gen(word);
                return if same_gen || reset {
                    // Broken during this round (its generation is unchanged but for BROKEN), or
                    // reset (the next generation, begun by reset()).
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
    /// (exactly one caller per round gets `parties - 1`, the last to arrive), after the action, if
    /// any, ran. With a default [`timeout`](BarrierBuilder::timeout), waits at most that long, as
    /// [`wait_timeout`](Self::wait_timeout). Python: `barrier.wait()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Barrier::new(1)?.wait()?, 0);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait(&self) -> Result<u32> {
        self.wait_until(self.timeout())
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
            .field("action", &self.action.as_ref().map(|a| a.name.as_str()))
            .field("timeout", &self.timeout())
            .finish()
    }
}
