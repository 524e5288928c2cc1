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
