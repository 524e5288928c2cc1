//! The [`Scheduler`]: the pool's internal core, shared by the public [`Pool`](super::Pool) handle and
//! the supervisor threads (as rayon-core's `Registry` sits under its `ThreadPool`). It owns the queue
//! of jobs not yet sent, each worker's jobs in flight and its load, and the rules that send the next
//! job to a worker; its state is private, changed only by methods named for what happens (`submit`,
//! `complete`, `take_down`, `finish`, `terminate`, ...).
//!
//! Callers send directly to an idle worker (no thread hop on the way out); each worker's supervisor
//! thread receives its results, hands them to their sinks and sends the next jobs. A worker holds the
//! job it runs and the next one, so that it never waits for the parent; a worker whose jobs finish
//! within [`QUICK_JOB`] (tiny tasks, sent one by one) holds up to [`PREFETCH`], so that each side moves
//! several frames per system call. Only an idle worker gets a large job (see [`PREFETCH_BYTES`]).
//! Jobs are spread over the workers one at a time, least loaded first; those going to one worker in
//! one round leave in one write.
//!
//! **Lock order**: the state, then a worker's in-flight queue. It is kept by the types: the state is
//! locked only inside this module, as a [`Locked`] guard, and a worker's queue is reached only through
//! that guard — borrowed from it ([`Locked::inflight`]), so that it is released before the state, or
//! handed over by it ([`Locked::hand_over`], which locks the queue and then releases the state, for a
//! send). No code can hold a queue and then wait for the state. A queue stays locked while its
//! worker is sent to, so the order of the queue is the order on the wire. A link's own locks (see
//! `transport`) are leaves: nothing is locked while they are held.

use super::lock;
use super::sink::Sink;
use super::transport::{Transport, WorkerLink};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::pool::EXIT_FRAME;
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Jobs a worker of quick jobs may hold at once: the one it runs and those queued behind it (a
/// transport with a longer round trip asks for more: `Transport::prefetch`).
pub(crate) const PREFETCH: usize = 16;

// A worker gets more jobs when it holds half its prefetch or fewer: refilled by half its queue at a
// time, the jobs leave in one write, and it reads them in one.

/// A job that comes back within this time marks its worker as one of quick jobs of that job's
/// worker function (and a slower one unmarks it). 50 µs: a job that takes longer covers the round
/// trip that refills its worker (10-20 µs) by itself, so two in hand keep the worker busy; at 200 µs
/// (until 2026-12-08) a CPU-bound map of 16 tasks of 57 µs, two to a chunk, counted as quick, and
/// the first worker to answer took the rest of the map into its queue. Deep queues are only for those: slow jobs queued
/// behind each other on one worker would leave the others idle at the end of a `map`, or behind a
/// worker the system holds up. The mark is per function: a pool warmed up with tiny tasks and then
/// given slow ones starts them two to a worker (before, the warm-up's mark let 4 chunks of a 16-task
/// CPU-bound map queue up on each of 2 workers, with no way back when one of them was held up).
const QUICK_JOB: Duration = Duration::from_micros(50);

/// Largest job sent to a worker that is still busy. A busy worker does not read, so a larger frame
/// could fill the socket and block the sender — and a supervisor thread blocked sending to its own
/// worker, while that worker blocks sending its result back, would deadlock. Small frames always fit
/// in the socket's buffer; larger ones wait for an idle worker, which is reading.
const PREFETCH_BYTES: usize = 32 * 1024;

/// Bound on the bytes of the jobs one worker holds beyond the next one, for the same reason: what a
/// busy worker has not read stays well under a Unix socket's buffer (about 208 KiB).
const QUEUED_BYTES: usize = 64 * 1024;

/// The kind of the jobs whose requests start with `prefix` (`protocol::pool::chunk_prefix`, which
/// names the worker function): a hash of it (FNV-1a).
pub(crate) fn kind_of(prefix: &[u8]) -> u64 {
    prefix.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One chunk of calls of one worker function, and where its outcomes go.
pub(crate) struct Job {
    /// Which worker function it calls ([`kind_of`] its request's prefix).
    kind: u64,
    frame: Vec<u8>,
    fds: Vec<OwnedFd>,
    sink: Arc<dyn Sink>,
    start: usize,
    count: usize,
    /// When the worker started on it (or may have): the base of its `task_timeout`.
    since: Instant,
}

impl Job {
    /// Items `start..start + count` of a call, encoded in `frame` (a `CHUNK` request) with `fds`;
    /// their outcomes go to `sink`.
    pub(crate) fn new(
        kind: u64,
        frame: Vec<u8>,
        fds: Vec<OwnedFd>,
        sink: Arc<dyn Sink>,
        start: usize,
        count: usize,
    ) -> Job {
        Job {
            kind,
            frame,
            fds,
            sink,
            start,
            count,
            since: Instant::now(),
        }
    }

    /// How many items it carries.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Hands the worker's reply to the job's sink. Call with no lock held: a sink runs the user's
    /// callbacks, which may call into the pool.
    pub(crate) fn deliver(self, reply: &[u8], fds: Vec<OwnedFd>) {
        self.sink.deliver(self.start, self.count, reply, fds);
    }

    /// Fails every item of the job with `err`. Call with no lock held (see [`deliver`](Job::deliver)).
    pub(crate) fn fail(self, err: &Error) {
        self.sink.fail(self.start, self.count, err);
    }
}

/// Fails every job of `jobs` with `err`, with no lock held.
fn fail_all(jobs: impl IntoIterator<Item = Job>, err: &Error) {
    for job in jobs {
        job.fail(err);
    }
}

/// The pool's options, fixed at build time.
pub(crate) struct Config {
    pub(crate) processes: usize,
    pub(crate) maxtasksperchild: Option<u64>,
    pub(crate) task_timeout: Option<Duration>,
    /// The initializer's `INIT` request and its descriptors.
    pub(crate) init: Option<(Vec<u8>, Vec<OwnedFd>)>,
}

/// What the scheduler knows of one worker.
#[derive(Default)]
struct Load {
    /// The current worker, from its start until it is taken down (`terminate` kills it through this).
    link: Option<Arc<dyn WorkerLink>>,
    /// Up and accepting jobs.
    live: bool,
    inflight: usize,
    /// Frame bytes of the jobs in flight.
    bytes: usize,
    /// The kind of job ([`Job`]'s worker function) its last job was, if it came back within
    /// [`QUICK_JOB`].
    quick: Option<u64>,
    /// Jobs sent to the current worker (for `maxtasksperchild`).
    sent: u64,
    pid: u32,
}

impl Load {
    /// Whether a job of `size` bytes may go to this worker now (see [`PREFETCH_BYTES`]).
    fn has_room(&self, kind: u64, size: usize, max_tasks: Option<u64>, prefetch: usize) -> bool {
        let depth = if self.quick == Some(kind) {
            prefetch
        } else {
            2
        };
        let fits = self.inflight == 0
            || (size <= PREFETCH_BYTES
                && self.inflight < depth
                && (self.inflight == 1 || self.bytes + size <= QUEUED_BYTES));
        self.live && fits && max_tasks.is_none_or(|m| self.sent < m)
    }

    /// Takes back one job of `kind` and `size` bytes that left this worker after `took` (or was
    /// never delivered: `None`).
    fn done(&mut self, kind: u64, size: usize, took: Option<Duration>) {
        self.inflight = self.inflight.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(size);
        if let Some(t) = took {
            self.quick = (t < QUICK_JOB).then_some(kind);
        }
    }
}

struct State {
    pending: VecDeque<Job>,
    workers: Vec<Load>,
    closed: bool,
    /// Set by `finish` once the work is done: workers leave and are not replaced.
    exiting: bool,
    /// Why the pool cannot start workers any more (a failing initializer), if so.
    broken: Option<Error>,
}

impl State {
    fn is_drained(&self) -> bool {
        self.pending.is_empty() && self.workers.iter().all(|l| l.inflight == 0)
    }
}

/// The pool's core. See the module's documentation for the lock order.
pub(crate) struct Scheduler {
    state: Mutex<State>,
    /// Signalled when the pool runs out of work (for `finish`).
    drained: Condvar,
    /// Each worker's jobs in flight, oldest first: the second lock, reached through [`Locked`].
    inflight: Vec<Mutex<VecDeque<Job>>>,
    config: Config,
    transport: Box<dyn Transport>,
    /// The transport's [`prefetch`](Transport::prefetch).
    prefetch: usize,
    terminated: AtomicBool,
}

/// The state, locked: the first lock of the order. A worker's in-flight queue (the second) is
/// reached only through this guard.
struct Locked<'a> {
    sched: &'a Scheduler,
    st: MutexGuard<'a, State>,
}

impl<'a> Locked<'a> {
    /// Worker `i`'s in-flight queue, locked while the state stays locked; the borrow ends before
    /// the state's guard can be used or dropped again.
    fn inflight(&mut self, i: usize) -> MutexGuard<'_, VecDeque<Job>> {
        lock(&self.sched.inflight[i])
    }

    /// Locks worker `i`'s in-flight queue, then releases the state: for a send, which may take long
    /// and must not hold the whole pool, while the queue keeps the order of the wire.
    fn hand_over(self, i: usize) -> MutexGuard<'a, VecDeque<Job>> {
        let queue = lock(&self.sched.inflight[i]);
        drop(self.st);
        queue
    }

    /// Waits (releasing the state) until the pool may have run out of work.
    fn wait_drained(self) -> Locked<'a> {
        let st = crate::poison::wait(&self.sched.drained, self.st);
        Locked {
            sched: self.sched,
            st,
        }
    }
}

impl Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.st
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.st
    }
}

/// What a worker's supervisor does next (see [`Scheduler::next`]).
pub(crate) enum Next {
    /// Its worker should leave: the pool is shutting down.
    Shutdown,
    /// Its worker reached `maxtasksperchild` and is idle: replace it.
    Retire,
    /// Its worker has nothing to do: wait for a frame or a wake-up.
    Idle,
    /// Its worker runs a job: receive its reply, until the job's deadline under `task_timeout`.
    Busy(Option<Instant>),
}

/// A worker taken out of service (see [`Scheduler::take_down`]).
pub(crate) struct Down {
    /// The job it was running, if any: it failed with the worker.
    pub(crate) running: Option<Job>,
    /// The pid it had.
    pub(crate) pid: u32,
    /// The pool was terminated: nothing is to be replaced or retried.
    pub(crate) terminated: bool,
    /// The pool was finishing (`join`): the worker is not replaced.
    pub(crate) exiting: bool,
}

/// The error of a task the pool dropped because it was terminated.
pub(crate) fn closed_error() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the pool was terminated before this task finished",
    )
}

impl Scheduler {
    /// A scheduler for `config.processes` workers, started by `transport` (none is started yet).
    pub(crate) fn new(config: Config, transport: Box<dyn Transport>) -> Scheduler {
        Scheduler {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                workers: (0..config.processes).map(|_| Load::default()).collect(),
                closed: false,
                exiting: false,
                broken: None,
            }),
            drained: Condvar::new(),
            inflight: (0..config.processes)
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            config,
            prefetch: transport.prefetch().max(2),
            transport,
            terminated: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> Locked<'_> {
        Locked {
            sched: self,
            st: lock(&self.state),
        }
    }

    /// Whether tasks may carry descriptors to the workers (see `Transport::carries_fds`).
    pub(crate) fn carries_fds(&self) -> bool {
        self.transport.carries_fds()
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// The pids of the workers up now.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.lock()
            .workers
            .iter()
            .filter(|l| l.live)
            .map(|l| l.pid)
            .collect()
    }

    // ---- the pool's handle ----

    /// Queues `jobs` and sends what the workers can take now.
    pub(crate) fn submit(&self, jobs: impl IntoIterator<Item = Job>) -> Result<()> {
        let mut st = self.lock();
        if st.closed || self.is_terminated() {
            return Err(Error::new(
                ErrorKind::Closed,
                "the pool is closed: it takes no new tasks after close() or terminate()",
            ));
        }
        if let Some(e) = &st.broken {
            return Err(e.clone());
        }
        st.pending.extend(jobs);
        self.dispatch(st);
        Ok(())
    }

    /// Takes no more jobs; those submitted still run.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
    }

    /// Waits until every submitted job is done, then tells the workers to leave; they are not
    /// replaced. `InvalidInput` if the pool is not closed (it would wait forever).
    pub(crate) fn finish(&self) -> Result<()> {
        let mut st = self.lock();
        if !st.closed {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "join() needs close() (or terminate()) first: the pool would wait for tasks forever",
            ));
        }
        while !st.is_drained() {
            st = st.wait_drained();
        }
        st.exiting = true;
        let links: Vec<(bool, Arc<dyn WorkerLink>)> = st
            .workers
            .iter()
            .filter_map(|l| l.link.clone().map(|link| (l.live, link)))
            .collect();
        drop(st);
        for (live, link) in links {
            if live {
                let _ = link.send(EXIT_FRAME, &[]);
            }
            // Its supervisor may wait idle: it sees `exiting` and leaves.
            link.wake();
        }
        Ok(())
    }

    /// Stops at once: no new jobs, pending ones fail with `Closed`, every worker is killed. The
    /// supervisor threads then fail the jobs in flight and leave.
    pub(crate) fn terminate(&self) {
        self.terminated.store(true, Ordering::SeqCst);
        let mut st = self.lock();
        st.closed = true;
        let dropped: Vec<Job> = st.pending.drain(..).collect();
        let links: Vec<Arc<dyn WorkerLink>> =
            st.workers.iter().filter_map(|l| l.link.clone()).collect();
        drop(st);
        fail_all(dropped, &closed_error());
        for link in links {
            link.kill();
            link.wake();
        }
    }

    // ---- a worker's life, for its supervisor ----

    /// Starts worker `i` through the transport and registers it, so that `terminate` can kill it
    /// while it starts; it takes no jobs until [`up`](Scheduler::up).
    pub(crate) fn launch(&self, i: usize) -> Result<Arc<dyn WorkerLink>> {
        let link = self.transport.start(i, self.config.init.is_some())?;
        self.lock().workers[i].link = Some(link.clone());
        // `terminate` sets the flag before it collects the links: either it saw this one, or this
        // sees the flag.
        if self.is_terminated() {
            link.kill();
            self.lock().workers[i].link = None;
            return Err(closed_error());
        }
        Ok(link)
    }

    /// Worker `i` could not start: forgets its link.
    pub(crate) fn abandon(&self, i: usize) {
        self.lock().workers[i].link = None;
    }

    /// Worker `i` is up on `link` (its initializer ran): it takes jobs from now on.
    pub(crate) fn up(&self, i: usize, link: Arc<dyn WorkerLink>) {
        let mut st = self.lock();
        st.workers[i] = Load {
            pid: link.id(),
            link: Some(link),
            live: true,
            ..Load::default()
        };
        self.dispatch(st);
    }

    /// What worker `i`'s supervisor does next. Also wakes `finish` if the reply just delivered was
    /// the last work of the pool.
    pub(crate) fn next(&self, i: usize) -> Next {
        let mut st = self.lock();
        self.notify_if_drained(&st);
        if let Some(since) = st.inflight(i).front().map(|job| job.since) {
            return Next::Busy(self.config.task_timeout.map(|t| since + t));
        }
        let load = &st.workers[i];
        if self.is_terminated() || st.exiting {
            Next::Shutdown
        } else if load.inflight == 0 && self.config.maxtasksperchild.is_some_and(|m| load.sent >= m)
        {
            Next::Retire
        } else {
            Next::Idle
        }
    }

    /// A reply from worker `i` arrived at `now`: takes back the job it answers (the oldest in
    /// flight; `None` if there is none) for the caller to deliver, starts the clock of the next
    /// one, and refills the worker before the reply is decoded, so that it does not sit idle
    /// meanwhile (while it still holds many jobs, they wait to go out together).
    pub(crate) fn complete(&self, i: usize, now: Instant) -> Option<Job> {
        let mut st = self.lock();
        let job = {
            let mut queue = st.inflight(i);
            let job = queue.pop_front();
            if let Some(next) = queue.front_mut() {
                next.since = now;
            }
            job
        }?;
        st.workers[i].done(
            job.kind,
            job.frame.len(),
            Some(
                now.saturating_duration_since(job.since)
                    .saturating_sub(self.transport.latency()),
            ),
        );
        if st.workers[i].inflight <= self.prefetch / 2 {
            self.dispatch(st);
        }
        Some(job)
    }

    /// Worker `i` is over (its link ended, it timed out, retired, or the pool shuts down): takes it
    /// out of service. In one critical section the jobs queued behind its current one go back to the
    /// front of the queue as its count drops to zero, so that `finish` never sees the pool drained
    /// while they are in nobody's hands; under `terminate` they fail instead (it has emptied the
    /// queue already, or empties it after this). The jobs taken back go to the other workers at
    /// once, not after this one is reaped.
    pub(crate) fn take_down(&self, i: usize) -> Down {
        let mut st = self.lock();
        let terminated = self.is_terminated();
        let (running, behind) = {
            let mut queue = st.inflight(i);
            (queue.pop_front(), queue.drain(..).collect::<Vec<Job>>())
        };
        let load = &mut st.workers[i];
        let pid = load.pid;
        load.link = None;
        load.live = false;
        load.inflight = 0;
        load.bytes = 0;
        let exiting = st.exiting;
        let dropped = if terminated {
            behind
        } else {
            for job in behind.into_iter().rev() {
                st.pending.push_front(job);
            }
            Vec::new()
        };
        if terminated || exiting {
            drop(st);
        } else {
            self.dispatch(st);
        }
        fail_all(dropped, &closed_error());
        Down {
            running,
            pid,
            terminated,
            exiting,
        }
    }

    /// After a worker went down and its job failed: wakes `finish` if that was the last work, and
    /// says whether to start a replacement — not once the pool is finishing, and then what is left
    /// in the queue fails, since no worker would run it.
    pub(crate) fn may_replace(&self, exiting: bool) -> bool {
        let mut st = self.lock();
        self.notify_if_drained(&st);
        if !(exiting || st.exiting) {
            return true;
        }
        let left: Vec<Job> = st.pending.drain(..).collect();
        self.notify_if_drained(&st);
        drop(st);
        fail_all(left, &closed_error());
        false
    }

    /// A replacement could not start (`why`): the pool starts no more workers; the jobs waiting
    /// fail with that error, and so does every later `submit`.
    pub(crate) fn break_down(&self, why: Error) {
        let mut st = self.lock();
        if !self.is_terminated() && st.broken.is_none() {
            st.broken = Some(why);
        }
        let err = st.broken.clone().unwrap_or_else(closed_error);
        let dropped: Vec<Job> = st.pending.drain(..).collect();
        self.notify_if_drained(&st);
        drop(st);
        fail_all(dropped, &err);
    }

    // ---- dispatch ----

    /// Wakes `finish` if the pool has no work left.
    fn notify_if_drained(&self, st: &State) {
        if st.is_drained() {
            self.drained.notify_all();
        }
    }

    /// Sends pending jobs to workers with room until none is left or no worker has room: one job at a
    /// time to the least loaded worker, then each worker's share in one write (a job with descriptors
    /// goes in a write of its own).
    fn dispatch<'a>(&'a self, mut st: Locked<'a>) {
        let max = self.config.maxtasksperchild;
        loop {
            // Deal the queue's head out, job by job, counting each in its worker's load.
            let mut shares: Vec<(usize, u32, Vec<Job>)> = Vec::new();
            while let Some(front) = st.pending.front() {
                let (kind, size, alone) = (front.kind, front.frame.len(), !front.fds.is_empty());
                if alone && !shares.is_empty() {
                    break;
                }
                let pick = st
                    .workers
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.has_room(kind, size, max, self.prefetch))
                    .min_by_key(|(_, l)| l.inflight)
                    .map(|(i, _)| i);
                let Some(i) = pick else { break };
                let Some(job) = st.pending.pop_front() else {
                    break;
                };
                let load = &mut st.workers[i];
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
            // Each share leaves in one write; the state is released meanwhile, so more may have
            // queued up by the time the round ends: deal again.
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
        st: Locked<'a>,
        i: usize,
        pid: u32,
        mut jobs: Vec<Job>,
    ) -> Locked<'a> {
        let load = &st.workers[i];
        let link = match &load.link {
            Some(link) if load.live && load.pid == pid => link.clone(),
            // Its supervisor took the worker down (and reset its count) after the jobs were counted.
            _ => return self.requeue(st, jobs),
        };
        // The queue is locked before the state is released: the jobs join it in their wire order,
        // and `take_down` (state, then queue) waits until they are on the wire or given back.
        let mut queue = st.hand_over(i);
        let was_idle = queue.is_empty();
        let now = Instant::now();
        for job in &mut jobs {
            job.since = now;
        }
        let sent = match jobs.as_slice() {
            [job] => {
                let fds: Vec<_> = job.fds.iter().map(|f| f.as_fd()).collect();
                link.send(&job.frame, &fds)
            }
            jobs => link.send_many(&mut jobs.iter().map(|j| j.frame.as_slice())),
        };
        let err = match sent {
            Ok(()) => {
                queue.extend(jobs);
                drop(queue);
                // An idle supervisor under `task_timeout` waits without a deadline: wake it, so that
                // it receives with this job's.
                if was_idle && self.config.task_timeout.is_some() {
                    link.wake();
                }
                return self.lock();
            }
            Err(e) => e,
        };
        // Frames are checked when they are built (`chunk::task_frame`); a refusal of the frame itself
        // still fails only its jobs.
        let of_the_jobs = matches!(
            err.kind(),
            ErrorKind::InvalidInput | ErrorKind::MessageTooLarge { .. }
        );
        if !of_the_jobs {
            // The link is broken but the worker may live on: kill it, so that its supervisor sees
            // the end of the link and replaces it.
            link.kill();
        }
        drop(queue);
        let mut st = self.lock();
        let load = &mut st.workers[i];
        if load.pid == pid {
            for job in &jobs {
                load.done(job.kind, job.frame.len(), None);
            }
            if !of_the_jobs {
                load.live = false;
            }
        }
        if of_the_jobs || self.is_terminated() {
            let why = if of_the_jobs { err } else { closed_error() };
            self.notify_if_drained(&st);
            drop(st);
            fail_all(jobs, &why);
            return self.lock();
        }
        self.requeue(st, jobs)
    }

    /// Puts undelivered `jobs` back at the front of the queue, or fails them if the pool was
    /// terminated (which empties the queue once).
    fn requeue<'a>(&'a self, mut st: Locked<'a>, jobs: Vec<Job>) -> Locked<'a> {
        if self.is_terminated() {
            drop(st);
            fail_all(jobs, &closed_error());
            return self.lock();
        }
        for job in jobs.into_iter().rev() {
            st.pending.push_front(job);
        }
        st
    }
}
