//! The messages between rank 0 and the node agents: one MPI message each, of bytes, on one tag (MPI
//! keeps the order of the messages between two ranks on one tag). Each starts with its kind (one byte)
//! and the link it is about (a `u32`, little-endian; 0 where none), then its payload.
//!
//! Everything read here came from another process, maybe another host: a message that does not parse
//! is a `Codec` error, and the receiver drops it.

use crate::codec;
use crate::error::{Error, Result};
use crate::protocol::child::Failure;

/// Rank 0 to an agent: start a pool worker for a link. Payload: `has_init` (a byte), the start method
/// (a byte: 0 for the agent's default, else [`method_code`]).
pub(super) const START: u8 = 1;
/// Either way: a pool frame for (or from) a link's worker. Payload: the frame.
pub(super) const FRAME: u8 = 2;
/// Rank 0 to an agent: kill a link's worker.
pub(super) const KILL: u8 = 3;
/// Rank 0 to an agent: wait for a link's worker to end (payload: the grace period in milliseconds, a
/// `u64`), then answer [`ENDED`].
pub(super) const REAP: u8 = 4;
/// Rank 0 to an agent: forget a link, killing what is left of its worker.
pub(super) const DROP: u8 = 5;
/// Rank 0 to an agent: the program is over; kill every worker and leave.
pub(super) const EXIT: u8 = 6;
/// Either way: several pool frames for (or from) one link's worker, in order, in one MPI message.
/// Payload: each frame as its length (`u32`) and its bytes.
pub(super) const FRAMES: u8 = 7;
/// An agent to rank 0, first of all: it serves. Payload: its slots (a `u32`: the CPUs of its node),
/// then its host name.
pub(super) const HELLO: u8 = 10;
/// An agent to rank 0: a link's worker is up. Payload: its process id (`u32`).
pub(super) const STARTED: u8 = 11;
/// An agent to rank 0: a link's worker could not start. Payload: the encoded [`Failure`].
pub(super) const START_FAILED: u8 = 12;
/// An agent to rank 0: a link's worker is gone (its channel closed).
pub(super) const GONE: u8 = 13;
/// An agent to rank 0: how a reaped worker ended. Payload: the encoded `Option<Failure>`.
pub(super) const ENDED: u8 = 14;

/// A message with an empty payload.
pub(super) fn bare(kind: u8, link: u32) -> Vec<u8> {
    with(kind, link, &[])
}

/// A message with `payload`.
pub(super) fn with(kind: u8, link: u32, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(5 + payload.len());
    m.push(kind);
    m.extend_from_slice(&link.to_le_bytes());
    m.extend_from_slice(payload);
    m
}

/// A message whose payload is `value`, encoded.
pub(super) fn encoded<T: serde::Serialize>(kind: u8, link: u32, value: &T) -> Vec<u8> {
    let mut m = bare(kind, link);
    let mut fds = Vec::new();
    if codec::encode_into(value, &mut m, &mut fds).is_err() {
        // Nothing sent between ranks carries a descriptor or fails to encode; an empty payload
        // is read as a codec error on the other side, never silently as success.
        m.truncate(5);
    }
    m
}

/// A [`FRAMES`] message builder: frames are appended as they come.
pub(super) fn frames(link: u32) -> Vec<u8> {
    bare(FRAMES, link)
}

/// Appends one frame to a [`frames`] message.
pub(super) fn push_frame(message: &mut Vec<u8>, frame: &[u8]) {
    message.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    message.extend_from_slice(frame);
}

/// The frames of a [`FRAMES`] payload, each in turn; a truncated one ends them with an error.
pub(super) fn each_frame<'a>(mut payload: &'a [u8], mut f: impl FnMut(&'a [u8])) -> Result<()> {
    while !payload.is_empty() {
        let len = read_u32(payload)? as usize;
        let frame = payload
            .get(4..4 + len)
            .ok_or_else(|| Error::codec("MPI FRAMES message: a frame runs past its end"))?;
        f(frame);
        payload = &payload[4 + len..];
    }
    Ok(())
}

/// A message's kind, link and payload.
pub(super) fn parse(message: &[u8]) -> Result<(u8, u32, &[u8])> {
    if message.len() < 5 {
        return Err(Error::codec(format!(
            "MPI message of {} bytes is shorter than its 5-byte header",
            message.len()
        )));
    }
    let link = u32::from_le_bytes([message[1], message[2], message[3], message[4]]);
    Ok((message[0], link, &message[5..]))
}

/// A payload encoded by [`encoded`].
pub(super) fn decode<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T> {
    codec::decode(payload, Vec::new())
}

/// A `u32` or `u64` payload prefix.
pub(super) fn read_u32(payload: &[u8]) -> Result<u32> {
    payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| Error::codec("MPI message payload too short for a u32"))
}

pub(super) fn read_u64(payload: &[u8]) -> Result<u64> {
    payload
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| Error::codec("MPI message payload too short for a u64"))
}

/// The error a [`Failure`] from an agent stands for.
pub(super) fn failure_error(f: Failure) -> Error {
    f.into_error()
}

/// The start method on the wire: 0 for the agent's default.
pub(super) fn method_code(method: Option<crate::method::StartMethod>) -> u8 {
    use crate::method::StartMethod;
    match method {
        None => 0,
        Some(StartMethod::Spawn) => 1,
        Some(StartMethod::ForkServer) => 2,
    }
}

/// The start method a [`method_code`] names.
pub(super) fn method_of(code: u8) -> Option<crate::method::StartMethod> {
    use crate::method::StartMethod;
    match code {
        1 => Some(StartMethod::Spawn),
        2 => Some(StartMethod::ForkServer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_short_messages() {
        let m = with(FRAME, 7, b"abc");
        assert_eq!(parse(&m).unwrap(), (FRAME, 7, &b"abc"[..]));
        assert!(parse(&m[..4]).is_err());
        assert!(read_u32(&[1, 2]).is_err());
        assert_eq!(read_u64(&5u64.to_le_bytes()).unwrap(), 5);
        let mut m = frames(3);
        push_frame(&mut m, b"one");
        push_frame(&mut m, b"");
        push_frame(&mut m, b"three");
        let (kind, link, payload) = parse(&m).unwrap();
        assert_eq!((kind, link), (FRAMES, 3));
        let mut got = Vec::new();
        each_frame(payload, |f| got.push(f.to_vec())).unwrap();
        assert_eq!(got, [b"one".to_vec(), vec![], b"three".to_vec()]);
        assert!(each_frame(&payload[..payload.len() - 1], |_| {}).is_err());
    }
}
