//! Sleeping and waking on the block's futex words. A sleeper announces itself in `sleepers` before it
//! re-checks its condition, and a waker publishes its change before it reads `sleepers` (all
//! sequentially consistent), so a wake-up is never lost and a waker makes a system call only when
//! somebody sleeps. Sleeps are cut in slices so that sleepers notice dead peers.

use super::layout::Waiters;
use crate::sys::wait;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

/// How often a sleeper wakes to check that its peers are alive.
pub(super) const SLICE: Duration = Duration::from_millis(20);

/// Busy checks before sleeping: a peer on another core usually answers within a few microseconds,
/// which is cheaper than a futex round trip.
const SPINS: u32 = 64;
const YIELDS: u32 = 4;

/// Why [`sleep`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slept {
    /// The condition holds.
    Ready,
    /// Woken or a slice passed without the condition: check the peers, then sleep again.
    Idle,
    /// The deadline passed.
    Deadline,
}

/// Waits on `w` until `ready()` holds, a slice passes, or `deadline`.
pub(super) fn sleep(w: &Waiters, ready: impl Fn() -> bool, deadline: Option<Instant>) -> Slept {
    for i in 0..SPINS + YIELDS {
        if ready() {
            return Slept::Ready;
        }
        if i < SPINS {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    let slice = match deadline {
        None => SLICE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Slept::Deadline;
            }
            left.min(SLICE)
        }
    };
    w.sleepers.fetch_add(1, SeqCst);
    let seq = w.seq.load(SeqCst);
    let outcome = if ready() {
        Slept::Ready
    } else {
        wait::wait(&w.seq, seq, Some(slice));
        if ready() {
            Slept::Ready
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            Slept::Deadline
        } else {
            Slept::Idle
        }
    };
    w.sleepers.fetch_sub(1, SeqCst);
    outcome
}

/// Wakes the sleepers on `w`, if any; call after publishing the change they wait for.
pub(super) fn notify(w: &Waiters) {
    if w.sleepers.load(SeqCst) > 0 {
        w.seq.fetch_add(1, SeqCst);
        wait::wake_all(&w.seq);
    }
}
