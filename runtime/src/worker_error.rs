//! [`WorkerError`]: the error a `#[worker]` returns, `Result<T, WorkerError>`, that travels back to the
//! parent with its message, its causes and the name of its kind.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An error that can cross a process boundary: what a `#[multiproc::worker]` returns when it can fail.
///
/// `std::io::Error`, `Box<dyn Error>` and most error types are not `Serialize`, so a worker cannot
/// return them as they are. `WorkerError` keeps what the parent needs of them, as text: the message,
/// every cause (the [`source()`](std::error::Error::source) chain), and a kind name (the
/// [`io::ErrorKind`](std::io::ErrorKind) of an I/O error, else the error's type name). Any
/// `std::error::Error` converts into it, so `?` works in the worker; [`WorkerError::msg`] makes one
/// from a message.
///
/// Like `anyhow::Error`, it does not itself implement `std::error::Error` (that would clash with the
/// blanket `From`); [`into_std`](WorkerError::into_std) gives one with the same chain, and `?` converts
/// it into a `Box<dyn Error + Send + Sync>` or a [`multiproc::Error`](crate::Error) (kind
/// [`Remote`](crate::ErrorKind::Remote)).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{WorkerError, worker};
///
/// #[worker]
/// fn line_count(path: String) -> Result<usize, WorkerError> {
///     let text = std::fs::read_to_string(&path)
///         .map_err(|e| WorkerError::from(e).context(format!("cannot read {path}")))?;
///     if text.is_empty() {
///         return Err(WorkerError::msg(format!("{path} is empty")));
///     }
///     Ok(text.lines().count())
/// }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let err = line_count::spawn("/no/such/file".into())?.join()?.unwrap_err();
///     assert_eq!(err.kind(), "NotFound");
///     assert_eq!(
///         format!("{err:#}"),
///         "cannot read /no/such/file: No such file or directory (os error 2)"
///     );
///     Ok(())
/// }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerError {
    kind: String,
    message: String,
    /// The causes, outermost first.
    causes: Vec<String>,
}

impl WorkerError {
    /// An error with this message and no cause; its kind is `"WorkerError"`.
    pub fn msg(message: impl fmt::Display) -> WorkerError {
        WorkerError {
            kind: "WorkerError".into(),
            message: message.to_string(),
            causes: Vec::new(),
        }
    }

    /// The same error with `kind` as its kind name.
    pub fn with_kind(mut self, kind: impl Into<String>) -> WorkerError {
        self.kind = kind.into();
        self
    }

    /// Wraps the error: `message` becomes its message, and the old message its first cause. The kind
    /// stays (it names the root failure).
    pub fn context(mut self, message: impl fmt::Display) -> WorkerError {
        let old = std::mem::replace(&mut self.message, message.to_string());
        self.causes.insert(0, old);
        self
    }

    /// The kind name: the `std::io::ErrorKind` of an I/O error (`"NotFound"`), else the type name of
    /// the error it came from, or what [`with_kind`](WorkerError::with_kind) set.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message, without the causes (`{}` prints it; `{:#}` adds the causes).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The causes, outermost first.
    pub fn causes(&self) -> impl Iterator<Item = &str> {
        self.causes.iter().map(String::as_str)
    }

    /// The message and the causes, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.message.as_str()).chain(self.causes())
    }

    /// A `std::error::Error` with the same message, whose `source()` chain gives the causes.
    pub fn into_std(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        Box::new(StdChain::from(self))
    }
}

impl<E: std::error::Error + 'static> From<E> for WorkerError {
    fn from(e: E) -> WorkerError {
        let kind = match (&e as &dyn std::any::Any).downcast_ref::<std::io::Error>() {
            Some(io) => format!("{:?}", io.kind()),
            None => std::any::type_name::<E>().to_string(),
        };
        let mut causes = Vec::new();
        let mut source = e.source();
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        WorkerError {
            kind,
            message: e.to_string(),
            causes,
        }
    }
}

impl fmt::Display for WorkerError {
    /// `{}`: the message; `{:#}`: the message and every cause, `: `-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if f.alternate() {
            for c in &self.causes {
                write!(f, ": {c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for WorkerError {
    /// `{:?}`: the message, the kind, and the causes one per line (what `fn main` prints); `{:#?}`:
    /// the fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("WorkerError")
                .field("kind", &self.kind)
                .field("message", &self.message)
                .field("causes", &self.causes)
                .finish();
        }
        write!(f, "{} ({})", self.message, self.kind)?;
        if !self.causes.is_empty() {
            f.write_str("\n\nCaused by:")?;
            for (i, c) in self.causes.iter().enumerate() {
                write!(f, "\n    {i}: {c}")?;
            }
        }
        Ok(())
    }
}

/// [`WorkerError::into_std`]: one link of the chain.
struct StdChain {
    message: String,
    source: Option<Box<StdChain>>,
}

impl From<WorkerError> for StdChain {
    fn from(e: WorkerError) -> StdChain {
        let source = e.causes.into_iter().rev().fold(None, |source, message| {
            Some(Box::new(StdChain { message, source }))
        });
        StdChain {
            message: e.message,
            source,
        }
    }
}

impl fmt::Debug for StdChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.message, f)
    }
}

impl fmt::Display for StdChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StdChain {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<WorkerError> for Box<dyn std::error::Error + Send + Sync + 'static> {
    fn from(e: WorkerError) -> Self {
        e.into_std()
    }
}

impl From<WorkerError> for Box<dyn std::error::Error + 'static> {
    fn from(e: WorkerError) -> Self {
        e.into_std()
    }
}

impl From<WorkerError> for crate::Error {
    /// Kind [`Remote`](crate::ErrorKind::Remote) with the worker's message; the causes follow as
    /// `source()`.
    fn from(e: WorkerError) -> crate::Error {
        let kind = crate::ErrorKind::Remote {
            message: e.message.clone(),
        };
        let text = format!("the worker failed ({}): {}", e.kind, e.message);
        let chain = StdChain::from(e);
        match chain.source {
            Some(cause) => crate::Error::new(kind, text).with_source(*cause),
            None => crate::Error::new(kind, text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("loading the config")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_io_error_keeps_its_kind_and_message() {
        let e = WorkerError::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(e.kind(), "NotFound");
        assert_eq!(e.message(), "entity not found");
        assert_eq!(e.causes().count(), 0);
    }

    #[test]
    fn the_source_chain_becomes_the_causes_and_comes_back_from_into_std() {
        let e = WorkerError::from(Outer(std::io::Error::other("disk on fire")));
        assert!(e.kind().ends_with("Outer"), "{}", e.kind());
        assert_eq!(
            e.chain().collect::<Vec<_>>(),
            ["loading the config", "disk on fire"]
        );
        assert_eq!(format!("{e}"), "loading the config");
        assert_eq!(format!("{e:#}"), "loading the config: disk on fire");
        let e = e.context("starting");
        assert_eq!(
            format!("{e:?}"),
            format!(
                "starting ({})\n\nCaused by:\n    0: loading the config\n    1: disk on fire",
                e.kind()
            )
        );
        let std = e.into_std();
        assert_eq!(std.to_string(), "starting");
        let first = std.source().expect("first cause");
        assert_eq!(first.to_string(), "loading the config");
        assert_eq!(first.source().expect("second").to_string(), "disk on fire");
        assert!(first.source().and_then(|s| s.source()).is_none());
    }

    #[test]
    fn question_mark_converts_into_boxed_and_multiproc_errors() {
        fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err(WorkerError::msg("nope").context("outer"))?;
            Ok(())
        }
        let e = boxed().unwrap_err();
        assert_eq!(e.to_string(), "outer");
        assert_eq!(e.source().unwrap().to_string(), "nope");
        fn ours() -> crate::Result<()> {
            Err(WorkerError::msg("nope").context("outer"))?;
            Ok(())
        }
        let e = ours().unwrap_err();
        assert_eq!(
            e.kind(),
            &crate::ErrorKind::Remote {
                message: "outer".into()
            }
        );
        assert_eq!(e.source().unwrap().to_string(), "nope");
    }
}
