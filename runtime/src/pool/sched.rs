//! The scheduler shared by the pool's handle and its supervisor threads: the queue of jobs not yet
//! sent, each worker's jobs in flight, and the rules that send the next job to a worker.
//!
//! Callers send directly to an idle worker (no thread hop on the way out); each worker's supervisor
//! thread receives its results, hands them to their sinks and sends the next jobs. A worker holds the
//! job it runs and the next one, so that it never waits for the parent; a worker whose jobs finish
//! within [`QUICK_JOB`] (tiny tasks, sent one by one) holds up to [`PREFETCH`], so that each side moves
//! several frames per system call. Only an idle worker gets a large job (see [`PREFETCH_BYTES`]).
//! Jobs are spread over the workers one at a time, least loaded first; those going to one worker in
//! one round leave in one write.

//! Lock order: `state`, then a slot's `io`. A slot's `io` is held while sending to its worker, so the
//! order of its in-flight queue is the order on the wire.

use super::sink::Sink;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::process::Process;
use crate::sys;
use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Jobs a worker of quick jobs may hold at once: the one it runs and those queued behind it.
pub(crate) const PREFETCH: usize = 16;

/// A job that comes back within this time marks its worker as one of quick jobs (and a slower one
/// unmarks it). Deep queues are only for those: slow jobs queued behind each other on one worker
/// would leave the others idle at the end of a `map`.
const QUICK_JOB: Duration = Duration::from_micros(200);

/// Largest job sent to a worker that is still busy. A busy worker does not read, so a larger frame
/// could fill the socket and block the sender — and a supervisor thread blocked sending to its own
/// worker, while that worker blocks sending its result back, would deadlock. Small frames always fit
/// in the socket's buffer; larger ones wait for an idle worker, which is reading.
const PREFETCH_BYTES: usize = 32 * 1024;

/// Bound on the bytes of the jobs one worker holds beyond the next one, for the same reason: what a
/// busy worker has not read stays well under a Unix socket's buffer (about 208 KiB).
const QUEUED_BYTES: usize = 64 * 1024;

/// One chunk of calls of one worker function, and where its outcomes go.
pub(crate) struct Job {
    pub(crate) frame: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) start: usize,
    pub(crate) count: usize,
    /// When the worker started on it (or may have): the base of its `task_timeout`.
    pub(crate) since: Instant,
}

/// The pool's options, fixed at build time.
pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) maxtasksperchild: Option<u64>,
    pub(crate) task_timeout: Option<Duration>,
    /// The initializer's task frame (tag, entry name, arguments) and descriptors.
    pub(crate) init: Option<(Vec<u8>, Vec<OwnedFd>)>,
}

/// What the scheduler knows of one worker.
#[derive(Default)]
pub(crate) struct Load {
    /// Up and accepting jobs.
    pub(crate) live: bool,
    pub(crate) inflight: usize,
    /// Frame bytes of the jobs in flight.
    pub(crate) bytes: usize,
    /// Its last job came back within [`QUICK_JOB`].
    pub(crate) quick: bool,
    /// Jobs sent to the current process (for `maxtasksperchild`).
    pub(crate) sent: u64,
    pub(crate) pid: u32,
}

impl Load {
    /// Whether a job of `size` bytes may go to this worker now (see [`PREFETCH_BYTES`]).
    fn has_room(&self, size: usize, max_tasks: Option<u64>) -> bool {
        let depth = if self.quick { PREFETCH } else { 2 };
        let fits = self.inflight == 0
            || (size <= PREFETCH_BYTES
                && self.inflight < depth
                && (self.inflight == 1 || self.bytes + size <= QUEUED_BYTES));
        self.live && fits && max_tasks.is_none_or(|m| self.sent < m)
    }

    /// Takes back one job of `size` bytes that left this worker after `took` (or was never
    /// delivered: `None`).
    pub(crate) fn done(&mut self, size: usize, took: Option<Duration>) {
        self.inflight = self.inflight.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(size);
        if let Some(t) = took {
            self.quick = t < QUICK_JOB;
        }
    }
}

pub(crate) struct State {
    pub(crate) pending: VecDeque<Job>,
    pub(crate) load: Vec<Load>,
    pub(crate) closed: bool,
    /// Set by `join` once the work is done: workers leave and are not replaced.
    pub(crate) exiting: bool,
    /// Why the pool cannot start workers any more (a failing initializer), if so.
    pub(crate) broken: Option<(ErrorKind, String)>,
}

/// The parts of one worker the supervisor thread and the senders share.
pub(crate) struct Slot {
    pub(crate) io: Mutex<SlotIo>,
    pub(crate) process: Mutex<Option<Process<()>>>,
    /// Poked (one byte) to wake the supervisor thread when it waits idle.
    pub(crate) wake_tx: OwnedFd,
    pub(crate) wake_rx: OwnedFd,
}

pub(crate) struct SlotIo {
    pub(crate) chan: Option<Arc<Channel>>,
    pub(crate) inflight: VecDeque<Job>,
}

pub(crate) struct Core {
    pub(crate) state: Mutex<State>,
    /// Signalled when the pool runs out of work (for `join`).
    pub(crate) drained: Condvar,
    pub(crate) slots: Vec<Slot>,
    pub(crate) config: Config,
    pub(crate) terminated: AtomicBool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn closed_error() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the pool was terminated before this task finished",
    )
}

impl Core {
    pub(crate) fn new(config: Config) -> Result<Core> {
        let mut slots = Vec::with_capacity(config.processes);
        for _ in 0..config.processes {
            let (wake_tx, wake_rx) =
                sys::socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
            slots.push(Slot {
                io: Mutex::new(SlotIo {
                    chan: None,
                    inflight: VecDeque::new(),
                }),
                process: Mutex::new(None),
                wake_tx,
                wake_rx,
            });
        }
        Ok(Core {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                load: (0..config.processes).map(|_| Load::default()).collect(),
                closed: false,
                exiting: false,
                broken: None,
            }),
            drained: Condvar::new(),
            slots,
            config,
            terminated: AtomicBool::new(false),
        })
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// Queues `jobs` and sends what the workers can take now.
    pub(crate) fn submit(&self, jobs: impl IntoIterator<Item = Job>) -> Result<()> {
        let mut st = lock(&self.state);
        if st.closed || self.is_terminated() {
            return Err(Error::new(
                ErrorKind::Closed,
                "the pool is closed: it takes no new tasks after close() or terminate()",
            ));
        }
        if let Some((kind, msg)) = &st.broken {
            return Err(Error::new(kind.clone(), msg.clone()));
        }
        st.pending.extend(jobs);
        self.dispatch(st);
        Ok(())
    }

    /// Sends pending jobs to workers with room until none is left or no worker has room: one job at a
    /// time to the least loaded worker, then each worker's share in one write (a job with descriptors
    /// goes in a write of its own).
    pub(crate) fn dispatch<'a>(&'a self, mut st: MutexGuard<'a, State>) {
        let max = self.config.maxtasksperchild;
        loop {
            let mut shares: Vec<(usize, u32, Vec<Job>)> = Vec::new();
            while let Some(front) = st.pending.front() {
                let (size, alone) = (front.frame.len(), !front.fds.is_empty());
                if alone && !shares.is_empty() {
                    break;
                }
                let pick = st
                    .load
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.has_room(size, max))
                    .min_by_key(|(_, l)| l.inflight)
                    .map(|(i, _)| i);
                let Some(i) = pick else { break };
                let Some(job) = st.pending.pop_front() else {
                    break;
                };
                let load = &mut st.load[i];
                load.inflight += 1;
                load.sent += 1;
                load.bytes += size;
                let pid = load.pid;
                match shares.iter_mut().find(|(w, _, _)| *w == i) {
                    Some((_, _, share)) => share.push(job),
                    None => shares.push((i, pid, vec![job])),
                }
                if alone {
                    break;
                }
            }
            if shares.is_empty() {
                return;
            }
            for (i, pid, jobs) in shares {
                st = self.send_share(st, i, pid, jobs);
            }
        }
    }

    /// Sends `jobs` (already counted in the load of worker `i`, process `pid`) to it in one write. If
    /// that process is gone, they go back to the front of the queue; if the jobs themselves cannot be
    /// sent, they fail and the worker stays.
    fn send_share<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        i: usize,
        pid: u32,
        mut jobs: Vec<Job>,
    ) -> MutexGuard<'a, State> {
        if !st.load[i].live || st.load[i].pid != pid {
            // Its supervisor took the worker down (and reset its count) after the jobs were counted.
            return self.requeue(st, jobs);
        }
        let slot = &self.slots[i];
        let mut io = lock(&slot.io);
        drop(st);
        let was_idle = io.inflight.is_empty();
        let now = Instant::now();
        for job in &mut jobs {
            job.since = now;
        }
        let sent = match (&io.chan, jobs.as_slice()) {
            (Some(chan), [job]) => {
                let fds: Vec<_> = job.fds.iter().map(|f| f.as_fd()).collect();
                chan.send_raw(&job.frame, &fds)
            }
            (Some(chan), jobs) => chan.send_frames(jobs.iter().map(|j| j.frame.as_slice())),
            (None, _) => Err(Error::disconnected("worker is being replaced")),
        };
        let err = match sent {
            Ok(()) => {
                io.inflight.extend(jobs);
                drop(io);
                if was_idle && self.config.task_timeout.is_some() {
                    sys::socket::poke(slot.wake_tx.as_fd());
                }
                return lock(&self.state);
            }
            Err(e) => e,
        };
        // Frames are checked when they are built (`chunk::task_frame`); a refusal of the frame itself
        // still fails only its jobs.
        let of_the_jobs = matches!(
            err.kind(),
            ErrorKind::InvalidInput | ErrorKind::MessageTooLarge { .. }
        );
        if !of_the_jobs && io.chan.is_some() {
            // The channel is broken but the worker may live on: kill it, so that its supervisor sees
            // the end of the channel and replaces it.
            if let Some(p) = lock(&slot.process).as_mut() {
                let _ = p.kill();
            }
        }
        drop(io);
        let mut st = lock(&self.state);
        if st.load[i].pid == pid {
            for job in &jobs {
                st.load[i].done(job.frame.len(), None);
            }
            if !of_the_jobs {
                st.load[i].live = false;
            }
        }
        if of_the_jobs || self.is_terminated() {
            let why = if of_the_jobs { err } else { closed_error() };
            self.notify_if_drained(&st);
            drop(st);
            let (kind, msg) = (why.kind().clone(), why.message().to_string());
            Core::fail_jobs(jobs, &|| Error::new(kind.clone(), msg.clone()));
            return lock(&self.state);
        }
        self.requeue(st, jobs)
    }

    /// Puts undelivered `jobs` back at the front of the queue, or fails them if the pool was
    /// terminated (which empties the queue once).
    fn requeue<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        jobs: Vec<Job>,
    ) -> MutexGuard<'a, State> {
        if self.is_terminated() {
            drop(st);
            Core::fail_jobs(jobs, &closed_error);
            return lock(&self.state);
        }
        for job in jobs.into_iter().rev() {
            st.pending.push_front(job);
        }
        st
    }

    /// Wakes `join` if the pool has no work left.
    pub(crate) fn notify_if_drained(&self, st: &State) {
        if st.pending.is_empty() && st.load.iter().all(|l| l.inflight == 0) {
            self.drained.notify_all();
        }
    }

    /// Fails `jobs` with `err`. Call without holding a lock: a sink runs the user's callbacks.
    pub(crate) fn fail_jobs(jobs: impl IntoIterator<Item = Job>, err: &dyn Fn() -> Error) {
        for j in jobs {
            j.sink.fail(j.start, j.count, err);
        }
    }

    /// Stops at once: no new tasks, pending ones fail with `Closed`, every worker is killed. The
    /// supervisor threads then fail the jobs in flight and leave.
    pub(crate) fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        let mut st = lock(&self.state);
        st.closed = true;
        let dropped: Vec<Job> = st.pending.drain(..).collect();
        drop(st);
        Core::fail_jobs(dropped, &closed_error);
        for slot in &self.slots {
            if let Some(p) = lock(&slot.process).as_mut() {
                let _ = p.kill();
            }
            sys::socket::poke(slot.wake_tx.as_fd());
        }
    }
}
