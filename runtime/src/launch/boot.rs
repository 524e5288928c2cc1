//! The role decision: is this process a child that multiproc started, and if so, become it.
//!
//! A child is this same executable started with `MULTIPROC_BOOTSTRAP=<parent pid>:<socket fd>[:<stdout
//! fd>]` ([`env_value`] writes it, [`boot_env`] reads it). `#[multiproc::main]`, `#[multiproc::test]`
//! and [`init`] call [`run_child_if_spawned`] before any user code; in a child it never returns.

use super::serve;
use crate::error::{Error, ErrorKind, Result};
use crate::sys;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable that makes a process a child.
pub(super) const BOOT_ENV: &str = "MULTIPROC_BOOTSTRAP";
/// Exit code of a child that reached a spawn call without having passed the bootstrap.
const EXIT_NOT_BOOTSTRAPPED: i32 = 87;

static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// Set once an entry point (`#[multiproc::main]`, `#[multiproc::test]`, [`init`]) has run in a parent.
static PASSED: AtomicBool = AtomicBool::new(false);

/// Set in a child of a test binary (one whose stdout was parked until the bootstrap): its own children
/// re-run the same filtered test, and their libtest header must be parked as well.
static TEST_CHILD: AtomicBool = AtomicBool::new(false);

/// Whether this process is a child re-run of a test binary.
pub(super) fn is_test_child() -> bool {
    TEST_CHILD.load(Ordering::Relaxed)
}

/// Notes that this process is a child serving its task: it may start children of its own.
pub(super) fn mark_in_child() {
    IN_CHILD.store(true, Ordering::Relaxed);
}

/// The value of [`BOOT_ENV`] for a child of `parent` that finds its socket (and, under a test harness,
/// the parent's stdout) at these numbers.
pub(super) fn env_value(
    parent: sys::identity::Pid,
    socket: RawFd,
    stdout: Option<RawFd>,
) -> String {
    match stdout {
        Some(out) => format!("{parent}:{socket}:{out}"),
        None => format!("{parent}:{socket}"),
    }
}

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
    if sys::process::getppid() != sys::identity::Pid::from_raw(ppid) {
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
        log::error!(
            target: "multiproc::boot",
            "this process was started as a worker but its bootstrap socket (fd {socket}) did not arrive"
        );
        std::process::exit(EXIT_NOT_BOOTSTRAPPED);
    }
    BootEnv::Ours(Boot { socket, stdout })
}

/// Call first thing in `main` if you do not use `#[multiproc::main]`: in a process started by multiproc
/// this runs the worker and exits; otherwise it returns at once. Either way it first raises the soft
/// limit on open descriptors to 65,536 (or the hard limit, if lower; never lowers it): each queue,
/// lock and shared value holds one.
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

/// The soft descriptor limit every multiproc process raises itself to at start (or to the hard limit,
/// if lower).
const NOFILE_AT_START: u64 = 1 << 16;

/// See [`init`].
pub(crate) fn run_child_if_spawned() {
    // Each queue, lock and shared value holds a descriptor: the default soft limit of 1024 would cap
    // a program at a few hundred of them. Failing to raise it leaves it as it was.
    let _ = crate::sys::rlimit::raise_nofile(Some(NOFILE_AT_START));
    match boot_env() {
        BootEnv::None => PASSED.store(true, Ordering::Relaxed),
        BootEnv::Orphaned => std::process::exit(1),
        BootEnv::Ours(boot) => child_main(boot),
    }
}

/// Called by every spawn in a parent: a process that never passed an entry point would start children
/// that run its `main` (or, in a test binary, its tests) again instead of the worker.
pub(super) fn check_passed() -> Result<()> {
    if PASSED.load(Ordering::Relaxed) || IN_CHILD.load(Ordering::Relaxed) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::NotBootstrapped,
        "this process never passed multiproc's bootstrap, so its children could not either: annotate \
         `fn main` with #[multiproc::main], tests that start processes with #[multiproc::test] (not \
         #[test]), or call multiproc::init() first thing in main",
    ))
}

/// Called by every spawn: a child that reaches a spawn without having passed the bootstrap would
/// otherwise re-spawn itself forever.
pub(super) fn refuse_unbootstrapped_spawn() {
    if IN_CHILD.load(Ordering::Relaxed) {
        return;
    }
    if let BootEnv::Ours(_) = boot_env() {
        log::error!(
            target: "multiproc::boot",
            "this process was started as a worker but its main never reached multiproc's bootstrap; \
             annotate `fn main` with #[multiproc::main] (or tests with #[multiproc::test]), or call \
             multiproc::init() first thing in main"
        );
        std::process::exit(EXIT_NOT_BOOTSTRAPPED);
    }
}

fn child_main(boot: Boot) -> ! {
    mark_in_child();
    crate::logging::inherit();
    log::debug!(target: "multiproc::boot", "child pid {} serving its task", sys::process::getpid());
    sys::process::name_after_executable();
    if let Some(saved) = boot.stdout {
        TEST_CHILD.store(true, Ordering::Relaxed);
        sys::child::restore_stdout(saved);
    }
    serve::serve_one_task(sys::child::adopt_passed(boot.socket))
}
