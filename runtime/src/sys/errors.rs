//! What a system error means for the caller, so that code outside `sys` never names an errno.

use std::io;

/// The peer's end of a connection is gone: it closed it, or its process died (`EPIPE`,
/// `ECONNRESET`).
pub(crate) fn peer_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET))
}

/// The peer reset the connection (`ECONNRESET`): it closed with data unread, or died.
pub(crate) fn peer_reset(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECONNRESET)
}

/// Nobody listens under the name connected to (`ECONNREFUSED`, `ENOENT`).
pub(crate) fn nobody_listening(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT))
}

/// The name is already bound by another socket (`EADDRINUSE`).
pub(crate) fn name_taken(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EADDRINUSE)
}

/// The calling thread already holds the (error-checking) mutex it tried to lock (`EDEADLK`).
pub(crate) fn already_held(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EDEADLK)
}
