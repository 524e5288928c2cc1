//! The one thread that makes every MPI call of a process: it initializes MPI, sends what the other
//! threads queue (non-blocking sends, so a large message never waits for its receiver while this
//! thread could be receiving), hands each message that arrives to a callback, and finalizes MPI at the
//! end.
//!
//! MPI has no descriptor to sleep on: the thread polls. While messages flow, and for [`HOT`] after
//! the last one, it polls without sleeping (yielding the core between rounds), so a reply or the next
//! task of a busy pool is seen within microseconds; idle longer, it sleeps on a condition variable
//! for 20 µs doubling to 1 ms. A queued send wakes it at once, so only an arrival after a quiet spell
//! waits for the next round.

use crate::error::{Error, ErrorKind, Result};
use crate::poison::lock;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{Destination, MatchedReceiveVec, Source};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the service thread calls with each message that arrives: the sender's rank and the bytes.
pub(super) type OnMessage = Box<dyn FnMut(i32, Vec<u8>) + Send>;

/// The longest idle sleep between two polls.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);
/// The first idle sleep, once [`HOT`] has passed without a message.
const FIRST_IDLE_SLEEP: Duration = Duration::from_micros(20);
/// How long after the last message the thread keeps polling without sleeping.
const HOT: Duration = Duration::from_millis(5);

/// A handle on the service thread.
pub(super) struct Service {
    size: i32,
    outbox: Mutex<VecDeque<(i32, Vec<u8>)>>,
    bell: Condvar,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Service {
    /// Starts the thread, which initializes MPI; returns once it has (with the world's size), or with
    /// why it could not.
    pub(super) fn start(on_message: OnMessage) -> Result<Arc<Service>> {
        let (tx, rx) = std::sync::mpsc::channel::<Result<Arc<Service>>>();
        let thread = std::thread::Builder::new()
            .name("multiproc-mpi".into())
            .spawn(move || run(on_message, tx))
            .map_err(|e| Error::io("could not start the MPI thread", e))?;
        let service = rx.recv().map_err(|_| {
            Error::new(
                ErrorKind::Disconnected,
                "the MPI thread ended while initializing MPI",
            )
        })??;
        *lock(&service.thread) = Some(thread);
        Ok(service)
    }

    pub(super) fn size(&self) -> i32 {
        self.size
    }

    /// Queues `message` for rank `dest`; the thread sends it at once.
    pub(super) fn send(&self, dest: i32, message: Vec<u8>) {
        lock(&self.outbox).push_back((dest, message));
        self.bell.notify_one();
    }

    /// Sends what is queued, waits for every send to complete, finalizes MPI and ends the thread.
    /// Idempotent.
    pub(super) fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.bell.notify_one();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// A send in progress and the buffer it reads, which MPI owns until the send completes.
struct InFlight {
    request: Request<'static, [u8], StaticScope>,
    buffer: *mut [u8],
}

fn run(mut on_message: OnMessage, started: std::sync::mpsc::Sender<Result<Arc<Service>>>) {
    // Only this thread calls MPI: FUNNELED is all it needs.
    let Some((universe, _level)) = mpi::initialize_with_threading(mpi::Threading::Funneled) else {
        let _ = started.send(Err(Error::new(
            ErrorKind::InvalidInput,
            "MPI was initialized already in this process: multiproc's MPI backend initializes it \
             itself (do not call mpi::initialize in a program that uses it)",
        )));
        return;
    };
    let world = universe.world();
    let service = Arc::new(Service {
        size: world.size(),
        outbox: Mutex::new(VecDeque::new()),
        bell: Condvar::new(),
        stop: AtomicBool::new(false),
        thread: Mutex::new(None),
    });
    if started.send(Ok(service.clone())).is_err() {
        return;
    }
    drop(started);
    serve(&service, &world, &mut on_message);
    drop(world);
    // MPI_Finalize, on this thread, the one that initialized it.
    drop(universe);
}

fn serve(service: &Service, world: &SimpleCommunicator, on_message: &mut OnMessage) {
    let mut in_flight: Vec<InFlight> = Vec::new();
    // Reused every round, so that a busy loop does not allocate: the queue taken from the outbox
    // (swapped with it under the lock) and the sends still in flight after a round of tests.
    let mut batch: VecDeque<(i32, Vec<u8>)> = VecDeque::new();
    let mut still: Vec<InFlight> = Vec::new();
    let mut last_activity = std::time::Instant::now();
    let mut naps = 0u32;
    loop {
        let mut busy = false;
        std::mem::swap(&mut batch, &mut *lock(&service.outbox));
        for (dest, message) in batch.drain(..) {
            busy = true;
            let buffer: &'static mut [u8] = Box::leak(message.into_boxed_slice());
            let ptr: *mut [u8] = buffer;
            let request = world
                .process_at_rank(dest)
                .immediate_send(StaticScope, &*buffer);
            in_flight.push(InFlight {
                request,
                buffer: ptr,
            });
        }
        if !in_flight.is_empty() {
            for send in in_flight.drain(..) {
                match send.request.test() {
                    Ok(_) => {
                        busy = true;
                        // SAFETY: the send completed, so MPI no longer reads the buffer, and the
                        // request that borrowed it is gone; `buffer` came from `Box::leak` above and is
                        // freed once, here.
                        drop(unsafe { Box::from_raw(send.buffer) });
                    }
                    Err(request) => still.push(InFlight {
                        request,
                        buffer: send.buffer,
                    }),
                }
            }
            std::mem::swap(&mut in_flight, &mut still);
        }
        while let Some(probed) = world.any_process().immediate_matched_probe() {
            busy = true;
            let (bytes, status) = probed.matched_receive_vec::<u8>();
            on_message(status.source_rank(), bytes);
        }
        if service.stop.load(Ordering::SeqCst)
            && in_flight.is_empty()
            && lock(&service.outbox).is_empty()
        {
            return;
        }
        if busy {
            last_activity = std::time::Instant::now();
            naps = 0;
            continue;
        }
        if last_activity.elapsed() < HOT || !in_flight.is_empty() {
            // A send in flight needs this thread's calls to progress (a large one waits for its
            // receiver's rendezvous): no sleeping then either.
            std::thread::yield_now();
            continue;
        }
        let nap = (FIRST_IDLE_SLEEP * (1 << naps.min(6))).min(MAX_IDLE_SLEEP);
        naps += 1;
        let outbox = lock(&service.outbox);
        if outbox.is_empty() && !service.stop.load(Ordering::SeqCst) {
            drop(crate::poison::wait_timeout(&service.bell, outbox, nap));
        }
    }
}
