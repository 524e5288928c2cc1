//! The writer's side: take the put lock, wait for room, copy, commit the tail. A message that fits the
//! ring goes in one record; a larger one is streamed in chunks while readers drain it. The first
//! record waits for the queue's `maxsize` too.

use super::layout::{
    BULK, BULK_LEN, Cursor, DRAINING, FIRST, GOT, LAST, PUT, RECORD_HEADER, SHUT, record_size,
};
use super::tasks::PUTS_EPOCH;
use super::wait::{Slept, notify, sleep_after};
use super::{Member, Patience, Ring};
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

/// Most payload bytes in one record of a streamed message.
const STREAM_PART: usize = 64 << 10;

/// A handle counts as a possible consumer unless it has only ever put.
fn may_get(roles: u32) -> bool {
    roles & GOT != 0 || roles & PUT == 0
}

/// Who is sending: a `put` call, refused from `shutdown()` on, or a handle's feeder writing what was
/// put before, refused only by `shutdown(immediate)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    Put,
    Feeder,
}

impl Sender {
    /// The shutdown level that stops this sender.
    fn stopped_at(self) -> u32 {
        match self {
            Sender::Put => DRAINING,
            Sender::Feeder => SHUT,
        }
    }
}

impl Ring {
    /// `ShutDown` if the queue's shutdown word has reached `level`.
    pub(crate) fn check_shutdown(&self, level: u32) -> Result<()> {
        if self.header().shutdown.0.load(SeqCst) >= level {
            Err(Error::new(
                ErrorKind::ShutDown,
                "the queue was shut down (shutdown() on one of its handles): no more puts are accepted",
            ))
        } else {
            Ok(())
        }
    }

    /// True if a message of `len` bytes goes into the ring in one record (else it is streamed).
    pub(crate) fn fits_whole(&self, len: usize) -> bool {
        record_size(len) <= u64::from(self.cap())
    }

    /// Puts one encoded message.
    pub(crate) fn send(
        &self,
        me: &Member,
        msg: &[u8],
        patience: Patience,
        sender: Sender,
    ) -> Result<()> {
        me.mark(PUT);
        self.check_shutdown(sender.stopped_at())?;
        let whole = record_size(msg.len());
        let cap = u64::from(self.cap());
        if whole > cap && matches!(patience, Patience::Never | Patience::Brief) {
            return Err(Error::new(
                ErrorKind::Full,
                format!(
                    "a {} byte message is larger than the queue's {cap} byte ring: it can only be streamed by put or put_timeout",
                    msg.len()
                ),
            ));
        }
        let h = self.header();
        let Some(_held) = self.take(&h.put_lock.0, &h.space.0, patience)? else {
            return Err(match patience {
                Patience::Never | Patience::Brief => {
                    Error::new(ErrorKind::Full, "the queue is full")
                }
                Patience::Until(_) => Error::new(ErrorKind::Timeout, "queue put timed out"),
            });
        };
        if whole <= cap {
            let tail = self.wait_space(me, whole, true, patience, sender)?;
            // SAFETY: we hold the put lock and `wait_space` found `whole` free bytes at the tail.
            unsafe {
                self.copy_in(tail.pos.wrapping_add(RECORD_HEADER), msg);
                self.write_record_header(tail.pos, msg.len() as u32, FIRST | LAST);
            }
            self.commit_tail(Cursor {
                pos: tail.pos.wrapping_add(whole as u32),
                count: tail.count.wrapping_add(1),
            });
            return Ok(());
        }
        // Streamed in parts, each committed as soon as it is copied. If we stop half way (timeout,
        // no reader left, killed), readers drop the partial message.
        Parts::new(self, me, patience, sender).write(msg, 0, true)
    }

    /// Starts a message written in parts as it is encoded ([`Stream`]): takes the put lock within
    /// `patience`, which must be `Until` (a stream waits for its readers).
    pub(crate) fn stream<'a>(
        &'a self,
        me: &'a Member,
        patience: Patience,
        sender: Sender,
    ) -> Result<Stream<'a>> {
        me.mark(PUT);
        self.check_shutdown(sender.stopped_at())?;
        let h = self.header();
        let Some(held) = self.take(&h.put_lock.0, &h.space.0, patience)? else {
            return Err(Error::new(ErrorKind::Timeout, "queue put timed out"));
        };
        Ok(Stream {
            parts: Parts::new(self, me, patience, sender),
            _held: held,
        })
    }

    /// True if `need` bytes of the ring are free now (a glance, without the put lock).
    pub(crate) fn has_room(&self, need: usize) -> bool {
        let h = self.header();
        let tail = Cursor::unpack(h.tail.0.load(SeqCst));
        let head = Cursor::unpack(h.head.0.load(SeqCst));
        u64::from(self.cap()).saturating_sub(u64::from(tail.pos.wrapping_sub(head.pos)))
            >= need as u64
    }

    /// Waits (holding the put lock) until `need` bytes are free and, for a message's first record of
    /// a bounded queue, fewer than `maxsize` messages are queued. Returns the tail.
    fn wait_space(
        &self,
        me: &Member,
        need: u64,
        first: bool,
        patience: Patience,
        sender: Sender,
    ) -> Result<Cursor> {
        let h = self.header();
        let cap = u64::from(self.cap());
        let maxsize = self.maxsize() as u32;
        let tail = Cursor::unpack(h.tail.0.load(Relaxed));
        let fits = |head: Cursor| {
            cap.saturating_sub(u64::from(tail.pos.wrapping_sub(head.pos))) >= need
                && (!first || maxsize == 0 || tail.count.wrapping_sub(head.count) < maxsize)
        };
        if fits(Cursor::unpack(h.seen_head.0.load(Relaxed))) {
            return Ok(tail);
        }
        let head_now = || Cursor::unpack(h.head.0.load(SeqCst));
        let stopped = || h.shutdown.0.load(SeqCst) >= sender.stopped_at() || me.sends_aborted();
        loop {
            let head = head_now();
            h.seen_head.0.store(head.pack(), Relaxed);
            if fits(head) {
                return Ok(tail);
            }
            self.check_shutdown(sender.stopped_at())?;
            if me.sends_aborted() {
                return Err(Error::new(
                    ErrorKind::Closed,
                    "this queue handle stopped feeding its buffered messages",
                ));
            }
            let deadline = match patience {
                Patience::Never => return Err(Error::new(ErrorKind::Full, "the queue is full")),
                Patience::Brief => {
                    let room = || fits(head_now());
                    if crate::policy::for_window(room, None, crate::policy::Between::Yield) {
                        continue;
                    }
                    return Err(Error::new(ErrorKind::Full, "the queue is full"));
                }
                Patience::Until(d) => d,
            };
            // In the middle of a message its reader is copying the parts before: check longer.
            let window = if first {
                crate::policy::SPIN_WINDOW
            } else {
                crate::policy::STREAM_WINDOW
            };
            match sleep_after(
                window,
                &h.space.0,
                || fits(head_now()) || stopped(),
                deadline,
            ) {
                Slept::Ready => {}
                Slept::Deadline => {
                    return Err(Error::new(ErrorKind::Timeout, "queue put timed out (full)"));
                }
                Slept::Idle => {
                    if !me.others_alive(may_get) && !me.used_elsewhere() && !fits(head_now()) {
                        return Err(Error::disconnected(
                            "the queue is full and no other handle that could get from it is alive",
                        ));
                    }
                }
            }
        }
    }

    /// True if no handle but `me` could ever get from the queue: a full queue stays full.
    #[cfg(feature = "async")]
    pub(crate) fn nobody_can_get(&self, me: &Member) -> bool {
        !me.others_alive(may_get) && !me.used_elsewhere()
    }

    pub(super) fn commit_tail(&self, tail: Cursor) {
        let h = self.header();
        h.tail.0.store(tail.pack(), SeqCst);
        if tail.count % PUTS_EPOCH == 0 {
            self.advance_puts_base();
        }
        notify(&h.data.0);
    }
}

/// The records of one message being streamed, written by the holder of the put lock: parts of at
/// most [`STREAM_PART`] bytes (a quarter ring for rings under 256 KiB), each committed as soon as it
/// is copied, so that a reader copies one part out while the next goes in (one record of a whole
/// ring would have each side wait for the other).
struct Parts<'a> {
    ring: &'a Ring,
    me: &'a Member,
    patience: Patience,
    sender: Sender,
    /// No record written yet: the next carries [`FIRST`] and waits for the queue's `maxsize`.
    first: bool,
}

impl<'a> Parts<'a> {
    fn new(ring: &'a Ring, me: &'a Member, patience: Patience, sender: Sender) -> Parts<'a> {
        Parts {
            ring,
            me,
            patience,
            sender,
            first: true,
        }
    }

    /// Writes `data` as records that all carry `flags`; with `last`, the final one carries
    /// [`LAST`] (an empty `data` is then one empty record). An empty `data` that is not last writes
    /// nothing.
    fn write(&mut self, data: &[u8], flags: u32, last: bool) -> Result<()> {
        let ring = self.ring;
        let h = ring.header();
        let cap = u64::from(ring.cap());
        let part = STREAM_PART.min(cap as usize / 4);
        let mut sent = 0;
        while sent < data.len() || (last && sent == 0 && data.is_empty()) {
            let rest = data.len() - sent;
            let need = record_size(rest.min(part));
            let tail = ring.wait_space(self.me, need, self.first, self.patience, self.sender)?;
            let head = Cursor::unpack(h.seen_head.0.load(Relaxed));
            let free = cap.saturating_sub(u64::from(tail.pos.wrapping_sub(head.pos)));
            let chunk = rest
                .min((free - u64::from(RECORD_HEADER)) as usize)
                .min(part);
            let ends = last && chunk == rest;
            let flags = flags | if self.first { FIRST } else { 0 } | if ends { LAST } else { 0 };
            // SAFETY: we hold the put lock; `free` bytes at the tail are unused and the record takes
            // at most that (`free` is a multiple of 8).
            unsafe {
                ring.copy_in(
                    tail.pos.wrapping_add(RECORD_HEADER),
                    &data[sent..sent + chunk],
                );
                ring.write_record_header(tail.pos, chunk as u32, flags);
            }
            ring.commit_tail(Cursor {
                pos: tail.pos.wrapping_add(record_size(chunk) as u32),
                count: tail.count.wrapping_add(u32::from(ends)),
            });
            self.first = false;
            sent += chunk;
            if ends {
                break;
            }
        }
        Ok(())
    }
}

/// A message written into the ring while it is being encoded, under the put lock: its main bytes
/// in parts, and each bulk byte string (see [`BULK`]) copied straight from the value being put, so
/// that a large buffer is copied once on the way in. Readers see the message when [`finish`]
/// commits its last record; a stream dropped unfinished (an encoding error, a timeout) leaves a
/// partial message that readers drop, as they drop one whose writer died.
///
/// [`finish`]: Stream::finish
pub(crate) struct Stream<'a> {
    parts: Parts<'a>,
    _held: crate::shm::guard::MutexGuard<'a>,
}

impl Stream<'_> {
    /// Appends main bytes of the message.
    pub(crate) fn main(&mut self, bytes: &[u8]) -> Result<()> {
        self.parts.write(bytes, 0, false)
    }

    /// Appends one bulk byte string: a [`BULK_LEN`] record with its length, then its bytes.
    pub(crate) fn bulk(&mut self, bytes: &[u8]) -> Result<()> {
        let len = (bytes.len() as u64).to_le_bytes();
        self.parts.write(&len, BULK | BULK_LEN, false)?;
        self.parts.write(bytes, BULK, false)
    }

    /// Appends the last main bytes and commits the message.
    pub(crate) fn finish(mut self, rest: &[u8]) -> Result<()> {
        self.parts.write(rest, 0, true)
    }
}
