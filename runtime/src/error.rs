//! The one error type of multiproc: an opaque [`Error`] with a [`kind()`](Error::kind), like
//! `std::io::Error`, cheap to clone (one shared allocation), so that one failure can fail many tasks.
//!
//! Causes are printed once, by the convention of `std::io::Error` and `anyhow`: the message
//! ([`Display`](std::fmt::Display)) says what failed, [`source()`](std::error::Error::source) says
//! why, and neither repeats the other. `{}` prints the message, `{:#}` the message and every cause on
//! one line, `{:?}` the kind, the message and the causes one per line (what `fn main` prints when it
//! returns an error), `{:#?}` the fields.

use std::fmt;
use std::sync::Arc;

/// What went wrong, as a value to match on. Messages live in [`Error`]'s `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The worker panicked; the message is the panic payload.
    WorkerPanicked {
        /// The panic message of the child.
        message: String,
        /// Where it panicked, `file:line:col` (Python's remote traceback names file and line).
        location: Option<String>,
        /// The child's backtrace, when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) was set in it.
        backtrace: Option<String>,
    },
    /// The child process died (killed by a signal, or exited) before it returned a result.
    WorkerDied {
        /// Process id of the dead child.
        pid: i32,
        /// The signal that killed it, if any (for example `SIGKILL`).
        signal: Option<String>,
        /// Its exit code, if it exited.
        code: Option<i32>,
    },
    /// A blocking call did not complete within its timeout.
    Timeout,
    /// The peer process or every handle on the other side is gone.
    Disconnected,
    /// Bytes did not encode or decode as the expected type.
    Codec,
    /// A message is larger than the limit declared for its channel.
    MessageTooLarge {
        /// Size of the offending message in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The worker named is not in this binary's registry: a `WorkerFn` implemented by hand, two workers
    /// registered under one name, or a task naming an entry the child lacks. (A closure or a function
    /// without `#[multiproc::worker]` is a compile error, not this.)
    NotAWorker {
        /// The name of the function (or type) that was passed.
        name: String,
    },
    /// The child process never reached multiproc's bootstrap (`main` lacks `#[multiproc::main]`).
    NotBootstrapped,
    /// A handle (pipe end, queue, shared value, ...) was used where it cannot go.
    InvalidHandle,
    /// An argument was out of range or otherwise unusable.
    InvalidInput,
    /// A channel or queue is full (non-blocking put).
    Full,
    /// A channel or queue is empty (non-blocking get).
    Empty,
    /// The object was closed by its owner.
    Closed,
    /// A shared-memory block or named object does not exist.
    NotFound,
    /// The previous holder of a lock died while holding it; the lock was recovered.
    OwnerDied,
    /// A barrier was broken by a timed-out wait or `abort()`. Python: `BrokenBarrierError`.
    BrokenBarrier,
    /// A call on the other side (a manager server) failed; the message is its error.
    Remote {
        /// The remote error message.
        message: String,
    },
    /// A remote peer failed the authkey challenge.
    Authentication,
    /// A message is longer than the buffer given to
    /// [`Connection::recv_bytes_into`](crate::Connection::recv_bytes_into); the message stays
    /// queued for a call with a larger buffer. Python: `multiprocessing.BufferTooShort`.
    BufferTooShort {
        /// The length of the message, in bytes: the buffer size that receives it.
        size: usize,
    },
    /// An operating-system call failed.
    Io,
    /// The queue was shut down: `put` after `shutdown()`, `get` once a shut-down queue has nothing
    /// left (at once after `shutdown(immediate)`). Python: `queue.ShutDown` (3.13).
    ShutDown,
}

impl ErrorKind {
    /// The variant's name, without its fields (they are in the message).
    fn name(&self) -> &'static str {
        match self {
            ErrorKind::WorkerPanicked { .. } => "WorkerPanicked",
            ErrorKind::WorkerDied { .. } => "WorkerDied",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Disconnected => "Disconnected",
            ErrorKind::Codec => "Codec",
            ErrorKind::MessageTooLarge { .. } => "MessageTooLarge",
            ErrorKind::NotAWorker { .. } => "NotAWorker",
            ErrorKind::NotBootstrapped => "NotBootstrapped",
            ErrorKind::InvalidHandle => "InvalidHandle",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::Full => "Full",
            ErrorKind::Empty => "Empty",
            ErrorKind::Closed => "Closed",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::OwnerDied => "OwnerDied",
            ErrorKind::BrokenBarrier => "BrokenBarrier",
            ErrorKind::Remote { .. } => "Remote",
            ErrorKind::Authentication => "Authentication",
            ErrorKind::BufferTooShort { .. } => "BufferTooShort",
            ErrorKind::Io => "Io",
            ErrorKind::ShutDown => "ShutDown",
        }
    }
}

/// The error type of every fallible multiproc call. Cloning it is cheap: the clones share one
/// allocation (kind, message and cause).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::Timeout, "recv timed out after 5 ms");
/// assert_eq!(e.kind(), &ErrorKind::Timeout);
/// assert_eq!(e.to_string(), "recv timed out after 5 ms");
///
/// // The message says what failed, the source says why; `{:#}` prints both.
/// let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
/// let e = Error::new(ErrorKind::Io, "could not send the task").with_source(io);
/// assert_eq!(e.to_string(), "could not send the task");
/// assert_eq!(format!("{e:#}"), "could not send the task: broken pipe");
/// let copy = e.clone();
/// assert!(std::error::Error::source(&copy).is_some());
/// ```
#[derive(Clone)]
pub struct Error(Arc<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result<T, multiproc::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message saying what failed and, where it helps, what to do — not
    /// why: attach the cause with [`with_source`](Error::with_source).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Arc::new(Inner {
            kind,
            message: message.into(),
            source: None,
        }))
    }

    /// Attaches the underlying cause, reported by [`std::error::Error::source`] (and not repeated in
    /// the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Arc::make_mut(&mut self.0).source = Some(Arc::new(source));
        self
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The message, without the kind or the cause.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// True for [`ErrorKind::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        self.0.kind == ErrorKind::Disconnected
    }

    /// An operating-system call failed: `context` says what was being done, `err` (the source) why.
    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, context.to_string()).with_source(err)
    }

    pub(crate) fn codec(context: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Codec, context.to_string())
    }

    pub(crate) fn timeout(what: &str, after: std::time::Duration) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("{what} timed out after {after:?}"),
        )
    }

    pub(crate) fn disconnected(what: impl fmt::Display) -> Error {
        Error::new(ErrorKind::Disconnected, what.to_string())
    }

    /// The causes, nearest first.
    fn causes(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        std::iter::successors(std::error::Error::source(self), |e| e.source())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("Error")
                .field("kind", &self.0.kind)
                .field("message", &self.0.message)
                .field("source", &self.0.source)
                .finish();
        }
        write!(f, "{}: {}", self.0.kind.name(), self.0.message)?;
        for (i, cause) in self.causes().enumerate() {
            if i == 0 {
                f.write_str("\n\nCaused by:")?;
            }
            write!(f, "\n    {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)?;
        if f.alternate() {
            for cause in self.causes() {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A bare `std::io::Error` has no context to add: it converts transparently, its text becomes the
/// message (as `#[error(transparent)]` does in thiserror).
impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    #[test]
    fn the_cause_is_printed_once() {
        let e = Error::io("could not open the block", denied());
        assert_eq!(e.to_string(), "could not open the block");
        assert_eq!(
            format!("{e:#}"),
            "could not open the block: permission denied"
        );
        assert_eq!(
            format!("{e:?}"),
            "Io: could not open the block\n\nCaused by:\n    permission denied"
        );
        let chain: Vec<String> = e.causes().map(|c| c.to_string()).collect();
        assert_eq!(chain, ["permission denied"]);
    }

    #[test]
    fn clones_share_kind_message_and_source() {
        let e = Error::io("could not open the block", denied());
        let c = e.clone();
        assert!(Arc::ptr_eq(&e.0, &c.0));
        assert_eq!(c.kind(), &ErrorKind::Io);
        assert!(std::error::Error::source(&c).is_some());
        // Attaching a source to a shared error leaves the other clones as they were.
        let wrapped = c.clone().with_source(denied());
        assert!(!Arc::ptr_eq(&wrapped.0, &e.0));
        assert_eq!(e.message(), wrapped.message());
    }

    #[test]
    fn a_wrapped_error_keeps_its_chain() {
        let inner = Error::io("sendmsg failed", denied());
        let outer = Error::new(ErrorKind::Io, "the task could not be sent").with_source(inner);
        assert_eq!(
            format!("{outer:#}"),
            "the task could not be sent: sendmsg failed: permission denied"
        );
    }

    #[test]
    fn an_error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
