//! The manager's server process: it owns the objects and serves each client connection on its own
//! thread (one slow or silent client holds up nobody else). A connection must pass the authkey
//! handshake before anything else is read; any malformed frame closes just that connection. The
//! server stops on a `shutdown` request, and dies with the process that started it.

use super::address::{self, Address, Listener};
use super::auth;
use super::custom::{self, CustomObj};
use super::objects::{
    Cx, DictObj, EventObj, ListObj, LockObj, NamespaceObj, Object, QueueObj, ValueObj, lock,
};
use super::protocol::{self, Blob, CONTROL, MAX_FRAME, Status, WireError, control};
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::registry::{self, WorkerEntry};
use crate::sys;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, RwLock};

/// The registry name of the server's entry point.
pub(crate) const ENTRY: &str = "multiproc::manager::server";

/// Largest reply buffer a connection keeps between calls.
const MAX_KEPT_BUFFER: usize = 1 << 20;

/// What the parent hands the server process.
#[derive(Serialize, Deserialize)]
pub(crate) struct ServerArgs {
    #[serde(with = "codec::fd")]
    pub listener: OwnedFd,
    pub address: Address,
    pub authkey: Vec<u8>,
}

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| registry::invoke(bytes, fds, |(args,): (ServerArgs,)| run(args)),
        invoke_batch: None,
    }
}

struct State {
    objects: RwLock<HashMap<u64, Arc<dyn Object>>>,
    names: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    authkey: Vec<u8>,
    shutdown: Mutex<Option<mpsc::Sender<()>>>,
}

/// Serves until a `shutdown` request.
fn run(args: ServerArgs) {
    let listener = Listener::new(args.listener, &args.address);
    let (tx, rx) = mpsc::channel();
    let state = Arc::new(State {
        objects: RwLock::new(HashMap::new()),
        names: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(CONTROL + 1),
        authkey: args.authkey,
        shutdown: Mutex::new(Some(tx)),
    });
    let acceptor = state.clone();
    let started = std::thread::Builder::new()
        .name("multiproc-manager-accept".into())
        .spawn(move || accept_loop(&listener, &acceptor));
    if started.is_ok() {
        let _ = rx.recv();
    }
}

fn accept_loop(listener: &Listener, state: &Arc<State>) {
    let next_conn = AtomicU64::new(1);
    loop {
        match address::accept(listener) {
            Ok(fd) => {
                let st = state.clone();
                let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                // Out of threads: the connection is dropped (closed) and the client sees Disconnected.
                let _ = std::thread::Builder::new()
                    .name("multiproc-manager-conn".into())
                    .stack_size(1 << 20)
                    .spawn(move || serve_connection(&st, fd, conn));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Out of descriptors or memory: back off briefly instead of spinning.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn serve_connection(state: &State, fd: OwnedFd, conn: u64) {
    let mut chan = Channel::from_fd(fd);
    chan.set_max_message(auth::HANDSHAKE_LIMIT);
    if auth::serve_handshake(&chan, &state.authkey).is_err() {
        return;
    }
    chan.set_max_message(MAX_FRAME);
    let mut cache: HashMap<u64, Arc<dyn Object>> = HashMap::new();
    let mut watched: HashMap<u64, Arc<dyn Object>> = HashMap::new();
    let mut out = Vec::new();
    let socket = chan.socket().try_clone_to_owned().ok();
    let peer_gone = || match &socket {
        Some(s) => sys::socket::poll_one(s.as_fd(), libc::POLLRDHUP, 0)
            .is_ok_and(|rev| rev & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0),
        None => false,
    };
    loop {
        let mut stop = false;
        let received = chan.recv_with(None, |frame, _fds| {
            let (id, method, args) = protocol::decode_request(frame.bytes())?;
            out.clear();
            codec::encode_into(&Status::Ok, &mut out, &mut Vec::new())?;
            let mut cx = Cx {
                conn,
                peer_gone: &peer_gone,
                watch: false,
            };
            let res = catch_unwind(AssertUnwindSafe(|| {
                if id == CONTROL {
                    control_call(state, &method, args, &mut out, &mut stop)
                } else {
                    let obj = object(state, &mut cache, id)?;
                    let r = obj.call(&mut cx, &method, args, &mut out);
                    if cx.watch {
                        watched.insert(id, obj);
                    }
                    r
                }
            }));
            let err = match res {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => WireError::from_error(&e),
                Err(panic) => {
                    WireError::Remote(format!("`{method}` panicked: {}", panic_message(&*panic)))
                }
            };
            out.clear();
            codec::encode_into(&Status::Err(err), &mut out, &mut Vec::new())
        });
        if received.is_err() || chan.send_raw(&out, &[]).is_err() {
            break;
        }
        if stop {
            if let Some(tx) = lock(&state.shutdown).take() {
                let _ = tx.send(());
            }
            break;
        }
        if out.capacity() > MAX_KEPT_BUFFER {
            out = Vec::new(); // a large reply (a snapshot) is not kept for the connection's lifetime
        }
        // The client's next request usually follows at once: catch it without sleeping.
        super::spin::until_readable(&chan);
    }
    for obj in watched.values() {
        obj.disconnected(conn);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

fn object(
    state: &State,
    cache: &mut HashMap<u64, Arc<dyn Object>>,
    id: u64,
) -> Result<Arc<dyn Object>> {
    if let Some(o) = cache.get(&id) {
        return Ok(o.clone());
    }
    let objects = state.objects.read().unwrap_or_else(|p| p.into_inner());
    let o = objects.get(&id).cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("the manager holds no object #{id}"),
        )
    })?;
    cache.insert(id, o.clone());
    Ok(o)
}

fn control_call(
    state: &State,
    method: &str,
    args: &[u8],
    out: &mut Vec<u8>,
    stop: &mut bool,
) -> Result<()> {
    match method {
        control::CREATE => {
            let (kind, tag, init): (String, String, Blob) = protocol::args(args)?;
            let obj = new_object(&kind, tag, init)?;
            let id = state.next_id.fetch_add(1, Ordering::Relaxed);
            state
                .objects
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, obj);
            protocol::ret(out, &id)
        }
        control::PUBLISH => {
            let (name, id): (String, u64) = protocol::args(args)?;
            lock(&state.names).insert(name, id);
            Ok(())
        }
        control::LOOKUP => {
            let (name, tag): (String, String) = protocol::args(args)?;
            let id = lock(&state.names).get(&name).copied().ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("the manager has no object published as `{name}`"),
                )
            })?;
            let objects = state.objects.read().unwrap_or_else(|p| p.into_inner());
            let have = objects.get(&id).map(|o| o.tag().to_string());
            if have.as_deref() != Some(tag.as_str()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("`{name}` is a {}, not a {tag}", have.unwrap_or_default()),
                ));
            }
            protocol::ret(out, &id)
        }
        control::SHUTDOWN => {
            *stop = true;
            Ok(())
        }
        _ => Err(super::objects::no_method("the manager", method)),
    }
}

fn new_object(kind: &str, tag: String, init: Blob) -> Result<Arc<dyn Object>> {
    Ok(match kind {
        "list" => Arc::new(ListObj {
            tag,
            items: Mutex::new(init.decode()?),
        }),
        "dict" => {
            let obj = DictObj {
                tag,
                map: Mutex::default(),
            };
            let items: Vec<(Blob, Blob)> = init.decode()?;
            if !items.is_empty() {
                let mut args = Vec::new();
                protocol::ret(&mut args, &items)?;
                obj.call(&mut null_cx(), "update", &args, &mut Vec::new())?;
            }
            Arc::new(obj)
        }
        "namespace" => Arc::new(NamespaceObj {
            attrs: Mutex::default(),
        }),
        "value" => Arc::new(ValueObj {
            tag,
            value: Mutex::new(init),
        }),
        "queue" => Arc::new(QueueObj {
            tag,
            items: Mutex::default(),
            cv: Condvar::new(),
        }),
        "lock" => Arc::new(LockObj {
            owner: Mutex::new(None),
            cv: Condvar::new(),
        }),
        "event" => Arc::new(EventObj {
            flag: Mutex::new(false),
            cv: Condvar::new(),
        }),
        name => {
            let entry = custom::entry(name).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "`{name}` is not a managed type in the server's binary: annotate its impl block \
                         with #[multiproc::managed] (a remote server must be built with the type too)"
                    ),
                )
            })?;
            Arc::new(CustomObj {
                entry,
                value: Mutex::new((entry.create)(&init.0)?),
            })
        }
    })
}

fn null_cx() -> Cx<'static> {
    Cx {
        conn: 0,
        peer_gone: &|| false,
        watch: false,
    }
}
