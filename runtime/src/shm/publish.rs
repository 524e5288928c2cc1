//! Publishing blocks under names: one listening socket per name in Linux's abstract namespace, and one
//! thread per process (started on first use) that answers every connection with the block's size and
//! descriptor, for the same user only. A name exists exactly as long as its socket: withdrawn on drop,
//! and gone with the process even on `SIGKILL`.

use super::block::Block;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::abstract_socket::{self as sock, Epoll};
use crate::sys::socket;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Prefix of every published name in the abstract namespace.
pub(crate) const PREFIX: &str = "multiproc.shm.";

struct Server {
    epoll: Epoll,
    /// Listening socket (by descriptor number) → its socket and block. Held while answering, so that a
    /// withdrawn descriptor number cannot be reused under the server's feet.
    entries: Mutex<HashMap<i32, (OwnedFd, Arc<Block>)>>,
}

fn entries(server: &Server) -> MutexGuard<'_, HashMap<i32, (OwnedFd, Arc<Block>)>> {
    crate::poison::lock(&server.entries)
}

fn serve(server: &Server) {
    let me = sock::my_uid();
    let mut ready = Vec::new();
    while server.epoll.wait(&mut ready).is_ok() {
        let map = entries(server);
        for fd in &ready {
            let Some((listener, block)) = map.get(fd) else {
                continue;
            };
            let size = (block.len() as u64).to_le_bytes();
            // One connection per readiness: epoll is level-triggered and reports the rest.
            if let Ok(conn) = sock::accept(listener.as_fd()) {
                if sock::peer_uid(conn.as_fd()).is_ok_and(|uid| uid == me) {
                    let _ = socket::send_parts(conn.as_fd(), &[&size], &[block.fd()]);
                }
            }
        }
    }
}

/// The process's name server, started on first use (one epoll descriptor and one thread, for the
/// life of the process). A failed start is not remembered: the next call tries again.
fn server() -> Result<&'static Server> {
    static SERVER: OnceLock<Arc<Server>> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(server) = SERVER.get() {
        return Ok(server);
    }
    let _one_at_a_time = crate::poison::lock(&STARTING);
    if let Some(server) = SERVER.get() {
        return Ok(server);
    }
    let epoll = Epoll::new()
        .map_err(|e| Error::io("could not create the epoll for shared memory names", e))?;
    let server = Arc::new(Server {
        epoll,
        entries: Mutex::new(HashMap::new()),
    });
    let serving = Arc::clone(&server);
    std::thread::Builder::new()
        .name("multiproc-shm-names".into())
        .spawn(move || serve(&serving))
        .map_err(|e| {
            Error::io(
                "could not start the thread that serves shared memory names",
                e,
            )
        })?;
    Ok(SERVER.get_or_init(|| server))
}

/// A name under which a block is published; withdrawn when dropped.
pub(crate) struct Published {
    fd: i32,
}

/// Publishes `block` under `name`; `InvalidInput` if the name is taken.
pub(crate) fn publish(name: &str, block: Arc<Block>) -> Result<Published> {
    let server = server()?;
    let listener = sock::listen(&format!("{PREFIX}{name}")).map_err(|e| {
        if crate::sys::errors::name_taken(&e) {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a shared memory block named {name:?} already exists: attach to it or pick another name"
                ),
            )
        } else {
            Error::io(format!("could not publish shared memory named {name:?}"), e)
        }
    })?;
    let fd = listener.as_raw_fd();
    let mut map = entries(server);
    server
        .epoll
        .add(listener.as_fd())
        .map_err(|e| Error::io("could not watch a shared memory name", e))?;
    map.insert(fd, (listener, block));
    Ok(Published { fd })
}

impl Drop for Published {
    fn drop(&mut self) {
        // A published name means the server runs: this only looks it up.
        if let Ok(server) = server() {
            let mut map = entries(server);
            if let Some((listener, _)) = map.remove(&self.fd) {
                let _ = server.epoll.remove(listener.as_fd());
            }
        }
    }
}
