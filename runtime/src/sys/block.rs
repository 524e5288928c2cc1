//! Anonymous shared-memory blocks: `memfd_create` with its size sealed, mapped shared. The block is freed
//! when the last descriptor and mapping go, even if every process using it is killed.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

/// Creates a block of `size` bytes (zero-filled), its size sealed so no process can shrink it under
/// another's mapping.
pub(crate) fn create(name: &str, size: usize) -> io::Result<OwnedFd> {
    let cname =
        std::ffi::CString::new(name.replace('\0', "")).unwrap_or_else(|_| c"multiproc".to_owned());
    // SAFETY: NUL-terminated name, integer flags; returns a new descriptor or -1.
    let fd =
        unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: we own the new descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let file = File::from(fd);
    file.set_len(size as u64)?;
    let seals = libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: fcntl with integer arguments on an open memfd.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(OwnedFd::from(file))
}

/// Size in bytes of the block behind `fd`.
pub(crate) fn size(fd: impl AsFd) -> io::Result<usize> {
    // SAFETY: fstat on a borrowed, open descriptor writes into a local stat buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_fd().as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_size as usize)
}

/// The device and inode of the block behind `fd`: the same in every process that holds it, and
/// unique among the blocks alive.
pub(crate) fn identity(fd: impl AsFd) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data; all zeroes is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a borrowed, open descriptor writes into the local stat buffer.
    if unsafe { libc::fstat(fd.as_fd().as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
}

/// Maps the whole block behind `fd` shared, read-write. Refuses (`InvalidData`) a descriptor that is
/// not a memfd whose size is sealed: another process could otherwise shrink it under our mapping
/// (our accesses would then fault) or hand us a file it keeps changing.
pub(crate) fn map(fd: impl AsFd) -> io::Result<memmap2::MmapRaw> {
    // SAFETY: fcntl with integer arguments on a borrowed, open descriptor.
    let seals = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_GET_SEALS) };
    let need = libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    if seals < 0 || seals & need != need {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the descriptor is not a shared-memory block with its size sealed",
        ));
    }
    let len = size(fd.as_fd())?;
    memmap2::MmapOptions::new()
        .len(len)
        .map_raw(fd.as_fd().as_raw_fd())
}

/// True when the size of the block behind `fd` is sealed against shrinking (as [`create`] does), so
/// that a mapping of it can never fault because another process truncated it.
pub(crate) fn is_size_sealed(fd: impl AsFd) -> bool {
    // SAFETY: fcntl with an integer command on a borrowed descriptor; a non-memfd just fails.
    let seals = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_SHRINK != 0
}
