//! The block layout under [`Value`](super::Value), [`Array`](super::Array) and their raw forms: a header
//! (element size and alignment, length, a robust mutex) and then the elements, aligned.

use super::block::{Mapped, MutexHeader};
use super::shareable::Shareable;
use super::volatile;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::mutex::{MutexKind, RobustMutex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::marker::PhantomData;

#[repr(C)]
pub(crate) struct Header {
    magic: u32,
    elem_align: u32,
    elem_size: u64,
    /// [`fingerprint`] of the element type.
    elem_type: u64,
    len: u64,
    pub(crate) lock: RobustMutex,
}

// SAFETY: repr(C), magic first, zero-valid, no pointers (a pthread mutex is plain data); MUTEX_AT
// is the offset of `lock`.
unsafe impl MutexHeader for Header {
    const MAGIC: u32 = 0x6d70_7633; // "mpv3": the mutex records its holder
    const WHAT: &'static str = "shared value or array";
    const KIND: MutexKind = MutexKind::ErrorCheck;
    const MUTEX_AT: usize = std::mem::offset_of!(Header, lock);
}

/// `len` elements of `T` in a block after a [`Header`].
pub(crate) struct Data<T> {
    mapped: Mapped<Header>,
    ptr: *mut T,
    len: usize,
    _t: PhantomData<T>,
}

// SAFETY: the elements are Shareable (Send + Sync) and the block is shared memory owned by the Arc.
unsafe impl<T: Shareable> Send for Data<T> {}
// SAFETY: as above.
unsafe impl<T: Shareable> Sync for Data<T> {}

/// A fixed-key hash (FNV-1a) of the element type's name, size and alignment. Every process runs the
/// same executable, so the same type gives the same fingerprint everywhere, and a handle received as
/// another element type (`u8` as `bool`, `u32` as `char`, `u64` as a padded struct) is refused.
fn fingerprint<T>() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let name = std::any::type_name::<T>().as_bytes();
    let size = (std::mem::size_of::<T>() as u64).to_le_bytes();
    let align = (std::mem::align_of::<T>() as u64).to_le_bytes();
    for &b in name.iter().chain(&size).chain(&align) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn offset<T>() -> usize {
    std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<T>())
}

impl<T: Shareable> Data<T> {
    /// `len` zero-valued elements.
    pub(crate) fn zeroed(len: usize) -> Result<Data<T>> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(offset::<T>() - std::mem::size_of::<Header>()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("a shared array of {len} elements does not fit in memory"),
                )
            })?;
        if std::mem::align_of::<T>() > 4096 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "shared memory is page-aligned: element alignment above 4096 is not supported",
            ));
        }
        let mapped = Mapped::<Header>::create_aligned(bytes, std::mem::align_of::<T>())?;
        let head = mapped.header_ptr();
        // SAFETY: `head` comes from the mapping itself (not from a shared reference); the block is ours
        // alone until this handle is cloned or sent, and these plain fields are written once, here,
        // before anyone else reads them.
        unsafe {
            (*head).elem_align = std::mem::align_of::<T>() as u32;
            (*head).elem_size = std::mem::size_of::<T>() as u64;
            (*head).elem_type = fingerprint::<T>();
            (*head).len = len as u64;
        }
        Data::from_mapped(mapped)
    }

    fn from_mapped(mapped: Mapped<Header>) -> Result<Data<T>> {
        let head = mapped.header();
        let (extra, extra_len) = mapped.extra();
        let pad = offset::<T>() - std::mem::size_of::<Header>();
        let len = head.len as usize;
        let fits = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(pad))
            .is_some_and(|need| need <= extra_len);
        if head.elem_size != std::mem::size_of::<T>() as u64
            || head.elem_align != std::mem::align_of::<T>() as u32
            || head.elem_type != fingerprint::<T>()
            || !fits
        {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "received shared memory does not hold {}: the sender used another element type",
                    std::any::type_name::<T>()
                ),
            ));
        }
        // SAFETY: `pad` bytes lie within the block (checked through `fits`).
        let ptr = unsafe { extra.add(pad) }.cast::<T>();
        Ok(Data {
            mapped,
            ptr,
            len,
            _t: PhantomData,
        })
    }

    pub(crate) fn ptr(&self) -> *mut T {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `n` elements starting at `index` into `dst`, as one copy that other processes may race
    /// with (never torn for a [`Shareable::TEARABLE`] type: it is copied under the block's lock).
    ///
    /// # Safety
    /// `index + n <= self.len()`, and `dst` is writable for `n` elements and not in the block.
    pub(crate) unsafe fn read_into(&self, index: usize, dst: *mut T, n: usize) {
        let _held = self.tear_guard();
        // SAFETY: the caller guarantees both ranges; `volatile::copy` tolerates concurrent writers.
        unsafe {
            volatile::copy(
                self.ptr.add(index).cast::<u8>(),
                dst.cast::<u8>(),
                n * std::mem::size_of::<T>(),
            )
        }
    }

    /// Copies `n` elements from `src` into the block at `index` (see [`read_into`](Self::read_into)).
    ///
    /// # Safety
    /// `index + n <= self.len()`, and `src` holds `n` valid elements and is not in the block.
    pub(crate) unsafe fn write_from(&self, index: usize, src: *const T, n: usize) {
        let _held = self.tear_guard();
        // SAFETY: as in read_into.
        unsafe {
            volatile::copy(
                src.cast::<u8>(),
                self.ptr.add(index).cast::<u8>(),
                n * std::mem::size_of::<T>(),
            )
        }
    }

    /// Holds the block's lock during an unlocked-API copy of a type that could tear.
    fn tear_guard(&self) -> Option<TearGuard<'_>> {
        if !T::TEARABLE {
            return None;
        }
        let lock = self.lock();
        lock.lock().ok().map(|_| TearGuard(lock))
    }

    pub(crate) fn lock(&self) -> &RobustMutex {
        &self.mapped.header().lock
    }

    pub(crate) fn same(&self, other: &Data<T>) -> bool {
        self.mapped.same(&other.mapped)
    }
}

/// Unlocks the block's lock taken by [`Data::tear_guard`].
struct TearGuard<'a>(&'a RobustMutex);

impl Drop for TearGuard<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

impl<T> Clone for Data<T> {
    fn clone(&self) -> Self {
        Data {
            mapped: self.mapped.clone(),
            ptr: self.ptr,
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T: Shareable> Serialize for Data<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.mapped.serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Data<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mapped = Mapped::<Header>::deserialize(d)?;
        Data::from_mapped(mapped).map_err(|e| D::Error::custom(format_args!("{e:#}")))
    }
}
