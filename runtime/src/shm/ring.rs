//! The byte ring under `Queue`: one memfd block holding a header and a ring of records. Writers take
//! the put lock, copy a message in and then commit it with one store of the tail; readers take the get
//! lock, copy out and commit the head the same way. Both locks are robust: a process killed holding one
//! leaves it usable, and a message it had not committed is invisible. Messages larger than the ring
//! are streamed through it as `FIRST .. LAST` records, and so is a queue message holding a bulk byte
//! string (`BULK` records, see `send::Stream`).
//!
//! This module owns the `unsafe` of the queue: the mapping, the header and the raw copies. The
//! protocol lives in the submodules.

mod layout;
mod recv;
mod send;
mod slots;
mod tasks;
mod wait;

pub(crate) use send::{Sender, Stream};
pub(crate) use slots::Member;

use crate::error::{Error, ErrorKind, Result};
use crate::shm::guard::MutexGuard;
use crate::sys;
use crate::sys::mutex::{Locked, RobustMutex};
use layout::{DATA_OFFSET, Header, MAGIC, MAX_RING, MIN_RING, Waiters};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

pub(crate) use layout::{DEFAULT_RING, DRAINING};

/// How long a call may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patience {
    /// Not at all (`try_put` / `try_get`).
    Never,
    /// As `Never`, but a writer that finds the ring full checks for room for
    /// [`SPIN_WINDOW`](crate::policy::SPIN_WINDOW), yielding the core (to a consumer) between checks,
    /// before it gives up: an unbounded queue's `put` before it buffers.
    Brief,
    /// Until the deadline, or for ever.
    Until(Option<Instant>),
}

/// After taking a lock whose holder died: that holder may have died asleep on `busy`, the one word
/// only a holder of the lock sleeps on, leaving its count of sleepers raised for ever (a futex wake
/// on every commit, and `try_put` / `try_get` taking the next holder for asleep). Nobody else can be
/// asleep on it now: reset the count.
fn recovered(locked: Locked, busy: &Waiters) {
    if locked == Locked::OwnerDied {
        busy.sleepers.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A mapped queue block.
pub(crate) struct Ring {
    map: memmap2::MmapRaw,
    fd: OwnedFd,
    /// Ring bytes and message bound, read once (checked) when mapping: every bound on a copy comes
    /// from here, never from the shared header, which another process could damage.
    cap: u32,
    maxsize: usize,
}

// SAFETY: the block is shared memory designed for concurrent use: every field of the header is an
// atomic or a process-shared mutex (or written once before sharing), and the ring bytes are only
// touched by the holder of the put lock (beyond the committed tail) or of the get lock (between head
// and tail), as the protocol in `send`/`recv` guarantees.
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// Creates a block with a ring of `ring_bytes` (rounded up to a power of two within limits) and
    /// at most `maxsize` messages (0: unbounded).
    pub(crate) fn create(ring_bytes: usize, maxsize: usize) -> Result<Ring> {
        if maxsize > (1 << 30) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "queue maxsize {maxsize} is too large: use at most 2^30, or 0 for unbounded"
                ),
            ));
        }
        let cap = ring_bytes.clamp(MIN_RING, MAX_RING).next_power_of_two();
        let fd = sys::block::create("multiproc-queue", DATA_OFFSET + cap)
            .map_err(|e| Error::io("could not create the queue's shared memory", e))?;
        let map =
            sys::block::map(fd.as_fd()).map_err(|e| Error::io("could not map the queue", e))?;
        let header = map.as_mut_ptr().cast::<Header>();
        // SAFETY: the mapping is fresh, zero-filled, large enough and page-aligned for a Header, and no
        // other process has the descriptor yet.
        unsafe {
            (&raw mut (*header).magic).write(MAGIC);
            (&raw mut (*header).cap).write(cap as u64);
            (&raw mut (*header).maxsize).write(maxsize as u64);
            RobustMutex::init(&raw mut (*header).put_lock.0)
                .and_then(|_| RobustMutex::init(&raw mut (*header).get_lock.0))
                .map_err(|e| Error::io("could not initialise the queue's locks", e))?;
        }
        Ok(Ring {
            map,
            fd,
            cap: cap as u32,
            maxsize,
        })
    }

    /// Maps a block received from another process, checking that it is a queue block.
    pub(crate) fn attach(fd: OwnedFd) -> Result<Ring> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidHandle,
                format!("the descriptor received for a queue is not a queue block: {why}"),
            )
        };
        let map =
            sys::block::map(fd.as_fd()).map_err(|e| Error::io("could not map the queue", e))?;
        if map.len() < DATA_OFFSET {
            return Err(invalid("too small"));
        }
        let header = map.as_ptr().cast::<Header>();
        // SAFETY: the mapping holds at least a Header, page-aligned; these words are written once by
        // the creator before the block is shared.
        let (magic, cap, maxsize) = unsafe { ((*header).magic, (*header).cap, (*header).maxsize) };
        if magic != MAGIC {
            return Err(invalid("wrong magic"));
        }
        let cap_ok = cap.is_power_of_two() && (MIN_RING..=MAX_RING).contains(&(cap as usize));
        if !cap_ok || map.len() != DATA_OFFSET + cap as usize || maxsize > (1 << 30) {
            return Err(invalid("inconsistent sizes"));
        }
        Ok(Ring {
            map,
            fd,
            cap: cap as u32,
            maxsize: maxsize as usize,
        })
    }

    /// The block's descriptor, to send to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: checked at create/attach: the mapping holds a valid Header for as long as `self`.
        unsafe { &*self.map.as_ptr().cast::<Header>() }
    }

    /// Ring bytes.
    pub(crate) fn cap(&self) -> u32 {
        self.cap
    }

    /// Most messages, 0 for unbounded.
    pub(crate) fn maxsize(&self) -> usize {
        self.maxsize
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: DATA_OFFSET + cap bytes are mapped (checked at create/attach).
        unsafe { self.map.as_mut_ptr().add(DATA_OFFSET) }
    }

    fn index(&self, pos: u32) -> usize {
        (pos & (self.cap() - 1)) as usize
    }

    /// Copies `src` into the ring at `pos`, wrapping at the end.
    ///
    /// # Safety
    /// The caller holds the put lock and `pos .. pos + src.len()` lies in the free space (at or after
    /// the committed tail, before the head plus the capacity), so no reader looks at these bytes.
    unsafe fn copy_in(&self, pos: u32, src: &[u8]) {
        let at = self.index(pos);
        let first = src.len().min(self.cap() as usize - at);
        // SAFETY: both ranges lie inside the mapped ring (at + first <= cap, rest < cap), no reader
        // touches them (caller contract), and `src` is process-private memory.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.data().add(at), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), self.data(), src.len() - first);
        }
    }

    /// Appends the `len` ring bytes at `pos` to `dst`, wrapping at the end of the ring.
    ///
    /// # Safety
    /// The caller holds the get lock and `pos .. pos + len` lies in committed, unread records
    /// (between head and tail), which no writer touches.
    unsafe fn copy_out(&self, pos: u32, len: usize, dst: &mut Vec<u8>) {
        dst.reserve(len);
        let at = self.index(pos);
        let first = len.min(self.cap() as usize - at);
        let out = dst.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        // SAFETY: as in `copy_in`, with the roles of reader and writer swapped; `out` has room for
        // `len` bytes (reserved above), all of which are initialised before `set_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(at), out, first);
            std::ptr::copy_nonoverlapping(self.data(), out.add(first), len - first);
            dst.set_len(dst.len() + len);
        }
    }

    /// The ring bytes at `pos .. pos + len` if they do not wrap.
    ///
    /// # Safety
    /// As for [`copy_out`](Self::copy_out), for as long as the slice lives.
    unsafe fn contiguous(&self, pos: u32, len: usize) -> Option<&[u8]> {
        let at = self.index(pos);
        // SAFETY: inside the mapped ring, not written while the caller holds the get lock (contract).
        (at + len <= self.cap() as usize)
            .then(|| unsafe { std::slice::from_raw_parts(self.data().add(at), len) })
    }

    /// Takes `lock` within `patience`: `Ok(None)` if it could not. `busy` is the futex word that only
    /// the holder of `lock` sleeps on (`data` for the get lock, `space` for the put lock).
    fn take<'a>(
        &self,
        lock: &'a RobustMutex,
        busy: &Waiters,
        patience: Patience,
    ) -> Result<Option<MutexGuard<'a>>> {
        let got = match patience {
            Patience::Never | Patience::Brief => match lock.try_lock() {
                // The holder sleeps waiting for its peer: the queue is full (or empty).
                Ok(None) if busy.sleepers.load(std::sync::atomic::Ordering::SeqCst) > 0 => Ok(None),
                // The holder is copying: that takes microseconds.
                Ok(None) => lock.lock_until(Instant::now() + crate::policy::TRY_GRACE),
                other => other,
            },
            Patience::Until(None) => lock.lock().map(Some),
            Patience::Until(Some(deadline)) => lock.lock_until(deadline),
        };
        got.map(|g| {
            g.map(|locked| {
                recovered(locked, busy);
                MutexGuard::adopt(lock, locked)
            })
        })
        .map_err(|e| Error::io("could not lock the queue", e))
    }

    /// Writes a record header (payload length and flags) at the 8-aligned `pos`.
    ///
    /// # Safety
    /// As for [`copy_in`](Self::copy_in).
    unsafe fn write_record_header(&self, pos: u32, len: u32, flags: u32) {
        let word = (u64::from(flags) << 32) | u64::from(len);
        // SAFETY: `pos` is 8-aligned and the ring is 4096-aligned with a power-of-two size, so the
        // 8 bytes are aligned and do not wrap; exclusive per the caller contract.
        unsafe {
            self.data()
                .add(self.index(pos))
                .cast::<u64>()
                .write_volatile(word)
        };
    }

    /// Reads the record header at `pos`: (payload length, flags).
    ///
    /// # Safety
    /// As for [`copy_out`](Self::copy_out).
    unsafe fn read_record_header(&self, pos: u32) -> (u32, u32) {
        // SAFETY: aligned, inside the ring, committed and not written concurrently (contract).
        let word = unsafe {
            self.data()
                .add(self.index(pos))
                .cast::<u64>()
                .read_volatile()
        };
        (word as u32, (word >> 32) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;

    /// A holder that dies asleep (here: a thread that exits holding the robust lock, counted as a
    /// sleeper) leaves its sleeper count behind; the next taker of the lock clears it.
    #[test]
    fn a_holder_that_died_asleep_leaves_no_sleeper_behind() {
        let ring = Arc::new(Ring::create(MIN_RING, 0).unwrap());
        for (side, lock_of, waiters_of) in [
            (
                "get",
                (|h: &Header| &h.get_lock.0) as fn(&Header) -> &RobustMutex,
                (|h: &Header| &h.data.0) as fn(&Header) -> &Waiters,
            ),
            ("put", |h: &Header| &h.put_lock.0, |h: &Header| &h.space.0),
        ] {
            let dying = Arc::clone(&ring);
            std::thread::spawn(move || {
                let h = dying.header();
                let held = dying.take(lock_of(h), waiters_of(h), Patience::Until(None));
                waiters_of(h).sleepers.fetch_add(1, SeqCst);
                std::mem::forget(held);
            })
            .join()
            .unwrap();
            let h = ring.header();
            assert_eq!(waiters_of(h).sleepers.load(SeqCst), 1, "{side}");
            let held = ring
                .take(lock_of(h), waiters_of(h), Patience::Never)
                .unwrap();
            assert!(held.is_some(), "{side}: the lock is free again");
            assert_eq!(waiters_of(h).sleepers.load(SeqCst), 0, "{side}");
        }
    }
}
