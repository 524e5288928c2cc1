//! Shared memory: memfd blocks (small objects: slots of shared arenas, `arena`) mapped by every
//! process that holds the handle. [`Value`] and [`Array`] (with a robust lock), [`RawValue`] and
//! [`RawArray`] (without), [`SharedMemory`] (bytes found by name), [`ShareableList`] and
//! [`SharedMemoryManager`] (Python's `shared_memory` module), and [`Shareable`], the plain data that
//! may live there.

pub(crate) mod arena;
pub(crate) mod block;
pub(crate) mod data;
pub(crate) mod guard;
mod list;
pub(crate) mod mailbox;
mod named;
mod publish;
pub(crate) mod ring;
pub(crate) mod shareable;
mod volatile;

pub use list::{ListItem, ShareableList};
pub use named::SharedMemory;
pub use shareable::{AtomicShareable, Shareable};
