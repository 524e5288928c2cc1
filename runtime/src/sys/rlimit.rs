//! Resource limits of the current process.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use std::io;

/// Raises the soft limit on open descriptors to the hard limit (a server holding many connections
/// must not run out at the default 1024).
pub(crate) fn raise_nofile() -> io::Result<()> {
    let lim = getrlimit(Resource::Nofile);
    // `None` is "unlimited".
    let below = match (lim.current, lim.maximum) {
        (Some(cur), Some(max)) => cur < max,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            },
        )?;
    }
    Ok(())
}
