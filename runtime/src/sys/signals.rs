//! Signal numbers the public API sends beyond `SIGKILL` and `SIGTERM` (in `child`).

/// `SIGINT`: Python's `Process.interrupt()`.
pub(crate) const SIGINT: super::child::Signal = super::child::Signal::INT;
