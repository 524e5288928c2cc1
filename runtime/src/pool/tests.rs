//! The scheduler and the supervisor threads over a transport of threads instead of processes: what
//! a second implementation of [`Transport`] looks like (an MPI backend would be one), and the
//! supervision protocol checked without starting a process.

use super::result::{AsyncResult, Cell};
use super::sched::{Config, Job, Scheduler};
use super::sink::OneShot;
use super::supervisor;
use super::transport::{OnFrame, Transport, WorkerLink};
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::poison::{self, lock};
use crate::protocol::child::{self as protocol, Outcome, Report};
use crate::protocol::pool::{self as wire, Request};
use std::collections::VecDeque;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The item a fake worker dies on, without answering.
const DIE: u64 = 13;

/// One direction of a link: frames in order, an end, and (for the parent's side) a wake-up flag.
#[derive(Default)]
struct Pipe {
    state: Mutex<PipeState>,
    changed: Condvar,
}

#[derive(Default)]
struct PipeState {
    frames: VecDeque<Vec<u8>>,
    closed: bool,
    woken: bool,
}

impl Pipe {
    fn push(&self, frame: &[u8]) -> Result<()> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(Error::disconnected("the fake worker is gone"));
        }
        st.frames.push_back(frame.to_vec());
        self.changed.notify_all();
        Ok(())
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// The next frame, `Ok(None)` once woken (when `wakeable`), `Disconnected` at the end.
    fn pop(&self, deadline: Option<Instant>, wakeable: bool) -> Result<Option<Vec<u8>>> {
        let mut st = lock(&self.state);
        loop {
            if let Some(frame) = st.frames.pop_front() {
                return Ok(Some(frame));
            }
            if st.closed {
                return Err(Error::disconnected("the fake worker is gone"));
            }
            if wakeable && std::mem::take(&mut st.woken) {
                return Ok(None);
            }
            st = match deadline {
                None => poison::wait(&self.changed, st),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::timeout("fake recv", Duration::ZERO));
                    }
                    poison::wait_timeout(&self.changed, st, left)
                }
            };
        }
    }
}

struct ThreadLink {
    id: u32,
    to_worker: Arc<Pipe>,
    from_worker: Arc<Pipe>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl WorkerLink for ThreadLink {
    fn id(&self) -> u32 {
        self.id
    }

    fn send(&self, frame: &[u8], _fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.to_worker.push(frame)
    }

    fn send_many(&self, frames: &mut dyn Iterator<Item = &[u8]>) -> Result<()> {
        for frame in frames {
            self.to_worker.push(frame)?;
        }
        Ok(())
    }

    fn recv(&self, deadline: Option<Instant>, f: &mut OnFrame<'_>) -> Result<()> {
        loop {
            if let Some(frame) = self.from_worker.pop(deadline, false)? {
                return f(&frame, Vec::new());
            }
        }
    }

    fn wait(&self) -> Result<bool> {
        let mut st = lock(&self.from_worker.state);
        loop {
            if !st.frames.is_empty() || st.closed {
                return Ok(true);
            }
            if std::mem::take(&mut st.woken) {
                return Ok(false);
            }
            st = poison::wait(&self.from_worker.changed, st);
        }
    }

    fn wake(&self) {
        lock(&self.from_worker.state).woken = true;
        self.from_worker.changed.notify_all();
    }

    fn kill(&self) {
        self.to_worker.close();
        self.from_worker.close();
    }

    fn reap(&self, _grace: Duration) -> Option<Error> {
        let thread = lock(&self.thread).take()?;
        let _ = thread.join();
        None
    }
}

/// Workers as threads that square `u64`s, and die (close their link) on [`DIE`].
#[derive(Default)]
struct Threads {
    started: AtomicU32,
}

impl Transport for Threads {
    fn start(&self, _index: usize, _has_init: bool) -> Result<Arc<dyn WorkerLink>> {
        let (to_worker, from_worker) = (Arc::new(Pipe::default()), Arc::new(Pipe::default()));
        let (inbox, outbox) = (to_worker.clone(), from_worker.clone());
        let thread = std::thread::spawn(move || fake_worker(&inbox, &outbox));
        Ok(Arc::new(ThreadLink {
            id: 1000 + self.started.fetch_add(1, Ordering::SeqCst),
            to_worker,
            from_worker,
            thread: Mutex::new(Some(thread)),
        }))
    }
}

fn fake_worker(inbox: &Pipe, outbox: &Pipe) {
    let mut up = Vec::new();
    let unit = codec::encode(&()).ok();
    if protocol::encode_report_into((Report::Ok, unit), &mut up, &mut Vec::new()).is_err()
        || outbox.push(&up).is_err()
    {
        return;
    }
    while let Ok(Some(frame)) = inbox.pop(None, false) {
        let Ok(Request::Chunk { items, .. }) = Request::parse(&frame) else {
            break;
        };
        let Ok(items) = codec::decode::<Vec<(u64,)>>(items, Vec::<OwnedFd>::new()) else {
            break;
        };
        if items.iter().any(|&(x,)| x == DIE) {
            break;
        }
        let outcomes: Vec<Outcome<u64>> = items.iter().map(|&(x,)| Outcome::Ok(x * x)).collect();
        let mut reply = Vec::new();
        wire::begin_outcomes(&mut reply);
        if codec::encode_into(&outcomes, &mut reply, &mut Vec::new()).is_err()
            || outbox.push(&reply).is_err()
        {
            break;
        }
    }
    outbox.close();
}

fn square_job(x: u64) -> (Job, AsyncResult<u64>) {
    let mut frame = wire::chunk_prefix("square").unwrap();
    codec::encode_into([(x,)].as_slice(), &mut frame, &mut Vec::new()).unwrap();
    let cell = Arc::new(Cell::new(None));
    let kind = super::sched::kind_of(&wire::chunk_prefix("square").unwrap());
    let job = Job::new(
        kind,
        frame,
        Vec::new(),
        Arc::new(OneShot(cell.clone())),
        0,
        1,
    );
    (job, AsyncResult::new(cell))
}

fn start(
    processes: usize,
    task_timeout: Option<Duration>,
) -> (Arc<Scheduler>, Vec<JoinHandle<()>>) {
    let config = Config {
        processes,
        maxtasksperchild: None,
        task_timeout,
        init: None,
    };
    let sched = Arc::new(Scheduler::new(config, Box::new(Threads::default())));
    let threads = (0..processes)
        .map(|i| {
            let link = supervisor::start_worker(&sched, i).unwrap();
            let sched = sched.clone();
            std::thread::spawn(move || supervisor::supervise(sched, i, link))
        })
        .collect();
    (sched, threads)
}

#[test]
fn a_dying_worker_fails_only_its_job_and_is_replaced() {
    let (sched, threads) = start(2, Some(Duration::from_secs(30)));
    let first = sched.pids();
    let (jobs, cells): (Vec<Job>, Vec<_>) = (0..40).map(square_job).unzip();
    sched.submit(jobs).unwrap();
    for (x, cell) in (0..40u64).zip(&cells) {
        let got = cell.get_timeout(Duration::from_secs(30));
        if x == DIE {
            let e = got.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::Disconnected, "{e:?}");
        } else {
            assert_eq!(got.unwrap(), x * x);
        }
    }
    // The replacement starts after the dead worker's job has failed: wait for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let replaced = |now: &[u32]| now.len() == 2 && now.iter().any(|p| !first.contains(p));
    while !replaced(&sched.pids()) {
        assert!(
            Instant::now() < deadline,
            "no replacement: {:?}",
            sched.pids()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    sched.close();
    sched.finish().unwrap();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn terminate_fails_what_is_left_as_closed() {
    let (sched, threads) = start(1, None);
    let (job, cell) = square_job(3);
    sched.submit([job]).unwrap();
    assert_eq!(cell.get_timeout(Duration::from_secs(30)).unwrap(), 9);
    sched.terminate();
    for t in threads {
        t.join().unwrap();
    }
    let e = sched.submit([square_job(4).0]).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Closed);
    assert!(sched.pids().is_empty());
}
