//! Copies between private memory and shared memory that other processes may write at the same time.
//! Such a copy must not be an ordinary Rust read or write (a data race the compiler may assume away);
//! on x86-64 it is one `rep movsb` in inline assembly (opaque to the compiler, as fast as `memcpy`),
//! elsewhere a loop of volatile byte accesses.

/// Copies `len` bytes from `src` to `dst`.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes, and the ranges do not overlap. Either may be
/// shared memory written concurrently by other processes; the bytes read are then whatever was there.
#[inline]
pub(crate) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees both ranges; `rep movsb` copies rcx bytes from [rsi] to [rdi]
    // forwards (the direction flag is clear at Rust ABI boundaries) and touches nothing else.
    unsafe {
        std::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rsi") src => _,
            inout("rdi") dst => _,
            options(nostack, preserves_flags)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    for i in 0..len {
        // SAFETY: `i < len`; volatile so each access really happens and is not assumed race-free.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
}
