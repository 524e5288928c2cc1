//! The reader's side: take the get lock, wait for a record, hand the message's bytes to the caller,
//! commit the head. Records are checked against what a reader expects: a continuation with no start
//! belongs to a message whose reader died (skipped), a new start in the middle of a message means its
//! writer died or gave up (the partial message is dropped), and so is a partial message whose writer no
//! longer holds the put lock.

use super::layout::{
    BULK, BULK_LEN, Cursor, DRAINING, FIRST, GOT, LAST, PUT, RECORD_HEADER, SHUT, record_size,
};
use super::wait::{Slept, notify, sleep_after};
use super::{Member, Patience, Ring};
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};

thread_local! {
    /// The buffer a message streamed in parts is put back together in, reused across gets: a large
    /// message then lands in memory already mapped instead of a fresh, growing `Vec`.
    static REASSEMBLY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keep at most this much reassembly buffer between gets.
const REASSEMBLY_KEEP: usize = 64 << 20;

/// The thread's reassembly buffer, empty (a new one if a nested get holds it).
fn take_reassembly() -> Vec<u8> {
    REASSEMBLY
        .with(|b| b.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)))
        .unwrap_or_default()
}

/// Gives the buffer back for the next get, if it is not too large to keep.
fn give_reassembly(mut buf: Vec<u8>) {
    if buf.capacity() <= REASSEMBLY_KEEP {
        buf.clear();
        REASSEMBLY.with(|b| {
            if let Ok(mut b) = b.try_borrow_mut()
                && b.capacity() < buf.capacity()
            {
                *b = buf;
            }
        });
    }
}

/// A handle counts as a possible producer unless it has only ever got.
fn may_put(roles: u32) -> bool {
    roles & PUT != 0 || roles & GOT == 0
}

/// Most bytes reserved up front for the bulk byte strings of one message, all together: a longer one
/// grows as its records come, so damaged lengths (one, or many) cannot make a reader reserve more
/// than this.
const BULK_RESERVE_MAX: u64 = 1 << 30;

/// The bulk byte strings of the message being read (see [`BULK`]), each in a buffer of its own
/// that the decoder hands to the value as it is (`Bytes` takes it without a copy).
#[derive(Default)]
struct Bulk {
    /// Each part so far, with the length its [`BULK_LEN`] record announced and the main bytes
    /// received before it (where the decoder meets its length).
    parts: Vec<(Vec<u8>, u64, usize)>,
    /// A record did not fit what came before it: the message is dropped when it ends.
    damaged: bool,
    /// Bytes reserved up front so far (at most [`BULK_RESERVE_MAX`]).
    reserved: u64,
}

impl Bulk {
    /// Takes the bulk record of `len` bytes at `body`; `main` main bytes came before it.
    ///
    /// # Safety
    /// As for [`Ring::copy_out`]: the caller holds the get lock and the record is committed.
    unsafe fn take(&mut self, ring: &Ring, body: u32, len: usize, flags: u32, main: usize) {
        if self.damaged {
            return;
        }
        if flags & BULK_LEN != 0 {
            let mut word = Vec::with_capacity(8);
            // SAFETY: caller contract.
            unsafe { ring.copy_out(body, len.min(8), &mut word) };
            let Ok(word) = <[u8; 8]>::try_from(word.as_slice()) else {
                self.damaged = true;
                return;
            };
            let want = u64::from_le_bytes(word);
            let reserve = want.min(BULK_RESERVE_MAX - self.reserved);
            let mut part = Vec::new();
            if part.try_reserve_exact(reserve as usize).is_err() {
                self.damaged = true;
                return;
            }
            self.reserved += reserve;
            self.parts.push((part, want, main));
            return;
        }
        match self.parts.last_mut() {
            Some((part, want, _)) if part.len() as u64 + len as u64 <= *want => {
                // SAFETY: caller contract.
                unsafe { ring.copy_out(body, len, part) }
            }
            _ => self.damaged = true,
        }
    }

    /// The parts with their positions in the main bytes, once the message ended: `None` if they do
    /// not match what was announced.
    fn finish(self) -> Option<Vec<(usize, Vec<u8>)>> {
        let whole = self
            .parts
            .iter()
            .all(|(p, want, _)| p.len() as u64 == *want);
        (!self.damaged && whole).then(|| self.parts.into_iter().map(|(p, _, at)| (at, p)).collect())
    }
}

impl Ring {
    /// Takes one message and returns `read(main bytes, bulk byte strings)` (no bulk strings unless
    /// its writer streamed them, see [`BULK`]; each with the number of main bytes before it). A
    /// message whose first part was received is finished whatever the patience: its writer is
    /// copying it.
    pub(crate) fn recv<R>(
        &self,
        me: &Member,
        patience: Patience,
        read: impl FnOnce(&[u8], Vec<(usize, Vec<u8>)>) -> R,
    ) -> Result<R> {
        me.mark(GOT);
        let h = self.header();
        let Some(_held) = self.take(&h.get_lock.0, &h.data.0, patience)? else {
            return Err(match patience {
                Patience::Never | Patience::Brief => {
                    Error::new(ErrorKind::Empty, "the queue is empty")
                }
                Patience::Until(_) => Error::new(ErrorKind::Timeout, "queue get timed out"),
            });
        };
        let mut partial: Option<Vec<u8>> = None;
        let mut bulk = Bulk::default();
        let shut_down = || {
            Error::new(
                ErrorKind::ShutDown,
                "the queue was shut down (shutdown() on one of its handles) and has nothing left to get",
            )
        };
        loop {
            if partial.is_none() && h.shutdown.0.load(Relaxed) == SHUT {
                return Err(shut_down());
            }
            let head = Cursor::unpack(h.head.0.load(Relaxed));
            let mut tail = Cursor::unpack(h.seen_tail.0.load(Relaxed));
            if tail.pos == head.pos {
                tail = Cursor::unpack(h.tail.0.load(Acquire));
                h.seen_tail.0.store(tail.pack(), Relaxed);
            }
            if tail.pos != head.pos {
                // SAFETY: we hold the get lock and `head` is before the committed tail.
                let (len, flags) = unsafe { self.read_record_header(head.pos) };
                let size = record_size(len as usize);
                let committed = u64::from(tail.pos.wrapping_sub(head.pos));
                if size > committed.min(u64::from(self.cap())) {
                    self.commit_head(tail);
                    return Err(Error::codec(
                        "the queue's ring held a damaged record; the unread messages were dropped",
                    ));
                }
                let next = Cursor {
                    pos: head.pos.wrapping_add(size as u32),
                    count: head.count.wrapping_add(u32::from(flags & LAST != 0)),
                };
                let first = flags & FIRST != 0;
                if !first && partial.is_none() {
                    self.commit_head(next);
                    continue;
                }
                if first {
                    partial = None;
                    bulk = Bulk::default();
                }
                let body = head.pos.wrapping_add(RECORD_HEADER);
                if first && flags & LAST != 0 {
                    // SAFETY: the record lies between head and the committed tail; we hold the get
                    // lock until the head moves past it, after `read`.
                    let out = match unsafe { self.contiguous(body, len as usize) } {
                        Some(bytes) => read(bytes, Vec::new()),
                        None => {
                            let mut bytes = Vec::new();
                            // SAFETY: as above.
                            unsafe { self.copy_out(body, len as usize, &mut bytes) };
                            read(&bytes, Vec::new())
                        }
                    };
                    self.commit_head(next);
                    return Ok(out);
                }
                let bytes = partial.get_or_insert_with(take_reassembly);
                // SAFETY: as above.
                unsafe {
                    if flags & BULK != 0 {
                        bulk.take(self, body, len as usize, flags, bytes.len());
                    } else {
                        self.copy_out(body, len as usize, bytes);
                    }
                }
                self.commit_head(next);
                if flags & LAST != 0 {
                    let out = std::mem::take(&mut bulk)
                        .finish()
                        .map(|parts| read(bytes, parts));
                    if let Some(buf) = partial.take() {
                        give_reassembly(buf);
                    }
                    return out.ok_or_else(|| {
                        Error::codec(
                            "a message's bulk records were damaged (their lengths do not match); the message was dropped",
                        )
                    });
                }
                continue;
            }
            let level = h.shutdown.0.load(SeqCst);
            if partial.is_none() && level >= DRAINING && self.drained(me) {
                return Err(shut_down());
            }
            let deadline = match (patience, &partial) {
                (_, Some(_)) => None,
                (Patience::Never | Patience::Brief, None) => {
                    return Err(Error::new(ErrorKind::Empty, "the queue is empty"));
                }
                (Patience::Until(d), None) => d,
            };
            let has_data = || Cursor::unpack(h.tail.0.load(SeqCst)).pos != head.pos;
            let woken = || has_data() || h.shutdown.0.load(SeqCst) > level;
            let window = if partial.is_some() {
                crate::policy::STREAM_WINDOW
            } else {
                crate::policy::SPIN_WINDOW
            };
            match sleep_after(window, &h.data.0, woken, deadline) {
                Slept::Ready => {}
                Slept::Deadline => {
                    return Err(Error::new(ErrorKind::Timeout, "queue get timed out"));
                }
                Slept::Idle if partial.is_some() => {
                    if self.writer_gone(head) {
                        partial = None;
                        bulk = Bulk::default();
                    }
                }
                Slept::Idle => {
                    if !me.others_alive(may_put)
                        && !me.used_elsewhere()
                        && me.buffered() == 0
                        && !has_data()
                    {
                        return Err(Error::disconnected(
                            "the queue is empty and no other handle that could put to it is alive",
                        ));
                    }
                }
            }
        }
    }

    /// True if a get through `me` would not wait now: a message (or part of one) is there, the
    /// queue was shut down, or no other handle could put (the get then says `Disconnected`). The
    /// async waker's check: a few atomic loads.
    #[cfg(feature = "async")]
    pub(crate) fn get_would_not_wait(&self, me: &Member) -> bool {
        let h = self.header();
        Cursor::unpack(h.tail.0.load(Acquire)).pos != Cursor::unpack(h.head.0.load(Acquire)).pos
            || h.shutdown.0.load(Acquire) != 0
            || self.nobody_can_put(me)
    }

    /// True if no handle but `me` could ever put to the queue, and `me` has nothing buffered: an
    /// empty queue stays empty.
    #[cfg(feature = "async")]
    pub(crate) fn nobody_can_put(&self, me: &Member) -> bool {
        !me.others_alive(may_put) && !me.used_elsewhere() && me.buffered() == 0
    }

    /// After `shutdown()`, with the ring empty: true if no handle still feeds messages put before
    /// the shutdown into the ring (this one included), so a get has nothing more to wait for.
    fn drained(&self, me: &Member) -> bool {
        me.buffered() == 0 && !me.others_feeding()
    }

    /// Raises the shutdown word (Python's `shutdown(immediate)`) and wakes every sleeper. With
    /// `immediate`, empties the ring and counts every message dropped as a task done, so `join`
    /// returns once the messages already taken are marked done. Returns the messages dropped.
    pub(crate) fn shutdown(&self, immediate: bool) -> Result<usize> {
        let h = self.header();
        h.shutdown
            .0
            .fetch_max(if immediate { SHUT } else { DRAINING }, SeqCst);
        let waiters: [&super::layout::Waiters; 3] = [&h.data.0, &h.space.0, &h.joiners.0];
        waiters.into_iter().for_each(notify);
        if !immediate {
            return Ok(0);
        }
        // Getters blocked in `recv` hold the get lock while asleep: they were just woken and leave.
        let Some(_held) = self.take(&h.get_lock.0, &h.data.0, Patience::Until(None))? else {
            return Ok(0);
        };
        let head = Cursor::unpack(h.head.0.load(Relaxed));
        let tail = Cursor::unpack(h.tail.0.load(Acquire));
        let dropped = tail.count.wrapping_sub(head.count) as usize;
        // A message still being streamed loses its first records: readers skip the rest.
        self.commit_head(tail);
        self.tasks_dropped(dropped as u64);
        Ok(dropped)
    }

    /// True if nobody holds the put lock and nothing follows `head`: the message being read can no
    /// longer be finished (its writer died or gave up).
    fn writer_gone(&self, head: Cursor) -> bool {
        let h = self.header();
        match h.put_lock.0.try_lock() {
            Ok(Some(locked)) => {
                super::recovered(locked, &h.space.0);
                let nothing = Cursor::unpack(h.tail.0.load(SeqCst)).pos == head.pos;
                h.put_lock.0.unlock();
                nothing
            }
            _ => false,
        }
    }

    fn commit_head(&self, head: Cursor) {
        let h = self.header();
        h.head.0.store(head.pack(), SeqCst);
        notify(&h.space.0);
    }

    /// True once `shutdown` was called on any handle.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.header().shutdown.0.load(SeqCst) != super::layout::OPEN
    }

    /// Messages ever got (wrapping): moves while consumers take messages.
    pub(crate) fn got(&self) -> u32 {
        Cursor::unpack(self.header().head.0.load(SeqCst)).count
    }

    /// Whole messages in the queue.
    pub(crate) fn len(&self) -> usize {
        let h = self.header();
        let head = Cursor::unpack(h.head.0.load(SeqCst));
        let tail = Cursor::unpack(h.tail.0.load(SeqCst));
        tail.count.wrapping_sub(head.count) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::MIN_RING;
    use super::*;
    use std::sync::Arc;

    /// A damaged header (here a tail far past the ring and a record longer than the ring) gives a
    /// codec error, never a copy beyond the mapping.
    #[test]
    fn a_record_longer_than_the_ring_is_refused() {
        let ring = Arc::new(Ring::create(MIN_RING, 0).unwrap());
        let me = Member::join(Arc::clone(&ring));
        // SAFETY: no other handle exists; position 0 is 8-aligned and inside the ring.
        unsafe { ring.write_record_header(0, 4 * MIN_RING as u32, FIRST | LAST) };
        let tail = Cursor {
            pos: 1 << 30,
            count: 1,
        };
        ring.header().tail.0.store(tail.pack(), SeqCst);
        let err = ring.recv(&me, Patience::Never, |b, _| b.len()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Codec, "{err}");
    }

    /// Writes one record at the tail and commits it, as a writer (or a damaged one) would.
    fn record(ring: &Ring, flags: u32, payload: &[u8]) {
        let h = ring.header();
        let tail = Cursor::unpack(h.tail.0.load(SeqCst));
        // SAFETY: no other handle exists; the tests write far less than the ring holds.
        unsafe {
            ring.copy_in(tail.pos.wrapping_add(RECORD_HEADER), payload);
            ring.write_record_header(tail.pos, payload.len() as u32, flags);
        }
        ring.commit_tail(Cursor {
            pos: tail.pos.wrapping_add(record_size(payload.len()) as u32),
            count: tail.count.wrapping_add(u32::from(flags & LAST != 0)),
        });
    }

    /// Bulk records that do not add up (data without a length, more or fewer bytes than announced,
    /// a length too large to reserve, a length record of the wrong size) drop their message with a
    /// codec error, without reserving what they claim; the message after each arrives intact.
    #[test]
    fn bulk_records_that_do_not_add_up_drop_only_their_message() {
        let ring = Arc::new(Ring::create(MIN_RING, 0).unwrap());
        let me = Member::join(Arc::clone(&ring));
        let len = |n: u64| n.to_le_bytes();
        let damaged: [&[(u32, &[u8])]; 6] = [
            &[(FIRST, b"m"), (BULK, b"data"), (LAST, b"")],
            &[
                (FIRST, b"m"),
                (BULK | BULK_LEN, &len(3)),
                (BULK, b"four"),
                (LAST, b""),
            ],
            &[
                (FIRST, b"m"),
                (BULK | BULK_LEN, &len(5)),
                (BULK, b"four"),
                (LAST, b""),
            ],
            &[
                (FIRST, b"m"),
                (BULK | BULK_LEN, &len(u64::MAX)),
                (LAST, b""),
            ],
            &[(FIRST, b"m"), (BULK | BULK_LEN, b"short"), (LAST, b"")],
            // Many claims of 1 GiB with nothing behind them: at most 1 GiB is reserved in all.
            &[
                (FIRST, b"m"),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (BULK | BULK_LEN, &len(1 << 30)),
                (LAST, b""),
            ],
        ];
        for (i, records) in damaged.iter().enumerate() {
            for &(flags, payload) in *records {
                record(&ring, flags, payload);
            }
            record(&ring, FIRST, b"good ");
            record(&ring, BULK | BULK_LEN, &len(4));
            record(&ring, BULK, b"bu");
            record(&ring, BULK, b"lk");
            record(&ring, LAST, b"end");
            let read = |main: &[u8], bulk: Vec<(usize, Vec<u8>)>| (main.to_vec(), bulk);
            let err = ring.recv(&me, Patience::Never, read).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Codec, "case {i}: {err}");
            let (main, bulk) = ring.recv(&me, Patience::Never, read).unwrap();
            assert_eq!(main, b"good end", "case {i}");
            assert_eq!(
                bulk,
                [(5, b"bulk".to_vec())],
                "case {i}: after the 5 main bytes"
            );
        }
    }
}
