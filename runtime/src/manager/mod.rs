//! Managers: a server process owns objects (lists, dicts, namespaces, queues, locks, user types) and
//! typed proxies reach them from any process, over a local Unix socket or, for other machines, TCP
//! with an authkey. Python: `multiprocessing.Manager()` / `BaseManager`.
//!
//! ```no_run
//! # extern crate multiproc_runtime as multiproc;
//! use multiproc::manager::ListProxy;
//!
//! #[multiproc::worker]
//! fn add(list: ListProxy<u64>, i: u64) {
//!     list.append(&(i * 10)).expect("manager is gone");
//! }
//!
//! #[multiproc::main]
//! fn main() -> multiproc::Result<()> {
//!     let mgr = multiproc::Manager::start()?;   // with Manager() as manager:
//!     let list = mgr.list::<u64>()?;            //     shared_list = manager.list()
//!     let workers: Vec<_> = (0..5).map(|i| add::spawn(list.clone(), i)).collect::<Result<_, _>>()?;
//!     for w in workers { w.join()?; }
//!     println!("{:?}", list.to_vec()?);         // [0, 10, 20, 30, 40] in some order
//!     Ok(())
//! }
//! ```

pub(crate) mod address;
pub(crate) mod auth;
mod collections;
mod containers;
mod custom;
mod fast;
pub(crate) mod gate;
mod handle;
mod hub;
mod initializer;
mod objects;
mod protocol;
mod proxy;
mod server;
mod shared_memory;
mod sync;
#[cfg(feature = "tls")]
mod tls;

pub use address::Address;
pub use collections::{ArrayProxy, SetProxy};
pub use containers::{DictProxy, ListProxy, NamespaceProxy, ValueProxy};
pub use custom::Managed;
#[doc(hidden)]
pub use custom::{Dispatch, ManagedEntry};
pub use handle::{Manager, ManagerBuilder};
pub use proxy::{Proxy, ProxyCore};
pub use shared_memory::SharedMemoryManager;
pub use sync::{
    BarrierProxy, ConditionGuard, ConditionProxy, JoinableQueueProxy, RLockGuard, RLockProxy,
    SemaphoreProxy,
};
pub use sync::{EventProxy, LockGuard, LockProxy, QueueProxy};

/// What `#[multiproc::managed]` expands to reaches these.
#[doc(hidden)]
pub mod __private {
    pub use super::custom::{call, call_result, create, downcast, unknown_method};
}

/// The manager's wire decoders as the server and the client run them, for hostile-input tests
/// (`tests/manager_hostile.rs`); not a public API.
#[doc(hidden)]
pub mod __testing {
    use crate::error::Result;

    /// Splits `frame` as the server splits a request: `(object id, capability, method)`.
    pub fn decode_request(frame: &[u8]) -> Result<(u128, u128, String)> {
        super::protocol::decode_request(frame).map(|(id, cap, method, _)| (id, cap, method))
    }

    /// Decodes `frame` as a client decodes the reply to a call returning `R`.
    pub fn decode_reply<R: serde::de::DeserializeOwned>(frame: &[u8]) -> Result<R> {
        super::protocol::decode_reply(frame, "test")
    }
}
