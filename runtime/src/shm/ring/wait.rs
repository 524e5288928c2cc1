//! Sleeping and waking on the block's futex words. A sleeper announces itself in `sleepers` before it
//! re-checks its condition, and a waker publishes its change before it reads `sleepers` (all
//! sequentially consistent), so a wake-up is never lost and a waker makes a system call only when
//! somebody sleeps. Sleeps are cut in slices so that sleepers notice dead peers.

use super::layout::Waiters;
use crate::policy::{self, Between};
use crate::sys::wait;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

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

/// Waits on `w` until `ready()` holds, a slice ([`policy::LIVENESS_SLICE`]) passes, or `deadline`.
/// Checks first for [`policy::SPIN_WINDOW`]: a peer on another core usually answers within a few
/// microseconds, which is cheaper than a futex round trip. The core is yielded between checks, as
/// the peer may be waiting for this very CPU.
pub(super) fn sleep(w: &Waiters, ready: impl Fn() -> bool, deadline: Option<Instant>) -> Slept {
    sleep_after(policy::SPIN_WINDOW, w, ready, deadline)
}

/// [`sleep`], checking for `window` first.
pub(super) fn sleep_after(
    window: std::time::Duration,
    w: &Waiters,
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
) -> Slept {
    if policy::briefly(&ready) || policy::for_window_of(window, &ready, deadline, Between::Yield) {
        return Slept::Ready;
    }
    let Some(slice) = policy::slice_until(deadline) else {
        return Slept::Deadline;
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
