//! `Pipe` and `Connection`: Python's `multiprocessing.Pipe()` with typed messages.

use super::channel::Channel;
use crate::error::{Error, ErrorKind, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// One end of a [`Pipe`]: sends and receives values of type `T`.
///
/// A `Connection` is a valid worker argument: it travels to the child as a file descriptor, and whatever
/// this end had already read ahead travels with it. Python: `multiprocessing.connection.Connection`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let (a, b) = multiproc::Pipe::<String>::new()?;
/// a.send(&"ping".to_string())?;
/// assert_eq!(b.recv()?, "ping");
/// # Ok::<(), multiproc::Error>(())
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Connection<T> {
    channel: Channel,
    readable: bool,
    writable: bool,
    #[serde(skip)]
    _type: PhantomData<fn(T) -> T>,
}

/// Creates connected [`Connection`] pairs. Python: `multiprocessing.Pipe(duplex=True)`.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// let (parent, child) = multiproc::Pipe::<u32>::new()?;
/// child.send(&7)?;
/// assert_eq!(parent.recv()?, 7);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct Pipe<T>(PhantomData<fn(T) -> T>);

impl<T: Serialize + DeserializeOwned> Pipe<T> {
    /// A duplex pipe: both ends send and receive.
    #[allow(clippy::new_ret_no_self)] // Python's Pipe() returns the two ends
    pub fn new() -> Result<(Connection<T>, Connection<T>)> {
        let (a, b) = Channel::pair()?;
        Ok((
            Connection::wrap(a, true, true),
            Connection::wrap(b, true, true),
        ))
    }

    /// A one-way pipe `(receiver, sender)`, in Python's order for `Pipe(duplex=False)`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (r, w) = multiproc::Pipe::<u8>::simplex()?;
    /// w.send(&1)?;
    /// assert_eq!(r.recv()?, 1);
    /// assert!(r.send(&2).is_err());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn simplex() -> Result<(Connection<T>, Connection<T>)> {
        let (a, b) = Channel::pair()?;
        Ok((
            Connection::wrap(a, true, false),
            Connection::wrap(b, false, true),
        ))
    }

    /// A duplex pipe whose ends refuse messages larger than `max_bytes` (default
    /// [`DEFAULT_MAX_MESSAGE`](crate::ipc::DEFAULT_MAX_MESSAGE)) with [`ErrorKind::MessageTooLarge`].
    pub fn with_limit(max_bytes: usize) -> Result<(Connection<T>, Connection<T>)> {
        let (mut a, mut b) = Pipe::new()?;
        a.set_max_message(max_bytes);
        b.set_max_message(max_bytes);
        Ok((a, b))
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    pub(crate) fn wrap(channel: Channel, readable: bool, writable: bool) -> Connection<T> {
        Connection {
            channel,
            readable,
            writable,
            _type: PhantomData,
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidHandle,
                "this end of a simplex pipe only receives; send on the other end",
            ))
        }
    }

    fn check_readable(&self) -> Result<()> {
        if self.readable {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidHandle,
                "this end of a simplex pipe only sends; receive on the other end",
            ))
        }
    }

    /// Sends a value. Errors with [`ErrorKind::Disconnected`] if the other end is gone.
    ///
    /// Takes any borrowed form of `T` (as `HashMap::get` does): `send("hi")` on a
    /// `Connection<String>`, `send(&[1, 2][..])` on a `Connection<Vec<u8>>`. The borrowed forms of the
    /// standard types (`str`/`String`, `[T]`/`Vec<T>`, `T`/`Box<T>`) encode exactly as the owned ones,
    /// so the receiver reads a `T`. Sending only borrows: the value stays yours.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (a, b) = multiproc::Pipe::<String>::new()?;
    /// a.send("hi")?;
    /// a.send(&"there".to_string())?;
    /// assert_eq!(b.recv()?, "hi");
    /// assert_eq!(b.recv()?, "there");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn send<Q>(&self, value: &Q) -> Result<()>
    where
        T: Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.check_writable()?;
        self.channel.send_value(value)
    }

    /// Blocks until a value arrives. [`ErrorKind::Disconnected`] once the other end is closed and
    /// nothing is left; [`ErrorKind::Codec`] if the bytes are not a `T` (the connection stays usable).
    pub fn recv(&self) -> Result<T> {
        self.check_readable()?;
        self.channel.recv_value(None)
    }

    /// Like [`recv`](Self::recv), giving up with [`ErrorKind::Timeout`] after `timeout`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (a, _b) = multiproc::Pipe::<u8>::new()?;
    /// let err = a.recv_timeout(std::time::Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        self.check_readable()?;
        self.channel.recv_value(crate::sys::deadline_after(timeout))
    }

    /// True if a message (or the end of the stream) is ready, waiting up to `timeout`.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        self.check_readable()?;
        self.channel.poll(timeout)
    }

    /// [`recv`](Self::recv) for async code (feature `async`): waits for the socket without a thread
    /// (the [`aio`](crate::aio) waker's poll), then receives. Cancellation-safe: a message is taken
    /// only in the poll that returns it.
    #[cfg(feature = "async")]
    pub async fn recv_async(&self) -> Result<T>
    where
        T: DeserializeOwned,
    {
        loop {
            if self.poll(Duration::ZERO)? {
                return self.recv();
            }
            let wait = crate::aio::readable(self.channel.socket())
                .map_err(|e| crate::error::Error::io("could not watch the connection", e))?;
            wait.await;
        }
    }

    /// [`send`](Self::send) for async code (feature `async`). A message that fits the socket buffer
    /// (about 200 KiB) is written at once; a larger one is written as the peer reads, in this call.
    #[cfg(feature = "async")]
    pub async fn send_async<Q>(&self, value: &Q) -> Result<()>
    where
        T: std::borrow::Borrow<Q>,
        Q: Serialize + ?Sized,
    {
        self.send(value)
    }

    /// Sends raw bytes as one message. Python: `Connection.send_bytes`.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.channel.send_raw(bytes, &[])
    }

    /// Receives one message as raw bytes. Python: `Connection.recv_bytes`.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (a, b) = multiproc::Pipe::<()>::new()?;
    /// a.send_bytes(b"01234567")?;
    /// assert_eq!(b.recv_bytes()?, b"01234567");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn recv_bytes(&self) -> Result<Vec<u8>> {
        self.check_readable()?;
        self.channel.recv_raw(None).map(|(bytes, _fds)| bytes)
    }

    /// Like [`recv_bytes`](Self::recv_bytes) with a timeout.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.check_readable()?;
        self.channel
            .recv_raw(crate::sys::deadline_after(timeout))
            .map(|(bytes, _fds)| bytes)
    }

    /// Receives one message into `buf`, returning its length. Python: `Connection.recv_bytes_into`
    /// (for Python's `offset`, pass `&mut buf[offset..]`).
    ///
    /// A message longer than `buf` gives [`ErrorKind::BufferTooShort`] with the message's length and
    /// **stays queued**: the next receive (`recv_bytes_into` with a large enough buffer,
    /// `recv_bytes`, `recv`) gets it. (Python raises `BufferTooShort` with the message inside it and
    /// moves on; here nothing is lost and nothing is copied twice.)
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (a, b) = multiproc::Pipe::<()>::new()?;
    /// a.send_bytes(b"0123456789")?;
    /// let mut small = [0u8; 4];
    /// let err = b.recv_bytes_into(&mut small).unwrap_err();
    /// assert_eq!(err.kind(), &multiproc::ErrorKind::BufferTooShort { size: 10 });
    /// let mut big = [0u8; 16];
    /// assert_eq!(b.recv_bytes_into(&mut big)?, 10);
    /// assert_eq!(&big[..10], b"0123456789");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> Result<usize> {
        self.check_readable()?;
        self.channel.recv_into(buf, None)
    }

    /// Like [`recv_bytes_into`](Self::recv_bytes_into), giving up with [`ErrorKind::Timeout`] after
    /// `timeout`.
    pub fn recv_bytes_into_timeout(&self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.check_readable()?;
        self.channel
            .recv_into(buf, crate::sys::deadline_after(timeout))
    }

    /// The largest message this end sends or accepts.
    pub fn max_message(&self) -> usize {
        self.channel.max_message()
    }

    /// Sets the largest message this end sends or accepts (at most 4 GiB - 1). A larger incoming message
    /// is skipped and reported as [`ErrorKind::MessageTooLarge`] before anything is allocated for it;
    /// the next message is received normally.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let (mut a, b) = multiproc::Pipe::<Vec<u8>>::new()?;
    /// a.set_max_message(1024);
    /// b.send(&vec![0u8; 4096])?;
    /// b.send(&vec![1u8; 16])?;
    /// assert!(matches!(a.recv().unwrap_err().kind(), multiproc::ErrorKind::MessageTooLarge { .. }));
    /// assert_eq!(a.recv()?, vec![1u8; 16]);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn set_max_message(&mut self, limit: usize) {
        self.channel.set_max_message(limit);
    }
}

impl<T> Connection<T> {
    /// True when a receive would find a message (or the end of the stream) already read ahead.
    pub(crate) fn ready_buffered(&self) -> bool {
        self.readable && self.channel.ready_buffered()
    }
}

/// The connection's socket, for `poll`/`epoll` or [`wait`](crate::connection::wait). Reading it
/// directly would desynchronise the framing: only wait on it. A message already read ahead is not
/// visible on the descriptor: [`Connection::poll`] and [`wait`](crate::connection::wait) see it.
impl<T> std::os::fd::AsFd for Connection<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.channel.socket()
    }
}

impl<T> std::os::fd::AsRawFd for Connection<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.channel.socket().as_raw_fd()
    }
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.channel.socket().as_raw_fd())
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}
