//! Who holds the queue: every handle registers in a slot of the block (pid, start time, roles), so a
//! blocked caller can tell a peer that has gone — dropped its handle, or was killed — from one that is
//! only slow. Slots of dead processes are reclaimed by whoever notices. A handle in flight to another
//! process keeps a reserved slot (a [`Ticket`]) until the receiver has registered, so a queue never
//! looks abandoned while a worker is starting. A reservation expires after [`TICKET_TTL`], so one whose
//! receiver never started (killed at birth) does not keep the queue alive for ever.

use super::Ring;
use super::layout::{RESERVED, SLOTS, Slot, Waiters};
use super::wait::notify;
use crate::sys::process::{getpid, kill};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, OnceLock};

/// How long a slot reserved for a handle in flight stays alive without its receiver.
pub(crate) const TICKET_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Milliseconds since the epoch: reservation expiry times are compared across processes.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One handle's registration; dropping it (or [`leave`](Member::leave)) frees the slot.
pub(crate) struct Member {
    ring: Arc<Ring>,
    /// Slot index and the owner word written there; `None` when the table was full (counted in
    /// `untracked` instead).
    slot: Option<(usize, u64)>,
    roles: AtomicU32,
    left: AtomicBool,
}

/// A slot reserved for a handle travelling to another process.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Ticket {
    slot: Option<(u32, u64)>,
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

/// Takes a free slot for this process with `roles`, and `start` (its start time, or a reservation's
/// expiry).
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
    ring.header().untracked.fetch_add(1, SeqCst);
    None
}

fn free(ring: &Ring, slot: Option<(usize, u64)>) {
    let h = ring.header();
    match slot {
        Some((i, owner)) => {
            let s: &Slot = &h.slots[i];
            if s.owner.load(SeqCst) != owner {
                return; // an expired reservation, reclaimed since: the slot is someone else's
            }
            s.roles.store(0, SeqCst);
            s.start.store(0, SeqCst);
            let _ = s
                .owner
                .compare_exchange(owner, owner & !0xffff_ffff, SeqCst, SeqCst);
        }
        None => {
            let _ = h
                .untracked
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
        }
    }
    // Sleepers re-check who is left.
    let waiters: [&Waiters; 3] = [&h.data.0, &h.space.0, &h.joiners.0];
    waiters.into_iter().for_each(notify);
}

impl Member {
    /// Registers a new handle of this process.
    pub(crate) fn join(ring: Arc<Ring>) -> Member {
        let slot = claim(&ring, 0, my_start());
        Member {
            ring,
            slot,
            roles: AtomicU32::new(0),
            left: AtomicBool::new(false),
        }
    }

    /// Registers the handle that `ticket` was reserved for, then frees the reservation.
    pub(crate) fn redeem(ring: Arc<Ring>, ticket: Ticket) -> Member {
        let member = Member::join(ring);
        let reserved = match ticket.slot {
            Some((i, owner)) if (i as usize) < SLOTS => Some((i as usize, owner)),
            Some(_) => return member,
            None => None,
        };
        free(&member.ring, reserved);
        member
    }

    /// Reserves a slot, in this process's name, for a copy of this handle being sent elsewhere.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket {
            slot: claim(
                &self.ring,
                RESERVED,
                now_ms() + TICKET_TTL.as_millis() as u64,
            )
            .map(|(i, owner)| (i as u32, owner)),
        }
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
            free(&self.ring, self.slot);
        }
    }

    /// True if a handle other than this one is alive and `counts(roles)` for it. Reclaims the slots of
    /// dead processes on the way. Handles that found no slot always count.
    pub(crate) fn others_alive(&self, counts: impl Fn(u32) -> bool) -> bool {
        let h = self.ring.header();
        if h.untracked.load(SeqCst) > 0 {
            return true;
        }
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
            let gone = if roles & RESERVED != 0 {
                now_ms() > start || (pid != me && !alive(pid, 0))
            } else if pid == me {
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
            found |= counts(roles & !RESERVED);
        }
        found
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.leave();
    }
}
