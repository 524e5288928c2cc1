//! Who a process is: [`Pid`], the one type for a process id in the runtime, and [`ProcessId`], a pid
//! with its start time, so that a pid reused by a new process is not mistaken for the old one. The
//! start time comes from `/proc/<pid>/stat`; this is the only place that reads it.

use std::io;
use std::sync::OnceLock;

/// A process id as the kernel gives it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub(crate) struct Pid(libc::pid_t);

impl Pid {
    /// Wraps a raw kernel pid.
    pub(crate) const fn from_raw(pid: libc::pid_t) -> Pid {
        Pid(pid)
    }

    /// The raw kernel pid.
    pub(crate) const fn raw(self) -> libc::pid_t {
        self.0
    }

    /// This process.
    pub(crate) fn this() -> Pid {
        Pid::from_u32(std::process::id())
    }

    /// This process's parent.
    pub(crate) fn parent() -> Pid {
        Pid::from_u32(std::os::unix::process::parent_id())
    }

    /// The pid as an unsigned number (pids are positive), for records in shared memory.
    pub(crate) fn as_u32(self) -> u32 {
        self.0 as u32
    }

    /// The pid from [`as_u32`](Self::as_u32).
    pub(crate) fn from_u32(pid: u32) -> Pid {
        Pid(pid as libc::pid_t)
    }
}

impl std::fmt::Display for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Pids fit in 22 bits (the kernel's `pid_max` limit is 2^22); the start time takes the bits above.
const PID_BITS: u32 = 22;
const PID_MASK: u64 = (1 << PID_BITS) - 1;

/// A process told apart from any later process that gets its pid: the pid and the process's start
/// time (clock ticks after boot). Packs into one `u64` for records in shared memory; 0 is never a
/// packed process (pid 0 is not a process), so it can mark a free record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pid: Pid,
    /// 0 when it could not be read (then a reused pid is not told apart).
    start: u64,
}

impl ProcessId {
    /// This process (read once, then cached).
    pub(crate) fn this() -> ProcessId {
        static ME: OnceLock<ProcessId> = OnceLock::new();
        *ME.get_or_init(|| {
            let pid = Pid::this();
            let start = stat(pid).ok().flatten().map_or(0, |s| s.start);
            ProcessId { pid, start }
        })
    }

    /// `pid`, its start time unknown: judged by the pid alone (a reused pid is not told apart).
    pub(crate) fn unknown_start(pid: Pid) -> ProcessId {
        ProcessId { pid, start: 0 }
    }

    pub(crate) fn pid(self) -> Pid {
        self.pid
    }

    /// The one `u64` form: `start << 22 | pid`.
    pub(crate) fn pack(self) -> u64 {
        let start = self.start & (u64::MAX >> PID_BITS);
        start << PID_BITS | (u64::from(self.pid.as_u32()) & PID_MASK)
    }

    /// The process packed by [`pack`](Self::pack); `None` for 0 (a free record).
    pub(crate) fn unpack(word: u64) -> Option<ProcessId> {
        (word != 0).then(|| ProcessId {
            pid: Pid::from_u32((word & PID_MASK) as u32),
            start: word >> PID_BITS,
        })
    }

    /// False once the process has exited (an unreaped zombie included) or its pid names another
    /// process (started at another time). When nothing can be learnt it counts as alive.
    pub(crate) fn is_alive(self) -> bool {
        match stat(self.pid) {
            Ok(Some(now)) => {
                !matches!(now.state, b'Z' | b'X' | b'x')
                    && (self.start == 0 || self.start == now.start & (u64::MAX >> PID_BITS))
            }
            Ok(None) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(_) => super::process::is_running(self.pid),
        }
    }
}

/// What `/proc/<pid>/stat` says about a process.
struct Stat {
    /// Field 3: `R`, `S`, `Z` (zombie), `X` (dead), ...
    state: u8,
    /// Field 22: the start time in clock ticks after boot.
    start: u64,
}

/// Reads `/proc/<pid>/stat`: `Ok(None)` when it cannot be parsed, `NotFound` when no such process.
fn stat(pid: Pid) -> io::Result<Option<Stat>> {
    let text = std::fs::read(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the
    // last ')'. Field 22 is the 20th after the state (field 3).
    let after = text
        .iter()
        .rposition(|&b| b == b')')
        .map(|i| &text[i + 1..]);
    let mut fields = after
        .unwrap_or_default()
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let state = fields.next().and_then(|f| f.first().copied());
    let start = fields
        .nth(18)
        .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok());
    Ok(state.zip(start).map(|(state, start)| Stat { state, start }))
}

/// This machine's host name (`uname -n`), as other hosts may know it.
pub(crate) fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_packs_round_trip_and_is_alive() {
        let me = ProcessId::this();
        assert_eq!(me.pid(), Pid::this());
        assert_ne!(me.start, 0, "start time unreadable");
        assert_eq!(ProcessId::unpack(me.pack()), Some(me));
        assert!(me.is_alive());
        assert_eq!(ProcessId::unpack(0), None);
    }

    #[test]
    fn another_start_time_or_no_process_is_dead() {
        let me = ProcessId::this();
        let reused = ProcessId {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(!reused.is_alive());
        // Above pid_max (at most 2^22): never a process.
        let none = ProcessId {
            pid: Pid::from_raw(0x3fff_ffff),
            start: 0,
        };
        assert!(!none.is_alive());
    }
}
