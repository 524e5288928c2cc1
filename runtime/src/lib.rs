//! The runtime of [multiproc](https://docs.rs/multiproc): everything that runs. Users depend on the
//! `multiproc` facade crate, which re-exports this one together with the attribute macros.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
// Examples show `fn main` on purpose: that is where #[multiproc::main] / init() go.
#![allow(clippy::needless_doctest_main)]

pub mod codec;
mod error;
pub mod ipc;
mod launch;
pub mod manager;
mod poison;
mod policy;
mod pool;
mod process;
mod protocol;
mod queue;
mod registry;
mod shm;
mod sync;
mod sys;
mod worker;
mod worker_error;

pub use error::{Error, ErrorKind, Result};
pub use ipc::{Connection, Pipe};
pub use launch::{StartMethod, get_start_method, init, set_start_method};
pub use manager::{Managed, Manager, ManagerBuilder};
pub use multiproc_macros::{main, managed, shared, test, worker};
pub use pool::{AsyncResult, IMap, Pool, PoolBuilder, cpu_count};
pub use process::{Process, ProcessBuilder};
pub use queue::{JoinableQueue, PutError, Queue, QueueBuilder, SimpleQueue};
pub use shm::{
    Array, ArrayGuard, AtomicShareable, RawArray, RawValue, Shareable, SharedMemory, Value,
    ValueGuard,
};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, ConditionGuard, Event, Lock, LockGuard, RLock,
    RLockGuard, Semaphore, SemaphoreGuard,
};
pub use sys::fd::open_fd_count;
pub use sys::process::{ExitStatus, signal_name};
pub use worker::{MapFn, WorkerFn};
pub use worker_error::WorkerError;

/// What generated code reaches; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::manager::__private as managed;
    pub use crate::manager::{Dispatch, ManagedEntry, ProxyCore};
    pub use crate::registry::{Invoke, InvokeBatch, WorkerEntry, invoke, invoke_batch};
    pub use crate::shm::{AtomicShareable, Shareable};
    pub use crate::worker::travel::{Check, Stays, Travel, Travels, Unserializable, ViaSerde};
    pub use inventory;
    pub use serde;

    /// `#[multiproc::main]`: run the worker if this process is a child.
    pub fn bootstrap() {
        crate::launch::run_child_if_spawned();
    }

    /// `#[multiproc::test]`: run the worker if this is a child, else note the test name.
    pub fn test_entry(path: &str) {
        crate::launch::test_entry(path);
    }
}
