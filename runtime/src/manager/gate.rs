//! The handshake gate: one thread accepts every connection and runs the authkey handshake of all the
//! unauthenticated ones at once, over non-blocking calls, before a connection gets a thread of its
//! own. A peer that does not know the key holds no thread and only a bounded number of descriptors,
//! and never for long:
//!
//! - a handshake has a short deadline ([`TCP_DEADLINE`] over TCP, [`LOCAL_DEADLINE`] on a local
//!   socket, where the peer is a process of this machine that may be slow to start);
//! - one TCP peer address holds at most [`MAX_PER_PEER`] pending handshakes, and all peers together
//!   [`MAX_PENDING`]. Over either cap the *oldest* pending handshake is dropped, never the new
//!   connection: flooding the server with idle connections only evicts the flooder's own, and a
//!   client that answers the challenge at once (one round trip) gets through.
//! - a local socket over the cap is not accepted until a place frees (the connection waits in the
//!   kernel's backlog): a burst of local workers must not fail, and only this machine can connect.
//!
//! The gate reads exactly the answer frame, never past it, so the authenticated connection's first
//! request is left in the socket for the thread that serves it. With TLS (the `tls` feature) the
//! gate runs the TLS handshake the same way, then the authkey handshake inside it, and hands the
//! TLS state on with the socket.

use super::address::{self, Listener};
use super::auth::{self, Keys, Level};
use crate::sys;
use crate::sys::net;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// A server TLS configuration (with the `tls` feature; without it there is none).
#[cfg(feature = "tls")]
pub(crate) type TlsConfig = std::sync::Arc<rustls::ServerConfig>;
/// The server side of a TLS connection.
#[cfg(feature = "tls")]
pub(crate) type TlsConn = Box<rustls::ServerConnection>;
#[cfg(not(feature = "tls"))]
pub(crate) enum TlsConfig {}
#[cfg(not(feature = "tls"))]
pub(crate) enum TlsConn {}

/// How long a TCP peer has to complete the handshake after it connects.
pub(crate) const TCP_DEADLINE: Duration = Duration::from_secs(2);
/// How long a local peer has (a process just started on a loaded machine may be slow to answer).
pub(crate) const LOCAL_DEADLINE: Duration = Duration::from_secs(10);
/// Most handshakes pending from one TCP peer address.
pub(crate) const MAX_PER_PEER: usize = 16;
/// Most handshakes pending in all.
pub(crate) const MAX_PENDING: usize = 256;
/// Most connections accepted per wake-up, so that pending handshakes progress under a flood.
const ACCEPT_BATCH: usize = 64;

/// A frame's header: payload length and descriptor count, little endian (see `ipc::channel`).
const HEADER: usize = 8;
/// The client's answer, framed.
const ANSWER_FRAME: usize = HEADER + auth::ANSWER_LEN;

/// One connection in the handshake.
struct Pending {
    fd: OwnedFd,
    peer: Option<IpAddr>,
    deadline: Instant,
    /// Arrival order: the smallest is evicted first.
    seq: u64,
    challenge: Vec<u8>,
    /// The answer frame as received so far.
    got: Vec<u8>,
    tls: Option<TlsConn>,
}

/// What reading from a pending connection led to.
enum Step {
    Wait,
    Drop,
    Done(Level),
}

/// Starts TLS on a new connection (queues the server's first flight).
#[cfg(feature = "tls")]
fn start_tls(config: &TlsConfig) -> Option<TlsConn> {
    rustls::ServerConnection::new(config.clone())
        .ok()
        .map(Box::new)
}
#[cfg(not(feature = "tls"))]
fn start_tls(config: &TlsConfig) -> Option<TlsConn> {
    match *config {}
}

/// Sends one handshake frame, in clear or through TLS; false unless all of it went out at once (a
/// handshake frame always fits an empty socket buffer: a peer whose buffer is full is not a
/// client).
fn send_frame(fd: &OwnedFd, tls: Option<&mut TlsConn>, payload: &[u8]) -> bool {
    let mut frame = Vec::with_capacity(HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(payload);
    match tls {
        None => net::send_now(fd.as_fd(), &frame).is_ok_and(|n| n == frame.len()),
        #[cfg(feature = "tls")]
        Some(conn) => {
            use std::io::Write;
            conn.writer().write_all(&frame).is_ok() && super::tls::flush(conn, fd)
        }
        #[cfg(not(feature = "tls"))]
        Some(conn) => match *conn {},
    }
}

/// Receives what has arrived of the handshake's plaintext, up to `buf.len()` bytes: 0 when the peer
/// closed, `WouldBlock` when nothing is there yet. Through TLS this first feeds the TLS state what
/// the socket holds, and sends what it answers.
fn recv(fd: &OwnedFd, tls: Option<&mut TlsConn>, buf: &mut [u8]) -> std::io::Result<usize> {
    match tls {
        None => net::recv_now(fd.as_fd(), buf),
        #[cfg(feature = "tls")]
        Some(conn) => {
            use std::io::Read;
            loop {
                match conn.read_tls(&mut super::tls::NonBlocking(fd.as_fd())) {
                    Ok(0) => return Ok(0),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
                if let Err(e) = conn.process_new_packets() {
                    // Tell the peer why (an alert), then give up on it.
                    super::tls::flush(conn, fd);
                    return Err(std::io::Error::new(ErrorKind::InvalidData, e));
                }
            }
            if !super::tls::flush(conn, fd) {
                return Err(ErrorKind::WriteZero.into());
            }
            conn.reader().read(buf)
        }
        #[cfg(not(feature = "tls"))]
        Some(conn) => match *conn {},
    }
}

/// Accepts and authenticates connections on `listener` for ever, handing each authenticated one
/// (a blocking socket, its next byte the client's first request) to `admit` with what the client
/// proved it knows.
pub(crate) fn run(
    listener: &Listener,
    keys: &Keys,
    tls: Option<&TlsConfig>,
    mut admit: impl FnMut(OwnedFd, Level, Option<TlsConn>),
) {
    let mut gate = Gate::new(listener);
    loop {
        if let Some((fd, level, tls)) = gate.next(listener, keys, tls, None) {
            admit(fd, level, tls);
        }
    }
}

/// An authenticated connection: its socket, what the client proved, its TLS state.
pub(crate) type Admitted = (OwnedFd, Level, Option<TlsConn>);

/// The gate's state between calls: the handshakes in progress, and connections that passed but
/// were not handed out yet.
pub(crate) struct Gate {
    local: bool,
    nonblocking: bool,
    pending: Vec<Pending>,
    admitted: std::collections::VecDeque<Admitted>,
    pfds: Vec<net::PollFd>,
    seq: u64,
}

impl Gate {
    /// A gate for `listener` (made non-blocking here).
    pub(crate) fn new(listener: &Listener) -> Gate {
        // Without a non-blocking listener the gate could block in accept with handshakes pending:
        // then it serves one connection at a time, which still works.
        let nonblocking = listener.set_nonblocking().is_ok();
        Gate {
            local: matches!(listener, Listener::Local(_)),
            nonblocking,
            pending: Vec::new(),
            admitted: std::collections::VecDeque::new(),
            pfds: Vec::new(),
            seq: 0,
        }
    }

    /// The next authenticated connection, running every pending handshake meanwhile; `None` once
    /// `deadline` passes (never for `None`). Handshakes still pending then carry on at the next call.
    pub(crate) fn next(
        &mut self,
        listener: &Listener,
        keys: &Keys,
        tls: Option<&TlsConfig>,
        deadline: Option<Instant>,
    ) -> Option<Admitted> {
        let window = if self.local {
            LOCAL_DEADLINE
        } else {
            TCP_DEADLINE
        };
        loop {
            if let Some(a) = self.admitted.pop_front() {
                return Some(a);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let local = self.local;
            let pending = &mut self.pending;
            let pfds = &mut self.pfds;
            let listening = !(local && pending.len() >= MAX_PENDING);
            pfds.clear();
            if listening {
                pfds.push(net::readable(listener.as_fd()));
            }
            pfds.extend(pending.iter().map(|p| net::readable(p.fd.as_fd())));
            let soonest = pending.iter().map(|p| p.deadline).chain(deadline).min();
            if net::poll(pfds, sys::poll_timeout_ms(soonest)).is_err() {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let first = usize::from(listening);
            // Backwards, so that `swap_remove` only moves entries already looked at.
            for i in (0..pending.len()).rev() {
                if pfds[first + i].revents == 0 {
                    continue;
                }
                match step(&mut pending[i], keys) {
                    Step::Wait => {}
                    Step::Drop => drop(pending.swap_remove(i)),
                    Step::Done(level) => {
                        let p = pending.swap_remove(i);
                        self.admitted.push_back((p.fd, level, p.tls));
                    }
                }
            }
            let now = Instant::now();
            pending.retain(|p| p.deadline > now);
            if !(listening && pfds[0].revents != 0) {
                continue;
            }
            for _ in 0..ACCEPT_BATCH {
                if local && pending.len() >= MAX_PENDING {
                    break;
                }
                let (fd, peer) = match address::accept(listener) {
                    Ok(c) => c,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    // Out of descriptors or memory: back off briefly instead of spinning.
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    }
                };
                make_room(pending, peer);
                // No randomness or a full socket buffer: the connection is closed.
                let Ok(challenge) = auth::challenge() else {
                    continue;
                };
                let mut conn = match tls {
                    Some(config) => match start_tls(config) {
                        Some(c) => Some(c),
                        None => continue,
                    },
                    None => None,
                };
                // Through TLS the challenge waits in the TLS state until the TLS handshake is done.
                if !send_frame(&fd, conn.as_mut(), &challenge) {
                    continue;
                }
                self.seq += 1;
                pending.push(Pending {
                    fd,
                    peer,
                    deadline: Instant::now() + window,
                    seq: self.seq,
                    challenge,
                    got: Vec::with_capacity(ANSWER_FRAME),
                    tls: conn,
                });
                if !self.nonblocking {
                    break;
                }
            }
        }
    }
}

/// Evicts the oldest pending handshake of `peer` if it has its share, then the oldest of all if the
/// gate is full.
fn make_room(pending: &mut Vec<Pending>, peer: Option<IpAddr>) {
    if let Some(ip) = peer {
        let same = pending.iter().filter(|p| p.peer == Some(ip)).count();
        if same >= MAX_PER_PEER {
            evict_oldest(pending, |p| p.peer == Some(ip));
        }
    }
    if pending.len() >= MAX_PENDING {
        evict_oldest(pending, |_| true);
    }
}

fn evict_oldest(pending: &mut Vec<Pending>, which: impl Fn(&Pending) -> bool) {
    let oldest = pending
        .iter()
        .enumerate()
        .filter(|(_, p)| which(p))
        .min_by_key(|(_, p)| p.seq)
        .map(|(i, _)| i);
    if let Some(i) = oldest {
        pending.swap_remove(i);
    }
}

/// Reads what has arrived of the answer, and checks it once complete.
fn step(p: &mut Pending, keys: &Keys) -> Step {
    let mut buf = [0u8; ANSWER_FRAME];
    // Until the answer is complete or nothing more is there: through TLS, what is left in the TLS
    // state after one read would get no wake-up from the socket.
    while p.got.len() < ANSWER_FRAME {
        let want = ANSWER_FRAME - p.got.len();
        match recv(&p.fd, p.tls.as_mut(), &mut buf[..want]) {
            Ok(0) => return Step::Drop,
            Ok(n) => p.got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return Step::Drop,
        }
    }
    if p.got.len() >= HEADER {
        let len = u32::from_le_bytes([p.got[0], p.got[1], p.got[2], p.got[3]]) as usize;
        let nfds = u32::from_le_bytes([p.got[4], p.got[5], p.got[6], p.got[7]]);
        if len != auth::ANSWER_LEN || nfds != 0 {
            return Step::Drop;
        }
    }
    if p.got.len() < ANSWER_FRAME {
        return Step::Wait;
    }
    match auth::check_answer(keys, &p.challenge, &p.got[HEADER..]) {
        Some((level, welcome)) if send_frame(&p.fd, p.tls.as_mut(), &welcome) => Step::Done(level),
        Some(_) => Step::Drop,
        None => {
            // Best effort: the client learns the key was wrong rather than seeing a hang-up.
            send_frame(&p.fd, p.tls.as_mut(), auth::FAILURE);
            Step::Drop
        }
    }
}
