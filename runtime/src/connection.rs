//! Python's `multiprocessing.connection`: a [`Listener`] that accepts [`Connection`]s at an
//! [`Address`] (a Unix-socket path, a Linux abstract name, or TCP) and [`Client`] / [`connect`] that
//! opens them, with the authkey handshake the manager uses; and [`wait`] for the readiness of many
//! connections, process sentinels, queues and descriptors at once.
//!
//! A connection from a listener is the same [`Connection`] a [`Pipe`](crate::Pipe) gives (the same
//! frames, `send`/`recv`/`poll`/`recv_bytes`/`recv_bytes_into`), except that over TCP it cannot
//! carry handles: sending a pipe end, queue or shared block through it is refused with
//! [`ErrorKind::InvalidInput`].
//!
//! The handshake, when the listener has an authkey: the listener sends a random challenge, the
//! client answers HMAC-SHA256(authkey, challenge) with a challenge of its own, the listener answers
//! that (so each side proves it knows the key; digests compared in constant time). Keys are at least
//! 16 bytes. The listener runs all handshakes at once in [`accept`](Listener::accept), with a
//! deadline each (2 s over TCP, 10 s locally) and per-peer caps (the manager's
//! [gate](crate::manager)): connections that never answer cannot keep `accept` from returning the
//! clients that do.
//!
//! ```
//! # extern crate multiproc_runtime as multiproc;
//! use multiproc::connection::{Address, Client, Listener};
//! let key = b"a secret of 16+ bytes";
//! let listener = Listener::bind(&Address::unique_local()?, Some(key))?;
//! let address = listener.address().clone();
//! let client = std::thread::spawn(move || -> multiproc::Result<String> {
//!     let conn = Client::connect::<String>(&address, Some(key))?;
//!     conn.send("hello")?;
//!     conn.recv()
//! });
//! let conn = listener.accept::<String>()?;
//! assert_eq!(conn.recv()?, "hello");
//! conn.send("welcome")?;
//! assert_eq!(client.join().unwrap()?, "welcome");
//! # Ok::<(), multiproc::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::ipc::DEFAULT_MAX_MESSAGE;
use crate::ipc::channel::Channel;
use crate::manager::address::{self, Listener as RawListener};
use crate::manager::auth::{self, Keys};
use crate::manager::gate::Gate;
use crate::poison::lock;
use crate::sys::net;
use crate::{Connection, Process, Queue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::manager::Address;

#[cfg(feature = "pickle")]
mod pickle;
#[cfg(feature = "python")]
pub mod python;

/// How long one `accept` holds the listener before letting another thread's `accept` have a turn.
const ACCEPT_SLICE: Duration = Duration::from_millis(50);

/// A listening socket that hands out [`Connection`]s. Python:
/// `multiprocessing.connection.Listener`.
///
/// Several threads may `accept` on one listener; each gets a different connection. Dropping a
/// listener on a [`Address::Path`] removes the socket file.
pub struct Listener {
    socket: RawListener,
    address: Address,
    keys: Option<Keys>,
    gate: Mutex<Gate>,
}

impl Listener {
    /// Binds `address` and listens. With `authkey` (16 bytes or more), every connection must pass
    /// the handshake before [`accept`](Self::accept) returns it; without, connections are handed out
    /// as they come (like Python's `authkey=None`). Binding an address in use fails
    /// ([`ErrorKind::Io`]). `Address::Tcp` with port 0 picks a free port: see
    /// [`address`](Self::address).
    pub fn bind(address: &Address, authkey: Option<&[u8]>) -> Result<Listener> {
        if let Some(key) = authkey {
            auth::check_key(key)?;
        }
        let bound = address::bind(address)?;
        let socket = RawListener::new(bound.listener, &bound.address);
        // The gate makes the socket non-blocking (so `accept_timeout` can give up).
        let gate = Gate::new(&socket);
        Ok(Listener {
            socket,
            address: bound.address,
            keys: authkey.map(|k| Keys::authkey_only(k.to_vec())),
            gate: Mutex::new(gate),
        })
    }

    /// The address clients connect to (with the port picked, for TCP port 0). Python:
    /// `Listener.address`.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for the next connection (authenticated, when the listener has a key). Python:
    /// `Listener.accept()`.
    pub fn accept<T: Serialize + DeserializeOwned>(&self) -> Result<Connection<T>> {
        loop {
            if let Some(c) = self.accept_until(Some(Instant::now() + ACCEPT_SLICE))? {
                return Ok(c);
            }
        }
    }

    /// Like [`accept`](Self::accept), giving up with [`ErrorKind::Timeout`] after `timeout`.
    /// Handshakes still in progress then carry on at the next call.
    pub fn accept_timeout<T: Serialize + DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<Connection<T>> {
        let deadline = crate::sys::deadline_after(timeout);
        loop {
            let slice = Instant::now() + ACCEPT_SLICE;
            let until = deadline.map_or(slice, |d| d.min(slice));
            if let Some(c) = self.accept_until(Some(until))? {
                return Ok(c);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no client connected{} to {} in time",
                        if self.keys.is_some() {
                            " and authenticated"
                        } else {
                            ""
                        },
                        self.address
                    ),
                ));
            }
        }
    }

    /// One connection by `deadline`, or `None`.
    fn accept_until<T: Serialize + DeserializeOwned>(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Option<Connection<T>>> {
        let mut gate = lock(&self.gate);
        let fd = match &self.keys {
            Some(keys) => match gate.next(&self.socket, keys, None, deadline) {
                Some((fd, _level, _tls)) => fd,
                None => return Ok(None),
            },
            None => match self.accept_plain(deadline)? {
                Some(fd) => fd,
                None => return Ok(None),
            },
        };
        drop(gate);
        let channel = if self.address.is_tcp() {
            Channel::from_tcp(fd)
        } else {
            Channel::from_fd(fd)
        };
        Ok(Some(Connection::wrap(channel, true, true)))
    }

    /// Accepts without a handshake, waiting until `deadline`.
    fn accept_plain(&self, deadline: Option<Instant>) -> Result<Option<OwnedFd>> {
        address::accept_until(&self.socket, &self.address, deadline)
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("address", &self.address)
            .field("authenticated", &self.keys.is_some())
            .finish()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        address::remove_socket_file(&self.address);
    }
}

/// Opens connections to a [`Listener`]. Python: `multiprocessing.connection.Client`.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// Connects to the listener at `address`; with `authkey`, runs the handshake (the listener must
    /// have the same key). A listener that is not there gives [`ErrorKind::Disconnected`]; a wrong
    /// key [`ErrorKind::Authentication`]. The handshake gives up after 30 s.
    pub fn connect<T: Serialize + DeserializeOwned>(
        address: &Address,
        authkey: Option<&[u8]>,
    ) -> Result<Connection<T>> {
        connect(address, authkey)
    }
}

/// [`Client::connect`] as a function.
pub fn connect<T: Serialize + DeserializeOwned>(
    address: &Address,
    authkey: Option<&[u8]>,
) -> Result<Connection<T>> {
    if let Some(key) = authkey {
        auth::check_key(key)?;
    }
    let fd = address::connect_to(address, "the listener")?;
    let mut channel = if address.is_tcp() {
        Channel::from_tcp(fd)
    } else {
        Channel::from_fd(fd)
    };
    if let Some(key) = authkey {
        let peer = format!("the listener at {address}");
        channel.set_max_message(auth::HANDSHAKE_LIMIT);
        auth::client_handshake(
            &|b| channel.send_raw(b, &[]),
            &|d| channel.recv_raw(d).map(|(b, _)| b),
            key,
            &peer,
        )
        .map_err(|e| {
            if e.is_disconnected() {
                Error::disconnected(format!(
                    "{peer} closed the connection during the handshake (it has no authkey, or \
                     gave up waiting)"
                ))
            } else {
                e
            }
        })?;
        channel.set_max_message(DEFAULT_MAX_MESSAGE);
    }
    Ok(Connection::wrap(channel, true, true))
}

/// Something [`wait`] can wait on.
///
/// Implemented for [`Connection`] (ready when a receive would not block: a message, or the end of
/// the stream), [`Process`] (ready once the child has exited), [`Queue`] (ready when `get` would not
/// block: a message is queued or the queue is closed), and raw descriptors ([`BorrowedFd`],
/// [`OwnedFd`]: ready when readable).
pub trait Waitable {
    /// A descriptor that becomes readable when the object may be ready; `None` when it has none
    /// (then [`wait`] checks [`ready_now`](Self::ready_now) every few milliseconds).
    fn wait_fd(&self) -> Option<BorrowedFd<'_>>;

    /// True when the object is ready without waiting on its descriptor (data read ahead, a child
    /// already reaped). Called before each wait and after.
    fn ready_now(&self) -> bool;
}

impl<T> Waitable for Connection<T> {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
    fn ready_now(&self) -> bool {
        self.ready_buffered()
    }
}

impl<R: DeserializeOwned> Waitable for Process<R> {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.sentinel())
    }
    fn ready_now(&self) -> bool {
        self.has_ended()
    }
}

impl<T> Waitable for Queue<T> {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
    fn ready_now(&self) -> bool {
        !self.is_empty() || self.is_closed()
    }
}

impl Waitable for BorrowedFd<'_> {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(*self)
    }
    fn ready_now(&self) -> bool {
        false
    }
}

impl Waitable for OwnedFd {
    fn wait_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.as_fd())
    }
    fn ready_now(&self) -> bool {
        false
    }
}

/// How often objects without a descriptor (queues) are checked while [`wait`] waits.
const POLL_SLICE: Duration = Duration::from_millis(2);

/// Waits until at least one of `objects` is ready, or `timeout` passes (`None`: no limit), and
/// returns the indices of those ready, in order; empty on timeout. Python:
/// `multiprocessing.connection.wait(object_list, timeout)` (which returns the objects; here their
/// positions). `Some(Duration::ZERO)` only looks (Python's zero or negative timeout).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::connection::wait;
/// use std::time::Duration;
/// let (a, b) = multiproc::Pipe::<u8>::new()?;
/// let (c, d) = multiproc::Pipe::<u8>::new()?;
/// assert!(wait(&[&a, &c], Some(Duration::ZERO))?.is_empty());
/// d.send(&1)?;
/// assert_eq!(wait(&[&a, &c], Some(Duration::from_secs(5)))?, vec![1]);
/// # drop(b);
/// # Ok::<(), multiproc::Error>(())
/// ```
pub fn wait(objects: &[&dyn Waitable], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let deadline = match timeout {
        None => None,
        Some(t) => Some(crate::sys::deadline_after(t).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "wait timeout is too large: pass None to wait without a limit",
            )
        })?),
    };
    let mut pfds: Vec<net::PollFd> = Vec::with_capacity(objects.len());
    let mut owners: Vec<usize> = Vec::with_capacity(objects.len());
    loop {
        let mut ready: Vec<usize> = Vec::new();
        let mut polled = false;
        pfds.clear();
        owners.clear();
        for (i, o) in objects.iter().enumerate() {
            if o.ready_now() {
                ready.push(i);
                continue;
            }
            match o.wait_fd() {
                Some(fd) => {
                    pfds.push(net::readable(fd));
                    owners.push(i);
                }
                None => polled = true,
            }
        }
        let mut ms = if ready.is_empty() {
            crate::sys::poll_timeout_ms(deadline)
        } else {
            0
        };
        if polled && (ms < 0 || ms > POLL_SLICE.as_millis() as i32) {
            ms = POLL_SLICE.as_millis() as i32;
        }
        if !pfds.is_empty() || ms > 0 {
            net::poll(&mut pfds, ms).map_err(|e| Error::io("poll failed in wait", e))?;
        }
        for (p, &i) in pfds.iter().zip(&owners) {
            if p.revents != 0 {
                ready.push(i);
            }
        }
        if !ready.is_empty() {
            ready.sort_unstable();
            return Ok(ready);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // One last look: an object that became ready as the time ran out counts.
            let late: Vec<usize> = (0..objects.len())
                .filter(|&i| objects[i].ready_now())
                .collect();
            return Ok(late);
        }
    }
}
