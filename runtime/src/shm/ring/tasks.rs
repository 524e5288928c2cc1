//! `JoinableQueue`'s accounting: every message put is a task; `task_done` counts them off and `join`
//! waits until the two counts meet. The count of tasks put is the tail's message count, so it is
//! committed with the message itself and a producer killed mid-put leaves no phantom task. That count
//! is 32 bits wide (it shares the tail's word with the position); the writer records a 64-bit base
//! every [`PUTS_EPOCH`] messages to extend it, so tasks are counted in 64 bits however many are left
//! undone.

use super::layout::Cursor;
use super::wait::{Slept, notify, sleep};
use super::{Member, Ring};
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

/// Messages between two updates of the 64-bit base of the put count: a power of two far below 2^32,
/// so the base stays less than 2^32 behind the tail even if a writer killed at an update misses it.
pub(super) const PUTS_EPOCH: u32 = 1 << 28;

impl Ring {
    /// Messages ever put, in 64 bits: the tail's count extended from `puts_base`.
    fn puts(&self) -> u64 {
        let h = self.header();
        // The base first: it is stored after the tail it was computed from, so it is never ahead.
        let base = h.puts_base.0.load(SeqCst);
        let count = Cursor::unpack(h.tail.0.load(SeqCst)).count;
        base + u64::from(count.wrapping_sub(base as u32))
    }

    /// The writer, after committing a tail whose count is a multiple of [`PUTS_EPOCH`]: moves the base.
    pub(super) fn advance_puts_base(&self) {
        self.header().puts_base.0.store(self.puts(), SeqCst);
    }

    /// Tasks put and not yet marked done.
    pub(crate) fn unfinished(&self) -> usize {
        let done = self.header().done.0.load(SeqCst);
        self.puts().saturating_sub(done) as usize
    }

    /// Marks one task done; wakes joiners when none is left.
    pub(crate) fn task_done(&self) -> Result<()> {
        let h = self.header();
        h.done
            .0
            .fetch_update(SeqCst, SeqCst, |done| {
                (done < self.puts()).then_some(done + 1)
            })
            .map_err(|_| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "task_done() called more times than there were items put",
                )
            })?;
        notify(&h.joiners.0);
        Ok(())
    }

    /// Counts `n` messages dropped by `shutdown(immediate)` as done (never past the count put), and
    /// wakes joiners. Python: `unfinished_tasks` is reduced by the number drained.
    pub(super) fn tasks_dropped(&self, n: u64) {
        let h = self.header();
        let _ = h.done.0.fetch_update(SeqCst, SeqCst, |done| {
            Some(done.saturating_add(n).min(self.puts().max(done)))
        });
        notify(&h.joiners.0);
    }

    /// Waits until every task put is done, or `deadline`. Errors with `Disconnected` when tasks are
    /// left and no other handle is alive to finish them.
    pub(crate) fn join(&self, me: &Member, deadline: Option<Instant>) -> Result<()> {
        let h = self.header();
        loop {
            match sleep(&h.joiners.0, || self.unfinished() == 0, deadline) {
                Slept::Ready => return Ok(()),
                Slept::Deadline => {
                    return Err(Error::new(ErrorKind::Timeout, "queue join timed out"));
                }
                Slept::Idle => {
                    if !me.others_alive(|_| true) && self.unfinished() != 0 {
                        return Err(Error::disconnected(format!(
                            "{} tasks are not done and no other handle of the queue is alive",
                            self.unfinished()
                        )));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_counts_are_64_bits_wide() {
        let ring = Ring::create(super::super::layout::MIN_RING, 0).unwrap();
        let h = ring.header();
        // 2^32 + 3 messages put (the tail's count has wrapped; the base was moved at 0xf000_0000),
        // none marked done.
        h.puts_base
            .0
            .store((1 << 32) - u64::from(PUTS_EPOCH), SeqCst);
        h.tail.0.store(Cursor { pos: 0, count: 3 }.pack(), SeqCst);
        assert_eq!(ring.unfinished(), (1 << 32) + 3);
        h.done.0.store((1 << 32) + 2, SeqCst);
        assert_eq!(ring.unfinished(), 1);
        ring.task_done().unwrap();
        assert_eq!(ring.unfinished(), 0);
        assert!(ring.task_done().is_err());
        // The writer moves the base on a multiple of the epoch.
        h.tail.0.store(
            Cursor {
                pos: 0,
                count: PUTS_EPOCH,
            }
            .pack(),
            SeqCst,
        );
        ring.advance_puts_base();
        assert_eq!(
            h.puts_base.0.load(SeqCst),
            (1 << 32) + u64::from(PUTS_EPOCH)
        );
    }
}
