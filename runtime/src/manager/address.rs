//! Where a manager listens: a Linux abstract-namespace Unix socket for a local manager (no file to clean
//! up, gone with the process), or a TCP address for a remote one. Binding, connecting and accepting
//! all give plain descriptors that the framed [`Channel`](crate::ipc::channel::Channel) runs over.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Where a manager's server or a [`connection::Listener`](crate::connection::Listener) listens.
/// Python: `manager.address`, `Listener.address`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let mgr = multiproc::Manager::serve("127.0.0.1:0", b"secret-key-of-16+-bytes")?;
/// println!("serving on {}", mgr.address());    // tcp://127.0.0.1:PORT
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Address {
    /// A Linux abstract-namespace Unix socket (local managers).
    Local(String),
    /// A TCP address (remote managers). Cannot pass handles.
    Tcp(SocketAddr),
    /// A Unix socket at a filesystem path (Python's `AF_UNIX` with a path). The listener removes the
    /// file when dropped.
    Path(std::path::PathBuf),
}

impl Address {
    /// A fresh abstract-namespace name nobody else uses (Python: `Listener()` without an address).
    pub fn unique_local() -> crate::Result<Address> {
        let nonce = super::auth::random_u64()?;
        Ok(Address::Local(format!(
            "multiproc-listener-{}-{nonce:016x}",
            crate::sys::process::getpid()
        )))
    }

    /// The first TCP address `addr` resolves to (`"127.0.0.1:0"` picks a free port when bound).
    pub fn tcp(addr: impl ToSocketAddrs) -> crate::Result<Address> {
        Ok(Address::Tcp(resolve(addr)?))
    }

    /// True for TCP, which cannot pass handles.
    pub fn is_tcp(&self) -> bool {
        matches!(self, Address::Tcp(_))
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Address {
        Address::Tcp(a)
    }
}

impl From<&std::path::Path> for Address {
    fn from(p: &std::path::Path) -> Address {
        Address::Path(p.to_path_buf())
    }
}

impl From<std::path::PathBuf> for Address {
    fn from(p: std::path::PathBuf) -> Address {
        Address::Path(p)
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Local(name) => write!(f, "unix:@{name}"),
            Address::Tcp(addr) => write!(f, "tcp://{addr}"),
            Address::Path(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A bound, listening socket and the address it got.
pub(crate) struct Bound {
    pub listener: OwnedFd,
    pub address: Address,
}

/// Binds a fresh abstract Unix socket with an unguessable name.
pub(crate) fn bind_local(nonce: u64) -> Result<Bound> {
    let name = format!(
        "multiproc-manager-{}-{nonce:016x}",
        crate::sys::process::getpid()
    );
    let addr = UnixAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| Error::io("invalid abstract socket name", e))?;
    let listener = UnixListener::bind_addr(&addr)
        .map_err(|e| Error::io("could not bind the manager's local socket", e))?;
    Ok(Bound {
        listener: listener.into(),
        address: Address::Local(name),
    })
}

/// Binds a TCP listener (`"127.0.0.1:0"` picks a free port). A listener on every interface
/// (`0.0.0.0`, `[::]`) is known by an address other hosts can reach (see [`reachable`]): it is the
/// address its proxies carry to the processes they are sent to, maybe on other hosts.
pub(crate) fn bind_tcp(addr: impl ToSocketAddrs) -> Result<Bound> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::io("could not bind the manager's address", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("could not read the bound address", e))?;
    Ok(Bound {
        listener: listener.into(),
        address: Address::Tcp(reachable(local)),
    })
}

/// `local` itself, unless its IP is unspecified (a listener on every interface): then this host's
/// address as other hosts know it: its host name's first non-loopback address of the same family,
/// else the address the host would send from (a UDP socket "connected" to a documentation address: no
/// packet is sent), else loopback.
pub(crate) fn reachable(local: SocketAddr) -> SocketAddr {
    if !local.ip().is_unspecified() {
        return local;
    }
    let port = local.port();
    let same_family = |a: &SocketAddr| a.is_ipv4() == local.is_ipv4();
    let by_name = (crate::sys::identity::hostname().as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.find(|a| same_family(a) && !a.ip().is_loopback()));
    if let Some(a) = by_name {
        return a;
    }
    let probe: SocketAddr = if local.is_ipv4() {
        ([192, 0, 2, 1], 9).into()
    } else {
        (std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 9).into()
    };
    let routed = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0))
        .and_then(|s| s.connect(probe).and_then(|()| s.local_addr()))
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    match routed {
        Some(a) => SocketAddr::new(a.ip(), port),
        None if local.is_ipv4() => ([127, 0, 0, 1], port).into(),
        None => (std::net::Ipv6Addr::LOCALHOST, port).into(),
    }
}

/// The first address `addr` resolves to.
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> Result<SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::io("could not resolve the manager's address", e))?
        .next()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "the manager's address resolved to nothing",
            )
        })
}

/// Binds `address` as given (a `Local` name, a path, or TCP), for a
/// [`connection::Listener`](crate::connection::Listener).
pub(crate) fn bind(address: &Address) -> Result<Bound> {
    let taken = |e: std::io::Error| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (it is in use: another listener has it, or a stale socket file is left at that path)"
        } else {
            ""
        };
        Error::io(format!("could not bind {address}{hint}"), e)
    };
    match address {
        Address::Local(name) => {
            let addr = UnixAddr::from_abstract_name(name.as_bytes())
                .map_err(|e| Error::io("invalid abstract socket name", e))?;
            let listener = UnixListener::bind_addr(&addr).map_err(taken)?;
            Ok(Bound {
                listener: listener.into(),
                address: address.clone(),
            })
        }
        Address::Path(p) => {
            let listener = UnixListener::bind(p).map_err(taken)?;
            Ok(Bound {
                listener: listener.into(),
                address: address.clone(),
            })
        }
        Address::Tcp(a) => {
            let listener = TcpListener::bind(a).map_err(taken)?;
            let local = listener
                .local_addr()
                .map_err(|e| Error::io("could not read the bound address", e))?;
            Ok(Bound {
                listener: listener.into(),
                address: Address::Tcp(local),
            })
        }
    }
}

/// Connects to a manager; a server that is gone gives `Disconnected`.
pub(crate) fn connect(address: &Address) -> Result<OwnedFd> {
    connect_to(address, "the manager")
}

/// Connects to `what` at `address`; nothing listening there gives `Disconnected`.
pub(crate) fn connect_to(address: &Address, what: &str) -> Result<OwnedFd> {
    let res = match address {
        Address::Path(p) => UnixStream::connect(p).map(OwnedFd::from),
        Address::Local(name) => UnixAddr::from_abstract_name(name.as_bytes())
            .and_then(|a| UnixStream::connect_addr(&a))
            .map(OwnedFd::from),
        Address::Tcp(addr) => TcpStream::connect(addr).and_then(|s| {
            s.set_nodelay(true)?;
            keepalive(&s);
            Ok(OwnedFd::from(s))
        }),
    };
    res.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
            Error::disconnected(format!(
                "{what} at {address} is not running (connection refused)"
            ))
        }
        _ => Error::io(format!("could not connect to {what} at {address}"), e),
    })
}

/// Accepts one connection on a listener of either kind, with the peer's IP address for TCP. The
/// connection is a blocking socket whatever the listener's mode.
pub(crate) fn accept(listener: &Listener) -> std::io::Result<(OwnedFd, Option<IpAddr>)> {
    match listener {
        Listener::Local(l) => l.accept().map(|(s, _)| (s.into(), None)),
        Listener::Tcp(l) => l.accept().map(|(s, peer)| {
            let _ = s.set_nodelay(true);
            keepalive(&s);
            (s.into(), Some(peer.ip()))
        }),
    }
}

/// Accepts one connection on a non-blocking listener, waiting until `deadline` (forever for
/// `None`): `Ok(None)` when it passes first. Interrupted waits resume.
pub(crate) fn accept_until(
    listener: &Listener,
    address: &Address,
    deadline: Option<Instant>,
) -> Result<Option<OwnedFd>> {
    loop {
        match accept(listener) {
            Ok((fd, _peer)) => return Ok(Some(fd)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                return Err(Error::io(
                    format!("accepting a connection on {address} failed"),
                    e,
                ));
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        let mut pfd = [crate::sys::net::readable(listener.as_fd())];
        crate::sys::net::poll(&mut pfd, crate::sys::poll_timeout_ms(deadline))
            .map_err(|e| Error::io("poll failed", e))?;
    }
}

/// Removes the socket file of a listener bound to a path (Python's `Listener.close`); nothing for
/// the other families.
pub(crate) fn remove_socket_file(address: &Address) {
    if let Address::Path(p) = address {
        let _ = std::fs::remove_file(p);
    }
}

/// A TCP peer whose machine vanishes never closes its end: probe an idle connection after 10 s,
/// every 5 s, and give up after 3 unanswered probes (or data unacknowledged for 25 s), so that a
/// blocked call or a server thread fails instead of waiting forever. Best effort: a kernel without
/// these options still connects.
fn keepalive(s: &TcpStream) {
    let _ = crate::sys::keepalive::enable(
        s.as_fd(),
        Duration::from_secs(10),
        Duration::from_secs(5),
        3,
    );
}

/// A listening socket in the server process.
pub(crate) enum Listener {
    Local(UnixListener),
    Tcp(TcpListener),
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Local(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }
}

impl Listener {
    /// Makes `accept` return `WouldBlock` instead of waiting.
    pub(crate) fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            Listener::Local(l) => l.set_nonblocking(true),
            Listener::Tcp(l) => l.set_nonblocking(true),
        }
    }

    pub(crate) fn new(fd: OwnedFd, address: &Address) -> Listener {
        match address {
            Address::Local(_) | Address::Path(_) => Listener::Local(UnixListener::from(fd)),
            Address::Tcp(_) => Listener::Tcp(TcpListener::from(fd)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_interface_hands_out_an_address_that_connects() {
        let bound = bind_tcp("0.0.0.0:0").unwrap();
        let Address::Tcp(addr) = &bound.address else {
            panic!("not TCP: {:?}", bound.address)
        };
        assert!(!addr.ip().is_unspecified(), "{addr}");
        assert_ne!(addr.port(), 0);
        std::net::TcpStream::connect_timeout(addr, std::time::Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        // A specific address is kept as it is.
        let lo = bind_tcp("127.0.0.1:0").unwrap();
        assert!(matches!(lo.address, Address::Tcp(a) if a.ip().is_loopback()));
    }
}
