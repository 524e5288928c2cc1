//! Spin-then-sleep for manager round trips. A call is a request and a reply; if each side sleeps in
//! the kernel as soon as it has sent, each message costs a wake-up, and on a machine whose cores idle
//! in deep power states that is 10–30 µs apiece. So a caller that has sent a request, and a server
//! thread that has sent a reply, first check for the answer for a short while, and only then block.
//!
//! Socket connections get this from the channel itself (a receive polls for up to 20 µs, yielding
//! the core, before sleeping: idle 28–31k calls/s without, 100–150k with). This module is for
//! shared-memory connections ([`fast`](super::fast)) load a sequence word, pausing the CPU between
//!   loads, and only when the peer last ran on another CPU: spinning where the peer cannot run at the
//!   same time only delays it, and yielding between checks lost to the rest of a busy machine
//!   (idle: 1.2–2.5M calls/s; one core busy with another process: 125–190k spinning only across CPUs,
//!   50–100k spinning with yields as the socket does).

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
