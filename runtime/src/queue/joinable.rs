//! [`JoinableQueue`]: a [`Queue`] whose consumers mark each message done, so a producer can wait
//! until everything put has been handled.

use super::Queue;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A [`Queue`] with task accounting. Python: `multiprocessing.JoinableQueue`.
///
/// Every message put is a task; a consumer calls [`task_done`](Self::task_done) once it has handled
/// one, and [`join`](Self::join) waits until every task put so far is done. All of [`Queue`]'s
/// methods are available (it derefs to one). The count of tasks put is committed with the message
/// itself, so a producer killed mid-put leaves no phantom task. A message that fails to decode still
/// counts as received: call `task_done` for it too.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{worker, JoinableQueue};
///
/// #[worker]
/// fn drain(q: JoinableQueue<u64>) {
///     while let Ok(n) = q.get() {
///         println!("handled {n}");
///         q.task_done().unwrap();
///     }
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let q = JoinableQueue::<u64>::new()?;         // Python: q = JoinableQueue()
///     let workers = (0..3)
///         .map(|_| drain::spawn(q.clone()))
///         .collect::<multiproc::Result<Vec<_>>>()?;
///     for n in 0..10 {
///         q.put(n)?;
///     }
///     q.join()?;                                    // q.join(): every task is done
///     for w in workers {
///         drop(w);                                  // the workers block in get: stop them
///     }
///     Ok(())
/// }
/// ```
#[derive(Serialize, Deserialize)]
#[serde(transparent, bound = "")]
pub struct JoinableQueue<T>(Queue<T>);

impl<T> JoinableQueue<T> {
    pub(crate) fn from_queue(queue: Queue<T>) -> JoinableQueue<T> {
        JoinableQueue(queue)
    }

    /// An unbounded joinable queue. Python: `JoinableQueue()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::new()?;
    /// q.put(1)?;
    /// assert_eq!(q.get()?, 1);
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn new() -> Result<JoinableQueue<T>> {
        Queue::new().map(JoinableQueue)
    }

    /// A joinable queue holding at most `maxsize` messages. Python: `JoinableQueue(maxsize)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::bounded(1)?;
    /// q.put(1)?;
    /// assert!(q.is_full());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn bounded(maxsize: usize) -> Result<JoinableQueue<T>> {
        Queue::bounded(maxsize).map(JoinableQueue)
    }

    /// Marks one task handled. Errors with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
    /// when called more times than messages were put. Python: `q.task_done()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::new()?;
    /// q.put(1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// assert!(q.task_done().is_err());        // nothing left to mark
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn task_done(&self) -> Result<()> {
        self.0.ring().task_done()
    }

    /// Tasks put and not yet marked done.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::new()?;
    /// q.put(1)?;
    /// q.put(2)?;
    /// assert_eq!(q.unfinished_tasks(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.0.ring().unfinished()
    }

    /// Waits until every task put is done. Errors with
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) if tasks are left and no other
    /// handle of the queue is alive to finish them. Python: `q.join()`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::new()?;
    /// q.join()?;                              // nothing put: returns at once
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn join(&self) -> Result<()> {
        self.0.ring().join(self.0.member(), None)
    }

    /// [`join`](Self::join) for async code (feature `async`): waits without a thread until every
    /// task put is done; `Disconnected` when tasks are left and no other handle is alive.
    #[cfg(feature = "async")]
    pub fn join_async(&self) -> impl std::future::Future<Output = Result<()>> + Send + 'static
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        self.0.join_tasks_async()
    }

    /// Like [`join`](Self::join), giving up with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout)
    /// after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::JoinableQueue::<u8>::new()?;
    /// let other = q.clone();                  // someone could still finish the task
    /// q.put(1)?;
    /// let err = q.join_timeout(std::time::Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// # drop(other);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        self.0
            .ring()
            .join(self.0.member(), crate::sys::deadline_after(timeout))
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.0
    }
}

impl<T> Clone for JoinableQueue<T> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        JoinableQueue(self.0.clone())
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JoinableQueue").field(&self.0).finish()
    }
}
