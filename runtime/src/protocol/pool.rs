//! The pool's wire messages: every frame between the pool and a worker, built and read here.
//!
//! Parent → worker: a [`Request`] — one tag byte, then
//! - [`INIT`]: a task frame (the initializer's entry name and arguments, [`child::encode_task`]);
//! - [`CHUNK`]: a [`chunk_prefix`] (the entry's name), then the items' argument tuples as one encoded
//!   sequence, with the descriptors of every item beside the frame, or, for a one-argument map of
//!   plain numbers, the items' bytes (`codec::write_plain_items`);
//! - [`EXIT`]: nothing; the worker leaves.
//!
//! Worker → parent: first one report ([`child::send_report`]) that says the initializer ran, or
//! that the worker is up; then one reply per chunk, in order — [`OUTCOMES`] and the sequence of the
//! items' [`Outcome`]s, [`PLAIN`] and the results' bytes (plain numbers, every item returned), or
//! [`FAILED`] and one [`Report`] that stands for every item of a chunk that could not run at all.
//! Each side encodes or decodes a whole chunk in one pass.

use super::child::{self, Outcome, Report};
use crate::codec;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::os::fd::OwnedFd;

/// Request tag: the initializer's task frame follows.
pub(crate) const INIT: u8 = 0;
/// Request tag: an entry name and a chunk of argument tuples follow.
pub(crate) const CHUNK: u8 = 1;
/// Request tag: leave.
pub(crate) const EXIT: u8 = 2;

/// The whole [`EXIT`] request.
pub(crate) const EXIT_FRAME: &[u8] = &[EXIT];

/// Reply tag: the items' outcomes follow.
pub(crate) const OUTCOMES: u8 = 0;
/// Reply tag: the chunk could not run; one [`Report`] for all its items follows.
pub(crate) const FAILED: u8 = 1;
/// Reply tag: every item returned, and the results are plain numbers ([`codec::Plain`]): their
/// count (8 bytes, little endian), the size of one (a byte) and their bytes follow. The bytes are
/// copied in and out with no encoding, where [`OUTCOMES`] costs a tag and a varint a result (half
/// of a tiny map's work).
pub(crate) const PLAIN: u8 = 2;

/// Bytes of a [`PLAIN`] reply before its results.
const PLAIN_HEADER: usize = 1 + 8 + 1;

/// A request as the worker reads it.
pub(crate) enum Request<'a> {
    /// Run the initializer: a task frame for `registry::run_task`.
    Init(&'a [u8]),
    /// Run `entry` on each item of `items` (the encoded sequence of argument tuples).
    Chunk { entry: String, items: &'a [u8] },
    /// Leave.
    Exit,
}

impl<'a> Request<'a> {
    /// Reads a request frame.
    pub(crate) fn parse(frame: &'a [u8]) -> Result<Request<'a>> {
        match frame.split_first() {
            Some((&INIT, task)) => Ok(Request::Init(task)),
            Some((&CHUNK, rest)) => {
                let (entry, used): (String, usize) = codec::decode_prefix(rest, Vec::new())?;
                Ok(Request::Chunk {
                    entry,
                    items: &rest[used..],
                })
            }
            Some((&EXIT, _)) => Ok(Request::Exit),
            _ => Err(Error::codec(
                "pool worker received a frame it does not understand",
            )),
        }
    }
}

/// The [`INIT`] request for a task frame.
pub(crate) fn init_frame(task: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(task.len() + 1);
    frame.push(INIT);
    frame.extend_from_slice(task);
    frame
}

/// The start of every [`CHUNK`] request for `entry_name`; the items' encoding follows.
pub(crate) fn chunk_prefix(entry_name: &str) -> Result<Vec<u8>> {
    let mut bytes = vec![CHUNK];
    codec::encode_into(entry_name, &mut bytes, &mut Vec::new())?;
    Ok(bytes)
}

/// Starts an [`OUTCOMES`] reply in `bytes`; the outcomes follow.
pub(crate) fn begin_outcomes(bytes: &mut Vec<u8>) {
    bytes.push(OUTCOMES);
}

/// Starts a [`PLAIN`] reply of `count` results after what `bytes` holds; the caller appends each
/// result with [`codec::Plain::write`].
pub(crate) fn begin_plain<R>(plain: codec::Plain<R>, count: usize, bytes: &mut Vec<u8>) {
    bytes.reserve(PLAIN_HEADER.saturating_add(count.saturating_mul(plain.size())));
    bytes.push(PLAIN);
    bytes.extend_from_slice(&(count as u64).to_le_bytes());
    bytes.push(plain.size() as u8);
}

/// The results a [`PLAIN`] reply in `bytes` (whole) holds so far, read back: when an item fails
/// after some returned, the worker sends [`OUTCOMES`] instead, starting with these.
pub(crate) fn plain_so_far<R>(plain: codec::Plain<R>, bytes: &[u8]) -> Vec<R> {
    let mut values = Vec::new();
    plain.extend(&mut values, bytes.get(PLAIN_HEADER..).unwrap_or_default());
    values
}

/// Appends the reply of a chunk that could not run at all: `report` stands for each of its items.
pub(crate) fn failed_reply(report: Report, bytes: &mut Vec<u8>, fds: &mut Vec<OwnedFd>) {
    bytes.push(FAILED);
    if codec::encode_into(&report, bytes, fds).is_err() {
        bytes.truncate(1);
    }
}

/// Decodes a chunk's reply, handing each task's result to `put(index, result)` (from `start` on) as
/// it is decoded, with no vector of outcomes first; tasks the reply lacks come back as codec errors.
/// `Err(e)` if the frame as a whole is not a reply of `count` results (a failed chunk's report,
/// damaged or trailing bytes, an unknown kind): the caller then drops whatever was put and fails
/// every task of the chunk with `e`, as if nothing had decoded (a reply that is not what it should be
/// is trusted in none of its parts).
pub(crate) fn decode_reply<R: DeserializeOwned>(
    start: usize,
    count: usize,
    frame: &[u8],
    fds: Vec<OwnedFd>,
    mut put: impl FnMut(usize, Result<R>),
) -> Result<()> {
    match frame.split_first() {
        Some((&OUTCOMES, rest)) => {
            let mut given = 0;
            let each = Each {
                put: &mut |r: Result<R>| {
                    if given < count {
                        put(start + given, r);
                        given += 1;
                    }
                },
                _r: std::marker::PhantomData,
            };
            codec::decode_seed(rest, fds, each, "a pool reply's outcomes")?;
            lacked(start, given, count, &mut put);
            Ok(())
        }
        Some((&PLAIN, rest)) => {
            let (plain, values) = plain_values::<R>(rest)?;
            let mut given = 0;
            for value in values.chunks_exact(plain.size()).take(count) {
                let value = plain.read(value).ok_or_else(|| {
                    Error::codec("a pool worker's reply of plain results is damaged")
                });
                put(start + given, value);
                given += 1;
            }
            lacked(start, given, count, &mut put);
            Ok(())
        }
        Some((&FAILED, rest)) => Err(match codec::decode::<Report>(rest, fds) {
            Ok(report) => child::failure(report),
            Err(e) => e,
        }),
        _ => Err(Error::codec(
            "the pool worker sent a reply this version does not understand",
        )),
    }
}

/// Fails tasks `given..count` of a reply that ended before them.
fn lacked<R>(start: usize, given: usize, count: usize, put: &mut impl FnMut(usize, Result<R>)) {
    for i in given..count {
        put(
            start + i,
            Err(Error::codec(
                "the pool worker's reply lacked this task's result",
            )),
        );
    }
}

/// The results of a [`PLAIN`] reply (the frame after its tag) and the proof that `R` is plain.
fn plain_values<R>(rest: &[u8]) -> Result<(codec::Plain<R>, &[u8])> {
    let damaged = || Error::codec("a pool worker's reply of plain results is damaged");
    let plain = codec::plain::<R>().ok_or_else(|| {
        Error::codec("a pool worker sent plain results for a type that is not a plain number")
    })?;
    let (n, rest) = rest.split_first_chunk::<8>().ok_or_else(damaged)?;
    let (size, values) = rest.split_first().ok_or_else(damaged)?;
    let n = u64::from_le_bytes(*n);
    if usize::from(*size) != plain.size()
        || values.len() as u64 != n.saturating_mul(plain.size() as u64)
    {
        return Err(damaged());
    }
    Ok((plain, values))
}

/// The results of a [`PLAIN`] reply of exactly `count` results (the values' bytes, and the proof
/// that `R` is plain): a map's fast way, one copy of them into its result. `None` for any other
/// frame, which [`decode_reply`] then reads, reporting what is wrong with it.
pub(crate) fn plain_reply<R>(frame: &[u8], count: usize) -> Option<(codec::Plain<R>, &[u8])> {
    let (&PLAIN, rest) = frame.split_first()? else {
        return None;
    };
    plain_values::<R>(rest)
        .ok()
        .filter(|(plain, values)| Some(values.len()) == count.checked_mul(plain.size()))
}

/// Reads a sequence of outcomes, handing each to `put` as it is decoded.
struct Each<'a, R, F: FnMut(Result<R>)> {
    put: &'a mut F,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<'de, R: serde::Deserialize<'de>, F: FnMut(Result<R>)> serde::de::DeserializeSeed<'de>
    for Each<'_, R, F>
{
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: serde::Deserialize<'de>, F: FnMut(Result<R>)> serde::de::Visitor<'de>
    for Each<'_, R, F>
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of task outcomes")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        while seq
            .next_element_seed(One {
                put: &mut *self.put,
                _r: std::marker::PhantomData,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One [`Outcome`], read as serde reads the derived enum (a variant index, then the variant's value)
/// but handed to `put` as it is read: a `u64` result then goes from the decoder to the caller's
/// vector in registers. (Decoded whole, each `Outcome` went through the stack, and reading it back
/// stalled on store forwarding: a third of a tiny map's decoding.)
struct One<'a, R, F: FnMut(Result<R>)> {
    put: &'a mut F,
    _r: std::marker::PhantomData<fn() -> R>,
}

/// The variants of [`Outcome`], in its order.
const OUTCOME_VARIANTS: &[&str] = &["Ok", "Panicked", "Failed", "PanickedAt"];

impl<'de, R: serde::Deserialize<'de>, F: FnMut(Result<R>)> serde::de::DeserializeSeed<'de>
    for One<'_, R, F>
{
    type Value = ();

    #[inline]
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_enum("Outcome", OUTCOME_VARIANTS, self)
    }
}

impl<'de, R: serde::Deserialize<'de>, F: FnMut(Result<R>)> serde::de::Visitor<'de>
    for One<'_, R, F>
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a task outcome")
    }

    #[inline]
    fn visit_enum<A: serde::de::EnumAccess<'de>>(
        self,
        data: A,
    ) -> std::result::Result<(), A::Error> {
        use serde::de::VariantAccess;
        let (index, value) = data.variant::<u32>()?;
        let result = match index {
            0 => Ok(value.newtype_variant::<R>()?),
            1 => Outcome::<R>::Panicked(value.newtype_variant()?).into_result(),
            2 => Outcome::<R>::Failed(value.newtype_variant()?).into_result(),
            3 => Outcome::<R>::PanickedAt(value.newtype_variant()?).into_result(),
            other => {
                return Err(serde::de::Error::invalid_value(
                    serde::de::Unexpected::Unsigned(u64::from(other)),
                    &"an outcome's variant index, 0 to 3",
                ));
            }
        };
        (self.put)(result);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The results as a sink sees them: those put, or every task failed with the frame's error.
    fn collect(frame: &[u8], count: usize) -> Vec<Result<u64>> {
        let mut out = Vec::new();
        let res = decode_reply::<u64>(0, count, frame, Vec::new(), |i, r| {
            assert_eq!(i, out.len());
            out.push(r);
        });
        match res {
            Ok(()) => out,
            Err(e) => (0..count).map(|_| Err(e.clone())).collect(),
        }
    }

    #[test]
    fn outcomes_round_trip() {
        let mut frame = Vec::new();
        begin_outcomes(&mut frame);
        let outcomes = vec![
            Outcome::Ok(1u64),
            Outcome::Panicked("boom".into()),
            Outcome::Ok(3),
            Outcome::Failed(Box::new(child::Failure::of(&Error::new(
                crate::ErrorKind::Timeout,
                "too slow",
            )))),
            Outcome::PanickedAt(Box::new(child::Panic {
                message: "bang".into(),
                location: Some("src/x.rs:1:2".into()),
                backtrace: None,
            })),
            Outcome::Ok(u64::MAX),
        ];
        codec::encode_into(&outcomes, &mut frame, &mut Vec::new()).unwrap();
        let got = collect(&frame, 7);
        assert_eq!(got[0].as_ref().unwrap(), &1);
        assert!(matches!(
            got[1].as_ref().unwrap_err().kind(),
            crate::ErrorKind::WorkerPanicked { message, .. } if message == "boom"
        ));
        assert_eq!(got[2].as_ref().unwrap(), &3);
        let failed = got[3].as_ref().unwrap_err();
        assert_eq!(failed.kind(), &crate::ErrorKind::Timeout);
        assert!(failed.to_string().contains("too slow"), "{failed}");
        assert!(matches!(
            got[4].as_ref().unwrap_err().kind(),
            crate::ErrorKind::WorkerPanicked { message, .. } if message == "bang"
        ));
        assert_eq!(got[5].as_ref().unwrap(), &u64::MAX);
        assert!(got[6].is_err(), "a missing item is an error");
    }

    /// A reply damaged part way (or followed by stray bytes) fails every task of its chunk, even
    /// those whose outcomes decoded before the damage; more outcomes than tasks are ignored.
    #[test]
    fn a_reply_damaged_part_way_fails_its_whole_chunk() {
        let mut frame = Vec::new();
        begin_outcomes(&mut frame);
        let outcomes: Vec<Outcome<u64>> = (0..4).map(Outcome::Ok).collect();
        codec::encode_into(&outcomes, &mut frame, &mut Vec::new()).unwrap();
        let mut damaged = frame.clone();
        // A bad variant tag for the third outcome (each is a tag byte and a one-byte value here).
        let third = damaged.len() - 4;
        damaged[third] = 9;
        let got = collect(&damaged, 4);
        assert!(got.iter().all(|r| r.is_err()), "{got:?}");
        assert_eq!(
            got[0].as_ref().unwrap_err().kind(),
            &crate::ErrorKind::Codec
        );
        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(collect(&trailing, 4).iter().all(|r| r.is_err()));
        // Four outcomes for two tasks: the two, nothing more.
        let got = collect(&frame, 2);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|r| r.is_ok()));
    }

    /// A reply of plain results: read item by item (more results than tasks ignored, fewer an
    /// error for each task left) or whole by a map; a damaged one, or one for another type, fails
    /// every task.
    #[test]
    fn plain_replies_round_trip_and_damage_fails_the_chunk() {
        let plain = codec::plain::<u64>().unwrap();
        let mut frame = Vec::new();
        begin_plain(plain, 3, &mut frame);
        for v in [1u64, 300, u64::MAX] {
            plain.write(&v, &mut frame);
        }
        assert_eq!(plain_so_far(plain, &frame), [1, 300, u64::MAX]);
        let got = collect(&frame, 4);
        assert_eq!(
            got[..3]
                .iter()
                .map(|r| *r.as_ref().unwrap())
                .collect::<Vec<_>>(),
            [1, 300, u64::MAX]
        );
        assert!(got[3].is_err(), "a missing item is an error");
        assert_eq!(collect(&frame, 2).len(), 2);
        let mut whole = vec![7u64];
        let (plain, values) = plain_reply::<u64>(&frame, 3).expect("a plain reply of 3");
        plain.extend(&mut whole, values);
        assert_eq!(whole, [7, 1, 300, u64::MAX]);
        assert!(
            plain_reply::<u64>(&frame, 2).is_none(),
            "not the count asked for"
        );
        assert!(plain_reply::<u32>(&frame, 3).is_none(), "another type");
        for damaged in [&frame[..frame.len() - 1], &frame[..5], &frame[..1]] {
            assert!(collect(damaged, 3).iter().all(|r| r.is_err()));
            assert!(plain_reply::<u64>(damaged, 3).is_none());
        }
        let other = decode_reply::<u32>(0, 3, &frame, Vec::new(), |_, _| {});
        assert_eq!(other.unwrap_err().kind(), &crate::ErrorKind::Codec);
        let strings = decode_reply::<String>(0, 3, &frame, Vec::new(), |_, _| {});
        assert_eq!(strings.unwrap_err().kind(), &crate::ErrorKind::Codec);
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
    fn requests_round_trip() {
        let mut chunk = chunk_prefix("square").unwrap();
        chunk.extend_from_slice(b"items");
        match Request::parse(&chunk).unwrap() {
            Request::Chunk { entry, items } => {
                assert_eq!(entry, "square");
                assert_eq!(items, b"items");
            }
            _ => panic!("a chunk reads back as a chunk"),
        }
        assert!(matches!(
            Request::parse(&init_frame(b"task")).unwrap(),
            Request::Init(b"task")
        ));
        assert!(matches!(Request::parse(EXIT_FRAME).unwrap(), Request::Exit));
        assert!(Request::parse(&[]).is_err());
        assert!(Request::parse(&[9]).is_err());
    }
}
