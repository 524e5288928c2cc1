//! The runtime's timing policy in one place: how long a waiter checks for its answer before it sleeps
//! in the kernel, how often a sleeper wakes to see whether its peers are still alive, and how long a
//! `try_` call waits for a holder that is only copying.
//!
//! Spinning first: a request/reply peer usually answers within a few microseconds, while sleeping at
//! once costs a wake-up per message, 10–30 µs on machines whose idle cores sit in deep power states.
//! Two ways to spin ([`Between`]): a socket receive checks with a system call and yields the core
//! between checks (manager calls over a socket, idle: 28–31k calls/s without the spin, 100–150k
//! with); the manager's shared-memory mailboxes load a sequence word with a CPU pause between loads
//! when the peer last ran on another CPU (idle: 1.2–2.5M calls/s; one core busy with another
//! process: 125–190k spinning with pauses only across CPUs, 50–100k yielding everywhere), and yield
//! between loads when the peer shares their CPU: the peer is the thread that needs the core, and a
//! yield hands it over for one context switch where sleeping costs two and a doorbell (with more
//! runnable threads than cores, sleeping at once made every manager call two sleeps and two
//! wake-ups).

use std::time::{Duration, Instant};

/// How long a waiter checks for its answer before it blocks.
pub(crate) const SPIN_WINDOW: Duration = Duration::from_micros(20);

/// How long a queue reader waiting for the next part of a message streamed in parts (or its
/// writer waiting for room to write one) checks before it sleeps: its peer is busy copying the
/// message, and a wake-up per part cost more than the copy (1 MiB messages: 4 wake-ups each).
pub(crate) const STREAM_WINDOW: Duration = Duration::from_millis(1);

/// Checks made back to back (a CPU pause between them) between two looks at the clock.
pub(crate) const SPIN_BATCH: u32 = 32;

/// How long a sleeper waiting on another process sleeps before it wakes to check that the processes
/// it waits for are alive (a dead one never wakes it). Every such wait uses this one slice.
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(10);

/// How long a `try_` operation waits for a lock whose holder is copying (not waiting for a peer).
pub(crate) const TRY_GRACE: Duration = Duration::from_millis(10);

/// What a spinning waiter does between two checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Between {
    /// A CPU pause, checks in batches of [`SPIN_BATCH`]: for a peer known to run on another CPU and a
    /// check that is a load from shared memory (the manager's shared-memory mailboxes).
    Pause,
    /// Gives the core away (`sched_yield`) after each check: the peer may need this very CPU, or the
    /// check itself is a system call.
    Yield,
}

/// [`SPIN_BATCH`] back-to-back checks of `ready` (well under a microsecond); true as soon as it
/// holds. `ready` must be cheap (a load from shared memory).
#[inline]
pub(crate) fn briefly(ready: impl Fn() -> bool) -> bool {
    for _ in 0..SPIN_BATCH {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// Checks `ready` for up to [`SPIN_WINDOW`] (less if `deadline` comes first); true as soon as it
/// holds, false when the window passed without it and the caller should block.
pub(crate) fn for_window(
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
    between: Between,
) -> bool {
    for_window_of(SPIN_WINDOW, ready, deadline, between)
}

/// [`for_window`] for a window of `window` instead of [`SPIN_WINDOW`].
pub(crate) fn for_window_of(
    window: Duration,
    ready: impl Fn() -> bool,
    deadline: Option<Instant>,
    between: Between,
) -> bool {
    let start = Instant::now();
    let window = deadline.map_or(window, |d| d.saturating_duration_since(start).min(window));
    loop {
        let got = match between {
            Between::Pause => briefly(&ready),
            Between::Yield => ready(),
        };
        if got {
            return true;
        }
        if start.elapsed() >= window {
            return false;
        }
        if between == Between::Yield {
            std::thread::yield_now();
        }
    }
}

/// The slice a liveness-checking sleeper sleeps now: [`LIVENESS_SLICE`], or less if `deadline` comes
/// first; `None` once the deadline has passed.
pub(crate) fn slice_until(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(LIVENESS_SLICE),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| left.min(LIVENESS_SLICE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_window_ends_when_ready_or_when_it_passes() {
        for between in [Between::Pause, Between::Yield] {
            assert!(for_window(|| true, None, between));
            // Not ready: it checks until the window has passed (however often this thread is
            // descheduled meanwhile: no count of checks is promised), then says to block.
            let calls = Cell::new(0);
            let start = Instant::now();
            assert!(!for_window(
                || {
                    calls.set(calls.get() + 1);
                    false
                },
                None,
                between
            ));
            assert!(start.elapsed() >= SPIN_WINDOW);
            assert!(calls.get() >= 1);
            // A deadline already passed: one round of checks, then block.
            assert!(!for_window(|| false, Some(Instant::now()), between));
        }
    }

    #[test]
    fn a_slice_never_outlasts_the_deadline() {
        assert_eq!(slice_until(None), Some(LIVENESS_SLICE));
        assert_eq!(slice_until(Some(Instant::now())), None);
        let s = slice_until(Some(Instant::now() + Duration::from_millis(2))).unwrap();
        assert!(s <= Duration::from_millis(2) && !s.is_zero());
    }
}
