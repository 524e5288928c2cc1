//! [`Block`]: one memfd-backed shared mapping, the storage under every value, array and lock. It travels
//! to other processes as its descriptor; the receiver maps the same pages. Memory is freed when the last
//! descriptor and mapping are gone, even if every process using it was killed.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use crate::sys::mutex::{MutexKind, RobustMutex};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// A mapped memfd block.
pub(crate) struct Block {
    fd: OwnedFd,
    map: memmap2::MmapRaw,
}

impl Block {
    /// A new zero-filled block of `size` bytes (at least one), its size sealed.
    pub(crate) fn create(what: &str, size: usize) -> Result<Block> {
        let fd = sys::block::create(&format!("multiproc:{what}"), size.max(1))
            .map_err(|e| Error::io(format!("could not create shared memory for a {what}"), e))?;
        Block::from_fd(fd)
    }

    /// Maps the block behind a received descriptor.
    pub(crate) fn from_fd(fd: OwnedFd) -> Result<Block> {
        let map = sys::block::map(fd.as_fd()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::new(
                    ErrorKind::InvalidHandle,
                    "received shared memory was refused",
                )
                .with_source(e)
            } else {
                Error::io("could not map a shared-memory block", e)
            }
        })?;
        Ok(Block { fd, map })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A block whose first bytes hold one `S` (a `#[repr(C)]` state of atomics and robust mutexes, valid
/// when zero-filled and then initialised in place), shared by every clone and by every process that
/// received it. Starts with a magic number so that a descriptor of another kind is refused.
///
/// The mapping is never unmapped while a thread of this process holds the state's robust mutex (a
/// guard kept with `mem::forget`): glibc links held robust mutexes into a per-thread list through their
/// own memory, so the last handle's drop then leaks the mapping instead.
pub(crate) struct Mapped<S: BlockHeader> {
    block: ManuallyDrop<Arc<Block>>,
    /// The start of the block, as an `S` (kept here so that reaching it is one load).
    state: *mut S,
    _state: PhantomData<S>,
}

// SAFETY: `state` points into the block the Arc keeps mapped; S is Send + Sync (the BlockHeader bound).
unsafe impl<S: BlockHeader> Send for Mapped<S> {}
// SAFETY: as above.
unsafe impl<S: BlockHeader> Sync for Mapped<S> {}

/// A state that lives at the start of a [`Mapped`] block.
///
/// # Safety
/// `Self` is `#[repr(C)]`, starts with a `u32` holding [`BlockHeader::MAGIC`] (written by [`BlockHeader::init`]),
/// is valid when all-zero, and contains no pointers: only atomics, plain integers and robust mutexes.
pub(crate) unsafe trait BlockHeader: Sync + Send + 'static {
    /// Tags blocks of this kind.
    const MAGIC: u32;
    /// What it is, for messages.
    const WHAT: &'static str;
    /// Initialises a zero-filled state in place before any other process sees it.
    ///
    /// # Safety
    /// `this` points to a zero-filled, exclusively owned `Self`.
    unsafe fn init(this: *mut Self) -> std::io::Result<()>;

    /// The robust mutex in the state, if any (see [`Mapped`]'s `Drop`).
    fn mutex(&self) -> Option<&RobustMutex> {
        None
    }
}

/// A [`BlockHeader`] with one robust mutex, which is all its initialisation sets up (the rest starts
/// zero). Implement this rather than [`BlockHeader`]: the header's `init` and `mutex` come with it.
///
/// # Safety
/// As for [`BlockHeader`] (`#[repr(C)]`, magic first, zero-valid, no pointers), and [`MUTEX_AT`]
/// (Self::MUTEX_AT) is the offset of a [`RobustMutex`] field of `Self` (`offset_of!`).
pub(crate) unsafe trait MutexHeader: Sync + Send + 'static {
    /// Tags blocks of this kind.
    const MAGIC: u32;
    /// What it is, for messages.
    const WHAT: &'static str;
    /// How the mutex behaves when its holder locks it again.
    const KIND: MutexKind;
    /// Where the mutex lies in `Self`.
    const MUTEX_AT: usize;
}

// SAFETY: the MutexHeader contract is the BlockHeader contract plus the mutex's place.
unsafe impl<H: MutexHeader> BlockHeader for H {
    const MAGIC: u32 = H::MAGIC;
    const WHAT: &'static str = H::WHAT;
    unsafe fn init(this: *mut Self) -> std::io::Result<()> {
        // SAFETY: `this` is a zero-filled, exclusively owned `Self` (our contract) and `MUTEX_AT` is the
        // offset of its mutex (the MutexHeader contract).
        unsafe { RobustMutex::init_kind(this.byte_add(H::MUTEX_AT).cast(), H::KIND) }
    }
    fn mutex(&self) -> Option<&RobustMutex> {
        // SAFETY: `MUTEX_AT` is the offset of a RobustMutex field of `self` (the MutexHeader contract).
        Some(unsafe {
            &*(self as *const Self)
                .byte_add(H::MUTEX_AT)
                .cast::<RobustMutex>()
        })
    }
}

impl<S: BlockHeader> Mapped<S> {
    /// A new block holding an initialised `S` and `extra` bytes after it.
    pub(crate) fn create(extra: usize) -> Result<Mapped<S>> {
        let block = Block::create(S::WHAT, std::mem::size_of::<S>() + extra)?;
        let this = block.ptr().cast::<S>();
        // SAFETY: the block is fresh (zero-filled), page-aligned, large enough and not yet shared.
        unsafe { S::init(this) }
            .map_err(|e| Error::io(format!("could not initialise a {}", S::WHAT), e))?;
        // SAFETY: as above; the magic number goes first (the BlockHeader contract).
        unsafe { this.cast::<u32>().write(S::MAGIC) };
        Ok(Mapped::wrap(block))
    }

    fn wrap(block: Block) -> Mapped<S> {
        let state = block.ptr().cast::<S>();
        Mapped {
            block: ManuallyDrop::new(Arc::new(block)),
            state,
            _state: PhantomData,
        }
    }

    fn from_block(block: Block) -> Result<Mapped<S>> {
        let ok = block.len() >= std::mem::size_of::<S>()
            // SAFETY: the mapping is at least 4 bytes (checked first) and page-aligned.
            && unsafe { block.ptr().cast::<u32>().read_volatile() } == S::MAGIC;
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "received shared memory is not a {}: the sender passed a different handle type",
                    S::WHAT
                ),
            ));
        }
        Ok(Mapped::wrap(block))
    }

    #[inline]
    pub(crate) fn header(&self) -> &S {
        // SAFETY: the block holds an initialised S (created or checked above) for as long as we hold the
        // Arc; S is Sync and only mutated through atomics and mutexes.
        unsafe { &*self.state }
    }

    /// The state as a raw pointer derived from the mapping (for writes made before the block is
    /// shared, which must not go through the `&S` of [`header`](Self::header)).
    pub(crate) fn header_ptr(&self) -> *mut S {
        self.state
    }

    /// The bytes after the state.
    pub(crate) fn extra(&self) -> (*mut u8, usize) {
        let head = std::mem::size_of::<S>();
        // SAFETY: from_block/create guarantee the block is at least `head` bytes.
        (
            unsafe { self.block.ptr().add(head) },
            self.block.len() - head,
        )
    }

    /// True when both handles map the same block.
    pub(crate) fn same(&self, other: &Mapped<S>) -> bool {
        Arc::ptr_eq(&self.block, &other.block)
    }
}

impl<S: BlockHeader> Clone for Mapped<S> {
    fn clone(&self) -> Self {
        Mapped {
            block: ManuallyDrop::new(Arc::clone(&self.block)),
            state: self.state,
            _state: PhantomData,
        }
    }
}

impl<S: BlockHeader> Drop for Mapped<S> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let block = unsafe { ManuallyDrop::take(&mut self.block) };
        if let Some(last) = Arc::into_inner(block) {
            // SAFETY: the block still holds the initialised S (we own the last reference in this
            // process).
            let state = unsafe { &*last.ptr().cast::<S>() };
            if state.mutex().is_some_and(|m| m.held_in_this_process()) {
                std::mem::forget(last);
            }
        }
    }
}

impl<S: BlockHeader> Serialize for Mapped<S> {
    fn serialize<Z: Serializer>(&self, s: Z) -> std::result::Result<Z::Ok, Z::Error> {
        codec::serialize_fd(self.block.fd(), s)
    }
}

impl<'de, S: BlockHeader> Deserialize<'de> for Mapped<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let fd = codec::deserialize_fd(d)?;
        Block::from_fd(fd)
            .and_then(Mapped::from_block)
            .map_err(|e| D::Error::custom(format_args!("{e:#}")))
    }
}
