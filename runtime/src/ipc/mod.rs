//! Pipes between processes: [`Pipe`] / [`Connection`] on Unix stream sockets, and the framing under
//! them (`channel`), which every other handle-carrying transport in the runtime reuses.

pub(crate) mod channel;
mod connection;
pub(crate) mod side;

pub use channel::DEFAULT_MAX_MESSAGE;
pub use connection::{Connection, Pipe};
