//! The one error type of multiproc: an opaque [`Error`] with a [`kind()`](Error::kind), like
//! `std::io::Error`. Every message says what failed and, where there is one, what to do.

use std::fmt;

/// What went wrong, as a value to match on. Messages live in [`Error`]'s `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The worker panicked; the message is the panic payload.
    WorkerPanicked {
        /// The panic message of the child.
        message: String,
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
    /// The function passed as a worker is not annotated with `#[multiproc::worker]`.
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
    /// An operating-system call failed.
    Io,
}

/// The error type of every fallible multiproc call.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::Timeout, "recv timed out after 5 ms");
/// assert_eq!(e.kind(), &ErrorKind::Timeout);
/// assert_eq!(e.to_string(), "recv timed out after 5 ms");
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result<T, multiproc::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a message saying what failed and what to do.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause, reported by [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong, to match on.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    /// True for [`ErrorKind::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        self.kind == ErrorKind::Disconnected
    }

    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{context}: {err}")).with_source(err)
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
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::io("i/o error", err)
    }
}
