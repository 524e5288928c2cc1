//! [`Manager`]: the handle that starts (or connects to) a manager's server and creates objects on it.

use super::address::{self, Address};
use super::auth;
use super::collections::{ArrayProxy, SetProxy};
use super::containers::{DictProxy, ListProxy, NamespaceProxy, ValueProxy};
use super::custom::Managed;
use super::initializer;
use super::protocol::{Blob, CONTROL, control};
use super::proxy::{self, Conn, Endpoint, Proxy, ProxyCore};
use super::server::{self, ServerArgs};
use super::sync::{BarrierProxy, ConditionProxy, JoinableQueueProxy, RLockProxy, SemaphoreProxy};
use super::sync::{EventProxy, LockProxy, QueueProxy};
use crate::error::{Error, ErrorKind, Result};
use crate::poison::lock;
use crate::process::{Process, ProcessBuilder};
use crate::worker::WorkerFn;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A manager: a server process holding shared objects, and the handle that creates them. Clones share
/// the server; dropping the last handle of a started manager (or [`shutdown`](Manager::shutdown)) stops
/// it, and it dies with the process that started it. Proxies it hands out are `Clone` and travel to
/// workers; once the server is gone their calls return [`ErrorKind::Disconnected`].
///
/// Python: `multiprocessing.Manager()`, `BaseManager(address, authkey)`.
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let mgr = multiproc::Manager::start()?;          // with Manager() as manager:
/// let d = mgr.dict::<String, u64>()?;              //     d = manager.dict()
/// d.insert("count", &0)?;                          //     d['count'] = 0
/// assert_eq!(d.get("count")?, Some(0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Arc<Endpoint>,
    control: Mutex<Conn>,
    process: Mutex<Option<Process<()>>>,
    /// The owner token, in the process that started the server only: it is never serialized.
    owner: Option<Vec<u8>>,
}

/// Options for a manager's server, before it starts: [`Manager::builder`].
///
/// ```no_run
/// # extern crate multiproc_runtime as multiproc;
/// # #[multiproc::main] fn main() -> multiproc::Result<()> {
/// let mgr = multiproc::Manager::builder()
///     .clients_may_republish(true)
///     .serve("127.0.0.1:0", b"secret-key-of-16+-bytes")?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct ManagerBuilder {
    clients_may_republish: bool,
    /// Certificate chain and private key (DER).
    tls: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Run in the server before it serves.
    init: Option<initializer::Encoded>,
    /// How the server process starts (`None`: the process-wide start method).
    start_method: Option<crate::StartMethod>,
}

/// Shows the options, never the private key.
impl std::fmt::Debug for ManagerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("clients_may_republish", &self.clients_may_republish)
            .field("tls", &self.tls.is_some())
            .field("initializer", &self.init.is_some())
            .field("start_method", &self.start_method)
            .finish()
    }
}

impl ManagerBuilder {
    /// Whether any client that knows the authkey may replace an object published under a name that
    /// is taken (default `false`: only the process that started the manager may).
    pub fn clients_may_republish(mut self, yes: bool) -> ManagerBuilder {
        self.clients_may_republish = yes;
        self
    }

    /// Serves over TLS (the `tls` feature): `cert_chain` is the server's certificate chain in DER,
    /// end entity first, and `key_der` its private key in DER (PKCS#8, PKCS#1 or SEC1). Clients
    /// connect with [`Manager::connect_tls`], pinning the first certificate; the authkey handshake
    /// still runs, inside TLS. Only for [`serve`](ManagerBuilder::serve) (a local manager's socket
    /// never leaves the machine).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// # let (cert_der, key_der) = (Vec::<u8>::new(), Vec::<u8>::new());
    /// let mgr = multiproc::Manager::builder()
    ///     .tls(&[cert_der.clone()], &key_der)
    ///     .serve("0.0.0.0:50000", b"secret-key-of-16+-bytes")?;
    /// // elsewhere:
    /// let client = multiproc::Manager::connect_tls("server:50000", b"secret-key-of-16+-bytes", &cert_der)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, cert_chain: &[Vec<u8>], key_der: &[u8]) -> ManagerBuilder {
        self.tls = Some((cert_chain.to_vec(), key_der.to_vec()));
        self
    }

    /// Runs `f(args..)` once in the server process before it serves; `start` / `serve` return only
    /// after it finished (within the 30 s a client waits for the server's handshake), and fail with
    /// its error or panic if it fails (the server then exits). `f` is a `#[multiproc::worker]`
    /// function, passed as for [`PoolBuilder::initializer`](crate::PoolBuilder::initializer).
    /// Python: `manager.start(initializer, initargs)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// #[multiproc::worker]
    /// fn setup(level: u32) { /* configure logging, load data, ... */ }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::builder().initializer(setup, (3,)).start()?;
    /// # Ok(()) }
    /// ```
    pub fn initializer<F, Args>(mut self, f: F, args: Args) -> ManagerBuilder
    where
        F: WorkerFn<Args, Output = ()>,
        Args: Serialize,
    {
        self.init = Some(initializer::encode(f, args));
        self
    }

    /// How the server process starts; by default the process-wide
    /// [`get_start_method`](crate::get_start_method). Python: `ctx.Manager()` of a context.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::builder()
    ///     .start_method(multiproc::StartMethod::Spawn)
    ///     .start()?;
    /// # Ok(()) }
    /// ```
    pub fn start_method(mut self, method: crate::StartMethod) -> ManagerBuilder {
        self.start_method = Some(method);
        self
    }

    /// [`Manager::start`] with these options.
    pub fn start(self) -> Result<Manager> {
        if self.tls.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "TLS is for managers served over TCP: use serve(addr, key), not start()",
            ));
        }
        let key = auth::random_u64()?;
        let bound = address::bind_local(key)?;
        self.spawn(bound, auth::random_bytes(32)?, key)
    }

    /// [`Manager::serve`] with these options.
    pub fn serve(self, addr: impl ToSocketAddrs, authkey: &[u8]) -> Result<Manager> {
        auth::check_key(authkey)?;
        let key = auth::random_u64()?;
        let bound = address::bind_tcp(addr)?;
        self.spawn(bound, authkey.to_vec(), key)
    }

    fn spawn(self, bound: address::Bound, authkey: Vec<u8>, key: u64) -> Result<Manager> {
        let tls_cert = match &self.tls {
            None => None,
            Some((chain, key_der)) => Some(check_tls(chain, key_der)?),
        };
        let endpoint = Arc::new(Endpoint {
            address: bound.address.clone(),
            proxy_key: auth::proxy_key(&authkey),
            key,
            tls_cert,
        });
        let owner = auth::random_bytes(32)?;
        let args = ServerArgs {
            listener: bound.listener,
            address: bound.address,
            authkey: authkey.clone(),
            owner: owner.clone(),
            clients_may_republish: self.clients_may_republish,
            tls: self.tls,
            init: self.init.as_ref().map(initializer::task).transpose()?,
        };
        let mut builder = ProcessBuilder::default().name("Manager");
        if let Some(method) = self.start_method {
            builder = builder.start_method(method);
        }
        let mut process: Process<()> = builder.spawn_entry(server::ENTRY, (args,))?;
        let control = match Conn::open(&endpoint.address, &authkey, endpoint.tls_cert.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                // Say why the server is not there, if it died.
                return Err(match process.join_timeout(Duration::from_secs(1)) {
                    Err(died) if !died.is_timeout() => died,
                    _ => e,
                });
            }
        };
        Ok(Manager {
            inner: Arc::new(Inner {
                endpoint,
                control: Mutex::new(control),
                process: Mutex::new(Some(process)),
                owner: Some(owner),
            }),
        })
    }
}

impl Manager {
    /// Starts a manager's server process on a private local socket. Python: `Manager()` /
    /// `manager.start()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::start()?;
    /// let list = mgr.list::<u32>()?;
    /// list.append(&1)?;
    /// # Ok(()) }
    /// ```
    pub fn start() -> Result<Manager> {
        ManagerBuilder::default().start()
    }

    /// Options for the server before it starts ([`ManagerBuilder`]), then
    /// [`start`](ManagerBuilder::start) or [`serve`](ManagerBuilder::serve).
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Starts a manager's server process listening on TCP `addr` (`"127.0.0.1:50000"`, or port 0 for
    /// a free one: see [`address`](Manager::address)); clients on other machines reach it with
    /// [`connect`](Manager::connect) and the same `authkey`, which must have at least 16 bytes
    /// ([`ErrorKind::InvalidInput`] otherwise). Python:
    /// `BaseManager(address=('', 50000), authkey=b'abc').start()`.
    ///
    /// The handshake proves the authkey but the calls that follow travel in clear, unprotected:
    /// bind a public interface (`"0.0.0.0:…"`) only on a network you trust, or use TLS (the `tls`
    /// feature). See the Security section of `docs/manager.md`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let server = multiproc::Manager::serve("127.0.0.1:0", b"secret-key-of-16+-bytes")?;
    /// let jobs = server.queue::<String>()?;
    /// server.publish("jobs", &jobs)?;
    /// println!("serving at {}", server.address());
    /// # Ok(()) }
    /// ```
    pub fn serve(addr: impl ToSocketAddrs, authkey: &[u8]) -> Result<Manager> {
        ManagerBuilder::default().serve(addr, authkey)
    }

    /// Connects to a manager started with [`serve`](Manager::serve) elsewhere, proving the `authkey`
    /// (a wrong key gives [`ErrorKind::Authentication`], one under 16 bytes
    /// [`ErrorKind::InvalidInput`]). The handle does not own the server: dropping
    /// it leaves the server running. Python: `BaseManager(address, authkey).connect()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::connect("127.0.0.1:50000", b"secret-key-of-16+-bytes")?;
    /// let jobs: multiproc::manager::QueueProxy<String> = mgr.lookup("jobs")?;
    /// jobs.put("work")?;
    /// # Ok(()) }
    /// ```
    pub fn connect(addr: impl ToSocketAddrs, authkey: &[u8]) -> Result<Manager> {
        Manager::connect_with(addr, authkey, None)
    }

    /// [`connect`](Manager::connect) over TLS (the `tls` feature) to a manager served with
    /// [`ManagerBuilder::tls`]: `cert_der` is the server's certificate, pinned (the connection is
    /// refused with [`ErrorKind::Authentication`] if the server presents another). Proxies from
    /// this handle pin it too.
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: impl ToSocketAddrs,
        authkey: &[u8],
        cert_der: &[u8],
    ) -> Result<Manager> {
        Manager::connect_with(addr, authkey, Some(cert_der.to_vec()))
    }

    fn connect_with(
        addr: impl ToSocketAddrs,
        authkey: &[u8],
        tls_cert: Option<Vec<u8>>,
    ) -> Result<Manager> {
        auth::check_key(authkey)?;
        let endpoint = Arc::new(Endpoint {
            address: Address::Tcp(address::resolve(addr)?),
            proxy_key: auth::proxy_key(authkey),
            key: auth::random_u64()?,
            tls_cert,
        });
        let control = Conn::open(&endpoint.address, authkey, endpoint.tls_cert.as_deref())?;
        Ok(Manager {
            inner: Arc::new(Inner {
                endpoint,
                control: Mutex::new(control),
                process: Mutex::new(None),
                owner: None,
            }),
        })
    }

    /// Where the server listens. Python: `manager.address`.
    pub fn address(&self) -> &Address {
        &self.inner.endpoint.address
    }

    /// The TCP address of a remote manager (the port picked for `"host:0"`), `None` for a local one.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let server = multiproc::Manager::serve("127.0.0.1:0", b"secret-key-of-16+-bytes")?;
    /// let port = server.socket_addr().unwrap().port();
    /// # Ok(()) }
    /// ```
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.inner.endpoint.address {
            Address::Tcp(a) => Some(*a),
            Address::Local(_) | Address::Path(_) => None,
        }
    }

    /// The server's process id, for a manager this handle started.
    pub fn pid(&self) -> Option<u32> {
        lock(&self.inner.process).as_ref().map(|p| p.pid())
    }

    /// Stops the server (if this handle started it) and waits for it to exit; every proxy call after
    /// this returns [`ErrorKind::Disconnected`]. Dropping the last handle does the same. Python:
    /// `manager.shutdown()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::start()?;
    /// let list = mgr.list::<u8>()?;
    /// mgr.shutdown()?;
    /// assert!(list.len().unwrap_err().is_disconnected());
    /// # Ok(()) }
    /// ```
    pub fn shutdown(&self) -> Result<()> {
        let res = self.inner.shutdown();
        proxy::forget(self.inner.endpoint.key);
        res
    }

    fn control<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R> {
        lock(&self.inner.control).call((CONTROL, 0), method, args)
    }

    fn new_proxy<P: Proxy>(&self, kind: &str, init: Blob) -> Result<P> {
        let object: (u128, u128) = self.control(control::CREATE, &(kind, P::tag(), init))?;
        Ok(P::from_core(ProxyCore::new(
            self.inner.endpoint.clone(),
            object,
        )))
    }

    /// Moves `value` into the server and returns its generated proxy; `T`'s impl block carries
    /// `#[multiproc::managed]`. Python: `manager.Counter()` after `BaseManager.register('Counter', Counter)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Counter(u64);
    /// #[multiproc::managed]
    /// impl Counter {
    ///     pub fn add(&mut self, n: u64) -> u64 { self.0 += n; self.0 }
    /// }
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::start()?;
    /// let c = mgr.create(Counter(0))?;
    /// assert_eq!(c.add(5)?, 5);
    /// # Ok(()) }
    /// ```
    pub fn create<T: Managed>(&self, value: T) -> Result<T::Proxy> {
        self.new_proxy(T::NAME, Blob::encode(&value)?)
    }

    /// A new empty shared list. Python: `manager.list()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let list = multiproc::Manager::start()?.list::<String>()?;
    /// list.append("a")?;
    /// assert_eq!(list.to_vec()?, ["a"]);
    /// # Ok(()) }
    /// ```
    pub fn list<T: Serialize + DeserializeOwned>(&self) -> Result<ListProxy<T>> {
        self.list_from(std::iter::empty::<T>())
    }

    /// A new shared list holding `items`. Python: `manager.list([1, 2, 3])`.
    pub fn list_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ListProxy<T>> {
        let blobs = items
            .into_iter()
            .map(|v| Blob::encode(&v))
            .collect::<Result<Vec<_>>>()?;
        self.new_proxy("list", Blob::encode(&blobs)?)
    }

    /// A new empty shared dict (insertion-ordered). Python: `manager.dict()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let d = multiproc::Manager::start()?.dict::<u32, String>()?;
    /// d.insert(&1, "one")?;
    /// assert_eq!(d.items()?, [(1, "one".to_string())]);
    /// # Ok(()) }
    /// ```
    pub fn dict<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
    ) -> Result<DictProxy<K, V>> {
        self.dict_from(std::iter::empty::<(K, V)>())
    }

    /// A new shared dict holding `items`. Python: `manager.dict({'count': 0})`.
    pub fn dict_from<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DictProxy<K, V>> {
        let blobs = items
            .into_iter()
            .map(|(k, v)| Ok((Blob::encode(&k)?, Blob::encode(&v)?)))
            .collect::<Result<Vec<_>>>()?;
        self.new_proxy("dict", Blob::encode(&blobs)?)
    }

    /// A new namespace: named attributes of any type. Python: `manager.Namespace()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let ns = multiproc::Manager::start()?.namespace()?;
    /// ns.set("x", &10u32)?;                  // ns.x = 10
    /// assert_eq!(ns.get::<u32>("x")?, 10);   // ns.x
    /// # Ok(()) }
    /// ```
    pub fn namespace(&self) -> Result<NamespaceProxy> {
        self.new_proxy("namespace", Blob::default())
    }

    /// A new shared value. Python: `manager.Value('i', 0)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let v = multiproc::Manager::start()?.value(0i64)?;
    /// v.set(&7)?;
    /// assert_eq!(v.get()?, 7);
    /// # Ok(()) }
    /// ```
    pub fn value<T: Serialize + DeserializeOwned>(&self, value: T) -> Result<ValueProxy<T>> {
        self.new_proxy("value", Blob::encode(&value)?)
    }

    /// A new unbounded FIFO queue. Python: `manager.Queue()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let q = multiproc::Manager::start()?.queue::<u32>()?;
    /// q.put(&1)?;
    /// assert_eq!(q.get()?, 1);
    /// # Ok(()) }
    /// ```
    pub fn queue<T: Serialize + DeserializeOwned>(&self) -> Result<QueueProxy<T>> {
        self.new_proxy("queue", Blob::default())
    }

    /// A new lock, released by the server if its holder's process dies. Python: `manager.Lock()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let lock = multiproc::Manager::start()?.lock()?;
    /// let guard = lock.acquire()?;   // with lock:
    /// drop(guard);
    /// # Ok(()) }
    /// ```
    pub fn lock(&self) -> Result<LockProxy> {
        self.new_proxy("lock", Blob::default())
    }

    /// A new event. Python: `manager.Event()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let ev = multiproc::Manager::start()?.event()?;
    /// ev.set()?;
    /// ev.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn event(&self) -> Result<EventProxy> {
        self.new_proxy("event", Blob::default())
    }

    /// A new FIFO queue holding at most `maxsize` items (0: no bound), with `task_done` / `join`.
    /// Python: `manager.Queue(maxsize)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let q = multiproc::Manager::start()?.queue_bounded::<u32>(2)?;
    /// q.put(&1)?;
    /// q.put(&2)?;
    /// assert!(q.is_full()?);
    /// # Ok(()) }
    /// ```
    pub fn queue_bounded<T: Serialize + DeserializeOwned>(
        &self,
        maxsize: usize,
    ) -> Result<JoinableQueueProxy<T>> {
        self.new_proxy("jqueue", Blob::encode(&(maxsize as u64))?)
    }

    /// A new unbounded joinable queue. Python: `manager.JoinableQueue()` (bounded:
    /// [`queue_bounded`](Manager::queue_bounded), which returns the same proxy type).
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let q = multiproc::Manager::start()?.joinable_queue::<u32>()?;
    /// q.put(&1)?;
    /// q.get()?;
    /// q.task_done()?;
    /// q.join()?;
    /// # Ok(()) }
    /// ```
    pub fn joinable_queue<T: Serialize + DeserializeOwned>(&self) -> Result<JoinableQueueProxy<T>> {
        self.queue_bounded(0)
    }

    /// A new reentrant lock, released by the server if its holder's process dies. Python:
    /// `manager.RLock()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let rlock = multiproc::Manager::start()?.rlock()?;
    /// let _a = rlock.acquire()?;
    /// let _b = rlock.acquire()?;   // the same thread again
    /// # Ok(()) }
    /// ```
    pub fn rlock(&self) -> Result<RLockProxy> {
        self.new_proxy("rlock", Blob::default())
    }

    /// A new semaphore with `value` units. Python: `manager.Semaphore(value)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let sem = multiproc::Manager::start()?.semaphore(3)?;
    /// sem.acquire()?;
    /// sem.release()?;
    /// # Ok(()) }
    /// ```
    pub fn semaphore(&self, value: u64) -> Result<SemaphoreProxy> {
        self.new_proxy("semaphore", Blob::encode(&(value, false))?)
    }

    /// A new semaphore that refuses to be released past `value`. Python:
    /// `manager.BoundedSemaphore(value)`.
    pub fn bounded_semaphore(&self, value: u64) -> Result<SemaphoreProxy> {
        self.new_proxy("semaphore", Blob::encode(&(value, true))?)
    }

    /// A new condition variable with its own reentrant lock. Python: `manager.Condition()`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let cond = multiproc::Manager::start()?.condition()?;
    /// let _g = cond.acquire()?;
    /// cond.notify_all()?;
    /// # Ok(()) }
    /// ```
    pub fn condition(&self) -> Result<ConditionProxy> {
        self.new_proxy("condition", Blob::default())
    }

    /// A new barrier for `parties` callers (at least 1: [`ErrorKind::InvalidInput`] for 0). Python:
    /// `manager.Barrier(parties)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let barrier = multiproc::Manager::start()?.barrier(1)?;
    /// barrier.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn barrier(&self, parties: u64) -> Result<BarrierProxy> {
        if parties == 0 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a barrier needs at least 1 party",
            ));
        }
        self.new_proxy("barrier", Blob::encode(&parties)?)
    }

    /// A new empty shared set.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let s = multiproc::Manager::start()?.set::<u32>()?;
    /// s.add(&1)?;
    /// assert!(s.contains(&1)?);
    /// # Ok(()) }
    /// ```
    pub fn set<T: Serialize + DeserializeOwned>(&self) -> Result<SetProxy<T>> {
        self.set_from(std::iter::empty::<T>())
    }

    /// A new shared set holding `items` (duplicates once).
    pub fn set_from<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<SetProxy<T>> {
        let blobs = items
            .into_iter()
            .map(|v| Blob::encode(&v))
            .collect::<Result<Vec<_>>>()?;
        self.new_proxy("set", Blob::encode(&blobs)?)
    }

    /// A new shared array of fixed length holding `items`. Python: `manager.Array('i', [1, 2])`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let arr = multiproc::Manager::start()?.array([1u8, 2, 3])?;
    /// assert_eq!(arr.get(2)?, 3);
    /// # Ok(()) }
    /// ```
    pub fn array<T: Serialize + DeserializeOwned>(
        &self,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ArrayProxy<T>> {
        let blobs = items
            .into_iter()
            .map(|v| Blob::encode(&v))
            .collect::<Result<Vec<_>>>()?;
        self.new_proxy("array", Blob::encode(&blobs)?)
    }

    /// Publishes `proxy`'s object under `name`, for clients that [`lookup`](Manager::lookup) it.
    /// A name already taken by another object is replaced only by the handle that started the
    /// manager (or by any client, with [`ManagerBuilder::clients_may_republish`]); otherwise
    /// [`ErrorKind::Authentication`]. A proxy of another manager gives [`ErrorKind::NotFound`].
    /// Python: `BaseManager.register('get_queue', callable=lambda: queue)`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::serve("127.0.0.1:0", b"secret-key-of-16+-bytes")?;
    /// let results = mgr.dict::<u32, u32>()?;
    /// mgr.publish("results", &results)?;
    /// # Ok(()) }
    /// ```
    pub fn publish<P: Proxy>(&self, name: &str, proxy: &P) -> Result<()> {
        let (id, cap) = proxy.core().object();
        self.control(control::PUBLISH, &(name, id, cap, &self.inner.owner))
    }

    /// The object published under `name`, as proxy type `P`: [`ErrorKind::NotFound`] if nothing is
    /// published there, [`ErrorKind::InvalidInput`] if it is of another type. Python:
    /// `manager.get_queue()` on a connected `BaseManager`.
    ///
    /// ```no_run
    /// # extern crate multiproc_runtime as multiproc;
    /// # #[multiproc::main] fn main() -> multiproc::Result<()> {
    /// let mgr = multiproc::Manager::connect("127.0.0.1:50000", b"secret-key-of-16+-bytes")?;
    /// let results: multiproc::manager::DictProxy<u32, u32> = mgr.lookup("results")?;
    /// # Ok(()) }
    /// ```
    pub fn lookup<P: Proxy>(&self, name: &str) -> Result<P> {
        let object: (u128, u128) = self.control(control::LOOKUP, &(name, P::tag()))?;
        Ok(P::from_core(ProxyCore::new(
            self.inner.endpoint.clone(),
            object,
        )))
    }
}

/// Checks a TLS identity in this process (a bad one fails here, not in the server) and returns the
/// certificate clients pin.
#[cfg(feature = "tls")]
fn check_tls(chain: &[Vec<u8>], key_der: &[u8]) -> Result<Vec<u8>> {
    super::tls::server_config(chain, key_der)?;
    chain.first().cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "the TLS certificate chain is empty: pass the server's certificate first",
        )
    })
}

#[cfg(not(feature = "tls"))]
fn check_tls(_: &[Vec<u8>], _: &[u8]) -> Result<Vec<u8>> {
    Err(Error::new(
        ErrorKind::InvalidInput,
        "TLS needs the `tls` feature",
    ))
}

/// How long a shutdown waits for the server's answer, then for its exit, before killing it.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl Inner {
    fn shutdown(&self) -> Result<()> {
        let Some(mut process) = lock(&self.process).take() else {
            return Ok(());
        };
        // A server that does not answer (stopped, or stuck) must not hang the caller, nor a drop.
        let deadline = crate::sys::deadline_after(SHUTDOWN_TIMEOUT);
        let asked: Result<()> =
            lock(&self.control).call_until((CONTROL, 0), control::SHUTDOWN, &self.owner, deadline);
        match asked.and_then(|()| process.join_timeout(SHUTDOWN_TIMEOUT)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = process.kill();
                Err(Error::new(
                    ErrorKind::Io,
                    "the manager's server did not shut down cleanly; it was killed",
                )
                .with_source(e))
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown();
        // This thread's connection for proxies; other threads drop theirs when they next open one.
        proxy::forget(self.endpoint.key);
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("address", &self.inner.endpoint.address)
            .finish()
    }
}
