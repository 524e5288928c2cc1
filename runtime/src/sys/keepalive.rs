//! TCP keepalive: a peer whose machine vanished (powered off, cable pulled, NAT entry dropped) never
//! closes its connection; probes notice it, and the blocked `recv`/`send` then fails.

use rustix::net::sockopt;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// Probes an idle connection after `idle`, then every `interval`; after `count` unanswered probes
/// (or data unacknowledged for as long) the connection fails with `ETIMEDOUT`.
pub(crate) fn enable(
    fd: BorrowedFd<'_>,
    idle: Duration,
    interval: Duration,
    count: u32,
) -> io::Result<()> {
    // Whole seconds, at least one (the kernel's unit for these two).
    let secs = |d: Duration| Duration::from_secs(d.as_secs().clamp(1, i32::MAX as u64));
    let user_timeout = (idle + interval * count).as_millis().min(i32::MAX as u128) as u32;
    sockopt::set_socket_keepalive(fd, true)?;
    sockopt::set_tcp_keepidle(fd, secs(idle))?;
    sockopt::set_tcp_keepintvl(fd, secs(interval))?;
    sockopt::set_tcp_keepcnt(fd, count.clamp(1, i32::MAX as u32))?;
    sockopt::set_tcp_user_timeout(fd, user_timeout)?;
    Ok(())
}
