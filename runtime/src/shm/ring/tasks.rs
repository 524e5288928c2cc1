//! `JoinableQueue`'s accounting: every message put is a task; `task_done` counts them off and `join`
//! waits until the two counts meet. The count of tasks put is the tail's message count, so it is
//! committed with the message itself and a producer killed mid-put leaves no phantom task.

use super::layout::Cursor;
use super::wait::{Slept, notify, sleep};
use super::{Member, Ring};
use crate::error::{Error, ErrorKind, Result};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

impl Ring {
    /// Tasks put and not yet marked done.
    pub(crate) fn unfinished(&self) -> usize {
        let h = self.header();
        let done = h.done.0.load(SeqCst);
        let put = Cursor::unpack(h.tail.0.load(SeqCst)).count;
        put.wrapping_sub(done) as usize
    }

    /// Marks one task done; wakes joiners when none is left.
    pub(crate) fn task_done(&self) -> Result<()> {
        let h = self.header();
        h.done
            .0
            .fetch_update(SeqCst, SeqCst, |done| {
                let put = Cursor::unpack(h.tail.0.load(SeqCst)).count;
                (put != done).then_some(done.wrapping_add(1))
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
