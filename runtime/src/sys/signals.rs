//! Signal numbers the public API sends beyond `SIGKILL` and `SIGTERM` (in `child`).

/// `SIGINT`: Python's `Process.interrupt()`.
pub(crate) const SIGINT: super::child::Signal = super::child::Signal::INT;

/// Ignores `SIGINT` in this process from now on. A Ctrl-C at a terminal reaches the whole foreground
/// process group; a manager's server leaves it to the process that started it, which then still has
/// a server to shut down (Python's manager servers ignore it too). The parent watch still ends the
/// server when its starter dies, of a Ctrl-C or anything else.
pub(crate) fn ignore_interrupt() {
    // SAFETY: `SIG_IGN` is a valid disposition for SIGINT; no handler code is installed.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
}
