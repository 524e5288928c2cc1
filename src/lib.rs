//! # multiproc
//!
//! Python's `multiprocessing`, done the Rust way. Mark the functions that may run in a child process
//! with [`#[worker]`](macro@worker), annotate `main` with [`#[multiproc::main]`](macro@main), and start
//! them as processes, with typed pipes between them.
//!
//! ```no_run
//! use multiproc::{worker, Pipe, Connection};
//!
//! #[worker]
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! #[worker]
//! fn echo(conn: Connection<String>) {
//!     while let Ok(msg) = conn.recv() {
//!         conn.send(&msg.to_uppercase()).unwrap();
//!     }
//! }
//!
//! #[multiproc::main]
//! fn main() -> multiproc::Result<()> {
//!     let p = square::spawn(7)?;                 // Process(target=square, args=(7,)).start()
//!     assert_eq!(p.join()?, 49);                 // join returns the worker's value
//!
//!     let (here, there) = Pipe::<String>::new()?; // Pipe()
//!     let child = echo::spawn(there)?;           // the pipe end travels as a file descriptor
//!     here.send(&"hello".to_string())?;
//!     assert_eq!(here.recv()?, "HELLO");
//!     drop(here);
//!     child.join()?;
//!     Ok(())
//! }
//! ```
//!
//! The child is this same executable, started again: the runtime finds the worker in a link-time
//! registry and runs it instead of `main`. See the README for the whole API by Python name.

#![deny(missing_docs)]

pub use multiproc_macros::{main, managed, shared, test, worker};
pub use multiproc_runtime::*;

#[doc(hidden)]
pub mod __private {
    pub use multiproc_runtime::__private::*;
}
