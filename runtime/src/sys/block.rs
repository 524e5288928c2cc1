//! Anonymous shared-memory blocks: `memfd_create` with its size sealed, mapped shared. The block is freed
//! when the last descriptor and mapping go, even if every process using it is killed.

use rustix::fs::{MemfdFlags, SealFlags};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Creates a block of `size` bytes (zero-filled), its size sealed so no process can shrink it under
/// another's mapping.
pub(crate) fn create(name: &str, size: usize) -> io::Result<OwnedFd> {
    let cname =
        std::ffi::CString::new(name.replace('\0', "")).unwrap_or_else(|_| c"multiproc".to_owned());
    let fd = rustix::fs::memfd_create(
        cname.as_c_str(),
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let file = File::from(fd);
    file.set_len(size as u64)?;
    rustix::fs::fcntl_add_seals(&file, SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL)?;
    Ok(OwnedFd::from(file))
}

/// Size in bytes of the block behind `fd`.
pub(crate) fn size(fd: impl AsFd) -> io::Result<usize> {
    Ok(rustix::fs::fstat(fd)?.st_size as usize)
}

/// The device and inode of the block behind `fd`: the same in every process that holds it, and
/// unique among the blocks alive.
pub(crate) fn identity(fd: impl AsFd) -> io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Maps the whole block behind `fd` shared, read-write. Refuses (`InvalidData`) a descriptor that is
/// not a memfd whose size is sealed: another process could otherwise shrink it under our mapping
/// (our accesses would then fault) or hand us a file it keeps changing.
pub(crate) fn map(fd: impl AsFd) -> io::Result<memmap2::MmapRaw> {
    map_with(fd, false)
}

/// [`map`], with every page of the block faulted in now (`MAP_POPULATE`): for a block written
/// from end to end soon after (the rings beside a pool worker's channel), whose first lap would
/// otherwise fault page by page in the middle of the work.
pub(crate) fn map_populated(fd: impl AsFd) -> io::Result<memmap2::MmapRaw> {
    map_with(fd, true)
}

fn map_with(fd: impl AsFd, populate: bool) -> io::Result<memmap2::MmapRaw> {
    let need = SealFlags::GROW | SealFlags::SHRINK;
    if !rustix::fs::fcntl_get_seals(fd.as_fd()).is_ok_and(|seals| seals.contains(need)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the descriptor is not a shared-memory block with its size sealed",
        ));
    }
    let len = size(fd.as_fd())?;
    let mut options = memmap2::MmapOptions::new();
    options.len(len);
    if populate {
        options.populate();
    }
    options.map_raw(fd.as_fd().as_raw_fd())
}

/// True when the size of the block behind `fd` is sealed against shrinking (as [`create`] does), so
/// that a mapping of it can never fault because another process truncated it.
pub(crate) fn is_size_sealed(fd: impl AsFd) -> bool {
    // A descriptor that is not a memfd just fails.
    rustix::fs::fcntl_get_seals(fd).is_ok_and(|seals| seals.contains(SealFlags::SHRINK))
}
