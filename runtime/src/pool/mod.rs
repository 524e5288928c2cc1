//! [`Pool`]: Python's `multiprocessing.Pool` — long-lived worker processes running `#[worker]`
//! functions, with `apply`, `map`, `imap`, `starmap` and their async forms, automatic chunking, and
//! supervision: a worker that panics, dies or outlives `task_timeout` fails only its own task and is
//! replaced; nothing ever hangs (Python does, bpo-22393).
//!
//! - `sched`: the [`Scheduler`](sched::Scheduler), the internal core behind [`Pool`]: pending jobs,
//!   jobs in flight, dispatch, a worker's life; private state behind methods, lock order in its types
//! - `supervisor`: one thread per worker: results, deaths, timeouts, replacements
//! - `transport`: the link to the workers behind two traits (`Transport`, `WorkerLink`); local child
//!   processes over a `Channel` are the first implementation
//! - `worker`: the child side, the loop each local worker process runs
//! - `chunk`: encoding a chunk of tasks, and Python's chunk-size rule (the frames themselves are in
//!   [`crate::protocol::pool`])
//! - `sink`, `result`, `imap`: where results go — [`AsyncResult`], [`IMap`]
//! - `progress`: the terminal progress bar

mod builder;
mod chunk;
mod imap;
#[cfg(feature = "mpi")]
mod mpi;
mod progress;
mod result;
mod sched;
mod sink;
mod supervisor;
#[cfg(test)]
mod tests;
mod transport;
mod worker;

pub use builder::{Backend, PoolBuilder};
pub use imap::IMap;
#[cfg(feature = "mpi")]
pub(crate) use mpi::{MpiGuard, enter as mpi_enter};
pub use result::AsyncResult;
#[cfg(feature = "async")]
pub use result::ResultFuture;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::pool::chunk_prefix;
use crate::registry;
use crate::worker::{MapFn, WorkerFn};
use progress::Progress;
use result::Cell;
use sched::{Job, Scheduler, kind_of};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sink::{MapSink, OneShot};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The number of CPUs this process may use: its CPU affinity mask, capped by a cgroup (v1 or v2) CPU
/// quota when there is one (as `std::thread::available_parallelism` reads them); at least 1. The
/// default size of a [`Pool`]. Python: `os.process_cpu_count()` (plus the cgroup quota).
///
/// ```
/// # extern crate multiproc_runtime as multiproc;
/// assert!(multiproc::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A pool of worker processes. Python: `multiprocessing.Pool`.
///
/// Workers are `#[multiproc::worker]` functions, passed by name; their argument and return types are
/// checked at compile time. Dropping the pool terminates it (Python's `with Pool() as pool:`); call
/// [`close`](Pool::close) and [`join`](Pool::join) to wait for the work instead.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{Pool, worker};
///
/// #[worker]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let pool = Pool::new(4)?;                                  // with Pool(processes=4) as pool:
///     assert_eq!(pool.apply(square, (10,))?, 100);               //     pool.apply(square, (10,))
///     assert_eq!(pool.apply_async(square, (20,))?.get()?, 400);  //     pool.apply_async(square, (20,)).get()
///     assert_eq!(pool.map(square, 0..4)?, [0, 1, 4, 9]);         //     pool.map(square, range(4))
///     for r in pool.imap(square, 0..3) {                         //     for r in pool.imap(square, range(3)):
///         println!("{}", r?);
///     }
///     Ok(())
/// }
/// ```
pub struct Pool {
    /// The internal core, shared with the supervisor threads.
    sched: Arc<Scheduler>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    default_chunksize: Option<usize>,
    progress: bool,
    backend: Backend,
    ranks: usize,
}

impl Pool {
    /// A pool of `processes` workers (see [`cpu_count`] for the usual choice). Python: `Pool(processes)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(multiproc::cpu_count())?;
    /// # Ok(()) }
    /// ```
    pub fn new(processes: usize) -> Result<Pool> {
        Pool::builder().processes(processes).build()
    }

    /// Options: processes, initializer, `maxtasksperchild`, `task_timeout`, chunk size, progress bar.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder()
    ///     .processes(2)
    ///     .maxtasksperchild(100)
    ///     .task_timeout(std::time::Duration::from_secs(30))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// How many workers the pool keeps.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// assert_eq!(multiproc::Pool::new(3)?.processes(), 3);
    /// # Ok(()) }
    /// ```
    pub fn processes(&self) -> usize {
        self.sched.config().processes
    }

    /// Where the workers run: [`Backend::Local`] or [`Backend::Mpi`] (an `Auto` pool says which it
    /// chose).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().backend(multiproc::Backend::Auto).build()?;
    /// println!("backend {:?}", pool.backend()); // Mpi under `mpirun -np 3`, Local under `cargo run`
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The MPI ranks of the job the pool runs on, rank 0 (this process) included: the world's size
    /// for an MPI pool, 1 for a local one.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// The process ids of the workers running now (they change as workers are replaced).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.pids().len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn pids(&self) -> Vec<u32> {
        self.sched.pids()
    }

    /// Runs `f(args..)` in a worker and waits for its value. Python: `pool.apply(f, args)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.apply(square, (10,))?, 100);
    /// # Ok(()) }
    /// ```
    pub fn apply<F, Args>(&self, f: F, args: Args) -> Result<F::Output>
    where
        F: WorkerFn<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.apply_async(f, args)?.get()
    }

    /// Sends `f(args..)` to a worker and returns at once. Python: `pool.apply_async(f, args)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (20,))?;
    /// assert_eq!(r.get()?, 400);
    /// # Ok(()) }
    /// ```
    pub fn apply_async<F, Args>(&self, f: F, args: Args) -> Result<AsyncResult<F::Output>>
    where
        F: WorkerFn<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.apply_inner(f.entry_name(), args, None)
    }

    /// [`apply_async`](Pool::apply_async) with callbacks, run on the pool's supervisor thread when the
    /// task ends (keep them short): `callback` with the value, or `error_callback` with the error.
    /// Python: `pool.apply_async(f, args, callback=.., error_callback=..)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.apply_async_with(square, (7,), move |v| tx.send(*v).unwrap(), |e| eprintln!("{e}"))?;
    /// assert_eq!(rx.recv().unwrap(), 49);
    /// # Ok(()) }
    /// ```
    pub fn apply_async_with<F, Args>(
        &self,
        f: F,
        args: Args,
        callback: impl FnOnce(&F::Output) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<AsyncResult<F::Output>>
    where
        F: WorkerFn<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.apply_inner(f.entry_name(), args, Some(both(callback, error_callback)))
    }

    fn apply_inner<Args: Serialize, R: DeserializeOwned + Send + 'static>(
        &self,
        type_name: &'static str,
        args: Args,
        callback: Option<result::Callback<R>>,
    ) -> Result<AsyncResult<R>> {
        let entry = registry::lookup_fn(type_name)?;
        let prefix = chunk_prefix(entry.name)?;
        let (frame, fds) = chunk::task_frame(
            &prefix,
            std::slice::from_ref(&args),
            chunk::encode_args::<Args>,
            self.sched.carries_fds(),
        )?;
        let cell = Arc::new(Cell::new(callback));
        let sink = Arc::new(OneShot(cell.clone()));
        self.sched
            .submit([Job::new(kind_of(&prefix), frame, fds, sink, 0, 1)])?;
        Ok(AsyncResult::new(cell))
    }

    /// `f(x)` for every `x`, in parallel, results in order. Chunked by Python's rule
    /// (`len / (4 * processes)`, at most 32,768, or the pool's `chunksize`). An iterable whose
    /// iterator knows its exact length (a range, a `Vec`, a `map` over one) is read chunk by chunk
    /// as the work goes out; any other is collected first, as Python makes a list of it. Fails with
    /// the first task's error if any fails. Python: `pool.map(f, iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.map(square, 0..10)?, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// # Ok(()) }
    /// ```
    pub fn map<F, A, I>(&self, f: F, iterable: I) -> Result<Vec<F::Output>>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.map_async(f, iterable)?.get()
    }

    /// [`map`](Pool::map) with an explicit chunk size: items sent to a worker per task. Python:
    /// `pool.map(f, iterable, chunksize)`. A chunk size of 0 fails with [`ErrorKind::InvalidInput`]
    /// (Python raises `ValueError`).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.map_chunked(square, 0..4, 1)?, [0, 1, 4, 9]);
    /// # Ok(()) }
    /// ```
    pub fn map_chunked<F, A, I>(
        &self,
        f: F,
        iterable: I,
        chunksize: usize,
    ) -> Result<Vec<F::Output>>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.gather(
            f.entry_name(),
            iterable,
            chunk::encode_one::<A>,
            Some(chunksize),
            None,
        )?
        .get()
    }

    /// [`map`](Pool::map) without waiting: the whole list arrives in one [`AsyncResult`]. Python:
    /// `pool.map_async(f, iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let r = pool.map_async(square, 0..3)?;
    /// assert_eq!(r.get()?, [0, 1, 4]);
    /// # Ok(()) }
    /// ```
    pub fn map_async<F, A, I>(&self, f: F, iterable: I) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.gather(f.entry_name(), iterable, chunk::encode_one::<A>, None, None)
    }

    /// [`map_async`](Pool::map_async) with callbacks, run once on the pool's supervisor thread when the
    /// whole list is in (keep them short), with no pool lock held: `callback` with the results, or
    /// `error_callback` with the first error. With an empty `iterable` the callback runs at once, in
    /// this thread (as in Python). Python: `pool.map_async(f, iterable, callback=.., error_callback=..)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.map_async_with(square, 0..3, move |v| tx.send(v.clone()).unwrap(), |e| eprintln!("{e}"))?;
    /// assert_eq!(rx.recv().unwrap(), [0, 1, 4]);
    /// # Ok(()) }
    /// ```
    pub fn map_async_with<F, A, I>(
        &self,
        f: F,
        iterable: I,
        callback: impl FnOnce(&Vec<F::Output>) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        let cb = both(callback, error_callback);
        self.gather(
            f.entry_name(),
            iterable,
            chunk::encode_one::<A>,
            None,
            Some(cb),
        )
    }

    /// `f(a, b, ..)` for every argument tuple, results in order. Python: `pool.starmap(f, iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn add(a: u64, b: u64) -> u64 { a + b }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.starmap(add, [(1, 2), (3, 4)])?, [3, 7]);
    /// # Ok(()) }
    /// ```
    pub fn starmap<F, Args, I>(&self, f: F, iterable: I) -> Result<Vec<F::Output>>
    where
        F: WorkerFn<Args>,
        I: IntoIterator<Item = Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.starmap_async(f, iterable)?.get()
    }

    /// [`starmap`](Pool::starmap) with an explicit chunk size. Python: `pool.starmap(f, iterable,
    /// chunksize)`. A chunk size of 0 fails with [`ErrorKind::InvalidInput`].
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn add(a: u64, b: u64) -> u64 { a + b }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.starmap_chunked(add, [(1, 2), (3, 4)], 1)?, [3, 7]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_chunked<F, Args, I>(
        &self,
        f: F,
        iterable: I,
        chunksize: usize,
    ) -> Result<Vec<F::Output>>
    where
        F: WorkerFn<Args>,
        I: IntoIterator<Item = Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.gather(
            f.entry_name(),
            iterable,
            chunk::encode_args::<Args>,
            Some(chunksize),
            None,
        )?
        .get()
    }

    /// [`starmap`](Pool::starmap) without waiting. Python: `pool.starmap_async(f, iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn add(a: u64, b: u64) -> u64 { a + b }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// assert_eq!(pool.starmap_async(add, [(1, 2)])?.get()?, [3]);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async<F, Args, I>(
        &self,
        f: F,
        iterable: I,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: WorkerFn<Args>,
        I: IntoIterator<Item = Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        self.gather(
            f.entry_name(),
            iterable,
            chunk::encode_args::<Args>,
            None,
            None,
        )
    }

    /// [`starmap_async`](Pool::starmap_async) with callbacks, as in
    /// [`map_async_with`](Pool::map_async_with). Python: `pool.starmap_async(f, iterable,
    /// callback=.., error_callback=..)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn add(a: u64, b: u64) -> u64 { a + b }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.starmap_async_with(add, [(1, 2)], move |v| tx.send(v[0]).unwrap(), |_| {})?;
    /// assert_eq!(rx.recv().unwrap(), 3);
    /// # Ok(()) }
    /// ```
    pub fn starmap_async_with<F, Args, I>(
        &self,
        f: F,
        iterable: I,
        callback: impl FnOnce(&Vec<F::Output>) + Send + 'static,
        error_callback: impl FnOnce(&Error) + Send + 'static,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: WorkerFn<Args>,
        I: IntoIterator<Item = Args>,
        Args: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        let cb = both(callback, error_callback);
        self.gather(
            f.entry_name(),
            iterable,
            chunk::encode_args::<Args>,
            None,
            Some(cb),
        )
    }

    fn gather<T, R: DeserializeOwned + Send + 'static>(
        &self,
        type_name: &'static str,
        iterable: impl IntoIterator<Item = T>,
        encode: chunk::EncodeFn<T>,
        chunksize: Option<usize>,
        callback: Option<result::Callback<Vec<R>>>,
    ) -> Result<AsyncResult<Vec<R>>> {
        if chunksize == Some(0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "chunksize must be at least 1 (use map/starmap for the automatic size)",
            ));
        }
        let entry = registry::lookup_fn(type_name)?;
        let prefix = chunk_prefix(entry.name)?;
        let kind = kind_of(&prefix);
        let carries_fds = self.sched.carries_fds();
        let (mut items, len) = chunk::Items::new(iterable.into_iter());
        let chunksize = chunksize
            .or(self.default_chunksize)
            .unwrap_or_else(|| chunk::auto_chunksize(len, self.processes()));
        let cell = Arc::new(Cell::new(callback));
        if len == 0 {
            cell.set(Ok(Vec::new()));
            return Ok(AsyncResult::new(cell));
        }
        let sink = Arc::new(MapSink::new(
            len,
            cell.clone(),
            Progress::new(self.progress, Some(len)),
        ));
        // Chunks go out in batches of about BATCH_BYTES as they are encoded, so the workers start while
        // the rest is encoded, without a scheduler round per tiny chunk.
        const BATCH_BYTES: usize = 256 * 1024;
        let (mut start, mut sent) = (0, 0);
        let mut batch: Vec<Job> = Vec::new();
        let mut batch_bytes = 0;
        while sent < len {
            let mut outcome = Ok(());
            if start < len {
                let count = chunksize.min(len - start);
                let frame = items
                    .chunk(start, count)
                    .and_then(|chunk| chunk::task_frame(&prefix, chunk, encode, carries_fds));
                match frame {
                    Ok((frame, fds)) => {
                        batch_bytes += frame.len();
                        batch.push(Job::new(kind, frame, fds, sink.clone(), start, count));
                        start += count;
                    }
                    Err(e) => outcome = Err(e),
                }
            }
            if outcome.is_ok() && (batch_bytes >= BATCH_BYTES || start >= len) {
                let count: usize = batch.iter().map(Job::count).sum();
                outcome = self.sched.submit(batch.drain(..));
                batch_bytes = 0;
                if outcome.is_ok() {
                    sent += count;
                }
            }
            if let Err(e) = outcome {
                // Chunks already sent still finish; the rest count as failed so the result settles.
                sink::Sink::fail(&*sink, sent, len - sent, &e);
                return Err(e);
            }
        }
        Ok(AsyncResult::new(cell))
    }

    /// A lazy iterator of `f(x)` for every `x`, in order, with a bounded number of tasks in flight (an
    /// endless source works). Chunk size 1 unless set with [`IMap::chunksize`]. Python:
    /// `pool.imap(f, iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// for r in pool.imap(square, 0..5) {
    ///     println!("real-time result: {}", r?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn imap<F, A, I>(&self, f: F, iterable: I) -> IMap<'_, I::IntoIter, F::Output>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        let prefix = registry::lookup_fn(f.entry_name()).and_then(|e| chunk_prefix(e.name));
        IMap::new(
            self,
            iterable.into_iter(),
            prefix,
            chunk::encode_one::<A>,
            true,
        )
    }

    /// Like [`imap`](Pool::imap), but results come as they finish. Python: `pool.imap_unordered(f,
    /// iterable)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let mut all: Vec<u64> = pool.imap_unordered(square, 0..5).collect::<Result<_, _>>()?;
    /// all.sort();
    /// assert_eq!(all, [0, 1, 4, 9, 16]);
    /// # Ok(()) }
    /// ```
    pub fn imap_unordered<F, A, I>(&self, f: F, iterable: I) -> IMap<'_, I::IntoIter, F::Output>
    where
        F: MapFn<A>,
        I: IntoIterator<Item = A>,
        A: Serialize,
        F::Output: DeserializeOwned + Send + 'static,
    {
        let prefix = registry::lookup_fn(f.entry_name()).and_then(|e| chunk_prefix(e.name));
        IMap::new(
            self,
            iterable.into_iter(),
            prefix,
            chunk::encode_one::<A>,
            false,
        )
    }

    /// Takes no more tasks; those already submitted still run. Python: `pool.close()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// let r = pool.apply_async(square, (3,))?;
    /// pool.close();
    /// pool.join()?;
    /// assert_eq!(r.get()?, 9);
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.sched.close();
    }

    /// Waits for every submitted task to finish, then stops the workers. Call [`close`](Pool::close)
    /// first ([`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) otherwise, as Python raises `ValueError`). Python: `pool.join()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// pool.close();
    /// pool.join()?;
    /// # Ok(()) }
    /// ```
    pub fn join(&self) -> Result<()> {
        self.sched.finish()?;
        self.join_threads();
        Ok(())
    }

    /// Stops now: pending tasks fail with [`ErrorKind::Closed`](crate::ErrorKind::Closed), workers are killed and reaped. Python:
    /// `pool.terminate()`; dropping the pool does the same.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::new(2)?;
    /// pool.terminate();
    /// assert!(pool.pids().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn terminate(&self) {
        self.sched.terminate();
        self.join_threads();
    }

    fn join_threads(&self) {
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Locks `m`, going on past a poisoned lock: the pool's locks guard no invariant that a panic
/// elsewhere (a user callback) breaks halfway.
pub(crate) use crate::poison::lock;

impl Drop for Pool {
    fn drop(&mut self) {
        self.terminate();
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("processes", &self.processes())
            .field("pids", &self.pids())
            .finish()
    }
}

/// One [`result::Callback`] from Python's pair: `callback` on a value, `error_callback` on an error.
fn both<T: 'static>(
    callback: impl FnOnce(&T) + Send + 'static,
    error_callback: impl FnOnce(&Error) + Send + 'static,
) -> result::Callback<T> {
    Box::new(move |r: &Result<T>| match r {
        Ok(v) => callback(v),
        Err(e) => error_callback(e),
    })
}
