//! A handle's local buffer and its feeder thread: Python's `Queue` feeder. On an unbounded queue a
//! `put` that finds the ring full (or this handle's buffer already non-empty, to keep its order)
//! appends the encoded message to the handle's buffer and returns; a thread of this process writes
//! the buffer into the ring as consumers make room. The buffer is flushed before the handle's last
//! owner lets go (drop, or `close` in the background), within [`FLUSH_STALL`] of no progress.

use crate::error::{Error, ErrorKind, Result};
use crate::poison;
use crate::shm::ring::{Member, Patience, Sender};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A feeder with nothing to write waits this long for more before its thread ends.
const FEEDER_IDLE: Duration = Duration::from_millis(200);

/// Dropping a handle with buffered messages waits for them to reach the ring while it makes
/// progress; after this long without any message written, it gives up and they are lost.
pub(crate) const FLUSH_STALL: Duration = Duration::from_secs(60);

/// One handle: its registration in the queue and its local buffer.
pub(crate) struct Shared {
    pub(crate) member: Member,
    state: Mutex<Buffer>,
    changed: Condvar,
    closed: AtomicBool,
    cancelled: AtomicBool,
    /// The ring's count of messages got when a put last waited in vain for the buffer to empty
    /// (no consumer moving): puts do not wait again until it changes. `u64::MAX`: none.
    idle_head: AtomicU64,
}

#[derive(Default)]
struct Buffer {
    items: VecDeque<Vec<u8>>,
    /// A message taken by the feeder and being written.
    in_flight: bool,
    /// A feeder thread runs.
    feeder: bool,
    /// The feeder waits for a message (a push must wake it).
    feeder_idle: bool,
    /// The owner let go (drop or close): the feeder drops what can never be delivered.
    closing: bool,
    /// The feeder's last write found no handle that could get (the messages stay buffered).
    stuck: bool,
    /// Why messages were dropped, for the next flush to report.
    lost: Option<Error>,
}

impl Buffer {
    fn pending(&self) -> usize {
        self.items.len() + usize::from(self.in_flight)
    }
}

impl Shared {
    pub(crate) fn new(member: Member) -> Shared {
        Shared {
            member,
            state: Mutex::new(Buffer::default()),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            idle_head: AtomicU64::new(u64::MAX),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// Before a put joins a non-empty buffer: while consumers are taking messages, waits up to
    /// [`SPIN_WINDOW`](crate::policy::SPIN_WINDOW) (yielding the core to them and to the feeder) for
    /// the buffer to empty, so that a producer faster than its consumers paces itself instead of
    /// growing the buffer (and keeping a core busy) for ever. With no consumer moving it waits once.
    pub(crate) fn pace(&self) {
        let ring = self.member.ring();
        let head = u64::from(ring.got());
        if self.idle_head.load(SeqCst) == head {
            return;
        }
        let empty = || self.member.buffered() == 0;
        if !crate::policy::for_window(empty, None, crate::policy::Between::Yield)
            && u64::from(ring.got()) == head
        {
            self.idle_head.store(head, SeqCst);
        }
    }

    /// Messages in this handle's buffer.
    pub(crate) fn buffered(&self) -> usize {
        self.member.buffered()
    }

    fn publish(&self, st: &Buffer) {
        let n = st.pending();
        let before = self.member.buffered();
        self.member.set_buffered(n);
        if (before == 0) != (n == 0) {
            self.member.set_feeding(n != 0);
        }
        if n == 0 {
            self.changed.notify_all();
        }
    }

    /// Appends an encoded message to the buffer, starting the feeder if none runs.
    pub(crate) fn push(self: &Arc<Self>, msg: Vec<u8>) -> Result<()> {
        let mut st = poison::lock(&self.state);
        st.items.push_back(msg);
        self.publish(&st);
        if st.feeder {
            if st.feeder_idle {
                self.changed.notify_all();
            }
            return Ok(());
        }
        let me = Arc::clone(self);
        match std::thread::Builder::new()
            .name("multiproc-queue-feeder".into())
            .spawn(move || me.feed())
        {
            Ok(_) => {
                st.feeder = true;
                Ok(())
            }
            Err(e) => {
                st.items.pop_back();
                self.publish(&st);
                Err(Error::io(
                    "could not start the queue's feeder thread (the ring is full, so the message must wait in this process)",
                    e,
                ))
            }
        }
    }

    /// The feeder thread: writes the buffer into the ring, oldest first.
    fn feed(self: Arc<Self>) {
        loop {
            let msg = {
                let mut st = poison::lock(&self.state);
                loop {
                    if let Some(msg) = st.items.pop_front() {
                        st.in_flight = true;
                        break msg;
                    }
                    if st.closing {
                        st.feeder = false;
                        self.changed.notify_all();
                        self.member.leave();
                        return;
                    }
                    st.feeder_idle = true;
                    let (next, waited) = self
                        .changed
                        .wait_timeout(st, FEEDER_IDLE)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    st = next;
                    st.feeder_idle = false;
                    if waited.timed_out() && st.items.is_empty() {
                        st.feeder = false;
                        self.changed.notify_all();
                        return;
                    }
                }
            };
            let sent = {
                let _use = self.member.enter();
                self.member
                    .ring()
                    .send(&self.member, &msg, Patience::Until(None), Sender::Feeder)
            };
            let mut st = poison::lock(&self.state);
            st.in_flight = false;
            match sent {
                Ok(()) => st.stuck = false,
                Err(e) if e.is_disconnected() && !st.closing => {
                    // Nobody could get now, but this handle may still get, or be cloned and sent.
                    st.items.push_front(msg);
                    st.stuck = true;
                    self.changed.notify_all();
                    let (next, _) = self
                        .changed
                        .wait_timeout(st, crate::policy::LIVENESS_SLICE)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    st = next;
                }
                Err(e) => {
                    let n = st.items.len() + 1;
                    st.items.clear();
                    st.lost = Some(Error::new(
                        e.kind().clone(),
                        format!("{n} buffered queue messages were dropped: {e}"),
                    ));
                }
            }
            self.publish(&st);
        }
    }

    /// Waits until the buffer is in the ring. `Timeout` at `deadline`; `Disconnected` (messages
    /// kept) when no handle that could get them is alive; the error that made the feeder drop
    /// messages, if it did since the last flush.
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> Result<()> {
        let mut st = poison::lock(&self.state);
        loop {
            if st.pending() == 0 {
                return st.lost.take().map_or(Ok(()), Err);
            }
            if st.stuck {
                return Err(Error::disconnected(format!(
                    "{} messages wait in this handle's buffer and no other handle that could get them is alive",
                    st.pending()
                )));
            }
            let wait = match deadline {
                None => crate::policy::LIVENESS_SLICE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "queue flush timed out with {} messages still in this handle's buffer",
                                st.pending()
                            ),
                        ));
                    }
                    left.min(crate::policy::LIVENESS_SLICE)
                }
            };
            st = self
                .changed
                .wait_timeout(st, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Python's `close()`: no more puts or gets through this handle. Its buffer is still fed to the
    /// ring in the background; the handle stops counting as a peer once that is done.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, SeqCst) {
            return;
        }
        let mut st = poison::lock(&self.state);
        st.closing = true;
        if st.pending() == 0 {
            self.member.leave();
        } else {
            self.changed.notify_all();
        }
    }

    /// Python's `cancel_join_thread()`: dropping this handle does not wait for its buffer.
    pub(crate) fn cancel_join(&self) {
        self.cancelled.store(true, SeqCst);
    }

    /// Python's `join_thread()` at exit: the owner lets go of the handle. Waits for the buffer
    /// unless cancelled, giving up after `stall` without progress (the rest is dropped).
    pub(crate) fn finish(&self, stall: Duration) -> Result<()> {
        self.closed.store(true, SeqCst);
        let mut st = poison::lock(&self.state);
        st.closing = true;
        self.changed.notify_all();
        if self.cancelled.load(SeqCst) {
            return Ok(());
        }
        let mut seen = st.pending();
        let mut since = Instant::now();
        while st.pending() != 0 {
            if st.pending() < seen {
                seen = st.pending();
                since = Instant::now();
            } else if since.elapsed() >= stall {
                // The feeder gives up its blocked write and drops the buffer.
                self.member.abort_sends();
                // (Bounded too: a feeder stuck on the put lock of a peer that never lets go.)
                st = self
                    .changed
                    .wait_timeout_while(st, Duration::from_secs(1), |st| st.pending() != 0)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                break;
            }
            st = self
                .changed
                .wait_timeout(st, crate::policy::LIVENESS_SLICE)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        self.member.leave();
        st.lost.take().map_or(Ok(()), Err)
    }
}
