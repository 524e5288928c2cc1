//! Publishing blocks under names: one listening socket per name in Linux's abstract namespace, and one
//! thread per process (started on first use) that answers every connection with the block's size and
//! descriptor, for the same user only. A name exists exactly as long as its socket: withdrawn on drop,
//! and gone with the process even on `SIGKILL`.
//!
//! A connection that arrives with an [`UNLINK_REQUEST`] packet already queued (sent right after
//! `connect`) asks the server to withdraw the name instead: it does so when the request names the
//! published block (its memfd's device and inode), answering [`UNLINKED`], or answers [`NOT_SAME`].
//! A request that arrives only after the accept gets the ordinary answer (size and descriptor); the
//! asker sees the descriptor and asks again.

use super::block::Block;
use crate::error::{Error, ErrorKind, Result};
use crate::sys::abstract_socket::{self as sock, Epoll};
use crate::sys::socket;
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Prefix of every published name in the abstract namespace.
pub(crate) const PREFIX: &str = "multiproc.shm.";

/// First byte of an unlink request; the device and inode of the block follow (little-endian u64s).
pub(crate) const UNLINK_REQUEST: u8 = b'U';
/// Length of an unlink request.
pub(crate) const UNLINK_REQUEST_LEN: usize = 17;
/// Answer to an unlink request: the name is withdrawn.
pub(crate) const UNLINKED: [u8; 8] = *b"unlinked";
/// Answer to an unlink request naming another block than the one published under the name.
pub(crate) const NOT_SAME: [u8; 8] = *b"notsame\0";

/// The unlink request for the block behind `block`.
pub(crate) fn unlink_request(block: &Block) -> std::io::Result<[u8; UNLINK_REQUEST_LEN]> {
    let (dev, ino) = crate::sys::block::identity(block.fd())?;
    let mut req = [0u8; UNLINK_REQUEST_LEN];
    req[0] = UNLINK_REQUEST;
    req[1..9].copy_from_slice(&dev.to_le_bytes());
    req[9..].copy_from_slice(&ino.to_le_bytes());
    Ok(req)
}

/// One published name: its listening socket, its block, and the id of the [`Published`] that owns it
/// (descriptor numbers are reused once a name is withdrawn, ids never are).
struct Entry {
    listener: OwnedFd,
    block: Arc<Block>,
    id: u64,
    name: String,
}

struct Server {
    epoll: Epoll,
    /// Listening socket (by descriptor number) → its socket and block. Held while answering, so that a
    /// withdrawn descriptor number cannot be reused under the server's feet.
    entries: Mutex<HashMap<i32, Entry>>,
    /// Name → the block published under it, for an attach from this very process (see [`local`]).
    /// Locked after `entries` when both are, and changed with it.
    by_name: Mutex<HashMap<String, Arc<Block>>>,
}

/// The block this process publishes under `name`, if it does: an attach from the creator's own
/// process takes it from here, without a round trip to the name server's thread.
pub(crate) fn local(name: &str) -> Option<Arc<Block>> {
    let server = SERVER.get()?;
    crate::poison::lock(&server.by_name).get(name).cloned()
}

/// Takes `fd`'s entry out of `map` and the name out of `by_name`; the entry, if there was one.
fn take(server: &Server, map: &mut HashMap<i32, Entry>, fd: i32) -> Option<Entry> {
    let gone = map.remove(&fd)?;
    let _ = server.epoll.remove(gone.listener.as_fd());
    crate::poison::lock(&server.by_name).remove(&gone.name);
    Some(gone)
}

fn entries(server: &Server) -> MutexGuard<'_, HashMap<i32, Entry>> {
    crate::poison::lock(&server.entries)
}

/// An unlink request already queued on `conn`, if any (never waits: an attach sends nothing).
fn queued_unlink_request(conn: &OwnedFd) -> Option<[u8; UNLINK_REQUEST_LEN]> {
    if !socket::readable_within(conn.as_fd(), 0).unwrap_or(false) {
        return None;
    }
    let mut buf = [0u8; UNLINK_REQUEST_LEN + 1];
    let mut fds: Vec<OwnedFd> = Vec::new();
    let got = socket::recv_with_fds(conn.as_fd(), &mut buf, &mut fds).ok()?;
    let req: [u8; UNLINK_REQUEST_LEN] = buf[..UNLINK_REQUEST_LEN].try_into().ok()?;
    (got.bytes == UNLINK_REQUEST_LEN && req[0] == UNLINK_REQUEST).then_some(req)
}

fn serve(server: &Server) {
    let me = sock::my_uid();
    let mut ready = Vec::new();
    while server.epoll.wait(&mut ready).is_ok() {
        let mut map = entries(server);
        for fd in &ready {
            let Some(entry) = map.get(fd) else {
                continue;
            };
            // One connection per readiness: epoll is level-triggered and reports the rest.
            let Ok(conn) = sock::accept(entry.listener.as_fd()) else {
                continue;
            };
            if !sock::peer_uid(conn.as_fd()).is_ok_and(|uid| uid == me) {
                continue;
            }
            if let Some(req) = queued_unlink_request(&conn) {
                let ours = unlink_request(&entry.block).is_ok_and(|mine| mine == req);
                if ours {
                    take(server, &mut map, *fd);
                    let _ = socket::send_parts(conn.as_fd(), &[&UNLINKED], &[]);
                } else {
                    let _ = socket::send_parts(conn.as_fd(), &[&NOT_SAME], &[]);
                }
                continue;
            }
            let size = (entry.block.len() as u64).to_le_bytes();
            let _ = socket::send_parts(conn.as_fd(), &[&size], &[entry.block.fd()]);
        }
    }
}

/// The process's name server, started on first use (one epoll descriptor and one thread, for the
/// life of the process). A failed start is not remembered: the next call tries again.
static SERVER: OnceLock<Arc<Server>> = OnceLock::new();

fn server() -> Result<&'static Server> {
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
        by_name: Mutex::new(HashMap::new()),
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
    id: u64,
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
    static NEXT_ID: AtomicU64 = AtomicU64::new(0);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let fd = listener.as_raw_fd();
    let mut map = entries(server);
    server
        .epoll
        .add(listener.as_fd())
        .map_err(|e| Error::io("could not watch a shared memory name", e))?;
    crate::poison::lock(&server.by_name).insert(name.to_string(), Arc::clone(&block));
    map.insert(
        fd,
        Entry {
            listener,
            block,
            id,
            name: name.to_string(),
        },
    );
    Ok(Published { fd, id })
}

impl Published {
    /// Withdraws the name; false if it was already withdrawn (by an unlink request from an attached
    /// handle).
    pub(crate) fn withdraw(self) -> bool {
        // Dropping it afterwards finds nothing left to remove.
        self.remove()
    }

    fn remove(&self) -> bool {
        // A published name means the server runs: this only looks it up.
        let Ok(server) = server() else {
            return false;
        };
        let mut map = entries(server);
        if map.get(&self.fd).is_none_or(|e| e.id != self.id) {
            return false;
        }
        take(server, &mut map, self.fd);
        true
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        self.remove();
    }
}
