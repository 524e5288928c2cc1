//! The `spawn` start method: re-execute this binary (`posix_spawn` of `/proc/self/exe`) with the
//! bootstrap variable set and its socket passed. Under a test harness the child re-runs only the current
//! test, with stdout on /dev/null until its bootstrap restores the parent's (libtest prints its own
//! lines first). The runtime's own long-lived children (fork server, pool workers, manager servers) start
//! here too.

use super::child::{Child, Reaper};
use super::{boot, harness};
use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use crate::sys::{
    self,
    spawn::{FIRST_PASSED_FD, SpawnRequest},
};
use std::os::fd::AsFd;

/// Starts a copy of this executable wired to the bootstrap.
pub(super) fn start() -> Result<Child> {
    boot::refuse_unbootstrapped_spawn();
    boot::check_passed()?;
    let test = harness::test_name()?;
    let (parent_end, child_end) =
        sys::socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
    // A child of a test binary (or a grandchild: its parent re-ran the test too) prints libtest's
    // header before it reaches the bootstrap: park stdout until then.
    let saved_stdout = if test.is_some() || boot::is_test_child() {
        Some(
            std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::io("dup of stdout failed", e))?,
        )
    } else {
        None
    };
    // The socket arrives as the first passed descriptor, the saved stdout as the second.
    let mut pass = vec![child_end.as_fd()];
    pass.extend(saved_stdout.as_ref().map(|out| out.as_fd()));
    let boot = boot::env_value(
        sys::process::getpid(),
        FIRST_PASSED_FD,
        saved_stdout.as_ref().map(|_| FIRST_PASSED_FD + 1),
    );
    let req = SpawnRequest {
        argv: harness::child_argv(test.as_deref()),
        env: std::iter::once((boot::BOOT_ENV, boot))
            .chain(crate::logging::child_env().map(|level| (crate::logging::LOG_ENV, level)))
            .collect(),
        pass,
        stdout_to_null: saved_stdout.is_some(),
    };
    let pid = sys::spawn::spawn_self(&req)
        .map_err(|e| Error::io("could not start the child process", e))?;
    log::debug!(target: "multiproc::spawn", "started child pid {pid} (spawn)");
    drop(req);
    drop(child_end);
    drop(saved_stdout);
    // The pidfd is the child's handle from here on (signals go through it, never a reusable pid, and
    // it is the `Process::sentinel`): without one, the child is not worth keeping.
    let pidfd = match sys::process::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = sys::process::kill(pid, sys::child::SIGKILL);
            let _ = sys::process::wait_pid(pid, false);
            return Err(Error::io(
                "could not open a pidfd for the child (Linux 5.3 or later is needed; or the descriptor                  limit is reached: raise `ulimit -n`)",
                e,
            ));
        }
    };
    Ok(Child::new(
        pid,
        pidfd,
        Channel::from_fd(parent_end),
        Reaper::Us,
    ))
}
