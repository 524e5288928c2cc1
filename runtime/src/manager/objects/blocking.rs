//! The blocking objects a server holds: `Queue`, `Lock`, `Event`, and Python's other `SyncManager`
//! types: the joinable, optionally bounded queue, `RLock`, `Semaphore` / `BoundedSemaphore`,
//! `Condition` and `Barrier`. Blocking methods wait in short slices through [`wait_until`], so a
//! caller that hangs up stops waiting, and the objects that track an owner (`Lock`, `RLock`,
//! `Condition`) set [`CallContext::watch`] to be told when their holder's connection closes.
//!
//! Outcomes a caller matches on (full, broken barrier, not the owner) travel as plain return values
//! the proxy turns into errors, so the wire format needs no new error kinds.

use super::{CallContext, Object, no_method, wait_until};
use crate::error::{Error, ErrorKind, Result};
use crate::manager::protocol::{Blob, args, ret};
use crate::poison::lock;
use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex};

/// `manager.Queue()`: unbounded FIFO.
pub(crate) struct QueueObj {
    pub tag: String,
    pub items: Mutex<VecDeque<Blob>>,
    pub cv: Condvar,
}

impl Object for QueueObj {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut q = lock(&self.items);
        match method {
            "put" => {
                q.push_back(args(a)?);
                self.cv.notify_one();
            }
            "get" => {
                let (mut q, ready) = wait_until(&self.cv, q, args(a)?, cx, |q| !q.is_empty());
                ret(out, &if ready { q.pop_front() } else { None })?
            }
            "len" => ret(out, &(q.len() as u64))?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.Lock()`: owned by the connection that acquired it, released if that connection closes
/// (its process died), so a dead holder never deadlocks the others.
pub(crate) struct LockObj {
    pub owner: Mutex<Option<u64>>,
    pub cv: Condvar,
}

impl Object for LockObj {
    fn tag(&self) -> &str {
        "lock"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let owner = lock(&self.owner);
        match method {
            "acquire" => {
                let (mut owner, got) = wait_until(&self.cv, owner, args(a)?, cx, Option::is_none);
                if got {
                    *owner = Some(cx.conn);
                    cx.watch = true;
                }
                ret(out, &got)?
            }
            "release" => {
                let mut owner = owner;
                match *owner {
                    Some(holder) if holder == cx.conn => *owner = None,
                    Some(_) => {
                        return Err(Error::new(
                            ErrorKind::InvalidInput,
                            "release of a manager lock held by another connection: a lock is \
                             released by the thread that acquired it",
                        ));
                    }
                    None => {
                        return Err(Error::new(
                            ErrorKind::InvalidInput,
                            "release of a manager lock that is not held",
                        ));
                    }
                }
                self.cv.notify_one();
            }
            "locked" => ret(out, &owner.is_some())?,
            _ => return Err(no_method("lock", method)),
        }
        Ok(())
    }
    fn disconnected(&self, conn: u64) {
        let mut owner = lock(&self.owner);
        if *owner == Some(conn) {
            *owner = None;
            self.cv.notify_one();
        }
    }
}

/// `manager.Event()`.
pub(crate) struct EventObj {
    pub flag: Mutex<bool>,
    pub cv: Condvar,
}

impl Object for EventObj {
    fn tag(&self) -> &str {
        "event"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut flag = lock(&self.flag);
        match method {
            "set" => {
                *flag = true;
                self.cv.notify_all();
            }
            "clear" => *flag = false,
            "is_set" => ret(out, &*flag)?,
            "wait" => {
                let (_flag, set) = wait_until(&self.cv, flag, args(a)?, cx, |f| *f);
                ret(out, &set)?
            }
            _ => return Err(no_method("event", method)),
        }
        Ok(())
    }
}

/// `manager.Queue(maxsize)` / `manager.JoinableQueue(maxsize)`: a FIFO with an optional bound
/// (`maxsize == 0`: none) and a count of unfinished items for `task_done` / `join`.
pub(crate) struct JoinableQueueObj {
    pub tag: String,
    pub maxsize: u64,
    pub state: Mutex<JoinableState>,
    pub cv: Condvar,
}

#[derive(Default)]
pub(crate) struct JoinableState {
    items: VecDeque<Blob>,
    /// Items put and not yet marked done.
    unfinished: u64,
}

impl JoinableQueueObj {
    pub(crate) fn new(tag: String, maxsize: u64) -> JoinableQueueObj {
        JoinableQueueObj {
            tag,
            maxsize,
            state: Mutex::default(),
            cv: Condvar::new(),
        }
    }

    fn full(&self, s: &JoinableState) -> bool {
        self.maxsize > 0 && s.items.len() as u64 >= self.maxsize
    }
}

impl Object for JoinableQueueObj {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let s = lock(&self.state);
        match method {
            // `(item, timeout µs)` -> whether it went in.
            "put" => {
                let (item, timeout): (Blob, Option<u64>) = args(a)?;
                let (mut s, room) = wait_until(&self.cv, s, timeout, cx, |s| !self.full(s));
                if room {
                    s.items.push_back(item);
                    s.unfinished += 1;
                    self.cv.notify_all();
                }
                ret(out, &room)?
            }
            "get" => {
                let (mut s, ready) = wait_until(&self.cv, s, args(a)?, cx, |s| !s.items.is_empty());
                let item = if ready { s.items.pop_front() } else { None };
                if item.is_some() {
                    self.cv.notify_all();
                }
                ret(out, &item)?
            }
            "len" => ret(out, &(s.items.len() as u64))?,
            "full" => ret(out, &self.full(&s))?,
            "maxsize" => ret(out, &self.maxsize)?,
            "unfinished" => ret(out, &s.unfinished)?,
            "task_done" => {
                let mut s = s;
                if s.unfinished == 0 {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "task_done() called more times than there were items put in the queue",
                    ));
                }
                s.unfinished -= 1;
                if s.unfinished == 0 {
                    self.cv.notify_all();
                }
            }
            "join" => {
                let (_s, done) = wait_until(&self.cv, s, args(a)?, cx, |s| s.unfinished == 0);
                ret(out, &done)?
            }
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// A reentrant owner record: the holding connection and how many times it acquired.
type Holder = Option<(u64, u64)>;

fn not_owner(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{what} of a manager lock this thread does not hold: it is released by the thread that \
             acquired it"
        ),
    )
}

/// What holds a reentrant owner record.
trait HasHolder {
    fn holder(&self) -> &Holder;
    fn holder_mut(&mut self) -> &mut Holder;
}

impl HasHolder for Holder {
    fn holder(&self) -> &Holder {
        self
    }
    fn holder_mut(&mut self) -> &mut Holder {
        self
    }
}

/// Takes the reentrant lock for `cx.conn` (again, if it holds it already). Returns the guard and
/// whether it got the lock.
fn acquire_reentrant<'a, T: HasHolder>(
    cv: &Condvar,
    mut guard: std::sync::MutexGuard<'a, T>,
    timeout: Option<u64>,
    cx: &mut CallContext<'_>,
) -> (std::sync::MutexGuard<'a, T>, bool) {
    let conn = cx.conn;
    if let Some((owner, depth)) = guard.holder_mut() {
        if *owner == conn {
            *depth += 1;
            return (guard, true);
        }
    }
    let (mut guard, got) = wait_until(cv, guard, timeout, cx, |t| t.holder().is_none());
    if got {
        *guard.holder_mut() = Some((conn, 1));
        cx.watch = true;
    }
    (guard, got)
}

/// `manager.RLock()`: reentrant, owned by the connection (thread) that acquired it, released
/// whatever its depth if that connection closes.
pub(crate) struct RLockObj {
    pub holder: Mutex<Holder>,
    pub cv: Condvar,
}

impl Object for RLockObj {
    fn tag(&self) -> &str {
        "rlock"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let h = lock(&self.holder);
        match method {
            "acquire" => {
                let (_h, got) = acquire_reentrant(&self.cv, h, args(a)?, cx);
                ret(out, &got)?
            }
            "release" => {
                let mut h = h;
                match &mut *h {
                    Some((owner, depth)) if *owner == cx.conn => {
                        *depth -= 1;
                        if *depth == 0 {
                            *h = None;
                            self.cv.notify_all();
                        }
                    }
                    _ => return Err(not_owner("release")),
                }
            }
            "locked" => ret(out, &h.is_some())?,
            // How many times the calling thread holds it (0: not its own).
            "depth" => ret(out, &h.filter(|(o, _)| *o == cx.conn).map_or(0, |(_, d)| d))?,
            _ => return Err(no_method("rlock", method)),
        }
        Ok(())
    }
    fn disconnected(&self, conn: u64) {
        let mut h = lock(&self.holder);
        if h.is_some_and(|(o, _)| o == conn) {
            *h = None;
            self.cv.notify_all();
        }
    }
}

/// `manager.Semaphore(n)` / `manager.BoundedSemaphore(n)`.
pub(crate) struct SemaphoreObj {
    /// The initial value, for a bounded semaphore.
    pub bound: Option<u64>,
    pub value: Mutex<u64>,
    pub cv: Condvar,
}

impl Object for SemaphoreObj {
    fn tag(&self) -> &str {
        "semaphore"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let v = lock(&self.value);
        match method {
            "acquire" => {
                let (mut v, got) = wait_until(&self.cv, v, args(a)?, cx, |v| *v > 0);
                if got {
                    *v -= 1;
                }
                ret(out, &got)?
            }
            // `n` -> false (and no change) if a bounded semaphore would pass its initial value.
            "release" => {
                let n: u64 = args(a)?;
                let mut v = v;
                let new = v.saturating_add(n);
                let ok = self.bound.is_none_or(|b| new <= b);
                if ok {
                    *v = new;
                    self.cv.notify_all();
                }
                ret(out, &ok)?
            }
            "value" => ret(out, &*v)?,
            "bounded" => ret(out, &self.bound)?,
            _ => return Err(no_method("semaphore", method)),
        }
        Ok(())
    }
}

/// `manager.Condition()`: a condition variable with its own reentrant lock (Python's default
/// `Condition(RLock())`). Waiters queue in arrival order; `notify(n)` wakes the first `n`.
pub(crate) struct ConditionObj {
    pub state: Mutex<CondState>,
    pub cv: Condvar,
}

#[derive(Default)]
pub(crate) struct CondState {
    holder: Holder,
    /// Tickets of the waiters not yet notified, oldest first.
    waiting: VecDeque<u64>,
    /// Tickets notified and not yet back.
    notified: HashSet<u64>,
    next_ticket: u64,
}

impl Object for ConditionObj {
    fn tag(&self) -> &str {
        "condition"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let s = lock(&self.state);
        let owns = |s: &CondState| s.holder.is_some_and(|(o, _)| o == cx.conn);
        match method {
            "acquire" => {
                let (_s, got) = acquire_reentrant(&self.cv, s, args(a)?, cx);
                ret(out, &got)?
            }
            "release" => {
                let mut s = s;
                match &mut s.holder {
                    Some((owner, depth)) if *owner == cx.conn => {
                        *depth -= 1;
                        if *depth == 0 {
                            s.holder = None;
                            self.cv.notify_all();
                        }
                    }
                    _ => return Err(not_owner("release")),
                }
            }
            // `timeout µs` -> whether it was notified. Releases the lock (whatever its depth), waits
            // for a notify, takes the lock back at the same depth. Python: `cond.wait(timeout)`.
            "wait" => {
                if !owns(&s) {
                    return Err(not_owner("wait on a condition"));
                }
                let timeout: Option<u64> = args(a)?;
                let mut s = s;
                let depth = s.holder.map_or(1, |(_, d)| d);
                let ticket = s.next_ticket;
                s.next_ticket += 1;
                s.waiting.push_back(ticket);
                s.holder = None;
                self.cv.notify_all();
                let (mut s, _) =
                    wait_until(&self.cv, s, timeout, cx, |s| s.notified.contains(&ticket));
                // A notify that came as the time ran out still counts.
                let notified = s.notified.remove(&ticket);
                if !notified {
                    s.waiting.retain(|t| *t != ticket);
                }
                // Back to the lock: no timeout, as in Python, but a caller that hangs up leaves.
                let (mut s, got) = wait_until(&self.cv, s, None, cx, |s| s.holder.is_none());
                if got {
                    s.holder = Some((cx.conn, depth));
                }
                ret(out, &notified)?
            }
            // `n` -> how many waiters it woke.
            "notify" => {
                if !owns(&s) {
                    return Err(not_owner("notify on a condition"));
                }
                let n: u64 = args(a)?;
                let mut s = s;
                let mut woke = 0u64;
                while woke < n {
                    let Some(t) = s.waiting.pop_front() else {
                        break;
                    };
                    s.notified.insert(t);
                    woke += 1;
                }
                if woke > 0 {
                    self.cv.notify_all();
                }
                ret(out, &woke)?
            }
            "locked" => ret(out, &s.holder.is_some())?,
            "n_waiting" => ret(out, &(s.waiting.len() as u64))?,
            _ => return Err(no_method("condition", method)),
        }
        Ok(())
    }
    fn disconnected(&self, conn: u64) {
        let mut s = lock(&self.state);
        if s.holder.is_some_and(|(o, _)| o == conn) {
            s.holder = None;
            self.cv.notify_all();
        }
    }
}

impl HasHolder for CondState {
    fn holder(&self) -> &Holder {
        &self.holder
    }
    fn holder_mut(&mut self) -> &mut Holder {
        &mut self.holder
    }
}

/// What a barrier `wait` answers: the caller's index, or why it did not pass.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum BarrierOutcome {
    Passed(u64),
    Broken,
    TimedOut,
}

/// `manager.Barrier(parties)`.
pub(crate) struct BarrierObj {
    pub parties: u64,
    pub state: Mutex<BarrierState>,
    pub cv: Condvar,
}

#[derive(Default)]
pub(crate) struct BarrierState {
    waiting: u64,
    /// Bumped each time the barrier lets its parties through.
    generation: u64,
    /// Bumped by each `reset`: the waiters of before it fail.
    resets: u64,
    broken: bool,
}

impl Object for BarrierObj {
    fn tag(&self) -> &str {
        "barrier"
    }
    fn call(
        &self,
        cx: &mut CallContext<'_>,
        method: &str,
        a: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let mut s = lock(&self.state);
        match method {
            "wait" => {
                let timeout: Option<u64> = args(a)?;
                if s.broken {
                    return ret(out, &BarrierOutcome::Broken);
                }
                let index = s.waiting;
                s.waiting += 1;
                if s.waiting >= self.parties {
                    s.waiting = 0;
                    s.generation += 1;
                    self.cv.notify_all();
                    return ret(out, &BarrierOutcome::Passed(index));
                }
                let (generation, resets) = (s.generation, s.resets);
                let (mut s, _) = wait_until(&self.cv, s, timeout, cx, |s| {
                    s.generation != generation || s.broken || s.resets != resets
                });
                let outcome = if s.generation != generation {
                    BarrierOutcome::Passed(index)
                } else if s.broken || s.resets != resets {
                    BarrierOutcome::Broken
                } else {
                    // Timed out, or the caller hung up: as in Python, a party that leaves breaks
                    // the barrier, so the others do not wait for it forever.
                    s.waiting -= 1;
                    s.broken = true;
                    self.cv.notify_all();
                    BarrierOutcome::TimedOut
                };
                ret(out, &outcome)?
            }
            "abort" => {
                s.broken = true;
                s.waiting = 0;
                self.cv.notify_all();
            }
            "reset" => {
                if s.waiting > 0 {
                    s.resets += 1;
                }
                s.waiting = 0;
                s.broken = false;
                self.cv.notify_all();
            }
            "parties" => ret(out, &self.parties)?,
            "n_waiting" => ret(out, &s.waiting)?,
            "broken" => ret(out, &s.broken)?,
            _ => return Err(no_method("barrier", method)),
        }
        Ok(())
    }
}
