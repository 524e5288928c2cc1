//! [`WorkerFn`]: what may be started in a child process. Implemented for every function of up to eight
//! arguments; the runtime then checks at spawn time that it is a registered `#[worker]`.

/// A function that can run as a worker with the argument tuple `Args` (`()`, `(A,)`, `(A, B)`, ...).
///
/// Any `fn` item satisfies this bound; only those annotated with `#[multiproc::worker]` are registered,
/// and spawning another one fails with [`ErrorKind::NotAWorker`](crate::ErrorKind::NotAWorker) naming it.
pub trait WorkerFn<Args>: Copy + Send + Sync + 'static {
    /// What the worker returns.
    type Output;

    /// The function's type name, the key under which `#[worker]` registered it.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

macro_rules! impl_worker_fn {
    ($($arg:ident),*) => {
        impl<F, R, $($arg,)*> WorkerFn<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R + Copy + Send + Sync + 'static,
        {
            type Output = R;
        }
    };
}

impl_worker_fn!();
impl_worker_fn!(A1);
impl_worker_fn!(A1, A2);
impl_worker_fn!(A1, A2, A3);
impl_worker_fn!(A1, A2, A3, A4);
impl_worker_fn!(A1, A2, A3, A4, A5);
impl_worker_fn!(A1, A2, A3, A4, A5, A6);
impl_worker_fn!(A1, A2, A3, A4, A5, A6, A7);
impl_worker_fn!(A1, A2, A3, A4, A5, A6, A7, A8);
