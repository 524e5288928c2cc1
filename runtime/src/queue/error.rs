//! [`PutError`]: a failed put hands the value back, as crossbeam's `SendError` does.

use crate::error::{Error, ErrorKind};
use std::fmt;

/// Why a put failed, with the value that was not put.
///
/// Converts into [`multiproc::Error`](crate::Error) with `?` (the value is dropped then).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{ErrorKind, Queue};
/// let q = Queue::<String>::bounded(1)?;
/// q.put("first".to_string())?;
/// let err = q.try_put("second".to_string()).unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::Full);
/// assert_eq!(err.into_inner(), "second");     // the value comes back
/// # Ok::<(), multiproc::Error>(())
/// ```
pub struct PutError<T> {
    value: T,
    error: Error,
}

impl<T> PutError<T> {
    pub(crate) fn new(value: T, error: Error) -> PutError<T> {
        PutError { value, error }
    }

    /// The value that was not put.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.put(1)?;
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The value and the error.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.put(1)?;
    /// let (value, error) = q.try_put(2).unwrap_err().into_parts();
    /// assert_eq!((value, error.kind()), (2, &multiproc::ErrorKind::Full));
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn into_parts(self) -> (T, Error) {
        (self.value, self.error)
    }

    /// What went wrong: [`ErrorKind::Full`], [`ErrorKind::Timeout`], [`ErrorKind::Disconnected`],
    /// [`ErrorKind::Closed`], [`ErrorKind::Codec`], ...
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.put(1)?;
    /// assert!(q.try_put(2).unwrap_err().kind() == &multiproc::ErrorKind::Full);
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        self.error.kind()
    }

    /// The error, without the value.
    ///
    /// ```
    /// # extern crate multiproc_runtime as multiproc;
    /// let q = multiproc::Queue::<u8>::bounded(1)?;
    /// q.put(1)?;
    /// assert_eq!(q.try_put(2).unwrap_err().error().to_string(), "the queue is full");
    /// # Ok::<(), multiproc::Error>(())
    /// ```
    pub fn error(&self) -> &Error {
        &self.error
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl<T> From<PutError<T>> for Error {
    fn from(err: PutError<T>) -> Error {
        err.error
    }
}
