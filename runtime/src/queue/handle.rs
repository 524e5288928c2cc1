//! [`Queue`]: Python's `multiprocessing.Queue`, a multi-producer multi-consumer queue between
//! processes over a ring in shared memory.

use super::feeder::{FLUSH_STALL, Shared};
use super::{PutError, QueueBuilder};
use crate::codec;
use crate::codec::Spilled;
use crate::error::{Error, ErrorKind, Result};
use crate::shm::ring::{Member, Patience, Ring, Sender, Stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A queue of `T` shared between processes. Python: `multiprocessing.Queue`.
///
/// Any number of processes (and threads) put and get; every message goes to exactly one getter, in
/// the order it was put. A `Queue` is cheap to clone and is a valid worker argument: each clone is one
/// more handle on the same queue. Values are encoded with the [codec](crate::codec) and copied through
/// a ring in shared memory — no system call unless a caller has to sleep. Messages of any size are
/// accepted: those larger than the ring are streamed through it.
///
/// A `get` on an empty queue errors with [`ErrorKind::Disconnected`] once no other handle that could
/// put is alive (every other handle was dropped or closed, or its process died, or it only ever got);
/// a `put` on a full bounded queue does the same once no handle that could get is left. A `put` on an
/// unbounded queue never waits: what the ring cannot take waits in the handle's local buffer, fed
/// to the ring by a thread, as Python's feeder thread does (see [`put`](Self::put)). A producer killed in
/// the middle of a `put` leaves nothing half-written behind.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{worker, Queue};
///
/// #[worker]
/// fn producer(q: Queue<Option<String>>) {
///     for i in 0..3 {
///         q.put(Some(format!("message {i}"))).unwrap();
///     }
///     q.put(None).unwrap();                             // the sentinel
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let q = Queue::<Option<String>>::new()?;          // Python: q = Queue()
///     let p = producer::spawn(q.clone())?;              // Process(target=producer, args=(q,))
///     while let Some(item) = q.get()? {                 // item = q.get()
///         println!("consumed: {item}");
///     }
///     p.join()?;
///     Ok(())
/// }
/// ```
pub struct Queue<T> {
    shared: Arc<Shared>,
    _type: PhantomData<fn(T) -> T>,
    _share_by_cloning: PhantomData<ShareByCloning>,
}

/// Makes a handle `Send` but not `Sync`: threads share a queue by cloning the handle (cheap), not
/// by reference. A handle is what counts as a live peer: a `get` that finds every other handle gone
/// says `Disconnected` at once, which would be wrong while another thread could still `put` through
/// the very handle the `get` is blocked on. With one handle per thread that cannot happen.
struct ShareByCloning(std::cell::Cell<()>);

thread_local! {
    /// Encoding buffer reused across puts.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How long a put on an unbounded queue streams a message larger than the ring itself before
/// handing it to the feeder.
const STREAM_TRY: Duration = Duration::from_millis(100);

/// Keep at most this much scratch between puts (a message up to this size is encoded into reused
/// memory: no page faults for a fresh buffer each time).
const SCRATCH_KEEP: usize = 64 << 20;

impl<T> Queue<T> {
    pub(crate) fn from_ring(ring: Ring) -> Queue<T> {
        Queue::from_member(Member::join(Arc::new(ring)))
    }

    fn from_member(member: Member) -> Queue<T> {
        Queue {
            shared: Arc::new(Shared::new(member)),
            _type: PhantomData,
            _share_by_cloning: PhantomData,
        }
    }

    /// Options: `maxsize` and the ring size.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u32>::builder().maxsize(100).build()?;
    /// assert_eq!(q.maxsize(), 100);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder::default()
    }

    /// An unbounded queue. Python: `Queue()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<String>::new()?;
    /// q.put("hello".to_string())?;
    /// assert_eq!(q.get()?, "hello");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<Queue<T>> {
        QueueBuilder::default().build()
    }

    /// A queue holding at most `maxsize` messages: `put` blocks while it is full. Python:
    /// `Queue(maxsize)`. `maxsize` 0 means unbounded.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(2)?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert!(q.is_full());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn bounded(maxsize: usize) -> Result<Queue<T>> {
        QueueBuilder::default().maxsize(maxsize).build()
    }

    /// Messages in the queue now (a snapshot: other processes may change it at once), with those
    /// still in this handle's local buffer (see [`put`](Self::put)); other handles' buffers are not
    /// counted. Python: `q.qsize()`. It answers on a closed handle too (the queue's state, read from the shared ring,
    /// which the handle keeps mapped), where Python's `qsize()`/`empty()` raise "is closed": check
    /// [`is_closed`](Self::is_closed) where that matters. The same holds for
    /// [`is_empty`](Self::is_empty) and [`is_full`](Self::is_full).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.len(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.ring().len() + self.shared.buffered()
    }

    /// True if no message is queued. Python: `q.empty()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// assert!(q.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if the queue is bounded and holds `maxsize` messages. Python: `q.full()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// assert!(!q.is_full());
    /// q.put(7)?;
    /// assert!(q.is_full());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        let max = self.maxsize();
        max != 0 && self.len() >= max
    }

    /// The bound given at creation, 0 for unbounded.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Queue::<u8>::new()?.maxsize(), 0);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.ring().maxsize()
    }

    /// Size of the shared ring in bytes.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::Queue::<u8>::new()?.ring_bytes(), 1 << 20);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn ring_bytes(&self) -> usize {
        self.ring().cap() as usize
    }

    /// Closes this handle: its `put` and `get` error with [`ErrorKind::Closed`] from now on, and it
    /// no longer counts as a producer or consumer for the other handles (a `get` blocked elsewhere
    /// errors with `Disconnected` when this was the last producer) once its local buffer is in the
    /// ring: messages it buffered are still written, in the background. Other handles are
    /// unaffected. Python: `q.close()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.close();
    /// assert_eq!(q.put(1).unwrap_err().kind(), &multiproc::ErrorKind::Closed);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn close(&self) {
        self.shared.close();
    }

    /// Waits until every message this handle buffered (see [`put`](Self::put)) is in the ring,
    /// where any handle can get it. Errors with [`ErrorKind::Disconnected`] (the messages stay
    /// buffered, and are written if a consumer appears) when no other handle that could get them is
    /// alive, and with the error that made the feeder drop buffered messages, if it did
    /// (`ShutDown` after `shutdown(immediate)`). Python: `q.join_thread()` (which needs a `close()`
    /// first; this does not).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.flush()?;                                 // nothing buffered: returns at once
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        self.shared.flush(None)
    }

    /// Like [`flush`](Self::flush), giving up with [`ErrorKind::Timeout`] after `timeout` (the
    /// messages stay buffered).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.flush_timeout(std::time::Duration::from_millis(5))?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.shared.flush(crate::sys::deadline_after(timeout))
    }

    /// [`close`](Self::close), then waits up to `timeout` for this handle's buffered messages to
    /// reach the ring ([`flush_timeout`](Self::flush_timeout)); what is still buffered then goes on
    /// being written in the background while the handle lives. Python: `q.close(); q.join_thread()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.close_timeout(std::time::Duration::from_secs(1))?;
    /// assert!(q.is_closed());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn close_timeout(&self, timeout: Duration) -> Result<()> {
        self.shared.close();
        self.flush_timeout(timeout)
    }

    /// Dropping this handle will not wait for its buffered messages: whatever is not in the ring
    /// when the process exits is lost. Python: `q.cancel_join_thread()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.cancel_join_thread();
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn cancel_join_thread(&self) {
        self.shared.cancel_join();
    }

    /// Messages put through this handle that wait in its local buffer for room in the ring.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.put(1)?;
    /// assert_eq!(q.buffered(), 0);               // it went straight into the ring
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn buffered(&self) -> usize {
        self.shared.buffered()
    }

    /// Shuts the queue down, for every handle in every process. Python 3.13: `q.shutdown(immediate)`.
    ///
    /// From now on `put` errors with [`ErrorKind::ShutDown`] (a `put` blocked on a full queue too).
    /// With `immediate` false, `get` goes on returning what was put before (messages still in a
    /// handle's local buffer included) and errors with `ShutDown` once nothing is left. With
    /// `immediate` true, the queue is emptied, `get` errors with `ShutDown` at once (blocked ones
    /// too), buffered messages are dropped, and on a [`JoinableQueue`](crate::JoinableQueue) every
    /// message dropped counts as a task done, so `join` returns once the messages already taken
    /// are marked done. Returns the number of messages dropped. A second call can only raise the level.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use multiproc::ErrorKind;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// q.put(1)?;
    /// q.shutdown(false)?;
    /// assert_eq!(q.put(2).unwrap_err().kind(), &ErrorKind::ShutDown);
    /// assert_eq!(q.get()?, 1);                    // what was put is still there
    /// assert_eq!(q.get().unwrap_err().kind(), &ErrorKind::ShutDown);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn shutdown(&self, immediate: bool) -> Result<usize> {
        self.ring().shutdown(immediate)
    }

    /// True once [`shutdown`](Self::shutdown) was called on any handle of the queue.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// assert!(!q.is_shut_down());
    /// q.clone().shutdown(false)?;
    /// assert!(q.is_shut_down());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.ring().is_shut_down()
    }

    /// True once [`close`](Self::close) was called on this handle (its `put` and `get` then fail with
    /// [`ErrorKind::Closed`]; [`len`](Self::len), [`is_empty`](Self::is_empty) and
    /// [`is_full`](Self::is_full) still answer).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// assert!(!q.is_closed());
    /// q.close();
    /// assert!(q.is_closed());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    pub(crate) fn ring(&self) -> &Ring {
        self.shared.member.ring()
    }

    pub(crate) fn member(&self) -> &Member {
        &self.shared.member
    }
}

fn check_open(shared: &Shared) -> Result<()> {
    if shared.is_closed() {
        Err(Error::new(
            ErrorKind::Closed,
            "this queue handle was closed; use another handle (a clone) of the queue",
        ))
    } else {
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn put_with(&self, value: T, patience: Patience) -> std::result::Result<(), PutError<T>> {
        Self::put_on(&self.shared, value, patience)
    }

    /// `put_with` on the handle's shared state (what an async put holds, the handle being `!Sync`).
    fn put_on(
        shared: &Arc<Shared>,
        value: T,
        patience: Patience,
    ) -> std::result::Result<(), PutError<T>> {
        Self::put_borrowed(shared, &value, patience).map_err(|e| PutError::new(value, e))
    }

    /// A put of a value the caller keeps.
    fn put_borrowed<Q: Serialize + ?Sized>(
        shared: &Arc<Shared>,
        value: &Q,
        patience: Patience,
    ) -> Result<()> {
        let _use = shared.member.enter();
        check_open(shared)?;
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => Self::send_on(shared, value, &mut buf, patience),
            Err(_) => Self::send_on(shared, value, &mut Vec::new(), patience),
        })
    }

    fn send_on<Q: Serialize + ?Sized>(
        shared: &Arc<Shared>,
        value: &Q,
        buf: &mut Vec<u8>,
        patience: Patience,
    ) -> Result<()> {
        buf.clear();
        let bounded = shared.member.ring().maxsize() != 0;
        if !bounded && shared.buffered() != 0 {
            shared.pace();
        }
        // Bulk byte strings go straight from the value into the ring where the put may wait for
        // readers: a bounded `put`/`put_timeout`, or an unbounded put with nothing of this handle
        // buffered before it (else the message joins its buffer, behind those).
        let streaming = match patience {
            Patience::Until(_) if bounded => true,
            _ => !bounded && shared.buffered() == 0,
        };
        let res = match streaming {
            true => Self::send_streaming(shared, value, buf, patience),
            false => {
                encode_whole(value, buf).and_then(|_| Self::send_encoded(shared, buf, patience))
            }
        };
        if buf.capacity() > SCRATCH_KEEP {
            *buf = Vec::new();
        }
        res
    }

    /// Encodes `value` into `buf`, writing it to the ring as a [`Stream`] from its first bulk byte
    /// string on (each copied once, from the value into the ring); a value without one is sent as
    /// encoded. On an unbounded queue a stream that cannot finish (no room in time, no reader) is
    /// dropped (readers drop its part) and the message goes to the handle's buffer whole.
    fn send_streaming<Q: Serialize + ?Sized>(
        shared: &Arc<Shared>,
        value: &Q,
        buf: &mut Vec<u8>,
        patience: Patience,
    ) -> Result<()> {
        let ring = shared.member.ring();
        let bounded = ring.maxsize() != 0;
        let mut stream: Option<Stream<'_>> = None;
        let mut failed: Option<Error> = None;
        let mut spill = |main: &mut Vec<u8>, bulk: &[u8]| {
            let s = match stream.as_mut() {
                Some(s) => s,
                None => {
                    // An unbounded put does not wait for room it can buffer in instead: it
                    // streams a message that fits the ring only into room it has now (one larger
                    // than the ring streams while readers drain it, given a quarter ring to start).
                    let cap = ring.cap() as usize;
                    let need = main.len() + bulk.len() + 64;
                    if !bounded && !ring.has_room(if need <= cap { need } else { cap / 4 }) {
                        return Spilled::Declined;
                    }
                    // A bounded put waits as long as it may; an unbounded one streams for a moment.
                    let stream_patience = if bounded {
                        patience
                    } else {
                        Patience::Until(Some(Instant::now() + STREAM_TRY))
                    };
                    match ring.stream(&shared.member, stream_patience, Sender::Put) {
                        Ok(s) => stream.insert(s),
                        Err(e) => {
                            failed = Some(e);
                            return Spilled::Failed;
                        }
                    }
                }
            };
            match s.main(main).and_then(|_| s.bulk(bulk)) {
                Ok(()) => {
                    main.clear();
                    Spilled::Yes
                }
                Err(e) => {
                    failed = Some(e);
                    Spilled::Failed
                }
            }
        };
        let encoded = codec::encode_spilling(value, buf, &mut spill);
        let res = match (encoded, stream) {
            (Ok(()), Some(s)) => s.finish(buf),
            (Ok(()), None) => return Self::send_encoded(shared, buf, patience),
            (Err(e), _) => Err(failed.unwrap_or(e)),
        };
        match res {
            Err(e)
                if !bounded
                    && matches!(
                        e.kind(),
                        ErrorKind::Full | ErrorKind::Timeout | ErrorKind::Disconnected
                    ) =>
            {
                buf.clear();
                encode_whole(value, buf)?;
                shared.push(buf.to_vec())
            }
            other => other,
        }
    }

    /// Sends an encoded message: into the ring within `patience` (bounded), or as an unbounded put.
    fn send_encoded(shared: &Arc<Shared>, msg: &[u8], patience: Patience) -> Result<()> {
        if shared.member.ring().maxsize() != 0 {
            shared
                .member
                .ring()
                .send(&shared.member, msg, patience, Sender::Put)
        } else {
            Self::put_unbounded(shared, msg)
        }
    }

    /// An unbounded queue never blocks a put: into the ring if it has room and nothing of this
    /// handle waits before it, else into the handle's buffer, which its feeder writes to the ring
    /// (`send_on` gave the feeder a moment first).
    fn put_unbounded(shared: &Arc<Shared>, msg: &[u8]) -> Result<()> {
        let ring = shared.member.ring();
        if shared.buffered() == 0 {
            // A message larger than the ring is streamed while consumers drain it: tried for a
            // moment (a stream cut short is dropped by readers, and the feeder sends it again).
            let patience = if ring.fits_whole(msg.len()) {
                Patience::Brief
            } else {
                Patience::Until(Some(std::time::Instant::now() + STREAM_TRY))
            };
            match ring.send(&shared.member, msg, patience, Sender::Put) {
                // Full, or a stream that found no reader: the feeder writes it when one comes (this
                // very handle's `get` included, as with Python's feeder).
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Full | ErrorKind::Timeout | ErrorKind::Disconnected
                    ) => {}
                done => return done,
            }
        } else {
            ring.check_shutdown(crate::shm::ring::DRAINING)?;
        }
        shared.push(msg.to_vec())
    }

    /// [`get`](Self::get) for async code (feature `async`): waits without a thread (see
    /// [`aio`](crate::aio)), with the same errors (`Disconnected` when no other handle could put).
    /// The future owns what it needs (`Send + 'static`: spawn it on any executor) and is
    /// cancellation-safe: dropped before it completes, it has taken nothing.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # async fn f(q: multiproc::Queue<u32>) -> multiproc::Result<()> {
    /// let item = q.get_async().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    pub fn get_async(&self) -> impl std::future::Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        async move {
            loop {
                match Self::get_from(&shared, Patience::Never) {
                    Err(e) if e.kind() == &ErrorKind::Empty => {
                        if shared.member.ring().nobody_can_put(&shared.member) {
                            return Err(Error::disconnected(
                                "the queue is empty and no other handle that could put to it is alive",
                            ));
                        }
                        let watched = Arc::clone(&shared);
                        crate::aio::check(move || {
                            watched.member.ring().get_would_not_wait(&watched.member)
                        })
                        .await;
                    }
                    other => return other,
                }
            }
        }
    }

    /// `JoinableQueue::join` for async code: waits until every task is done, without a thread.
    #[cfg(feature = "async")]
    pub(crate) fn join_tasks_async(
        &self,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            loop {
                let ring = shared.member.ring();
                if ring.unfinished() == 0 {
                    return Ok(());
                }
                if !shared.member.others_alive(|_| true) {
                    return Err(Error::disconnected(format!(
                        "{} tasks are not done and no other handle of the queue is alive",
                        ring.unfinished()
                    )));
                }
                let watched = Arc::clone(&shared);
                crate::aio::check(move || {
                    watched.member.ring().unfinished() == 0
                        || !watched.member.others_alive(|_| true)
                })
                .await;
            }
        }
    }

    /// [`put`](Self::put) for async code (feature `async`). An unbounded queue never waits (the put
    /// is done when this is called; the future only reports it); a bounded one waits without a
    /// thread while it is full, and gives the value back in the [`PutError`] as `put` does.
    #[cfg(feature = "async")]
    pub fn put_async(
        &self,
        value: T,
    ) -> impl std::future::Future<Output = std::result::Result<(), PutError<T>>> + Send + 'static
    where
        T: Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let first = if self.maxsize() == 0 {
            Ok(self.put(value))
        } else {
            Err(value)
        };
        async move {
            let mut item = match first {
                Ok(done) => return done,
                Err(item) => item,
            };
            loop {
                match Self::put_on(&shared, item, Patience::Never) {
                    Err(e) if e.kind() == &ErrorKind::Full => {
                        if shared.member.ring().nobody_can_get(&shared.member) {
                            return Err(PutError::new(
                                e.into_inner(),
                                Error::disconnected(
                                    "the queue is full and no other handle that could get from it is alive",
                                ),
                            ));
                        }
                        item = e.into_inner();
                        let watched = Arc::clone(&shared);
                        crate::aio::check(move || {
                            let ring = watched.member.ring();
                            ring.len() < ring.maxsize() || ring.is_shut_down()
                        })
                        .await;
                    }
                    other => return other,
                }
            }
        }
    }

    /// Puts `value`. On an unbounded queue it never waits: when the ring is full (or, to keep this
    /// handle's order, while earlier messages wait), the encoded message waits in this handle's
    /// local buffer, and a feeder thread writes it to the ring as consumers make room — Python's
    /// feeder thread. Dropping the handle waits for that (see [`flush`](Self::flush),
    /// [`cancel_join_thread`](Self::cancel_join_thread)); a process killed first loses them. On a
    /// bounded queue it waits while `maxsize` messages are queued (or the ring is full).
    ///
    /// On error the value comes back in the [`PutError`]: [`ErrorKind::Disconnected`] if a
    /// bounded queue stays full and no other handle that could get is alive,
    /// [`ErrorKind::Closed`] after [`close`](Self::close), [`ErrorKind::ShutDown`] after
    /// [`shutdown`](Self::shutdown). Python: `q.put(obj)`.
    ///
    /// It takes the value, unlike [`Connection::send`](crate::Connection::send) which borrows it: a put
    /// that fails hands the value back in [`PutError`] (Python's `put` loses nothing either), which
    /// a borrowed put could not do without a clone.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<(u32, String)>::new()?;
    /// q.put((1, "one".to_string()))?;
    /// assert_eq!(q.get()?, (1, "one".to_string()));
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn put(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.put_with(value, Patience::Until(None))
    }

    /// Like [`put`](Self::put), but the value is borrowed and stays with the caller, as with Python's
    /// `q.put(obj)`, which pickles `obj` and leaves it alone: a value sent many times (or kept after
    /// sending) needs no clone. It takes any borrowed form of `T` (`&str` for a `Queue<String>`,
    /// `&[u8]` for a `Queue<Vec<u8>>`), as the other borrowing methods do. The same errors as `put`,
    /// without a value to hand back.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<Vec<u8>>::new()?;
    /// let frame = vec![7u8; 1 << 20];
    /// for _ in 0..3 {
    ///     q.put_ref(&frame)?; // no clone: encoded straight from `frame`
    /// }
    /// q.put_ref(&frame[..16])?; // a slice of it
    /// assert_eq!(q.get()?, frame);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn put_ref<Q>(&self, value: &Q) -> Result<()>
    where
        T: std::borrow::Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        Self::put_borrowed(&self.shared, value, Patience::Until(None))
    }

    /// Like [`put`](Self::put), giving up with [`ErrorKind::Timeout`] after `timeout`. Python:
    /// `q.put(obj, timeout=t)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.put_timeout(1, Duration::from_millis(10))?;
    /// let err = q.put_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err.kind(), &multiproc::ErrorKind::Timeout);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn put_timeout(&self, value: T, timeout: Duration) -> std::result::Result<(), PutError<T>> {
        self.put_with(value, Patience::Until(crate::sys::deadline_after(timeout)))
            .map_err(|e| retitle(e, "put", timeout))
    }

    /// Puts `value` if that needs no waiting, else errors with [`ErrorKind::Full`] (also for a
    /// message larger than the ring, which only [`put`](Self::put) can stream). Python:
    /// `q.put_nowait(obj)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.try_put(1)?;
    /// assert!(q.try_put(2).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_put(&self, value: T) -> std::result::Result<(), PutError<T>> {
        self.put_with(value, Patience::Never)
    }

    fn get_with(&self, patience: Patience) -> Result<T> {
        Self::get_from(&self.shared, patience)
    }

    /// `get_with` on the handle's shared state.
    fn get_from(shared: &Shared, patience: Patience) -> Result<T> {
        let _use = shared.member.enter();
        check_open(shared)?;
        shared
            .member
            .ring()
            .recv(&shared.member, patience, |bytes, bulk| {
                codec::decode_bulk(bytes, bulk)
            })?
    }

    /// Takes the next message, waiting while the queue is empty. Errors with
    /// [`ErrorKind::Disconnected`] if it stays empty and no other handle that could put is alive, and
    /// with [`ErrorKind::Codec`] for a message that does not decode as `T` (the message is consumed,
    /// the queue stays usable). Python: `q.get()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<Vec<u32>>::new()?;
    /// q.put(vec![1, 2, 3])?;
    /// assert_eq!(q.get()?, [1, 2, 3]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.get_with(Patience::Until(None))
    }

    /// Like [`get`](Self::get), giving up with [`ErrorKind::Timeout`] after `timeout`. A message
    /// whose first part has arrived is received whole even if that takes longer. Python:
    /// `q.get(timeout=t)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// let err = q.get_timeout(std::time::Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.get_with(Patience::Until(crate::sys::deadline_after(timeout)))
            .map_err(|e| retitle_error(e, "get", timeout))
    }

    /// Takes the next message if one is there, else errors with [`ErrorKind::Empty`]. Python:
    /// `q.get_nowait()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::new()?;
    /// assert_eq!(q.try_get().unwrap_err().kind(), &multiproc::ErrorKind::Empty);
    /// q.put(5)?;
    /// assert_eq!(q.try_get()?, 5);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<T> {
        self.get_with(Patience::Never)
    }
}

/// Encodes a queue message whole into `buf`, bulk byte strings included (no stream), refusing
/// handles as every queue message does.
fn encode_whole<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<()> {
    codec::encode_spilling(value, buf, &mut |_, _| Spilled::Declined)
}

fn retitle_error(e: Error, what: &str, after: Duration) -> Error {
    if e.is_timeout() {
        Error::timeout(&format!("queue {what}"), after)
    } else {
        e
    }
}

fn retitle<T>(e: PutError<T>, what: &str, after: Duration) -> PutError<T> {
    let (value, error) = e.into_parts();
    PutError::new(value, retitle_error(error, what, after))
}

impl<T> Clone for Queue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        let queue = Queue::from_member(Member::join(Arc::clone(self.member().ring())));
        if self.is_closed() {
            queue.close();
        }
        queue
    }
}

impl<T> Drop for Queue<T> {
    /// Waits for this handle's buffered messages to reach the ring (Python joins the feeder thread
    /// at exit), unless [`cancel_join_thread`](Queue::cancel_join_thread) was called: while they
    /// make progress, or until no handle that could get them is alive (they are lost then), giving
    /// up after a minute without progress.
    fn drop(&mut self) {
        let _ = self.shared.finish(FLUSH_STALL);
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("maxsize", &self.maxsize())
            .field("ring_bytes", &self.ring_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A handle on the wire: the block's descriptor and a ticket (a pin, see `shm::ring::slots`) that
/// keeps the queue counting this handle as alive until the receiver has registered it.
#[derive(Serialize)]
struct WireOut<'a> {
    #[serde(serialize_with = "serialize_borrowed_fd")]
    fd: BorrowedFd<'a>,
    #[serde(serialize_with = "serialize_borrowed_fd")]
    ticket: BorrowedFd<'a>,
    closed: bool,
}

#[derive(Deserialize)]
struct WireIn {
    #[serde(with = "codec::fd")]
    fd: OwnedFd,
    #[serde(with = "codec::fd")]
    ticket: OwnedFd,
    closed: bool,
}

fn serialize_borrowed_fd<S: Serializer>(
    fd: &BorrowedFd<'_>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    codec::serialize_fd(*fd, s)
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        // The ticket's duplicate in the encoded message carries the pin; this one closes on return.
        let ticket = self.member().ticket().map_err(|e| {
            S::Error::custom(format!("could not make a queue handle's ticket: {e}"))
        })?;
        WireOut {
            fd: self.ring().fd(),
            ticket: ticket.as_fd(),
            closed: self.is_closed(),
        }
        .serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = WireIn::deserialize(d)?;
        let ring = Ring::attach(wire.fd).map_err(|e| D::Error::custom(format_args!("{e:#}")))?;
        let queue = Queue::from_member(Member::redeem(Arc::new(ring), wire.ticket));
        if wire.closed {
            queue.close();
        }
        Ok(queue)
    }
}
