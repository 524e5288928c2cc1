//! The shared-memory path of a local manager connection. A socket round trip costs two sends, two
//! receives and the polls around them (7–10 µs on the 2-core VM); here a call is a copy into a shared
//! mailbox and a store, and the answer is caught by spinning on the other mailbox's sequence word.
//!
//! After the handshake the client offers a [`Mailboxes`] block and two doorbells (eventfds) over the
//! socket; from then on requests and replies go through the mailboxes, and the socket stays open as
//! the liveness signal: a side with nothing to read after its spin marks itself asleep and `poll`s
//! its doorbell *and* the socket's hang-up, so a dead peer (or a server thread that ended) is noticed
//! at once. A message larger than a mailbox is sent as a frame on the socket, and the mailbox post
//! only says so. TCP connections never take this path.
//!
//! A waiting side first checks for its message for a window (see [`crate::policy`]): with CPU pauses
//! between checks when the peer last waited on another CPU (both run at once), with `sched_yield`
//! between them when the peer last waited on this CPU (the peer needs this core to answer: a yield
//! hands it over for one context switch, where sleeping costs two and a doorbell). Only then does
//! it sleep. With more runnable threads than cores (several clients, or other processes) pairs end
//! up sharing a CPU, and sleeping at once made every call two sleeps and two wake-ups.

use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use crate::policy::{self, Between};
use crate::shm::mailbox::{Mailboxes, Posted, Side};
use crate::sys::{self, eventfd, process, socket};
use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

/// Bytes of each mailbox: requests and replies up to this size skip the socket.
const MAILBOX_BYTES: usize = 64 << 10;

/// One end of a mailbox link.
pub(crate) struct Link {
    boxes: Mailboxes,
    inbox: Side,
    outbox: Side,
    /// Rung by the peer when it posts to our inbox while we sleep.
    own_bell: OwnedFd,
    /// Rung by us when we post to the peer's inbox while it sleeps.
    peer_bell: OwnedFd,
    /// Our inbox's sequence word when we last took a message.
    seen: Cell<u32>,
}

impl Link {
    /// The client's end, and the block's descriptor: send it with [`bells`](Link::bells) in the
    /// attach request.
    pub(crate) fn offer() -> Result<(Link, OwnedFd)> {
        let (boxes, fd) = Mailboxes::create(MAILBOX_BYTES)?;
        let bell = || eventfd::create().map_err(|e| Error::io("could not create an eventfd", e));
        let link = Link {
            seen: Cell::new(boxes.seq(Side::Reply)),
            boxes,
            inbox: Side::Reply,
            outbox: Side::Request,
            own_bell: bell()?,
            peer_bell: bell()?,
        };
        Ok((link, fd))
    }

    /// The doorbells to send beside the block: the server's, then the client's.
    pub(crate) fn bells(&self) -> [BorrowedFd<'_>; 2] {
        [self.peer_bell.as_fd(), self.own_bell.as_fd()]
    }

    /// The server's end, from the descriptors of an attach request: block, server's bell, client's bell.
    pub(crate) fn accept(fds: Vec<OwnedFd>) -> Result<Link> {
        let [block, own_bell, peer_bell]: [OwnedFd; 3] = fds.try_into().map_err(|v: Vec<_>| {
            Error::new(
                crate::ErrorKind::InvalidHandle,
                format!(
                    "a mailbox offer carries 3 descriptors, this one {}",
                    v.len()
                ),
            )
        })?;
        let boxes = Mailboxes::attach(&block)?;
        Ok(Link {
            seen: Cell::new(boxes.seq(Side::Request)),
            boxes,
            inbox: Side::Request,
            outbox: Side::Reply,
            own_bell,
            peer_bell,
        })
    }

    /// Bytes a message may have to travel in the mailbox.
    pub(crate) fn capacity(&self) -> usize {
        self.boxes.capacity()
    }

    /// True when the peer has posted a message not taken yet (one load: for a poller).
    pub(crate) fn has_message(&self) -> bool {
        self.boxes.seq(self.inbox) != self.seen.get()
    }

    /// Takes the message [`has_message`](Link::has_message) saw into `out`, without waiting:
    /// `Beside` when it travels on the socket (the caller reads it there, or has another thread do
    /// so).
    pub(crate) fn take_now(&self, out: &mut Vec<u8>) -> Result<Posted> {
        self.seen.set(self.boxes.seq(self.inbox));
        self.boxes.take(self.inbox, out)
    }

    /// Posts `msg`, which fits in the mailbox (see [`capacity`](Link::capacity)), ringing the peer
    /// if it sleeps.
    pub(crate) fn post_now(&self, msg: &[u8]) -> Result<()> {
        debug_assert!(msg.len() <= self.boxes.capacity());
        let wake = self.boxes.post(self.outbox, Some(msg));
        self.ring(wake)
    }

    /// Marks this side asleep (or awake) in the mailbox: a peer posting after the mark rings
    /// [`bell`](Link::bell). A poller marks itself, re-checks [`has_message`](Link::has_message),
    /// and only then sleeps.
    pub(crate) fn set_asleep(&self, asleep: bool) {
        self.boxes.set_sleeping(self.inbox, asleep);
    }

    /// The doorbell the peer rings for this side.
    pub(crate) fn bell(&self) -> BorrowedFd<'_> {
        self.own_bell.as_fd()
    }

    /// Records the CPU this side waits on, for the peer's choice between spinning and yielding.
    pub(crate) fn note_cpu(&self, cpu: Option<u32>) {
        self.boxes.set_reader_cpu(self.inbox, cpu);
    }

    /// The CPU the peer last waited on.
    pub(crate) fn peer_cpu(&self) -> Option<u32> {
        self.boxes.reader_cpu(self.outbox)
    }

    /// Sends `msg` to the peer (the socket carries it if it is larger than a mailbox).
    pub(crate) fn send(&self, chan: &Channel, msg: &[u8]) -> Result<()> {
        if msg.len() <= self.boxes.capacity() {
            let wake = self.boxes.post(self.outbox, Some(msg));
            return self.ring(wake);
        }
        if msg.len() > chan.max_message() {
            // Refused before a byte is sent (`MessageTooLarge`), and before the post: the peer
            // must not wait for a frame that never comes.
            return chan.send_raw(msg, &[]);
        }
        // Post first: the peer reads the frame while it is written, or a frame larger than the
        // socket's buffer would wait for a reader that waits for the post.
        let wake = self.boxes.post(self.outbox, None);
        self.ring(wake)?;
        chan.send_raw(msg, &[])
    }

    fn ring(&self, wake: bool) -> Result<()> {
        if wake {
            eventfd::notify(self.peer_bell.as_fd())
                .map_err(|e| Error::io("could not ring the peer's doorbell", e))?;
        }
        Ok(())
    }

    /// Waits for the peer's next message for the spin window only (pausing, or yielding the core when
    /// the peer waits on this CPU), never sleeping: true if one arrived (take it with
    /// [`take_now`](Link::take_now)).
    pub(crate) fn arrives_briefly(&self) -> bool {
        self.spin_for_message(process::current_cpu(), None)
    }

    /// The spin window of a wait on CPU `here`: pausing, or yielding the core when the peer last
    /// waited on this CPU (it needs the core to answer); true if a message arrived.
    fn spin_for_message(&self, here: Option<u32>, deadline: Option<Instant>) -> bool {
        let ready = || self.boxes.seq(self.inbox) != self.seen.get();
        let apart = here.is_none() || here != self.boxes.reader_cpu(self.outbox);
        if apart {
            policy::for_window(ready, None, Between::Pause)
        } else {
            policy::briefly(ready) || policy::for_window(ready, deadline, Between::Yield)
        }
    }

    /// Waits for the peer's next message and copies it into `out`. The peer hanging up the socket
    /// (its process or thread ended) gives `Disconnected`; passing `deadline` gives `Timeout`, after
    /// which the link is out of step (the caller drops it).
    pub(crate) fn recv(
        &self,
        chan: &Channel,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let ready = || self.boxes.seq(self.inbox) != self.seen.get();
        let here = process::current_cpu();
        self.boxes.set_reader_cpu(self.inbox, here);
        if !self.spin_for_message(here, deadline) {
            self.sleep(chan, ready, deadline)?;
        }
        self.seen.set(self.boxes.seq(self.inbox));
        match self.boxes.take(self.inbox, out)? {
            Posted::Inline => Ok(()),
            Posted::Beside => chan.recv_with(deadline, |frame, _| {
                out.clear();
                out.extend_from_slice(frame.bytes());
                Ok(())
            }),
        }
    }

    fn sleep(
        &self,
        chan: &Channel,
        ready: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            self.boxes.set_sleeping(self.inbox, true);
            if ready() {
                self.boxes.set_sleeping(self.inbox, false);
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.boxes.set_sleeping(self.inbox, false);
                return Err(Error::timeout(
                    "waiting for the peer's message",
                    start.elapsed(),
                ));
            }
            let woken = socket::bell_or_hangup(
                self.own_bell.as_fd(),
                chan.socket(),
                sys::poll_timeout_ms(deadline),
            )
            .map_err(|e| Error::io("poll failed", e))?;
            if woken.bell {
                eventfd::drain(self.own_bell.as_fd());
            }
            // A reply posted just before the peer exited (a shutdown) is still a reply.
            if ready() {
                self.boxes.set_sleeping(self.inbox, false);
                return Ok(());
            }
            if woken.hung_up {
                return Err(Error::disconnected(
                    "peer closed the connection (its process exited or dropped its end)",
                ));
            }
        }
    }
}
