//! Shared memory: memfd blocks mapped by every process that holds the handle. [`Value`] and [`Array`]
//! (with a robust lock), [`RawValue`] and [`RawArray`] (without), [`SharedMemory`] (bytes found by
//! name), [`ShareableList`] and [`SharedMemoryManager`] (Python's `shared_memory` module), and
//! [`Shareable`], the plain data that may live there.

mod array;
pub(crate) mod block;
mod data;
pub(crate) mod guard;
mod list;
pub(crate) mod mailbox;
mod manager;
mod named;
mod publish;
pub(crate) mod ring;
mod shareable;
mod value;
mod volatile;

pub use array::{Array, ArrayGuard, RawArray};
pub use list::{ListItem, ShareableList};
pub use manager::SharedMemoryManager;
pub use named::SharedMemory;
pub use shareable::{AtomicShareable, Shareable};
pub use value::{AnyLock, RawValue, Value, ValueGuard};
