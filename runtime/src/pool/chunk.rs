//! The wire format of a chunk — several calls of one worker, or their outcomes — and the chunk-size
//! heuristic. A task chunk is the worker's prefix (tag, entry name) and the items' argument tuples as
//! one encoded sequence; its reply is a tag and either the sequence of the items' outcomes
//! ([`Outcome`]) or, when the chunk could not run at all, one failure [`Report`] for every item. Each
//! side encodes or decodes a whole chunk in one pass of the codec; the descriptors of every item ride
//! together beside the frame.

use crate::codec;
use crate::error::{Error, Result};
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};
use crate::protocol::child::{self as protocol, Outcome, Report};
use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::os::fd::OwnedFd;

/// Reply tag: the items' outcomes follow.
pub(crate) const OUTCOMES: u8 = 0;
/// Reply tag: the chunk could not run; one [`Report`] for all its items follows.
pub(crate) const FAILED: u8 = 1;

/// Appends one chunk of items to encode to a task frame.
pub(crate) type EncodeFn<T> = fn(&[T], &mut Vec<u8>, &mut Vec<OwnedFd>) -> Result<()>;

/// Items of a one-argument worker (`map`, `imap`), encoded as the argument tuples `(item,)` the
/// worker decodes.
struct OneArg<'a, A>(&'a [A]);

impl<A: Serialize> Serialize for OneArg<'_, A> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(item,))?;
        }
        seq.end()
    }
}

/// [`EncodeFn`] of a one-argument worker: each item is the tuple `(item,)`.
pub(crate) fn encode_one<A: Serialize>(
    items: &[A],
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    codec::encode_into(&OneArg(items), bytes, fds)
}

/// [`EncodeFn`] of items that are argument tuples (`starmap`, `apply`).
pub(crate) fn encode_args<Args: Serialize>(
    items: &[Args],
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    codec::encode_into(items, bytes, fds)
}

/// A task frame: `prefix`, then `items` encoded by `encode`; and its descriptors.
pub(crate) fn task_frame<T>(
    prefix: &[u8],
    items: &[T],
    encode: EncodeFn<T>,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut bytes = Vec::with_capacity(prefix.len() + 16 + 4 * items.len());
    bytes.extend_from_slice(prefix);
    let mut fds = Vec::new();
    encode(items, &mut bytes, &mut fds)?;
    // A frame the channel would refuse is the caller's error, not a worker's failure.
    Channel::check_sendable(bytes.len(), fds.len(), DEFAULT_MAX_MESSAGE)?;
    Ok((bytes, fds))
}

/// Appends the reply of a chunk that could not run at all: `report` stands for each of its items.
pub(crate) fn failed_reply(report: Report, bytes: &mut Vec<u8>, fds: &mut Vec<OwnedFd>) {
    bytes.push(FAILED);
    if codec::encode_into(&report, bytes, fds).is_err() {
        bytes.truncate(1);
    }
}

/// Decodes a chunk's reply into `count` results, calling `put(index, result)` for each from `start`
/// on; items the reply lacks come back as codec errors.
pub(crate) fn decode_reply<R: DeserializeOwned>(
    start: usize,
    count: usize,
    frame: &[u8],
    fds: Vec<OwnedFd>,
    mut put: impl FnMut(usize, Result<R>),
) {
    let whole = |e: &Error, put: &mut dyn FnMut(usize, Result<R>)| {
        for i in start..start + count {
            put(
                i,
                Err(Error::new(e.kind().clone(), e.message().to_string())),
            );
        }
    };
    match frame.split_first() {
        Some((&OUTCOMES, rest)) => match codec::decode::<Vec<Outcome<R>>>(rest, fds) {
            Ok(outcomes) => {
                let got = outcomes.len().min(count);
                for (i, o) in outcomes.into_iter().take(count).enumerate() {
                    put(start + i, o.into_result());
                }
                for i in got..count {
                    put(
                        start + i,
                        Err(Error::codec(
                            "the pool worker's reply lacked this task's result",
                        )),
                    );
                }
            }
            Err(e) => whole(&e, &mut put),
        },
        Some((&FAILED, rest)) => {
            let e = match codec::decode::<Report>(rest, fds) {
                Ok(report) => protocol::failure(report),
                Err(e) => e,
            };
            whole(&e, &mut put);
        }
        _ => whole(
            &Error::codec("the pool worker sent a reply this version does not understand"),
            &mut put,
        ),
    }
}

/// Python's `Pool.map` rule: `ceil(len / (4 * processes))`, at least 1.
pub(crate) fn auto_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(frame: &[u8], count: usize) -> Vec<Result<u64>> {
        let mut out = Vec::new();
        decode_reply::<u64>(0, count, frame, Vec::new(), |i, r| {
            assert_eq!(i, out.len());
            out.push(r);
        });
        out
    }

    #[test]
    fn outcomes_round_trip() {
        let mut frame = vec![OUTCOMES];
        let outcomes = vec![
            Outcome::Ok(1u64),
            Outcome::Panicked("boom".into()),
            Outcome::Ok(3),
        ];
        codec::encode_into(&outcomes, &mut frame, &mut Vec::new()).unwrap();
        let got = collect(&frame, 4);
        assert_eq!(got[0].as_ref().unwrap(), &1);
        assert!(matches!(
            got[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::WorkerPanicked { message } if message == "boom"
        ));
        assert_eq!(got[2].as_ref().unwrap(), &3);
        assert!(got[3].is_err(), "a missing item is an error");
    }

    #[test]
    fn one_arg_items_decode_as_tuples() {
        let (frame, _) = task_frame(b"p", &[5u64, 6], encode_one::<u64>).unwrap();
        let back: Vec<(u64,)> = codec::decode(&frame[1..], Vec::new()).unwrap();
        assert_eq!(back, [(5,), (6,)]);
    }

    #[test]
    fn failed_chunk_fails_every_item() {
        let mut frame = Vec::new();
        failed_reply(
            Report::failed(&Error::codec("no such worker")),
            &mut frame,
            &mut Vec::new(),
        );
        let got = collect(&frame, 2);
        assert!(got.iter().all(|r| r.is_err()));
        assert!(
            collect(&[], 1)[0].is_err(),
            "garbage is an error, not a panic"
        );
        assert!(collect(&[OUTCOMES, 0xff], 1)[0].is_err());
    }

    #[test]
    fn python_chunksize_rule() {
        assert_eq!(auto_chunksize(1_000_000, 2), 125_000);
        assert_eq!(auto_chunksize(16, 2), 2);
        assert_eq!(auto_chunksize(10, 4), 1);
        assert_eq!(auto_chunksize(0, 4), 1);
    }
}
