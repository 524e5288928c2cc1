//! [`IMap`]: the lazy iterators of `imap` (results in order) and `imap_unordered` (as they finish).
//! The source is read, encoded and sent chunk by chunk as results are consumed, with a bounded number
//! of tasks in flight, so an endless source works and memory stays flat.
//!
//! Costs are per chunk, not per item: the consumer moves every result that has arrived into its own
//! buffer under one lock and yields from there; a supervisor wakes the consumer only when it waits;
//! and the window is topped up once half of it has been yielded, the chunks leaving together (one
//! write per worker).

use super::Pool;
use super::chunk::{self, EncodeFn};
use super::lock;
use super::progress::Progress;
use super::sched::{Job, kind_of};
use super::sink::Sink;
use crate::error::{Error, ErrorKind, Result};
use crate::policy::{self, Between};
use crate::protocol::pool::decode_reply;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Results that have arrived and not been taken yet.
enum Arrived<R> {
    InOrder(BTreeMap<usize, Result<R>>),
    AsDone(VecDeque<Result<R>>),
}

/// What the supervisors share with the consumer.
struct Shared<R> {
    arrived: Arrived<R>,
    /// The consumer sleeps on the condvar: a delivery must notify it.
    waiting: bool,
}

struct ImapSink<R> {
    shared: Mutex<Shared<R>>,
    /// Deliveries so far (bumped under the lock): the consumer watches it while it spins.
    deliveries: AtomicUsize,
    cond: Condvar,
    /// A task polling the `IMap` as a `Stream`, woken with the condvar's waiters.
    wakers: Mutex<Vec<std::task::Waker>>,
}

impl<R> ImapSink<R> {
    fn put(arrived: &mut Arrived<R>, i: usize, r: Result<R>) {
        match arrived {
            Arrived::InOrder(m) => {
                m.insert(i, r);
            }
            Arrived::AsDone(q) => q.push_back(r),
        }
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for ImapSink<R> {
    fn deliver(&self, start: usize, count: usize, frame: &[u8], fds: Vec<OwnedFd>) {
        // Decoded before the lock is taken: the consumer is not held up meanwhile.
        let mut chunk = Vec::with_capacity(count);
        if let Err(e) = decode_reply::<R>(start, count, frame, fds, |i, r| chunk.push((i, r))) {
            chunk.clear();
            chunk.extend((start..start + count).map(|i| (i, Err(e.clone()))));
        }
        let mut s = lock(&self.shared);
        for (i, r) in chunk {
            Self::put(&mut s.arrived, i, r);
        }
        self.arrived(s);
    }
    fn fail(&self, start: usize, count: usize, err: &Error) {
        let mut s = lock(&self.shared);
        for i in start..start + count {
            Self::put(&mut s.arrived, i, Err(err.clone()));
        }
        self.arrived(s);
    }
}

impl<R> ImapSink<R> {
    /// Results were added: wakes the consumer if it sleeps (a notification nobody waits for is
    /// still a system call), and any task polling the stream.
    fn arrived(&self, s: std::sync::MutexGuard<'_, Shared<R>>) {
        self.deliveries.fetch_add(1, Ordering::Release);
        if s.waiting {
            self.cond.notify_all();
        }
        drop(s);
        self.wake_tasks();
    }

    fn wake_tasks(&self) {
        for w in std::mem::take(&mut *lock(&self.wakers)) {
            w.wake();
        }
    }
}

/// The iterator of [`Pool::imap`] and [`Pool::imap_unordered`]: one `Result<R>` per input, lazily.
///
/// A failed task yields its error in its place (panic, worker death, timeout) and iteration goes on.
/// [`completed`](IMap::completed) and [`size_hint`](Iterator::size_hint) report progress; with the pool's
/// `progress(true)` option (feature `progress`) a terminal progress bar is drawn. Python: `IMapIterator`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let pool = multiproc::Pool::new(2)?;
/// let mut it = pool.imap(square, vec![0u64; 100]).chunksize(8);  // Python: pool.imap(square, range(100), 8)
/// assert_eq!(it.next().unwrap()?, 0);
/// assert_eq!(it.completed(), 1);
/// assert_eq!(it.len(), 99);
/// # Ok(()) }
/// ```
pub struct IMap<'p, I: Iterator, R> {
    pool: &'p Pool,
    source: std::iter::Fuse<I>,
    prefix: Vec<u8>,
    /// The jobs' kind (`sched::kind_of` the prefix).
    kind: u64,
    encode: EncodeFn<I::Item>,
    sink: Arc<ImapSink<R>>,
    /// Results taken from the sink and not yet yielded, in the order they are yielded.
    ready: VecDeque<Result<R>>,
    chunksize: usize,
    window: usize,
    submitted: usize,
    yielded: usize,
    failed: Option<Error>,
    /// The source could not be sent (its error was yielded): nothing more comes.
    finished: bool,
    progress: Option<Progress>,
    _r: PhantomData<fn() -> R>,
}

impl<'p, I: Iterator, R: DeserializeOwned + Send + 'static> IMap<'p, I, R> {
    pub(crate) fn new(
        pool: &'p Pool,
        source: I,
        prefix: Result<Vec<u8>>,
        encode: EncodeFn<I::Item>,
        ordered: bool,
    ) -> IMap<'p, I, R> {
        let (prefix, failed) = match prefix {
            Ok(p) => (p, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        IMap {
            kind: kind_of(&prefix),
            pool,
            source: source.fuse(),
            prefix,
            encode,
            ready: VecDeque::new(),
            sink: Arc::new(ImapSink {
                shared: Mutex::new(Shared {
                    arrived: if ordered {
                        Arrived::InOrder(BTreeMap::new())
                    } else {
                        Arrived::AsDone(VecDeque::new())
                    },
                    waiting: false,
                }),
                deliveries: AtomicUsize::new(0),
                cond: Condvar::new(),
                wakers: Mutex::new(Vec::new()),
            }),
            chunksize: pool.default_chunksize.unwrap_or(1),
            window: 0,
            submitted: 0,
            yielded: 0,
            failed,
            finished: false,
            progress: None,
            _r: PhantomData,
        }
    }

    /// Items per task sent to a worker (default 1, as in Python, or the pool's `chunksize`). Larger
    /// chunks make tiny tasks cheap; a worker that dies fails its whole chunk. Call before iterating.
    /// It must be at least 1: for 0 the iterator yields one [`ErrorKind::InvalidInput`] error and
    /// ends (Python raises `ValueError`).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let total: u64 = pool.imap_unordered(square, 0..10_000u64).chunksize(64).map(|r| r.unwrap()).sum();
    /// # Ok(()) }
    /// ```
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        if chunksize == 0 {
            self.failed.get_or_insert(Error::new(
                ErrorKind::InvalidInput,
                "chunksize must be at least 1",
            ));
        } else {
            self.chunksize = chunksize;
        }
        self
    }

    /// Most items in flight (sent and not yet yielded); default: enough chunks to keep every worker
    /// busy. The window is topped up once half of it (at least a chunk) is free. Results that finish
    /// ahead of their turn in `imap` wait inside this window.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let first: Vec<u64> = pool.imap(square, 0u64..).window(16).take(5).map(|r| r.unwrap()).collect();
    /// assert_eq!(first, [0, 1, 4, 9, 16]);
    /// # Ok(()) }
    /// ```
    pub fn window(mut self, items: usize) -> Self {
        self.window = items.max(1);
        self
    }

    /// Results yielded so far.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let mut it = pool.imap(square, 0..3u64);
    /// it.next();
    /// assert_eq!(it.completed(), 1);
    /// # Ok(()) }
    /// ```
    pub fn completed(&self) -> usize {
        self.yielded
    }

    fn window_items(&self) -> usize {
        if self.window > 0 {
            self.window.max(self.chunksize)
        } else {
            self.chunksize * (4 * self.pool.processes()).max(8)
        }
    }

    /// Sends chunks until the window is full or the source is done, once half the window (at
    /// least a chunk) is free: the chunks of one refill are submitted together, and the scheduler
    /// sends each worker its share in one write.
    fn refill(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let window = self.window_items();
        let in_flight = self.submitted - self.yielded;
        if in_flight > 0 && window - in_flight.min(window) < (window / 2).max(self.chunksize) {
            return;
        }
        let mut jobs = Vec::new();
        let mut planned = self.submitted;
        while planned - self.yielded < window {
            let items: Vec<I::Item> = self.source.by_ref().take(self.chunksize).collect();
            if items.is_empty() {
                break;
            }
            let (frame, fds) = match chunk::task_frame(
                &self.prefix,
                &items,
                self.encode,
                self.pool.sched.carries_fds(),
            ) {
                Ok(f) => f,
                Err(e) => {
                    // The chunks built before it still go out; nothing after it does.
                    self.failed = Some(e);
                    break;
                }
            };
            let count = items.len();
            jobs.push(Job::new(
                self.kind,
                frame,
                fds,
                self.sink.clone(),
                planned,
                count,
            ));
            planned += count;
        }
        if jobs.is_empty() {
            return;
        }
        match self.pool.sched.submit(jobs) {
            Ok(()) => self.submitted = planned,
            Err(e) => {
                self.failed.get_or_insert(e);
            }
        }
    }

    /// Moves what has arrived, in yielding order, from the sink into `ready`.
    fn collect(&mut self, arrived: &mut Arrived<R>) {
        match arrived {
            Arrived::InOrder(m) => {
                let mut next = self.yielded + self.ready.len();
                while let Some(r) = m.remove(&next) {
                    self.ready.push_back(r);
                    next += 1;
                }
            }
            Arrived::AsDone(q) if self.ready.is_empty() => std::mem::swap(&mut self.ready, q),
            Arrived::AsDone(q) => self.ready.extend(q.drain(..)),
        }
    }

    fn take_ready(&mut self) -> Option<Result<R>> {
        if let Some(r) = self.ready.pop_front() {
            return Some(r);
        }
        let sink = self.sink.clone();
        let mut s = lock(&sink.shared);
        let mut spun = false;
        loop {
            self.collect(&mut s.arrived);
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            if self.yielded >= self.submitted {
                return None;
            }
            if !spun {
                // The next chunk is usually a few microseconds away: watching for it (yielding the
                // core to the workers meanwhile) costs far less than being woken for it.
                spun = true;
                let seen = sink.deliveries.load(Ordering::Relaxed);
                drop(s);
                let moved = || sink.deliveries.load(Ordering::Acquire) != seen;
                policy::for_window(moved, None, Between::Yield);
                s = lock(&sink.shared);
                continue;
            }
            s.waiting = true;
            s = crate::poison::wait(&sink.cond, s);
            s.waiting = false;
        }
    }
}

impl<I: Iterator, R: DeserializeOwned + Send + 'static> IMap<'_, I, R> {
    /// Sets up the progress bar on the first call and sends what the window allows.
    fn prepare(&mut self) {
        if self.progress.is_none() {
            let total = match self.source.size_hint() {
                (lo, Some(hi)) if lo == hi => Some(lo),
                _ => None,
            };
            self.progress = Some(Progress::new(self.pool.progress, total));
        }
        self.refill();
    }

    /// What the iterator yields once `take` has given `got` (a result, or the end).
    fn settle(&mut self, got: Option<Result<R>>) -> Option<Result<R>> {
        match got {
            Some(r) => {
                self.yielded += 1;
                if let Some(p) = &self.progress {
                    p.inc(1);
                }
                Some(r)
            }
            None => {
                if let Some(p) = &self.progress {
                    p.finish();
                }
                self.finished = true;
                self.failed.take().map(Err)
            }
        }
    }
}

impl<I: Iterator, R: DeserializeOwned + Send + 'static> Iterator for IMap<'_, I, R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        if self.finished {
            return None;
        }
        self.prepare();
        let got = self.take_ready();
        self.settle(got)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let in_flight = self.submitted - self.yielded;
        let (lo, hi) = self.source.size_hint();
        (
            lo.saturating_add(in_flight),
            hi.and_then(|h| h.checked_add(in_flight)),
        )
    }
}

impl<I: ExactSizeIterator, R: DeserializeOwned + Send + 'static> ExactSizeIterator
    for IMap<'_, I, R>
{
}

/// Nothing of an `IMap` is pinned in place (no field is projected): the results it holds may move,
/// whatever their type, as before they were buffered here.
impl<I: Iterator + Unpin, R> Unpin for IMap<'_, I, R> {}

/// With the `async` feature an `IMap` is also a [`Stream`](futures_core::Stream): each result is
/// awaited without a blocked thread (the supervisor wakes the task when one arrives), in the same
/// order as the iterator gives them.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # async fn f(pool: &multiproc::Pool) -> multiproc::Result<()> {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// let mut results = pool.imap(square, 0..100u64);
/// while let Some(r) = poll_fn(|cx| Pin::new(&mut results).poll_next(cx)).await {
///     r?;
/// }
/// # Ok(()) }
/// ```
#[cfg(feature = "async")]
impl<I: Iterator + Unpin, R: DeserializeOwned + Send + 'static> futures_core::Stream
    for IMap<'_, I, R>
{
    type Item = Result<R>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<R>>> {
        let this = self.get_mut();
        if this.finished {
            return std::task::Poll::Ready(None);
        }
        this.prepare();
        let got = match this.ready.pop_front() {
            Some(r) => Some(r),
            None => {
                let sink = this.sink.clone();
                let mut s = lock(&sink.shared);
                this.collect(&mut s.arrived);
                let got = this.ready.pop_front();
                if got.is_none() && this.yielded < this.submitted {
                    // Registered while the results are locked: a result delivered after this
                    // wakes us.
                    lock(&sink.wakers).push(cx.waker().clone());
                    return std::task::Poll::Pending;
                }
                got
            }
        };
        std::task::Poll::Ready(this.settle(got))
    }
}
