//! Resource limits of the current process.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::io;

/// Raises the soft limit on open descriptors to the hard limit, or to `cap` if that is lower (a
/// server holding many connections must not run out at the default 1024; every multiproc process
/// raises it to 65,536 at most at start, as Go's runtime does, since each queue, lock and shared
/// value holds a descriptor). Never lowers it.
pub(crate) fn raise_nofile(cap: Option<u64>) -> io::Result<()> {
    let lim = getrlimit(Resource::Nofile);
    // `None` is "unlimited".
    let target = match (lim.maximum, cap) {
        (Some(max), Some(cap)) => Some(max.min(cap)),
        (Some(max), None) => Some(max),
        (None, cap) => cap,
    };
    let below = match (lim.current, target) {
        (Some(cur), Some(t)) => cur < t,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: target,
                maximum: lim.maximum,
            },
        )?;
    }
    Ok(())
}
