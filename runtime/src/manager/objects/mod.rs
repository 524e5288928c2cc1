//! The objects a server holds, behind one trait ([`Object`]): each call names a method and brings encoded
//! arguments; the object appends its encoded return value. Built-in containers keep their elements
//! encoded ([`Blob`]s) so that one server serves every element type. Blocking methods (queue `get`, lock
//! `acquire`, event `wait`) wait in short slices and give up when their caller hangs up.

mod blocking;
mod data;

pub(crate) use blocking::*;
pub(crate) use data::*;

use crate::error::{Error, ErrorKind, Result};
use crate::poison::{self};
use crate::policy::LIVENESS_SLICE;
use std::sync::{Condvar, MutexGuard};
use std::time::{Duration, Instant};

/// What an object knows about the call in progress.
pub(crate) struct CallContext<'a> {
    /// The connection making the call (lock ownership).
    pub conn: u64,
    /// True once the caller has gone away (checked between waits).
    pub peer_gone: &'a dyn Fn() -> bool,
    /// Set by an object that wants [`Object::disconnected`] when this connection closes.
    pub watch: bool,
}

/// A served object.
pub(crate) trait Object: Send + Sync {
    /// The type tag a lookup is checked against.
    fn tag(&self) -> &str;
    /// Runs `method` with encoded `args`, appending the encoded result to `out`.
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()>;
    /// True if `method` never waits for another connection and costs the same however large the
    /// object is (a container's `get`, `set`, `append`, `len`: not a snapshot, a bulk update or a
    /// scan): the server's mailbox poller runs such calls itself, on its one thread for every
    /// connection, and hands every other call to the connection's own thread.
    fn quick(&self, _method: &str) -> bool {
        false
    }
    /// The connection `conn` closed (only for objects that set [`CallContext::watch`]).
    fn disconnected(&self, _conn: u64) {}
}

pub(crate) fn no_method(tag: &str, method: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("{tag} has no method `{method}`: client and server are different builds?"),
    )
}

fn out_of_range(index: u64, len: usize) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("list index {index} out of range for a list of {len} items"),
    )
}

/// Waits on `cv` until `ready` holds, the optional timeout (µs) passes, or the caller hangs up.
/// Returns the guard and whether `ready` held.
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    timeout_us: Option<u64>,
    cx: &CallContext<'_>,
    ready: impl Fn(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let deadline = timeout_us.and_then(|us| Instant::now().checked_add(Duration::from_micros(us)));
    loop {
        // A caller that hung up (even before its request was read) must not take the item or the
        // lock with it. Leaving without it passes the wake-up on: a `notify_one` may have picked
        // this waiter, and a live one must not wait out its slice. (A timed-out waiter leaves
        // only when nothing was ready.)
        if (cx.peer_gone)() {
            if ready(&guard) {
                cv.notify_one();
            }
            return (guard, false);
        }
        if ready(&guard) {
            return (guard, true);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return (guard, false);
        }
        let slice = deadline.map_or(LIVENESS_SLICE, |d| (d - now).min(LIVENESS_SLICE));
        guard = poison::wait_timeout(cv, guard, slice);
    }
}
