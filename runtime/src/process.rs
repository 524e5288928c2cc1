//! [`Process`]: a worker running in a child process, Python's `multiprocessing.Process`.

use crate::bootstrap::{self, READY};
use crate::error::{Error, ErrorKind, Result};
use crate::forkserver;
use crate::ipc::channel::{Channel, DEFAULT_MAX_MESSAGE};
use crate::registry;
use crate::sys::{self, process::ExitStatus};
use crate::worker::WorkerFn;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::OsString;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
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
    pid: libc::pid_t,
    name: String,
    pidfd: Option<OwnedFd>,
    chan: Channel,
    ready: bool,
    status: Option<ExitStatus>,
    /// Reaped (by us, by the fork server, or by someone else: then `status` stays unknown).
    gone: bool,
    /// Set for a child of a fork server, which reaps it and relays its status.
    forked: Option<forkserver::Forked>,
    taken: bool,
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
}

/// How a child process starts. Python: `multiprocessing.set_start_method`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// #[multiproc::worker]
/// fn noop() {}
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     multiproc::set_start_method(multiproc::StartMethod::ForkServer);
///     noop::spawn()?.join()?; // forked from the fork server: no exec
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// Re-execute this binary (`posix_spawn` of `/proc/self/exe`). Python's `spawn`: a fresh process
    /// that has run none of the program's code. The default.
    #[default]
    Spawn,
    /// Fork a *fork server*: a copy of this binary started once (by `Spawn`) and kept right after the
    /// bootstrap, so it too has run none of the program's code, but each child skips `exec`, dynamic
    /// loading and runtime start-up. Python's `forkserver`. Several times faster to start.
    ForkServer,
}

static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(0);

/// Sets how children start from now on (default [`StartMethod::Spawn`]). Python:
/// `multiprocessing.set_start_method(..)`; unlike Python it may be called again.
pub fn set_start_method(method: StartMethod) {
    DEFAULT_METHOD.store(method as u8, Ordering::Relaxed);
}

/// How children start by default. Python: `multiprocessing.get_start_method()`.
pub fn get_start_method() -> StartMethod {
    match DEFAULT_METHOD.load(Ordering::Relaxed) {
        1 => StartMethod::ForkServer,
        _ => StartMethod::Spawn,
    }
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
        let entry = registry::lookup_fn(worker.type_name())?;
        self.spawn_entry(entry.name, args)
    }

    /// Starts the registry entry `entry_name` (a `#[worker]`'s or one of the runtime's own, such as the
    /// pool worker loop) with `args`.
    pub(crate) fn spawn_entry<Args: Serialize, R>(
        self,
        entry_name: &str,
        args: Args,
    ) -> Result<Process<R>> {
        let task = bootstrap::encode_task(entry_name, &args)?;
        drop(args);
        Channel::check_sendable(task.bytes.len(), task.fds.len(), DEFAULT_MAX_MESSAGE)?;
        let (child, chan) = match self.start_method.unwrap_or_else(get_start_method) {
            StartMethod::Spawn => spawn_child()?,
            StartMethod::ForkServer => forkserver::spawn_child()?,
        };
        let borrowed: Vec<_> = task.fds.iter().map(|f| f.as_fd()).collect();
        match chan.send_raw(&task.bytes, &borrowed) {
            // A child that dies before reading its task is reported by join, with its exit status.
            Ok(()) => {}
            Err(e) if e.is_disconnected() => {}
            Err(e) => {
                kill_and_reap(&child);
                return Err(e);
            }
        }
        let name = self
            .name
            .unwrap_or_else(|| format!("Process-{}", COUNTER.fetch_add(1, Ordering::Relaxed)));
        Ok(Process {
            pid: child.pid,
            name,
            pidfd: child.pidfd,
            chan,
            ready: false,
            status: None,
            gone: false,
            forked: child.forked,
            taken: false,
            _result: PhantomData,
        })
    }
}

/// SIGKILLs a child we started and reaps it (or leaves that to the fork server).
fn kill_and_reap(child: &Child) {
    let _ = match &child.pidfd {
        Some(fd) => sys::process::pidfd_signal(fd.as_fd(), libc::SIGKILL),
        None => sys::process::kill(child.pid, libc::SIGKILL),
    };
    match &child.forked {
        Some(forked) => forkserver::forget(forked),
        None => {
            let _ = sys::process::wait_pid(child.pid, false);
        }
    }
}

pub(crate) struct Child {
    pub pid: libc::pid_t,
    pub pidfd: Option<OwnedFd>,
    /// Set for a child of a fork server.
    pub forked: Option<forkserver::Forked>,
}

/// Starts a copy of this executable wired to the bootstrap; returns it and the parent's end of its
/// socket. The runtime's own long-lived children (pool workers, manager servers) start here too.
pub(crate) fn spawn_child() -> Result<(Child, Channel)> {
    bootstrap::refuse_unbootstrapped_spawn();
    let (parent_end, child_end) =
        sys::socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
    let test = bootstrap::test_name();
    let saved_stdout = match test {
        Some(_) => Some(
            std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::io("dup of stdout failed", e))?,
        ),
        None => None,
    };
    let argv: Vec<OsString> = match &test {
        Some(name) => {
            let exe = std::env::args_os()
                .next()
                .unwrap_or_else(|| "multiproc-child".into());
            [
                exe.as_os_str(),
                name.as_ref(),
                "--exact".as_ref(),
                "--nocapture".as_ref(),
                "--include-ignored".as_ref(),
            ]
            .iter()
            .map(|s| s.to_os_string())
            .collect()
        }
        None => std::env::args_os().collect(),
    };
    let mut boot = format!("{}:{}", sys::process::getpid(), child_end.as_raw_fd());
    let mut keep = vec![child_end.as_fd()];
    if let Some(out) = &saved_stdout {
        boot.push_str(&format!(":{}", out.as_raw_fd()));
        keep.push(out.as_fd());
    }
    let req = sys::spawn::SpawnRequest {
        argv,
        env: vec![(bootstrap::BOOT_ENV, boot)],
        keep,
        stdout_to_null: saved_stdout.is_some(),
    };
    let pid = sys::spawn::spawn_self(&req)
        .map_err(|e| Error::io("could not start the child process", e))?;
    drop(req);
    drop(child_end);
    drop(saved_stdout);
    let pidfd = sys::process::pidfd_open(pid).ok();
    Ok((
        Child {
            pid,
            pidfd,
            forked: None,
        },
        Channel::from_fd(parent_end),
    ))
}

impl<R: DeserializeOwned> Process<R> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
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

    fn wait_result(&mut self, deadline: Option<Instant>) -> Result<R> {
        if self.taken {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{} was already joined", self.name),
            ));
        }
        loop {
            let frame = self.chan.recv_raw(deadline);
            match frame {
                Ok((bytes, _)) if !self.ready && bytes == READY => self.ready = true,
                Ok((bytes, fds)) => {
                    self.taken = true;
                    let result = bootstrap::decode_report(&bytes, fds);
                    // The child exits right after its report; a stopped one is reaped later (by
                    // exit_status or Drop), not waited for past the caller's deadline.
                    self.reap_until(deadline);
                    return result;
                }
                Err(e) if e.is_disconnected() => {
                    if !self.reap_until(deadline) {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "{} closed its socket but has not exited yet (stopped?)",
                                self.name
                            ),
                        ));
                    }
                    self.taken = true;
                    return Err(self.death_error(self.status));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn death_error(&self, status: Option<ExitStatus>) -> Error {
        // A child that exited by itself without ever saying "ready" ran the user's main instead of the
        // bootstrap; one killed by a signal before that point simply died early.
        if !self.ready && matches!(status, Some(ExitStatus::Code(_))) {
            return Error::new(
                ErrorKind::NotBootstrapped,
                format!(
                    "child {} (pid {}) never reached multiproc's bootstrap ({}): annotate `fn main` with \
                     #[multiproc::main] (tests with #[multiproc::test]) or call multiproc::init() first thing in main",
                    self.name,
                    self.pid,
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
                pid: self.pid,
                signal,
                code,
            },
            format!(
                "worker process {} (pid {}) {how} before returning a result",
                self.name, self.pid
            ),
        )
    }

    /// Reaps the child if it has exited (waiting for that when `block`). A child reaped by someone else
    /// (`SIGCHLD` ignored, a `waitpid(-1)` elsewhere) counts as gone with an unknown status.
    fn reap(&mut self, block: bool) {
        if self.gone {
            return;
        }
        if let Some(forked) = &self.forked {
            // Not our child: its fork server reaps it and relays the status. The pidfd says whether it
            // has exited (then the status is moments away); without one, ask without waiting.
            let wait = block
                || self.pidfd.as_ref().is_some_and(|fd| {
                    sys::socket::poll_one(fd.as_fd(), libc::POLLIN, 0).is_ok_and(|r| r != 0)
                });
            let ask = wait || self.pidfd.is_none();
            if let Some(status) = ask.then(|| forkserver::exit_status(forked, wait)).flatten() {
                self.status = status;
                self.gone = true;
            }
            return;
        }
        match sys::process::wait_pid(self.pid, !block) {
            Ok(Some(status)) => {
                self.status = Some(status);
                self.gone = true;
            }
            Ok(None) => {}
            Err(_) => self.gone = true,
        }
    }

    /// Reaps the child, waiting until `deadline` at most (forever for `None`); true once it is gone.
    fn reap_until(&mut self, deadline: Option<Instant>) -> bool {
        let Some(deadline) = deadline else {
            self.reap(true);
            return self.gone;
        };
        loop {
            self.reap(false);
            if self.gone || Instant::now() >= deadline {
                return self.gone;
            }
            let ms = sys::poll_timeout_ms(Some(deadline)).clamp(0, 10);
            match &self.pidfd {
                Some(fd) => {
                    let _ = sys::socket::poll_one(fd.as_fd(), libc::POLLIN, ms);
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// True while the child runs. Python: `p.is_alive()`.
    ///
    /// The result travels on a socket the child writes before exiting: a worker whose result is larger
    /// than the socket buffer (~200 KiB) stays alive until somebody `join`s it, so wait with
    /// [`join_timeout`](Self::join_timeout) rather than a loop on `is_alive`.
    pub fn is_alive(&mut self) -> bool {
        self.reap(false);
        !self.gone
    }

    /// How the child ended, or `None` while it runs (or if another part of the program reaped it).
    /// Python: `p.exitcode` (see [`ExitStatus::exitcode`]).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.reap(false);
        self.status
    }

    fn signal(&mut self, sig: i32) -> Result<()> {
        self.reap(false);
        if self.gone {
            return Ok(());
        }
        let res = match &self.pidfd {
            Some(fd) => sys::process::pidfd_signal(fd.as_fd(), sig),
            None => sys::process::kill(self.pid, sig),
        };
        match res {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => {
                Err(Error::io("could not signal the child", e))
            }
            _ => Ok(()),
        }
    }

    /// Sends `SIGTERM`. Python: `p.terminate()`.
    pub fn terminate(&mut self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL`. Python: `p.kill()`.
    pub fn kill(&mut self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }
}

impl<R> Drop for Process<R> {
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        // Without a pidfd, signal the pid only while it is certainly our unreaped child.
        if self.forked.is_none()
            && self.pidfd.is_none()
            && !matches!(sys::process::wait_pid(self.pid, true), Ok(None))
        {
            return;
        }
        kill_and_reap(&Child {
            pid: self.pid,
            pidfd: self.pidfd.take(),
            forked: self.forked.take(),
        });
    }
}

impl<R> std::fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish()
    }
}
