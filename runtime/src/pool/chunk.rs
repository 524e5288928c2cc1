//! Chunks of tasks: the items of one call encoded together as a `CHUNK` request (the frame layout is
//! the pool's [protocol](crate::protocol::pool)), in one pass of the codec with the descriptors of
//! every item beside the frame; and Python's chunk-size rule.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use std::os::fd::OwnedFd;

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

/// A `CHUNK` request: `prefix` (`protocol::pool::chunk_prefix`), then `items` encoded by `encode`;
/// and its descriptors, which fail it (naming the item type) where the pool's workers are out of
/// their reach (`carries_fds` false: MPI ranks).
pub(crate) fn task_frame<T>(
    prefix: &[u8],
    items: &[T],
    encode: EncodeFn<T>,
    carries_fds: bool,
) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut bytes = Vec::with_capacity(prefix.len() + 16 + 4 * items.len());
    bytes.extend_from_slice(prefix);
    let mut fds = Vec::new();
    encode(items, &mut bytes, &mut fds)?;
    if !carries_fds && !fds.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "a task argument of type `{}` holds {} file descriptor(s) (a Pipe, Queue, Value, Array, \
                 lock, Event, SharedMemory or another handle), which cannot reach this pool's workers on \
                 other MPI ranks: pass a manager proxy instead, or use a local pool",
                std::any::type_name::<T>(),
                fds.len()
            ),
        ));
    }
    // A frame the channel would refuse is the caller's error, not a worker's failure.
    Channel::check_sendable(bytes.len(), fds.len(), DEFAULT_MAX_MESSAGE)?;
    Ok((bytes, fds))
}

/// Most items in one automatic chunk: a chunk's frames then stay a few hundred KiB (in cache, no
/// page-fault storms), whatever the length of the map.
pub(crate) const MAX_AUTO_CHUNK: usize = CAP;
const CAP: usize = 1 << 15;

/// Python's `Pool.map` rule, `ceil(len / (4 * processes))`, at least 1, bounded by
/// [`MAX_AUTO_CHUNK`] so that throughput does not fall for very long maps.
pub(crate) fn auto_chunksize(len: usize, processes: usize) -> usize {
    len.div_ceil(4 * processes.max(1)).clamp(1, MAX_AUTO_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arg_items_decode_as_tuples() {
        let (frame, _) = task_frame(b"p", &[5u64, 6], encode_one::<u64>, true).unwrap();
        let back: Vec<(u64,)> = codec::decode(&frame[1..], Vec::new()).unwrap();
        assert_eq!(back, [(5,), (6,)]);
    }

    #[test]
    fn python_chunksize_rule() {
        assert_eq!(auto_chunksize(100_000, 2), 12_500);
        assert_eq!(auto_chunksize(1_000_000, 2), MAX_AUTO_CHUNK);
        assert_eq!(auto_chunksize(16, 2), 2);
        assert_eq!(auto_chunksize(10, 4), 1);
        assert_eq!(auto_chunksize(0, 4), 1);
    }
}
