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
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

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
    pidfd: Option<OwnedFd>,
    chan: Channel,
    reaper: Reaper,
    life: Life,
    /// It sent [`READY`]: it reached the runtime's bootstrap.
    said_ready: bool,
}

impl Child {
    pub(super) fn new(pid: Pid, pidfd: Option<OwnedFd>, chan: Channel, reaper: Reaper) -> Child {
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

    /// The child's pidfd, if the kernel gave one: readable once the child has exited.
    pub(crate) fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|fd| fd.as_fd())
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
            // has exited (then the status is moments away); without one, ask without waiting.
            let wait = block
                || self
                    .pidfd
                    .as_ref()
                    .is_some_and(|fd| sys::child::has_exited(fd.as_fd(), 0));
            let ask = wait || self.pidfd.is_none();
            if let Some(status) = ask.then(|| forked.exit_status(wait)).flatten() {
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
            match &self.pidfd {
                Some(fd) => {
                    sys::child::has_exited(fd.as_fd(), ms);
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// Sends `sig` unless the child has already ended.
    pub(crate) fn signal(&mut self, sig: sys::child::Signal) -> io::Result<()> {
        self.reap(false);
        if self.has_ended() {
            return Ok(());
        }
        sys::child::signal(self.pid, self.pidfd.as_ref().map(|fd| fd.as_fd()), sig)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.has_ended() {
            return;
        }
        // Without a pidfd, signal the pid only while it is certainly our unreaped child.
        if matches!(self.reaper, Reaper::Us)
            && self.pidfd.is_none()
            && !matches!(sys::process::wait_pid(self.pid, true), Ok(None))
        {
            return;
        }
        let pidfd = self.pidfd.as_ref().map(|fd| fd.as_fd());
        let _ = sys::child::signal(self.pid, pidfd, sys::child::SIGKILL);
        match &self.reaper {
            Reaper::Server(forked) => forked.forget(),
            Reaper::Us => {
                let _ = sys::process::wait_pid(self.pid, false);
            }
        }
    }
}
