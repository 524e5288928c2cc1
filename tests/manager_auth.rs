//! Authorization inside the manager's server, over real connections and processes: proxies carry a
//! per-object capability and never the authkey; a client reaches only objects it holds a capability
//! for; a proxy's key reaches objects only; `shutdown` and replacing a published name belong to the
//! owner unless the builder allows republishing.

use hmac::{Hmac, Mac};
use multiproc::manager::{Address, DictProxy, ListProxy, Proxy};
use multiproc::{ErrorKind, Manager, worker};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::io::{Read, Write};
use std::net::TcpStream;

const KEY: &[u8] = b"auth-test-authkey-5f02c9e1b7";

/// A proxy as it travels (the layout of the runtime's `ProxyCore`).
#[derive(Serialize, Deserialize, Clone)]
struct Core {
    endpoint: Endpoint,
    id: u128,
    cap: u128,
}

#[derive(Serialize, Deserialize, Clone)]
struct Endpoint {
    address: Address,
    proxy_key: Vec<u8>,
    key: u64,
    tls_cert: Option<Vec<u8>>,
}

fn core_of<P: Proxy>(p: &P) -> Core {
    let enc = multiproc::codec::encode(p).unwrap();
    multiproc::codec::decode(&enc.bytes, enc.fds).unwrap()
}

fn forge<P: Proxy>(core: &Core) -> P {
    let enc = multiproc::codec::encode(core).unwrap();
    multiproc::codec::decode(&enc.bytes, enc.fds).unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Vault(String);

#[multiproc::managed]
impl Vault {
    pub fn secret(&self) -> String {
        self.0.clone()
    }
}

#[multiproc::test]
fn a_serialized_proxy_never_contains_the_authkey() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let dict = server.dict::<String, u32>().unwrap();
    let list = server.list::<u8>().unwrap();
    let vault = server.create(Vault("s".into())).unwrap();
    for bytes in [
        multiproc::codec::encode(&dict).unwrap().bytes,
        multiproc::codec::encode(&list).unwrap().bytes,
        multiproc::codec::encode(&vault).unwrap().bytes,
    ] {
        assert!(
            !contains(&bytes, KEY),
            "a serialized proxy holds the authkey"
        );
        assert!(
            !contains(&bytes, &KEY[..8]),
            "a serialized proxy holds part of the authkey"
        );
    }
    let (a, b) = (core_of(&dict), core_of(&list));
    assert_ne!(a.endpoint.proxy_key, KEY);
    // Ids are random, not counted: two objects' ids share no small prefix.
    assert!(a.id > u64::MAX as u128 || b.id > u64::MAX as u128);
    assert_ne!(a.cap, b.cap);
}

/// In another process, with the authkey: tries the owner's objects by guessed ids and by the
/// right id with a wrong capability, then uses the proxy it was given. Returns the kinds seen.
#[worker]
fn snoop(addr: String, key: Vec<u8>, target_id: u128, given: ListProxy<u32>) -> Vec<String> {
    let mgr = Manager::connect(addr.as_str(), &key).expect("connect");
    let mine = mgr.list::<u32>().expect("list");
    let mut core = core_of(&mine);
    let mut kinds = Vec::new();
    let mut tries: Vec<(u128, u128)> = (1..=16).map(|i| (i, 0)).collect();
    tries.push((target_id, 0));
    tries.push((target_id, core.cap));
    tries.push((target_id, core.cap ^ target_id));
    for (id, cap) in tries {
        core.id = id;
        core.cap = cap;
        let forged: DictProxy<String, String> = forge(&core);
        match forged.items() {
            Ok(items) => panic!("reached object {id:x} without its capability: {items:?}"),
            Err(e) => kinds.push(format!("{:?}", e.kind())),
        }
    }
    assert_eq!(given.to_vec().expect("the given proxy works"), [1, 2, 3]);
    kinds
}

#[multiproc::test]
fn a_client_reaches_only_objects_it_holds_a_capability_for() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let secret = server.dict::<String, String>().unwrap();
    secret.insert("password", "hunter2").unwrap();
    let given = server.list_from([1u32, 2, 3]).unwrap();
    let kinds = snoop::spawn(addr, KEY.to_vec(), core_of(&secret).id, given)
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(kinds.len(), 19);
    assert!(
        kinds
            .iter()
            .all(|k| k == &format!("{:?}", ErrorKind::NotFound)),
        "{kinds:?}"
    );
    assert_eq!(secret.len().unwrap(), 1);
}

/// In another process, with the authkey: publishes under a new name, then tries to replace the
/// owner's name, and to publish an object that does not exist. Returns the kinds of the two errors
/// (or "ok").
#[worker]
fn republish(addr: String, key: Vec<u8>) -> (String, String) {
    let mgr = Manager::connect(addr.as_str(), &key).expect("connect");
    let mine = mgr.list::<u32>().expect("list");
    mine.append(&9).expect("append");
    mgr.publish("fresh", &mine)
        .expect("a new name is free to take");
    let replaced = match mgr.publish("results", &mine) {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    let mut ghost = core_of(&mine);
    ghost.id ^= 1;
    let ghost: ListProxy<u32> = forge(&ghost);
    let phantom = match mgr.publish("ghost", &ghost) {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    (replaced, phantom)
}

#[multiproc::test]
fn only_the_owner_replaces_a_published_name() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let results = server.list_from([1u32]).unwrap();
    server.publish("results", &results).unwrap();
    let (replaced, phantom) = republish::spawn(addr.clone(), KEY.to_vec())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(replaced, format!("{:?}", ErrorKind::Authentication));
    assert_eq!(phantom, format!("{:?}", ErrorKind::NotFound));
    let client = Manager::connect(addr.as_str(), KEY).unwrap();
    let still: ListProxy<u32> = client.lookup("results").unwrap();
    assert_eq!(still.to_vec().unwrap(), [1]);
    let fresh: ListProxy<u32> = client.lookup("fresh").unwrap();
    assert_eq!(fresh.to_vec().unwrap(), [9]);
    // The owner may replace any name.
    server.publish("fresh", &results).unwrap();
    let now: ListProxy<u32> = client.lookup("fresh").unwrap();
    assert_eq!(now.to_vec().unwrap(), [1]);
}

#[multiproc::test]
fn the_builder_lets_clients_republish() {
    let server = Manager::builder()
        .clients_may_republish(true)
        .serve("127.0.0.1:0", KEY)
        .unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let results = server.list_from([1u32]).unwrap();
    server.publish("results", &results).unwrap();
    let (replaced, _) = republish::spawn(addr.clone(), KEY.to_vec())
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(replaced, "ok");
    let client = Manager::connect(addr.as_str(), KEY).unwrap();
    let now: ListProxy<u32> = client.lookup("results").unwrap();
    assert_eq!(now.to_vec().unwrap(), [9]);
}

// A client speaking the wire itself, to send what the API never sends.

#[derive(Deserialize, Debug)]
enum Status {
    Ok,
    Err(WireError),
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)] // read through Debug
enum WireError {
    Remote(String),
    NotFound(String),
    InvalidInput(String),
    Timeout(String),
    Empty(String),
    Codec(String),
    Authentication(String),
}

fn send_frame(s: &mut TcpStream, payload: &[u8]) {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(payload);
    s.write_all(&f).unwrap();
}

fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    let mut p = vec![0u8; u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize];
    s.read_exact(&mut p).unwrap();
    p
}

/// Connects and answers the challenge with `key`; true if the server welcomed us.
fn raw_connect(addr: std::net::SocketAddr, key: &[u8]) -> (TcpStream, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let challenge = read_frame(&mut s);
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(&challenge);
    let mut answer = m.finalize().into_bytes().to_vec();
    answer.extend_from_slice(&[7u8; 32]);
    send_frame(&mut s, &answer);
    let welcome = read_frame(&mut s);
    let ok = welcome.starts_with(b"#WELCOME#");
    (s, ok)
}

fn raw_call<A: Serialize>(
    s: &mut TcpStream,
    (id, cap): (u128, u128),
    method: &str,
    args: &A,
) -> Status {
    let mut req = multiproc::codec::encode(&(id, cap, method)).unwrap().bytes;
    req.extend(multiproc::codec::encode(args).unwrap().bytes);
    send_frame(s, &req);
    let reply = read_frame(s);
    multiproc::codec::decode_prefix::<Status>(&reply, Vec::new())
        .unwrap()
        .0
}

fn is_auth_error(st: &Status) -> bool {
    matches!(st, Status::Err(WireError::Authentication(_)))
}

#[multiproc::test]
fn only_the_owner_shuts_the_server_down() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap();
    let list = server.list_from([5u32]).unwrap();
    let (mut s, ok) = raw_connect(addr, KEY);
    assert!(ok);
    let none: Option<Vec<u8>> = None;
    let st = raw_call(&mut s, (0, 0), "shutdown", &none);
    assert!(is_auth_error(&st), "{st:?}");
    let guess: Option<Vec<u8>> = Some(vec![0u8; 32]);
    let st = raw_call(&mut s, (0, 0), "shutdown", &guess);
    assert!(is_auth_error(&st), "{st:?}");
    // A connected handle does not own the server: its shutdown leaves it running.
    Manager::connect(addr, KEY).unwrap().shutdown().unwrap();
    assert_eq!(list.to_vec().unwrap(), [5]);
    // The owner's does stop it.
    server.shutdown().unwrap();
    assert!(list.len().unwrap_err().is_disconnected());
}

#[multiproc::test]
fn the_proxy_key_reaches_objects_only() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap();
    let list = server.list_from([1u32, 2]).unwrap();
    server.publish("list", &list).unwrap();
    let core = core_of(&list);
    let (mut s, ok) = raw_connect(addr, &core.endpoint.proxy_key);
    assert!(ok, "the proxy key opens a connection");
    let len = raw_call(&mut s, (core.id, core.cap), "len", &());
    assert!(matches!(len, Status::Ok), "{len:?}");
    for (method, st) in [
        (
            "lookup",
            raw_call(&mut s, (0, 0), "lookup", &("list", "list")),
        ),
        (
            "create",
            raw_call(&mut s, (0, 0), "create", &("list", "list", b"\0")),
        ),
        (
            "publish",
            raw_call(
                &mut s,
                (0, 0),
                "publish",
                &("x", core.id, core.cap, None::<Vec<u8>>),
            ),
        ),
    ] {
        assert!(is_auth_error(&st), "{method}: {st:?}");
    }
    // A key that is neither gets the failure message, and no connection.
    let (_, ok) = raw_connect(addr, b"neither-the-authkey-nor-derived");
    assert!(!ok);
    assert_eq!(list.len().unwrap(), 2);
}
