//! Synchronisation between processes, all living in shared memory: [`Lock`] and [`RLock`] (robust
//! pthread mutexes: a dead holder's lock passes to the next acquirer with a flag), [`Semaphore`],
//! [`BoundedSemaphore`], [`Condition`], [`Event`] and [`Barrier`] (futex words shared by processes).

mod array;
mod barrier;
mod condition;
mod event;
mod holders;
mod lock;
mod rlock;
mod semaphore;
mod value;

pub use array::{Array, ArrayGuard, RawArray};
pub use barrier::{Barrier, BarrierBuilder};
pub use condition::{Condition, ConditionGuard};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
pub use value::{AnyLock, RawValue, Value, ValueGuard};
