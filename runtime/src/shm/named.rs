//! [`SharedMemory`]: a block of bytes that other processes find by name. Python:
//! `multiprocessing.shared_memory.SharedMemory`.
//!
//! The block is a memfd like every other; the name is a Unix socket in Linux's abstract namespace,
//! answered by the creator's name-server thread (see `publish`), which hands the block's descriptor to
//! whoever connects (same user only). An abstract name exists exactly as long as its socket, so the name disappears when the creator
//! unlinks, drops, or is killed, and no file is ever left in `/dev/shm`; the memory itself lives on
//! until the last process that attached lets go.

use super::block::Block;
use super::publish::{self, PREFIX, Published};
use super::volatile;
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::{abstract_socket as sock, socket};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long [`SharedMemory::attach`] waits for the creator's answer.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// A block of `size` bytes of shared memory, found by other processes by its name.
///
/// The creator owns the name: [`unlink`](SharedMemory::unlink) or dropping the creator's handle
/// removes it, and so does the creator's death, even by `SIGKILL`. An attached handle's `unlink` asks
/// the creator to remove it, as Python's `unlink` from any process does. Processes that attached keep
/// their mapping until they drop it.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::SharedMemory;
/// let owner = SharedMemory::create("doc-example-block", 4096)?;   // SharedMemory(name, create=True, size=4096)
/// owner.write_at(0, b"hello")?;
///
/// let other = SharedMemory::attach("doc-example-block")?;         // SharedMemory(name)
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// drop(owner);                                                    // shm.unlink()
/// assert!(SharedMemory::attach("doc-example-block").is_err());
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct SharedMemory {
    name: String,
    block: Arc<Block>,
    published: Option<Published>,
    /// This handle's `unlink` removed the name (or found it gone): a second one is `NotFound`.
    unlinked: bool,
}

/// How many names [`SharedMemory::new`] tries before giving up.
const NAME_TRIES: u32 = 64;

fn zero_size() -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        "a shared memory block needs a size of at least one byte",
    )
}

impl SharedMemory {
    /// Creates a zero-filled block of `size` bytes under `name` (up to 92 bytes). Fails with
    /// [`ErrorKind::InvalidInput`] if the name is taken.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let shm = multiproc::SharedMemory::create("doc-create", 1 << 20)?;
    /// assert_eq!(shm.size(), 1 << 20);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn create(name: &str, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(zero_size());
        }
        let block = Arc::new(Block::create("SharedMemory", size)?);
        let published = publish::publish(name, Arc::clone(&block))?;
        Ok(SharedMemory {
            name: name.to_string(),
            block,
            published: Some(published),
            unlinked: false,
        })
    }

    /// A block with a fresh unique name (see [`name`](Self::name)): `mp_<pid>_<n>`, or, if another
    /// process holds that name already, the same with a random suffix (as Python picks another random
    /// name when its first is taken). Python: `SharedMemory(create=True, size=n)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::new(64)?;
    /// let b = multiproc::SharedMemory::attach(a.name())?;
    /// assert_eq!(b.size(), 64);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new(size: usize) -> Result<SharedMemory> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        if size == 0 {
            return Err(zero_size());
        }
        let block = Arc::new(Block::create("SharedMemory", size)?);
        let base = format!(
            "mp_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let random = std::collections::hash_map::RandomState::new();
        for attempt in 0..NAME_TRIES {
            let name = if attempt == 0 {
                base.clone()
            } else {
                use std::hash::BuildHasher;
                let salt = random.hash_one((attempt, Instant::now())) as u32;
                format!("{base}_{salt:08x}")
            };
            match publish::publish(&name, Arc::clone(&block)) {
                Ok(published) => {
                    return Ok(SharedMemory {
                        name,
                        block,
                        published: Some(published),
                        unlinked: false,
                    });
                }
                // The name is taken (publish's only InvalidInput): try another.
                Err(e) if e.kind() == &ErrorKind::InvalidInput => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "every one of {NAME_TRIES} generated shared memory names ({base} and {base}_<random>) is taken: pass a name of your own to SharedMemory::create"
            ),
        ))
    }

    /// Attaches to the block named `name`. Fails with [`ErrorKind::NotFound`] if there is none (never
    /// created, unlinked, or its creator exited).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let err = multiproc::SharedMemory::attach("no-such-block").unwrap_err();
    /// assert_eq!(err.kind(), &multiproc::ErrorKind::NotFound);
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory> {
        SharedMemory::attach_timeout(name, ATTACH_TIMEOUT)
    }

    /// [`attach`](Self::attach), giving up with [`ErrorKind::Timeout`] after `timeout` if the creator
    /// does not answer (it is stopped or wedged). [`attach`](Self::attach) waits 10 s.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let a = multiproc::SharedMemory::new(16)?;
    /// let b = multiproc::SharedMemory::attach_timeout(a.name(), Duration::from_secs(1))?;
    /// assert_eq!(b.size(), 16);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn attach_timeout(name: &str, timeout: Duration) -> Result<SharedMemory> {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no shared memory block named {name:?}: it was never created, or its creator unlinked it or exited"
                ),
            )
        };
        let timed_out = || {
            Error::timeout(
                &format!("attaching to shared memory {name:?} (is its creator stopped?)"),
                timeout,
            )
        };
        // A block this process created is taken from its own table: no round trip to the name
        // server's thread (and no thread wake-ups), the same block either way.
        if let Some(block) = publish::local(name) {
            return Ok(SharedMemory {
                name: name.to_string(),
                block,
                published: None,
                unlinked: false,
            });
        }
        // One deadline covers both the connect (which waits while the creator's backlog is full) and
        // the answer: a creator that is stopped or wedged must not hang us.
        let conn = sock::connect_until(&format!("{PREFIX}{name}"), deadline).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                timed_out()
            } else if crate::sys::errors::nobody_listening(&e) {
                not_found()
            } else {
                Error::io(format!("could not look up shared memory named {name:?}"), e)
            }
        })?;
        // Anyone may bind an abstract name first: take a descriptor only from our own user.
        let me = sock::my_uid();
        let owner = sock::peer_uid(conn.as_fd())
            .map_err(|e| Error::io(format!("could not attach to shared memory {name:?}"), e))?;
        if owner != me {
            return Err(Error::new(
                ErrorKind::Authentication,
                format!(
                    "the name {name:?} is held by user {owner}, not by this user ({me}): refusing its shared memory"
                ),
            ));
        }
        let answered = sock::readable_until(conn.as_fd(), deadline)
            .map_err(|e| Error::io(format!("could not attach to shared memory {name:?}"), e))?;
        if !answered {
            return Err(timed_out());
        }
        let mut buf = [0u8; 8];
        let mut fds: Vec<OwnedFd> = Vec::new();
        // A reset means the name was withdrawn after we connected (a copy of the listening socket
        // can outlive the creator's close for a moment, in a child between its fork and exec).
        let n = socket::recv_with_fds(conn.as_fd(), &mut buf, &mut fds).map_err(|e| {
            if crate::sys::errors::peer_reset(&e) {
                not_found()
            } else {
                Error::io(format!("could not attach to shared memory {name:?}"), e)
            }
        })?;
        let fd = match (n.bytes, n.fds_lost, fds.pop()) {
            (8, false, Some(fd)) => fd,
            // The creator unlinked between our connect and its accept.
            _ => return Err(not_found()),
        };
        let block = Block::from_fd(fd)?;
        Ok(SharedMemory {
            name: name.to_string(),
            block: Arc::new(block),
            published: None,
            unlinked: false,
        })
    }

    /// [`attach`](Self::attach), checking that the block has exactly `size` bytes
    /// ([`ErrorKind::InvalidInput`] naming both sizes if not).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::create("doc-sized", 100)?;
    /// assert!(multiproc::SharedMemory::attach_sized("doc-sized", 100).is_ok());
    /// assert!(multiproc::SharedMemory::attach_sized("doc-sized", 200).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn attach_sized(name: &str, size: usize) -> Result<SharedMemory> {
        let shm = SharedMemory::attach(name)?;
        if shm.size() != size {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "shared memory {name:?} has {} bytes, not the {size} expected",
                    shm.size()
                ),
            ));
        }
        Ok(shm)
    }

    /// The name other processes attach with. Python: `shm.name`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::SharedMemory::create("doc-name", 1)?.name(), "doc-name");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size in bytes. Python: `shm.size`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert_eq!(multiproc::SharedMemory::new(10)?.size(), 10);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn size(&self) -> usize {
        self.block.len()
    }

    /// True for the handle that created the block and still owns its name.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::new(1)?;
    /// assert!(a.is_owner());
    /// assert!(!multiproc::SharedMemory::attach(a.name())?.is_owner());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_owner(&self) -> bool {
        self.published.is_some()
    }

    /// Removes the name: later [`attach`](Self::attach)es fail, existing mappings stay valid. Done
    /// automatically when the creator's handle drops or the creator dies. Python: `shm.unlink()`.
    ///
    /// Any handle may unlink, as in Python: an attached handle (or one received as a worker argument)
    /// asks the creator's process to remove the name, waiting up to 10 s for its answer
    /// ([`unlink_timeout`](Self::unlink_timeout) to choose). Fails with [`ErrorKind::NotFound`] (Python:
    /// `FileNotFoundError`) when the name is already gone: unlinked before (by this or another handle),
    /// its creator exited, or it now names another block.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let mut a = multiproc::SharedMemory::create("doc-unlink", 8)?;
    /// let mut b = multiproc::SharedMemory::attach("doc-unlink")?;
    /// b.unlink()?;                                                     // from the attached handle
    /// assert!(multiproc::SharedMemory::attach("doc-unlink").is_err());
    /// assert_eq!(a.unlink().unwrap_err().kind(), &multiproc::ErrorKind::NotFound);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn unlink(&mut self) -> Result<()> {
        self.unlink_timeout(ATTACH_TIMEOUT)
    }

    /// [`unlink`](Self::unlink), giving up with [`ErrorKind::Timeout`] after `timeout` when this
    /// handle is attached and the creator does not answer (it is stopped or wedged). The creator's own
    /// handle never waits.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// use std::time::Duration;
    /// let a = multiproc::SharedMemory::new(8)?;
    /// let mut b = multiproc::SharedMemory::attach(a.name())?;
    /// b.unlink_timeout(Duration::from_secs(1))?;
    /// assert!(multiproc::SharedMemory::attach(a.name()).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn unlink_timeout(&mut self, timeout: Duration) -> Result<()> {
        let name = &self.name;
        let gone = || {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no shared memory block named {name:?} to unlink: it was unlinked already, or its creator exited"
                ),
            )
        };
        if self.unlinked {
            return Err(gone());
        }
        self.unlinked = true;
        if let Some(published) = self.published.take() {
            return if published.withdraw() {
                Ok(())
            } else {
                Err(gone())
            };
        }
        match self.ask_creator_to_unlink(timeout) {
            Err(e) if e.kind() == &ErrorKind::Timeout => {
                // Not answered: the name may still be there, so a retry may go ahead.
                self.unlinked = false;
                Err(e)
            }
            other => other,
        }
    }

    /// Asks the process serving this block's name to withdraw it (see `publish`).
    fn ask_creator_to_unlink(&self, timeout: Duration) -> Result<()> {
        let name = &self.name;
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        let gone = || {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no shared memory block named {name:?} to unlink: it was unlinked already, or its creator exited"
                ),
            )
        };
        let timed_out = || {
            Error::timeout(
                &format!("unlinking shared memory {name:?} (is its creator stopped?)"),
                timeout,
            )
        };
        let io = |e| Error::io(format!("could not unlink shared memory {name:?}"), e);
        let request = publish::unlink_request(&self.block).map_err(io)?;
        loop {
            let conn = sock::connect_until(&format!("{PREFIX}{name}"), deadline).map_err(|e| {
                if e.kind() == std::io::ErrorKind::TimedOut {
                    timed_out()
                } else if crate::sys::errors::nobody_listening(&e) {
                    gone()
                } else {
                    io(e)
                }
            })?;
            // The request goes out at once, to be queued before the server accepts (see `publish`).
            // A broken pipe means it answered (as to an attach) and closed first: read that answer.
            match socket::send_parts(conn.as_fd(), &[&request], &[]) {
                Ok(_) => {}
                Err(e) if crate::sys::errors::peer_gone(&e) => {}
                Err(e) => return Err(io(e)),
            }
            // Only a process of our own user may withdraw it (and only such a one answers us).
            let owner = sock::peer_uid(conn.as_fd()).map_err(io)?;
            if owner != sock::my_uid() {
                return Err(Error::new(
                    ErrorKind::Authentication,
                    format!(
                        "the name {name:?} is held by user {owner}, not by this user: refusing to ask it to unlink"
                    ),
                ));
            }
            if !sock::readable_until(conn.as_fd(), deadline).map_err(io)? {
                return Err(timed_out());
            }
            let mut buf = [0u8; 8];
            let mut fds: Vec<OwnedFd> = Vec::new();
            let got = match socket::recv_with_fds(conn.as_fd(), &mut buf, &mut fds) {
                Ok(got) => got,
                // Reset: the server answered as to an attach and closed with our request unread (a
                // pending reset is reported before the answer), or the name was withdrawn with this
                // connection still in its backlog. Asking again tells which: a withdrawn name
                // refuses the connection.
                Err(e) if crate::sys::errors::peer_reset(&e) => {
                    if Instant::now() >= deadline {
                        return Err(timed_out());
                    }
                    continue;
                }
                Err(e) => return Err(io(e)),
            };
            match (got.bytes, buf) {
                (8, publish::UNLINKED) if fds.is_empty() => return Ok(()),
                (8, publish::NOT_SAME) if fds.is_empty() => return Err(gone()),
                // The server accepted before our request arrived and answered as to an attach: ask
                // again (the descriptor it sent is dropped here).
                (8, _) if !fds.is_empty() || got.fds_lost => {
                    if Instant::now() >= deadline {
                        return Err(timed_out());
                    }
                }
                // Closed without an answer: the name was withdrawn meanwhile.
                _ => return Err(gone()),
            }
        }
    }

    /// The first byte of the mapping, for building your own views. Other processes read and write it
    /// concurrently: synchronise with a [`Lock`](crate::Lock) or use atomics.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::new(8)?;
    /// assert!(!a.as_ptr().is_null());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.block.ptr()
    }

    fn range(&self, offset: usize, len: usize) -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.size()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "bytes {offset}..{} are outside shared memory {:?} of {} bytes",
                    offset.saturating_add(len),
                    self.name,
                    self.size()
                ),
            ));
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`, in one copy that other threads and processes
    /// may race with (it then sees some of their bytes; synchronise with a lock to see whole
    /// updates). Python: `bytes(shm.buf[offset:offset+n])`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::new(4)?;
    /// let mut buf = [1u8; 4];
    /// a.read_at(0, &mut buf)?;
    /// assert_eq!(buf, [0; 4]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked) and `buf` is private; `volatile::copy` is
        // the copy that tolerates other threads and processes writing the block meanwhile.
        unsafe { volatile::copy(self.block.ptr().add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `bytes` into the block at `offset` (one copy that other threads and processes may race
    /// with, as for [`read_at`](Self::read_at)). Python: `shm.buf[offset:offset+n] = bytes`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let a = multiproc::SharedMemory::new(4)?;
    /// a.write_at(2, &[9, 9])?;
    /// assert!(a.write_at(3, &[9, 9]).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.range(offset, bytes.len())?;
        // SAFETY: as in read_at.
        unsafe { volatile::copy(bytes.as_ptr(), self.block.ptr().add(offset), bytes.len()) };
        Ok(())
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // The creator's handle withdraws its name; an attached one leaves it.
        self.published = None;
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemory")
            .field("name", &self.name)
            .field("size", &self.size())
            .field("owner", &self.is_owner())
            .field("unlinked", &self.unlinked)
            .finish()
    }
}

/// Sent to a worker, a `SharedMemory` arrives attached (not the owner) to the same block.
impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        struct Fd<'a>(&'a Block);
        impl Serialize for Fd<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                codec::serialize_fd(self.0.fd(), s)
            }
        }
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.name)?;
        t.serialize_element(&Fd(&self.block))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct Wire(String, #[serde(with = "codec::fd")] OwnedFd);
        let Wire(name, fd) = Wire::deserialize(d)?;
        let block = Block::from_fd(fd).map_err(|e| D::Error::custom(format_args!("{e:#}")))?;
        Ok(SharedMemory {
            name,
            block: Arc::new(block),
            published: None,
            unlinked: false,
        })
    }
}
