//! The child's side of the handshake on its bootstrap socket, however it was started: say ready, read
//! the one task, run it, send the report, exit with a code that matches it.

use super::{boot, watch};
use crate::error::Error;
use crate::ipc::channel::Channel;
use crate::protocol::child::{self as protocol, READY, Report};
use crate::registry;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

/// Serves the one task that arrives on `socket` and exits. Entered from the bootstrap of a spawned
/// child, or right after `fork` in the fork server.
pub(super) fn serve_one_task(socket: OwnedFd) -> ! {
    boot::mark_in_child();
    protocol::record_panics();
    watch::watch_parent(socket.as_fd());
    let chan = Channel::from_fd(socket);
    if chan.send_raw(READY, &[]).is_err() {
        std::process::exit(1);
    }
    let outcome = chan.recv_with(None, |frame, fds| {
        Ok(registry::run_task(frame.bytes(), fds))
    });
    let _ = std::io::stdout().flush();
    let (report, code) = match outcome {
        Ok(report) => {
            let code = match report.0 {
                Report::Ok => 0,
                Report::Panicked(_) | Report::PanickedAt(_) => 101,
                Report::Failed(_) => 1,
            };
            (report, code)
        }
        Err(e) if e.is_disconnected() => std::process::exit(1),
        Err(e) => ((Report::failed(&e), None), 1),
    };
    let mut sent = protocol::send_report(&chan, report);
    if let Err(e) = &sent {
        if !e.is_disconnected() {
            // The result itself could not go (too large, too many handles): say so instead.
            let why = Error::new(
                e.kind().clone(),
                "the worker's result could not be sent back",
            )
            .with_source(e.clone());
            sent = protocol::send_report(&chan, (Report::failed(&why), None));
        }
    }
    if let Err(e) = sent {
        // With the parent gone there is nobody to tell (the fork server ends this way).
        if !e.is_disconnected() {
            log::error!(target: "multiproc::serve", "worker could not send its result: {e:#}");
        }
        std::process::exit(1);
    }
    log::debug!(target: "multiproc::serve", "child exiting with code {code}");
    std::process::exit(code)
}
