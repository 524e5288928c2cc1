//! [`ShareableList`]: a fixed-length list of numbers, booleans, strings or byte strings in a
//! [`SharedMemory`] block that other processes find by name. Python:
//! `multiprocessing.shared_memory.ShareableList`.
//!
//! Layout (little-endian): magic `u32`, item kind `u32`, item count `u64`, then `count + 1` slot
//! offsets (`u64`, from the start of the block), then the slots. A number's slot is its size; a
//! string's or byte string's is a `u64` length and room for the bytes its first value had, rounded up
//! to 8 (as Python sizes them): a later value must fit there. Every read goes through bounds-checked
//! copies, so a block written by a hostile or confused peer gives errors, never undefined behaviour.
//! Like Python's, the list has no lock: a read racing a write may see part of it.

use super::named::SharedMemory;
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::marker::PhantomData;

const MAGIC: u32 = 0x6d70_736c; // "mpsl"
const HEAD: usize = 16;

mod sealed {
    pub trait Sealed {}
}

/// What a [`ShareableList`] may hold: the integers, `f32`, `f64`, `bool` (fixed size), `String` and
/// `Vec<u8>` (a maximum length fixed by the first value). Python's `ShareableList` holds `int`,
/// `float`, `bool`, `str`, `bytes` and `None`; one Rust list holds one of these types.
pub trait ListItem: sealed::Sealed + Sized + PartialEq {
    /// Tags the list's item type in the block, so that attaching as another type is refused.
    #[doc(hidden)]
    const KIND: u32;
    /// The bytes of the slot this value needs when the list is created.
    #[doc(hidden)]
    fn slot_size(&self) -> usize;
    /// Writes the value into its slot (exactly the slot's bytes), or fails if it does not fit.
    #[doc(hidden)]
    fn encode(&self, slot_len: usize, out: &mut Vec<u8>) -> Result<()>;
    /// Reads a value from its slot.
    #[doc(hidden)]
    fn decode(slot: &[u8]) -> Result<Self>;
}

fn corrupt(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        format!("the ShareableList's shared memory is corrupt ({what}); was it written as one?"),
    )
}

macro_rules! fixed_items {
    ($($t:ty => $kind:expr),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl ListItem for $t {
            const KIND: u32 = $kind;
            fn slot_size(&self) -> usize {
                std::mem::size_of::<$t>()
            }
            fn encode(&self, _: usize, out: &mut Vec<u8>) -> Result<()> {
                out.extend_from_slice(&self.to_le_bytes());
                Ok(())
            }
            fn decode(slot: &[u8]) -> Result<Self> {
                slot.try_into()
                    .map(<$t>::from_le_bytes)
                    .map_err(|_| corrupt("a number's slot has the wrong size"))
            }
        }
    )*};
}

fixed_items!(
    i8 => 1, i16 => 2, i32 => 3, i64 => 4, u8 => 5, u16 => 6, u32 => 7, u64 => 8,
    f32 => 9, f64 => 10,
);

impl sealed::Sealed for bool {}
impl ListItem for bool {
    const KIND: u32 = 11;
    fn slot_size(&self) -> usize {
        1
    }
    fn encode(&self, _: usize, out: &mut Vec<u8>) -> Result<()> {
        out.push(u8::from(*self));
        Ok(())
    }
    fn decode(slot: &[u8]) -> Result<Self> {
        match slot {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(corrupt("a bool's slot holds neither 0 nor 1")),
        }
    }
}

fn bytes_slot(len: usize) -> usize {
    8 + len.max(1).next_multiple_of(8)
}

fn encode_bytes(bytes: &[u8], slot_len: usize, out: &mut Vec<u8>) -> Result<()> {
    let room = slot_len.saturating_sub(8);
    if bytes.len() > room {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "an item of {} bytes exceeds the {room} bytes of its slot in the ShareableList \
                 (a slot keeps the size of the list's first value there)",
                bytes.len()
            ),
        ));
    }
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out.resize(out.len() + room - bytes.len(), 0);
    Ok(())
}

fn decode_bytes(slot: &[u8]) -> Result<&[u8]> {
    let (len, rest) = slot
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("a string's slot is too short"))?;
    let len = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
    rest.get(..len)
        .ok_or_else(|| corrupt("a string's length exceeds its slot"))
}

impl sealed::Sealed for String {}
impl ListItem for String {
    const KIND: u32 = 12;
    fn slot_size(&self) -> usize {
        bytes_slot(self.len())
    }
    fn encode(&self, slot_len: usize, out: &mut Vec<u8>) -> Result<()> {
        encode_bytes(self.as_bytes(), slot_len, out)
    }
    fn decode(slot: &[u8]) -> Result<Self> {
        String::from_utf8(decode_bytes(slot)?.to_vec())
            .map_err(|_| corrupt("a string is not UTF-8"))
    }
}

impl sealed::Sealed for Vec<u8> {}
impl ListItem for Vec<u8> {
    const KIND: u32 = 13;
    fn slot_size(&self) -> usize {
        bytes_slot(self.len())
    }
    fn encode(&self, slot_len: usize, out: &mut Vec<u8>) -> Result<()> {
        encode_bytes(self, slot_len, out)
    }
    fn decode(slot: &[u8]) -> Result<Self> {
        Ok(decode_bytes(slot)?.to_vec())
    }
}

/// A fixed-length list of `T` in shared memory, found by other processes by its block's name (or
/// sent to a worker). Items are read and written one at a time, by copy, without a lock (as Python's).
/// Python: `ShareableList(sequence)`, `ShareableList(name=name)`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::ShareableList;
/// let sl = ShareableList::new(&["howdy".to_string(), "hi".into()])?;
/// let other = ShareableList::<String>::attach(sl.shm().name())?;
/// other.set(1, "hello".into())?;               // fits: a slot holds up to 8 bytes here
/// assert_eq!(sl.get(1)?, "hello");
/// assert!(sl.set(0, "far too long for it".into()).is_err());
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct ShareableList<T: ListItem> {
    shm: SharedMemory,
    len: usize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T: ListItem> ShareableList<T> {
    /// The bytes a list of `items` needs.
    pub(crate) fn size_for(items: &[T]) -> Result<usize> {
        items
            .iter()
            .try_fold(HEAD + 8 * (items.len() + 1), |acc, x| {
                acc.checked_add(x.slot_size())
            })
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "the ShareableList is too large"))
    }

    /// A new list holding a copy of `items`, in a new [`SharedMemory`] block this handle owns (its
    /// name goes when this handle is dropped). Python: `ShareableList(sequence)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let sl = multiproc::ShareableList::new(&[1i64, 2, 3])?;
    /// assert_eq!(sl.to_vec()?, [1, 2, 3]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(items: &[T]) -> Result<ShareableList<T>> {
        let shm = SharedMemory::new(Self::size_for(items)?)?;
        Self::init_in(shm, items)
    }

    /// Writes `items` into `shm` (at least [`size_for`](Self::size_for) bytes, zero-filled).
    pub(crate) fn init_in(shm: SharedMemory, items: &[T]) -> Result<ShareableList<T>> {
        let mut offsets = Vec::with_capacity(items.len() + 1);
        let mut at = HEAD + 8 * (items.len() + 1);
        let mut body = Vec::new();
        for x in items {
            offsets.push(at as u64);
            let size = x.slot_size();
            x.encode(size, &mut body)?;
            at += size;
        }
        offsets.push(at as u64);
        let mut head = Vec::with_capacity(HEAD + 8 * offsets.len());
        head.extend_from_slice(&MAGIC.to_le_bytes());
        head.extend_from_slice(&T::KIND.to_le_bytes());
        head.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for o in &offsets {
            head.extend_from_slice(&o.to_le_bytes());
        }
        shm.write_at(head.len(), &body)?;
        shm.write_at(0, &head)?;
        Ok(ShareableList {
            shm,
            len: items.len(),
            _t: PhantomData,
        })
    }

    /// The list in the block named `name` (created as a `ShareableList<T>`). Fails with
    /// [`ErrorKind::NotFound`] if there is no such block, [`ErrorKind::InvalidHandle`] if it holds
    /// no list of `T`. Python: `ShareableList(name=name)`.
    pub fn attach(name: &str) -> Result<ShareableList<T>> {
        ShareableList::from_shared_memory(SharedMemory::attach(name)?)
    }

    /// The list in `shm`, checked to be a `ShareableList<T>`.
    pub fn from_shared_memory(shm: SharedMemory) -> Result<ShareableList<T>> {
        let mut head = [0u8; HEAD];
        shm.read_at(0, &mut head)
            .map_err(|_| corrupt("too small for its header"))?;
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        if word(0) != MAGIC {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "shared memory {:?} does not hold a ShareableList",
                    shm.name()
                ),
            ));
        }
        if word(4) != T::KIND {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "shared memory {:?} holds a ShareableList of another item type than {}",
                    shm.name(),
                    std::any::type_name::<T>()
                ),
            ));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&head[8..16]);
        let len = usize::try_from(u64::from_le_bytes(count)).unwrap_or(usize::MAX);
        if len
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .and_then(|n| n.checked_add(HEAD))
            .is_none_or(|end| end > shm.size())
        {
            return Err(corrupt("its item count exceeds the block"));
        }
        Ok(ShareableList {
            shm,
            len,
            _t: PhantomData,
        })
    }

    /// The number of items. Python: `len(sl)`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a list of no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block under the list. Python: `sl.shm`.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// Mutable access to the block (to [`unlink`](SharedMemory::unlink) it).
    pub fn shm_mut(&mut self) -> &mut SharedMemory {
        &mut self.shm
    }

    fn check(&self, index: usize) -> Result<()> {
        if index >= self.len {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "index {index} is out of range for a ShareableList of {} items",
                    self.len
                ),
            ));
        }
        Ok(())
    }

    /// Where slot `index` lies: (offset, length), checked against the block.
    fn slot(&self, index: usize) -> Result<(usize, usize)> {
        let mut two = [0u8; 16];
        self.shm.read_at(HEAD + 8 * index, &mut two)?;
        let (a, b) = two.split_at(8);
        let a = u64::from_le_bytes(a.try_into().unwrap_or_default());
        let b = u64::from_le_bytes(b.try_into().unwrap_or_default());
        let (Ok(start), Ok(end)) = (usize::try_from(a), usize::try_from(b)) else {
            return Err(corrupt("a slot offset is out of range"));
        };
        if start > end || end > self.shm.size() || start < HEAD + 8 * (self.len + 1) {
            return Err(corrupt("a slot lies outside the block"));
        }
        Ok((start, end - start))
    }

    /// Item `index` (a copy). Python: `sl[i]`.
    pub fn get(&self, index: usize) -> Result<T> {
        self.check(index)?;
        let (at, len) = self.slot(index)?;
        let mut buf = vec![0u8; len];
        self.shm.read_at(at, &mut buf)?;
        T::decode(&buf)
    }

    /// Replaces item `index`. A string or byte string must fit the item's slot (the size of the first
    /// value there, rounded up to 8 bytes), else [`ErrorKind::InvalidInput`], as Python's
    /// `ValueError: exceeds available storage`. Python: `sl[i] = value`.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        self.check(index)?;
        let (at, len) = self.slot(index)?;
        let mut buf = Vec::with_capacity(len);
        value.encode(len, &mut buf)?;
        if buf.len() != len {
            return Err(corrupt("a number's slot has the wrong size"));
        }
        self.shm.write_at(at, &buf)
    }

    /// Every item, in order (copies).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// How many items equal `value`. Python: `sl.count(value)`.
    pub fn count(&self, value: &T) -> Result<usize> {
        Ok(self.to_vec()?.iter().filter(|x| *x == value).count())
    }

    /// The position of the first item equal to `value`; [`ErrorKind::NotFound`] if none (Python
    /// raises `ValueError`). Python: `sl.index(value)`.
    pub fn index(&self, value: &T) -> Result<usize> {
        for i in 0..self.len {
            if self.get(i)? == *value {
                return Ok(i);
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            "the value is not in the ShareableList",
        ))
    }
}

impl<T: ListItem> std::fmt::Debug for ShareableList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareableList")
            .field("name", &self.shm.name())
            .field("len", &self.len)
            .finish()
    }
}

/// Sent to a worker, a `ShareableList` arrives attached (not the owner of the name) to the same block.
impl<T: ListItem> Serialize for ShareableList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de, T: ListItem> Deserialize<'de> for ShareableList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let shm = SharedMemory::deserialize(d)?;
        ShareableList::from_shared_memory(shm).map_err(|e| D::Error::custom(format_args!("{e:#}")))
    }
}
