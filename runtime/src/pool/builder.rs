//! [`PoolBuilder`]: the options of a [`Pool`], Python's `Pool(...)` keyword arguments.

use super::sched::{Config, Scheduler};
use super::transport::{LocalProcesses, Transport};
use super::{Pool, supervisor};
use crate::error::{Error, ErrorKind, Result};
use crate::method::StartMethod;
use crate::protocol::child as protocol;
use crate::protocol::pool::init_frame;
use crate::registry;
use crate::worker::WorkerFn;
use serde::Serialize;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

/// Options for a [`Pool`]. Python: `Pool(processes, initializer, initargs, maxtasksperchild)`, plus a
/// per-task timeout, a default chunk size and a progress bar.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn setup(tag: String) { println!("worker {tag} up"); }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let pool = multiproc::Pool::builder()
///     .processes(4)                                   // Pool(processes=4,
///     .initializer(setup, ("db".to_string(),))        //      initializer=setup, initargs=("db",),
///     .maxtasksperchild(1000)                         //      maxtasksperchild=1000)
///     .task_timeout(std::time::Duration::from_secs(60))
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct PoolBuilder {
    processes: Option<usize>,
    init: Option<Result<(Vec<u8>, Vec<OwnedFd>)>>,
    maxtasksperchild: Option<u64>,
    task_timeout: Option<Duration>,
    chunksize: Option<usize>,
    progress: bool,
    start_method: Option<StartMethod>,
    backend: Backend,
}

/// Where a [`Pool`]'s workers run. Python has one answer (this machine); `mpi4py.futures`'
/// `MPIPoolExecutor` is the model for the other.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// // The same program under `cargo run` (local processes) and `mpirun -np 4 ./app` (three agent ranks).
/// let pool = multiproc::Pool::builder().backend(multiproc::Backend::Auto).build()?;
/// let squares = pool.map(square, 0..1000)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// Child processes of this program on this machine. The default.
    #[default]
    Local,
    /// The ranks of the MPI job this program was launched as (`mpirun -np N`, `srun`), with the
    /// `mpi` feature: rank 0 runs `main`, every other rank is a node agent that runs the workers as
    /// its own local child processes (one worker per CPU of its node unless
    /// [`processes`](PoolBuilder::processes) says otherwise). Arguments and results that hold
    /// descriptors (pipes, queues, shared values, locks) are refused: they cannot cross hosts. See
    /// docs/mpi.md.
    Mpi,
    /// [`Mpi`](Backend::Mpi) when the program was launched by MPI with more than one rank,
    /// [`Local`](Backend::Local) otherwise (also in a build without the `mpi` feature).
    Auto,
}

impl PoolBuilder {
    /// How the workers start (default [`get_start_method`](crate::get_start_method) when each one
    /// starts). Python: `get_context(method).Pool(..)`.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Where the workers run: [`Backend::Local`] (the default), [`Backend::Mpi`] or
    /// [`Backend::Auto`]. `build` fails with [`ErrorKind::InvalidInput`] for `Mpi` outside an MPI
    /// launch with several ranks, or in a build without the `mpi` feature.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().backend(multiproc::Backend::Auto).build()?;
    /// # Ok(()) }
    /// ```
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Number of worker processes (default [`cpu_count`](super::cpu_count); on
    /// [`Backend::Mpi`], the CPUs of every agent rank's node together).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().processes(2).build()?;
    /// # Ok(()) }
    /// ```
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// Runs `f(args..)` once in every worker when it starts (and in each replacement). If it panics the
    /// pool starts no more workers: `build` (or the tasks waiting for a replacement) fail with its
    /// message instead of restarting workers forever as Python does. Python: `initializer=f,
    /// initargs=args`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn setup(level: u32) {}
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().initializer(setup, (3,)).build()?;
    /// # Ok(()) }
    /// ```
    pub fn initializer<F, Args>(mut self, f: F, args: Args) -> Self
    where
        F: WorkerFn<Args, Output = ()>,
        Args: Serialize,
    {
        let task = registry::lookup_fn(f.entry_name()).and_then(|e| {
            let enc = protocol::encode_task(e.name, &args)?;
            Ok((init_frame(&enc.bytes), enc.fds))
        });
        self.init = Some(task);
        self
    }

    /// Replaces a worker after it has run this many tasks (a chunk counts as one), freeing whatever
    /// it held. Python: `maxtasksperchild`. It must be at least 1: [`build`](Self::build) fails with
    /// [`ErrorKind::InvalidInput`] for 0 (Python raises `ValueError`).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().maxtasksperchild(10).build()?;
    /// # Ok(()) }
    /// ```
    pub fn maxtasksperchild(mut self, tasks: u64) -> Self {
        self.maxtasksperchild = Some(tasks);
        self
    }

    /// Kills and replaces a worker whose task (one chunk) runs longer than `timeout`; that task fails
    /// with [`ErrorKind::Timeout`]. Python has no equivalent.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().task_timeout(std::time::Duration::from_secs(5)).build()?;
    /// # Ok(()) }
    /// ```
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Default items per task for `map`, `starmap` and `imap` (instead of Python's rule for `map` and 1
    /// for `imap`). It must be at least 1: [`build`](Self::build) fails with [`ErrorKind::InvalidInput`]
    /// for 0 (Python raises `ValueError`).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().chunksize(64).build()?;
    /// # Ok(()) }
    /// ```
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = Some(chunksize);
        self
    }

    /// Draws a progress bar on stderr for `map`/`starmap` and the `imap` iterators, when stderr is a
    /// terminal (never otherwise). Needs the `progress` cargo feature (indicatif): without it this
    /// method does not exist, so a program that asks for a bar fails to compile rather than silently
    /// drawing none.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().progress(true).build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "progress")]
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Starts the workers (in parallel) and waits until each is up and has run the initializer.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let pool = multiproc::Pool::builder().processes(2).build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Pool> {
        let (backend, transport, ranks, default_processes) = self.transport()?;
        let processes = self.processes.unwrap_or(default_processes);
        if processes == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a pool needs at least one process",
            ));
        }
        if self.maxtasksperchild == Some(0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "maxtasksperchild must be at least 1 (leave it unset to never replace workers)",
            ));
        }
        if self.chunksize == Some(0) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "chunksize must be at least 1 (leave it unset for the automatic size)",
            ));
        }
        let init = self.init.transpose()?;
        let sched = Arc::new(Scheduler::new(
            Config {
                processes,
                maxtasksperchild: self.maxtasksperchild,
                task_timeout: self.task_timeout,
                init,
            },
            transport,
        ));
        let pool = Pool {
            sched: sched.clone(),
            threads: std::sync::Mutex::new(Vec::with_capacity(processes)),
            default_chunksize: self.chunksize,
            progress: self.progress,
            backend,
            ranks,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Result<()>>();
        for i in 0..processes {
            let sched = sched.clone();
            let tx = tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("multiproc-pool-{}", i + 1))
                .spawn(move || match supervisor::start_worker(&sched, i) {
                    Ok(link) => {
                        let _ = tx.send(Ok(()));
                        drop(tx);
                        supervisor::supervise(sched, i, link);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                })
                .map_err(|e| Error::io("could not start a pool supervisor thread", e))?;
            super::lock(&pool.threads).push(thread);
        }
        drop(tx);
        let mut first_error = None;
        for outcome in rx.iter() {
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(pool),
        }
    }
}

/// A backend's transport, the ranks it spans and its default number of workers.
type Chosen = (Backend, Box<dyn Transport>, usize, usize);

impl PoolBuilder {
    fn transport(&self) -> Result<Chosen> {
        let local = || -> Chosen {
            let transport = LocalProcesses {
                start_method: self.start_method,
            };
            (Backend::Local, Box::new(transport), 1, super::cpu_count())
        };
        match self.backend {
            Backend::Local => Ok(local()),
            #[cfg(feature = "mpi")]
            Backend::Mpi | Backend::Auto => match super::mpi::session() {
                Some(session) => {
                    if matches!(&self.init, Some(Ok((_, fds))) if !fds.is_empty()) {
                        return Err(super::mpi::descriptors_refused("the pool's initializer"));
                    }
                    let agents = session.agents()?;
                    let slots = agents.iter().map(|a| a.slots as usize).sum();
                    let ranks = session.size();
                    let transport =
                        super::mpi::MpiTransport::new(session, &agents, self.start_method);
                    Ok((Backend::Mpi, Box::new(transport), ranks, slots))
                }
                None if self.backend == Backend::Auto => Ok(local()),
                None => Err(super::mpi::unavailable()),
            },
            #[cfg(not(feature = "mpi"))]
            Backend::Mpi => Err(Error::new(
                ErrorKind::InvalidInput,
                "Backend::Mpi needs multiproc's `mpi` feature (cargo build --features mpi, with an MPI \
                 library such as Open MPI installed); Backend::Auto falls back to local processes",
            )),
            #[cfg(not(feature = "mpi"))]
            Backend::Auto => Ok(local()),
        }
    }
}

impl std::fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("processes", &self.processes)
            .field("maxtasksperchild", &self.maxtasksperchild)
            .field("task_timeout", &self.task_timeout)
            .field("chunksize", &self.chunksize)
            .field("progress", &self.progress)
            .field("backend", &self.backend)
            .finish()
    }
}
