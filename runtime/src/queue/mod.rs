//! Queues between processes: [`Queue`], [`SimpleQueue`] and [`JoinableQueue`], Python's
//! `multiprocessing` queues over a ring in shared memory (see `shm::ring` for the mechanism).

mod builder;
mod error;
mod feeder;
mod handle;
mod joinable;
mod simple;

pub use builder::QueueBuilder;
pub use error::PutError;
pub use handle::Queue;
pub use joinable::JoinableQueue;
pub use simple::SimpleQueue;
