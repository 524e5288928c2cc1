//! [`AsyncResult`]: the handle `apply_async` and `map_async` return, over a one-shot [`Cell`].

use crate::error::{Error, ErrorKind, Result};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Run with the outcome when it arrives (`apply_async`'s callback and error callback).
pub(crate) type Callback<T> = Box<dyn FnOnce(&Result<T>) + Send>;

enum State<T> {
    Pending(Option<Callback<T>>),
    Done(Result<T>),
    Taken { ok: bool },
}

/// A value that arrives once, from a supervisor thread, with an optional callback run when it does.
pub(crate) struct Cell<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    /// Tasks awaiting the value (an `AsyncResult` awaited), woken with the condvar's waiters.
    wakers: Mutex<Vec<std::task::Waker>>,
}

impl<T> Cell<T> {
    pub(crate) fn new(callback: Option<Callback<T>>) -> Cell<T> {
        Cell {
            state: Mutex::new(State::Pending(callback)),
            ready: Condvar::new(),
            wakers: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::poison::lock(&self.state)
    }

    /// Stores the outcome (the first one wins) after running the callback, and wakes the waiters.
    pub(crate) fn set(&self, value: Result<T>) {
        let callback = match &mut *self.lock() {
            State::Pending(cb) => cb.take(),
            _ => return,
        };
        if let Some(cb) = callback {
            // A panicking callback must not take the supervisor thread down with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&value)));
        }
        let mut st = self.lock();
        if let State::Pending(_) = *st {
            *st = State::Done(value);
            self.ready.notify_all();
        }
        drop(st);
        for w in std::mem::take(&mut *crate::poison::lock(&self.wakers)) {
            w.wake();
        }
    }

    /// The value if it is there, else `None` with `waker` registered to be woken when it comes (or
    /// an error if it was taken already).
    #[cfg(feature = "async")]
    fn poll_take(&self, waker: &std::task::Waker) -> Option<Result<T>> {
        let mut st = self.lock();
        match std::mem::replace(&mut *st, State::Taken { ok: false }) {
            State::Done(v) => {
                *st = State::Taken { ok: v.is_ok() };
                Some(v)
            }
            State::Pending(cb) => {
                *st = State::Pending(cb);
                // Registered while the state is locked: `set` wakes it after changing the state.
                crate::poison::lock(&self.wakers).push(waker.clone());
                None
            }
            taken => {
                *st = taken;
                Some(Err(Error::new(
                    ErrorKind::InvalidInput,
                    "this AsyncResult's value was already taken by an earlier get",
                )))
            }
        }
    }

    /// Waits until the value is there or `deadline` passes; true if it is there.
    fn wait_until<'a>(&'a self, deadline: Option<Instant>) -> (MutexGuard<'a, State<T>>, bool) {
        let mut st = self.lock();
        loop {
            if !matches!(*st, State::Pending(_)) {
                return (st, true);
            }
            match deadline {
                None => st = crate::poison::wait(&self.ready, st),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return (st, false);
                    }
                    st = crate::poison::wait_timeout(&self.ready, st, d - now);
                }
            }
        }
    }

    fn take(&self, deadline: Option<Instant>, waited: Duration) -> Result<T> {
        let (mut st, ready) = self.wait_until(deadline);
        if !ready {
            return Err(Error::timeout("waiting for the pool result", waited));
        }
        match std::mem::replace(&mut *st, State::Taken { ok: false }) {
            State::Done(v) => {
                *st = State::Taken { ok: v.is_ok() };
                v
            }
            taken => {
                *st = taken;
                Err(Error::new(
                    ErrorKind::InvalidInput,
                    "this AsyncResult's value was already taken by an earlier get",
                ))
            }
        }
    }
}

/// The pending result of [`Pool::apply_async`](super::Pool::apply_async) or
/// [`Pool::map_async`](super::Pool::map_async). Python: `multiprocessing.pool.AsyncResult`.
///
/// It never hangs on a lost worker: a task whose worker dies fails with
/// [`ErrorKind::WorkerDied`], one that outlives the pool's `task_timeout` with [`ErrorKind::Timeout`], and
/// every task still pending when the pool is terminated with [`ErrorKind::Closed`].
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let pool = multiproc::Pool::new(2)?;
/// let r = pool.apply_async(square, (20,))?;      // Python: r = pool.apply_async(square, (20,))
/// r.wait();                                       // r.wait()
/// assert!(r.ready() && r.successful()?);          // r.ready(), r.successful()
/// assert_eq!(r.get()?, 400);                      // r.get()
/// # Ok(()) }
/// ```
pub struct AsyncResult<T> {
    cell: std::sync::Arc<Cell<T>>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(cell: std::sync::Arc<Cell<T>>) -> AsyncResult<T> {
        AsyncResult { cell }
    }

    /// Waits for the result and returns it. Python: `r.get()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.apply_async(square, (3,))?.get()?, 9);
    /// # Ok(()) }
    /// ```
    pub fn get(self) -> Result<T> {
        self.cell.take(None, Duration::ZERO)
    }

    /// Waits up to `timeout` for the result: [`ErrorKind::Timeout`] if it is not there by then (the task
    /// goes on; call again later). Python: `r.get(timeout)`. Once returned, the value is gone: a later
    /// call gives [`ErrorKind::InvalidInput`].
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// assert_eq!(r.get_timeout(std::time::Duration::from_secs(5))?, 9);
    /// # Ok(()) }
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.cell.take(crate::sys::deadline_after(timeout), timeout)
    }

    /// Waits until the result is there. Python: `r.wait()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok(()) }
    /// ```
    pub fn wait(&self) {
        let _ = self.cell.wait_until(None);
    }

    /// Waits up to `timeout`; true if the result is there. Python: `r.wait(timeout); r.ready()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// assert!(r.wait_timeout(std::time::Duration::from_secs(5)));
    /// # Ok(()) }
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.cell.wait_until(crate::sys::deadline_after(timeout)).1
    }

    /// True once the task has finished, well or not. Python: `r.ready()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// r.wait();
    /// assert!(r.ready());
    /// # Ok(()) }
    /// ```
    pub fn ready(&self) -> bool {
        !matches!(*self.cell.lock(), State::Pending(_))
    }

    /// Whether the task succeeded; [`ErrorKind::InvalidInput`] while it is not ready (Python raises
    /// `ValueError`). Python: `r.successful()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// r.wait();
    /// assert!(r.successful()?);
    /// # Ok(()) }
    /// ```
    pub fn successful(&self) -> Result<bool> {
        match &*self.cell.lock() {
            State::Pending(_) => Err(Error::new(
                ErrorKind::InvalidInput,
                "the result is not ready yet: wait() first",
            )),
            State::Done(v) => Ok(v.is_ok()),
            State::Taken { ok } => Ok(*ok),
        }
    }
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}

/// Awaiting an [`AsyncResult`] (feature `async`) is `get` without a blocked thread: the pool's
/// supervisor wakes the task when the value arrives. Same errors as [`AsyncResult::get`].
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # async fn f(pool: &multiproc::Pool) -> multiproc::Result<()> {
/// assert_eq!(pool.apply_async(square, (20,))?.await?, 400);
/// # Ok(()) }
/// ```
#[cfg(feature = "async")]
impl<T> std::future::IntoFuture for AsyncResult<T> {
    type Output = Result<T>;
    type IntoFuture = ResultFuture<T>;
    fn into_future(self) -> ResultFuture<T> {
        ResultFuture { cell: self.cell }
    }
}

/// The future of an awaited [`AsyncResult`] (feature `async`).
#[cfg(feature = "async")]
pub struct ResultFuture<T> {
    cell: std::sync::Arc<Cell<T>>,
}

#[cfg(feature = "async")]
impl<T> std::future::Future for ResultFuture<T> {
    type Output = Result<T>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        match self.cell.poll_take(cx.waker()) {
            Some(v) => std::task::Poll::Ready(v),
            None => std::task::Poll::Pending,
        }
    }
}

#[cfg(feature = "async")]
impl<T> std::fmt::Debug for ResultFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultFuture")
    }
}
