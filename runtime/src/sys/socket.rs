//! Unix stream sockets with descriptors passed beside the bytes (`SCM_RIGHTS`).

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags,
    SocketType,
};
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one `sendmsg` may carry (the kernel's `SCM_MAX_FD`).
pub(crate) const MAX_FDS_PER_MSG: usize = 253;

/// Control-message buffer for [`recv_into`]: `CMSG_SPACE(253 * 4)` = 1032 bytes, rounded up to whole `u64`s for alignment.
type CmsgBuf = [u64; 130];

/// A connected pair of `AF_UNIX` stream sockets, both close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    for end in [&a, &b] {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(end, SEND_BUFFER);
    }
    Ok((a, b))
}

/// Bytes a pipe end may have in flight (the kernel caps it at `net.core.wmem_max`; its default is
/// 208 KiB): a 1 MiB message goes in one or two writes instead of five or six, each a wake-up of
/// the reader and of the writer. Memory is charged only while data is in flight.
const SEND_BUFFER: usize = 1 << 20;

/// Sends the concatenation of `parts` (may be partial, like `writev`), with `fds` attached to the first
/// byte. Never raises `SIGPIPE`. Returns the number of bytes sent.
pub(crate) fn send_parts(
    sock: BorrowedFd<'_>,
    parts: &[&[u8]],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    let empty = IoSlice::new(&[]);
    let mut iov = [empty, empty];
    let n = parts.len().min(2);
    for (slot, part) in iov.iter_mut().zip(parts) {
        *slot = IoSlice::new(part);
    }
    if fds.len() > MAX_FDS_PER_MSG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors in one message",
        ));
    }
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS_PER_MSG))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many descriptors in one message",
        ));
    }
    let flags = SendFlags::NOSIGNAL;
    loop {
        match rustix::net::sendmsg(sock, &iov[..n], &mut control, flags) {
            Ok(sent) => return Ok(sent),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// What one `recvmsg` got.
pub(crate) struct Received {
    /// Bytes read; 0 at end of stream.
    pub bytes: usize,
    /// The kernel dropped descriptors (`MSG_CTRUNC`: the receiver is out of descriptors, say). The
    /// bytes were still consumed from the stream.
    pub fds_lost: bool,
}

/// Receives up to `buf.len()` bytes; descriptors that arrive are appended to `fds` (close-on-exec).
pub(crate) fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut impl Extend<OwnedFd>,
) -> io::Result<Received> {
    // SAFETY: `buf` is valid for writes of its length for the whole call.
    unsafe { recv_into(sock, buf.as_mut_ptr(), buf.len(), fds) }
}

/// Like [`recv_with_fds`], appending up to `max` bytes to `buf` straight into its spare capacity, with
/// no zero-filling first (large messages are read this way).
pub(crate) fn recv_append(
    sock: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
    fds: &mut impl Extend<OwnedFd>,
) -> io::Result<Received> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    // SAFETY: the spare capacity holds at least `max` bytes (reserved above) and stays valid for writes
    // during the call; the kernel only writes into it.
    let got = unsafe { recv_into(sock, spare.as_mut_ptr().cast(), max, fds) }?;
    // SAFETY: the kernel initialised exactly `got.bytes` bytes right after the current length.
    unsafe { buf.set_len(buf.len() + got.bytes) };
    Ok(got)
}

/// `recvmsg` into `len` bytes at `ptr`, collecting passed descriptors.
///
/// Hand-written rather than `rustix::net::recvmsg`: that one takes `IoSliceMut`s over initialised
/// bytes, and [`recv_append`] reads large frames (megabytes) into a vector's spare capacity, which would
/// then have to be zero-filled first on every message.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
unsafe fn recv_into(
    sock: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    fds: &mut impl Extend<OwnedFd>,
) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    let mut cbuf: CmsgBuf = [0; 130];
    // SAFETY: plain data, pointers set to live local buffers below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = loop {
        // SAFETY: `msg` describes valid, writable buffers for the duration of the call.
        let rc = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if rc >= 0 {
            break rc as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    if msg.msg_controllen > 0 {
        // SAFETY: the kernel filled msg_control with well-formed cmsg headers; we walk them with the
        // CMSG macros and read each SCM_RIGHTS payload as descriptors it transferred to us.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let payload = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                    let count = payload / std::mem::size_of::<RawFd>();
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    fds.extend(
                        (0..count).map(|i| OwnedFd::from_raw_fd(data.add(i).read_unaligned())),
                    );
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    Ok(Received {
        bytes: n,
        fds_lost: msg.msg_flags & libc::MSG_CTRUNC != 0,
    })
}

/// `poll(2)`: returns how many of `fds` have events (their `revents` filled in); 0 on timeout or when
/// a signal interrupted the wait, so that callers loop against their own deadline (retrying with the
/// same timeout would let frequent signals postpone it forever). `timeout_ms` < 0: no timeout.
pub(crate) fn poll_fds(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of pollfd for its length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        Ok(0)
    } else {
        Err(err)
    }
}

fn pollfd(fd: BorrowedFd<'_>, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Waits until `fd` has one of `events` (or an error/hang-up) and returns the events seen; 0 on
/// timeout or interruption (see [`poll_fds`]).
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout_ms: i32,
) -> io::Result<libc::c_short> {
    let mut pfd = [pollfd(fd, events)];
    poll_fds(&mut pfd, timeout_ms)?;
    Ok(pfd[0].revents)
}

/// Waits up to `timeout_ms` (< 0: forever, 0: just looks) until `fd` is readable (or hung up, or in
/// error: a read will then not block). True once it is.
pub(crate) fn readable_within(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    poll_one(fd, libc::POLLIN, timeout_ms).map(|rev| rev != 0)
}

/// Waits until one of `fds` has `POLLIN` (or an error/hang-up), up to `timeout_ms` (< 0: forever).
/// Returns, for each descriptor in order, whether it is ready (none on timeout or interruption).
pub(crate) fn poll_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout_ms: i32,
) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| pollfd(fd, libc::POLLIN));
    poll_fds(&mut pfds, timeout_ms)?;
    Ok(pfds.map(|p| p.revents != 0))
}

/// [`poll_readable`] for any number of descriptors: for each, whether it is ready (none on timeout
/// or interruption).
pub(crate) fn poll_readable_all(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds.iter().map(|&fd| pollfd(fd, libc::POLLIN)).collect();
    poll_fds(&mut pfds, timeout_ms)?;
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// Reads and discards whatever is buffered on `fd` without blocking (a wake-up socket's bytes).
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    while matches!(rustix::net::recv(fd, &mut buf, RecvFlags::DONTWAIT), Ok((n, _)) if n > 0) {}
}

/// Writes one byte to `fd` without blocking (a wake-up; a full buffer already means "wake up").
pub(crate) fn poke(fd: BorrowedFd<'_>) {
    // Failure (full buffer, closed peer) is harmless here.
    let _ = rustix::net::send(fd, &[1], SendFlags::DONTWAIT | SendFlags::NOSIGNAL);
}

/// What the peer of a connected socket may report: it hung up, or the socket is in error.
const HANGUP: libc::c_short = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;

/// True once the peer of the connected socket `fd` has hung up (or the socket is in error). Never
/// blocks.
pub(crate) fn peer_hung_up(fd: BorrowedFd<'_>) -> bool {
    poll_one(fd, libc::POLLRDHUP, 0).is_ok_and(|rev| rev & HANGUP != 0)
}

/// What [`bell_or_hangup`] saw; both false on timeout or interruption by a signal.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Woken {
    /// The doorbell is readable.
    pub(crate) bell: bool,
    /// The socket's peer hung up, or the socket is in error.
    pub(crate) hung_up: bool,
}

/// Waits until `bell` is readable or the peer of the connected socket `sock` hangs up, for up to
/// `timeout_ms` (< 0: no timeout).
pub(crate) fn bell_or_hangup(
    bell: BorrowedFd<'_>,
    sock: BorrowedFd<'_>,
    timeout_ms: i32,
) -> io::Result<Woken> {
    let mut pfds = [pollfd(bell, libc::POLLIN), pollfd(sock, libc::POLLRDHUP)];
    poll_fds(&mut pfds, timeout_ms)?;
    Ok(Woken {
        bell: pfds[0].revents != 0,
        hung_up: pfds[1].revents & HANGUP != 0,
    })
}
