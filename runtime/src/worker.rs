//! [`WorkerFn`] and [`MapFn`]: what may be started in a child process. Only `#[multiproc::worker]`
//! implements them, so a closure or a plain `fn` handed to `spawn`, `apply` or `map` is a compile error
//! that says what to do, not a failure at run time.

/// A `#[multiproc::worker]` function that can run in a child process with the argument tuple `Args`
/// (`()`, `(A,)`, `(A, B)`, ...).
///
/// `#[multiproc::worker] fn name(..)` implements it for `name`, the value that names the function (a
/// zero-sized handle that calls like the function: `name(..)`, and `*name` is a plain `fn` pointer).
/// Closures and functions without the attribute do not implement it: the child process is this same
/// binary started again, and finds a function only through the registry that `#[worker]` fills.
///
/// Do not implement it by hand: a worker the registry does not know fails at spawn time with
/// [`ErrorKind::NotAWorker`](crate::ErrorKind::NotAWorker).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[multiproc::worker] function taking these arguments",
    label = "expected a #[multiproc::worker] function",
    note = "only functions annotated with #[multiproc::worker] can run in another process: annotate the function and pass it by name (closures and fn pointers cannot cross a process boundary)"
)]
pub trait WorkerFn<Args>: Copy + Send + Sync + 'static {
    /// What the worker returns.
    type Output;

    /// The worker's registry name (`module::path::function`), as `#[worker]` registered it.
    #[doc(hidden)]
    const ENTRY: &'static str;

    /// [`ENTRY`](WorkerFn::ENTRY), from a value.
    #[doc(hidden)]
    fn entry_name(&self) -> &'static str {
        Self::ENTRY
    }
}

/// A `#[multiproc::worker]` taking exactly one argument, of type `A`: what
/// [`Pool::map`](crate::Pool::map) and its variants call once per item. A worker taking several
/// arguments goes to [`Pool::starmap`](crate::Pool::starmap), whose items are argument tuples.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be given to `map`: it is not a #[multiproc::worker] taking one argument",
    label = "not a one-argument #[multiproc::worker]",
    note = "a #[multiproc::worker] taking several arguments goes to `starmap` / `starmap_async`, each item a tuple of its arguments",
    note = "closures and functions without #[multiproc::worker] cannot run in another process: annotate the function and pass it by name"
)]
pub trait MapFn<A>: Copy + Send + Sync + 'static {
    /// What the worker returns.
    type Output;

    /// The worker's registry name, as in [`WorkerFn`].
    #[doc(hidden)]
    const ENTRY: &'static str;

    /// [`ENTRY`](MapFn::ENTRY), from a value.
    #[doc(hidden)]
    fn entry_name(&self) -> &'static str {
        Self::ENTRY
    }
}

/// What `#[worker]` expands to beyond the `WorkerFn` impl: the checks that point a type that cannot
/// travel at that type (one error, spanned there), and the spawn and invoke bodies, chosen by
/// autoref specialisation so that they compile whatever the types are and add no second error.
#[doc(hidden)]
pub mod travel {
    use crate::codec::Encoded;
    use crate::error::{Error, ErrorKind, Result};
    use crate::process::Process;
    use crate::worker::WorkerFn;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::marker::PhantomData;
    use std::os::fd::OwnedFd;

    /// A worker's argument tuple `A` and result `R`, for picking the bodies below.
    pub struct Travel<A, R>(PhantomData<fn() -> (A, R)>);

    impl<A, R> Travel<A, R> {
        /// The probe; generated code calls methods on `&&Travel::<A, R>::new()`.
        #[allow(clippy::new_without_default)]
        pub const fn new() -> Self {
            Travel(PhantomData)
        }
    }

    /// The real bodies, picked when `A` and `R` can travel (the receiver is `&&Travel`).
    pub trait ViaSerde<A, R> {
        /// `name::spawn(..)`.
        fn spawn<F: WorkerFn<A, Output = R>>(&self, worker: F, args: A) -> Result<Process<R>>;
        /// The registry entry's `invoke`.
        fn invoke(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            f: impl FnOnce(A) -> R,
        ) -> Result<Encoded>;
        /// The registry entry's `invoke_batch`.
        fn invoke_batch(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            out: &mut Vec<u8>,
            out_fds: &mut Vec<OwnedFd>,
            f: impl Fn(A) -> R,
        ) -> Result<()>;
    }

    impl<A, R> ViaSerde<A, R> for &Travel<A, R>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        fn spawn<F: WorkerFn<A, Output = R>>(&self, worker: F, args: A) -> Result<Process<R>> {
            Process::builder().spawn(worker, args)
        }
        fn invoke(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            f: impl FnOnce(A) -> R,
        ) -> Result<Encoded> {
            crate::registry::invoke(bytes, fds, f)
        }
        fn invoke_batch(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            out: &mut Vec<u8>,
            out_fds: &mut Vec<OwnedFd>,
            f: impl Fn(A) -> R,
        ) -> Result<()> {
            crate::registry::invoke_batch(bytes, fds, out, out_fds, f)
        }
    }

    fn cannot_travel() -> Error {
        Error::new(
            ErrorKind::InvalidInput,
            "a #[multiproc::worker] argument or result is not Serialize + DeserializeOwned",
        )
    }

    /// The bodies picked when a type cannot travel: never run, because the checks below then fail
    /// to compile; they exist so that the only error is the check's, at the type.
    pub trait Unserializable<A, R> {
        /// Never runs (see the trait).
        fn spawn<F: WorkerFn<A, Output = R>>(&self, worker: F, args: A) -> Result<Process<R>>;
        /// Never runs (see the trait).
        fn invoke(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            f: impl FnOnce(A) -> R,
        ) -> Result<Encoded>;
        /// Never runs (see the trait).
        fn invoke_batch(
            &self,
            bytes: &[u8],
            fds: Vec<OwnedFd>,
            out: &mut Vec<u8>,
            out_fds: &mut Vec<OwnedFd>,
            f: impl Fn(A) -> R,
        ) -> Result<()>;
    }

    impl<A, R> Unserializable<A, R> for Travel<A, R> {
        fn spawn<F: WorkerFn<A, Output = R>>(&self, _: F, _: A) -> Result<Process<R>> {
            Err(cannot_travel())
        }
        fn invoke(&self, _: &[u8], _: Vec<OwnedFd>, _: impl FnOnce(A) -> R) -> Result<Encoded> {
            Err(cannot_travel())
        }
        fn invoke_batch(
            &self,
            _: &[u8],
            _: Vec<OwnedFd>,
            _: &mut Vec<u8>,
            _: &mut Vec<OwnedFd>,
            _: impl Fn(A) -> R,
        ) -> Result<()> {
            Err(cannot_travel())
        }
    }

    /// One argument or result type, for the spanned check.
    pub struct Check<T: ?Sized>(PhantomData<T>);

    impl<T: ?Sized> Check<T> {
        /// The probe; generated code calls `(&&Check::<T>::new()).argument()` / `.result()`.
        #[allow(clippy::new_without_default)]
        pub const fn new() -> Self {
            Check(PhantomData)
        }
    }

    /// Picked when `T` can travel: no requirement.
    pub trait Travels {
        /// Nothing to check.
        fn argument(&self) {}
        /// Nothing to check.
        fn result(&self) {}
    }

    impl<T: Serialize + DeserializeOwned> Travels for &Check<T> {}

    /// Picked when `T` cannot travel: its methods require a trait that nothing implements, whose
    /// message is the error the user sees, at the type's span.
    pub trait Stays<T: ?Sized> {
        /// The check of an argument type.
        fn argument(&self)
        where
            T: CannotBeWorkerArgument,
        {
        }
        /// The check of a result type.
        fn result(&self)
        where
            T: CannotBeWorkerResult,
        {
        }
    }

    impl<T: ?Sized> Stays<T> for Check<T> {}

    /// Implemented by no type: the message of a worker argument that is not
    /// `Serialize + DeserializeOwned`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a #[multiproc::worker] argument: it does not implement `Serialize` and `Deserialize`",
        label = "this argument cannot travel to the child process",
        note = "arguments are serialized by the parent and deserialized by the child: derive them with `#[derive(serde::Serialize, serde::Deserialize)]`, or pass a value of a type that has them"
    )]
    pub trait CannotBeWorkerArgument {}

    /// Implemented by no type: the message of a worker result that is not
    /// `Serialize + DeserializeOwned`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be returned by a #[multiproc::worker]: it does not implement `Serialize` and `Deserialize`",
        label = "this result cannot travel back to the parent",
        note = "the result is serialized by the child and deserialized by the parent: derive them with `#[derive(serde::Serialize, serde::Deserialize)]`; for errors, return `Result<T, multiproc::WorkerError>`"
    )]
    pub trait CannotBeWorkerResult {}
}
