//! What `#[worker]` expands to beyond the `WorkerFn` impl: the checks that point a type that cannot
//! travel at that type (one error, spanned there), and the spawn and invoke bodies, chosen by
//! autoref specialisation so that they compile whatever the types are and add no second error.

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
    fn invoke(&self, bytes: &[u8], fds: Vec<OwnedFd>, f: impl FnOnce(A) -> R) -> Result<Encoded>;
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
    fn invoke(&self, bytes: &[u8], fds: Vec<OwnedFd>, f: impl FnOnce(A) -> R) -> Result<Encoded> {
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
    fn invoke(&self, bytes: &[u8], fds: Vec<OwnedFd>, f: impl FnOnce(A) -> R) -> Result<Encoded>;
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
