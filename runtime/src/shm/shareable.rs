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
pub unsafe trait Shareable: Sized + Send + Sync + 'static {
    /// True when some mix of the bytes of two valid values may be invalid (a `char` half-written):
    /// unlocked copies of such a type are then made under the block's lock, so none is ever torn.
    #[doc(hidden)]
    const TEARABLE: bool = false;
}

macro_rules! shareable {
    ($($t:ty),* $(,)?) => {
        // SAFETY: primitives and atomics hold no pointers and are valid when zero.
        $(unsafe impl Shareable for $t {})*
    };
}

// SAFETY: as above; two halves of different chars may not form a char.
unsafe impl Shareable for char {
    const TEARABLE: bool = true;
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
unsafe impl<T: Shareable, const N: usize> Shareable for [T; N] {
    const TEARABLE: bool = T::TEARABLE;
}

/// [`Shareable`] data made only of atomics (atomics, fixed-size arrays of them, and
/// [`#[multiproc::shared]`](../multiproc/attr.shared.html) structs whose fields are all such):
/// the types a [`RawValue`](crate::RawValue) or [`RawArray`](crate::RawArray) may lend out as `&T`,
/// because every access to them from any process is atomic.
///
/// Implemented by the runtime for the atomics and by `#[shared]` for structs of atomics; never
/// implement it by hand.
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// let hits = multiproc::RawArray::<AtomicU32>::new(4)?;
/// hits[2].fetch_add(1, Ordering::Relaxed);          // RawArray<AtomicU32> derefs to [AtomicU32]
/// assert_eq!(hits[2].load(Ordering::Relaxed), 1);
/// # Ok::<(), multiproc::Error>(())
/// ```
///
/// ```compile_fail
/// # extern crate multiproc_runtime as multiproc;
/// let ready = multiproc::RawValue::new(false)?;
/// while !*ready {}                  // no `&bool` over memory another process writes: use get()
/// # Ok::<(), multiproc::Error>(())
/// ```
///
/// # Safety
/// Every byte of the type belongs to an atomic: no plain field another process could write while
/// this one holds a reference.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not made only of atomics, so it cannot be borrowed from shared memory that other processes write",
    label = "not only atomics",
    note = "use get()/set()/copy_to() on a RawValue or RawArray of plain data, or a Value/Array and its lock"
)]
pub unsafe trait AtomicShareable: Shareable {}

macro_rules! atomic_shareable {
    ($($t:ty),* $(,)?) => {
        // SAFETY: an atomic is only ever accessed atomically.
        $(unsafe impl AtomicShareable for $t {})*
    };
}

atomic_shareable!(
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

// SAFETY: an array of atomics is atomics, contiguously.
unsafe impl<T: AtomicShareable, const N: usize> AtomicShareable for [T; N] {}
