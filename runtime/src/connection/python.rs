//! Python's own `multiprocessing.connection`, on the wire: a [`Listener`] that Python's `Client` can
//! reach and a [`Client`] that reaches Python's `Listener`, over TCP, Unix paths and abstract names,
//! with nothing but Python's standard library on the other side. Feature `python`.
//!
//! - **Framing** as Python's `Connection`: a 4-byte big-endian signed length, then the bytes; a
//!   message over 2 GiB - 1 is announced by a length of -1 and an 8-byte big-endian length.
//! - **Handshake** as Python's `deliver_challenge` / `answer_challenge`, mutual when an authkey is
//!   given (the listener challenges first, then answers the client's challenge). Both generations are
//!   spoken: the `{sha256}`-prefixed HMAC-SHA256 of Python 3.12+ (what our side sends), and the bare
//!   HMAC-MD5 of Python 3.11 and older (accepted as an answer to our challenge, and given in answer to
//!   an unprefixed one). A wrong key is [`ErrorKind::Authentication`] on both sides, as in Python.
//! - **Payloads** are bytes ([`Connection::send_bytes`] / [`Connection::recv_bytes`], Python's
//!   `send_bytes` / `recv_bytes`), and with the `pickle` feature Python objects of the plain kinds
//!   (`Connection::send` / `Connection::recv`, Python's `send(obj)` / `recv()`): a pickle is a
//!   program, and multiproc's reader runs none of it, refusing anything but plain data.
//!
//! This is a separate type from [`super::Listener`] on purpose: multiproc's own protocol (bincode
//! frames, handles beside them, the manager's hardened gate) stays the default, and Python's is
//! chosen by name.
//!
//! ```no_run
//! # extern crate multiproc_runtime as multiproc;
//! use multiproc::connection::{python, Address};
//! // Python: Listener(('127.0.0.1', 6000), authkey=b'secret')
//! let l = python::Listener::bind(&Address::tcp("127.0.0.1:6000")?, Some(b"secret"))?;
//! let mut conn = l.accept()?;                 // a Python `Client(address, authkey=b'secret')`
//! let request = conn.recv_bytes()?;           // its conn.send_bytes(b'...')
//! conn.send_bytes(&request.to_ascii_uppercase())?;
//! # Ok::<(), multiproc::Error>(())
//! ```

use super::Address;
#[cfg(feature = "pickle")]
pub use super::pickle::{dumps, loads};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::address::{self, Listener as RawListener};
use crate::manager::auth;
use crate::sys::net;
use hmac::{Hmac, Mac};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";
/// Random bytes in a challenge (Python 3.12+: 40; its legacy form, 20, must not be used).
const CHALLENGE_BYTES: usize = 40;
/// The legacy lengths: a bare 20-byte challenge (Python <= 3.11) and a bare HMAC-MD5 answer.
const LEGACY_LENGTHS: [usize; 2] = [20, 16];
/// Python reads handshake messages with `recv_bytes(256)`.
const HANDSHAKE_LIMIT: usize = 256;
/// How long one handshake may take before the peer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest length the 4-byte header can carry; larger messages use the 8-byte form.
const SHORT_MAX: usize = i32::MAX as usize;
/// The largest message [`Connection::recv_bytes`] accepts unless told otherwise (Python has no limit;
/// a peer's length claim should not be able to make us wait for, or grow a buffer toward, more).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// A connection speaking Python's framing. Python: `multiprocessing.connection.Connection`.
pub struct Connection {
    stream: Stream,
    max_message: usize,
    /// Messages at least this long are sent with the 8-byte length (Python's rule: over 2 GiB - 1).
    long_from: usize,
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn new(fd: OwnedFd, address: &Address) -> Stream {
        if address.is_tcp() {
            Stream::Tcp(TcpStream::from(fd))
        } else {
            Stream::Unix(UnixStream::from(fd))
        }
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.stream {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("python::Connection")
            .field("tcp", &matches!(self.stream, Stream::Tcp(_)))
            .field("max_message", &self.max_message)
            .finish()
    }
}

fn closed() -> Error {
    Error::disconnected("the Python peer closed the connection")
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionReset => closed(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Error::new(ErrorKind::Timeout, format!("{what} timed out"))
        }
        _ => Error::io(what.to_string(), e),
    }
}

impl Connection {
    fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            max_message: DEFAULT_MAX_MESSAGE,
            long_from: SHORT_MAX + 1,
        }
    }

    /// Sends `bytes` as one message. Python: `conn.send_bytes(buf)`.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let mut header = Vec::with_capacity(12);
        if bytes.len() >= self.long_from {
            header.extend_from_slice(&(-1i32).to_be_bytes());
            header.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        } else {
            header.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        }
        let io = self.stream.io();
        io.write_all(&header)
            .and_then(|_| io.write_all(bytes))
            .map_err(|e| io_error("sending to the Python peer", e))
    }

    /// Receives the next message, waiting for it. Python: `conn.recv_bytes()`. End of stream is
    /// [`ErrorKind::Disconnected`]; a message longer than [`max_message`](Self::set_max_message)
    /// is [`ErrorKind::MessageTooLarge`] (Python's `recv_bytes(maxlength)` raises `OSError`), and the
    /// connection is unusable afterwards, as in Python.
    pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        self.recv_until(None)
    }

    /// Like [`recv_bytes`](Self::recv_bytes), giving up with [`ErrorKind::Timeout`] if no message
    /// starts within `timeout` (a message that has started is read to its end).
    pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        self.recv_until(crate::sys::deadline_after(timeout))
    }

    /// Sends `value` pickled, as Python's `conn.send(obj)` does: Python's `conn.recv()` gets the
    /// plain object (see [`dumps`] for the mapping). Feature `pickle`.
    #[cfg(feature = "pickle")]
    pub fn send<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let bytes = dumps(value)?;
        self.send_bytes(&bytes)
    }

    /// Receives a pickled value, as Python's `conn.recv()` does, for plain data only: a pickle that
    /// asks for a class, a global or a call is a `Codec` error and nothing in it runs (see
    /// [`loads`]). Feature `pickle`.
    #[cfg(feature = "pickle")]
    pub fn recv<T: serde::de::DeserializeOwned>(&mut self) -> Result<T> {
        loads(&self.recv_bytes()?)
    }

    /// Like [`recv`](Self::recv), giving up with [`ErrorKind::Timeout`] if no message starts within
    /// `timeout`. Feature `pickle`.
    #[cfg(feature = "pickle")]
    pub fn recv_timeout<T: serde::de::DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        loads(&self.recv_bytes_timeout(timeout)?)
    }

    /// True if a message (or the end of the stream) can be read now or within `timeout`. Python:
    /// `conn.poll(timeout)`.
    pub fn poll(&self, timeout: Duration) -> Result<bool> {
        let mut pfd = [net::readable(self.as_fd())];
        let deadline = crate::sys::deadline_after(timeout);
        net::poll(&mut pfd, crate::sys::poll_timeout_ms(deadline))
            .map(|n| n > 0)
            .map_err(|e| Error::io("poll failed", e))
    }

    /// The longest message [`recv_bytes`](Self::recv_bytes) accepts (default
    /// [`DEFAULT_MAX_MESSAGE`], 1 GiB).
    pub fn set_max_message(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Sends messages of at least `len` bytes with the 8-byte length form (Python's for messages
    /// over 2 GiB - 1, which every Python reads whatever the length). For tests of that path.
    #[doc(hidden)]
    pub fn long_lengths_from(&mut self, len: usize) {
        self.long_from = len.min(SHORT_MAX + 1);
    }

    fn recv_until(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        if deadline.is_some() && !self.poll_until(deadline)? {
            return Err(Error::new(
                ErrorKind::Timeout,
                "no message from the Python peer in time",
            ));
        }
        let mut head = [0u8; 4];
        self.read_exact(&mut head)?;
        let short = i32::from_be_bytes(head);
        let len = if short == -1 {
            let mut long = [0u8; 8];
            self.read_exact(&mut long)?;
            u64::from_be_bytes(long)
        } else if short < 0 {
            return Err(Error::codec(format!(
                "the Python peer sent a negative message length ({short}): not multiprocessing's framing"
            )));
        } else {
            short as u64
        };
        if len > self.max_message as u64 {
            return Err(Error::new(
                ErrorKind::MessageTooLarge {
                    size: usize::try_from(len).unwrap_or(usize::MAX),
                    limit: self.max_message,
                },
                format!(
                    "the Python peer announced a message of {len} bytes, over this connection's \
                     limit of {} (set_max_message)",
                    self.max_message
                ),
            ));
        }
        // Grown as the bytes arrive: a length claim alone allocates nothing.
        let mut body = Vec::with_capacity((len as usize).min(64 * 1024));
        let got = self
            .stream
            .io()
            .take(len)
            .read_to_end(&mut body)
            .map_err(|e| io_error("receiving from the Python peer", e))?;
        if got as u64 != len {
            return Err(closed());
        }
        Ok(body)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.stream
            .io()
            .read_exact(buf)
            .map_err(|e| io_error("receiving from the Python peer", e))
    }

    fn poll_until(&self, deadline: Option<Instant>) -> Result<bool> {
        let mut pfd = [net::readable(self.as_fd())];
        loop {
            match net::poll(&mut pfd, crate::sys::poll_timeout_ms(deadline)) {
                Ok(n) => return Ok(n > 0),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("poll failed", e)),
            }
        }
    }

    /// A handshake message: at most 256 bytes, within the handshake's deadline.
    fn recv_handshake(&mut self) -> Result<Vec<u8>> {
        let saved = self.max_message;
        self.max_message = HANDSHAKE_LIMIT;
        let res = self.recv_until(Some(Instant::now() + HANDSHAKE_TIMEOUT));
        self.max_message = saved;
        res
    }
}

type HmacMd5 = Hmac<md5::Md5>;
type HmacSha256 = Hmac<sha2::Sha256>;

/// HMAC of `message` with the digest Python names `name`, or `None` for one we do not speak.
fn mac(name: &str, key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    match name {
        "md5" => {
            let mut m = HmacMd5::new_from_slice(key).ok()?;
            m.update(message);
            Some(m.finalize().into_bytes().to_vec())
        }
        "sha256" => {
            let mut m = HmacSha256::new_from_slice(key).ok()?;
            m.update(message);
            Some(m.finalize().into_bytes().to_vec())
        }
        _ => None,
    }
}

/// Python's `_get_digest_name_and_payload`: `("", message)` for the legacy lengths, else the
/// `{name}` prefix and what follows it.
fn digest_and_payload(message: &[u8]) -> Result<(String, &[u8])> {
    if LEGACY_LENGTHS.contains(&message.len()) {
        return Ok((String::new(), message));
    }
    if message.first() == Some(&b'{')
        && let Some(end) = message.iter().take(22).position(|&b| b == b'}')
        && let Ok(name) = std::str::from_utf8(&message[1..end])
        && matches!(name, "md5" | "sha256")
    {
        return Ok((name.to_string(), &message[end + 1..]));
    }
    Err(Error::new(
        ErrorKind::Authentication,
        "the Python peer's handshake message has an unsupported length or digest (md5 and sha256 are spoken)",
    ))
}

/// Python's `deliver_challenge`: challenge the peer, check its answer, say welcome or failure.
fn deliver_challenge(conn: &mut Connection, key: &[u8]) -> Result<()> {
    let mut message = b"{sha256}".to_vec();
    message.extend_from_slice(&auth::random_bytes(CHALLENGE_BYTES)?);
    conn.send_bytes(&[CHALLENGE, &message].concat())?;
    let response = conn.recv_handshake()?;
    let ok = match digest_and_payload(&response) {
        Ok((name, answer)) => {
            let name = if name.is_empty() { "md5" } else { &name };
            mac(name, key, &message).is_some_and(|expected| auth::same(&expected, answer))
        }
        Err(_) => false,
    };
    if ok {
        conn.send_bytes(WELCOME)
    } else {
        let _ = conn.send_bytes(FAILURE);
        Err(Error::new(
            ErrorKind::Authentication,
            "the Python peer's answer to our challenge was wrong: it has another authkey",
        ))
    }
}

/// Python's `answer_challenge`: answer the peer's challenge, expect its welcome.
fn answer_challenge(conn: &mut Connection, key: &[u8]) -> Result<()> {
    let message = conn.recv_handshake()?;
    let Some(message) = message.strip_prefix(CHALLENGE) else {
        return Err(Error::new(
            ErrorKind::Authentication,
            "the Python peer did not send a challenge: it has no authkey, or is not multiprocessing",
        ));
    };
    if message.len() < LEGACY_LENGTHS[0] {
        return Err(Error::new(
            ErrorKind::Authentication,
            format!(
                "the Python peer's challenge is too short ({} bytes)",
                message.len()
            ),
        ));
    }
    let (name, _) = digest_and_payload(message)?;
    let response = if name.is_empty() {
        mac("md5", key, message).unwrap_or_default()
    } else {
        let digest = mac(&name, key, message).unwrap_or_default();
        [format!("{{{name}}}").as_bytes(), &digest].concat()
    };
    conn.send_bytes(&response)?;
    if conn.recv_handshake()? != WELCOME {
        return Err(Error::new(
            ErrorKind::Authentication,
            "the Python peer rejected our answer: it has another authkey",
        ));
    }
    Ok(())
}

/// A listening socket that Python's `multiprocessing.connection.Client` connects to. Python:
/// `multiprocessing.connection.Listener`.
///
/// `accept` runs one handshake at a time, each within 10 s: a listener meant for untrusted networks
/// is multiproc's own [`super::Listener`], whose gate runs them concurrently.
pub struct Listener {
    socket: RawListener,
    address: Address,
    authkey: Option<Vec<u8>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("python::Listener")
            .field("address", &self.address)
            .field("authkey", &self.authkey.is_some())
            .finish()
    }
}

impl Listener {
    /// Binds `address` (for Python: a TCP `(host, port)`, a path, or an abstract name, which Python
    /// writes with a leading `'\0'`). With `authkey`, every client must pass Python's handshake. Any
    /// non-empty key is accepted, as in Python.
    pub fn bind(address: &Address, authkey: Option<&[u8]>) -> Result<Listener> {
        if authkey.is_some_and(<[u8]>::is_empty) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "an empty authkey authenticates nothing: pass None for no handshake",
            ));
        }
        let bound = address::bind(address)?;
        let socket = RawListener::new(bound.listener, &bound.address);
        // Non-blocking, so that `accept_timeout` can give up (accepted sockets are blocking).
        socket
            .set_nonblocking()
            .map_err(|e| Error::io("could not make the listener non-blocking", e))?;
        Ok(Listener {
            socket,
            address: bound.address,
            authkey: authkey.map(<[u8]>::to_vec),
        })
    }

    /// The address Python clients connect to (with the port picked, for TCP port 0).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Waits for the next client and runs the handshake. Python: `Listener.accept()`. A client that
    /// fails the handshake is [`ErrorKind::Authentication`] (Python raises `AuthenticationError`
    /// too); the listener goes on accepting.
    pub fn accept(&self) -> Result<Connection> {
        self.accept_until(None)
    }

    /// Like [`accept`](Self::accept), giving up with [`ErrorKind::Timeout`] if no client connects
    /// within `timeout`.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection> {
        self.accept_until(crate::sys::deadline_after(timeout))
    }

    fn accept_until(&self, deadline: Option<Instant>) -> Result<Connection> {
        let Some(fd) = address::accept_until(&self.socket, &self.address, deadline)? else {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("no Python client connected to {} in time", self.address),
            ));
        };
        let mut conn = Connection::new(Stream::new(fd, &self.address));
        if let Some(key) = &self.authkey {
            deliver_challenge(&mut conn, key)?;
            answer_challenge(&mut conn, key)?;
        }
        Ok(conn)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        address::remove_socket_file(&self.address);
    }
}

/// Connects to Python's `multiprocessing.connection.Listener`. Python:
/// `multiprocessing.connection.Client`.
#[derive(Debug)]
pub struct Client;

impl Client {
    /// Connects to the Python listener at `address`; with `authkey`, answers its challenge and then
    /// challenges it, as Python's `Client` does. Nothing listening is [`ErrorKind::Disconnected`]; a
    /// wrong key [`ErrorKind::Authentication`].
    pub fn connect(address: &Address, authkey: Option<&[u8]>) -> Result<Connection> {
        let fd = address::connect_to(address, "the Python listener")?;
        let mut conn = Connection::new(Stream::new(fd, address));
        if let Some(key) = authkey {
            conn.stream
                .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
                .map_err(|e| Error::io("could not set a read timeout", e))?;
            answer_challenge(&mut conn, key)?;
            deliver_challenge(&mut conn, key)?;
            conn.stream
                .set_read_timeout(None)
                .map_err(|e| Error::io("could not clear the read timeout", e))?;
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_prefixes_and_legacy_lengths() {
        assert_eq!(digest_and_payload(&[0; 20]).unwrap().0, "");
        assert_eq!(digest_and_payload(&[0; 16]).unwrap().0, "");
        let (name, rest) = digest_and_payload(b"{sha256}0123456789012345678901234").unwrap();
        assert_eq!((name.as_str(), rest.len()), ("sha256", 25));
        assert!(digest_and_payload(b"{sha512}0123456789012345678901234").is_err());
        assert!(digest_and_payload(b"no prefix and not a legacy length").is_err());
    }

    #[test]
    fn hmac_md5_matches_rfc_2104_test_vector() {
        // RFC 2104 / RFC 2202 test case 2.
        let m = mac("md5", b"Jefe", b"what do ya want for nothing?").unwrap();
        let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "750c783e6ab0b503eaa86e310a5db738");
    }
}
