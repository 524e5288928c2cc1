//! Who holds the queue: every handle registers in a slot of the block (its process, roles), so a
//! blocked caller can tell a peer that has gone — dropped its handle, or was killed — from one that is
//! only slow. Slots of dead processes are reclaimed by whoever notices.
//!
//! Handles that have no slot are counted by *pins*: a pin is an open file description of the queue's
//! block holding a shared lock on byte [`PIN_BYTE`] (`sys::pin`). A handle in flight to another process
//! (a [`ticket`](Member::ticket)) is such a pin, serialized beside the block's descriptor: it lives
//! exactly as long as the encoded message — in the sender's buffers, in a socket, in the receiver until
//! it has registered — and the kernel drops its lock when the message is dropped undelivered or every
//! process holding it dies. So a queue never looks abandoned while a handle travels, however long,
//! and a failed send leaves nothing behind. A handle that found the table full holds a pin of its own.

use super::Ring;
use super::layout::{Registration, Waiters};
use super::wait::notify;
use crate::sys;
use crate::sys::identity::{Pid, ProcessId};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};

/// The byte of the block's file that pins lock (locks are advisory and may lie anywhere).
const PIN_BYTE: u64 = 0;

/// One handle's registration; dropping it (or [`leave`](Member::leave)) frees the slot.
pub(crate) struct Member {
    ring: Arc<Ring>,
    /// Slot index and the owner word written there; `None` when the table was full.
    slot: Option<(usize, u64)>,
    /// The handle's pin when it has no slot (`None` also if the pin could not be made).
    pin: std::sync::Mutex<Option<OwnedFd>>,
    roles: AtomicU32,
    left: AtomicBool,
    /// Calls in progress on this handle (threads of this process sharing it by reference, and its
    /// feeder): a blocked call does not take the handle's own other users for gone.
    users: AtomicU32,
    /// Messages in the handle's local buffer (kept by the queue layer): while non-zero the handle
    /// is a live producer for its own getters.
    buffered: AtomicUsize,
    /// Set to make a blocked `send` of this handle give up (its feeder, abandoned).
    abort: AtomicBool,
}

/// One call in progress on a handle; see [`Member::enter`].
pub(crate) struct InUse<'a>(&'a AtomicU32);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// A new pin on `ring`: counts as one live handle until the descriptor (and every duplicate) is closed.
fn pin(ring: &Ring) -> std::io::Result<OwnedFd> {
    let fd = sys::pin::reopen(ring.fd())?;
    sys::pin::share(fd.as_fd(), PIN_BYTE)?;
    Ok(fd)
}

/// The owner word of a slot: `generation:24 | roles:8 | pid:32`, pid 0 for a free slot. Everything
/// about a slot but its process record lives in this one word and changes only by compare-and-swap, so a
/// late scanner can never wipe a new owner's roles, and the generation (bumped by every claim) tells
/// a new owner from the one a scanner read.
const PID: u64 = 0xffff_ffff;
const ROLES: u64 = 0xff << 32;
const GENERATION: u64 = !(PID | ROLES);
const ONE_GENERATION: u64 = 1 << 40;
/// A role bit of the owner word: the claimer is writing its process record. Scanners count such a slot alive.
const BUSY: u64 = 0x80 << 32;

/// The owner word without its roles: who holds the slot, in which generation.
fn identity(word: u64) -> u64 {
    word & (GENERATION | PID)
}

fn roles_of(word: u64) -> u32 {
    ((word & ROLES) >> 32) as u32
}

/// Takes a free slot for this process, recording it as `me`; returns its index and identity. The
/// slot is marked [`BUSY`] until `me` is written, so no scanner judges it by a stale record.
fn claim(ring: &Ring, me: ProcessId) -> Option<(usize, u64)> {
    let pid = u64::from(me.pid().as_u32());
    for (i, slot) in ring.header().slots.iter().enumerate() {
        let word = slot.owner.load(SeqCst);
        if word & PID != 0 {
            continue;
        }
        let mine = (word & GENERATION).wrapping_add(ONE_GENERATION) | pid;
        if slot
            .owner
            .compare_exchange(word, mine | BUSY, SeqCst, SeqCst)
            .is_ok()
        {
            slot.process.store(me.pack(), SeqCst);
            // Nobody else writes a busy slot: this cannot fail.
            let _ = slot
                .owner
                .compare_exchange(mine | BUSY, mine, SeqCst, SeqCst);
            return Some((i, mine));
        }
    }
    None
}

/// Gives `slot` up if it still belongs to `id`: one compare-and-swap of the owner word to a free
/// word of the same generation. Nothing else is written after that, as the slot may be claimed
/// again at once.
fn release(slot: &Registration, id: u64) {
    let _ = slot.owner.fetch_update(SeqCst, SeqCst, |w| {
        (identity(w) == id && w & BUSY == 0).then_some(w & GENERATION)
    });
}

/// Frees `slot` and wakes the sleepers, who re-check who is left.
fn free(ring: &Ring, slot: Option<(usize, u64)>) {
    let h = ring.header();
    if let Some((i, id)) = slot {
        release(&h.slots[i], id);
    }
    let waiters: [&Waiters; 3] = [&h.data.0, &h.space.0, &h.joiners.0];
    waiters.into_iter().for_each(notify);
}

impl Member {
    /// Registers a new handle of this process.
    pub(crate) fn join(ring: Arc<Ring>) -> Member {
        let slot = claim(&ring, ProcessId::this());
        let pin = match slot {
            Some(_) => None,
            None => pin(&ring).ok(),
        };
        Member {
            ring,
            slot,
            pin: std::sync::Mutex::new(pin),
            roles: AtomicU32::new(0),
            left: AtomicBool::new(false),
            users: AtomicU32::new(0),
            buffered: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
        }
    }

    /// Registers the handle that travelled with `ticket`, then lets the ticket go.
    pub(crate) fn redeem(ring: Arc<Ring>, ticket: OwnedFd) -> Member {
        let member = Member::join(ring);
        drop(ticket);
        member
    }

    /// A ticket for a copy of this handle being sent to another process: a pin to serialize beside
    /// the block's descriptor. The queue counts it as a live handle (that may put and get) until the
    /// receiver has registered, or the encoded message is dropped.
    pub(crate) fn ticket(&self) -> std::io::Result<OwnedFd> {
        pin(&self.ring)
    }

    pub(crate) fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// Records that this handle put ([`PUT`](super::layout::PUT)) or got
    /// ([`GOT`](super::layout::GOT)); free after the first time.
    pub(crate) fn mark(&self, role: u32) {
        if self.roles.load(std::sync::atomic::Ordering::Relaxed) & role == 0 {
            self.roles.fetch_or(role, SeqCst);
            if let Some((i, id)) = self.slot {
                // Gives up if the slot is no longer ours (reclaimed while we were taken for dead).
                let _ = self.ring.header().slots[i]
                    .owner
                    .fetch_update(SeqCst, SeqCst, |w| {
                        (identity(w) == id).then_some(w | (u64::from(role) << 32))
                    });
            }
        }
    }

    /// Sets or clears [`FEEDING`](super::layout::FEEDING) in the slot: the handle has messages in
    /// its local buffer that are not in the ring yet.
    pub(crate) fn set_feeding(&self, on: bool) {
        let bit = u64::from(super::layout::FEEDING) << 32;
        if let Some((i, id)) = self.slot {
            let _ = self.ring.header().slots[i]
                .owner
                .fetch_update(SeqCst, SeqCst, |w| {
                    (identity(w) == id).then_some(if on { w | bit } else { w & !bit })
                });
        }
    }

    /// Registers a call in progress on this handle until the guard drops.
    pub(crate) fn enter(&self) -> InUse<'_> {
        self.users.fetch_add(1, SeqCst);
        InUse(&self.users)
    }

    /// True if another call is in progress on this very handle (another thread of this process
    /// sharing it, or its feeder), besides the caller's own.
    pub(crate) fn used_elsewhere(&self) -> bool {
        self.users.load(SeqCst) > 1
    }

    /// Records how many messages wait in the handle's local buffer.
    pub(crate) fn set_buffered(&self, n: usize) {
        self.buffered.store(n, SeqCst);
    }

    /// Messages waiting in the handle's local buffer.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(SeqCst)
    }

    /// Makes a blocked or future `send` of this handle give up with [`ErrorKind::Closed`](crate::ErrorKind::Closed).
    pub(crate) fn abort_sends(&self) {
        self.abort.store(true, SeqCst);
        let h = self.ring.header();
        notify(&h.space.0);
    }

    /// True once [`abort_sends`](Self::abort_sends) ran.
    pub(crate) fn sends_aborted(&self) -> bool {
        self.abort.load(SeqCst)
    }

    /// Frees the slot: this handle no longer counts as a peer. Idempotent.
    pub(crate) fn leave(&self) {
        if !self.left.swap(true, SeqCst) {
            crate::poison::lock(&self.pin).take();
            free(&self.ring, self.slot);
        }
    }

    /// True if a handle other than this one is alive and `counts(roles)` for it. Reclaims the slots of
    /// dead processes on the way. Pins (handles in flight, handles without a slot) always count.
    pub(crate) fn others_alive(&self, counts: impl Fn(u32) -> bool) -> bool {
        self.scan(counts) || self.pins_elsewhere()
    }

    /// True if another handle with a slot, alive, is still feeding its local buffer to the ring.
    pub(crate) fn others_feeding(&self) -> bool {
        self.scan(|roles| roles & super::layout::FEEDING != 0)
    }

    /// The table part of [`others_alive`](Self::others_alive).
    fn scan(&self, counts: impl Fn(u32) -> bool) -> bool {
        let h = self.ring.header();
        let me = ProcessId::this();
        let mut found = false;
        for (i, slot) in h.slots.iter().enumerate() {
            let word = slot.owner.load(SeqCst);
            let pid = word as u32;
            if pid == 0 || self.slot.is_some_and(|(mine, _)| mine == i) {
                continue;
            }
            if word & BUSY != 0 {
                found |= counts(0); // being claimed: a new handle
                continue;
            }
            let record = slot.process.load(SeqCst);
            if slot.owner.load(SeqCst) != word {
                found |= counts(roles_of(word)); // changed meanwhile: judge it next time
                continue;
            }
            // `record` belongs to `word`'s owner: it was written before the slot stopped being busy,
            // and a new claim would have changed the generation.
            let owner = ProcessId::unpack(record).filter(|p| p.pid().as_u32() == pid);
            let gone = if pid == me.pid().as_u32() {
                // A slot left by a dead process whose pid this process now has.
                owner.is_some_and(|p| p != me)
            } else {
                !owner
                    .unwrap_or_else(|| ProcessId::unknown_start(Pid::from_u32(pid)))
                    .is_alive()
            };
            if gone {
                release(slot, identity(word));
                continue;
            }
            found |= counts(roles_of(word));
        }
        found
    }

    /// True if a pin other than this handle's own is held. A test that fails counts as held: better
    /// to wait than to report a live queue abandoned.
    fn pins_elsewhere(&self) -> bool {
        let own = crate::poison::lock(&self.pin);
        let probe = own.as_ref().map_or(self.ring.fd(), |fd| fd.as_fd());
        sys::pin::held_elsewhere(probe, PIN_BYTE).unwrap_or(true)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::ring::layout::{GOT, PUT};

    /// A pid above `pid_max` (at most 2^22 on Linux): never alive.
    const DEAD: u64 = 0x3fff_ffff;

    fn ring() -> Arc<Ring> {
        Arc::new(Ring::create(super::super::layout::MIN_RING, 0).unwrap())
    }

    #[test]
    fn a_slot_being_claimed_counts_alive_and_is_not_reclaimed() {
        let ring = ring();
        let me = Member::join(Arc::clone(&ring));
        let slot = &ring.header().slots[200];
        // Claimed by another process that has not written its process record yet.
        let word = (7 * ONE_GENERATION) | BUSY | DEAD;
        slot.owner.store(word, SeqCst);
        assert!(me.others_alive(|roles| roles == 0));
        assert_eq!(slot.owner.load(SeqCst), word);
        // Once claimed (not busy), a dead owner is reclaimed, keeping the generation.
        slot.owner.store(word & !BUSY, SeqCst);
        assert!(!me.others_alive(|_| true));
        assert_eq!(slot.owner.load(SeqCst), 7 * ONE_GENERATION);
    }

    #[test]
    fn a_handle_taken_for_dead_cannot_touch_its_slots_next_owner() {
        let ring = ring();
        let me = Member::join(Arc::clone(&ring));
        let (i, id) = me.slot.unwrap();
        let slot = &ring.header().slots[i];
        // Our slot was reclaimed and claimed again by someone else, who has got.
        let next = ((id & GENERATION) + ONE_GENERATION) | (u64::from(GOT) << 32) | DEAD;
        slot.owner.store(next, SeqCst);
        me.mark(PUT);
        assert_eq!(
            slot.owner.load(SeqCst),
            next,
            "mark changed another owner's roles"
        );
        me.leave();
        assert_eq!(
            slot.owner.load(SeqCst),
            next,
            "leave freed another owner's slot"
        );
    }

    #[test]
    fn roles_live_in_the_owner_word() {
        let ring = ring();
        let me = Member::join(Arc::clone(&ring));
        let other = Member::join(Arc::clone(&ring));
        other.mark(PUT);
        assert!(me.others_alive(|roles| roles == PUT));
        other.mark(GOT);
        assert!(me.others_alive(|roles| roles == PUT | GOT));
        drop(other);
        assert!(!me.others_alive(|_| true));
    }
}
