//! Where a chunk's outcomes go: the [`Sink`] a job carries, and the typed sinks of `apply_async` and
//! `map_async`. Sinks decode the worker's reports on the supervisor thread that received them, so the
//! frame is read in place and the waiting caller gets finished values.

use super::lock;
use super::progress::Progress;
use super::result::Cell;
use crate::codec::{Plain, plain};
use crate::error::Error;
use crate::protocol::pool::{decode_reply, plain_reply};
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
    /// Written straight into `done` ([`Direct`]): every range claimed so far (start, count), to
    /// refuse a range twice, and those whose copy is over but that do not continue `next` yet.
    claimed: std::collections::BTreeMap<usize, usize>,
    landed: std::collections::BTreeMap<usize, usize>,
    /// Direct copies claimed and not landed yet: the map does not settle (hand the vector out)
    /// while one runs, whatever else is counted.
    copying: usize,
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

    /// Claims items `start .. start + count` of a map of `len` for a direct copy: false if the
    /// range is not inside the map or overlaps one claimed before (a reply that should not be).
    fn claim(&mut self, start: usize, count: usize, len: usize) -> bool {
        let Some(end) = start.checked_add(count).filter(|&end| end <= len) else {
            return false;
        };
        let before = self.claimed.range(..start).next_back();
        let after = self.claimed.range(start..).next();
        let free = before.is_none_or(|(&s, &c)| s + c <= start)
            && after.is_none_or(|(&s, _)| s > start && s >= end);
        if free {
            self.claimed.insert(start, count);
            self.copying += 1;
        }
        free
    }

    /// Items `start .. start + count`, claimed, are in place: `next` moves past every range that
    /// now continues it.
    fn landed(&mut self, start: usize, count: usize) {
        self.copying -= 1;
        self.landed.insert(start, count);
        while let Some(count) = self.landed.remove(&self.next) {
            self.next += count;
        }
    }
}

/// A map of plain numbers (see [`Plain`]) writes each chunk's results straight into the reserved
/// room of the result vector at the chunk's place, in one copy from the frame (a piece first and an
/// append later are two), by whichever thread received it, outside the lock: the ranges are
/// claimed under the lock first, so no two copies meet. The vector's length covers them at the end.
struct Direct<R> {
    plain: Plain<R>,
    /// The result vector's buffer (`Gather::done`, capacity `len`), which is never reallocated: the
    /// vector is only moved (its buffer stays), and its length set once all is in.
    base: *mut R,
}

// SAFETY: `base` is only written through at claimed ranges (disjoint, each by one thread), and the
// vector that owns the buffer is handed on only after every copy is over (under the lock); `R`
// values are plain numbers.
unsafe impl<R: Send> Send for Direct<R> {}
// SAFETY: as above.
unsafe impl<R: Send> Sync for Direct<R> {}

/// The sink of `map_async`/`starmap_async`: chunks decoded outside the lock, gathered by position; the
/// [`Cell`] gets the vector when the last arrives, or the first error (Python: `map` raises the first
/// task's exception).
pub(crate) struct MapSink<R> {
    gather: Mutex<Gather<R>>,
    direct: Option<Direct<R>>,
    len: usize,
    cell: Arc<Cell<Vec<R>>>,
    progress: Progress,
}

impl<R> MapSink<R> {
    pub(crate) fn new(len: usize, cell: Arc<Cell<Vec<R>>>, progress: Progress) -> MapSink<R> {
        // Reserved, not touched: pages are faulted in as results arrive, 2 MiB at a time where
        // the system gives huge pages.
        let mut done: Vec<R> = Vec::with_capacity(len);
        crate::sys::memory::prefer_huge_pages(&mut done);
        let direct = plain::<R>().map(|plain| Direct {
            plain,
            base: done.as_mut_ptr(),
        });
        MapSink {
            gather: Mutex::new(Gather {
                done: Some(done),
                next: 0,
                ahead: std::collections::BTreeMap::new(),
                left: len,
                error: None,
                spare: Vec::new(),
                claimed: std::collections::BTreeMap::new(),
                landed: std::collections::BTreeMap::new(),
                copying: 0,
            }),
            direct,
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
        // Not all in yet, or another thread still appends or copies (it settles the result when
        // it is done).
        if g.left > 0 || g.done.is_none() || g.copying > 0 {
            return;
        }
        let error = g.error.take();
        let mut done = g.done.take().unwrap_or_default();
        if self.direct.is_some() {
            // SAFETY: direct copies filled items `0..next` (every range up to `next` landed), all
            // within the capacity `len`; `R` is a plain number with nothing to drop.
            unsafe { done.set_len(g.next.min(done.capacity())) };
        }
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
        if let Some(direct) = &self.direct {
            return self.deliver_direct(direct, start, count, frame, fds);
        }
        let mut piece = lock(&self.gather).spare.pop().unwrap_or_default();
        piece.reserve(count);
        let error = decode_piece(start, count, frame, fds, &mut piece);
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

/// Decodes a chunk's reply into `piece`: the first error, if any.
fn decode_piece<R: DeserializeOwned>(
    start: usize,
    count: usize,
    frame: &[u8],
    fds: Vec<OwnedFd>,
    piece: &mut Vec<R>,
) -> Option<Error> {
    let mut error = None;
    let whole = decode_reply::<R>(start, count, frame, fds, |_, r| match r {
        Ok(v) => piece.push(v),
        Err(e) => {
            error.get_or_insert(e);
        }
    });
    whole.err().or(error)
}

impl<R: DeserializeOwned + Send + 'static> MapSink<R> {
    /// [`deliver`](Sink::deliver) of a map of plain numbers: the results' bytes go straight to
    /// their place in the result vector ([`Direct`]). A reply that is not `PLAIN` (an item that
    /// failed, which fails the map) is decoded as usual.
    fn deliver_direct(
        &self,
        direct: &Direct<R>,
        start: usize,
        count: usize,
        frame: &[u8],
        fds: Vec<OwnedFd>,
    ) {
        let mut piece = Vec::new();
        let (values, mut error) = match plain_reply::<R>(frame, count) {
            Some((_, values)) => (values, None),
            None => {
                let error = decode_piece(start, count, frame, fds, &mut piece);
                (direct.plain.bytes_of(&piece), error)
            }
        };
        if error.is_none() && Some(values.len()) != count.checked_mul(direct.plain.size()) {
            error = Some(Error::codec(format!(
                "pool map: the reply for items {start}..{} holds the wrong number of results",
                start.saturating_add(count)
            )));
        }
        // The vector is still here (the map is not settled: this delivery's own items keep it
        // open until it is counted below), and the range is this call's alone.
        let claimed = || {
            let mut g = lock(&self.gather);
            g.done.is_some() && g.claim(start, count, self.len)
        };
        if error.is_none() && !claimed() {
            error = Some(Error::codec(format!(
                "pool map: the results of items {start}..{} arrived twice or lie outside the map",
                start.saturating_add(count)
            )));
        }
        if error.is_none() {
            // SAFETY: `start .. start + count` lies within the buffer's capacity `len` and was
            // claimed by this call alone (`claim`); `values` holds `count` values (`plain_reply`
            // checked it, or `piece` has one per item, since no error came).
            unsafe { direct.plain.copy_to(values, direct.base.add(start)) };
        }
        let mut g = lock(&self.gather);
        match error {
            Some(e) => {
                g.error.get_or_insert(e);
            }
            None => g.landed(start, count),
        }
        self.finish_some(g, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::result::AsyncResult;
    use crate::protocol::pool::begin_plain;

    /// A worker's `PLAIN` reply holding `values`.
    fn plain_frame(values: &[u64]) -> Vec<u8> {
        let plain = plain::<u64>().unwrap();
        let mut frame = Vec::new();
        begin_plain(plain, values.len(), &mut frame);
        for v in values {
            plain.write(v, &mut frame);
        }
        frame
    }

    fn plain_map(len: usize) -> (MapSink<u64>, AsyncResult<Vec<u64>>) {
        let cell = Arc::new(Cell::new(None));
        let sink = MapSink::new(len, cell.clone(), Progress::new(false, None));
        assert!(
            sink.direct.is_some(),
            "u64 results go straight to their place"
        );
        (sink, AsyncResult::new(cell))
    }

    #[test]
    fn plain_results_land_in_place_whatever_order_their_chunks_arrive_in() {
        let (sink, result) = plain_map(7);
        sink.deliver(4, 3, &plain_frame(&[4, 5, 6]), Vec::new());
        sink.deliver(0, 2, &plain_frame(&[0, 1]), Vec::new());
        assert!(!result.ready(), "items 2 and 3 are missing");
        sink.deliver(2, 2, &plain_frame(&[2, 3]), Vec::new());
        assert_eq!(result.get().unwrap(), (0..7).collect::<Vec<u64>>());
    }

    /// A range delivered twice, or lying outside the map, is never copied: it fails the map.
    #[test]
    fn plain_results_twice_or_outside_the_map_fail_it() {
        let (sink, result) = plain_map(4);
        sink.deliver(0, 2, &plain_frame(&[0, 1]), Vec::new());
        sink.deliver(1, 2, &plain_frame(&[9, 9]), Vec::new());
        let err = result.get().unwrap_err();
        assert!(err.to_string().contains("arrived twice"), "{err}");
        let (sink, result) = plain_map(2);
        sink.deliver(1, 2, &plain_frame(&[1, 2]), Vec::new());
        assert!(result.get().is_err());
    }

    /// While a direct copy runs, the map does not settle, even if every item is counted (here by
    /// a second, refused delivery of the same items): the vector is handed out only after the copy.
    #[test]
    fn the_map_does_not_settle_while_a_copy_runs() {
        let (sink, result) = plain_map(4);
        assert!(
            lock(&sink.gather).claim(0, 2, 4),
            "a copy of items 0..2 starts"
        );
        sink.deliver(2, 2, &plain_frame(&[2, 3]), Vec::new());
        sink.deliver(0, 2, &plain_frame(&[9, 9]), Vec::new());
        assert!(!result.ready(), "the claimed copy holds the map open");
        let direct = sink.direct.as_ref().unwrap();
        let frame = plain_frame(&[0, 1]);
        let (_, values) = plain_reply::<u64>(&frame, 2).unwrap();
        // SAFETY: items 0..2 were claimed above, for this copy alone.
        unsafe { direct.plain.copy_to(values, direct.base) };
        let mut g = lock(&sink.gather);
        g.landed(0, 2);
        sink.finish_some(g, 0);
        let err = result.get().unwrap_err();
        assert!(err.to_string().contains("arrived twice"), "{err}");
    }

    /// A reply of outcomes (an item failed) fails the map with that item's error; one whose
    /// outcomes all returned lands as a plain one does.
    #[test]
    fn outcome_replies_of_a_plain_map_are_decoded() {
        use crate::protocol::child::Outcome;
        let outcomes = |outcomes: &[Outcome<u64>]| {
            let mut frame = Vec::new();
            crate::protocol::pool::begin_outcomes(&mut frame);
            crate::codec::encode_into(outcomes, &mut frame, &mut Vec::new()).unwrap();
            frame
        };
        let (sink, result) = plain_map(3);
        sink.deliver(0, 1, &plain_frame(&[0]), Vec::new());
        sink.deliver(
            1,
            2,
            &outcomes(&[Outcome::Ok(1), Outcome::Ok(2)]),
            Vec::new(),
        );
        assert_eq!(result.get().unwrap(), [0, 1, 2]);
        let (sink, result) = plain_map(3);
        let failed = [Outcome::Ok(0), Outcome::Panicked("boom".into())];
        sink.deliver(0, 2, &outcomes(&failed), Vec::new());
        sink.deliver(2, 1, &plain_frame(&[2]), Vec::new());
        let err = result.get().unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn pieces_join_in_order_whatever_order_they_arrive_in() {
        let mut g: Gather<i32> = Gather {
            done: Some(Vec::new()),
            next: 0,
            ahead: std::collections::BTreeMap::new(),
            left: 9,
            error: None,
            spare: Vec::new(),
            claimed: std::collections::BTreeMap::new(),
            landed: std::collections::BTreeMap::new(),
            copying: 0,
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
