//! The client side: a [`ProxyCore`] names a manager (address, proxy key) and an object on it (id,
//! capability), and makes calls. Each thread keeps one authenticated connection per manager, opened on first use — a proxy
//! that arrives in a worker connects when first called — so a call is one frame out and one back with
//! no lock shared between threads, and a blocking call (queue `get`) holds up no other thread.

use super::address::{self, Address};
use super::auth;
use super::fast::Link;
use super::protocol::{self, CONTROL, MAX_FRAME, control};
use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// How proxies reach a manager: its address, the proxy key (derived from the authkey, which it does
/// not reveal: see [`auth::proxy_key`]), and a key naming it in connection caches.
#[derive(Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub address: Address,
    pub proxy_key: Vec<u8>,
    pub key: u64,
    /// The server's pinned TLS certificate (DER), for a manager served with TLS.
    pub tls_cert: Option<Vec<u8>>,
}

/// The proxy key is a secret: debug output (logs, panic messages) names the address only.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .field("proxy_key", &"<redacted>")
            .finish()
    }
}

/// One authenticated connection to a manager: frames on its socket, or, for a local manager, the
/// shared-memory mailboxes of [`fast`](super::fast) with the socket kept as the liveness signal.
pub(crate) struct Conn {
    wire: Wire,
    link: Option<Link>,
    buf: RefCell<Vec<u8>>,
    reply: RefCell<Vec<u8>>,
}

impl Conn {
    /// Connects to the manager at `address` and authenticates with `key` (the authkey or the proxy
    /// key), inside TLS pinning `tls_cert` if given; a local connection then moves to shared memory.
    pub(crate) fn open(address: &Address, key: &[u8], tls_cert: Option<&[u8]>) -> Result<Conn> {
        Self::open_with(address, key, tls_cert, true)
    }

    /// [`open`](Conn::open), with or without the shared-memory mailboxes (an async call waits on
    /// the socket, so its connections keep the socket for the calls).
    fn open_with(
        address: &Address,
        key: &[u8],
        tls_cert: Option<&[u8]>,
        mailboxes: bool,
    ) -> Result<Conn> {
        let fd = address::connect(address)?;
        let mut wire = Wire::new(fd, tls_cert)?;
        wire.set_max_message(auth::HANDSHAKE_LIMIT);
        auth::client_handshake(
            &|b| wire.send(b),
            &|d| wire.recv(d),
            key,
            &format!("the manager at {address}"),
        )
        .map_err(|e| {
            let e = reset_is_disconnect(e);
            if e.is_disconnected() {
                Error::disconnected(format!(
                    "the manager at {address} closed the connection during the handshake"
                ))
            } else {
                e
            }
        })?;
        wire.set_max_message(MAX_FRAME);
        let mut conn = Conn {
            wire,
            link: None,
            buf: RefCell::new(Vec::new()),
            reply: RefCell::new(Vec::new()),
        };
        if let (true, Address::Local(_), Wire::Plain(_)) = (mailboxes, address, &conn.wire) {
            conn.link = conn.attach()?;
        }
        Ok(conn)
    }

    /// True once the server has hung up this connection (it shut down or died): the connection can
    /// only fail, and holds a socket, two doorbells and a mailbox mapping until dropped.
    fn hung_up(&self) -> bool {
        crate::sys::socket::peer_hung_up(self.wire.socket())
    }

    /// Offers the server a mailbox block for this connection's calls. `None` when this process
    /// cannot make one or the server declines: the socket then carries the calls.
    fn attach(&self) -> Result<Option<Link>> {
        let Some(chan) = self.wire.plain() else {
            return Ok(None);
        };
        let Ok((link, block)) = Link::offer() else {
            return Ok(None);
        };
        let mut request = Vec::new();
        protocol::encode_request(&mut request, CONTROL, 0, control::ATTACH, &())?;
        let [server_bell, client_bell] = link.bells();
        chan.send_raw(&request, &[block.as_fd(), server_bell, client_bell])
            .map_err(reset_is_disconnect)?;
        let accepted = chan
            .recv_with(None, |frame, _| {
                protocol::decode_reply::<()>(frame.bytes(), control::ATTACH)
            })
            .map_err(reset_is_disconnect);
        match accepted {
            Ok(()) => Ok(Some(link)),
            Err(e) if e.is_disconnected() => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// One call: `method` on object `id` (presenting its capability `cap`) with `args`, returning
    /// its decoded result.
    pub(crate) fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        (id, cap): (u128, u128),
        method: &str,
        args: &A,
    ) -> Result<R> {
        self.call_until((id, cap), method, args, None)
    }

    /// [`call`](Conn::call), giving up with `Timeout` at `deadline`; the connection is then out of
    /// step (a late reply would answer the next call) and must be dropped.
    pub(crate) fn call_until<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        (id, cap): (u128, u128),
        method: &str,
        args: &A,
        deadline: Option<Instant>,
    ) -> Result<R> {
        let mut spare = Vec::new();
        let mut borrowed = self.buf.try_borrow_mut();
        let buf = match &mut borrowed {
            Ok(b) => &mut **b,
            Err(_) => &mut spare,
        };
        protocol::encode_request(buf, id, cap, method, args)?;
        let Some(link) = &self.link else {
            #[cfg(feature = "tls")]
            if let Wire::Tls(tls) = &self.wire {
                tls.send(buf)?;
                return protocol::decode_reply(&tls.recv(deadline)?, method);
            }
            let Some(chan) = self.wire.plain() else {
                return Err(Error::new(
                    crate::ErrorKind::InvalidInput,
                    "a connection that is neither plain nor TLS",
                ));
            };
            chan.send_raw(buf, &[]).map_err(reset_is_disconnect)?;
            return chan
                .recv_with(deadline, |frame, _| {
                    protocol::decode_reply(frame.bytes(), method)
                })
                .map_err(reset_is_disconnect);
        };
        let Some(chan) = self.wire.plain() else {
            return Err(Error::new(
                crate::ErrorKind::InvalidInput,
                "a TLS connection has no mailboxes",
            ));
        };
        let mut spare = Vec::new();
        let mut borrowed = self.reply.try_borrow_mut();
        let reply = match &mut borrowed {
            Ok(b) => &mut **b,
            Err(_) => &mut spare,
        };
        link.send(chan, buf).map_err(reset_is_disconnect)?;
        link.recv(chan, reply, deadline)
            .map_err(reset_is_disconnect)?;
        let res = protocol::decode_reply(reply, method);
        if reply.capacity() > MAX_KEPT_REPLY {
            *reply = Vec::new();
        }
        res
    }
}

/// Largest reply buffer a connection keeps between calls.
const MAX_KEPT_REPLY: usize = 1 << 20;

/// How a connection's frames travel: the runtime's `Channel` on the socket, or TLS.
enum Wire {
    /// Boxed: a channel is ~230 bytes (its buffers' state), a TLS client one pointer.
    Plain(Box<Channel>),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::Client>),
}

impl Wire {
    fn new(fd: std::os::fd::OwnedFd, tls_cert: Option<&[u8]>) -> Result<Wire> {
        match tls_cert {
            None => Ok(Wire::Plain(Box::new(Channel::from_fd(fd)))),
            #[cfg(feature = "tls")]
            Some(cert) => Ok(Wire::Tls(Box::new(super::tls::Client::new(fd, cert)?))),
            #[cfg(not(feature = "tls"))]
            Some(_) => Err(Error::new(
                crate::ErrorKind::InvalidInput,
                "this manager is served with TLS, and this program was built without the `tls` \
                 feature: enable the `tls` feature of multiproc",
            )),
        }
    }

    /// The channel of a plain connection (the one that can carry descriptors and mailboxes).
    fn plain(&self) -> Option<&Channel> {
        match self {
            Wire::Plain(c) => Some(&**c),
            #[cfg(feature = "tls")]
            Wire::Tls(_) => None,
        }
    }

    fn set_max_message(&mut self, limit: usize) {
        match self {
            Wire::Plain(c) => c.set_max_message(limit),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.set_max_message(limit),
        }
    }

    fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Wire::Plain(c) => c.socket(),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.socket(),
        }
    }

    fn send(&self, payload: &[u8]) -> Result<()> {
        match self {
            Wire::Plain(c) => c.send_raw(payload, &[]),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.send(payload),
        }
    }

    fn recv(&self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        match self {
            Wire::Plain(c) => c.recv_raw(deadline).map(|(bytes, _)| bytes),
            #[cfg(feature = "tls")]
            Wire::Tls(t) => t.recv(deadline),
        }
    }
}

/// A server killed with our request unread resets the connection, and one whose machine vanished
/// times out (TCP keepalive): both are disconnects too.
fn reset_is_disconnect(e: Error) -> Error {
    let kind = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(|io| io.kind());
    match kind {
        Some(std::io::ErrorKind::ConnectionReset) => {
            Error::disconnected("the manager's server went away (connection reset)")
        }
        Some(std::io::ErrorKind::TimedOut) => Error::disconnected(
            "the manager's server stopped answering (the connection timed out: its machine or \
             the network is down)",
        ),
        _ => e,
    }
}

thread_local! {
    static CONNS: RefCell<HashMap<u64, Rc<Conn>>> = RefCell::new(HashMap::new());
}

/// Drops this thread's cached connection to the manager `key` (its handle is shutting down).
pub(crate) fn forget(key: u64) {
    let _ = CONNS.try_with(|m| m.borrow_mut().remove(&key));
}

/// Opens a connection for this thread's cache, first dropping cached connections whose manager hung
/// up: a thread that used many managers keeps no descriptors of the ones that are gone.
fn open_cached(m: &RefCell<HashMap<u64, Rc<Conn>>>, ep: &Endpoint) -> Result<Rc<Conn>> {
    m.borrow_mut().retain(|_, c| !c.hung_up());
    let c = Rc::new(Conn::open(
        &ep.address,
        &ep.proxy_key,
        ep.tls_cert.as_deref(),
    )?);
    m.borrow_mut().insert(ep.key, c.clone());
    Ok(c)
}

fn gone() -> Error {
    Error::disconnected("manager proxy used while its thread is exiting")
}

/// A manager object as seen from any process: where the manager is, which object, and the object's
/// capability (the credential the server checks on every call). What every proxy wraps; not a
/// public API.
#[doc(hidden)]
#[derive(Clone, Serialize, Deserialize)]
pub struct ProxyCore {
    #[serde(with = "shared_endpoint")]
    endpoint: Arc<Endpoint>,
    id: u128,
    cap: u128,
}

/// Names the address and the object, never a key or the capability.
impl std::fmt::Debug for ProxyCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCore")
            .field("address", &self.endpoint.address)
            .field("id", &format_args!("{:032x}", self.id))
            .finish()
    }
}

/// Serde for the `Arc` every proxy of one manager shares.
mod shared_endpoint {
    use super::Endpoint;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(ep: &Arc<Endpoint>, s: S) -> Result<S::Ok, S::Error> {
        ep.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Endpoint>, D::Error> {
        Endpoint::deserialize(d).map(Arc::new)
    }
}

impl ProxyCore {
    pub(crate) fn new(endpoint: Arc<Endpoint>, (id, cap): (u128, u128)) -> ProxyCore {
        ProxyCore { endpoint, id, cap }
    }

    /// The object's id and capability.
    pub(crate) fn object(&self) -> (u128, u128) {
        (self.id, self.cap)
    }

    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    /// Calls `method` on the object with `args` (a tuple) and decodes the result as `R`.
    pub fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R> {
        let key = self.endpoint.key;
        let cached = CONNS
            .try_with(|m| m.borrow().get(&key).cloned())
            .map_err(|_| gone())?;
        let conn = match cached {
            Some(c) => c,
            None => CONNS
                .try_with(|m| open_cached(m, &self.endpoint))
                .map_err(|_| gone())??,
        };
        let res = conn.call((self.id, self.cap), method, args);
        if let Err(e) = &res {
            if e.is_disconnected() || matches!(e.kind(), crate::ErrorKind::Io) {
                // The connection is unusable; the next call reconnects (or reports the manager gone).
                let _ = CONNS.try_with(|m| m.borrow_mut().remove(&key));
            }
        }
        res
    }
}

/// Connections of async calls, by manager key: a call takes one for its whole round trip (so calls
/// interleaved on one thread never share one), and gives it back when the reply is in.
#[cfg(feature = "async")]
static ASYNC_CHANNELS: std::sync::Mutex<Vec<(u64, Channel)>> = std::sync::Mutex::new(Vec::new());

#[cfg(feature = "async")]
impl ProxyCore {
    /// [`call`](ProxyCore::call) for async code: the request goes out at once, and the reply is
    /// awaited on the connection's socket without a thread (the [`aio`](crate::aio) waker). A call
    /// dropped before its reply drops its connection: the server stops a blocking method when its
    /// caller hangs up, but a queue item it had already taken is lost with the reply.
    pub(crate) async fn call_async<A: Serialize + ?Sized + Sync, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R> {
        let ep = &self.endpoint;
        if ep.tls_cert.is_some() {
            return Err(Error::new(
                crate::ErrorKind::InvalidInput,
                "async proxy calls are not available for a manager served with TLS: use the blocking call",
            ));
        }
        let key = ep.key;
        let taken = {
            let mut pool = crate::poison::lock(&ASYNC_CHANNELS);
            // A server that went away since: its connections can only fail.
            pool.retain(|(_, c)| !crate::sys::socket::peer_hung_up(c.socket()));
            pool.iter()
                .position(|(k, _)| *k == key)
                .map(|i| pool.swap_remove(i).1)
        };
        let chan = match taken {
            Some(c) => c,
            None => {
                let conn = Conn::open_with(&ep.address, &ep.proxy_key, None, false)?;
                match conn.wire {
                    Wire::Plain(c) => *c,
                    #[cfg(feature = "tls")]
                    Wire::Tls(_) => unreachable!("opened without TLS"),
                }
            }
        };
        let mut request = Vec::new();
        protocol::encode_request(&mut request, self.id, self.cap, method, args)?;
        chan.send_raw(&request, &[]).map_err(reset_is_disconnect)?;
        loop {
            if chan.poll(std::time::Duration::ZERO)? {
                break;
            }
            crate::aio::readable(chan.socket())
                .map_err(|e| Error::io("could not watch the manager connection", e))?
                .await;
        }
        let res = chan
            .recv_with(None, |frame, _| {
                protocol::decode_reply(frame.bytes(), method)
            })
            .map_err(reset_is_disconnect);
        let broken = matches!(&res, Err(e) if e.is_disconnected() || matches!(e.kind(), crate::ErrorKind::Io));
        if !broken {
            crate::poison::lock(&ASYNC_CHANNELS).push((key, chan));
        }
        res
    }
}

/// A typed handle to an object held by a [`Manager`](super::Manager). Every proxy is `Clone` and a
/// valid worker argument: it carries the manager's address, the object's id and its capability (a
/// credential for this object only), never the data nor the authkey.
pub trait Proxy: Clone + Serialize + DeserializeOwned {
    /// The server-side type tag, checked by [`Manager::lookup`](super::Manager::lookup).
    #[doc(hidden)]
    fn tag() -> String;
    /// Wraps a core.
    #[doc(hidden)]
    fn from_core(core: ProxyCore) -> Self;
    /// The core.
    #[doc(hidden)]
    fn core(&self) -> &ProxyCore;
}
