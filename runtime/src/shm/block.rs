//! [`Block`]: one memfd-backed shared mapping, the storage under every large value, array and lock (the
//! small ones share the blocks of `shm::arena`), and [`Mapped`], a state in either. It travels
//! to other processes as its descriptor; the receiver maps the same pages. Memory is freed when the last
//! descriptor and mapping are gone, even if every process using it was killed.

use super::arena::{self, Arena, Slot};
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

/// Where a [`Mapped`] state lives: a block of its own, or a slot of an arena shared with other small
/// objects (see `shm::arena`).
#[derive(Clone)]
enum Backing {
    Block(Arc<Block>),
    Slot(Arc<Slot>),
}

impl Backing {
    fn ptr(&self) -> *mut u8 {
        match self {
            Backing::Block(b) => b.ptr(),
            Backing::Slot(s) => s.ptr(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Backing::Block(b) => b.len(),
            Backing::Slot(s) => s.len(),
        }
    }
}

/// A block (or arena slot) whose first bytes hold one `S` (a `#[repr(C)]` state of atomics and robust
/// mutexes, valid when zero-filled and then initialised in place), shared by every clone and by every
/// process that received it. Starts with a magic number so that a descriptor of another kind is
/// refused.
///
/// The mapping is never unmapped while a thread of this process holds the state's robust mutex (a
/// guard kept with `mem::forget`): glibc links held robust mutexes into a per-thread list through their
/// own memory, so the last handle's drop then leaks the mapping (or keeps the slot, never reused)
/// instead.
pub(crate) struct Mapped<S: BlockHeader> {
    block: ManuallyDrop<Backing>,
    /// The start of the block, as an `S` (kept here so that reaching it is one load).
    state: *mut S,
    _state: PhantomData<S>,
}

// SAFETY: `state` points into the block (or arena) the Arc keeps mapped; S is Send + Sync (the
// BlockHeader bound).
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
    /// A new block holding an initialised `S` and `extra` bytes after it (in an arena slot when small).
    pub(crate) fn create(extra: usize) -> Result<Mapped<S>> {
        Mapped::create_aligned(extra, 1)
    }

    /// As [`create`](Self::create), for `extra` bytes that must be aligned to `align` (at most a page).
    pub(crate) fn create_aligned(extra: usize, align: usize) -> Result<Mapped<S>> {
        let size = std::mem::size_of::<S>().saturating_add(extra);
        let backing = match arena::class_of(size, align.max(std::mem::align_of::<S>())) {
            // A fresh slot is zero-filled and not yet shared, as a fresh block is.
            Some(slot_size) => Backing::Slot(Arc::new(Slot::allocate(slot_size)?)),
            None => Backing::Block(Arc::new(Block::create(S::WHAT, size)?)),
        };
        let this = backing.ptr().cast::<S>();
        // SAFETY: the block or slot is fresh (zero-filled), aligned for S, large enough and not yet
        // shared.
        unsafe { S::init(this) }
            .map_err(|e| Error::io(format!("could not initialise a {}", S::WHAT), e))?;
        // SAFETY: as above; the magic number goes first (the BlockHeader contract).
        unsafe { this.cast::<u32>().write(S::MAGIC) };
        Ok(Mapped::wrap(backing))
    }

    fn wrap(backing: Backing) -> Mapped<S> {
        let state = backing.ptr().cast::<S>();
        Mapped {
            block: ManuallyDrop::new(backing),
            state,
            _state: PhantomData,
        }
    }

    fn from_backing(block: Backing) -> Result<Mapped<S>> {
        let ok = block.len() >= std::mem::size_of::<S>()
            // SAFETY: the mapping is at least 4 bytes (checked first) and aligned (a page, or a slot
            // of at least 64 bytes).
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
        // Arc (a slot: for as long as any process holds it, see `shm::arena`); S is Sync and only
        // mutated through atomics and mutexes.
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
        // SAFETY: from_backing/create guarantee the block or slot is at least `head` bytes.
        (
            unsafe { self.block.ptr().add(head) },
            self.block.len() - head,
        )
    }

    /// True when both handles map the same block (or arena slot).
    pub(crate) fn same(&self, other: &Mapped<S>) -> bool {
        match (&*self.block, &*other.block) {
            (Backing::Block(a), Backing::Block(b)) => Arc::ptr_eq(a, b),
            (Backing::Slot(a), Backing::Slot(b)) => a.same(b),
            _ => false,
        }
    }
}

impl<S: BlockHeader> Clone for Mapped<S> {
    fn clone(&self) -> Self {
        Mapped {
            block: ManuallyDrop::new((*self.block).clone()),
            state: self.state,
            _state: PhantomData,
        }
    }
}

impl<S: BlockHeader> Drop for Mapped<S> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let block = unsafe { ManuallyDrop::take(&mut self.block) };
        let held = |ptr: *mut u8| {
            // SAFETY: the block or slot still holds the initialised S (called with the last
            // reference in this process, still alive).
            let state = unsafe { &*ptr.cast::<S>() };
            state.mutex().is_some_and(|m| m.held_in_this_process())
        };
        match block {
            Backing::Block(b) => {
                if let Some(last) = Arc::into_inner(b)
                    && held(last.ptr())
                {
                    std::mem::forget(last);
                }
            }
            // Kept, the slot is never reused (and its arena never unmapped).
            Backing::Slot(s) => {
                if let Some(last) = Arc::into_inner(s)
                    && held(last.ptr())
                {
                    std::mem::forget(last);
                }
            }
        }
    }
}

/// A handle's descriptor as the first field of its wire form.
struct FdField<'a>(BorrowedFd<'a>);

impl Serialize for FdField<'_> {
    fn serialize<Z: Serializer>(&self, s: Z) -> std::result::Result<Z::Ok, Z::Error> {
        codec::serialize_fd(self.0, s)
    }
}

/// On the wire: the index of a descriptor in the message and a slot: 0 for a block of its own (the
/// descriptor is the block's), else the slot of the arena whose pin the descriptor is (one pin per
/// arena per message, shared by every handle of that arena it carries).
impl<S: BlockHeader> Serialize for Mapped<S> {
    fn serialize<Z: Serializer>(&self, s: Z) -> std::result::Result<Z::Ok, Z::Error> {
        use serde::ser::Error as _;
        match &*self.block {
            Backing::Block(b) => (FdField(b.fd()), 0u32).serialize(s),
            Backing::Slot(slot) => {
                let index = codec::shared_fd_index(
                    Arc::as_ptr(slot.arena()) as usize,
                    || slot.open_pin(),
                    |pin| slot.pin(pin),
                )
                .map_err(Z::Error::custom)?;
                (index, slot.index()).serialize(s)
            }
        }
    }
}

impl<'de, S: BlockHeader> Deserialize<'de> for Mapped<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let (fd, slot) = <(u32, u32)>::deserialize(d)?;
        let backing = if slot == 0 {
            let fd = codec::take_received_fd(fd).ok_or_else(|| {
                D::Error::custom(format!(
                    "handle refers to file descriptor #{fd}, which did not arrive"
                ))
            })?;
            Block::from_fd(fd).map(|b| Backing::Block(Arc::new(b)))
        } else {
            codec::with_received_fd(fd, Arena::find_or_map)
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "handle refers to file descriptor #{fd}, which did not arrive"
                    ))
                })?
                .and_then(|arena| arena.acquire(slot))
                .map(|s| Backing::Slot(Arc::new(s)))
        };
        backing
            .and_then(Mapped::from_backing)
            .map_err(|e| D::Error::custom(format_args!("{e:#}")))
    }
}
