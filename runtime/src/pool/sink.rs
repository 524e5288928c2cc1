//! Where a chunk's outcomes go: the [`Sink`] a job carries, and the typed sinks of `apply_async` and
//! `map_async`. Sinks decode the worker's reports on the supervisor thread that received them, so the
//! frame is read in place and the waiting caller gets finished values.

use super::lock;
use super::progress::Progress;
use super::result::Cell;
use crate::error::Error;
use crate::protocol::pool::{decode_reply, extend_plain};
use serde::de::DeserializeOwned;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

/// Receives the outcomes of one job: items `start..start + count` of its call.
pub(crate) trait Sink: Send + Sync {
    /// The worker's chunk of reports for the items from `start` on.
    fn deliver(&self, start: usize, count: usize, frame: &[u8], fds: Vec<OwnedFd>);
    /// The job failed as a whole (its worker died, timed out, or the pool was terminated).
    fn fail(&self, start: usize, count: usize, err: &Error);
}

/// The sink of `apply_async`: one item into one [`Cell`].
pub(crate) struct OneShot<R>(pub(crate) Arc<Cell<R>>);

impl<R: DeserializeOwned + Send + 'static> Sink for OneShot<R> {
    fn deliver(&self, start: usize, count: usize, frame: &[u8], fds: Vec<OwnedFd>) {
        let mut result = None;
        let whole = decode_reply::<R>(start, count, frame, fds, |_, r| {
            result.get_or_insert(r);
        });
        self.0.set(match whole {
            Ok(()) => {
                result.unwrap_or_else(|| Err(Error::codec("the pool worker's reply was empty")))
            }
            Err(e) => Err(e),
        });
    }
    fn fail(&self, _: usize, _: usize, err: &Error) {
        self.0.set(Err(err.clone()));
    }
}

/// A map's results so far: the vector of items `0..next` in order (`None` while a thread appends
/// to it outside the lock), and the pieces not appended yet by position. A piece joins the vector as
/// soon as everything before it is there, so the vector is built while the map runs (no second copy
/// at the end), by one thread at a time but without holding the lock while it copies: pieces that
/// arrive meanwhile wait in `ahead`, and the appending thread takes them on its next round.
struct Gather<R> {
    done: Option<Vec<R>>,
    next: usize,
    ahead: std::collections::BTreeMap<usize, Vec<R>>,
    left: usize,
    error: Option<Error>,
    /// Emptied pieces, kept for the next chunks to decode into: a fresh vector of a chunk's results
    /// (256 KiB for 32k `u64`s) came from `mmap` and was faulted in and zeroed page by page, 15%
    /// of a tiny map's samples.
    spare: Vec<Vec<R>>,
}

/// Emptied pieces kept at most (a few chunks are in flight at once), each of at most
/// [`SPARE_PIECE_BYTES`] (a chunk of 32k `u64` results is 256 KiB; one of large results is let go).
const SPARE_PIECES: usize = 4;
const SPARE_PIECE_BYTES: usize = 1 << 20;

impl<R> Gather<R> {
    /// The pieces that continue the vector now, in order, and the vector to append them to: `None`
    /// when there are none, or another thread holds the vector (it will take them).
    fn next_run(&mut self) -> Option<(Vec<R>, Vec<Vec<R>>)> {
        if !self.ahead.contains_key(&self.next) {
            return None;
        }
        let done = self.done.take()?;
        let mut run = Vec::new();
        while let Some(piece) = self.ahead.remove(&self.next) {
            self.next += piece.len();
            run.push(piece);
        }
        Some((done, run))
    }
}

/// The sink of `map_async`/`starmap_async`: chunks decoded outside the lock, gathered by position; the
/// [`Cell`] gets the vector when the last arrives, or the first error (Python: `map` raises the first
/// task's exception).
pub(crate) struct MapSink<R> {
    gather: Mutex<Gather<R>>,
    len: usize,
    cell: Arc<Cell<Vec<R>>>,
    progress: Progress,
}

impl<R> MapSink<R> {
    pub(crate) fn new(len: usize, cell: Arc<Cell<Vec<R>>>, progress: Progress) -> MapSink<R> {
        // Reserved, not touched: pages are faulted in as results arrive, 2 MiB at a time where
        // the system gives huge pages.
        let mut done = Vec::with_capacity(len);
        crate::sys::memory::prefer_huge_pages(&mut done);
        MapSink {
            gather: Mutex::new(Gather {
                done: Some(done),
                next: 0,
                ahead: std::collections::BTreeMap::new(),
                left: len,
                error: None,
                spare: Vec::new(),
            }),
            len,
            cell,
            progress,
        }
    }

    /// Counts `n` items done, appends what continues the vector (outside the lock, round after round
    /// while pieces keep coming), and settles the result once every item is in and the vector is
    /// back.
    fn finish_some<'a>(&'a self, mut g: std::sync::MutexGuard<'a, Gather<R>>, n: usize) {
        self.progress.inc(n);
        g.left = g.left.saturating_sub(n);
        while let Some((mut done, run)) = g.next_run() {
            drop(g);
            let mut emptied = Vec::with_capacity(run.len());
            for mut piece in run {
                done.append(&mut piece);
                emptied.push(piece);
            }
            g = lock(&self.gather);
            g.done = Some(done);
            let room = SPARE_PIECES.saturating_sub(g.spare.len());
            g.spare.extend(
                emptied
                    .into_iter()
                    .filter(|p| p.capacity().saturating_mul(size_of::<R>()) <= SPARE_PIECE_BYTES)
                    .take(room),
            );
        }
        // Not all in yet, or another thread still appends (it settles the result when it is done).
        if g.left > 0 || g.done.is_none() {
            return;
        }
        let error = g.error.take();
        let done = g.done.take().unwrap_or_default();
        let stray = !g.ahead.is_empty();
        g.ahead.clear();
        drop(g);
        self.progress.finish();
        let result = match error {
            Some(e) => Err(e),
            None if stray || done.len() != self.len => Err(Error::codec(format!(
                "pool map: {} of {} results arrived in order (a chunk's results are missing)",
                done.len(),
                self.len
            ))),
            None => Ok(done),
        };
        self.cell.set(result);
    }
}

impl<R: DeserializeOwned + Send + 'static> Sink for MapSink<R> {
    fn deliver(&self, start: usize, count: usize, frame: &[u8], fds: Vec<OwnedFd>) {
        let mut piece = lock(&self.gather).spare.pop().unwrap_or_default();
        piece.reserve(count);
        let mut error = None;
        if !extend_plain(frame, count, &mut piece) {
            let whole = decode_reply::<R>(start, count, frame, fds, |_, r| match r {
                Ok(v) => piece.push(v),
                Err(e) => {
                    error.get_or_insert(e);
                }
            });
            if let Err(e) = whole {
                error = Some(e);
            }
        }
        let mut g = lock(&self.gather);
        match error {
            Some(e) => {
                g.error.get_or_insert(e);
            }
            None => {
                g.ahead.insert(start, piece);
            }
        }
        self.finish_some(g, count);
    }

    fn fail(&self, _: usize, count: usize, err: &Error) {
        let mut g = lock(&self.gather);
        g.error.get_or_insert_with(|| err.clone());
        self.finish_some(g, count);
    }
}

#[cfg(test)]
mod tests {
    use super::Gather;

    #[test]
    fn pieces_join_in_order_whatever_order_they_arrive_in() {
        let mut g = Gather {
            done: Some(Vec::new()),
            next: 0,
            ahead: std::collections::BTreeMap::new(),
            left: 9,
            error: None,
            spare: Vec::new(),
        };
        g.ahead.insert(6, vec![6, 7, 8]);
        g.ahead.insert(3, vec![3, 4, 5]);
        assert!(g.next_run().is_none());
        g.ahead.insert(0, vec![0, 1, 2]);
        let (mut done, run) = g.next_run().expect("a run from 0");
        // The vector is out while it is appended to: nobody else gets a run meanwhile.
        g.ahead.insert(9, vec![9]);
        assert!(g.next_run().is_none());
        for piece in run {
            done.extend(piece);
        }
        g.done = Some(done);
        let (mut done, run) = g.next_run().expect("the piece that came meanwhile");
        for piece in run {
            done.extend(piece);
        }
        assert_eq!(done, (0..10).collect::<Vec<_>>());
        assert!(g.ahead.is_empty());
    }
}
