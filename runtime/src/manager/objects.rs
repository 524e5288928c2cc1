//! The objects a server holds, behind one trait: each call names a method and brings encoded
//! arguments; the object appends its encoded return value. Built-in containers keep their elements
//! encoded ([`Blob`]s) so that one server serves every element type. Blocking methods (queue `get`, lock
//! `acquire`, event `wait`) wait in short slices and give up when their caller hangs up.

use super::protocol::{Blob, args, ret};
use crate::error::{Error, ErrorKind, Result};
use crate::poison::{self, lock};
use crate::policy::LIVENESS_SLICE;
use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What an object knows about the call in progress.
pub(crate) struct Cx<'a> {
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
    fn call(&self, cx: &mut Cx<'_>, method: &str, args: &[u8], out: &mut Vec<u8>) -> Result<()>;
    /// The connection `conn` closed (only for objects that set [`Cx::watch`]).
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
    cx: &Cx<'_>,
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

/// `manager.list()`.
pub(crate) struct ListObj {
    pub tag: String,
    pub items: Mutex<Vec<Blob>>,
}

impl Object for ListObj {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(&self, _: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut items = lock(&self.items);
        match method {
            "append" => items.push(args(a)?),
            "extend" => items.extend(args::<Vec<Blob>>(a)?),
            "insert" => {
                let (i, v): (u64, Blob) = args(a)?;
                let i = (i as usize).min(items.len());
                items.insert(i, v);
            }
            "get" => ret(out, &items.get(args::<u64>(a)? as usize))?,
            "set" => {
                let (i, v): (u64, Blob) = args(a)?;
                let len = items.len();
                *items
                    .get_mut(i as usize)
                    .ok_or_else(|| out_of_range(i, len))? = v;
            }
            "remove" => {
                let i: u64 = args(a)?;
                if i as usize >= items.len() {
                    return Err(out_of_range(i, items.len()));
                }
                ret(out, &items.remove(i as usize))?
            }
            "pop" => ret(out, &items.pop())?,
            "len" => ret(out, &(items.len() as u64))?,
            "clear" => items.clear(),
            "contains" => ret(out, &items.contains(&args(a)?))?,
            "count" => {
                let v: Blob = args(a)?;
                ret(out, &(items.iter().filter(|x| **x == v).count() as u64))?
            }
            "remove_value" => {
                let v: Blob = args(a)?;
                let at = items.iter().position(|x| *x == v);
                if let Some(i) = at {
                    items.remove(i);
                }
                ret(out, &at.is_some())?
            }
            "reverse" => items.reverse(),
            // Replaces the whole list if it still is `expected` (a sort done by the client, which
            // alone can compare the items): false, and nothing changed, if another call came first.
            "replace_if" => {
                let (expected, new): (Vec<Blob>, Vec<Blob>) = args(a)?;
                let same = *items == expected;
                if same {
                    *items = new;
                }
                ret(out, &same)?
            }
            "index" => {
                let v: Blob = args(a)?;
                ret(out, &items.iter().position(|x| *x == v).map(|i| i as u64))?
            }
            "snapshot" => ret(out, &*items)?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.dict()`: insertion-ordered like a Python dict.
pub(crate) struct DictObj {
    pub tag: String,
    pub map: Mutex<Dict>,
}

#[derive(Default)]
pub(crate) struct Dict {
    map: HashMap<Blob, (u64, Blob)>,
    next: u64,
}

impl Dict {
    fn insert(&mut self, k: Blob, v: Blob) -> Option<Blob> {
        match self.map.get_mut(&k) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, v)),
            None => {
                self.next += 1;
                self.map.insert(k, (self.next, v));
                None
            }
        }
    }

    fn ordered(&self) -> Vec<(&Blob, &Blob)> {
        let mut all: Vec<(u64, &Blob, &Blob)> =
            self.map.iter().map(|(k, (s, v))| (*s, k, v)).collect();
        all.sort_unstable_by_key(|e| e.0);
        all.into_iter().map(|(_, k, v)| (k, v)).collect()
    }
}

impl Object for DictObj {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(&self, _: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut d = lock(&self.map);
        match method {
            "insert" => {
                let (k, v): (Blob, Blob) = args(a)?;
                ret(out, &d.insert(k, v))?
            }
            "get" => ret(out, &d.map.get(&args::<Blob>(a)?).map(|e| &e.1))?,
            "contains" => ret(out, &d.map.contains_key(&args::<Blob>(a)?))?,
            "remove" => ret(out, &d.map.remove(&args::<Blob>(a)?).map(|e| e.1))?,
            // The most recently inserted entry, as Python's LIFO `popitem`.
            "popitem" => {
                let last = d
                    .map
                    .iter()
                    .max_by_key(|(_, (seq, _))| *seq)
                    .map(|(k, _)| k.clone());
                let pair = last.and_then(|k| d.map.remove(&k).map(|(_, v)| (k, v)));
                ret(out, &pair)?
            }
            "setdefault" => {
                let (k, v): (Blob, Blob) = args(a)?;
                let cur = match d.map.get(&k) {
                    Some(e) => e.1.clone(),
                    None => {
                        d.insert(k, v.clone());
                        v
                    }
                };
                ret(out, &cur)?
            }
            "update" => {
                for (k, v) in args::<Vec<(Blob, Blob)>>(a)? {
                    d.insert(k, v);
                }
            }
            "len" => ret(out, &(d.map.len() as u64))?,
            "clear" => d.map.clear(),
            "keys" => ret(
                out,
                &d.ordered().into_iter().map(|e| e.0).collect::<Vec<_>>(),
            )?,
            "values" => ret(
                out,
                &d.ordered().into_iter().map(|e| e.1).collect::<Vec<_>>(),
            )?,
            "items" => ret(out, &d.ordered())?,
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

/// `manager.Namespace()`: named attributes of any type.
pub(crate) struct NamespaceObj {
    pub attrs: Mutex<HashMap<String, Blob>>,
}

impl Object for NamespaceObj {
    fn tag(&self) -> &str {
        "namespace"
    }
    fn call(&self, _: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut m = lock(&self.attrs);
        match method {
            "get" => ret(out, &m.get(&args::<String>(a)?))?,
            "set" => {
                let (k, v): (String, Blob) = args(a)?;
                m.insert(k, v);
            }
            "remove" => ret(out, &m.remove(&args::<String>(a)?).is_some())?,
            "names" => {
                let mut names: Vec<&String> = m.keys().collect();
                names.sort();
                ret(out, &names)?
            }
            _ => return Err(no_method("namespace", method)),
        }
        Ok(())
    }
}

/// `manager.Value(typecode, value)`.
pub(crate) struct ValueObj {
    pub tag: String,
    pub value: Mutex<Blob>,
}

impl Object for ValueObj {
    fn tag(&self) -> &str {
        &self.tag
    }
    fn call(&self, _: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut v = lock(&self.value);
        match method {
            "get" => ret(out, &*v)?,
            "set" => *v = args(a)?,
            "swap" => {
                let new: Blob = args(a)?;
                ret(out, &std::mem::replace(&mut *v, new))?
            }
            _ => return Err(no_method(&self.tag, method)),
        }
        Ok(())
    }
}

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
    fn call(&self, cx: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
    fn call(&self, cx: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
    fn call(&self, cx: &mut Cx<'_>, method: &str, a: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
