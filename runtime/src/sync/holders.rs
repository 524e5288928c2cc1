//! The holder table of a semaphore: which processes hold permits, so that a permit held by a process
//! that died (even by `SIGKILL`) can be given back. A waiter that has slept one slice without a
//! permit checks the recorded processes and reclaims the permits of dead ones.
//!
//! A process is recorded as its pid with its start time (from `/proc/<pid>/stat`), so a pid reused by
//! a new process is not mistaken for the holder: the new one has another start time.

use crate::sys::process;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slots in the table: permits held beyond this many at once are not tracked.
pub(crate) const SLOTS: usize = 64;

/// Pids fit in 22 bits (the kernel's `pid_max` limit is 2^22); the start time takes the bits above.
const PID_BITS: u32 = 22;
const PID_MASK: u64 = (1 << PID_BITS) - 1;

#[repr(C)]
pub(crate) struct Holders([AtomicU64; SLOTS]);

/// The start time of process `pid` (clock ticks after boot, field 22 of `/proc/<pid>/stat`), if
/// it can be read.
fn start_time(pid: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last
    // ')'. Field 22 is the 20th after the state (field 3).
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// This process's record: its pid and start time, packed.
fn me() -> u64 {
    static ME: OnceLock<u64> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = process::getpid() as u64 & PID_MASK;
        // Unreadable /proc: the pid alone (then a reused pid is not told apart).
        let start = start_time(pid).unwrap_or(0) & (u64::MAX >> PID_BITS);
        start << PID_BITS | pid
    })
}

impl Holders {
    /// Records this process as holding a permit; `None` if every slot is taken.
    pub(crate) fn claim(&self) -> Option<usize> {
        let me = me();
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
            if record == 0 {
                continue;
            }
            let (pid, start) = (record & PID_MASK, record >> PID_BITS);
            // Exited (a zombie counts), or the pid now names another process (started at another
            // time: the holder died and its pid was reused). Unreadable start times say nothing.
            let dead = !process::pid_alive(pid as libc::pid_t)
                || (start != 0 && start_time(pid).is_some_and(|now| now != start));
            if dead
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
