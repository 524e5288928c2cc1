//! Python's `forkserver` start method. The first child started this way is a *fork server*: a copy
//! of this executable, started by the ordinary re-exec and stopped right after the bootstrap, so it has
//! run none of the program's own code. Each later child is a `fork` of it: no `exec`, no dynamic
//! loading, no runtime start-up, a fraction of a millisecond. The server reaps its children and relays
//! their exit statuses; each child still watches its own socket to the program, so it dies with the
//! program like any other child.
//!
//! A forked child keeps only its own socket (and stdin, stdout, stderr): every other descriptor of the
//! server is closed before it runs anything.
//!
//! Protocol on the control channel: the program sends a request (a serial number, with the new child's
//! socket as a descriptor); the server answers `Forked`, and later `Exited` when that child is reaped.

use super::child::{Child, Reaper};
use super::serve;
use crate::codec::Encoded;
use crate::error::{Error, Result};
use crate::ipc::channel::Channel;
use crate::method::StartMethod;
use crate::protocol::child as protocol;
use crate::registry::{self, WorkerEntry};
use crate::sys::{self, child::SIGKILL, identity::Pid, process::ExitStatus};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const ENTRY: &str = "multiproc::forkserver";

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| -> Result<Encoded> {
            registry::invoke(bytes, fds, |(ctl,): (Channel,)| serve(ctl))
        },
        invoke_batch: None,
    }
}

/// What the server tells the program.
#[derive(Serialize, Deserialize)]
enum Event {
    /// The child's pidfd comes along, opened by the server while the child cannot yet have been
    /// reaped, so the program never signals or watches a pid that may have been reused.
    Forked {
        serial: u64,
        pid: Pid,
        #[serde(with = "crate::codec::fd")]
        pidfd: OwnedFd,
    },
    /// `None` when the status could not be read (the server's `waitpid` failed).
    Exited {
        serial: u64,
        status: Option<ExitStatus>,
    },
    /// The fork (or opening the child's pidfd) failed: the system's error number, and its text
    /// when it has none.
    Failed {
        serial: u64,
        errno: Option<i32>,
        error: String,
    },
}

impl Event {
    /// The answer to request `serial` when `e` stopped the fork.
    fn failed(serial: u64, e: &std::io::Error) -> Event {
        Event::Failed {
            serial,
            errno: e.raw_os_error(),
            error: e.to_string(),
        }
    }
}

struct Server {
    /// The server process itself: killed and reaped when the last of its children's handles goes.
    _child: Child,
    ctl: Channel,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_serial: u64,
    exited: HashMap<u64, Option<ExitStatus>>,
    forgotten: HashSet<u64>,
    dead: bool,
}

static SERVER: Mutex<Option<Arc<Server>>> = Mutex::new(None);

use crate::poison::lock;

fn gone() -> Error {
    Error::disconnected(
        "the fork server died, and so did the one started to replace it: see the log (RUST_LOG=debug) \
         for why, or use StartMethod::Spawn",
    )
}

/// The running fork server, started on first use (and again if it died).
fn server() -> Result<Arc<Server>> {
    let mut slot = lock(&SERVER);
    if let Some(s) = slot.as_ref().filter(|s| !lock(&s.state).dead) {
        return Ok(s.clone());
    }
    let (ctl, theirs) = Channel::pair()?;
    let task = protocol::encode_task(ENTRY, &(theirs,))?;
    let child = super::start(StartMethod::Spawn, &task)?;
    let server = Arc::new(Server {
        _child: child,
        ctl,
        state: Mutex::default(),
    });
    *slot = Some(server.clone());
    Ok(server)
}

impl Server {
    /// Handles one event; returns it if it is the answer to request `serial`.
    fn absorb(&self, st: &mut State, event: Event, serial: u64) -> Option<Result<(Pid, OwnedFd)>> {
        match event {
            Event::Forked {
                serial: s,
                pid,
                pidfd,
            } if s == serial => Some(Ok((pid, pidfd))),
            Event::Failed {
                serial: s,
                errno,
                error,
            } if s == serial => {
                let cause = match errno {
                    Some(n) => std::io::Error::from_raw_os_error(n),
                    None => std::io::Error::other(error),
                };
                Some(Err(Error::io("the fork server could not fork", cause)))
            }
            Event::Exited { serial: s, status } => {
                if !st.forgotten.remove(&s) {
                    st.exited.insert(s, status);
                }
                None
            }
            Event::Forked { .. } | Event::Failed { .. } => None,
        }
    }
}

/// A child of a fork server: which server, and its number there. Statuses are asked of that server,
/// even after another has replaced it.
pub(super) struct Forked {
    server: Arc<Server>,
    serial: u64,
}

/// Starts a child by forking the server. A server found dead (killed from outside) is replaced once,
/// transparently, as Python does; if the new one fails too, the error comes back.
pub(super) fn start() -> Result<Child> {
    // The same refusals as a spawn: the rules do not depend on the start method.
    super::boot::refuse_unbootstrapped_spawn();
    super::boot::check_passed()?;
    super::harness::test_name()?; // a plain #[test] that spawns is refused, whatever the method
    match start_on(server()?) {
        Err(e) if e.is_disconnected() => {
            log::debug!(target: "multiproc::forkserver", "the fork server died; starting a new one");
            start_on(server()?)
        }
        other => other,
    }
}

fn start_on(server: Arc<Server>) -> Result<Child> {
    let (ours, theirs) =
        sys::socket::socketpair().map_err(|e| Error::io("socketpair failed", e))?;
    let mut st = lock(&server.state);
    let serial = st.next_serial;
    st.next_serial += 1;
    if let Err(e) = server
        .ctl
        .send_raw(&serial.to_le_bytes(), &[theirs.as_fd()])
    {
        st.dead = true;
        return Err(if e.is_disconnected() { gone() } else { e });
    }
    drop(theirs);
    let (pid, pidfd) = loop {
        match server.ctl.recv_value::<Event>(None) {
            Ok(event) => {
                if let Some(answer) = server.absorb(&mut st, event, serial) {
                    break answer?;
                }
            }
            Err(e) => {
                st.dead = true;
                return Err(if e.is_disconnected() { gone() } else { e });
            }
        }
    };
    drop(st);
    let forked = Forked { server, serial };
    Ok(Child::new(
        pid,
        pidfd,
        Channel::from_fd(ours),
        Reaper::Server(forked),
    ))
}

impl Forked {
    /// How a fork-server child ended: `Some(Some(status))` once its server has reaped it, `Some(None)` if
    /// the status is lost (that server is gone, or could not read it), `None` if it has not been reaped yet
    /// (and `block` is false).
    ///
    /// A blocking call holds the server's state lock while it waits for the status, which the server sends
    /// as soon as it reaps the child; a child stuck in its own exit (an atexit handler that never returns)
    /// therefore also holds up other fork-server spawns and status checks of this program until it ends.
    pub(super) fn exit_status(&self, block: bool) -> Option<Option<ExitStatus>> {
        let server = &self.server;
        let mut st = lock(&server.state);
        loop {
            if let Some(status) = st.exited.remove(&self.serial) {
                return Some(status);
            }
            if st.dead {
                return Some(None);
            }
            let deadline = if block { None } else { Some(Instant::now()) };
            match server.ctl.recv_value::<Event>(deadline) {
                Ok(event) => {
                    server.absorb(&mut st, event, u64::MAX);
                }
                Err(e) if e.is_timeout() => return None,
                Err(_) => st.dead = true,
            }
        }
    }

    /// The program no longer cares how `child` ends (its `Process` was dropped).
    pub(super) fn forget(&self) {
        let mut st = lock(&self.server.state);
        if st.exited.remove(&self.serial).is_none() {
            st.forgotten.insert(self.serial);
        }
    }
}

/// The server's loop: fork on request, reap and report exits, stop when the program goes away.
fn serve(ctl: Channel) {
    /// A child the server forked and has yet to reap.
    struct Tracked {
        serial: u64,
        pid: Pid,
        pidfd: OwnedFd,
    }
    // An ignored SIGCHLD (inherited from a program that ignores it) would have the kernel reap the
    // children before the server can read their statuses.
    sys::process::default_sigchld();
    let mut children: Vec<Tracked> = Vec::new();
    loop {
        let mut fds = vec![ctl.socket()];
        fds.extend(children.iter().map(|c| c.pidfd.as_fd()));
        let Ok(ready) = sys::child::wait_readable(&fds) else {
            return;
        };
        let mut ready = ready.into_iter();
        let request = ready.next().unwrap_or(false);
        children.retain(|c| {
            if !ready.next().unwrap_or(false) {
                return true;
            }
            let status = sys::process::wait_pid(c.pid, false).ok().flatten();
            let _ = ctl.send_value(&Event::Exited {
                serial: c.serial,
                status,
            });
            false
        });
        if !request {
            continue;
        }
        let Ok((bytes, mut sockets)) = ctl.recv_raw(None) else {
            return;
        };
        let (Ok(serial), Some(socket)) = (<[u8; 8]>::try_from(bytes.as_slice()), sockets.pop())
        else {
            continue;
        };
        drop(sockets); // anything else that came with a malformed request
        // Under a test harness the server is a test thread beside libtest's own: hold the standard
        // stream locks across the fork so that no child starts with one held by a thread it lacks.
        let out = std::io::stdout().lock();
        let err = std::io::stderr().lock();
        let serial = u64::from_le_bytes(serial);
        // SAFETY: the server's other threads hold no lock the child uses: the parent watch only sleeps in
        // poll, libtest's thread (in tests) can only hold the stream locks, which we hold; glibc takes
        // the malloc locks across fork. The child never returns from `serve_one_task`.
        let forked = unsafe { sys::process::fork() };
        drop(err);
        drop(out);
        match forked {
            Ok(sys::process::Forked::Child) => {
                // The child holds only its socket: not the server's control channel, its bootstrap
                // socket and parent watch, nor its other children's pidfds.
                sys::child::close_all_except(&[socket.as_raw_fd()]);
                serve::serve_one_task(socket);
            }
            Ok(sys::process::Forked::Parent(pid)) => {
                drop(socket);
                match sys::process::pidfd_open(pid) {
                    Ok(pidfd) => {
                        // The program gets a duplicate (the codec dups it); the server keeps this one.
                        let event = Event::Forked { serial, pid, pidfd };
                        let _ = ctl.send_value(&event);
                        if let Event::Forked { pidfd, .. } = event {
                            children.push(Tracked { serial, pid, pidfd });
                        }
                    }
                    Err(e) => {
                        let _ = sys::child::signal(pid, None, SIGKILL);
                        let _ = sys::process::wait_pid(pid, false);
                        let _ = ctl.send_value(&Event::failed(serial, &e));
                    }
                }
            }
            Err(e) => {
                let _ = ctl.send_value(&Event::failed(serial, &e));
            }
        }
    }
}
