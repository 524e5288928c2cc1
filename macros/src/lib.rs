//! Attribute macros of multiproc. This file only dispatches; each macro parses, validates and expands
//! in its own module. Generated code reaches the runtime only through `::multiproc::__private` (or `<crate = path>::__private`).

use proc_macro::TokenStream;

mod check;
mod entry;
mod managed;
mod shared;
mod worker;

/// Registers a free function as a worker that can run in a child process. Under the function's name it
/// generates a zero-sized handle that calls like the function (`name(..)`; `*name` is a `fn` pointer),
/// implements `WorkerFn` (what `Process::builder().spawn` and `Pool` accept: a closure or a plain `fn`
/// is a compile error) and has `name::spawn(args..) -> multiproc::Result<multiproc::Process<R>>`.
///
/// Arguments and the return value must be `Serialize + DeserializeOwned` and own their data (a type that
/// is not gets one error, at that type); generic, `async`, `self`-taking and borrowing workers are
/// rejected at compile time. To fail, return `Result<T, multiproc::WorkerError>`.
///
/// Every attribute macro of multiproc takes `crate = path` when multiproc is reached through a
/// re-export: `#[multiproc::worker(crate = my_framework::multiproc)]`.
#[proc_macro_attribute]
pub fn worker(attr: TokenStream, item: TokenStream) -> TokenStream {
    worker::expand(attr.into(), item.into()).into()
}

/// Put on `fn main` so that a child process started by multiproc runs its worker instead of `main`.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand_main(attr.into(), item.into()).into()
}

/// Use instead of `#[test]` for tests that start processes: the child re-runs the test binary filtered
/// to this test and runs its worker instead of the test body.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand_test(attr.into(), item.into()).into()
}

/// Put on a type's inherent `impl` block to share values of the type through a `Manager`: registers
/// the type and generates `<Type>Proxy`, with one method per `pub` method taking `&self` or `&mut self`
/// (same arguments, result wrapped in `multiproc::Result`; a method returning `Result<T, E>` gives
/// `multiproc::Result<T>`, its error coming back as `ErrorKind::Remote`). The type must be
/// `Serialize + DeserializeOwned + Send`. Python: `BaseManager.register('Type', Type)`.
#[proc_macro_attribute]
pub fn managed(attr: TokenStream, item: TokenStream) -> TokenStream {
    managed::expand(attr.into(), item.into()).into()
}

/// Marks a struct as plain data that may live in shared memory (inside a `Value`, `Array`,
/// `RawValue` or `RawArray`): adds `#[repr(C)]`, checks at compile time that every field is
/// `Shareable` (integers, floats, bool, char, atomics, fixed arrays of them, other `#[shared]` structs)
/// and implements `Shareable`. References, pointers, `String`, `Vec`, `Box` and type parameters without
/// a `Shareable` bound are compile errors pointing at the field.
///
/// ```ignore
/// #[multiproc::shared]
/// #[derive(Clone, Copy, Default)]
/// struct Stats { hits: u64, hist: [u32; 8] }
/// let stats = multiproc::Value::new(Stats::default())?;
/// ```
#[proc_macro_attribute]
pub fn shared(attr: TokenStream, item: TokenStream) -> TokenStream {
    shared::expand(attr.into(), item.into()).into()
}
