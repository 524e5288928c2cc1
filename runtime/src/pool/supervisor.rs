//! One thread per worker: starts the worker (and its replacements) through the scheduler's
//! transport, receives its results and hands them to their sinks, sends it its next jobs, and notices
//! its end — the end of its link when it dies (SIGKILL, abort, OOM), the deadline of its task under
//! `task_timeout` — without polling: it blocks in [`WorkerLink::recv`], or, when idle under a
//! timeout, in [`WorkerLink::wait`], which a new job or a shutdown ends.
//!
//! The thread changes no shared state itself: it tells the [`Scheduler`] what happened
//! (`complete`, `take_down`, ...) and runs what comes back — sinks, reaping, a replacement — with no
//! lock held.

use super::sched::{Next, Scheduler, closed_error};
use super::transport::WorkerLink;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::child as protocol;
use crate::protocol::pool::EXIT_FRAME;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker that was told to leave, or whose link closed, gets to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Why a worker's service ended.
enum End {
    /// Its link closed: it died, or left after being told to.
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

/// Starts worker `i`, runs the initializer there, and puts it in service.
pub(crate) fn start_worker(sched: &Scheduler, i: usize) -> Result<Arc<dyn WorkerLink>> {
    // Registered from here on: `terminate` can kill it while it starts.
    let link = sched.launch(i)?;
    let pid = link.id();
    if let Some((frame, fds)) = &sched.config().init {
        let fds: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
        // A worker that died before reading it is reported by the receive below.
        let _ = link.send(frame, &fds);
    }
    // Its first frame is one report: the initializer's outcome, or, without one, that it is up.
    let mut report = None;
    let received = link.recv(None, &mut |frame, fds| {
        report = Some(protocol::decode_report::<()>(frame, fds));
        Ok(())
    });
    let failure = match (received, report) {
        (Ok(()), Some(Ok(()))) => None,
        // The initializer failed (its error, a panic, keeps its kind), or, without one, the worker
        // could not set itself up (it reports why): no respawn storm, the pool starts no more
        // workers.
        (_, Some(Err(e))) => {
            let what = match sched.config().init {
                Some(_) => "the pool's initializer failed",
                None => "a pool worker could not start",
            };
            Some(
                Error::new(
                    e.kind().clone(),
                    format!("{what} in worker pid {pid} (the pool starts no more workers)"),
                )
                .with_source(e),
            )
        }
        // It never answered: how it ended says why.
        _ => {
            let why = link
                .reap(EXIT_GRACE)
                .unwrap_or_else(|| Error::disconnected("it closed its channel"));
            Some(Error::new(why.kind().clone(), "a pool worker could not start").with_source(why))
        }
    };
    if let Some(e) = failure {
        // Dropping the last handle on the link kills and reaps whatever is left of the worker.
        sched.abandon(i);
        return Err(e);
    }
    sched.up(i, link.clone());
    Ok(link)
}

/// The supervisor thread of worker `i`, whose first worker is already up on `link`.
pub(crate) fn supervise(sched: Arc<Scheduler>, i: usize, mut link: Arc<dyn WorkerLink>) {
    loop {
        let end = serve(&sched, i, &*link);
        // Out of service first (the jobs queued behind its current one go to the other workers
        // now); then the worker is told to leave or killed, and reaped, with no lock held.
        let down = sched.take_down(i);
        let pid = down.pid;
        let failure: Option<Error> = match end {
            End::Retire | End::Shutdown => {
                let _ = link.send(EXIT_FRAME, &[]);
                link.reap(EXIT_GRACE);
                None
            }
            End::Timeout => {
                link.kill();
                link.reap(EXIT_GRACE);
                let t = sched.config().task_timeout.unwrap_or_default();
                Some(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the task ran longer than the pool's task_timeout of {t:?}; its worker (pid {pid}) \
                         was killed and replaced"
                    ),
                ))
            }
            End::Broken(e) => {
                link.kill();
                link.reap(EXIT_GRACE);
                Some(
                    Error::new(
                        e.kind().clone(),
                        format!(
                            "receiving from pool worker pid {pid} failed; it was killed and replaced"
                        ),
                    )
                    .with_source(e),
                )
            }
            // Its exit status names the signal (`WorkerDied`), if it did not leave cleanly.
            End::Closed => link.reap(EXIT_GRACE),
        };
        // Under `terminate` the running job fails as `Closed`, whatever ended its worker, and nothing
        // is replaced.
        if down.terminated || sched.is_terminated() {
            if let Some(job) = down.running {
                job.fail(&closed_error());
            }
            return;
        }
        if let Some(job) = down.running {
            let why = failure.unwrap_or_else(|| {
                Error::disconnected(format!(
                    "pool worker pid {pid} closed its channel while running this task"
                ))
            });
            job.fail(&why);
        }
        if !sched.may_replace(down.exiting) {
            return;
        }
        match start_worker(&sched, i) {
            Ok(next) => link = next,
            Err(e) => {
                // A failing initializer (or a failing start) stops the pool from starting workers:
                // the jobs waiting for this one fail with its error.
                sched.break_down(e);
                return;
            }
        }
    }
}

/// Receives worker `i`'s results until it ends.
fn serve(sched: &Scheduler, i: usize, link: &dyn WorkerLink) -> End {
    let with_timeout = sched.config().task_timeout.is_some();
    loop {
        let deadline = match sched.next(i) {
            Next::Shutdown => return End::Shutdown,
            Next::Retire => return End::Retire,
            Next::Busy(deadline) => deadline,
            Next::Idle => {
                // Without a timeout an idle worker is simply received from (its next reply, or its
                // end). Under one, the next job's deadline is not known yet: wait until a frame is
                // ready or a sender wakes us with a job, then look again.
                if with_timeout {
                    match link.wait() {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(_) => return End::Closed,
                    }
                }
                None
            }
        };
        let received = link.recv(deadline, &mut |reply, fds| {
            // The job this reply answers is the oldest in flight; the scheduler refills the worker
            // before the reply is decoded here, in place, by the job's sink.
            let job = sched
                .complete(i, Instant::now())
                .ok_or_else(|| Error::codec("pool worker sent a result nobody asked for"))?;
            job.deliver(reply, fds);
            Ok(())
        });
        match received {
            Ok(()) => {}
            Err(e) if e.is_timeout() => return End::Timeout,
            Err(e) if e.is_disconnected() => return End::Closed,
            Err(e) => return End::Broken(e),
        }
    }
}
