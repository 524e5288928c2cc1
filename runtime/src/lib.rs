//! The runtime of [multiproc](https://docs.rs/multiproc): everything that runs. Users depend on the
//! `multiproc` facade crate, which re-exports this one together with the attribute macros.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Examples show `fn main` on purpose: that is where #[multiproc::main] / init() go.
#![allow(clippy::needless_doctest_main)]

// multiproc is Linux only: it is built on memfd, pidfd, eventfd, futex, abstract sockets and
// /proc/self/exe. Everything below is compiled for Linux only, so that another target sees this one
// message and no cascade. A port goes in `sys/` (see its module docs).
#[cfg(not(target_os = "linux"))]
compile_error!(
    "multiproc supports Linux only: it needs memfd, pidfd, eventfd, futex, abstract Unix sockets and \
     /proc/self/exe, which this target does not have (a port would add them under runtime/src/sys/)"
);

#[cfg(all(target_os = "linux", feature = "async"))]
pub mod aio;
#[cfg(target_os = "linux")]
mod children;
#[cfg(target_os = "linux")]
pub mod codec;
#[cfg(target_os = "linux")]
pub mod connection;
#[cfg(target_os = "linux")]
mod context;
#[cfg(target_os = "linux")]
mod current;
#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
pub mod ipc;
#[cfg(target_os = "linux")]
mod launch;
#[cfg(target_os = "linux")]
mod logging;
#[cfg(target_os = "linux")]
pub mod manager;
#[cfg(target_os = "linux")]
mod method;
#[cfg(target_os = "linux")]
mod poison;
#[cfg(target_os = "linux")]
mod policy;
#[cfg(target_os = "linux")]
mod pool;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod protocol;
#[cfg(target_os = "linux")]
mod queue;
#[cfg(target_os = "linux")]
mod registry;
#[cfg(target_os = "linux")]
mod shm;
#[cfg(target_os = "linux")]
mod sync;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod travel;
#[cfg(target_os = "linux")]
mod worker;
#[cfg(target_os = "linux")]
mod worker_error;

#[cfg(target_os = "linux")]
pub use children::{ActiveChild, active_children, join_children_at_exit};
#[cfg(target_os = "linux")]
pub use codec::Bytes;
#[cfg(target_os = "linux")]
pub use context::{Context, get_context};
#[cfg(target_os = "linux")]
pub use current::{CurrentProcess, ParentProcess, current_process, parent_process};
#[cfg(target_os = "linux")]
pub use error::{Error, ErrorKind, Result};
#[cfg(target_os = "linux")]
pub use ipc::{Connection, Pipe};
#[cfg(target_os = "linux")]
pub use launch::init;
#[cfg(target_os = "linux")]
pub use logging::{LevelFilter, log_to_stderr};
#[cfg(target_os = "linux")]
pub use manager::SharedMemoryManager;
#[cfg(target_os = "linux")]
pub use manager::{Managed, Manager, ManagerBuilder};
#[cfg(target_os = "linux")]
pub use method::{StartMethod, get_all_start_methods, get_start_method, set_start_method};
pub use multiproc_macros::{main, managed, shared, test, worker};
#[cfg(all(target_os = "linux", feature = "async"))]
pub use pool::ResultFuture;
#[cfg(target_os = "linux")]
pub use pool::{AsyncResult, Backend, IMap, Pool, PoolBuilder, cpu_count};
#[cfg(target_os = "linux")]
pub use process::{Process, ProcessBuilder};
#[cfg(target_os = "linux")]
pub use queue::{JoinableQueue, PutError, Queue, QueueBuilder, SimpleQueue};
#[cfg(target_os = "linux")]
pub use shm::{AtomicShareable, ListItem, Shareable, ShareableList, SharedMemory};
#[cfg(target_os = "linux")]
pub use sync::{
    AnyLock, Array, ArrayGuard, Barrier, BarrierBuilder, BoundedSemaphore, Condition,
    ConditionGuard, Event, Lock, LockGuard, RLock, RLockGuard, RawArray, RawValue, Semaphore,
    SemaphoreGuard, Value, ValueGuard,
};
#[cfg(target_os = "linux")]
pub use sys::fd::open_fd_count;
#[cfg(target_os = "linux")]
pub use sys::process::{ExitStatus, signal_name};
#[cfg(target_os = "linux")]
pub use worker::{MapFn, WorkerFn};
#[cfg(target_os = "linux")]
pub use worker_error::WorkerError;

/// What generated code reaches; not a public API.
#[doc(hidden)]
#[cfg(target_os = "linux")]
pub mod __private {
    pub use crate::manager::__private as managed;
    pub use crate::manager::{Dispatch, ManagedEntry, ProxyCore};
    pub use crate::registry::{Invoke, InvokeBatch, WorkerEntry, invoke, invoke_batch};
    pub use crate::shm::{AtomicShareable, Shareable};
    pub use crate::travel::{Check, Stays, Travel, Travels, Unserializable, ViaSerde};
    pub use inventory;
    pub use serde;

    /// `#[multiproc::main]`: run the worker if this process is a child; under an MPI launch (feature
    /// `mpi`) serve as a node agent on every rank but 0. The guard joins the non-daemon children
    /// when `main` ends, then (rank 0 under MPI) tells the agents to leave and finalizes MPI.
    pub fn bootstrap() -> MainGuards {
        crate::launch::run_child_if_spawned();
        MainGuards {
            _children: crate::children::MainGuard::new(),
            #[cfg(feature = "mpi")]
            _mpi: crate::pool::mpi_enter(),
        }
    }

    /// What `#[multiproc::main]` holds for the length of `main`; its fields drop in this order.
    #[derive(Debug)]
    pub struct MainGuards {
        _children: crate::children::MainGuard,
        #[cfg(feature = "mpi")]
        _mpi: Option<crate::pool::MpiGuard>,
    }

    /// `#[multiproc::test]`: run the worker if this is a child, else note the test name.
    pub fn test_entry(path: &str) {
        crate::launch::test_entry(path);
    }
}
