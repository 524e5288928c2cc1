//! [`Shareable`]: the plain data that may live in shared memory.

use std::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
    AtomicU32, AtomicU64, AtomicUsize,
};

/// Plain data that may live in shared memory: integers, floats, `bool`, `char`, atomics, fixed-size
/// arrays of them, and structs marked [`#[multiproc::shared]`](../multiproc/attr.shared.html).
///
/// Such a value means the same thing at any address in any process (no pointers, references or heap
/// data) and all-zero bytes are a valid value of it (new shared memory is zero-filled).
///
/// Implemented by the runtime for the primitives and by `#[shared]` for your structs, which checks
/// every field at compile time; never implement it by hand.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::Shareable;
/// fn needs_shareable<T: Shareable>() {}
/// needs_shareable::<[u32; 8]>();
/// needs_shareable::<std::sync::atomic::AtomicU64>();
/// ```
///
/// ```compile_fail
/// # extern crate multiproc_runtime as multiproc;
/// fn needs_shareable<T: multiproc::Shareable>() {}
/// needs_shareable::<String>(); // heap data: the other process cannot follow the pointer
/// ```
///
/// # Safety
/// The type must be `#[repr(C)]` (or a primitive), contain no pointers, references, heap data or
/// process-local handles, and be valid when all its bytes are zero.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in shared memory",
    label = "not `Shareable`",
    note = "shared memory holds plain data: integers, floats, bool, char, atomics, fixed arrays of them and #[multiproc::shared] structs; pointers, references, String, Vec and Box point into one process's memory"
)]
pub unsafe trait Shareable: Sized + Send + Sync + 'static {}

macro_rules! shareable {
    ($($t:ty),* $(,)?) => {
        // SAFETY: primitives and atomics hold no pointers and are valid when zero.
        $(unsafe impl Shareable for $t {})*
    };
}

shareable!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    bool,
    char,
    (),
    AtomicBool,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
);

// SAFETY: an array of shareable elements is laid out contiguously and zero-valid element by element.
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {}
