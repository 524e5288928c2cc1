//! The holder table of a semaphore: which processes hold permits, so that a permit held by a process
//! that died (even by `SIGKILL`) can be given back. A waiter that has slept one slice without a
//! permit checks the recorded processes and reclaims the permits of dead ones.
//!
//! A process is recorded as its [`ProcessId`] (pid and start time), so a pid reused by a new process
//! is not mistaken for the holder: the new one has another start time.

use crate::sys::identity::ProcessId;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the table: permits held beyond this many at once are not tracked.
pub(crate) const SLOTS: usize = 64;

/// Each slot holds a [`ProcessId`] packed (0: free).
#[repr(C)]
pub(crate) struct Holders([AtomicU64; SLOTS]);

impl Holders {
    /// Records this process as holding a permit; `None` if every slot is taken.
    pub(crate) fn claim(&self) -> Option<usize> {
        let me = ProcessId::this().pack();
        self.0.iter().position(|slot| {
            slot.load(Ordering::Relaxed) == 0
                && slot
                    .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
        })
    }

    /// Forgets the record made by [`claim`](Self::claim).
    pub(crate) fn clear(&self, slot: usize) {
        self.0[slot].store(0, Ordering::SeqCst);
    }

    /// How many permits are recorded as held.
    pub(crate) fn count(&self) -> u32 {
        self.0
            .iter()
            .filter(|slot| slot.load(Ordering::SeqCst) != 0)
            .count() as u32
    }

    /// Clears the slots of dead processes; returns how many permits they held.
    pub(crate) fn reap_dead(&self) -> u32 {
        let mut freed = 0;
        for slot in &self.0 {
            let record = slot.load(Ordering::SeqCst);
            let Some(holder) = ProcessId::unpack(record) else {
                continue;
            };
            // Exited (a zombie counts), or the pid now names another process (started at another
            // time: the holder died and its pid was reused).
            if !holder.is_alive()
                && slot
                    .compare_exchange(record, 0, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                freed += 1;
            }
        }
        freed
    }
}
