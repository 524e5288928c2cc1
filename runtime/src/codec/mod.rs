//! The one place that serializes: serde in bincode 2's standard format (varint integers, little
//! endian), written by our own encoder (`ser`: plain pushes into a `Vec`, bincode's bytes to the bit)
//! and read by our own bounded decoder ([`de`]), with file descriptors carried beside the bytes. Decoding never
//! allocates more than the bytes that arrived: see [`de`] for the limits. Handles (pipe ends, queues, shared blocks, locks, proxies) serialize themselves with
//! [`serialize_fd`] / [`deserialize_fd`]: the fd goes into a side list and only its index into the bytes;
//! the transport (`ipc`) passes the list with `SCM_RIGHTS`.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

mod bytes;
pub mod de;
mod pod;
mod ser;

pub use bytes::Bytes;
pub(crate) use pod::{Plain, plain, read_plain_items, write_plain_items};
pub(crate) use ser::Spilled;

/// An encoded message: its bytes and the file descriptors that travel beside them.
#[derive(Debug, Default)]
pub struct Encoded {
    /// The serialized value.
    pub bytes: Vec<u8>,
    /// Descriptors referenced by index from `bytes`, in order.
    pub fds: Vec<OwnedFd>,
}

thread_local! {
    static SEND_FDS: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static RECV_FDS: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
    /// The descriptors of the encode in progress that handles share (see [`shared_fd_index`]): a
    /// caller's key and the descriptor's index in the side list.
    static SEND_KEYS: RefCell<Option<Vec<(usize, u32)>>> = const { RefCell::new(None) };
    /// A handle was met outside a side list: what [`encode_spilling`] (which installs none, a queue
    /// message carrying no handles) turns into its `InvalidInput`.
    static HANDLE_REFUSED: Cell<bool> = const { Cell::new(false) };
    /// An encode runs whose side lists are made by its first handle (see [`Lazy`]).
    static LAZY: Cell<bool> = const { Cell::new(false) };
    /// Descriptors ever pushed to `SEND_FDS` by this thread (wrapping): what an element of a
    /// [`SeqEncoder`] added is the difference, read without touching the list (a thread-local with
    /// a destructor, whose every access checks its state: per element of a tiny map, that check
    /// was a third of the worker's encoding loop).
    static PUSHED: Cell<usize> = const { Cell::new(0) };
}

/// Notes one descriptor pushed to `SEND_FDS` (see `PUSHED`).
#[inline]
fn count_pushed() {
    PUSHED.with(|p| p.set(p.get().wrapping_add(1)));
}

/// True while an encode's side lists are installed on this thread (one nested in it must hide them).
fn lists_installed() -> bool {
    SEND_FDS.with(|k| k.borrow().is_some())
}

/// An encode whose side lists are made only when its first handle needs them: most values hold no
/// handle, and installing the lists up front (two thread-local swaps of a `Vec` each way, which
/// stall on store forwarding) cost a small message more than its encoding. Dropped (also when a
/// `Serialize` impl panics), it restores the encode around it and drops lists not taken.
struct Lazy {
    prev: bool,
    /// `PUSHED` when it began: restored at its end, so that a sequence element's count of its own
    /// descriptors does not take those of an encode nested in it (which lists them apart).
    pushed: usize,
}

impl Lazy {
    fn enter() -> Lazy {
        Lazy {
            prev: LAZY.with(|l| l.replace(true)),
            pushed: PUSHED.with(Cell::get),
        }
    }

    /// The descriptors the encode's handles listed, if any did.
    fn take_fds(&self) -> Option<Vec<OwnedFd>> {
        SEND_FDS.with(|k| k.borrow_mut().take())
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        LAZY.with(|l| l.set(self.prev));
        PUSHED.with(|p| p.set(self.pushed));
        SEND_FDS.with(|k| k.borrow_mut().take());
        SEND_KEYS.with(|k| k.borrow_mut().take());
    }
}

/// An encode that takes no handles ([`encode_spilling`]): no lazy lists while it runs, and a fresh
/// refusal flag; both restored when it ends, also by panic.
struct Refusing {
    lazy: bool,
    refused: bool,
}

impl Refusing {
    fn enter() -> Refusing {
        Refusing {
            lazy: LAZY.with(|l| l.replace(false)),
            refused: HANDLE_REFUSED.with(|r| r.replace(false)),
        }
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        LAZY.with(|l| l.set(self.lazy));
        HANDLE_REFUSED.with(|r| r.set(self.refused));
    }
}

/// Makes the side lists of a lazy encode in progress when a handle needs them; false when no
/// multiproc encode runs (nothing to make them for).
fn lists_ready() -> bool {
    if lists_installed() {
        return true;
    }
    if !LAZY.with(Cell::get) {
        return false;
    }
    SEND_FDS.with(|k| *k.borrow_mut() = Some(Vec::new()));
    SEND_KEYS.with(|k| *k.borrow_mut() = Some(Vec::new()));
    true
}

/// Installs a side list for one encode or decode and restores the previous one when it ends, even by
/// panic, so that nested use (a handle encoded while encoding) works.
struct Scope<T: 'static> {
    key: &'static std::thread::LocalKey<RefCell<Option<T>>>,
    prev: Option<T>,
    /// `PUSHED` when it began, restored at its end (see [`Lazy`]'s). Restored by every scope, a
    /// decode's too: a decode pushes nothing, so it restores what it found.
    pushed: usize,
}

impl<T: 'static> Scope<T> {
    fn enter(key: &'static std::thread::LocalKey<RefCell<Option<T>>>, value: T) -> Scope<T> {
        let prev = key.with(|k| k.replace(Some(value)));
        Scope {
            key,
            prev,
            pushed: PUSHED.with(Cell::get),
        }
    }

    fn finish(mut self) -> Option<T> {
        let prev = self.prev.take();
        let current = self.key.with(|k| k.replace(prev));
        PUSHED.with(|p| p.set(self.pushed));
        std::mem::forget(self);
        current
    }
}

impl<T: 'static> Drop for Scope<T> {
    fn drop(&mut self) {
        let prev = self.prev.take();
        self.key.with(|k| k.replace(prev));
        PUSHED.with(|p| p.set(self.pushed));
    }
}

/// Appends the encoding of `value` to `bytes` and its descriptors to `fds`; on error nothing is
/// appended to either.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    let (mark, fds_mark) = (bytes.len(), fds.len());
    let res = if fds.is_empty() && !lists_installed() {
        let lazy = Lazy::enter();
        let res = ser::encode_into(value, bytes);
        if let Some(listed) = lazy.take_fds() {
            *fds = listed;
        }
        res
    } else {
        let keys = Scope::enter(&SEND_KEYS, Vec::new());
        let scope = Scope::enter(&SEND_FDS, std::mem::take(fds));
        let res = ser::encode_into(value, bytes);
        *fds = scope.finish().unwrap_or_default();
        drop(keys);
        res
    };
    res.map_err(|e| {
        bytes.truncate(mark);
        fds.truncate(fds_mark);
        Error::codec(format!(
            "could not encode {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Appends a sequence of `len` elements, each written by `fill` through the [`SeqEncoder`] it is
/// given, exactly as [`encode_into`] appends a `Vec` of them, with one descriptor scope for all: for
/// producers that make the elements one at a time and should not collect them first (a pool worker's
/// results). Fails if `fill` wrote another number of elements than `len` (nothing is appended then).
pub(crate) fn encode_seq(
    len: usize,
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
    fill: impl FnOnce(&mut SeqEncoder<'_>),
) -> Result<()> {
    let (start, start_fds) = (bytes.len(), fds.len());
    let keys = Scope::enter(&SEND_KEYS, Vec::new());
    let scope = Scope::enter(&SEND_FDS, std::mem::take(fds));
    let res = ser::encode_into(&(len as u64), bytes);
    let mut seq = SeqEncoder { bytes, written: 0 };
    if res.is_ok() {
        fill(&mut seq);
    }
    let written = seq.written;
    *fds = scope.finish().unwrap_or_default();
    drop(keys);
    if res.is_err() || written != len {
        bytes.truncate(start);
        fds.truncate(start_fds);
        return Err(Error::codec(format!(
            "a sequence of {len} elements got {written}: the encoder stopped"
        )));
    }
    Ok(())
}

/// Writes the elements of an [`encode_seq`].
pub(crate) struct SeqEncoder<'a> {
    bytes: &'a mut Vec<u8>,
    written: usize,
}

impl SeqEncoder<'_> {
    /// Appends one element; an element that does not encode appends nothing (its bytes and
    /// descriptors are rolled back) and is not counted, so the caller may write another in its place.
    #[inline]
    pub(crate) fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let mark = self.bytes.len();
        let pushed = PUSHED.with(Cell::get);
        match ser::encode_into(value, &mut *self.bytes) {
            Ok(_) => {
                self.written += 1;
                Ok(())
            }
            Err(e) => {
                self.bytes.truncate(mark);
                // The list only grows during an encode: what this element added is its tail.
                let added = PUSHED.with(Cell::get).wrapping_sub(pushed);
                let kept = SEND_FDS.with(|k| {
                    k.borrow_mut().as_mut().map_or(0, |list| {
                        list.truncate(list.len().saturating_sub(added));
                        list.len()
                    })
                });
                SEND_KEYS.with(|k| {
                    if let Some(keys) = k.borrow_mut().as_mut() {
                        keys.retain(|&(_, i)| (i as usize) < kept);
                    }
                });
                Err(Error::codec(format!(
                    "could not encode {}: {e}",
                    std::any::type_name::<T>()
                )))
            }
        }
    }
}

/// Encodes `value` with its descriptors.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let enc = multiproc::codec::encode(&(1u32, "two")).unwrap();
/// let back: (u32, String) = multiproc::codec::decode(&enc.bytes, enc.fds).unwrap();
/// assert_eq!(back, (1, "two".to_string()));
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Encoded> {
    let mut enc = Encoded::default();
    encode_into(value, &mut enc.bytes, &mut enc.fds)?;
    Ok(enc)
}

/// Decodes a `T` that must span all of `bytes`; `fds` are the descriptors received with them.
/// Descriptors the value does not claim are closed.
#[inline]
pub fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T> {
    let (value, used) = decode_prefix(bytes, fds)?;
    if used != bytes.len() {
        return Err(Error::codec(format!(
            "message has {} trailing bytes after a {}: the sender sent another type",
            bytes.len() - used,
            std::any::type_name::<T>()
        )));
    }
    Ok(value)
}

/// Byte strings (`Bytes`, `String`s, serde's `serialize_bytes`) and `u8` sequences seen whole
/// (`Vec<u8>`, `[u8]`: see [`pod`]) at least this long go apart from the rest of a queue message:
/// straight from the value into the ring and out into a buffer of their own (see
/// `shm::ring::Stream`), so a large buffer is copied once on each side.
pub(crate) const BULK_MIN: usize = 64 << 10;

/// Appends the encoding of `value` to `bytes` (empty), handing every byte string of at least
/// [`BULK_MIN`] bytes and the main bytes before it to `spill` (see [`ser::Spill`]). Descriptors are
/// refused: a queue message carries none. On error `bytes` holds part of the encoding.
pub(crate) fn encode_spilling<T: Serialize + ?Sized>(
    value: &T,
    bytes: &mut Vec<u8>,
    spill: &mut ser::Spill<'_>,
) -> Result<()> {
    if !lists_installed() {
        // No side lists, and none to be made (not lazy, even inside a lazy encode): a handle finds
        // none and fails the encode. Installing them costs a small message more than its encoding.
        let _refusing = Refusing::enter();
        let res = ser::encode_spilling(value, bytes, spill);
        return res.map_err(|e| {
            // Our refusal, not one a `Serialize` impl swallowed on the way before failing otherwise.
            if HANDLE_REFUSED.with(Cell::get) && e.to_string().contains(NOT_THROUGH_MULTIPROC) {
                Error::new(
                    crate::error::ErrorKind::InvalidInput,
                    QUEUE_CARRIES_NO_HANDLES,
                )
            } else {
                Error::codec(format!(
                    "could not encode {}: {e}",
                    std::any::type_name::<T>()
                ))
            }
        });
    }
    let keys = Scope::enter(&SEND_KEYS, Vec::new());
    let scope = Scope::enter(&SEND_FDS, Vec::new());
    let res = ser::encode_spilling(value, bytes, spill);
    let fds = scope.finish().unwrap_or_default();
    drop(keys);
    res.map_err(|e| {
        Error::codec(format!(
            "could not encode {}: {e}",
            std::any::type_name::<T>()
        ))
    })?;
    if !fds.is_empty() {
        return Err(Error::new(
            crate::error::ErrorKind::InvalidInput,
            QUEUE_CARRIES_NO_HANDLES,
        ));
    }
    Ok(())
}

/// Why a queue refuses a message holding descriptors.
pub(crate) const QUEUE_CARRIES_NO_HANDLES: &str = "a queue carries plain data: handles (pipes, queues, shared values, locks) cannot travel inside a queue message; pass them as worker arguments or through a Pipe";

/// [`decode`] for a message whose bulk byte strings came apart from its main `bytes` (as a queue
/// reader collects them; none: a plain message).
#[inline]
pub(crate) fn decode_bulk<T: DeserializeOwned>(
    bytes: &[u8],
    bulk: Vec<(usize, Vec<u8>)>,
) -> Result<T> {
    if bulk.is_empty() {
        return decode(bytes, Vec::new());
    }
    let decoder = de::Decoder::with_bulk(bytes, bulk);
    let (value, used, left) = run_decoder(
        decoder,
        Vec::new(),
        PhantomData::<T>,
        std::any::type_name::<T>(),
    )?;
    if used != bytes.len() || left != 0 {
        return Err(Error::codec(format!(
            "message has {} trailing bytes and {left} bulk parts left after a {}: the sender sent another type",
            bytes.len() - used,
            std::any::type_name::<T>()
        )));
    }
    Ok(value)
}

/// Decodes what `seed` reads (`what`, for errors: a value that must span all of `bytes`), for
/// readers that take a sequence element by element instead of collecting it (a pool reply's
/// outcomes). Descriptors the value does not claim are closed.
pub(crate) fn decode_seed<'de, S: serde::de::DeserializeSeed<'de>>(
    bytes: &'de [u8],
    fds: Vec<OwnedFd>,
    seed: S,
    what: &str,
) -> Result<S::Value> {
    let (value, used, _) = run_decoder(de::Decoder::new(bytes), fds, seed, what)?;
    if used != bytes.len() {
        return Err(Error::codec(format!(
            "message has {} trailing bytes after {what}: the sender sent another type",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Decodes a `T` from the start of `bytes`, returning it and the number of bytes it used.
#[inline]
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<(T, usize)> {
    let decoder = de::Decoder::new(bytes);
    run_decoder(decoder, fds, PhantomData::<T>, std::any::type_name::<T>())
        .map(|(value, used, _)| (value, used))
}

/// Runs `decoder` for what `seed` reads (`what`, for errors): the value, the main bytes used and
/// the bulk parts left.
#[inline]
fn run_decoder<'de, S: serde::de::DeserializeSeed<'de>>(
    mut decoder: de::Decoder<'de>,
    fds: Vec<OwnedFd>,
    seed: S,
    what: &str,
) -> Result<(S::Value, usize, usize)> {
    let len = decoder.remaining();
    // No descriptors and no decode around this one: no side list (a handle in the value finds none,
    // as it would find an empty one). Installing it costs a small message more than its decoding.
    // Each way returns on its own: a result merged from the two went through the stack, and
    // reading it back stalled on store forwarding (a third of a small queue get's decoding).
    if fds.is_empty() && RECV_FDS.with(|k| k.borrow().is_none()) {
        return match seed.deserialize(&mut decoder) {
            Ok(value) => Ok((value, len - decoder.remaining(), decoder.bulk_left())),
            Err(e) => Err(undecodable(what, &e, len - decoder.remaining(), len)),
        };
    }
    let scope = Scope::enter(&RECV_FDS, fds.into_iter().map(Some).collect());
    let res = seed.deserialize(&mut decoder);
    scope.finish();
    match res {
        Ok(value) => Ok((value, len - decoder.remaining(), decoder.bulk_left())),
        Err(e) => Err(undecodable(what, &e, len - decoder.remaining(), len)),
    }
}

/// The error of a decode that failed at byte `at` of `len`.
#[cold]
fn undecodable(what: &str, e: &de::DeError, at: usize, len: usize) -> Error {
    Error::codec(format!(
        "received bytes do not decode as {what}: {e} (at byte {at} of {len})"
    ))
}

/// Serializes a descriptor as part of a handle: a duplicate goes into the side list of the encode in
/// progress. Outside a multiproc encode (serde_json, say) it fails: handles only travel through multiproc.
pub fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::Error as _;
    if !lists_ready() {
        return Err(S::Error::custom(refusal()));
    }
    let dup = fd
        .try_clone_to_owned()
        .map_err(|e| S::Error::custom(format!("dup of a handle's fd failed: {e}")))?;
    let index = SEND_FDS.with(|k| {
        k.borrow_mut().as_mut().map(|list| {
            list.push(dup);
            count_pushed();
            list.len() - 1
        })
    });
    match index {
        Some(i) => (i as u32).serialize(serializer),
        None => Err(S::Error::custom(refusal())),
    }
}

/// The error of a handle encoded where no side list takes descriptors, noted for
/// [`encode_spilling`].
fn refusal() -> &'static str {
    HANDLE_REFUSED.with(|r| r.set(true));
    NOT_THROUGH_MULTIPROC
}

const NOT_THROUGH_MULTIPROC: &str = "multiproc handles (pipes, queues, shared values, locks, proxies) can only be sent through multiproc";

/// The index in the side list of the encode in progress of a descriptor that several handles of one
/// message share (the arena that holds many small objects): the first handle with `key` puts the
/// descriptor `open` makes there, the others find it. `each` runs for every handle on that listed
/// descriptor (to pin what the handle refers to for as long as the message lives). Outside a
/// multiproc encode it fails, as [`serialize_fd`] does.
pub(crate) fn shared_fd_index(
    key: usize,
    open: impl FnOnce() -> std::io::Result<OwnedFd>,
    each: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<()>,
) -> std::result::Result<u32, String> {
    if !lists_ready() {
        return Err(refusal().into());
    }
    let found = SEND_KEYS.with(|k| {
        k.borrow()
            .as_ref()
            .map(|keys| keys.iter().find(|&&(k, _)| k == key).map(|&(_, i)| i))
    });
    let index = match found {
        None => return Err(refusal().into()),
        Some(Some(i)) => i,
        Some(None) => {
            let fd = open().map_err(|e| format!("could not pin a shared handle: {e}"))?;
            let i = SEND_FDS.with(|k| {
                k.borrow_mut().as_mut().map(|list| {
                    list.push(fd);
                    count_pushed();
                    (list.len() - 1) as u32
                })
            });
            let i = i.ok_or("a shared handle was encoded outside an encode")?;
            SEND_KEYS.with(|k| {
                if let Some(keys) = k.borrow_mut().as_mut() {
                    keys.push((key, i));
                }
            });
            i
        }
    };
    SEND_FDS
        .with(|k| {
            k.borrow()
                .as_ref()
                .and_then(|list| list.get(index as usize).map(|fd| each(fd.as_fd())))
        })
        .ok_or_else(|| format!("shared descriptor #{index} is missing from the message"))?
        .map_err(|e| format!("could not pin a shared handle: {e}"))?;
    Ok(index)
}

/// Lends `f` the descriptor at `index` of the decode in progress without taking it (several handles
/// of one message may refer to it; it is closed when the decode ends). `None` if it did not arrive.
pub(crate) fn with_received_fd<R>(index: u32, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
    RECV_FDS.with(|k| {
        k.borrow()
            .as_ref()
            .and_then(|list| list.get(index as usize))
            .and_then(Option::as_ref)
            .map(|fd| f(fd.as_fd()))
    })
}

/// Takes the descriptor at `index` out of the side list of the decode in progress (`None` if it did
/// not arrive or was taken already).
pub(crate) fn take_received_fd(index: u32) -> Option<OwnedFd> {
    RECV_FDS.with(|k| {
        k.borrow_mut()
            .as_mut()
            .and_then(|list| list.get_mut(index as usize).and_then(Option::take))
    })
}

/// Takes the descriptor a handle refers to out of the side list of the decode in progress.
pub fn deserialize_fd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OwnedFd, D::Error> {
    use serde::de::Error as _;
    let index = u32::deserialize(deserializer)? as usize;
    RECV_FDS
        .with(|k| {
            k.borrow_mut()
                .as_mut()
                .and_then(|list| list.get_mut(index).and_then(Option::take))
        })
        .ok_or_else(|| {
            D::Error::custom(format!(
                "handle refers to file descriptor #{index}, which did not arrive"
            ))
        })
}

/// A descriptor as a serde field: `#[serde(with = "multiproc::codec::fd")]` on an `OwnedFd` field.
pub mod fd {
    use super::*;

    /// See [`serialize_fd`].
    pub fn serialize<S: Serializer>(fd: &OwnedFd, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_fd(fd.as_fd(), serializer)
    }

    /// See [`deserialize_fd`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OwnedFd, D::Error> {
        deserialize_fd(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A descriptor that serializes as a handle does.
    struct Fd(OwnedFd);

    impl Serialize for Fd {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            serialize_fd(self.0.as_fd(), s)
        }
    }

    /// Two handles with an encode of its own between them (before the first, or after it).
    struct Nested {
        a: Fd,
        b: Fd,
        inner_first: bool,
    }

    impl Serialize for Nested {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let inner = || {
                let own = encode(&Fd(self.b.0.try_clone().unwrap())).unwrap();
                assert_eq!(own.fds.len(), 1, "the nested encode lists its own handle");
                assert_eq!(own.bytes, [0], "at index 0 of its own list");
                own.bytes
            };
            let mut t = s.serialize_tuple(3)?;
            if self.inner_first {
                t.serialize_element(&inner())?;
            }
            t.serialize_element(&self.a)?;
            if !self.inner_first {
                t.serialize_element(&inner())?;
            }
            t.serialize_element(&self.b)?;
            t.end()
        }
    }

    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    /// Side lists made by the first handle: an encode nested before or after it keeps its own list,
    /// the outer one indexes from 0 and gets both of its descriptors; a value without handles lists
    /// none; outside a multiproc encode a handle is refused, also after an encode that panicked.
    #[test]
    fn side_lists_are_made_on_demand_and_nest() {
        for inner_first in [true, false] {
            let v = Nested {
                a: Fd(devnull()),
                b: Fd(devnull()),
                inner_first,
            };
            let enc = encode(&v).unwrap();
            assert_eq!(enc.fds.len(), 2, "inner first: {inner_first}");
            let (x, y): (u32, u32) = if inner_first {
                let (_, x, y): (Vec<u8>, u32, u32) = decode_prefix(&enc.bytes, Vec::new())
                    .map(|(v, _)| v)
                    .unwrap();
                (x, y)
            } else {
                let (x, _, y): (u32, Vec<u8>, u32) = decode_prefix(&enc.bytes, Vec::new())
                    .map(|(v, _)| v)
                    .unwrap();
                (x, y)
            };
            assert_eq!((x, y), (0, 1), "inner first: {inner_first}");
            assert!(enc.fds.iter().all(|f| f.as_raw_fd() >= 0));
        }
        assert!(encode(&(1u8, "no handle")).unwrap().fds.is_empty());
        assert!(!lists_installed() && !LAZY.with(Cell::get));

        struct Panics;
        impl Serialize for Panics {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                serialize_fd(devnull().as_fd(), s)?;
                panic!("a Serialize impl that panics after a handle");
            }
        }
        assert!(std::panic::catch_unwind(|| encode(&Panics)).is_err());
        assert!(!lists_installed() && !LAZY.with(Cell::get), "restored");
        let outside = bincode::serde::encode_to_vec(Fd(devnull()), bincode::config::standard());
        assert!(
            outside.is_err(),
            "a handle outside a multiproc encode is refused"
        );
    }

    /// An element of a sequence that fails after listing a handle leaves neither its bytes nor its
    /// descriptor; the elements around it keep theirs, and their indexes still match the list.
    #[test]
    fn a_failed_sequence_element_rolls_back_its_descriptors() {
        struct FailsAfterHandle;
        impl Serialize for FailsAfterHandle {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                use serde::ser::{Error as _, SerializeTuple};
                let mut t = s.serialize_tuple(2)?;
                t.serialize_element(&Fd(devnull()))?;
                t.serialize_element(&Fd(devnull()))?;
                Err(S::Error::custom("fails after two handles"))
            }
        }
        /// Encodes a handle of its own apart (a nested encode), then one in the sequence, then fails.
        struct NestsThenFails;
        impl Serialize for NestsThenFails {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                use serde::ser::{Error as _, SerializeTuple};
                let own = encode(&Fd(devnull())).unwrap();
                assert_eq!(own.fds.len(), 1);
                let mut t = s.serialize_tuple(1)?;
                t.serialize_element(&Fd(devnull()))?;
                Err(S::Error::custom("fails after a nested encode and a handle"))
            }
        }
        let (mut bytes, mut fds) = (Vec::new(), Vec::new());
        encode_seq(3, &mut bytes, &mut fds, |seq| {
            seq.element(&Fd(devnull())).unwrap();
            assert!(seq.element(&FailsAfterHandle).is_err());
            assert!(seq.element(&NestsThenFails).is_err());
            seq.element(&(7u8, Fd(devnull()))).unwrap();
            seq.element(&Fd(devnull())).unwrap();
        })
        .unwrap();
        assert_eq!(
            fds.len(),
            3,
            "the failed element's two descriptors are gone"
        );
        let back: (u64, u32, (u8, u32), u32) =
            decode_prefix(&bytes, Vec::new()).map(|(v, _)| v).unwrap();
        assert_eq!(back, (3, 0, (7, 1), 2));
    }
}
