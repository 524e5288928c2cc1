//! Chunks of tasks: the items of one call encoded together as a `CHUNK` request (the frame layout is
//! the pool's [protocol](crate::protocol::pool)), in one pass of the codec with the descriptors of
//! every item beside the frame; and Python's chunk-size rule.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};
use serde::ser::Serialize;
use std::os::fd::OwnedFd;

/// Appends one chunk of items to encode to a task frame.
pub(crate) type EncodeFn<T> = fn(&[T], &mut Vec<u8>, &mut Vec<OwnedFd>) -> Result<()>;

/// [`EncodeFn`] of a one-argument worker (`map`, `imap`): the worker decodes each item as the
/// tuple `(item,)`. Plain numbers go as their bytes (`codec::write_plain_items`, which the worker
/// reads back as those tuples); any other item as the slice it is, whose encoding is that of the
/// tuples (a tuple adds no bytes).
pub(crate) fn encode_one<A: Serialize>(
    items: &[A],
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    if codec::write_plain_items(items, bytes) {
        return Ok(());
    }
    codec::encode_into(items, bytes, fds)
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
    // Room for the items at their own size (plain numbers travel so; an encoded item is rarely
    // larger), and at least 4 bytes each: a guess short of the frame costs a copy of it all.
    let each = size_of::<T>().clamp(4, 64);
    let mut bytes = Vec::with_capacity(prefix.len() + 16 + each.saturating_mul(items.len()));
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

/// The items of a map, handed out a chunk at a time. An iterator that knows its exact length (a
/// range, a `Vec`, a slice's iterator, a `map` over one) is read as the chunks are made, so a long
/// map never holds all its items at once (10^7 `u64`s: 80 MB written and page-faulted for
/// nothing); any other is collected first, as Python's `map` makes a list of an iterable without a
/// length.
pub(crate) enum Items<I: Iterator> {
    Listed(Vec<I::Item>),
    /// The iterator, the length it gave, and the buffer of the chunk being made.
    Streamed(I, usize, Vec<I::Item>),
}

impl<I: Iterator> Items<I> {
    /// The items of `iter` and how many there are.
    pub(crate) fn new(iter: I) -> (Items<I>, usize) {
        match iter.size_hint() {
            (lo, Some(hi)) if lo == hi => (Items::Streamed(iter, lo, Vec::new()), lo),
            _ => {
                let listed: Vec<I::Item> = iter.collect();
                let len = listed.len();
                (Items::Listed(listed), len)
            }
        }
    }

    /// Items `start .. start + count`, asked for in order. An iterator whose items do not match
    /// the length it gave is an error (`InvalidInput`), found at the latest with the last chunk.
    pub(crate) fn chunk(&mut self, start: usize, count: usize) -> Result<&[I::Item]> {
        match self {
            Items::Listed(items) => Ok(&items[start..start + count]),
            Items::Streamed(iter, len, buf) => {
                buf.clear();
                buf.extend(iter.by_ref().take(count));
                let short = buf.len() < count;
                let last = start + count == *len;
                if short || (last && iter.next().is_some()) {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "the iterable of a map said it held {} items (its size_hint) but {}: \
                             its iterator is wrong; collect it into a Vec first",
                            start + count,
                            if short {
                                format!("ended after {}", start + buf.len())
                            } else {
                                "held more".to_string()
                            }
                        ),
                    ));
                }
                Ok(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arg_items_decode_as_tuples() {
        let (frame, _) = task_frame(b"p", &[5u64, 600, u64::MAX], encode_one::<u64>, true).unwrap();
        let back: Vec<(u64,)> = codec::read_plain_items(&frame[1..]).unwrap().unwrap();
        assert_eq!(
            back,
            [(5,), (600,), (u64::MAX,)],
            "plain numbers go as their bytes"
        );
        let items = ["a".to_string(), "bc".to_string()];
        let (frame, _) = task_frame(b"p", &items, encode_one::<String>, true).unwrap();
        let back: Vec<(String,)> = codec::decode(&frame[1..], Vec::new()).unwrap();
        assert_eq!(back, [("a".to_string(),), ("bc".to_string(),)]);
    }

    /// An iterator that lies about its length.
    struct Liar(std::ops::Range<u32>, usize);

    impl Iterator for Liar {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.0.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.1, Some(self.1))
        }
    }

    #[test]
    fn items_stream_exact_iterators_and_list_the_others() {
        let (mut items, len) = Items::new(0..10u32);
        assert!(matches!(items, Items::Streamed(..)));
        assert_eq!(len, 10);
        assert_eq!(items.chunk(0, 4).unwrap(), [0, 1, 2, 3]);
        assert_eq!(items.chunk(4, 6).unwrap(), [4, 5, 6, 7, 8, 9]);
        let (mut items, len) = Items::new((0..10u32).filter(|x| x % 2 == 0));
        assert!(matches!(items, Items::Listed(..)));
        assert_eq!(len, 5);
        assert_eq!(items.chunk(2, 3).unwrap(), [4, 6, 8]);
    }

    #[test]
    fn an_iterator_that_lies_about_its_length_is_an_error() {
        let (mut items, len) = Items::new(Liar(0..3, 5));
        assert_eq!(len, 5);
        let err = items.chunk(0, 5).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
        let (mut items, _) = Items::new(Liar(0..9, 5));
        let err = items.chunk(0, 5).unwrap_err();
        assert!(err.to_string().contains("held more"), "{err}");
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
