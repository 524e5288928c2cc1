//! Where a chunk's outcomes go: the [`Sink`] a job carries, and the typed sinks of `apply_async` and
//! `map_async`. Sinks decode the worker's reports on the supervisor thread that received them, so the
//! frame is read in place and the waiting caller gets finished values.

use super::lock;
use super::progress::Progress;
use super::result::Cell;
use crate::error::Error;
use crate::protocol::pool::decode_reply;
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
        decode_reply::<R>(start, count, frame, fds, |_, r| self.0.set(r));
    }
    fn fail(&self, _: usize, _: usize, err: &Error) {
        self.0.set(Err(err.clone()));
    }
}

/// A map's results so far: items `0..done.len()` in order, and the pieces that arrived ahead of
/// their turn by position. A piece joins `done` as soon as everything before it is there, so the
/// vector is built while the map runs (no second copy at the end) and few pieces wait at a time.
struct Gather<R> {
    done: Vec<R>,
    ahead: std::collections::BTreeMap<usize, Vec<R>>,
    left: usize,
    error: Option<Error>,
}

impl<R> Gather<R> {
    fn put(&mut self, start: usize, piece: Vec<R>) {
        if start != self.done.len() {
            self.ahead.insert(start, piece);
            return;
        }
        self.done.extend(piece);
        while let Some(next) = self.ahead.remove(&self.done.len()) {
            self.done.extend(next);
        }
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
        MapSink {
            gather: Mutex::new(Gather {
                // Reserved, not touched: pages are faulted in as results arrive.
                done: Vec::with_capacity(len),
                ahead: std::collections::BTreeMap::new(),
                left: len,
                error: None,
            }),
            len,
            cell,
            progress,
        }
    }

    fn finish_some(&self, mut g: std::sync::MutexGuard<'_, Gather<R>>, n: usize) {
        self.progress.inc(n);
        g.left = g.left.saturating_sub(n);
        if g.left > 0 {
            return;
        }
        let error = g.error.take();
        let done = std::mem::take(&mut g.done);
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
        let mut piece = Vec::with_capacity(count);
        let mut error = None;
        decode_reply::<R>(start, count, frame, fds, |_, r| match r {
            Ok(v) => piece.push(v),
            Err(e) => {
                error.get_or_insert(e);
            }
        });
        let mut g = lock(&self.gather);
        match error {
            Some(e) => {
                g.error.get_or_insert(e);
            }
            None => g.put(start, piece),
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
            done: Vec::new(),
            ahead: std::collections::BTreeMap::new(),
            left: 9,
            error: None,
        };
        g.put(6, vec![6, 7, 8]);
        g.put(3, vec![3, 4, 5]);
        assert!(g.done.is_empty());
        assert_eq!(g.ahead.len(), 2);
        g.put(0, vec![0, 1, 2]);
        assert_eq!(g.done, (0..9).collect::<Vec<_>>());
        assert!(g.ahead.is_empty());
    }
}
