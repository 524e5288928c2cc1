//! Who holds the queue: every handle registers in a slot of the block (pid, start time, roles), so a
//! blocked caller can tell a peer that has gone — dropped its handle, or was killed — from one that is
//! only slow. Slots of dead processes are reclaimed by whoever notices.
//!
//! Handles that have no slot are counted by *pins*: a pin is an open file description of the queue's
//! block holding a shared lock on byte [`PIN_BYTE`] (`sys::ofd`). A handle in flight to another process
//! (a [`ticket`](Member::ticket)) is such a pin, serialized beside the block's descriptor: it lives
//! exactly as long as the encoded message — in the sender's buffers, in a socket, in the receiver until
//! it has registered — and the kernel drops its lock when the message is dropped undelivered or every
//! process holding it dies. So a queue never looks abandoned while a handle travels, however long,
//! and a failed send leaves nothing behind. A handle that found the table full holds a pin of its own.

use super::Ring;
use super::layout::{Slot, Waiters};
use super::wait::notify;
use crate::sys::ofd;
use crate::sys::process::{getpid, kill};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, OnceLock};

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
}

/// A new pin on `ring`: counts as one live handle until the descriptor (and every duplicate) is closed.
fn pin(ring: &Ring) -> std::io::Result<OwnedFd> {
    let fd = ofd::reopen(ring.fd())?;
    ofd::share(fd.as_fd(), PIN_BYTE)?;
    Ok(fd)
}

/// `/proc/<pid>/stat`: (state, start time in clock ticks since boot).
fn proc_stat(pid: u32) -> std::io::Result<Option<(u8, u64)>> {
    let text = std::fs::read(format!("/proc/{pid}/stat"))?;
    let after = text
        .iter()
        .rposition(|&b| b == b')')
        .map(|i| &text[i + 1..]);
    let mut fields = after
        .unwrap_or_default()
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = fields.next().and_then(|f| f.first().copied());
    let start = fields
        .nth(18)
        .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok());
    Ok(state.zip(start))
}

fn my_start() -> u64 {
    static START: OnceLock<u64> = OnceLock::new();
    *START.get_or_init(|| {
        proc_stat(getpid() as u32)
            .ok()
            .flatten()
            .map_or(0, |(_, s)| s)
    })
}

/// False once `pid` has exited (zombies included) or was replaced by another process with the same id.
fn alive(pid: u32, start: u64) -> bool {
    match proc_stat(pid) {
        Ok(Some((state, now_start))) => {
            !matches!(state, b'Z' | b'X' | b'x') && (start == 0 || start == now_start)
        }
        Ok(None) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => {
            kill(pid as i32, 0).map_or_else(|e| e.raw_os_error() == Some(libc::EPERM), |_| true)
        }
    }
}

/// Takes a free slot for this process with `roles` and `start` (its start time).
fn claim(ring: &Ring, roles: u32, start: u64) -> Option<(usize, u64)> {
    let pid = u64::from(getpid() as u32);
    for (i, slot) in ring.header().slots.iter().enumerate() {
        let owner = slot.owner.load(SeqCst);
        if owner as u32 != 0 {
            continue;
        }
        let mine = ((owner >> 32).wrapping_add(1) << 32) | pid;
        if slot
            .owner
            .compare_exchange(owner, mine, SeqCst, SeqCst)
            .is_ok()
        {
            slot.roles.store(roles, SeqCst);
            slot.start.store(start, SeqCst);
            return Some((i, mine));
        }
    }
    None
}

/// Frees `slot` and wakes the sleepers, who re-check who is left.
fn free(ring: &Ring, slot: Option<(usize, u64)>) {
    let h = ring.header();
    if let Some((i, owner)) = slot {
        let s: &Slot = &h.slots[i];
        if s.owner.load(SeqCst) != owner {
            return; // reclaimed since (our process was taken for dead): the slot is someone else's
        }
        s.roles.store(0, SeqCst);
        s.start.store(0, SeqCst);
        let _ = s
            .owner
            .compare_exchange(owner, owner & !0xffff_ffff, SeqCst, SeqCst);
    }
    let waiters: [&Waiters; 3] = [&h.data.0, &h.space.0, &h.joiners.0];
    waiters.into_iter().for_each(notify);
}

impl Member {
    /// Registers a new handle of this process.
    pub(crate) fn join(ring: Arc<Ring>) -> Member {
        let slot = claim(&ring, 0, my_start());
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

    /// True once [`leave`](Self::leave) ran.
    pub(crate) fn has_left(&self) -> bool {
        self.left.load(SeqCst)
    }

    /// Records that this handle put ([`PUT`](super::layout::PUT)) or got
    /// ([`GOT`](super::layout::GOT)); free after the first time.
    pub(crate) fn mark(&self, role: u32) {
        if self.roles.load(std::sync::atomic::Ordering::Relaxed) & role == 0 {
            self.roles.fetch_or(role, SeqCst);
            if let Some((i, _)) = self.slot {
                self.ring.header().slots[i].roles.fetch_or(role, SeqCst);
            }
        }
    }

    /// Frees the slot: this handle no longer counts as a peer. Idempotent.
    pub(crate) fn leave(&self) {
        if !self.left.swap(true, SeqCst) {
            self.pin.lock().unwrap_or_else(|e| e.into_inner()).take();
            free(&self.ring, self.slot);
        }
    }

    /// True if a handle other than this one is alive and `counts(roles)` for it. Reclaims the slots of
    /// dead processes on the way. Pins (handles in flight, handles without a slot) always count.
    pub(crate) fn others_alive(&self, counts: impl Fn(u32) -> bool) -> bool {
        let h = self.ring.header();
        let me = getpid() as u32;
        let mut found = false;
        for (i, slot) in h.slots.iter().enumerate() {
            let owner = slot.owner.load(SeqCst);
            let pid = owner as u32;
            if pid == 0 || self.slot.is_some_and(|(mine, _)| mine == i) {
                continue;
            }
            let start = slot.start.load(SeqCst);
            let roles = slot.roles.load(SeqCst);
            let gone = if pid == me {
                // A slot left by a dead process whose pid this process now has.
                start != 0 && start != my_start()
            } else {
                !alive(pid, start)
            };
            if gone {
                slot.roles.store(0, SeqCst);
                if slot
                    .owner
                    .compare_exchange(owner, owner & !0xffff_ffff, SeqCst, SeqCst)
                    .is_ok()
                {
                    let _ = slot.start.compare_exchange(start, 0, SeqCst, SeqCst);
                }
                continue;
            }
            found |= counts(roles);
        }
        found || self.pins_elsewhere()
    }

    /// True if a pin other than this handle's own is held. A test that fails counts as held: better
    /// to wait than to report a live queue abandoned.
    fn pins_elsewhere(&self) -> bool {
        let own = self.pin.lock().unwrap_or_else(|e| e.into_inner());
        let probe = own.as_ref().map_or(self.ring.fd(), |fd| fd.as_fd());
        ofd::held_elsewhere(probe, PIN_BYTE).unwrap_or(true)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.leave();
    }
}
