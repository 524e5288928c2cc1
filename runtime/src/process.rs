//! [`Process`]: a worker running in a child process, Python's `multiprocessing.Process`.

use crate::children;
use crate::current;
use crate::error::{Error, ErrorKind, Result};
use crate::launch::{self, Child};
use crate::method::{StartMethod, get_start_method};
use crate::protocol::child as protocol;
use crate::registry;
use crate::sys::{self, process::ExitStatus};
use crate::worker::WorkerFn;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A worker function running in a child process; `R` is what it returns.
///
/// Start one with the helper `#[multiproc::worker]` generates (`name::spawn(args..)`) or with
/// [`Process::builder`]. [`join`](Process::join) returns the worker's value, or an error saying how the
/// child failed: [`ErrorKind::WorkerPanicked`] with the panic message, [`ErrorKind::WorkerDied`] naming the
/// signal or exit code. Dropping a `Process` that was not joined kills and reaps the child: no zombies.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// #[multiproc::worker]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let p = square::spawn(7)?;           // Python: Process(target=square, args=(7,)).start()
///     println!("started pid {}", p.pid());
///     assert_eq!(p.join()?, 49);           // Python: p.join()
///     Ok(())
/// }
/// ```
#[must_use = "a Process is killed when dropped; call join() to wait for its result"]
pub struct Process<R = ()> {
    name: String,
    /// Taken only by `Drop`.
    child: ManuallyDrop<Child>,
    daemon: bool,
    joined: bool,
    _result: PhantomData<fn() -> R>,
}

/// Options for starting a [`Process`]. Python: the keyword arguments of `Process(...)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let p = multiproc::Process::builder().name("squarer").spawn(square, (3,))?;
/// assert_eq!(p.name(), "squarer");
/// assert_eq!(p.join()?, 9);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ProcessBuilder {
    name: Option<String>,
    start_method: Option<StartMethod>,
    daemon: Option<bool>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(1);

impl Process {
    /// Options for the next process: name, ...
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::default()
    }
}

impl ProcessBuilder {
    /// How this child starts (default: [`get_start_method`]).
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Whether the child is a daemon (default `true`). Python: `Process(daemon=..)`, whose default
    /// is `False`; see the README's "Daemon and non-daemon children".
    ///
    /// - `daemon(true)`: the `Process` handle owns the child. Dropping it unjoined kills and reaps the
    ///   child; the program's exit kills it. Python terminates its daemonic children at exit the same
    ///   way.
    /// - `daemon(false)`: dropping the handle unjoined lets the child run on; the program waits for it
    ///   when `main` returns (`#[multiproc::main]` calls [`join_children_at_exit`](crate::join_children_at_exit)),
    ///   as Python joins its non-daemon children at exit. A program that leaves by
    ///   `std::process::exit` (or dies) does not wait: its children die with it, as they do when a
    ///   Python program calls `os._exit`.
    ///
    /// The default differs from Python's because a Rust handle owns what it starts: dropping a
    /// `Process` ends it, as dropping a `Child` of `std::process` does not but a guard should.
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The process's name (default `Process-N`, as in Python).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts `worker(args..)` in a child process. `worker` must be a `#[multiproc::worker]` function;
    /// `args` is the tuple of its arguments.
    pub fn spawn<F, Args>(self, worker: F, args: Args) -> Result<Process<F::Output>>
    where
        F: WorkerFn<Args>,
        Args: Serialize,
        F::Output: DeserializeOwned,
    {
        let entry = registry::lookup_fn(worker.entry_name())?;
        self.spawn_entry(entry.name, args)
    }

    /// Starts the registry entry `entry_name` (a `#[worker]`'s or one of the runtime's own, such as the
    /// pool worker loop) with `args`.
    pub(crate) fn spawn_entry<Args: Serialize, R>(
        self,
        entry_name: &str,
        args: Args,
    ) -> Result<Process<R>> {
        let name = self
            .name
            .unwrap_or_else(|| format!("Process-{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        let daemon = self.daemon.unwrap_or(true);
        let me = current::current_process();
        let origin = protocol::Origin {
            name: name.clone(),
            daemon,
            start_method: get_start_method() as u8,
            parent_pid: me.pid(),
            parent_name: me.name().to_string(),
        };
        let task = protocol::encode_child_task(entry_name, Some(&origin), &args)?;
        drop(args);
        let child = launch::start(self.start_method.unwrap_or_else(get_start_method), &task)?;
        children::register(child.pidfd().as_raw_fd(), child.pid().as_u32(), &name);
        Ok(Process {
            name,
            child: ManuallyDrop::new(child),
            daemon,
            joined: false,
            _result: PhantomData,
        })
    }
}

impl<R: DeserializeOwned> Process<R> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.pid().as_u32()
    }

    /// The name given at spawn (default `Process-N`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the worker and returns its value. Python: `p.join()` (plus the return value Python
    /// cannot give you). A panic, a signal or an early exit in the child comes back as an error.
    pub fn join(mut self) -> Result<R> {
        self.wait_result(None)
    }

    /// Like [`join`](Self::join), but gives up with [`ErrorKind::Timeout`] after `timeout`, leaving the
    /// process running (join again later, or kill it).
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R> {
        self.wait_result(sys::deadline_after(timeout))
    }

    /// [`join`](Self::join) for async code (feature `async`): waits for the child's report and its
    /// end without a thread (the report socket and the pidfd, in the [`aio`](crate::aio) waker's
    /// poll), with the same result and errors (a killed child is `WorkerDied` at once). Dropping the
    /// future drops the handle: a daemon child is killed and reaped, as with `Drop`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::worker] fn square(x: u64) -> u64 { x * x }
    /// # async fn f() -> multiproc::Result<()> {
    /// let p = square::spawn(7)?;
    /// assert_eq!(p.join_async().await?, 49);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "async")]
    pub async fn join_async(mut self) -> Result<R> {
        loop {
            match self.wait_result(Some(Instant::now())) {
                Err(e) if e.kind() == &ErrorKind::Timeout => {}
                done => return done,
            }
            // The report (or the end of the stream) on the socket; once the stream has ended,
            // the child's exit on its pidfd.
            let socket_open = !sys::socket::readable_within(self.child.socket(), 0).unwrap_or(true);
            let fd = if socket_open {
                self.child.socket()
            } else {
                self.child.pidfd()
            };
            let wait =
                crate::aio::readable(fd).map_err(|e| Error::io("could not watch the child", e))?;
            wait.await;
            if !socket_open {
                // Exited: its status may take a moment to be collected (a fork server relays
                // it). Let the waker look again shortly rather than spin.
                let at = Instant::now() + Duration::from_millis(1);
                crate::aio::check(move || Instant::now() >= at).await;
            }
        }
    }

    fn wait_result(&mut self, deadline: Option<Instant>) -> Result<R> {
        if self.joined {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{} was already joined", self.name),
            ));
        }
        match self.child.recv_report(deadline) {
            Ok((bytes, fds)) => {
                self.joined = true;
                let result = protocol::decode_report(&bytes, fds);
                // The child exits right after its report; a stopped one is reaped later (by
                // exit_status or Drop), not waited for past the caller's deadline.
                self.child.reap_until(deadline);
                result
            }
            Err(e) if e.is_disconnected() => {
                if !self.child.reap_until(deadline) {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "{} closed its socket but has not exited yet (stopped?)",
                            self.name
                        ),
                    ));
                }
                self.joined = true;
                Err(self.death_error())
            }
            Err(e) => Err(e),
        }
    }

    fn death_error(&self) -> Error {
        let status = self.child.status();
        let pid = self.child.pid();
        // A child that exited by itself without ever saying "ready" ran the user's main instead of the
        // bootstrap; one killed by a signal before that point simply died early.
        if !self.child.said_ready() && matches!(status, Some(ExitStatus::Code(_))) {
            return Error::new(
                ErrorKind::NotBootstrapped,
                format!(
                    "child {} (pid {pid}) never reached multiproc's bootstrap ({}): annotate `fn main` with \
                     #[multiproc::main] (tests with #[multiproc::test]) or call multiproc::init() first thing in main",
                    self.name,
                    status.map_or_else(|| "status unknown".to_string(), |s| s.to_string()),
                ),
            );
        }
        let (signal, code) = match status {
            Some(ExitStatus::Signal(s)) => (Some(sys::process::signal_name(s)), None),
            Some(ExitStatus::Code(c)) => (None, Some(c)),
            None => (None, None),
        };
        let how = match (&signal, code) {
            (Some(s), _) => format!("was killed by {s}"),
            (None, Some(c)) => format!("exited with code {c}"),
            _ => "disappeared".to_string(),
        };
        Error::new(
            ErrorKind::WorkerDied {
                pid: pid.raw(),
                signal,
                code,
            },
            format!(
                "worker process {} (pid {pid}) {how} before returning a result",
                self.name
            ),
        )
    }

    /// True while the child runs. Python: `p.is_alive()`.
    ///
    /// The result travels on a socket the child writes before exiting: a worker whose result is larger
    /// than the socket buffer (~200 KiB) stays alive until somebody `join`s it, so wait with
    /// [`join_timeout`](Self::join_timeout) rather than a loop on `is_alive`.
    pub fn is_alive(&mut self) -> bool {
        self.child.reap(false);
        !self.child.has_ended()
    }

    /// True once this handle has seen the child end (no system call).
    pub(crate) fn has_ended(&self) -> bool {
        self.child.has_ended()
    }

    /// How the child ended, or `None` while it runs (or if another part of the program reaped it).
    /// Python: `p.exitcode` (see [`ExitStatus::exitcode`]).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.reap(false);
        self.child.status()
    }

    fn signal(&mut self, sig: sys::child::Signal) -> Result<()> {
        self.child
            .signal(sig)
            .map_err(|e| Error::io("could not signal the child", e))
    }

    /// Sends `SIGTERM`. Python: `p.terminate()`.
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(sys::child::SIGTERM)
    }

    /// Sends `SIGKILL`. Python: `p.kill()`.
    pub fn kill(&mut self) -> Result<()> {
        self.signal(sys::child::SIGKILL)
    }

    /// Sends `SIGINT`, as Ctrl-C would. Python: `p.interrupt()` (3.14). A worker that does not handle
    /// `SIGINT` dies of it: `join` says `WorkerDied` with signal `SIGINT`.
    pub fn interrupt(&mut self) -> Result<()> {
        self.signal(sys::signals::SIGINT)
    }

    /// The exit code, or minus the number of the signal that killed it; `None` while it runs (or when
    /// the status is unknown). Python: `p.exitcode`.
    pub fn exitcode(&mut self) -> Option<i32> {
        self.exit_status().map(ExitStatus::exitcode)
    }

    /// Whether it was started as a daemon ([`ProcessBuilder::daemon`]). Python: `p.daemon`.
    pub fn daemon(&self) -> bool {
        self.daemon
    }
}

impl<R> Drop for Process<R> {
    fn drop(&mut self) {
        // SAFETY: taken once, here; `self.child` is not used again.
        let child = unsafe { ManuallyDrop::take(&mut self.child) };
        if !self.daemon && !self.joined && !child.has_ended() {
            // A non-daemon child runs on, to be joined at exit (still listed by active_children).
            children::detach(child);
            return;
        }
        children::unregister(child.pidfd().as_raw_fd());
        drop(child);
    }
}

impl<R> Process<R> {
    /// A descriptor that becomes readable (`POLLIN`) when the child ends: its pidfd. Python:
    /// `p.sentinel`. Poll it together with other descriptors (pipes, sockets, other sentinels) to wait
    /// for whichever comes first; it stays readable once the child has exited, and is valid as long as
    /// the `Process`. Reading its status still goes through [`join`](Process::join) or
    /// [`exit_status`](Process::exit_status).
    pub fn sentinel(&self) -> BorrowedFd<'_> {
        self.child.pidfd()
    }
}

/// The [`sentinel`](Process::sentinel).
impl<R> AsFd for Process<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sentinel()
    }
}

impl<R> std::fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.child.pid())
            .field("status", &self.child.status())
            .finish()
    }
}
