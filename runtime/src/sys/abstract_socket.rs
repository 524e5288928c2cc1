//! Unix sockets in Linux's abstract namespace: a name that exists exactly as long as the listening
//! socket is open, so it vanishes with its process even on `SIGKILL` and never leaves a file behind.
//! Named shared-memory blocks are found through them.

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType, sockopt};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// The longest name that fits: `sun_path` (108 bytes) less the leading 0 of the abstract namespace.
const MAX_NAME: usize = 107;

fn address(name: &str) -> io::Result<SocketAddrUnix> {
    let bytes = name.as_bytes();
    if bytes.len() > MAX_NAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("name is {} bytes long; at most {MAX_NAME} fit", bytes.len()),
        ));
    }
    Ok(SocketAddrUnix::new_abstract_name(bytes)?)
}

fn seqpacket(extra_flags: SocketFlags) -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | extra_flags,
        None,
    )?)
}

/// A non-blocking listening socket bound to `name`; `AddrInUse` if the name is taken.
pub(crate) fn listen(name: &str) -> io::Result<OwnedFd> {
    let addr = address(name)?;
    let fd = seqpacket(SocketFlags::NONBLOCK)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, 64)?;
    Ok(fd)
}

/// Connects to the socket listening on `name` before `deadline`: `ConnectionRefused` if there is
/// none, `TimedOut` if the listener's backlog stays full (its process stopped or wedged) until then.
/// A signal does not cut the wait short.
pub(crate) fn connect_until(name: &str, deadline: Instant) -> io::Result<OwnedFd> {
    let addr = address(name)?;
    let fd = seqpacket(SocketFlags::empty())?;
    loop {
        // A blocking connect on a Unix socket waits for room in the backlog for at most SO_SNDTIMEO
        // (then EAGAIN); zero would mean forever, so a passed deadline stops here.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let left = left
            .min(Duration::from_secs(i32::MAX as u64))
            .max(Duration::from_micros(1));
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(left))?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => return Ok(fd),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(io::ErrorKind::TimedOut.into()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until `sock` is readable (or hung up) before `deadline`; `false` when the deadline passed.
/// A signal does not cut the wait short.
pub(crate) fn readable_until(sock: BorrowedFd<'_>, deadline: Instant) -> io::Result<bool> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        // Round up, so that a wait never returns just before the deadline and spins. An interrupted
        // poll reads as "not yet" and goes round again.
        if super::socket::readable_within(sock, super::poll_timeout_ms(Some(deadline)))? {
            return Ok(true);
        }
    }
}

/// Accepts the next connection (`WouldBlock` when none waits on a non-blocking listener).
pub(crate) fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    loop {
        match rustix::net::accept_with(listener, SocketFlags::CLOEXEC) {
            Err(Errno::INTR) => {}
            other => return Ok(other?),
        }
    }
}

/// The user id of the process at the other end of a connected socket.
pub(crate) fn peer_uid(sock: BorrowedFd<'_>) -> io::Result<u32> {
    Ok(sockopt::socket_peercred(sock)?.uid.as_raw())
}

/// This process's effective user id (what the kernel records for its sockets in `SO_PEERCRED`).
pub(crate) fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// An epoll instance watching listening sockets for incoming connections.
pub(crate) struct Epoll(OwnedFd);

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        Ok(Epoll(epoll::create(epoll::CreateFlags::CLOEXEC)?))
    }

    /// Watches `fd`; its events report its descriptor number.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let data = epoll::EventData::new_u64(fd.as_raw_fd() as u64);
        Ok(epoll::add(&self.0, fd, data, epoll::EventFlags::IN)?)
    }

    /// Stops watching `fd`.
    pub(crate) fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(epoll::delete(&self.0, fd)?)
    }

    /// Blocks until some watched descriptors are ready; returns their numbers.
    pub(crate) fn wait(&self, ready: &mut Vec<i32>) -> io::Result<()> {
        let mut events = [MaybeUninit::<epoll::Event>::uninit(); 32];
        let got = loop {
            match epoll::wait(&self.0, &mut events[..], None) {
                Ok((got, _)) => break got,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        ready.clear();
        ready.extend(got.iter().map(|e| e.data.u64() as i32));
        Ok(())
    }
}
