//! Starting child processes, both sides of it. The parent picks a [`StartMethod`] and gets a [`Child`]
//! (its pid, pidfd, bootstrap socket and reaping) with its task sent; the child decides at start-up
//! that it is one (`boot`), answers on its bootstrap socket and runs the task (`serve`), watched by a
//! thread that kills it when the parent goes away (`watch`). [`Process`](crate::Process) is the public
//! handle on top.
//!
//! Each start method is one file: `spawn` (re-exec this binary) and `forkserver` (fork a server that
//! was itself started by `spawn`). A new one (MPI) is a new file here, a [`StartMethod`] variant and an
//! arm in [`start`]; it hands back a [`Child`] whose socket speaks the child protocol
//! ([`crate::protocol::child`]).

mod boot;
mod child;
mod forkserver;
mod harness;
mod serve;
mod spawn;
mod watch;

pub use boot::init;
pub(crate) use boot::run_child_if_spawned;
pub(crate) use child::Child;
pub(crate) use harness::test_entry;

use crate::codec::Encoded;
use crate::error::Result;
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};

use crate::method::StartMethod;

/// Starts a child with `method` and sends it `task` (a task frame of the child protocol). A child that
/// dies before reading its task is still returned: its end is reported when it is waited for.
pub(crate) fn start(method: StartMethod, task: &Encoded) -> Result<Child> {
    Channel::check_sendable(task.bytes.len(), task.fds.len(), DEFAULT_MAX_MESSAGE)?;
    let child = match method {
        StartMethod::Spawn => spawn::start()?,
        StartMethod::ForkServer => forkserver::start()?,
    };
    // On error the child is dropped: killed and reaped.
    child.send_task(task)?;
    Ok(child)
}
