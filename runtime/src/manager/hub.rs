//! The server's mailbox poller: one thread that serves the quick calls (a container's `get`, `set`,
//! `append`, `len`...: see [`Object::quick`](super::objects::Object::quick)) of every connection on
//! shared-memory mailboxes, sweeping all of them while any is busy.
//!
//! Why one thread: with a thread per connection, N busy clients make 2N runnable threads, and on a
//! machine with fewer cores than that each call waited for its server thread to be scheduled (the
//! spin gave up exactly when there was contention; with 4 clients on 2 cores every call slept and
//! woke). One poller with a core of its own answers whichever client is running, within the
//! client's spin, and serves a backlog of several clients in one sweep.
//!
//! Each connection keeps its thread, which waits for the client's hang-up or for the poller to hand
//! it a call: a call on a blocking object (queue, lock, event, ...), a bulk call on a container
//! (snapshot, `items`, `extend`, a scan), a control call, a custom object's method, a request or
//! reply too large for a mailbox (they travel on the socket, which the poller never waits on). The
//! thread runs that one call as before, posts the reply and gives the connection back. So a slow or
//! blocked call still holds up only its own client, and a client that dies is noticed at once by its
//! thread, which drops its session (releasing its locks).
//!
//! While idle the poller follows the mailboxes' policy (see [`fast`](super::fast)): CPU pauses
//! between sweeps for the spin window, or yields when a client last waited on the poller's CPU (that
//! client needs the core to post its next call); then it marks every connection asleep, looks once
//! more, and sleeps on all their doorbells and its own. A connection idle for a few thousand sweeps
//! is looked at every 32nd sweep only, so that many idle connections do not slow the busy ones.
//!
//! Who serves a connection is its `turn` (poller, thread, closed); the connection's state (mailboxes,
//! session, buffers) sits behind one mutex that whoever has the turn holds while it serves.

use super::fast::Link;
use crate::error::Result;
use crate::ipc::channel::Channel;
use crate::poison::lock;
use crate::shm::mailbox::Posted;
use crate::sys::{eventfd, process, socket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::Instant;

/// What the poller needs from a connection's session.
pub(crate) trait Calls: Send + 'static {
    /// Runs `request` if it is a quick call, leaving its reply in [`reply`](Calls::reply):
    /// `Ok(true)`. `Ok(false)`: not a quick call, nothing was done (the connection's thread runs
    /// it). `Err`: the request is malformed, and the connection is closed.
    fn run_quick(&mut self, request: &[u8]) -> Result<bool>;
    /// The reply of the last call.
    fn reply(&self) -> &[u8];
    /// The reply went out.
    fn replied(&mut self);
}

/// The poller serves the connection.
const POLLER: u8 = 0;
/// The connection's thread runs a call the poller handed it.
const THREAD: u8 = 1;
/// Over: the client hung up, sent a malformed request, or the server stops.
const CLOSED: u8 = 2;

/// Sweeps without a call after which a connection is cold.
const COLD: u32 = 4096;
/// A cold connection is looked at every this many sweeps.
const COLD_EVERY: u32 = 32;

/// What the poller left for the connection's thread.
pub(crate) enum Pending {
    Nothing,
    /// The request is in `request`: run it.
    Request,
    /// The request travels on the socket: read it, then run it.
    Beside,
    /// The reply is ready but larger than a mailbox: send it.
    Reply,
}

/// A connection's state, held by whoever has its turn.
pub(crate) struct Served<S> {
    pub(crate) link: Link,
    pub(crate) calls: S,
    pub(crate) request: Vec<u8>,
    pub(crate) pending: Pending,
}

/// One connection, as the poller and its thread share it.
struct Conn<S> {
    /// `None` once the connection's thread dropped the session.
    served: Mutex<Option<Served<S>>>,
    turn: AtomicU8,
    /// Rung when the poller hands the connection to its thread, or closes it.
    thread_bell: OwnedFd,
}

/// The poller of one server process.
pub(crate) struct Hub<S> {
    conns: Mutex<Vec<Arc<Conn<S>>>>,
    /// Bumped whenever `conns` changes.
    generation: AtomicU64,
    /// Rung to wake the poller from its sleep: a connection joined, or came back from its thread.
    bell: OwnedFd,
    asleep: AtomicBool,
}

impl<S: Calls> Hub<S> {
    /// Starts the poller thread; `None` if it cannot (connections then keep a thread each).
    pub(crate) fn start() -> Option<Arc<Hub<S>>> {
        let hub = Arc::new(Hub {
            conns: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            bell: eventfd::create().ok()?,
            asleep: AtomicBool::new(false),
        });
        let h = hub.clone();
        std::thread::Builder::new()
            .name("multiproc-manager-poller".into())
            .spawn(move || h.run())
            .ok()?;
        Some(hub)
    }

    fn wake(&self) {
        if self.asleep.load(SeqCst) {
            let _ = eventfd::notify(self.bell.as_fd());
        }
    }

    /// Serves the connection on `chan` whose calls now travel through `link`: the poller runs the
    /// quick calls, and this thread the others (`slow`, which runs the call `served.pending` names
    /// and posts its reply, and says whether the connection goes on), until the client hangs up or
    /// a call fails or stops the server. Returns the session's state once the connection is over,
    /// for the caller to drop (which releases what the client held).
    pub(crate) fn serve(
        &self,
        chan: &Channel,
        link: Link,
        calls: S,
        mut slow: impl FnMut(&mut Served<S>) -> bool,
    ) -> Option<Served<S>> {
        let Ok(thread_bell) = eventfd::create() else {
            return Some(Served {
                link,
                calls,
                request: Vec::new(),
                pending: Pending::Nothing,
            });
        };
        let conn = Arc::new(Conn {
            served: Mutex::new(Some(Served {
                link,
                calls,
                request: Vec::new(),
                pending: Pending::Nothing,
            })),
            turn: AtomicU8::new(POLLER),
            thread_bell,
        });
        lock(&self.conns).push(conn.clone());
        self.generation.fetch_add(1, SeqCst);
        let _ = eventfd::notify(self.bell.as_fd());
        // The poller may hold the connection while it sleeps: it is woken first, then the session
        // is taken out (and dropped by the caller, releasing what the client held).
        let close = |conn: &Conn<S>| {
            conn.turn.store(CLOSED, SeqCst);
            self.generation.fetch_add(1, SeqCst);
            let _ = eventfd::notify(self.bell.as_fd());
            lock(&conn.served).take()
        };
        loop {
            let woken = socket::bell_or_hangup(conn.thread_bell.as_fd(), chan.socket(), -1);
            let Ok(woken) = woken else {
                return close(&conn);
            };
            if woken.bell {
                eventfd::drain(conn.thread_bell.as_fd());
            }
            match conn.turn.load(SeqCst) {
                CLOSED => return close(&conn),
                THREAD => {
                    let mut guard = lock(&conn.served);
                    let served = guard.as_mut()?;
                    if !slow(served) {
                        drop(guard);
                        return close(&conn);
                    }
                    conn.turn.store(POLLER, SeqCst);
                    drop(guard);
                    self.wake();
                }
                _ => {}
            }
            if woken.hung_up {
                return close(&conn);
            }
        }
    }

    /// The poller: sweeps the connections while any has work, spins for the spin window after the
    /// last, then sleeps until a client rings.
    fn run(&self) {
        let mut conns: Vec<Arc<Conn<S>>> = Vec::new();
        // Sweeps since each connection last had a call: a cold one (see `COLD`) is looked at only
        // every `COLD_EVERY` sweeps, so that many idle connections do not slow the busy ones.
        let mut quiet: Vec<u32> = Vec::new();
        let mut generation = u64::MAX;
        // When the poller last found nothing to do after serving a call.
        let mut idle_since: Option<Instant> = None;
        let mut sweeps = 0u32;
        let mut cpu = None;
        // A client last waited on the poller's CPU: while idle, the poller yields the core to it,
        // unless a client on another CPU made a call within the spin window (see below).
        let mut shared = false;
        let mut apart_served = false;
        let mut apart_recent = false;
        loop {
            let now_gen = self.generation.load(SeqCst);
            if now_gen != generation {
                generation = now_gen;
                let mut all = lock(&self.conns);
                all.retain(|c| c.turn.load(SeqCst) != CLOSED);
                conns = all.clone();
                quiet = vec![0; conns.len()];
            }
            sweeps = sweeps.wrapping_add(1);
            // Where the poller runs, for the clients' choice between spinning and yielding.
            let note = sweeps % 64 == 1;
            if note {
                cpu = process::current_cpu();
                shared = false;
            }
            let mut worked = false;
            let mut closed = false;
            for (conn, quiet) in conns.iter().zip(quiet.iter_mut()) {
                if *quiet >= COLD && sweeps % COLD_EVERY != 0 && !note {
                    continue;
                }
                if conn.turn.load(SeqCst) != POLLER {
                    continue;
                }
                let mut guard = match conn.served.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                let Some(served) = guard.as_mut() else {
                    continue;
                };
                if note {
                    served.link.note_cpu(cpu);
                    shared |= cpu.is_some() && served.link.peer_cpu() == cpu;
                }
                if !served.link.has_message() {
                    *quiet = quiet.saturating_add(1);
                    continue;
                }
                *quiet = 0;
                worked = true;
                let next = Self::serve_one(served);
                // Read after the reply's post, which brought the client's words into this cache.
                apart_served |= served.link.peer_cpu() != cpu;
                if next != POLLER {
                    closed |= next == CLOSED;
                    conn.turn.store(next, SeqCst);
                    drop(guard);
                    let _ = eventfd::notify(conn.thread_bell.as_fd());
                }
            }
            if closed {
                self.generation.fetch_add(1, SeqCst);
            }
            if worked {
                idle_since = None;
                continue;
            }
            let since = *idle_since.get_or_insert_with(|| {
                apart_recent = std::mem::take(&mut apart_served);
                Instant::now()
            });
            if sweeps % 16 != 0 || since.elapsed() < crate::policy::SPIN_WINDOW {
                // The policy of the mailboxes (see `fast`): pauses while clients run on other CPUs,
                // and yields when one needs this CPU to post its next call — but not right after
                // serving a client on another CPU, whose next call is a microsecond away: each yield
                // would hold it up for a context switch or two. The clients on this CPU then get it
                // when the poller's time slice ends (or the scheduler moves them), and those on the
                // others run at full speed.
                if shared && !apart_recent {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            self.sleep(&conns, generation);
            idle_since = None;
        }
    }

    /// Serves the message `served` has; returns whose turn it is next.
    fn serve_one(served: &mut Served<S>) -> u8 {
        match served.link.take_now(&mut served.request) {
            Err(_) => return CLOSED,
            Ok(Posted::Beside) => {
                served.pending = Pending::Beside;
                return THREAD;
            }
            Ok(Posted::Inline) => {}
        }
        match served.calls.run_quick(&served.request) {
            Err(_) => CLOSED,
            Ok(false) => {
                served.pending = Pending::Request;
                THREAD
            }
            Ok(true) if served.calls.reply().len() > served.link.capacity() => {
                served.pending = Pending::Reply;
                THREAD
            }
            Ok(true) => {
                if served.link.post_now(served.calls.reply()).is_err() {
                    return CLOSED;
                }
                served.calls.replied();
                POLLER
            }
        }
    }

    /// Marks every connection it serves asleep, checks them once more, and sleeps until a client
    /// posts (its doorbell) or a connection joins or comes back (the poller's own).
    fn sleep(&self, conns: &[Arc<Conn<S>>], generation: u64) {
        self.asleep.store(true, SeqCst);
        let mut marked: Vec<MutexGuard<'_, Option<Served<S>>>> = Vec::new();
        // A connection joined or closed since the sweep: look again first.
        let mut busy = self.generation.load(SeqCst) != generation;
        for conn in conns {
            if busy {
                break;
            }
            if conn.turn.load(SeqCst) != POLLER {
                continue;
            }
            let guard = match conn.served.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                // Its thread is giving it back: look again instead of sleeping.
                Err(TryLockError::WouldBlock) => {
                    busy = true;
                    break;
                }
            };
            if let Some(served) = guard.as_ref() {
                served.link.set_asleep(true);
                busy = served.link.has_message();
            }
            marked.push(guard);
        }
        if !busy {
            let mut bells: Vec<BorrowedFd<'_>> = vec![self.bell.as_fd()];
            bells.extend(
                marked
                    .iter()
                    .filter_map(|g| g.as_ref().map(|s| s.link.bell())),
            );
            // The descriptors stay open while the guards are held. A client's post after its mark
            // rings its bell; a connection that joins, closes or comes back from its thread rings
            // the poller's (a closing thread rings it before it waits for the guard).
            if let Ok(ready) = socket::poll_readable_all(&bells, -1) {
                for (fd, r) in bells.iter().zip(ready) {
                    if r {
                        eventfd::drain(*fd);
                    }
                }
            }
        }
        for guard in &marked {
            if let Some(served) = guard.as_ref() {
                served.link.set_asleep(false);
            }
        }
        self.asleep.store(false, SeqCst);
    }
}
