//! The only module that calls the system (rustix where it has a safe wrapper, libc for the rest): what the runtime needs from the system, named by what it
//! gives (who a process is, a shared block, sleeping on a shared word, pinning a block, a robust
//! mutex), not by the Linux mechanism behind it. `shm/` and `sync/` keep their own `unsafe` for the
//! memory they map, on top of the primitives here. Linux is the target; another platform gets its own
//! files behind `cfg` here and nowhere else.

pub(crate) mod abstract_socket;
/// Shared-memory blocks (memfd, size sealed).
pub(crate) mod block;
pub(crate) mod child;
pub(crate) mod errors;
pub(crate) mod eventfd;
pub(crate) mod fd;
pub(crate) mod identity;
pub(crate) mod keepalive;
/// Advice on this process's own memory (huge pages for large buffers).
pub(crate) mod memory;
pub(crate) mod mutex;
pub(crate) mod net;
/// Pins: locks owned by an open file description (OFD locks), counted by any holder of the file.
pub(crate) mod pin;
pub(crate) mod process;
pub(crate) mod rlimit;
pub(crate) mod signals;
pub(crate) mod socket;
pub(crate) mod spawn;
/// Sleeping on a word of shared memory until another process wakes it (futex).
pub(crate) mod wait;

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
