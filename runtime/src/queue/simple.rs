//! [`SimpleQueue`]: the minimal, unbounded queue.

use super::Queue;
use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An unbounded queue with only the essentials: `put`, `get`, `is_empty`, `close`. Python:
/// `multiprocessing.SimpleQueue`. Same machinery and guarantees as [`Queue`].
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let q = multiproc::SimpleQueue::<String>::new()?;      // Python: q = SimpleQueue()
/// q.put("job".to_string())?;
/// assert!(!q.is_empty());
/// assert_eq!(q.get()?, "job");
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct SimpleQueue<T>(Queue<T>);

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new, empty queue. Python: `SimpleQueue()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(multiproc::SimpleQueue::<u8>::new()?.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<SimpleQueue<T>> {
        Queue::new().map(SimpleQueue)
    }

    /// Puts `value`; never waits (see [`Queue::put`]: what the ring cannot take waits in this
    /// handle's buffer). Errors (dropping the value) only if the value cannot be encoded, after
    /// [`close`](Self::close), or after a `shutdown`. Python: `q.put(obj)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// q.put(1)?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn put(&self, value: T) -> Result<()> {
        self.0.put(value).map_err(Into::into)
    }

    /// Takes the next message, waiting while the queue is empty; see [`Queue::get`]. Python:
    /// `q.get()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// q.put(3)?;
    /// assert_eq!(q.get()?, 3);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        self.0.get()
    }

    /// [`Queue::get_async`] (feature `async`).
    #[cfg(feature = "async")]
    pub fn get_async(&self) -> impl std::future::Future<Output = Result<T>> + Send + 'static
    where
        T: Send + 'static,
    {
        self.0.get_async()
    }

    /// [`Queue::put_async`] (feature `async`): an unbounded queue, so the put is done at once.
    #[cfg(feature = "async")]
    pub fn put_async(
        &self,
        value: T,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static
    where
        T: Send + 'static,
    {
        let done = self.put(value);
        async move { done }
    }

    /// Like [`get`](Self::get) with a timeout.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// assert!(q.get_timeout(std::time::Duration::from_millis(1)).unwrap_err().is_timeout());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        self.0.get_timeout(timeout)
    }

    /// Takes the next message if there is one, else errors with
    /// [`ErrorKind::Empty`](crate::ErrorKind::Empty).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// assert!(q.try_get().is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn try_get(&self) -> Result<T> {
        self.0.try_get()
    }

    /// True if no message is queued. Python: `q.empty()`. Unlike Python it answers on a closed
    /// handle too (the queue's state, seen through the shared ring); see [`is_closed`](Self::is_closed).
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// assert!(multiproc::SimpleQueue::<u8>::new()?.is_empty());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Closes this handle; see [`Queue::close`]. Python: `q.close()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// q.close();
    /// assert!(q.put(1).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn close(&self) {
        self.0.close()
    }

    /// True once [`close`](Self::close) was called on this handle. [`is_empty`](Self::is_empty)
    /// still answers for a closed handle (Python's `empty()` raises); check this first where that
    /// matters.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::SimpleQueue::<u8>::new()?;
    /// assert!(!q.is_closed());
    /// q.close();
    /// assert!(q.is_closed());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl<T> Clone for SimpleQueue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        SimpleQueue(self.0.clone())
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimpleQueue").field(&self.0).finish()
    }
}
