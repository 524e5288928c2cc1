//! [`Child`]: a started child process as its parent holds it — its pid and pidfd, the parent's end of
//! its bootstrap socket, and how it is reaped (by us, or by the fork server that forked it). Dropping a
//! `Child` that has not ended kills and reaps it: no zombies.

use super::forkserver::Forked;
use crate::codec::Encoded;
use crate::error::Result;
use crate::ipc::channel::Channel;
use crate::protocol::child::READY;
use crate::sys::{self, identity::Pid, process::ExitStatus};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

/// Who reaps the child.
pub(super) enum Reaper {
    /// This process: it is our child.
    Us,
    /// The fork server that forked it, which relays its status.
    Server(Forked),
}

/// Where the child is in its life, as far as this handle knows.
enum Life {
    Running,
    /// Reaped, with its status; `None` when someone else reaped it (`SIGCHLD` ignored, a
    /// `waitpid(-1)` elsewhere) or its fork server could not say.
    Ended(Option<ExitStatus>),
}

/// A started child process; see the module documentation.
pub(crate) struct Child {
    pid: Pid,
    /// Readable once the child has exited: the parent's sentinel.
    pidfd: OwnedFd,
    chan: Channel,
    reaper: Reaper,
    life: Life,
    /// It sent [`READY`]: it reached the runtime's bootstrap.
    said_ready: bool,
}

impl Child {
    pub(super) fn new(pid: Pid, pidfd: OwnedFd, chan: Channel, reaper: Reaper) -> Child {
        Child {
            pid,
            pidfd,
            chan,
            reaper,
            life: Life::Running,
            said_ready: false,
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// The child's pidfd: readable (`POLLIN`) once it has exited. Python: `Process.sentinel`.
    pub(crate) fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The child's end of its report socket, as this process holds it: readable when a frame (or the
    /// end of the stream) is there.
    #[cfg(feature = "async")]
    pub(crate) fn socket(&self) -> BorrowedFd<'_> {
        self.chan.socket()
    }

    /// True once the child has said it reached the bootstrap.
    pub(crate) fn said_ready(&self) -> bool {
        self.said_ready
    }

    /// Sends the task frame. A child that died before reading it is not an error here: its end is
    /// reported when it is waited for.
    pub(super) fn send_task(&self, task: &Encoded) -> Result<()> {
        let fds: Vec<_> = task.fds.iter().map(|f| f.as_fd()).collect();
        match self.chan.send_raw(&task.bytes, &fds) {
            Err(e) if !e.is_disconnected() => Err(e),
            _ => Ok(()),
        }
    }

    /// Waits until `deadline` (forever for `None`) for the child's report frame, passing over its
    /// [`READY`]. `Disconnected` when the child closed its socket without a report.
    pub(crate) fn recv_report(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<(Vec<u8>, Vec<OwnedFd>)> {
        loop {
            let (bytes, fds) = self.chan.recv_raw(deadline)?;
            if !self.said_ready && bytes == READY {
                self.said_ready = true;
                continue;
            }
            return Ok((bytes, fds));
        }
    }

    /// True once the child has been reaped (by whoever reaps it).
    pub(crate) fn has_ended(&self) -> bool {
        matches!(self.life, Life::Ended(_))
    }

    /// How the child ended, if it has and that is known.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        match self.life {
            Life::Ended(status) => status,
            Life::Running => None,
        }
    }

    /// Reaps the child if it has exited (waiting for that when `block`).
    pub(crate) fn reap(&mut self, block: bool) {
        if self.has_ended() {
            return;
        }
        if let Reaper::Server(forked) = &self.reaper {
            // Not our child: its fork server reaps it and relays the status. The pidfd says whether it
            // has exited (then the status is moments away).
            let wait = block || sys::child::has_exited(self.pidfd.as_fd(), 0);
            if let Some(status) = wait.then(|| forked.exit_status(true)).flatten() {
                self.life = Life::Ended(status);
            }
            return;
        }
        match sys::process::wait_pid(self.pid, !block) {
            Ok(Some(status)) => self.life = Life::Ended(Some(status)),
            Ok(None) => {}
            Err(_) => self.life = Life::Ended(None),
        }
    }

    /// Reaps the child, waiting until `deadline` at most (forever for `None`); true once it is gone.
    pub(crate) fn reap_until(&mut self, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            self.reap(true);
            return self.has_ended();
        };
        loop {
            self.reap(false);
            if self.has_ended() || Instant::now() >= deadline {
                return self.has_ended();
            }
            let slice = crate::policy::LIVENESS_SLICE.as_millis() as i32;
            let ms = sys::poll_timeout_ms(Some(deadline)).clamp(0, slice);
            sys::child::has_exited(self.pidfd.as_fd(), ms);
        }
    }

    /// Sends `sig` unless the child has already ended.
    pub(crate) fn signal(&mut self, sig: sys::child::Signal) -> io::Result<()> {
        self.reap(false);
        if self.has_ended() {
            return Ok(());
        }
        sys::child::signal(self.pid, Some(self.pidfd.as_fd()), sig)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.has_ended() {
            return;
        }
        let _ = sys::child::signal(self.pid, Some(self.pidfd.as_fd()), sys::child::SIGKILL);
        match &self.reaper {
            Reaper::Server(forked) => forked.forget(),
            Reaper::Us => {
                let _ = sys::process::wait_pid(self.pid, false);
            }
        }
    }
}
