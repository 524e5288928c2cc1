//! Framed messages over a Unix stream socket, descriptors beside the bytes. Every frame is an 8-byte
//! header (payload length, descriptor count; little endian) and the payload; its descriptors ride on the
//! frame's first `sendmsg`. The receiver reads ahead into a buffer (several small frames per syscall),
//! queues descriptors in arrival order and hands each frame the ones its header counts. Large frames are
//! read straight into their own allocation.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::poison::{lock, try_lock};
use crate::policy::{self, Between};
use crate::sys::socket::{self, MAX_FDS_PER_MSG};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HEADER: usize = 8;
const READ_AHEAD: usize = 64 * 1024;
/// The largest allocation a channel keeps for its next large frame (see `RecvState::spare`).
const SPARE_MAX: usize = 4 << 20;
/// The largest frame (header included) received into the read-ahead buffer of an end that reads
/// frames in place ([`Channel::read_frames_in_place`]).
const IN_PLACE_MAX: usize = 1 << 20;
/// Default largest payload a channel accepts (1 GiB); see
/// [`Connection::set_max_message`](crate::Connection::set_max_message).
pub const DEFAULT_MAX_MESSAGE: usize = 1 << 30;

/// A received frame: borrowed from the read-ahead buffer, owned, or (a large one) in an allocation
/// the channel lends: [`into_vec`](Frame::into_vec) takes it; one only read is dropped, or kept for
/// the next large frame on an end that reads in place ([`Channel::read_frames_in_place`]).
pub(crate) enum Frame<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Lent(&'a mut Vec<u8>),
}

impl Frame<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Frame::Borrowed(b) => b,
            Frame::Owned(v) => v,
            Frame::Lent(v) => v,
        }
    }
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Frame::Borrowed(b) => b.to_vec(),
            Frame::Owned(v) => v,
            Frame::Lent(v) => std::mem::take(v),
        }
    }
}

#[derive(Default)]
struct RecvState {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    fds: VecDeque<OwnedFd>,
    /// Bytes of a rejected (too large) frame still to discard.
    skip: usize,
    /// A large frame being read into its own allocation: (bytes so far, its full length, descriptor count).
    partial: Option<(Vec<u8>, usize, usize)>,
    eof: bool,
    /// Descriptors were lost in transit: frames and descriptors can no longer be matched up.
    broken: bool,
    /// A whole frame received and handed back (it did not fit the caller's buffer): the next receive
    /// gets it first.
    stash: Option<Vec<u8>>,
    /// On an end that reads frames in place ([`Channel::read_frames_in_place`]): the allocation of
    /// the last frame too large for the buffer, if its reader only read it; the next such frame
    /// that fits goes there instead of a fresh allocation faulted in page by page. Other ends (a
    /// manager's connections among them) keep nothing between frames, so a peer cannot make them
    /// hold memory by sending one large frame.
    spare: Vec<u8>,
    /// See [`Channel::read_frames_in_place`].
    in_place: bool,
}

fn too_large(size: usize, limit: usize) -> Error {
    Error::new(
        ErrorKind::MessageTooLarge { size, limit },
        format!(
            "message of {size} bytes exceeds the channel's limit of {limit} bytes; raise the limit \
             (set_max_message) or send the data in parts"
        ),
    )
}

fn broken_error() -> Error {
    Error::new(
        ErrorKind::InvalidHandle,
        "this connection lost file descriptors in transit (is the process out of descriptors? see ulimit -n); \
         it cannot be used any more: open a new pipe",
    )
}

/// One end of a framed, descriptor-carrying byte stream. Sends and receives may happen from different
/// threads at once; two senders never interleave a frame.
pub struct Channel {
    fd: OwnedFd,
    rx: Mutex<RecvState>,
    tx: Mutex<Vec<u8>>,
    max_message: usize,
    /// False over TCP, which cannot carry descriptors: a send with handles fails up front.
    passes_fds: bool,
}

fn no_fd_passing(nfds: usize) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "this message carries {nfds} handle(s) (a pipe end, queue, shared memory, ...), but a TCP \
             connection cannot pass handles: use a Unix-socket address (a path or an abstract name), \
             or send the data itself"
        ),
    )
}

impl Channel {
    /// Wraps a connected stream socket.
    pub(crate) fn from_fd(fd: OwnedFd) -> Channel {
        Channel {
            fd,
            rx: Mutex::default(),
            tx: Mutex::default(),
            max_message: DEFAULT_MAX_MESSAGE,
            passes_fds: true,
        }
    }

    /// Wraps a connected TCP socket: the same frames, but sending handles is refused.
    pub(crate) fn from_tcp(fd: OwnedFd) -> Channel {
        Channel {
            passes_fds: false,
            ..Channel::from_fd(fd)
        }
    }

    /// A connected pair.
    pub(crate) fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
        Ok((Channel::from_fd(a), Channel::from_fd(b)))
    }

    /// The largest payload this end sends or accepts.
    pub(crate) fn set_max_message(&mut self, limit: usize) {
        self.max_message = limit.min(u32::MAX as usize);
    }

    pub(crate) fn max_message(&self) -> usize {
        self.max_message
    }

    /// For an end whose frames are only read where they lie (`Frame::bytes`, never `into_vec`): a
    /// frame of up to [`IN_PLACE_MAX`] bytes is received into the read-ahead buffer, grown to fit it
    /// and kept so, rather than into an allocation of its own (one copy less, and several frames
    /// per system call), and the allocation of a larger one is kept for the next (up to
    /// [`SPARE_MAX`]). A pool's two ends do this: their chunks are a few hundred KiB, and the peer
    /// is this program's own process.
    pub(crate) fn read_frames_in_place(&self) {
        lock(&self.rx).in_place = true;
    }

    pub(crate) fn socket(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn too_large(&self, size: usize) -> Error {
        too_large(size, self.max_message)
    }

    fn write_all(&self, header_and_payload: &[&[u8]], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let total: usize = header_and_payload.iter().map(|p| p.len()).sum();
        let mut sent =
            socket::send_parts(self.fd.as_fd(), header_and_payload, fds).map_err(send_error)?;
        while sent < total {
            let mut parts: Vec<&[u8]> = Vec::with_capacity(2);
            let mut skip = sent;
            for p in header_and_payload {
                if skip >= p.len() {
                    skip -= p.len();
                } else {
                    parts.push(&p[skip..]);
                    skip = 0;
                }
            }
            sent += socket::send_parts(self.fd.as_fd(), &parts, &[]).map_err(send_error)?;
        }
        Ok(())
    }

    /// Checks a frame of `len` bytes and `nfds` descriptors against the limits of a channel accepting
    /// `max_message` bytes, before anything is sent.
    pub(crate) fn check_sendable(len: usize, nfds: usize, max_message: usize) -> Result<()> {
        if len > max_message {
            return Err(too_large(len, max_message));
        }
        if nfds > MAX_FDS_PER_MSG {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a message may carry at most {MAX_FDS_PER_MSG} handles, this one has {nfds}"
                ),
            ));
        }
        Ok(())
    }

    /// Sends `payload` as one frame with `fds` beside it.
    pub(crate) fn send_raw(&self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        Channel::check_sendable(payload.len(), fds.len(), self.max_message)?;
        if !self.passes_fds && !fds.is_empty() {
            return Err(no_fd_passing(fds.len()));
        }
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&(fds.len() as u32).to_le_bytes());
        let _guard = lock(&self.tx);
        self.write_all(&[&header, payload], fds)
    }

    /// Encodes `value` and sends it as one frame.
    pub(crate) fn send_value<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let mut buf = lock(&self.tx);
        buf.clear();
        buf.extend_from_slice(&[0u8; HEADER]);
        let mut fds = Vec::new();
        let res = codec::encode_into(value, &mut buf, &mut fds);
        if let Err(e) = res {
            buf.clear();
            return Err(e);
        }
        let len = buf.len() - HEADER;
        if let Err(e) = Channel::check_sendable(len, fds.len(), self.max_message) {
            buf.clear();
            return Err(e);
        }
        if !self.passes_fds && !fds.is_empty() {
            buf.clear();
            return Err(no_fd_passing(fds.len()));
        }
        buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
        buf[4..HEADER].copy_from_slice(&(fds.len() as u32).to_le_bytes());
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        let res = self.write_all(&[&buf], &borrowed);
        if buf.capacity() > 4 * READ_AHEAD {
            *buf = Vec::new();
        }
        res
    }

    /// Sends several frames without descriptors in one write: one system call for many small frames.
    pub(crate) fn send_frames<'a>(
        &self,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<()> {
        let mut buf = lock(&self.tx);
        buf.clear();
        for p in payloads {
            if let Err(e) = Channel::check_sendable(p.len(), 0, self.max_message) {
                buf.clear();
                return Err(e);
            }
            buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(p);
        }
        let res = self.write_all(&[&buf], &[]);
        buf.clear();
        if buf.capacity() > 4 * READ_AHEAD {
            *buf = Vec::new();
        }
        res
    }

    /// Waits for the next frame (until `deadline`, if any) and hands it, with its descriptors, to `f`.
    pub(crate) fn recv_with<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(Frame<'_>, Vec<OwnedFd>) -> Result<R>,
    ) -> Result<R> {
        self.recv_or_keep(deadline, |frame, fds| f(frame, fds).map_err(|e| (e, None)))
    }

    /// Like [`recv_with`](Self::recv_with), but `f` may hand the frame back (as `Err((error,
    /// Some(bytes)))`): the next receive then gets it first. Its descriptors, if any, are closed.
    pub(crate) fn recv_or_keep<R>(
        &self,
        deadline: Option<Instant>,
        f: impl FnOnce(Frame<'_>, Vec<OwnedFd>) -> std::result::Result<R, (Error, Option<Vec<u8>>)>,
    ) -> Result<R> {
        let mut st = lock(&self.rx);
        let st = &mut *st;
        if let Some(kept) = st.stash.take() {
            return f(Frame::Owned(kept), Vec::new()).map_err(|(e, back)| {
                st.stash = back;
                e
            });
        }
        if st.broken {
            return Err(broken_error());
        }
        if st.buf.len() < READ_AHEAD {
            st.buf.resize(READ_AHEAD, 0);
        }
        while st.skip > 0 {
            let n = (st.end - st.start).min(st.skip);
            st.start += n;
            st.skip -= n;
            if st.skip > 0 {
                self.fill(st, deadline)?;
            }
        }
        let (frame, nfds) = match st.partial.take() {
            Some((owned, total, nfds)) => {
                (self.finish_large(st, owned, total, nfds, deadline)?, nfds)
            }
            None => {
                while st.end - st.start < HEADER {
                    self.fill(st, deadline)?;
                }
                let h = &st.buf[st.start..st.start + HEADER];
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let nfds = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
                if len > self.max_message {
                    st.start += HEADER;
                    st.skip = len;
                    // Descriptors of the rejected frame are closed, not mistaken for the next frame's.
                    let drop_n = nfds.min(st.fds.len());
                    st.fds.drain(..drop_n);
                    return Err(self.too_large(len));
                }
                if st.in_place && len + HEADER > st.buf.len() && len + HEADER <= IN_PLACE_MAX {
                    let want = (len + HEADER).next_power_of_two().min(IN_PLACE_MAX);
                    st.buf.resize(want, 0);
                }
                if len + HEADER <= st.buf.len() {
                    while st.end - st.start < HEADER + len {
                        self.fill(st, deadline)?;
                    }
                    st.start += HEADER;
                    let range = st.start..st.start + len;
                    st.start += len;
                    (FrameRef::Buffered(range), nfds)
                } else {
                    st.start += HEADER;
                    let mut owned = if st.spare.capacity() >= len {
                        std::mem::take(&mut st.spare)
                    } else {
                        Vec::with_capacity(len)
                    };
                    owned.clear();
                    let have = (st.end - st.start).min(len);
                    owned.extend_from_slice(&st.buf[st.start..st.start + have]);
                    st.start += have;
                    (self.finish_large(st, owned, len, nfds, deadline)?, nfds)
                }
            }
        };
        if st.fds.len() < nfds {
            st.broken = true;
            let arrived = st.fds.len();
            st.fds.clear();
            return Err(Error::new(
                ErrorKind::InvalidHandle,
                format!(
                    "message announced {nfds} handles but {arrived} arrived; the connection is unusable now"
                ),
            ));
        }
        let fds: Vec<OwnedFd> = st.fds.drain(..nfds).collect();
        let mut lent = Vec::new();
        let frame = match frame {
            FrameRef::Buffered(range) => Frame::Borrowed(&st.buf[range]),
            FrameRef::Owned(v) => {
                lent = v;
                Frame::Lent(&mut lent)
            }
        };
        let res = f(frame, fds);
        if st.in_place && lent.capacity() > st.spare.capacity() && lent.capacity() <= SPARE_MAX {
            st.spare = lent;
        }
        match res {
            Ok(r) => Ok(r),
            Err((e, back)) => {
                st.stash = back;
                Err(e)
            }
        }
    }

    /// Receives one frame into `out`: its length. A frame longer than `out` stays queued (the next
    /// receive gets it) and gives [`ErrorKind::BufferTooShort`] with its length.
    pub(crate) fn recv_into(&self, out: &mut [u8], deadline: Option<Instant>) -> Result<usize> {
        self.recv_or_keep(deadline, |frame, _fds| {
            let len = frame.bytes().len();
            if len > out.len() {
                let e = Error::new(
                    ErrorKind::BufferTooShort { size: len },
                    format!(
                        "the message has {len} bytes but the buffer only {}; it is still queued: \
                         receive it with a buffer of at least {len} bytes (or recv_bytes)",
                        out.len()
                    ),
                );
                return Err((e, Some(frame.into_vec())));
            }
            out[..len].copy_from_slice(frame.bytes());
            Ok(len)
        })
    }

    /// True when a receive would find something without reading the socket (a frame, or the end
    /// of the stream, already read ahead). A receive in progress on another thread counts as not.
    pub(crate) fn ready_buffered(&self) -> bool {
        try_lock(&self.rx).is_some_and(|st| {
            st.eof
                || st.broken
                || st.stash.is_some()
                || (st.skip == 0 && st.end > st.start)
                || st.partial.is_some()
        })
    }

    /// Receives and decodes one value.
    pub(crate) fn recv_value<T: DeserializeOwned>(&self, deadline: Option<Instant>) -> Result<T> {
        self.recv_with(deadline, |frame, fds| codec::decode(frame.bytes(), fds))
    }

    /// Receives one frame as owned bytes; descriptors that came with it are returned too.
    pub(crate) fn recv_raw(&self, deadline: Option<Instant>) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        self.recv_with(deadline, |frame, fds| Ok((frame.into_vec(), fds)))
    }

    /// True when a frame (or the end of the stream) is ready, waiting up to `timeout`. A frame still
    /// arriving counts as ready once its first bytes are here (receiving it then waits only for the
    /// rest, which the sender is writing). Another thread receiving right now counts as not ready.
    pub(crate) fn poll(&self, timeout: Duration) -> Result<bool> {
        let deadline = crate::sys::deadline_after(timeout);
        loop {
            if self.ready_buffered() {
                return Ok(true);
            }
            let ms = crate::sys::poll_timeout_ms(deadline);
            let readable = socket::readable_within(self.fd.as_fd(), ms)
                .map_err(|e| Error::io("poll failed", e))?;
            if readable && try_lock(&self.rx).is_some() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    fn wait_readable(&self, deadline: Instant) -> Result<()> {
        loop {
            let ms = crate::sys::poll_timeout_ms(Some(deadline));
            let readable = socket::readable_within(self.fd.as_fd(), ms)
                .map_err(|e| Error::io("poll failed", e))?;
            if readable {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "receive timed out: no message arrived in time",
                ));
            }
        }
    }

    /// Reads the rest of a large frame straight into its allocation; on timeout the progress is kept
    /// for the next receive, so nothing is lost.
    fn finish_large(
        &self,
        st: &mut RecvState,
        mut owned: Vec<u8>,
        total: usize,
        nfds: usize,
        deadline: Option<Instant>,
    ) -> Result<FrameRef> {
        while owned.len() < total {
            if let Some(d) = deadline {
                if let Err(e) = self.wait_readable(d) {
                    st.partial = Some((owned, total, nfds));
                    return Err(e);
                }
            }
            let want = total - owned.len();
            let got = socket::recv_append(self.fd.as_fd(), &mut owned, want, &mut st.fds);
            if checked(got, &mut st.fds, &mut st.broken)? == 0 {
                st.eof = true;
                return Err(Error::disconnected(
                    "peer closed the connection in the middle of a message",
                ));
            }
        }
        Ok(FrameRef::Owned(owned))
    }

    /// Polls the socket for up to [`policy::SPIN_WINDOW`] (yielding the core between polls) before the
    /// caller blocks in the kernel. A request/reply peer usually answers within a few microseconds; sleeping at once costs
    /// a wake-up per message, 10-30 µs on machines whose idle cores sit in deep power states.
    fn spin_until_readable(&self, deadline: Option<Instant>) {
        // A failed poll ends the spin too: the receive that follows reports the error.
        let ready = || !matches!(socket::readable_within(self.fd.as_fd(), 0), Ok(false));
        policy::for_window(ready, deadline, Between::Yield);
    }

    /// Reads more bytes into the buffer, compacting first.
    fn fill(&self, st: &mut RecvState, deadline: Option<Instant>) -> Result<()> {
        if st.eof {
            return Err(if st.end > st.start {
                Error::disconnected("peer closed the connection in the middle of a message")
            } else {
                Error::disconnected(
                    "peer closed the connection (its process exited or dropped its end)",
                )
            });
        }
        if st.start == st.end {
            st.start = 0;
            st.end = 0;
        } else if st.start > 0 {
            st.buf.copy_within(st.start..st.end, 0);
            st.end -= st.start;
            st.start = 0;
        }
        self.spin_until_readable(deadline);
        if let Some(d) = deadline {
            self.wait_readable(d)?;
        }
        let RecvState {
            buf,
            end,
            fds,
            broken,
            ..
        } = st;
        let n = recv(self.fd.as_fd(), &mut buf[*end..], fds, broken)?;
        if n == 0 {
            st.eof = true;
            return self.fill(st, None);
        }
        st.end += n;
        Ok(())
    }
}

enum FrameRef {
    Buffered(std::ops::Range<usize>),
    Owned(Vec<u8>),
}

/// `recvmsg`, with a connection reset by a dying peer read as the end of the stream. Lost descriptors
/// mark the channel broken for good: the bytes are consumed, so frames and descriptors no longer match.
fn recv(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
    broken: &mut bool,
) -> Result<usize> {
    let got = socket::recv_with_fds(fd, buf, fds);
    checked(got, fds, broken)
}

/// The outcome of one `recvmsg`, with lost descriptors and resets handled as described at [`recv`].
fn checked(
    got: io::Result<socket::Received>,
    fds: &mut VecDeque<OwnedFd>,
    broken: &mut bool,
) -> Result<usize> {
    match got {
        Ok(r) if r.fds_lost => {
            *broken = true;
            fds.clear();
            Err(broken_error())
        }
        Ok(r) => Ok(r.bytes),
        Err(e) if crate::sys::errors::peer_reset(&e) => Ok(0),
        Err(e) => Err(Error::io("recv failed", e)),
    }
}

fn send_error(e: io::Error) -> Error {
    if crate::sys::errors::peer_gone(&e) {
        Error::disconnected("peer closed the connection (its process exited or dropped its end)")
    } else {
        Error::io("send failed", e)
    }
}

/// How a channel travels: its socket, plus whatever was read ahead but not yet received (so that moving
/// a connection to another process loses nothing).
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(with = "codec::fd")]
    fd: OwnedFd,
    pending: Vec<u8>,
    pending_fds: Vec<WireFd>,
    skip: u64,
    eof: bool,
    max_message: u64,
    passes_fds: bool,
}

#[derive(Serialize, Deserialize)]
struct WireFd(#[serde(with = "codec::fd")] OwnedFd);

impl Serialize for Channel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        // What this end had read ahead moves with it (it is not copied: a message is delivered once).
        let Some(mut st) = try_lock(&self.rx) else {
            return Err(S::Error::custom(
                "cannot send a connection while another thread is receiving on it",
            ));
        };
        if st.partial.is_some() || st.broken {
            return Err(S::Error::custom(
                "cannot send a connection that is half-way through a large message, or broken",
            ));
        }
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| S::Error::custom(format!("dup failed: {e}")))?;
        // A frame handed back to the queue goes first, framed again.
        let mut pending = Vec::new();
        if let Some(kept) = st.stash.take() {
            pending.extend_from_slice(&(kept.len() as u32).to_le_bytes());
            pending.extend_from_slice(&0u32.to_le_bytes());
            pending.extend_from_slice(&kept);
        }
        pending.extend_from_slice(&st.buf[st.start..st.end]);
        st.start = st.end;
        let wire = Wire {
            fd,
            pending,
            pending_fds: st.fds.drain(..).map(WireFd).collect(),
            skip: std::mem::take(&mut st.skip) as u64,
            eof: st.eof,
            max_message: self.max_message as u64,
            passes_fds: self.passes_fds,
        };
        drop(st);
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Channel, D::Error> {
        let w = Wire::deserialize(d)?;
        let mut buf = w.pending;
        let end = buf.len();
        buf.resize(end.max(READ_AHEAD), 0);
        Ok(Channel {
            fd: w.fd,
            rx: Mutex::new(RecvState {
                buf,
                start: 0,
                end,
                fds: w.pending_fds.into_iter().map(|f| f.0).collect(),
                skip: w.skip as usize,
                partial: None,
                eof: w.eof,
                broken: false,
                stash: None,
                spare: Vec::new(),
                in_place: false,
            }),
            tx: Mutex::default(),
            max_message: w.max_message as usize,
            passes_fds: w.passes_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `frames` (each of `len` bytes, filled with its index) from a thread.
    fn send_from_thread(chan: Channel, frames: usize, len: usize) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for i in 0..frames {
                chan.send_raw(&vec![i as u8; len], &[]).unwrap();
            }
        })
    }

    /// On an end that reads in place, a frame too large for the buffer that is only read leaves its
    /// allocation for the next one; one taken with `into_vec` is the caller's. Any other end keeps
    /// nothing.
    #[test]
    fn large_frames_reuse_the_allocation_of_one_only_read() {
        let (rx, tx) = Channel::pair().unwrap();
        rx.read_frames_in_place();
        let sender = send_from_thread(tx, 3, IN_PLACE_MAX + 1);
        let read = |want: u8| {
            rx.recv_with(None, |frame, _| {
                assert!(matches!(frame, Frame::Lent(_)), "a large frame is lent");
                assert!(frame.bytes().iter().all(|&b| b == want));
                Ok(frame.bytes().as_ptr() as usize)
            })
            .unwrap()
        };
        let first = read(0);
        assert_eq!(read(1), first, "the second frame went where the first was");
        let taken = rx.recv_with(None, |frame, _| Ok(frame.into_vec())).unwrap();
        assert_eq!(taken.len(), IN_PLACE_MAX + 1);
        assert!(taken.iter().all(|&b| b == 2));
        assert_eq!(
            taken.as_ptr() as usize,
            first,
            "the same allocation, now the caller's"
        );
        sender.join().unwrap();

        let (rx, tx) = Channel::pair().unwrap();
        let sender = send_from_thread(tx, 2, 300 << 10);
        for want in 0..2u8 {
            rx.recv_with(None, |frame, _| {
                assert!(frame.bytes().iter().all(|&b| b == want));
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(
            lock(&rx.rx).spare.capacity(),
            0,
            "an ordinary end keeps nothing"
        );
        sender.join().unwrap();
    }

    /// An end that reads frames in place gets frames up to `IN_PLACE_MAX` in its buffer, and larger
    /// ones lent, all whole and in order.
    #[test]
    fn frames_read_in_place_up_to_the_limit() {
        let (rx, tx) = Channel::pair().unwrap();
        rx.read_frames_in_place();
        let small = send_from_thread(tx, 2, 300 << 10);
        for want in 0..2u8 {
            rx.recv_with(None, |frame, _| {
                assert!(matches!(frame, Frame::Borrowed(_)), "read in place");
                assert_eq!(frame.bytes().len(), 300 << 10);
                assert!(frame.bytes().iter().all(|&b| b == want));
                Ok(())
            })
            .unwrap();
        }
        let (rx2, tx2) = Channel::pair().unwrap();
        rx2.read_frames_in_place();
        let big = send_from_thread(tx2, 1, IN_PLACE_MAX);
        rx2.recv_with(None, |frame, _| {
            assert!(matches!(frame, Frame::Lent(_)), "over the limit: lent");
            assert_eq!(frame.bytes().len(), IN_PLACE_MAX);
            Ok(())
        })
        .unwrap();
        small.join().unwrap();
        big.join().unwrap();
    }
}
