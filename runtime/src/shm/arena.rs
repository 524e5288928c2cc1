//! Arenas: many small shared objects (values, arrays, locks of at most [`MAX_SLOT`] bytes) in one memfd
//! block, so that holding 20,000 of them costs a few descriptors, not 20,000. An arena is split into
//! slots of one size (a power of two from [`MIN_SLOT`] to [`MAX_SLOT`]; slot 0 holds the arena's
//! header); an object is (arena, slot). Only the process that created an arena (its *owner*) hands
//! out its slots, and only from its own allocator.
//!
//! **Lifetime.** A slot is reused only when no process holds a handle to it and none is in flight:
//! - in each process, a count per slot of the [`Slot`]s alive (every clone of a handle shares one);
//! - a process other than the owner holds a shared OFD lock (`sys::pin`) on byte `slot` of its own
//!   open file description of the arena while its count is above zero;
//! - a handle in a message travels with a *pin*: a new open file description of the arena holding a
//!   shared lock on the slot's byte, sent in place of the arena's descriptor (one per arena per message
//!   however many of its objects travel). It lives exactly as long as the message: the receiver takes
//!   its own lock before the message's descriptors are closed, and an undelivered message or a
//!   message stored and decoded many times keeps its pin as long as its descriptors live.
//!
//! The owner reuses a freed slot when its own count is zero and, if the slot ever left the process,
//! no other open file description holds a lock on its byte. The kernel drops a killed process's locks
//! with its descriptors, so a killed holder frees its slots rather than leaking them; a killed owner
//! leaves its arenas to the other holders until the last one drops them (nobody hands out their free
//! slots again). A process maps each arena once (cached by the block's device and inode) and closes it
//! when its last slot there is dropped.

use super::block::Block;
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// The smallest slot (and the largest alignment an object in an arena may need).
pub(crate) const MIN_SLOT: usize = 64;
/// Objects larger than this keep a block of their own.
pub(crate) const MAX_SLOT: usize = 2048;
/// The size of one arena (every slot size divides it).
const ARENA_BYTES: usize = 256 * 1024;
/// Tags an arena's header ("mpar").
const MAGIC: u32 = 0x6d70_6172;

/// Slot 0 of every arena.
#[repr(C)]
struct Header {
    magic: u32,
    slot_size: u32,
    slots: u32,
}

/// The slot size for an object of `size` bytes aligned to `align`, or `None` if it keeps its own block.
pub(crate) fn class_of(size: usize, align: usize) -> Option<usize> {
    (size <= MAX_SLOT && align <= MIN_SLOT).then(|| size.max(MIN_SLOT).next_power_of_two())
}

/// One arena as mapped in this process.
pub(crate) struct Arena {
    /// The owner's memfd, or this process's own open file description of it (whose locks say which
    /// slots this process holds).
    block: Block,
    id: (u64, u64),
    slot_size: usize,
    slots: u32,
    owner: bool,
    local: Mutex<Local>,
}

/// What this process knows of an arena's slots.
struct Local {
    /// Slots alive here, per slot.
    counts: Vec<u32>,
    /// The owner's first never-used slot.
    next: u32,
    /// The owner's freed slots (an entry whose count is no longer zero is stale and skipped).
    free: VecDeque<u32>,
    /// The owner's slots that were ever sent to another process (reused only without locks elsewhere).
    sent: Vec<bool>,
}

/// Arenas by the device and inode of their memfd.
type ById = HashMap<(u64, u64), Weak<Arena>>;

/// Arenas mapped in this process.
static MAPPED: LazyLock<Mutex<ById>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// This process's own arenas, per slot size, that may have free slots.
static OWN: Mutex<Vec<(usize, Vec<Weak<Arena>>)>> = Mutex::new(Vec::new());

impl Arena {
    fn create(slot_size: usize) -> Result<Arc<Arena>> {
        let block = Block::create("arena", ARENA_BYTES)?;
        let slots = (block.len() / slot_size) as u32;
        let id = sys::block::identity(block.fd())
            .map_err(|e| Error::io("could not identify a new shared-memory arena", e))?;
        // SAFETY: the block is fresh (zero-filled), page-aligned, at least one slot long and not yet
        // shared; the header's plain fields are written once, here.
        unsafe {
            block.ptr().cast::<Header>().write(Header {
                magic: MAGIC,
                slot_size: slot_size as u32,
                slots,
            })
        };
        let arena = Arc::new(Arena {
            block,
            id,
            slot_size,
            slots,
            owner: true,
            local: Mutex::new(Local {
                counts: vec![0; slots as usize],
                next: 1,
                free: VecDeque::new(),
                sent: vec![false; slots as usize],
            }),
        });
        crate::poison::lock(&MAPPED).insert(id, Arc::downgrade(&arena));
        Ok(arena)
    }

    /// The arena behind a received descriptor: the one this process has mapped already, or a new
    /// mapping of its own open file description.
    pub(crate) fn find_or_map(fd: BorrowedFd<'_>) -> Result<Arc<Arena>> {
        let refused = |why: &str| {
            Error::new(
                ErrorKind::InvalidHandle,
                format!("received shared memory is not an arena of shared objects: {why}"),
            )
        };
        let id = sys::block::identity(fd)
            .map_err(|e| Error::io("could not identify a received shared-memory arena", e))?;
        let mut mapped = crate::poison::lock(&MAPPED);
        if let Some(arena) = mapped.get(&id).and_then(Weak::upgrade) {
            return Ok(arena);
        }
        let own: OwnedFd = sys::pin::reopen_rw(fd)
            .map_err(|e| Error::io("could not open a received shared-memory arena", e))?;
        let block = Block::from_fd(own)?;
        if block.len() < std::mem::size_of::<Header>() {
            return Err(refused("too short"));
        }
        // SAFETY: the mapping is page-aligned and holds a Header (checked); its fields are plain
        // integers, written by the owner before the arena was ever sent.
        let head = unsafe { block.ptr().cast::<Header>().read_volatile() };
        let slot_size = head.slot_size as usize;
        let fits = (head.slots as usize)
            .checked_mul(slot_size)
            .is_some_and(|n| n <= block.len());
        if head.magic != MAGIC
            || !slot_size.is_power_of_two()
            || !(MIN_SLOT..=MAX_SLOT).contains(&slot_size)
            || head.slots < 2
            || !fits
        {
            return Err(refused("bad header"));
        }
        let arena = Arc::new(Arena {
            block,
            id,
            slot_size,
            slots: head.slots,
            owner: false,
            local: Mutex::new(Local {
                counts: vec![0; head.slots as usize],
                next: head.slots,
                free: VecDeque::new(),
                sent: Vec::new(),
            }),
        });
        mapped.insert(id, Arc::downgrade(&arena));
        Ok(arena)
    }

    /// The descriptor the process maps the arena with.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.block.fd()
    }

    /// A free slot of this (own) arena, zero-filled, counted once; `None` when it has none.
    fn take(self: &Arc<Self>) -> Option<Slot> {
        let mut local = crate::poison::lock(&self.local);
        let tries = local.free.len().min(4);
        for _ in 0..tries {
            let Some(i) = local.free.pop_front() else {
                break;
            };
            if local.counts[i as usize] != 0 {
                continue; // stale: taken back by a handle that came home
            }
            if local.sent[i as usize]
                && sys::pin::held_elsewhere(self.fd(), u64::from(i)).unwrap_or(true)
            {
                local.free.push_back(i); // still held or in flight somewhere: later
                continue;
            }
            local.counts[i as usize] = 1;
            local.sent[i as usize] = false;
            drop(local);
            let slot = Slot {
                arena: Arc::clone(self),
                index: i,
            };
            // SAFETY: nobody holds the slot (no count here, no lock elsewhere), so this process may
            // write all of it; it lies within the mapping (index < slots).
            unsafe { slot.ptr().write_bytes(0, self.slot_size) };
            return Some(slot);
        }
        if local.next < self.slots {
            let i = local.next;
            local.next += 1;
            local.counts[i as usize] = 1;
            return Some(Slot {
                arena: Arc::clone(self),
                index: i,
            });
        }
        None
    }

    /// Counts one more handle of slot `index` in this process (received from a message).
    pub(crate) fn acquire(self: &Arc<Self>, index: u32) -> Result<Slot> {
        let mut local = crate::poison::lock(&self.local);
        if index == 0 || index >= self.slots || (self.owner && index >= local.next) {
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "received shared object refers to slot {index}, which its arena never gave out"
                ),
            ));
        }
        let count = &mut local.counts[index as usize];
        if *count == 0 && !self.owner {
            sys::pin::share(self.fd(), u64::from(index))
                .map_err(|e| Error::io("could not hold a received shared object", e))?;
        }
        *count += 1;
        Ok(Slot {
            arena: Arc::clone(self),
            index,
        })
    }

    fn release(&self, index: u32) {
        let mut local = crate::poison::lock(&self.local);
        let count = &mut local.counts[index as usize];
        *count -= 1;
        if *count == 0 {
            if self.owner {
                local.free.push_back(index);
            } else {
                // A failure leaves the lock until the arena is closed here: the slot is only kept longer.
                let _ = sys::pin::unshare(self.fd(), u64::from(index));
            }
        }
    }

    /// Marks a slot of an own arena as sent: from now on it is reused only once no other process
    /// holds it.
    fn mark_sent(&self, index: u32) {
        if self.owner {
            crate::poison::lock(&self.local).sent[index as usize] = true;
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let me: *const Arena = self;
        let mut mapped = crate::poison::lock(&MAPPED);
        // Only our own entry: another mapping of the same arena may have replaced it meanwhile.
        if mapped
            .get(&self.id)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), me))
        {
            mapped.remove(&self.id);
        }
    }
}

/// One slot held by this process (see the module's lifetime rule); dropping it gives it back.
pub(crate) struct Slot {
    arena: Arc<Arena>,
    index: u32,
}

impl Slot {
    /// A new zero-filled slot of `slot_size` bytes from one of this process's arenas.
    pub(crate) fn allocate(slot_size: usize) -> Result<Slot> {
        let mut own = crate::poison::lock(&OWN);
        let class = match own.iter().position(|(s, _)| *s == slot_size) {
            Some(c) => c,
            None => {
                own.push((slot_size, Vec::new()));
                own.len() - 1
            }
        };
        let arenas = &mut own[class].1;
        arenas.retain(|w| w.strong_count() > 0);
        // Newest first: the older arenas filled up first.
        for weak in arenas.iter().rev() {
            if let Some(slot) = weak.upgrade().and_then(|a| a.take()) {
                return Ok(slot);
            }
        }
        let arena = Arena::create(slot_size)?;
        arenas.push(Arc::downgrade(&arena));
        arena.take().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("a shared object of {slot_size} bytes does not fit in an arena"),
            )
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        // SAFETY: index < slots and slots * slot_size fits in the mapping (checked when mapped).
        unsafe {
            self.arena
                .block
                .ptr()
                .add(self.index as usize * self.arena.slot_size)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.arena.slot_size
    }

    pub(crate) fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// True when both are the same slot of the same arena.
    pub(crate) fn same(&self, other: &Slot) -> bool {
        Arc::ptr_eq(&self.arena, &other.arena) && self.index == other.index
    }

    /// A pin for a message carrying handles of this slot's arena: a new open file description of it.
    pub(crate) fn open_pin(&self) -> std::io::Result<OwnedFd> {
        sys::pin::reopen_rw(self.arena.fd())
    }

    /// Holds this slot through `pin` for as long as the message that carries `pin` lives.
    pub(crate) fn pin(&self, pin: BorrowedFd<'_>) -> std::io::Result<()> {
        self.arena.mark_sent(self.index);
        sys::pin::share(pin.as_fd(), u64::from(self.index))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.arena.release(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn classes_round_up_and_big_or_overaligned_objects_keep_a_block() {
        assert_eq!(class_of(1, 1), Some(64));
        assert_eq!(class_of(65, 8), Some(128));
        assert_eq!(class_of(2048, 8), Some(2048));
        assert_eq!(class_of(2049, 8), None);
        assert_eq!(class_of(8, 128), None);
    }

    #[test]
    fn slots_are_distinct_reused_after_drop_and_not_while_held_elsewhere() {
        // An arena of the test's own (not in the process's allocator, which other tests share).
        let size = 1024;
        let arena = Arena::create(size).unwrap();
        let take = || arena.take().unwrap();
        let a = take();
        let b = take();
        assert_ne!(a.index(), b.index());
        assert_eq!(a.len(), size);
        assert_ne!(a.index(), 0, "slot 0 is the arena's header");
        // SAFETY: the slot is ours and `size` bytes long.
        unsafe { a.ptr().write_bytes(0xab, size) };
        let ia = a.index();
        drop(a);
        // Freed and never sent: the next allocation reuses it, zero-filled again.
        let c = take();
        assert_eq!(c.index(), ia);
        let zero = |i: usize| {
            // SAFETY: the slot is ours and `size` bytes long; i < size.
            unsafe { c.ptr().add(i).read() == 0 }
        };
        assert!((0..size).all(zero));

        // A second handle of the same slot (as a received one is) keeps it after the first drops.
        let again = arena.acquire(c.index()).unwrap();
        drop(c);
        let d = take();
        assert_ne!(d.index(), ia, "a slot still held here was handed out again");

        // A slot pinned by a message (another open file description's lock) is not reused while
        // the pin lives, and is once it is closed.
        let pin = again.open_pin().unwrap();
        again.pin(pin.as_fd()).unwrap();
        drop(again);
        let mut taken = Vec::new();
        for _ in 0..3 {
            let s = take();
            assert_ne!(s.index(), ia, "a pinned slot was handed out again");
            taken.push(s);
        }
        drop(pin);
        let mut reused = false;
        for _ in 0..16 {
            let s = take();
            reused |= s.index() == ia;
            taken.push(s);
        }
        assert!(reused, "the slot was never reused after its pin closed");
        // Slot 0 and slots past the ones given out are refused.
        assert!(arena.acquire(0).is_err());
        assert!(arena.acquire(arena.slots - 1).is_err());
        // A full arena has nothing more to give.
        let mut all = Vec::new();
        while let Some(s) = arena.take() {
            all.push(s);
        }
        assert_eq!(all.len() + taken.len() + 2, arena.slots as usize - 1);
        drop((b, d, taken));
        assert!(arena.take().is_some(), "dropped slots are free again");
    }

    #[test]
    fn a_received_arena_is_mapped_once_and_closed_with_its_last_slot() {
        let arena = Arena::create(512).unwrap();
        let a = arena.take().unwrap();
        drop(arena);
        // The owner's own arena is found again from any descriptor of it.
        let pin = a.open_pin().unwrap();
        let found = Arena::find_or_map(pin.as_fd()).unwrap();
        assert!(Arc::ptr_eq(&found, a.arena()));
        let id = a.arena().id;
        drop((found, a));
        assert!(
            crate::poison::lock(&MAPPED)
                .get(&id)
                .is_none_or(|w| w.strong_count() == 0),
            "the arena is still mapped after its last slot was dropped"
        );
        // A plain memfd block is refused as an arena.
        let other = Block::create("not an arena", 4096).unwrap();
        let err = Arena::find_or_map(other.fd()).err().unwrap();
        assert_eq!(err.kind(), &ErrorKind::InvalidHandle);
    }
}
