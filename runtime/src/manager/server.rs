//! The manager's server process: it owns the objects and serves each client connection on its own
//! thread (one slow or silent client holds up nobody else), except the quick calls on containers
//! that arrive through shared-memory mailboxes, which one poller thread runs for every connection
//! (see [`hub`](super::hub)). A connection must pass the authkey handshake in the
//! [`gate`](super::gate) before it gets a thread; any malformed frame closes just that connection. The server stops on a `shutdown` request from its owner, and dies with the
//! process that started it.
//!
//! Authorization: objects have random 128-bit ids, and a call on one must present its capability
//! (see [`auth::capability`]); a connection made with the proxy key only calls objects, one made
//! with the authkey also creates, publishes and looks up; `shutdown` and replacing a published name
//! need the owner token, which never leaves the process that started the manager.

use super::address::{Address, Listener};
use super::auth::{self, Keys, Level};
use super::custom::{self, CustomObj};
use super::fast::Link;
use super::gate::{self, TlsConfig, TlsConn};
use super::hub::{Calls, Hub, Pending, Served};
use super::objects::{
    ArrayObj, BarrierObj, ConditionObj, JoinableQueueObj, RLockObj, SemaphoreObj, SetObj,
};
use super::objects::{
    CallContext, DictObj, EventObj, ListObj, LockObj, NamespaceObj, Object, QueueObj, ValueObj,
};
use super::protocol::{self, Blob, CONTROL, MAX_FRAME, Status, WireError, control};
use crate::codec;
use crate::error::{Error, ErrorKind, Result};
use crate::ipc::channel::Channel;
use crate::poison::{self, lock};
use crate::protocol::child::panic_message;
use crate::registry::WorkerEntry;
use crate::shm::mailbox::Posted;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};

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
    /// Proof of ownership: `shutdown` and replacing a published name present it.
    pub owner: Vec<u8>,
    /// Whether any authkey holder may replace a published name.
    pub clients_may_republish: bool,
    /// TLS: the certificate chain and private key (DER), with the `tls` feature.
    pub tls: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Run once before serving (`ManagerBuilder::initializer`).
    pub init: Option<super::initializer::InitTask>,
}

inventory::submit! {
    WorkerEntry {
        name: ENTRY,
        type_name: || ENTRY,
        invoke: |bytes, fds| {
            let (args,): (ServerArgs,) = codec::decode(bytes, fds)?;
            run(args)?;
            codec::encode(&())
        },
        invoke_batch: None,
    }
}

struct State {
    objects: RwLock<HashMap<u128, Arc<dyn Object>>>,
    names: Mutex<HashMap<String, u128>>,
    keys: Keys,
    owner: Vec<u8>,
    clients_may_republish: bool,
    shutdown: Mutex<Option<mpsc::Sender<()>>>,
    /// The mailbox poller, started with the first mailbox connection (`None`: it could not start,
    /// and each connection keeps its own thread).
    hub: OnceLock<Option<Arc<Hub<Session>>>>,
}

/// Serves until a `shutdown` request; fails (before serving) only if the initializer does.
fn run(args: ServerArgs) -> Result<()> {
    sys::signals::ignore_interrupt();
    // Each client holds a descriptor here: use all the process may have. Failing to raise it
    // leaves the default, which still works for fewer clients.
    let _ = sys::rlimit::raise_nofile(None);
    if let Some(init) = args.init {
        super::initializer::run(init)?;
    }
    let listener = Listener::new(args.listener, &args.address);
    // The parent checked the certificate and key before starting this process.
    let Ok(tls) = tls_config(args.tls.as_ref()) else {
        return Ok(());
    };
    let (tx, rx) = mpsc::channel();
    let state = Arc::new(State {
        objects: RwLock::new(HashMap::new()),
        names: Mutex::new(HashMap::new()),
        keys: Keys::new(args.authkey),
        owner: args.owner,
        clients_may_republish: args.clients_may_republish,
        shutdown: Mutex::new(Some(tx)),
        hub: OnceLock::new(),
    });
    let acceptor = state.clone();
    let started = std::thread::Builder::new()
        .name("multiproc-manager-accept".into())
        .spawn(move || accept_loop(&listener, &acceptor, tls.as_ref()));
    if started.is_ok() {
        let _ = rx.recv();
    }
    Ok(())
}

#[cfg(feature = "tls")]
fn tls_config(identity: Option<&(Vec<Vec<u8>>, Vec<u8>)>) -> Result<Option<TlsConfig>> {
    identity
        .map(|(certs, key)| super::tls::server_config(certs, key))
        .transpose()
}

#[cfg(not(feature = "tls"))]
fn tls_config(identity: Option<&(Vec<Vec<u8>>, Vec<u8>)>) -> Result<Option<TlsConfig>> {
    match identity {
        None => Ok(None),
        Some(_) => Err(Error::new(
            ErrorKind::InvalidInput,
            "this server was built without the `tls` feature",
        )),
    }
}

fn accept_loop(listener: &Listener, state: &Arc<State>, tls: Option<&TlsConfig>) {
    let mut next_conn = 1u64;
    gate::run(listener, &state.keys, tls, |fd, level, tls| {
        let st = state.clone();
        let conn = next_conn;
        next_conn += 1;
        // Out of threads: the connection is dropped (closed) and the client sees Disconnected.
        let _ = std::thread::Builder::new()
            .name("multiproc-manager-conn".into())
            .stack_size(1 << 20)
            .spawn(move || serve_connection(st, fd, conn, level, tls));
    });
}

/// Serves one connection that passed the handshake.
fn serve_connection(state: Arc<State>, fd: OwnedFd, conn: u64, level: Level, tls: Option<TlsConn>) {
    if let Some(tls) = tls {
        return serve_tls(state, fd, conn, level, tls);
    }
    let mut chan = Channel::from_fd(fd);
    chan.set_max_message(MAX_FRAME);
    let session = Session {
        state,
        conn,
        level,
        cache: Cache::default(),
        watched: HashMap::new(),
        out: Vec::new(),
        socket: chan.socket().try_clone_to_owned().ok(),
    };
    serve_socket(&chan, session);
}

/// Serves calls arriving as frames through TLS, until the client hangs up or asks for a shutdown.
#[cfg(feature = "tls")]
fn serve_tls(state: Arc<State>, fd: OwnedFd, conn: u64, level: Level, tls: TlsConn) {
    use super::tls::{read_frame, write_frame};
    let socket = fd.try_clone().ok();
    let mut stream = rustls::StreamOwned::new(*tls, std::net::TcpStream::from(fd));
    let mut session = Session {
        state,
        conn,
        level,
        cache: Cache::default(),
        watched: HashMap::new(),
        out: Vec::new(),
        socket,
    };
    loop {
        let Ok(request) = read_frame(&mut stream, MAX_FRAME) else {
            return;
        };
        // No descriptors travel over TLS: a mailbox offer fails and the client stays on frames.
        let Ok(next) = session.handle(&request, Vec::new()) else {
            return;
        };
        if write_frame(&mut stream, &session.out).is_err() {
            return;
        }
        if let Next::Stop = next {
            return session.stop();
        }
        session.trim();
    }
}

#[cfg(not(feature = "tls"))]
fn serve_tls(_: Arc<State>, _: OwnedFd, _: u64, _: Level, tls: TlsConn) {
    match tls {}
}

/// Serves calls arriving as frames on the socket, until the client hangs up, asks for a shutdown, or
/// moves the connection to shared memory.
fn serve_socket(chan: &Channel, mut session: Session) {
    loop {
        let received = chan.recv_with(None, |frame, fds| session.handle(frame.bytes(), fds));
        let Ok(next) = received else { return };
        if chan.send_raw(&session.out, &[]).is_err() {
            return;
        }
        match next {
            Next::Serve => {}
            Next::Stop => return session.stop(),
            Next::Attach(link) => return serve_mailbox(chan, link, session),
        }
        session.trim();
    }
}

/// Serves calls arriving through the connection's mailboxes, until the client hangs up the socket
/// or asks for a shutdown: the server's poller runs the quick ones, this thread the others.
fn serve_mailbox(chan: &Channel, link: Link, session: Session) {
    let hub = session.state.hub.get_or_init(Hub::start).clone();
    let Some(hub) = hub else {
        let mut session = session;
        return serve_mailbox_alone(chan, &link, &mut session);
    };
    // What is left of the session is dropped here, releasing what the client held.
    drop(hub.serve(chan, link, session, |served| run_handed(chan, served)));
}

/// Runs the call the poller handed this connection's thread and posts its reply; false when the
/// connection ends (the socket failed, a malformed request, or a shutdown). The thread then keeps the
/// connection for the spin window: a client making such calls in a row (a custom object's methods,
/// say) is served by its thread without a hand-off and a wake-up per call, as before the poller.
fn run_handed(chan: &Channel, served: &mut Served<Session>) -> bool {
    loop {
        let Served {
            link,
            calls: session,
            request,
            pending,
        } = &mut *served;
        let run = |session: &mut Session, request: &[u8]| session.handle(request, Vec::new()).ok();
        let next = match std::mem::replace(pending, Pending::Nothing) {
            Pending::Nothing => return true,
            Pending::Reply => Next::Serve,
            Pending::Request => match run(session, request) {
                Some(next) => next,
                None => return false,
            },
            Pending::Beside => {
                let read = chan.recv_with(None, |frame, _| {
                    request.clear();
                    request.extend_from_slice(frame.bytes());
                    Ok(())
                });
                match read.ok().and_then(|()| run(session, request)) {
                    Some(next) => next,
                    None => return false,
                }
            }
        };
        if link.send(chan, &session.out).is_err() {
            return false;
        }
        if let Next::Stop = next {
            session.stop();
            return false;
        }
        session.trim();
        if request.capacity() > MAX_KEPT_BUFFER {
            *request = Vec::new();
        }
        if !link.arrives_briefly() {
            return true;
        }
        *pending = match link.take_now(request) {
            Ok(Posted::Inline) => Pending::Request,
            Ok(Posted::Beside) => Pending::Beside,
            Err(_) => return false,
        };
    }
}

/// [`serve_mailbox`] without the poller: this thread serves every call.
fn serve_mailbox_alone(chan: &Channel, link: &Link, session: &mut Session) {
    let mut request = Vec::new();
    loop {
        if link.recv(chan, &mut request, None).is_err() {
            return;
        }
        let Ok(next) = session.handle(&request, Vec::new()) else {
            return;
        };
        if link.send(chan, &session.out).is_err() {
            return;
        }
        if let Next::Stop = next {
            return session.stop();
        }
        session.trim();
        if request.capacity() > MAX_KEPT_BUFFER {
            request = Vec::new();
        }
    }
}

/// What a connection does after replying.
enum Next {
    Serve,
    Stop,
    /// Carry the later calls through these mailboxes.
    Attach(Link),
}

/// One authenticated connection, as its server thread (and the poller) sees it.
struct Session {
    state: Arc<State>,
    conn: u64,
    /// What the connection proved it knows.
    level: Level,
    /// Objects this connection has used, their capabilities checked (saves the shared table's
    /// lock and the check).
    cache: Cache,
    /// Objects to tell when this connection closes (a lock it holds).
    watched: HashMap<u128, Arc<dyn Object>>,
    /// The reply being built.
    out: Vec<u8>,
    /// The connection's socket, to notice a caller that hangs up while its call waits.
    socket: Option<OwnedFd>,
}

/// The connection is over, even by a panic: release what it holds (its locks).
impl Drop for Session {
    fn drop(&mut self) {
        for obj in self.watched.values() {
            obj.disconnected(self.conn);
        }
    }
}

impl Calls for Session {
    fn run_quick(&mut self, request: &[u8]) -> Result<bool> {
        let (id, cap, method, args) = protocol::decode_request(request)?;
        if id == CONTROL {
            return Ok(false);
        }
        // An object this connection may not reach gets its error from the thread.
        match object(&self.state, &mut self.cache, id, cap) {
            Ok(obj) if obj.quick(&method) => {
                self.run((id, cap, &method, args), Vec::new(), Some(obj))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn reply(&self) -> &[u8] {
        &self.out
    }

    fn replied(&mut self) {
        self.trim();
    }
}

impl Session {
    /// Runs one request, leaving the reply in `out`. An error means the request was malformed: the
    /// connection is closed.
    fn handle(&mut self, frame: &[u8], fds: Vec<OwnedFd>) -> Result<Next> {
        let (id, cap, method, args) = protocol::decode_request(frame)?;
        self.run((id, cap, &method, args), fds, None)
    }

    /// [`handle`](Session::handle) for a decoded request; `found` is its object, if the caller
    /// looked it up already.
    fn run(
        &mut self,
        (id, cap, method, args): (u128, u128, &str, &[u8]),
        fds: Vec<OwnedFd>,
        mut found: Option<Arc<dyn Object>>,
    ) -> Result<Next> {
        let Session {
            state,
            conn,
            level,
            cache,
            watched,
            out,
            socket,
        } = self;
        let state: &State = state;
        out.clear();
        codec::encode_into(&Status::Ok, out, &mut Vec::new())?;
        let socket = &*socket;
        let peer_gone = || match socket {
            Some(s) => sys::socket::peer_hung_up(s.as_fd()),
            None => false,
        };
        let mut cx = CallContext {
            conn: *conn,
            peer_gone: &peer_gone,
            watch: false,
        };
        let mut next = Next::Serve;
        let res = catch_unwind(AssertUnwindSafe(|| {
            if id != CONTROL {
                let obj = match found.take() {
                    Some(obj) => obj,
                    None => object(state, cache, id, cap)?,
                };
                let r = obj.call(&mut cx, method, args, out);
                if cx.watch {
                    watched.insert(id, obj);
                }
                r
            } else if method == control::ATTACH {
                next = Next::Attach(Link::accept(fds)?);
                Ok(())
            } else {
                control_call(state, *level, method, args, out, &mut next)
            }
        }));
        let err = match res {
            Ok(Ok(())) if out.len() <= MAX_FRAME => return Ok(next),
            // Sending it would close the connection (the client refuses such a frame), and with
            // it the caller's locks: refuse the reply instead.
            Ok(Ok(())) => WireError::InvalidInput(format!(
                "the reply to `{method}` is {} bytes, over the {} MiB limit of a manager message: \
                 fetch the data in smaller parts",
                out.len(),
                MAX_FRAME >> 20
            )),
            Ok(Err(e)) => WireError::from_error(&e),
            Err(panic) => {
                WireError::Remote(format!("`{method}` panicked: {}", panic_message(&*panic)))
            }
        };
        out.clear();
        codec::encode_into(&Status::Err(err), out, &mut Vec::new())?;
        Ok(Next::Serve)
    }

    /// Ends the server, after the reply to `shutdown` went out.
    fn stop(&self) {
        if let Some(tx) = lock(&self.state.shutdown).take() {
            let _ = tx.send(());
        }
    }

    /// A large reply (a snapshot) is not kept for the connection's lifetime.
    fn trim(&mut self) {
        if self.out.capacity() > MAX_KEPT_BUFFER {
            self.out = Vec::new();
        }
    }
}

/// A connection's objects by id. The ids are the server's random draws (an id enters only with its
/// capability checked), so folding their halves hashes them well; SipHash was a tenth of the
/// poller's time per call.
type Cache = HashMap<u128, Arc<dyn Object>, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

/// The object `id`, if `cap` is its capability. A wrong capability and a missing object give the
/// same error: a client learns nothing about ids it holds no capability for.
fn object(state: &State, cache: &mut Cache, id: u128, cap: u128) -> Result<Arc<dyn Object>> {
    if let Some(o) = cache.get(&id) {
        return Ok(o.clone());
    }
    let missing = || {
        Error::new(
            ErrorKind::NotFound,
            "the manager holds no such object, or the proxy's credential for it is wrong (a proxy \
             of another manager, or of a server that restarted)",
        )
    };
    let expected = auth::capability(&state.keys.authkey, id);
    if !auth::same(&expected.to_le_bytes(), &cap.to_le_bytes()) {
        return Err(missing());
    }
    let objects = poison::read(&state.objects);
    let o = objects.get(&id).cloned().ok_or_else(missing)?;
    cache.insert(id, o.clone());
    Ok(o)
}

/// True if `token` is the owner's.
fn is_owner(state: &State, token: Option<&[u8]>) -> bool {
    token.is_some_and(|t| auth::same(t, &state.owner))
}

fn denied(what: &str) -> Error {
    Error::new(ErrorKind::Authentication, what.to_string())
}

fn control_call(
    state: &State,
    level: Level,
    method: &str,
    args: &[u8],
    out: &mut Vec<u8>,
    next: &mut Next,
) -> Result<()> {
    if level == Level::Proxy && method != control::SHUTDOWN {
        return Err(denied(&format!(
            "`{method}` needs a connection made with the authkey (Manager::connect): a proxy's \
             credential only reaches its own object"
        )));
    }
    match method {
        control::CREATE => {
            let (kind, tag, init): (String, String, Blob) = protocol::args(args)?;
            let obj = new_object(&kind, tag, init)?;
            let mut objects = poison::write(&state.objects);
            let id = loop {
                let id = auth::random_u128()?;
                if id != CONTROL && !objects.contains_key(&id) {
                    break id;
                }
            };
            objects.insert(id, obj);
            drop(objects);
            protocol::ret(out, &(id, auth::capability(&state.keys.authkey, id)))
        }
        control::PUBLISH => {
            let (name, id, cap, owner): (String, u128, u128, Option<Vec<u8>>) =
                protocol::args(args)?;
            object(state, &mut Cache::default(), id, cap)?;
            let mut names = lock(&state.names);
            let taken = names.get(&name).is_some_and(|&was| was != id);
            if taken && !state.clients_may_republish && !is_owner(state, owner.as_deref()) {
                return Err(denied(&format!(
                    "`{name}` is already published, and only the process that started the manager \
                     may replace it (or start it with Manager::builder().clients_may_republish(true))"
                )));
            }
            names.insert(name, id);
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
            let objects = poison::read(&state.objects);
            let have = objects.get(&id).map(|o| o.tag().to_string());
            if have.as_deref() != Some(tag.as_str()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("`{name}` is a {}, not a {tag}", have.unwrap_or_default()),
                ));
            }
            protocol::ret(out, &(id, auth::capability(&state.keys.authkey, id)))
        }
        control::SHUTDOWN => {
            let owner: Option<Vec<u8>> = protocol::args(args)?;
            if !is_owner(state, owner.as_deref()) {
                return Err(denied(
                    "only the process that started the manager may shut it down",
                ));
            }
            *next = Next::Stop;
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
        "jqueue" => Arc::new(JoinableQueueObj::new(tag, init.decode()?)),
        "rlock" => Arc::new(RLockObj {
            holder: Mutex::new(None),
            cv: Condvar::new(),
        }),
        "semaphore" => {
            let (value, bounded): (u64, bool) = init.decode()?;
            Arc::new(SemaphoreObj {
                bound: bounded.then_some(value),
                value: Mutex::new(value),
                cv: Condvar::new(),
            })
        }
        "condition" => Arc::new(ConditionObj {
            state: Mutex::default(),
            cv: Condvar::new(),
        }),
        "barrier" => Arc::new(BarrierObj {
            parties: init.decode()?,
            state: Mutex::default(),
            cv: Condvar::new(),
        }),
        "set" => Arc::new(SetObj {
            tag,
            items: Mutex::new(init.decode::<Vec<Blob>>()?.into_iter().collect()),
        }),
        "array" => Arc::new(ArrayObj {
            tag,
            items: Mutex::new(init.decode()?),
        }),
        name => {
            let entry = custom::entry(name)?;
            Arc::new(CustomObj {
                entry,
                value: Mutex::new((entry.create)(&init.0)?),
            })
        }
    })
}

fn null_cx() -> CallContext<'static> {
    CallContext {
        conn: 0,
        peer_gone: &|| false,
        watch: false,
    }
}
