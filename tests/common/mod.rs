//! Helpers shared by the process-level tests. Each test binary includes this module and uses only
//! some of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Dead = gone from /proc, or a zombie waiting to be reaped.
pub fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Polls `cond` every 2 ms until it holds or `limit` passes; returns its last value.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// True if `pid` is still a child of this process (alive or unreaped).
pub fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    after
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u32>().ok())
        == Some(std::process::id())
}
