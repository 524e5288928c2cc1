//! The parent watch: a child dies with the program that started it. The parent's end of the bootstrap
//! socket closes when the parent process dies (for any reason), which a small thread watches for on
//! its own duplicate of the socket (so worker code that closes descriptors cannot blind it or make it
//! spin).

use crate::sys::{self, child::Hangup};
use std::os::fd::{AsFd, BorrowedFd};

/// Starts the thread that kills this process once the peer of `socket` is gone.
pub(super) fn watch_parent(socket: BorrowedFd<'_>) {
    let Ok(own) = socket.try_clone_to_owned() else {
        log::warn!(target: "multiproc::watch", "could not watch the parent process (dup of the bootstrap socket failed): this child will not die with it");
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("multiproc-parent-watch".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            if let Hangup::Peer = sys::child::wait_hangup(own.as_fd()) {
                let _ = sys::child::signal(sys::process::getpid(), None, sys::child::SIGKILL);
            }
        });
    if spawned.is_err() {
        log::warn!(target: "multiproc::watch", "could not start the parent watch thread: this child will not die with its parent");
    }
}
