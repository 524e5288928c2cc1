//! A pair of one-message mailboxes in one memfd block, for strictly alternating request/reply
//! traffic between two processes (a manager proxy and its server thread). Each mailbox has a sequence
//! word the writer bumps after copying a message in, the message's length, and a flag its reader sets
//! before it goes to sleep, so that a writer rings the reader's doorbell only when it sleeps. A message
//! larger than the mailbox travels beside it (the caller's socket) and the mailbox only says so. The
//! reader's CPU is recorded too, so that a writer can tell whether spinning for the answer makes sense.
//!
//! This module owns the `unsafe` of the block: the mapping, the header and the raw copies. Sleeping,
//! doorbells and liveness are the caller's.

use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};

/// Identifies a mailbox block (and its layout version).
const MAGIC: u64 = u64::from_le_bytes(*b"mpmbox01");
/// Offset of the first mailbox's bytes: the header has a page of its own.
const DATA_OFFSET: usize = 4096;
/// Smallest and largest mailbox, in bytes.
const MIN_CAP: usize = 4 << 10;
const MAX_CAP: usize = 16 << 20;
/// The length word's value for "the message travels beside the mailbox".
const BESIDE: u32 = u32::MAX;

/// Which of the two mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Written by the client, read by the server.
    Request = 0,
    /// Written by the server, read by the client.
    Reply = 1,
}

/// What a mailbox held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Posted {
    /// The message, now copied out.
    Inline,
    /// The message was too large for the mailbox: read it from the channel beside it.
    Beside,
}

/// One mailbox's words, on a cache line of its own.
#[repr(C, align(64))]
struct BoxHeader {
    /// Messages posted (wrapping); the reader waits for it to move.
    seq: AtomicU32,
    /// Length of the posted message, or [`BESIDE`].
    len: AtomicU32,
    /// Set by the reader before it sleeps; the writer clears it and rings the doorbell.
    sleeping: AtomicU32,
    /// The reader's CPU plus one (0: unknown), as it last saw it before waiting.
    cpu: AtomicU32,
}

/// The start of a block. Zero bytes are a valid state for the atomics; `magic` and `cap` are written
/// once by the creator before the block is shared.
#[repr(C)]
struct Header {
    magic: u64,
    /// Bytes of each mailbox.
    cap: u64,
    boxes: [BoxHeader; 2],
}

const _: () = assert!(std::mem::size_of::<Header>() <= DATA_OFFSET);

/// A mapped mailbox block.
pub(crate) struct Mailboxes {
    map: memmap2::MmapRaw,
    cap: usize,
}

// SAFETY: the mapping may move to another thread: the header is atomics (and two words written
// before sharing); mailbox bytes are only touched through raw copies by the one writer before it
// posts and the one reader after it sees the post, and the traffic alternates (a reply only after
// its request was read, a request only after the previous reply was read). Not `Sync`: two threads
// of one process posting or taking at once would break the one-writer, one-reader contract.
unsafe impl Send for Mailboxes {}

impl Mailboxes {
    /// Creates a block with two mailboxes of `cap` bytes each (clamped to 4 KiB .. 16 MiB); returns
    /// it with its descriptor, to send to the peer.
    pub(crate) fn create(cap: usize) -> Result<(Mailboxes, OwnedFd)> {
        let cap = cap.clamp(MIN_CAP, MAX_CAP).next_multiple_of(4096);
        let fd = sys::block::create("multiproc-mailbox", DATA_OFFSET + 2 * cap)
            .map_err(|e| Error::io("could not create a mailbox block", e))?;
        let map =
            sys::block::map(fd.as_fd()).map_err(|e| Error::io("could not map a mailbox", e))?;
        let header = map.as_mut_ptr().cast::<Header>();
        // SAFETY: the mapping is fresh, zero-filled, page-aligned and larger than a Header, and no
        // other process has the descriptor yet.
        unsafe {
            (&raw mut (*header).magic).write(MAGIC);
            (&raw mut (*header).cap).write(cap as u64);
        }
        Ok((Mailboxes { map, cap }, fd))
    }

    /// Maps a block received from the peer, checking that it is one and that its size is sealed.
    pub(crate) fn attach(fd: &OwnedFd) -> Result<Mailboxes> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidHandle,
                format!("the descriptor received for a mailbox is not a mailbox block: {why}"),
            )
        };
        if !sys::block::is_size_sealed(fd) {
            return Err(invalid("its size is not sealed"));
        }
        let map =
            sys::block::map(fd.as_fd()).map_err(|e| Error::io("could not map a mailbox", e))?;
        if map.len() < DATA_OFFSET + 2 * MIN_CAP {
            return Err(invalid("too small"));
        }
        let header = map.as_ptr().cast::<Header>();
        // SAFETY: the mapping holds at least a Header, page-aligned. The peer can write these words
        // at any time: they are read through raw pointers (no reference to peer-writable memory),
        // volatile, and checked below.
        let (magic, cap) = unsafe {
            (
                (&raw const (*header).magic).read_volatile(),
                (&raw const (*header).cap).read_volatile(),
            )
        };
        if magic != MAGIC {
            return Err(invalid("wrong magic"));
        }
        let cap = cap as usize;
        if !(MIN_CAP..=MAX_CAP).contains(&cap) || map.len() != DATA_OFFSET + 2 * cap {
            return Err(invalid("inconsistent sizes"));
        }
        Ok(Mailboxes { map, cap })
    }

    /// Bytes a message may have to travel in a mailbox.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    fn words(&self, side: Side) -> &BoxHeader {
        let header = self.map.as_ptr().cast::<Header>();
        // SAFETY: checked at create/attach: the mapping holds a Header for as long as `self`. No
        // reference to the whole header is made (the peer may write its plain words): the pointer
        // goes straight to one BoxHeader, which is only atomics, so a shared reference to it is
        // sound while the peer writes it too.
        unsafe {
            &*(&raw const (*header).boxes)
                .cast::<BoxHeader>()
                .add(side as usize)
        }
    }

    fn data(&self, side: Side) -> *mut u8 {
        // SAFETY: DATA_OFFSET + 2 * cap bytes are mapped (checked at create/attach).
        unsafe {
            self.map
                .as_mut_ptr()
                .add(DATA_OFFSET + side as usize * self.cap)
        }
    }

    /// Messages posted to `side` so far (wrapping). A reader that sees it move may [`take`](Self::take).
    pub(crate) fn seq(&self, side: Side) -> u32 {
        // Sequentially consistent (a plain load on x86): a reader's re-check after marking itself
        // asleep must not be ordered before the mark.
        self.words(side).seq.load(SeqCst)
    }

    /// Posts `msg` to `side` — copied in, or, for `None`, a note that the message travels beside the
    /// mailbox (the caller sends it there next). Returns true when the reader was asleep (or about to
    /// be) and must be woken. The caller is `side`'s only writer and the reader has taken the
    /// previous message (the traffic alternates).
    pub(crate) fn post(&self, side: Side, msg: Option<&[u8]>) -> bool {
        let w = self.words(side);
        let len = match msg {
            Some(bytes) => {
                debug_assert!(bytes.len() <= self.cap);
                let n = bytes.len().min(self.cap);
                // SAFETY: `n` bytes fit in the mailbox; its reader does not look at them until the
                // post below (the caller's contract), and `bytes` is process-private memory.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data(side), n) };
                n as u32
            }
            None => BESIDE,
        };
        w.len.store(len, Relaxed);
        // Publishes the bytes and the length; sequentially consistent with the reader's `sleeping`
        // store, so that either the reader sees this post or this writer sees it sleeping.
        w.seq.fetch_add(1, SeqCst);
        w.sleeping.swap(0, SeqCst) != 0
    }

    /// Copies the message posted to `side` into `out` (replacing its contents). The caller is
    /// `side`'s only reader and has seen [`seq`](Self::seq) move since its last take.
    pub(crate) fn take(&self, side: Side, out: &mut Vec<u8>) -> Result<Posted> {
        let len = self.words(side).len.load(Relaxed);
        if len == BESIDE {
            return Ok(Posted::Beside);
        }
        let len = len as usize;
        if len > self.cap {
            return Err(Error::new(
                ErrorKind::Codec,
                format!(
                    "a mailbox message claims {len} bytes, more than the mailbox's {}",
                    self.cap
                ),
            ));
        }
        out.clear();
        out.reserve(len);
        // SAFETY: `len` <= cap bytes lie in the mailbox, which its writer does not touch until this
        // message is answered (the caller's contract; a misbehaving peer can only garble the bytes,
        // which the caller decodes and checks); `out` has room for `len` bytes, all initialised
        // before `set_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data(side), out.as_mut_ptr(), len);
            out.set_len(len);
        }
        Ok(Posted::Inline)
    }

    /// Records the CPU `side`'s reader waits on.
    pub(crate) fn set_reader_cpu(&self, side: Side, cpu: Option<u32>) {
        self.words(side)
            .cpu
            .store(cpu.map_or(0, |c| c + 1), Relaxed);
    }

    /// The CPU `side`'s reader last waited on.
    pub(crate) fn reader_cpu(&self, side: Side) -> Option<u32> {
        self.words(side).cpu.load(Relaxed).checked_sub(1)
    }

    /// Marks `side`'s reader as asleep (or awake). A reader marks itself, re-checks
    /// [`seq`](Self::seq), and only then sleeps: a post after the mark sees it and wakes the reader.
    pub(crate) fn set_sleeping(&self, side: Side, asleep: bool) {
        self.words(side).sleeping.store(u32::from(asleep), SeqCst);
    }
}
