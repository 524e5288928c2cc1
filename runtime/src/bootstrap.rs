//! Parent/child role decision and the child's side of the handshake.
//!
//! A child is this same executable started with `MULTIPROC_BOOTSTRAP=<parent pid>:<socket fd>[:<stdout
//! fd>]`. `#[multiproc::main]`, `#[multiproc::test]` and [`init`] call [`run_child_if_spawned`] before any
//! user code; in a child it never returns: it says "ready", reads the task (entry name, arguments,
//! descriptors), runs it, sends the result or the panic message, and exits.

use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::registry;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) const BOOT_ENV: &str = "MULTIPROC_BOOTSTRAP";
/// Exit code of a child that reached a spawn call without having passed the bootstrap.
pub(crate) const EXIT_NOT_BOOTSTRAPPED: i32 = 87;

/// First frame a child sends: it reached the runtime.
pub(crate) const READY: &[u8] = b"multiproc-ready";

/// What a child reports after running its task.
#[derive(Serialize, Deserialize)]
pub(crate) enum Report {
    /// The result follows in the same frame, after this tag.
    Ok,
    Panicked(String),
    Failed(String),
}

/// One item's outcome in a pool chunk: its value, or why it has none. Encoded like [`Report`] with
/// the value inside, so a chunk's outcomes are one `Vec<Outcome<R>>`, encoded and decoded at once.
#[derive(Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    Ok(R),
    Panicked(String),
    Failed(String),
}

impl<R> Outcome<R> {
    /// The caller's view of it.
    pub(crate) fn into_result(self) -> Result<R> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Panicked(m) => Err(failure(Report::Panicked(m))),
            Outcome::Failed(m) => Err(failure(Report::Failed(m))),
        }
    }
}

static IN_CHILD: AtomicBool = AtomicBool::new(false);
static TEST_NAME: Mutex<Option<String>> = Mutex::new(None);

struct Boot {
    socket: RawFd,
    stdout: Option<RawFd>,
}

enum BootEnv {
    None,
    Ours(Boot),
    /// Started by a parent that has since died: nothing to do but leave.
    Orphaned,
}

fn boot_env() -> BootEnv {
    let Some(val) = std::env::var_os(BOOT_ENV) else {
        return BootEnv::None;
    };
    let val = val.to_string_lossy();
    let mut parts = val.split(':').map(|p| p.parse::<i32>().ok());
    let (Some(Some(ppid)), Some(Some(socket))) = (parts.next(), parts.next()) else {
        return BootEnv::None;
    };
    let stdout = parts.next().flatten();
    if sys::process::getppid() != ppid {
        // Either a grandchild that inherited the variable through some other spawn (run normally), or
        // our parent died before we got here (leave).
        return if sys::fd::is_unix_socket(socket) {
            BootEnv::Orphaned
        } else {
            BootEnv::None
        };
    }
    if !sys::fd::is_unix_socket(socket) {
        // Started by multiproc but the socket did not arrive: never fall back to running `main` as a
        // parent, which would spawn again.
        let _ = writeln!(
            std::io::stderr(),
            "multiproc: this process was started as a worker but its bootstrap socket (fd {socket}) did not arrive"
        );
        std::process::exit(EXIT_NOT_BOOTSTRAPPED);
    }
    BootEnv::Ours(Boot { socket, stdout })
}

/// Call first thing in `main` if you do not use `#[multiproc::main]`: in a process started by multiproc
/// this runs the worker and exits; otherwise it returns at once.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// fn main() {
///     multiproc::init();
///     // ... the program ...
/// }
/// ```
pub fn init() {
    run_child_if_spawned();
}

/// See [`init`].
pub(crate) fn run_child_if_spawned() {
    match boot_env() {
        BootEnv::None => {}
        BootEnv::Orphaned => std::process::exit(1),
        BootEnv::Ours(boot) => child_main(boot),
    }
}

/// The `#[multiproc::test]` wrapper: in a child, run the task; else remember a test name the children
/// can be filtered to, and run the body.
pub(crate) fn test_entry(path: &str) {
    run_child_if_spawned();
    let name = path.split_once("::").map_or(path, |(_crate, rest)| rest);
    *TEST_NAME.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_string());
}

/// The test the current binary's children re-run to reach the bootstrap, if this is a test binary.
pub(crate) fn test_name() -> Option<String> {
    TEST_NAME.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Called by every spawn: a child that reaches a spawn without having passed the bootstrap would
/// otherwise re-spawn itself forever.
pub(crate) fn refuse_unbootstrapped_spawn() {
    if IN_CHILD.load(Ordering::Relaxed) {
        return;
    }
    if let BootEnv::Ours(_) = boot_env() {
        let _ = writeln!(
            std::io::stderr(),
            "multiproc: this process was started as a worker but its main never reached multiproc's bootstrap; \
             annotate `fn main` with #[multiproc::main] (or tests with #[multiproc::test]), or call \
             multiproc::init() first thing in main"
        );
        std::process::exit(EXIT_NOT_BOOTSTRAPPED);
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "worker panicked with a non-string payload".to_string()
    }
}

fn child_main(boot: Boot) -> ! {
    IN_CHILD.store(true, Ordering::Relaxed);
    sys::process::name_after_executable();
    if let Some(saved) = boot.stdout {
        // SAFETY: `saved` is the parent's stdout duplicated into this process by the spawn file actions;
        // dup2 onto fd 1 and close the spare.
        unsafe {
            libc::dup2(saved, 1);
            libc::close(saved);
        }
    }
    // SAFETY: the socket fd was handed to this process by the spawn and is owned by nobody else here.
    let socket = unsafe { OwnedFd::from_raw_fd(boot.socket) };
    // SAFETY: borrowed only for this call, while `socket` is alive.
    let _ = sys::fd::set_cloexec(unsafe { BorrowedFd::borrow_raw(boot.socket) }, true);
    serve_one_task(socket)
}

/// Descriptors of this process's own bootstrap (its socket, the parent watch's duplicate): a child
/// forked from here (the fork server's) closes them, or it would keep its parent's link alive.
static OWN_BOOTSTRAP_FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// Closes, in a freshly forked child, the bootstrap descriptors it inherited from the process it was
/// forked from.
pub(crate) fn close_inherited_bootstrap() {
    let fds = std::mem::take(&mut *OWN_BOOTSTRAP_FDS.lock().unwrap_or_else(|p| p.into_inner()));
    sys::process::close_raw(fds);
}

/// The child's side of the handshake on `socket`: say ready, run the one task, report, exit. Entered
/// from the bootstrap of a spawned child, or right after `fork` in the fork server.
pub(crate) fn serve_one_task(socket: OwnedFd) -> ! {
    IN_CHILD.store(true, Ordering::Relaxed);
    OWN_BOOTSTRAP_FDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(socket.as_raw_fd());
    watch_parent(socket.as_fd());
    let chan = Channel::from_fd(socket);
    if chan.send_raw(READY, &[]).is_err() {
        std::process::exit(1);
    }
    let outcome = chan.recv_with(None, |frame, fds| Ok(run_task(frame.bytes(), fds)));
    let _ = std::io::stdout().flush();
    let (report, code) = match outcome {
        Ok(report) => {
            let code = match report.0 {
                Report::Ok => 0,
                Report::Panicked(_) => 101,
                Report::Failed(_) => 1,
            };
            (report, code)
        }
        Err(e) if e.is_disconnected() => std::process::exit(1),
        Err(e) => ((Report::Failed(e.to_string()), None), 1),
    };
    let mut sent = send_report(&chan, report);
    if let Err(e) = &sent {
        if !e.is_disconnected() {
            // The result itself could not go (too large, too many handles): say so instead.
            let why = format!("the worker's result could not be sent back: {e}");
            sent = send_report(&chan, (Report::Failed(why), None));
        }
    }
    if let Err(e) = sent {
        // With the parent gone there is nobody to tell (the fork server ends this way).
        if !e.is_disconnected() {
            let _ = writeln!(
                std::io::stderr(),
                "multiproc: worker could not send its result: {e}"
            );
        }
        std::process::exit(1);
    }
    std::process::exit(code)
}

/// Runs one task frame — the entry's name, then its encoded arguments — catching a panic. Used for a
/// child's single task and by long-lived workers (pools) for each of theirs.
pub(crate) fn run_task(bytes: &[u8], fds: Vec<OwnedFd>) -> (Report, Option<codec::Encoded>) {
    let run = || -> Result<codec::Encoded> {
        let (name, used): (String, usize) = codec::decode_prefix(bytes, Vec::new())?;
        let entry = registry::by_name(&name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotAWorker { name: name.clone() },
                format!("no worker named `{name}` in this binary"),
            )
        })?;
        (entry.invoke)(&bytes[used..], fds)
    };
    outcome(catch_unwind(AssertUnwindSafe(run)))
}

fn outcome(res: std::thread::Result<Result<codec::Encoded>>) -> (Report, Option<codec::Encoded>) {
    match res {
        Ok(Ok(enc)) => (Report::Ok, Some(enc)),
        Ok(Err(e)) => (Report::Failed(e.to_string()), None),
        Err(panic) => (Report::Panicked(panic_message(&*panic)), None),
    }
}

/// Encodes a task frame: the entry's name, then the arguments.
pub(crate) fn encode_task<A: Serialize + ?Sized>(
    entry_name: &str,
    args: &A,
) -> Result<codec::Encoded> {
    let mut task = codec::encode(entry_name)?;
    codec::encode_into(args, &mut task.bytes, &mut task.fds)?;
    Ok(task)
}

/// Sends a [`run_task`] outcome as one frame: the report, then the result bytes, with the result's
/// descriptors. [`decode_report`] reads it.
pub(crate) fn send_report(chan: &Channel, outcome: (Report, Option<codec::Encoded>)) -> Result<()> {
    let mut bytes = Vec::new();
    let mut fds = Vec::new();
    encode_report_into(outcome, &mut bytes, &mut fds)?;
    let borrowed: Vec<_> = fds.iter().map(std::os::fd::AsFd::as_fd).collect();
    chan.send_raw(&bytes, &borrowed)
}

/// Appends a [`run_task`] outcome (the report, then the result bytes) to `bytes` and its descriptors to
/// `fds`: the format [`decode_report`] reads, in a frame of its own or inside a pool's result chunk.
pub(crate) fn encode_report_into(
    (report, payload): (Report, Option<codec::Encoded>),
    bytes: &mut Vec<u8>,
    fds: &mut Vec<OwnedFd>,
) -> Result<()> {
    match report {
        Report::Ok if !ok_tag().is_empty() => bytes.extend_from_slice(ok_tag()),
        other => codec::encode_into(&other, bytes, fds)?,
    }
    if let Some(enc) = payload {
        bytes.extend_from_slice(&enc.bytes);
        fds.extend(enc.fds);
    }
    Ok(())
}

/// Kills this child when its parent goes away: the parent's end of the bootstrap socket closes when the
/// parent process dies (for any reason), which a small thread watches for on its own duplicate of the
/// socket (so worker code that closes descriptors cannot blind it or make it spin).
fn watch_parent(socket: BorrowedFd<'_>) {
    let Ok(own) = socket.try_clone_to_owned() else {
        let _ = writeln!(
            std::io::stderr(),
            "multiproc: could not watch the parent process"
        );
        return;
    };
    let builder = std::thread::Builder::new()
        .name("multiproc-parent-watch".into())
        .stack_size(64 * 1024);
    OWN_BOOTSTRAP_FDS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(own.as_raw_fd());
    let spawned = builder.spawn(move || {
        loop {
            match sys::socket::poll_one(own.as_fd(), libc::POLLRDHUP, -1) {
                Ok(rev) if rev & libc::POLLNVAL != 0 => return,
                Ok(rev) if rev & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 => {
                    let _ = sys::process::kill(sys::process::getpid(), libc::SIGKILL);
                    return;
                }
                Ok(_) => continue,
                Err(_) => return,
            }
        }
    });
    if spawned.is_err() {
        let _ = writeln!(
            std::io::stderr(),
            "multiproc: could not start the parent watch thread"
        );
    }
}

/// The encoding of [`Report::Ok`], computed once: the common case of every report, written and
/// recognised without going through the codec (pool tasks send one per item).
fn ok_tag() -> &'static [u8] {
    static TAG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        codec::encode(&Report::Ok)
            .map(|e| e.bytes)
            .unwrap_or_default()
    })
}

/// Decodes a child's final frame into the worker's result.
pub(crate) fn decode_report<R: serde::de::DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<R> {
    let ok = ok_tag();
    if !ok.is_empty() && bytes.starts_with(ok) {
        return codec::decode(&bytes[ok.len()..], fds);
    }
    let (report, used): (Report, usize) = codec::decode_prefix(bytes, Vec::new())?;
    match report {
        Report::Ok => codec::decode(&bytes[used..], fds),
        other => Err(failure(other)),
    }
}

/// The error a child's failure report stands for (`WorkerPanicked` for a panic).
pub(crate) fn failure(report: Report) -> Error {
    match report {
        Report::Ok => Error::codec("worker reported success without a value"),
        Report::Panicked(message) => Error::new(
            ErrorKind::WorkerPanicked {
                message: message.clone(),
            },
            format!("worker panicked: {message}"),
        ),
        Report::Failed(message) => {
            Error::new(ErrorKind::Codec, format!("worker failed: {message}"))
        }
    }
}
