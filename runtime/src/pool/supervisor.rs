//! One thread per worker: starts the worker process (and its replacements), receives its results and
//! hands them to their sinks, sends it its next job, and notices its end — the end of its channel when
//! it dies (SIGKILL, abort, OOM), the deadline of its task under `task_timeout` — without polling:
//! it blocks in `recv` on the worker's channel, or, when idle under a timeout, in `poll` on the channel
//! and a wake-up socket.

use super::sched::{Core, Job, Load, PREFETCH, closed_error, lock};
use super::worker;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::process::ProcessBuilder;
use crate::protocol::child as protocol;
use crate::sys;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker that was told to leave, or whose channel closed, gets to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A worker gets more jobs when it holds this many or fewer: refilled by half its queue at a time,
/// the jobs leave in one write, and it reads them in one.
const REFILL_AT: usize = PREFETCH / 2;

/// Why a worker's service ended.
enum End {
    /// Its channel closed: it died, or left after being told to.
    Closed,
    /// Receiving from it failed otherwise (a frame that cannot be read): kill and replace it.
    Broken(Error),
    /// Its current task outlived `task_timeout`.
    Timeout,
    /// It reached `maxtasksperchild` and is idle: replace it.
    Retire,
    /// The pool is shutting down (`join` or `terminate`).
    Shutdown,
}

/// Starts worker `i`, runs the initializer there, and registers it with the scheduler.
pub(crate) fn start_worker(core: &Core, i: usize) -> Result<Arc<Channel>> {
    let (mine, theirs) = Channel::pair()?;
    let has_init = core.config.init.is_some();
    let mut process = ProcessBuilder::default()
        .name(format!("PoolWorker-{}", i + 1))
        .spawn_entry::<_, ()>(worker::ENTRY, (theirs, has_init))?;
    let pid = process.pid();
    let slot = &core.slots[i];
    if core.is_terminated() {
        let _ = process.kill();
        return Err(closed_error());
    }
    *lock(&slot.process) = Some(process);
    if core.is_terminated() {
        if let Some(p) = lock(&slot.process).as_mut() {
            let _ = p.kill();
        }
    }
    if let Some((frame, fds)) = &core.config.init {
        let fds: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        // A worker that died before reading it is reported by the receive below.
        let _ = mine.send_raw(frame, &fds);
    }
    let ack = mine.recv_with(None, |frame, fds| {
        Ok(protocol::decode_report::<()>(frame.bytes(), fds))
    });
    let failure = match ack {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Error::new(
            e.kind().clone(),
            format!(
                "the pool's initializer failed in worker pid {pid}: {e}; the pool starts no more workers"
            ),
        )),
        Err(_) => {
            let taken = lock(&slot.process).take();
            let why = match taken {
                Some(mut p) => match p.join_timeout(EXIT_GRACE) {
                    Err(e) => e,
                    Ok(()) => Error::disconnected("it closed its channel"),
                },
                None => closed_error(),
            };
            Some(Error::new(
                why.kind().clone(),
                format!("a pool worker could not start: {why}"),
            ))
        }
    };
    if let Some(e) = failure {
        drop(lock(&slot.process).take());
        return Err(e);
    }
    let chan = Arc::new(mine);
    let mut st = lock(&core.state);
    st.load[i] = Load {
        live: true,
        inflight: 0,
        bytes: 0,
        quick: false,
        sent: 0,
        pid,
    };
    lock(&slot.io).chan = Some(chan.clone());
    drop(st);
    Ok(chan)
}

/// The supervisor thread of worker `i`, whose first process is already up on `chan`.
pub(crate) fn supervise(core: Arc<Core>, i: usize, mut chan: Arc<Channel>) {
    loop {
        let end = serve(&core, i, &chan);
        let slot = &core.slots[i];
        let process = lock(&slot.process).take();
        // In one critical section: the jobs queued behind the current one go back to the front of
        // the queue as this worker's count drops to zero, so that `join` never sees the pool drained
        // while they are in nobody's hands. Under `terminate` they fail instead (it has emptied the
        // queue already, or empties it after this).
        let mut st = lock(&core.state);
        let pid = st.load[i].pid;
        let terminated = core.is_terminated();
        let (head, dropped) = {
            let mut io = lock(&slot.io);
            io.chan = None;
            let head = io.inflight.pop_front();
            let rest: Vec<Job> = io.inflight.drain(..).collect();
            if terminated {
                (head, rest)
            } else {
                for job in rest.into_iter().rev() {
                    st.pending.push_front(job);
                }
                (head, Vec::new())
            }
        };
        st.load[i].live = false;
        st.load[i].inflight = 0;
        st.load[i].bytes = 0;
        let exiting = st.exiting;
        if terminated || exiting {
            drop(st);
        } else {
            // Jobs taken back go to the other workers now, not after this one is reaped.
            core.dispatch(st);
        }
        Core::fail_jobs(dropped, &closed_error);
        let failure: Option<(ErrorKind, String)> = match end {
            End::Retire | End::Shutdown => {
                let _ = chan.send_raw(&[worker::EXIT], &[]);
                finish(process, false);
                None
            }
            End::Timeout => {
                finish(process, true);
                let t = core.config.task_timeout.unwrap_or_default();
                Some((
                    ErrorKind::Timeout,
                    format!(
                        "the task ran longer than the pool's task_timeout of {t:?}; its worker (pid {pid}) \
                         was killed and replaced"
                    ),
                ))
            }
            End::Broken(e) => {
                finish(process, true);
                Some((
                    e.kind().clone(),
                    format!(
                        "receiving from pool worker pid {pid} failed: {}; it was killed and replaced",
                        e.message()
                    ),
                ))
            }
            End::Closed => {
                finish(process, false).map(|e| (e.kind().clone(), e.message().to_string()))
            }
        };
        if terminated || core.is_terminated() {
            Core::fail_jobs(head, &closed_error);
            return;
        }
        if let Some(head) = head {
            let (kind, msg) = failure.unwrap_or_else(|| {
                (
                    ErrorKind::Disconnected,
                    format!("pool worker pid {pid} closed its channel while running this task"),
                )
            });
            Core::fail_jobs([head], &|| Error::new(kind.clone(), msg.clone()));
        }
        let mut st = lock(&core.state);
        // The failed task may have been the last one `join` waits for.
        core.notify_if_drained(&st);
        if exiting || st.exiting {
            // No worker is replaced any more: what is left in the queue would never run.
            let left: Vec<Job> = st.pending.drain(..).collect();
            core.notify_if_drained(&st);
            drop(st);
            Core::fail_jobs(left, &closed_error);
            return;
        }
        drop(st);
        match start_worker(&core, i) {
            Ok(c) => {
                chan = c;
                core.dispatch(lock(&core.state));
            }
            Err(e) => {
                let mut st = lock(&core.state);
                if !core.is_terminated() && st.broken.is_none() {
                    st.broken = Some((e.kind().clone(), e.message().to_string()));
                }
                let (kind, msg) = st
                    .broken
                    .clone()
                    .unwrap_or_else(|| (ErrorKind::Closed, closed_error().message().to_string()));
                let dropped: Vec<Job> = st.pending.drain(..).collect();
                core.notify_if_drained(&st);
                drop(st);
                Core::fail_jobs(dropped, &|| Error::new(kind.clone(), msg.clone()));
                return;
            }
        }
    }
}

/// Reaps a worker that is over (killing it first if asked, or if it does not leave in time); returns
/// how it ended when that was a failure.
fn finish(process: Option<crate::process::Process<()>>, kill: bool) -> Option<Error> {
    let mut p = process?;
    if kill {
        let _ = p.kill();
    }
    match p.join_timeout(EXIT_GRACE) {
        Ok(()) => None,
        Err(e) if e.is_timeout() => {
            let _ = p.kill();
            None
        }
        Err(e) => Some(e),
    }
}

/// Receives worker `i`'s results until it ends.
fn serve(core: &Core, i: usize, chan: &Channel) -> End {
    let slot = &core.slots[i];
    let timeout = core.config.task_timeout;
    loop {
        let (idle, deadline) = {
            let io = lock(&slot.io);
            let head = io.inflight.front();
            (
                head.is_none(),
                head.and_then(|j| timeout.map(|t| j.since + t)),
            )
        };
        if idle {
            if core.is_terminated() {
                return End::Shutdown;
            }
            {
                let st = lock(&core.state);
                if st.exiting {
                    return End::Shutdown;
                }
                let load = &st.load[i];
                if load.inflight == 0
                    && core.config.maxtasksperchild.is_some_and(|m| load.sent >= m)
                {
                    return End::Retire;
                }
            }
            if timeout.is_some() {
                match sys::socket::poll_readable([chan.socket(), slot.wake_rx.as_fd()], -1) {
                    Ok([chan_ready, woken]) => {
                        if woken {
                            sys::socket::drain(slot.wake_rx.as_fd());
                        }
                        if !chan_ready {
                            continue;
                        }
                    }
                    Err(_) => return End::Closed,
                }
            }
        }
        let received = chan.recv_with(deadline, |frame, fds| {
            let now = Instant::now();
            let job = {
                let mut io = lock(&slot.io);
                let job = io.inflight.pop_front();
                if let Some(next) = io.inflight.front_mut() {
                    next.since = now;
                }
                job
            };
            let Some(job) = job else {
                return Err(Error::codec("pool worker sent a result nobody asked for"));
            };
            // The worker's next jobs go out before this one's results are decoded, so that it does
            // not sit idle meanwhile; while it still holds many, they wait to go out together.
            let mut st = lock(&core.state);
            st.load[i].done(
                job.frame.len(),
                Some(now.saturating_duration_since(job.since)),
            );
            // The lock is released before the sink runs: it may run a user callback, which may
            // call into the pool.
            if st.load[i].inflight <= REFILL_AT {
                core.dispatch(st);
            } else {
                drop(st);
            }
            job.sink.deliver(job.start, job.count, frame.bytes(), fds);
            Ok(job)
        });
        match received {
            Ok(job) => {
                drop(job);
                core.notify_if_drained(&lock(&core.state));
            }
            Err(e) if e.is_timeout() => return End::Timeout,
            Err(e) if e.is_disconnected() => return End::Closed,
            Err(e) => return End::Broken(e),
        }
    }
}
