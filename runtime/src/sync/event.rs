//! [`Event`]: a flag that processes wait on, on one futex word. Python: `multiprocessing.Event`.

use crate::error::Result;
use crate::shm::block::{BlockHeader, Mapped};
use crate::sys::wait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The flag bit of [`EventState::word`]; the bits above count the `set`s (a generation).
const SET: u32 = 1;

#[repr(C)]
pub(crate) struct EventState {
    magic: u32,
    /// `generation << 1 | SET`: a waiter returns once the flag is set or the generation moved, so a
    /// `set` quickly undone by a `clear` still releases everyone who was waiting.
    word: AtomicU32,
    waiters: AtomicU32,
}

// SAFETY: repr(C), magic first, zero-valid (unset, no waiters), atomics only.
unsafe impl BlockHeader for EventState {
    const MAGIC: u32 = 0x6d70_6576;
    const WHAT: &'static str = "Event";
    unsafe fn init(_: *mut Self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A flag shared by processes: [`set`](Event::set) wakes every process blocked in
/// [`wait`](Event::wait). There is no holder, so a process dying cannot wedge it; a setter that dies
/// before setting is what the timeout forms are for. Python: `Event()`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Event;
///
/// #[multiproc::worker]
/// fn waiter(go: Event) -> bool {
///     go.wait_timeout(std::time::Duration::from_secs(5))
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let go = Event::new()?;
///     let p = waiter::spawn(go.clone())?;
///     go.set();                                   // event.set()
///     assert!(p.join()?);
///     Ok(())
/// }
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event {
    mapped: Mapped<EventState>,
}

impl Event {
    /// A new, unset event.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(!multiproc::Event::new()?.is_set());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<Event> {
        Ok(Event {
            mapped: Mapped::create(0)?,
        })
    }

    fn state(&self) -> &EventState {
        self.mapped.header()
    }

    /// [`wait`](Self::wait) for async code (feature `async`): completes once the event is set,
    /// without a thread (the [`aio`](crate::aio) waker checks the flag).
    #[cfg(feature = "async")]
    pub fn wait_async(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let event = self.clone();
        async move {
            while !event.is_set() {
                let watched = event.clone();
                crate::aio::check(move || watched.is_set()).await;
            }
        }
    }

    /// True once set (until cleared). Python: `event.is_set()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let e = multiproc::Event::new()?;
    /// e.set();
    /// assert!(e.is_set());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_set(&self) -> bool {
        self.state().word.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiter in every process. Python: `event.set()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let e = multiproc::Event::new()?;
    /// e.set();
    /// e.wait();                                  // returns at once
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set(&self) {
        let s = self.state();
        // Unset → set, one generation on (wrapping); already set: nothing to do.
        let already = s
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                (w & SET == 0).then(|| w.wrapping_add(2) | SET)
            })
            .is_err();
        if !already && s.waiters.load(Ordering::SeqCst) > 0 {
            wait::wake_all(&s.word);
        }
    }

    /// Clears the flag. Python: `event.clear()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let e = multiproc::Event::new()?;
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn clear(&self) {
        self.state().word.fetch_and(!SET, Ordering::SeqCst);
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let s = self.state();
        let start = s.word.load(Ordering::Acquire);
        if start & SET != 0 {
            return true;
        }
        s.waiters.fetch_add(1, Ordering::SeqCst);
        let set = loop {
            // Set now, or set (and maybe cleared again) since we started: either way, released.
            let now = s.word.load(Ordering::SeqCst);
            if now != start {
                break true;
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break false,
                },
                None => None,
            };
            wait::wait(&s.word, start, left);
        };
        s.waiters.fetch_sub(1, Ordering::SeqCst);
        set
    }

    /// Waits until the flag is set. Python: `event.wait()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let e = multiproc::Event::new()?;
    /// e.set();
    /// e.wait();
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits at most `timeout`; returns `true` if the flag was set meanwhile (even if cleared again
    /// since), `false` on timeout. Python: `event.wait(timeout)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let e = multiproc::Event::new()?;
    /// assert!(!e.wait_timeout(std::time::Duration::from_millis(1)));
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(crate::sys::deadline_after(timeout))
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.state().waiters.load(Ordering::SeqCst))
            .finish()
    }
}
