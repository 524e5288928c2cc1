//! [`SharedMemoryManager`]: a helper process that creates [`SharedMemory`] blocks and
//! [`ShareableList`]s on request and owns them, so that they live as long as the manager, whoever
//! asked for them, and all go when it shuts down. Python:
//! `multiprocessing.managers.SharedMemoryManager`.
//!
//! The helper is this binary started again (like the object manager's server), talking to its
//! starter over a pipe. It creates each block itself, so it holds the block's name (an abstract
//! socket served by its name-server thread): the names live as long as that process, whatever
//! becomes of the process that asked. `shutdown()`, dropping the handle, or the death of the starter
//! (its end of the pipe closes) makes it drop every block and exit; killed, its names go with it.
//! As everywhere, the memory itself lives on until the last process that attached lets go of it.

use crate::error::{Error, ErrorKind, Result};
use crate::ipc::{Connection, Pipe};
use crate::process::{Process, ProcessBuilder};
use crate::registry::{self, WorkerEntry};
use crate::shm::{ListItem, ShareableList, SharedMemory};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

pub(crate) const ENTRY: &str = "multiproc::shm::manager::serve";

/// Requests to the helper and its replies, over one pipe.
#[derive(Serialize, Deserialize)]
enum Msg {
    /// Create a block of this many bytes.
    Create(u64),
    /// Drop every block and exit.
    Shutdown,
    /// The new block's name.
    Created(String),
    /// Creating failed: why.
    Failed(String),
    /// Every block is gone; the helper exits.
    Stopped,
}

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| registry::invoke(bytes, fds, |(conn,): (Connection<Msg>,)| serve(conn)),
        invoke_batch: None,
    }
}

/// The helper: creates blocks until told to stop or its starter is gone, then drops them all.
fn serve(conn: Connection<Msg>) {
    crate::sys::signals::ignore_interrupt();
    let mut blocks = Vec::new();
    loop {
        match conn.recv() {
            Ok(Msg::Create(size)) => {
                let reply = match usize::try_from(size)
                    .map_err(|_| Error::new(ErrorKind::InvalidInput, "size out of range"))
                    .and_then(SharedMemory::new)
                {
                    Ok(shm) => {
                        let name = shm.name().to_string();
                        blocks.push(shm);
                        Msg::Created(name)
                    }
                    Err(e) => Msg::Failed(format!("{e:#}")),
                };
                if conn.send(&reply).is_err() {
                    break;
                }
            }
            Ok(Msg::Shutdown) => {
                blocks.clear();
                let _ = conn.send(&Msg::Stopped);
                return;
            }
            // A reply sent to the helper, or bytes that are not a message: ignore it.
            Ok(_) => {}
            Err(e) if e.kind() == &ErrorKind::Codec => {}
            Err(_) => break,
        }
    }
}

struct Running {
    conn: Connection<Msg>,
    process: Process<()>,
}

/// Starts a helper process that creates shared memory on request and keeps every block it created
/// until [`shutdown`](Self::shutdown) (or until this handle is dropped, or this process dies): the
/// blocks outlive the processes that asked for them, and none outlives the manager. Python:
/// `SharedMemoryManager()`, `smm.start()`, `smm.SharedMemory(size)`, `smm.ShareableList(seq)`,
/// `smm.shutdown()` (or `with SharedMemoryManager() as smm:`).
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// use multiproc::{SharedMemory, SharedMemoryManager};
///
/// #[multiproc::main]
/// fn main() -> multiproc::Result<()> {
///     let smm = SharedMemoryManager::start()?;
///     let shm = smm.shared_memory(128)?;
///     let sl = smm.shareable_list(&[1i64, 2, 3])?;
///     let name = shm.name().to_string();
///     drop(shm);                                   // the manager still holds it
///     assert!(SharedMemory::attach(&name).is_ok());
///     assert_eq!(sl.get(2)?, 3);
///     smm.shutdown()?;                             // every block's name is gone
///     assert!(SharedMemory::attach(&name).is_err());
///     Ok(())
/// }
/// ```
pub struct SharedMemoryManager {
    running: Mutex<Option<Running>>,
    pid: u32,
}

/// How long `shutdown` waits for the helper before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn stopped() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the SharedMemoryManager was shut down; start another",
    )
}

impl SharedMemoryManager {
    /// Starts the helper process. Python: `smm = SharedMemoryManager(); smm.start()`.
    pub fn start() -> Result<SharedMemoryManager> {
        let (ours, theirs) = Pipe::<Msg>::new()?;
        let process: Process<()> = ProcessBuilder::default()
            .name("SharedMemoryManager")
            .spawn_entry(ENTRY, (theirs,))?;
        let pid = process.pid();
        Ok(SharedMemoryManager {
            running: Mutex::new(Some(Running {
                conn: ours,
                process,
            })),
            pid,
        })
    }

    /// The helper's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A new zero-filled block of at least `size` bytes, owned by the manager: this handle is
    /// attached to it (dropping or unlinking it leaves it to the manager), and it lives until the
    /// manager shuts down. Python: `smm.SharedMemory(size)`.
    pub fn shared_memory(&self, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a shared memory block needs a size of at least one byte",
            ));
        }
        let name = {
            let guard = crate::poison::lock(&self.running);
            let running = guard.as_ref().ok_or_else(stopped)?;
            running.conn.send(&Msg::Create(size as u64))?;
            match running.conn.recv()? {
                Msg::Created(name) => name,
                Msg::Failed(why) => {
                    return Err(Error::new(
                        ErrorKind::Remote {
                            message: why.clone(),
                        },
                        format!("the SharedMemoryManager could not create a block: {why}"),
                    ));
                }
                _ => {
                    return Err(Error::new(
                        ErrorKind::Codec,
                        "the SharedMemoryManager answered out of turn",
                    ));
                }
            }
        };
        SharedMemory::attach(&name)
    }

    /// A new [`ShareableList`] holding a copy of `items`, in a block the manager owns (see
    /// [`shared_memory`](Self::shared_memory)). Python: `smm.ShareableList(sequence)`.
    pub fn shareable_list<T: ListItem>(&self, items: &[T]) -> Result<ShareableList<T>> {
        let shm = self.shared_memory(ShareableList::<T>::size_for(items)?)?;
        ShareableList::init_in(shm, items)
    }

    /// Drops every block the manager created (their names go; the memory goes when the last
    /// attached process lets go) and stops the helper. A second call does nothing. Python:
    /// `smm.shutdown()`.
    pub fn shutdown(&self) -> Result<()> {
        let Some(mut running) = crate::poison::lock(&self.running).take() else {
            return Ok(());
        };
        let asked = running.conn.send(&Msg::Shutdown).and_then(|()| {
            // The reply says the blocks are gone; anything else ends the wait too.
            running.conn.recv_timeout(STOP_TIMEOUT).map(drop)
        });
        drop(running.conn);
        match running.process.join_timeout(STOP_TIMEOUT) {
            Ok(()) => asked,
            Err(e) if e.is_timeout() => {
                let _ = running.process.kill();
                let _ = running.process.join_timeout(STOP_TIMEOUT);
                Err(Error::timeout("SharedMemoryManager shutdown", STOP_TIMEOUT))
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for SharedMemoryManager {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for SharedMemoryManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMemoryManager")
            .field("pid", &self.pid)
            .field("running", &crate::poison::lock(&self.running).is_some())
            .finish()
    }
}
