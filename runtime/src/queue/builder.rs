//! [`QueueBuilder`]: the options of a queue (`maxsize`, ring size).

use super::{JoinableQueue, Queue};
use crate::error::Result;
use crate::shm::ring::{DEFAULT_RING, Ring};
use std::marker::PhantomData;

/// Options for a new [`Queue`]: Python's `Queue(maxsize)` plus the size of the shared ring.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let q = multiproc::Queue::<Vec<u8>>::builder()
///     .maxsize(8)                 // at most 8 messages queued (0: unbounded, the default)
///     .ring_bytes(4 << 20)        // a 4 MiB ring: messages up to that size go in one piece
///     .build()?;
/// assert_eq!(q.maxsize(), 8);
/// assert_eq!(q.ring_bytes(), 4 << 20);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct QueueBuilder<T> {
    maxsize: usize,
    ring_bytes: usize,
    _type: PhantomData<fn(T) -> T>,
}

impl<T> Default for QueueBuilder<T> {
    fn default() -> Self {
        QueueBuilder {
            maxsize: 0,
            ring_bytes: DEFAULT_RING,
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("maxsize", &self.maxsize)
            .field("ring_bytes", &self.ring_bytes)
            .finish()
    }
}

impl<T> QueueBuilder<T> {
    /// The most messages the queue holds before `put` blocks; 0 (the default) for no limit other
    /// than the ring's bytes.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::builder().maxsize(2).build()?;
    /// assert_eq!(q.maxsize(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = maxsize;
        self
    }

    /// Size of the shared ring in bytes, rounded up to a power of two between 4 KiB and 64 MiB
    /// (default 1 MiB). Larger messages are streamed through it; a larger ring lets producers run
    /// further ahead of consumers.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::builder().ring_bytes(100_000).build()?;
    /// assert_eq!(q.ring_bytes(), 131_072);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn ring_bytes(mut self, bytes: usize) -> Self {
        self.ring_bytes = bytes;
        self
    }

    /// Creates the queue.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::builder().build()?;
    /// assert!(q.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn build(self) -> Result<Queue<T>> {
        Ring::create(self.ring_bytes, self.maxsize).map(Queue::from_ring)
    }

    /// Creates a [`JoinableQueue`] with these options.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::builder().maxsize(4).build_joinable()?;
    /// q.put(1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn build_joinable(self) -> Result<JoinableQueue<T>> {
        self.build().map(JoinableQueue::from_queue)
    }
}
