//! The link between the pool and its workers, behind two small traits: a [`Transport`] starts
//! workers, a [`WorkerLink`] moves frames to and from one of them, says when it is gone and ends it.
//! The scheduler and the supervisor threads speak only these traits, so another way to reach workers
//! (MPI ranks, an async reactor) is a new implementation here, not an edit of `sched` or `supervisor`.
//!
//! [`LocalProcesses`], the first implementation, starts a child process of this binary on the
//! runtime's worker-loop entry and talks to it over a [`Channel`] (a Unix socket that carries
//! descriptors); the child's bootstrap socket reports how it ended.
//!
//! What a link promises, whatever carries it:
//! - frames arrive whole and in the order they were sent, each with the descriptors sent beside it;
//! - [`recv`](WorkerLink::recv) ends with [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected)
//!   once the worker is gone (it died, left, or was killed), and with a `Timeout` at its deadline;
//! - [`wake`](WorkerLink::wake) ends a [`wait`](WorkerLink::wait) in progress (or the next one), from
//!   any thread;
//! - [`kill`](WorkerLink::kill) may be called from any thread, any number of times.

use super::worker;
use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use crate::ipc::side::{Side, Sided};
use crate::process::{Process, ProcessBuilder};
use crate::sys;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What [`WorkerLink::recv`] calls with a frame, read in place, and the descriptors beside it.
pub(crate) type OnFrame<'a> = dyn FnMut(&[u8], Vec<OwnedFd>) -> Result<()> + 'a;

/// Starts the pool's workers.
pub(crate) trait Transport: Send + Sync {
    /// Starts worker number `index` (from 0) running the pool's worker loop; `has_init` tells it that
    /// its first request is the initializer. Returns once the worker exists, before it answers.
    fn start(&self, index: usize, has_init: bool) -> Result<Arc<dyn WorkerLink>>;

    /// Whether frames may carry descriptors to its workers (not between hosts).
    fn carries_fds(&self) -> bool {
        true
    }

    /// How many quick jobs a worker may hold at once (see `sched`): enough to cover the link's round
    /// trip with work.
    fn prefetch(&self) -> usize {
        super::sched::PREFETCH
    }

    /// What the link itself adds to a job's round trip: a job that comes back within this of the
    /// scheduler's quick-job bound still counts as quick (and its worker gets a deeper queue).
    fn latency(&self) -> Duration {
        Duration::ZERO
    }
}

/// The pool's end of one worker.
pub(crate) trait WorkerLink: Send + Sync {
    /// The worker's identity in messages and [`Pool::pids`](super::Pool::pids): a process id.
    fn id(&self) -> u32;

    /// Sends one frame with `fds` beside it.
    fn send(&self, frame: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()>;

    /// Sends several frames without descriptors, in order, in as few writes as the link can.
    fn send_many(&self, frames: &mut dyn Iterator<Item = &[u8]>) -> Result<()>;

    /// Waits (until `deadline`, if any) for the next frame and hands it, with its descriptors, to
    /// `f`, which may read it in place.
    fn recv(&self, deadline: Option<Instant>, f: &mut OnFrame<'_>) -> Result<()>;

    /// Blocks until a frame (or the end of the link) is ready — `Ok(true)` — or until [`wake`] is
    /// called — `Ok(false)`.
    ///
    /// [`wake`]: WorkerLink::wake
    fn wait(&self) -> Result<bool>;

    /// Ends a [`wait`](WorkerLink::wait) in progress, or the next one.
    fn wake(&self);

    /// Kills the worker now (nothing if it is gone already).
    fn kill(&self);

    /// Waits up to `grace` for the worker to end, killing it after that; how it ended when that was a
    /// failure (a signal, an exit code). Call once, after its end or after telling it to leave.
    fn reap(&self, grace: Duration) -> Option<Error>;
}

/// Workers as child processes of this binary, reached over a [`Channel`].
pub(crate) struct LocalProcesses {
    /// `None`: the process-wide start method at each start.
    pub(crate) start_method: Option<crate::method::StartMethod>,
}

impl Transport for LocalProcesses {
    fn start(&self, index: usize, has_init: bool) -> Result<Arc<dyn WorkerLink>> {
        let (mine, theirs) = Channel::pair()?;
        mine.read_frames_in_place();
        // Large frames travel beside the socket where a shared block can be made (else through it).
        let (side, side_fd) = match Side::create() {
            Ok((side, fd)) => (Some(side), Some(worker::SideFd(fd))),
            Err(_) => (None, None),
        };
        let (wake_tx, wake_rx) =
            sys::socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
        let mut builder = ProcessBuilder::default();
        if let Some(method) = self.start_method {
            builder = builder.start_method(method);
        }
        let process = builder
            .name(format!("PoolWorker-{}", index + 1))
            .spawn_entry::<_, ()>(worker::ENTRY, (theirs, has_init, side_fd))?;
        Ok(Arc::new(LocalLink {
            pid: process.pid(),
            link: Sided::new(mine, side),
            process: Mutex::new(Some(process)),
            wake_tx,
            wake_rx,
        }))
    }
}

/// A child process and the parent's end of its task channel.
struct LocalLink {
    pid: u32,
    /// The task channel, and the side where large frames travel both ways, if one could be made.
    link: Sided,
    /// Until it is reaped. A leaf lock: nothing else is locked while it is held.
    process: Mutex<Option<Process<()>>>,
    /// Poked (one byte) to end a `wait`.
    wake_tx: OwnedFd,
    wake_rx: OwnedFd,
}

impl WorkerLink for LocalLink {
    fn id(&self) -> u32 {
        self.pid
    }

    fn send(&self, frame: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.link.send(frame, fds)
    }

    fn send_many(&self, frames: &mut dyn Iterator<Item = &[u8]>) -> Result<()> {
        self.link.send_many(frames)
    }

    fn recv(&self, deadline: Option<Instant>, f: &mut OnFrame<'_>) -> Result<()> {
        self.link.recv(deadline, f)
    }

    fn wait(&self) -> Result<bool> {
        let [ready, woken] =
            sys::socket::poll_readable([self.link.chan.socket(), self.wake_rx.as_fd()], -1)
                .map_err(|e| Error::io("poll on a pool worker's channel failed", e))?;
        if woken {
            sys::socket::drain(self.wake_rx.as_fd());
        }
        Ok(ready)
    }

    fn wake(&self) {
        sys::socket::poke(self.wake_tx.as_fd());
    }

    fn kill(&self) {
        if let Some(p) = super::lock(&self.process).as_mut() {
            let _ = p.kill();
        }
    }

    fn reap(&self, grace: Duration) -> Option<Error> {
        // Taken out, so that a `kill` from another thread does not wait behind the grace period.
        let mut p = super::lock(&self.process).take()?;
        match p.join_timeout(grace) {
            Ok(()) => None,
            Err(e) if e.is_timeout() => {
                // Still running: killed now, reaped when `p` drops.
                let _ = p.kill();
                None
            }
            Err(e) => Some(e),
        }
    }
}
