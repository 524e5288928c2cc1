//! The memory layout of a queue block: a header of locks, committed cursors, futex words and the
//! table of handles, followed by the ring bytes. A cursor packs a byte position and a message count in
//! one word, so that the bytes of a message and the count that makes it visible are committed by one
//! store: a process killed before that store leaves nothing behind.

use crate::sys::mutex::RobustMutex;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// Identifies a queue block (and its layout version: 3 stores a registration's process as a packed
/// `ProcessId`, and its robust mutexes record their holder; 4 adds the shutdown word; 5 adds bulk
/// records).
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"mpqring5");
/// Handles tracked for liveness in the table; more are counted by pins (see `slots`).
pub(crate) const SLOTS: usize = 256;
/// Bytes of a record header: payload length and flags.
pub(crate) const RECORD_HEADER: u32 = 8;
/// The record starts a message.
pub(crate) const FIRST: u32 = 1;
/// The record ends a message.
pub(crate) const LAST: u32 = 2;
/// The record holds part of a bulk byte string of the message: a byte string of at least
/// [`codec::BULK_MIN`](crate::codec::BULK_MIN) bytes that the encoder wrote straight into the ring
/// instead of into the message's main bytes, and that the reader collects into a buffer of its own
/// (see `Stream`). Its main bytes hold only the length.
pub(crate) const BULK: u32 = 4;
/// With [`BULK`]: the record opens a bulk byte string; its 8-byte payload is the string's length.
pub(crate) const BULK_LEN: u32 = 8;
/// Smallest and largest ring, in bytes (powers of two). The largest keeps the number of records in
/// the ring below 2^23, so that 32-bit message counts never wrap ambiguously.
pub(crate) const MIN_RING: usize = 4 << 10;
pub(crate) const MAX_RING: usize = 64 << 20;
/// Default ring size.
pub(crate) const DEFAULT_RING: usize = 1 << 20;

/// A slot role bit: the handle has put at least once.
pub(crate) const PUT: u32 = 1;
/// A slot role bit: the handle has got at least once.
pub(crate) const GOT: u32 = 2;
/// A slot role bit: the handle holds messages in its local buffer that its feeder has not written
/// to the ring yet (set and cleared, unlike the two above).
pub(crate) const FEEDING: u32 = 4;

/// The shutdown word: the queue is open.
pub(crate) const OPEN: u32 = 0;
/// The shutdown word: `shutdown(immediate=False)`: puts fail, gets drain what is left, then fail.
pub(crate) const DRAINING: u32 = 1;
/// The shutdown word: `shutdown(immediate=True)`: puts and gets fail at once.
pub(crate) const SHUT: u32 = 2;

/// Bytes a record of `len` payload bytes takes in the ring (8-aligned).
pub(crate) fn record_size(len: usize) -> u64 {
    RECORD_HEADER as u64 + (len as u64).next_multiple_of(8)
}

/// A committed position: the byte position (wrapping) and the number of whole messages (wrapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub pos: u32,
    pub count: u32,
}

impl Cursor {
    pub(crate) fn pack(self) -> u64 {
        (u64::from(self.count) << 32) | u64::from(self.pos)
    }

    pub(crate) fn unpack(word: u64) -> Cursor {
        Cursor {
            pos: word as u32,
            count: (word >> 32) as u32,
        }
    }
}

/// Keeps what one side writes off the cache lines the other side reads.
#[repr(C, align(64))]
pub(crate) struct Padded<T>(pub T);

/// A futex word and the number of processes sleeping on it: wakers make a system call only when
/// someone sleeps.
#[repr(C)]
pub(crate) struct Waiters {
    pub seq: AtomicU32,
    pub sleepers: AtomicU32,
}

/// One handle's entry in the liveness table.
#[repr(C)]
pub(crate) struct Registration {
    /// `generation:24 | roles:8 | pid:32` ([`PUT`] / [`GOT`] and a claim-in-progress bit); pid 0 is
    /// a free slot. Changed only by compare-and-swap (see `slots`).
    pub owner: AtomicU64,
    /// The owner as a packed `sys::identity::ProcessId` (pid and start time), 0 while unknown;
    /// written by the claimer while the owner word says the claim is in progress.
    pub process: AtomicU64,
}

/// The start of every queue block. Zero bytes are a valid state for every atomic field; `magic`,
/// `cap`, `maxsize` and the two mutexes are written once by the creator before the block is shared.
#[repr(C)]
pub(crate) struct Header {
    pub magic: u64,
    /// Ring bytes, a power of two.
    pub cap: u64,
    /// Most whole messages in the queue; 0 for unbounded.
    pub maxsize: u64,
    /// Held by the one producer writing; a message is written whole (or streamed) under it.
    pub put_lock: Padded<RobustMutex>,
    /// The head as last seen by the writer (only the `put_lock` holder touches it).
    pub seen_head: Padded<AtomicU64>,
    /// Held by the one consumer reading.
    pub get_lock: Padded<RobustMutex>,
    /// The tail as last seen by the reader (only the `get_lock` holder touches it).
    pub seen_tail: Padded<AtomicU64>,
    /// Committed end of the written records, a packed [`Cursor`] (count = messages put).
    pub tail: Padded<AtomicU64>,
    /// Start of the unread records, a packed [`Cursor`] (count = messages got).
    pub head: Padded<AtomicU64>,
    /// The reader sleeps here for data.
    pub data: Padded<Waiters>,
    /// The writer sleeps here for space.
    pub space: Padded<Waiters>,
    /// `JoinableQueue`: `task_done` calls, and joiners sleeping for it to reach the count put.
    pub done: Padded<AtomicU64>,
    /// Messages ever put, as of the last multiple of `tasks::PUTS_EPOCH`: extends the tail's 32-bit
    /// count to 64 bits (only the `put_lock` holder writes it).
    pub puts_base: Padded<AtomicU64>,
    pub joiners: Padded<Waiters>,
    /// [`OPEN`], [`DRAINING`] or [`SHUT`]; only ever raised.
    pub shutdown: Padded<AtomicU32>,
    pub slots: [Registration; SLOTS],
}

/// Offset of the ring bytes in the block.
pub(crate) const DATA_OFFSET: usize = std::mem::size_of::<Header>().next_multiple_of(4096);
