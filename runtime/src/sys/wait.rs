//! Futex words shared between processes (no `FUTEX_PRIVATE_FLAG`): the sleep/wake primitive under
//! semaphores, events, conditions, barriers and the queue ring.

use rustix::thread::futex::{self, Timespec};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a [`wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// Woken, or the word no longer held `expected` (re-check the condition).
    Woken,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps while `*word == expected`, at most `timeout`. Spurious wake-ups are possible: callers loop.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Waited {
    let ts = timeout.map(|t| Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Err(rustix::io::Errno::TIMEDOUT) => Waited::TimedOut,
        _ => Waited::Woken,
    }
}

/// Wakes up to `count` sleepers on `word`; returns how many woke.
pub(crate) fn wake(word: &AtomicU32, count: i32) -> usize {
    futex::wake(word, futex::Flags::empty(), count.max(0) as u32).unwrap_or(0)
}

/// Wakes every sleeper on `word`.
pub(crate) fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX)
}
