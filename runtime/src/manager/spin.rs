//! Spin-then-sleep for manager round trips. A call is a request and a reply; if each side sleeps in
//! the kernel as soon as it has sent, each message costs a wake-up, and on a machine whose cores idle
//! in deep power states that is 10–30 µs apiece. So a caller that has sent a request, and a server
//! thread that has sent a reply, first check for the answer for a short while, and only then block.
//!
//! Two flavours, measured on the 2-core machine:
//! - socket connections poll the socket, yielding the core between polls so that a busy machine
//!   loses nothing (idle: 28–31k calls/s without spinning, 100–150k with; loaded: the same either way);
//! - shared-memory connections ([`fast`](super::fast)) load a sequence word, pausing the CPU between
//!   loads, and only when the peer last ran on another CPU: spinning where the peer cannot run at the
//!   same time only delays it, and yielding between checks lost to the rest of a busy machine
//!   (idle: 1.2–2.5M calls/s; one core busy with another process: 125–190k spinning only across CPUs,
//!   50–100k spinning with yields as the socket does).

use crate::ipc::channel::Channel;
use std::time::{Duration, Instant};

/// How long to check before blocking.
const SPIN: Duration = Duration::from_micros(20);

/// Checks between two looks at the clock.
const BATCH: u32 = 32;

/// Returns true as soon as `ready()` holds, false after [`SPIN`] without it. `ready` must be cheap (a
/// load from shared memory): it is called back to back, with only a CPU pause between calls.
pub(crate) fn until(ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if briefly(&ready) {
            return true;
        }
        if start.elapsed() >= SPIN {
            return false;
        }
    }
}

/// A few back-to-back checks of `ready` (well under a microsecond).
pub(crate) fn briefly(ready: impl Fn() -> bool) -> bool {
    for _ in 0..BATCH {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// Returns when `chan` has a frame (or end of stream) to read, or after [`SPIN`].
pub(crate) fn until_readable(chan: &Channel) {
    let start = Instant::now();
    while !chan.poll(Duration::ZERO).unwrap_or(true) {
        if start.elapsed() >= SPIN {
            return;
        }
        std::thread::yield_now();
    }
}
