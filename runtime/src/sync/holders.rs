//! The holder table of a semaphore: which processes hold permits, so that a permit held by a process
//! that died (even by `SIGKILL`) can be given back. A waiter that has slept one slice without a
//! permit checks the recorded pids and reclaims the permits of dead ones.

use crate::sys::process;
use std::sync::atomic::{AtomicI32, Ordering};

/// Slots in the table: permits held beyond this many at once are not tracked.
pub(crate) const SLOTS: usize = 64;

#[repr(C)]
pub(crate) struct Holders([AtomicI32; SLOTS]);

impl Holders {
    /// Records this process as holding a permit; `None` if every slot is taken.
    pub(crate) fn claim(&self) -> Option<usize> {
        let me = process::getpid();
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

    /// Clears the slots of dead processes; returns how many permits they held.
    pub(crate) fn reap_dead(&self) -> u32 {
        let mut freed = 0;
        for slot in &self.0 {
            let pid = slot.load(Ordering::SeqCst);
            if pid != 0
                && !process::pid_alive(pid)
                && slot
                    .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            {
                freed += 1;
            }
        }
        freed
    }
}
