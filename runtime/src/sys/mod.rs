//! The only module that calls libc / nix for process, socket and descriptor work (shared memory and
//! futex-based synchronization keep their own `unsafe` in `shm/` and `sync/`, on top of the primitives
//! here). Linux is the target; another platform gets its own files behind `cfg` here and nowhere else.

pub(crate) mod abstract_socket;
pub(crate) mod child;
pub(crate) mod eventfd;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod keepalive;
pub(crate) mod memfd;
pub(crate) mod mutex;
pub(crate) mod net;
pub(crate) mod ofd;
pub(crate) mod process;
pub(crate) mod rlimit;
pub(crate) mod socket;
pub(crate) mod spawn;

use std::time::{Duration, Instant};

/// Milliseconds left until `deadline` for `poll(2)`: -1 for none, rounded up so we never spin early.
pub(crate) fn poll_timeout_ms(deadline: Option<Instant>) -> i32 {
    match deadline {
        None => -1,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            let ms = left.as_micros().div_ceil(1000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

/// `Instant::now() + timeout`, saturating far in the future instead of overflowing.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
