//! Remote managers over TCP: `serve` + `connect` with the authkey, published objects, clients in other
//! processes, a wrong key, and a connected handle that does not own the server.

use multiproc::manager::{DictProxy, QueueProxy};
use multiproc::{ErrorKind, Manager, worker};

const KEY: &[u8] = b"remote-test-authkey-2c72ad0";

#[worker]
fn remote_client(addr: String, key: Vec<u8>, n: u32) {
    let mgr = Manager::connect(addr.as_str(), &key).expect("connect");
    let jobs: QueueProxy<u32> = mgr.lookup("jobs").expect("jobs");
    let results: DictProxy<u32, u32> = mgr.lookup("results").expect("results");
    for _ in 0..n {
        let j = jobs.get().expect("get");
        results.insert(&j, &(j * j)).expect("insert");
    }
    // TCP connections stay on the socket: no shared-memory mailboxes in this process.
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    assert!(!maps.contains("multiproc-mailbox"));
}

#[worker]
fn wrong_key_client(addr: String) -> String {
    let err = Manager::connect(addr.as_str(), b"a-guessed-authkey-of-length").unwrap_err();
    format!("{:?}", err.kind())
}

#[multiproc::test]
fn clients_in_other_processes_work_through_published_objects() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let jobs = server.queue::<u32>().unwrap();
    let results = server.dict::<u32, u32>().unwrap();
    server.publish("jobs", &jobs).unwrap();
    server.publish("results", &results).unwrap();
    for j in 0..10 {
        jobs.put(&j).unwrap();
    }
    let a = remote_client::spawn(addr.clone(), KEY.to_vec(), 5).unwrap();
    let b = remote_client::spawn(addr.clone(), KEY.to_vec(), 5).unwrap();
    let bad = wrong_key_client::spawn(addr.clone()).unwrap();
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(
        bad.join().unwrap(),
        format!("{:?}", ErrorKind::Authentication)
    );
    let mut got = results.items().unwrap();
    got.sort();
    assert_eq!(got, (0..10).map(|j| (j, j * j)).collect::<Vec<_>>());
}

#[multiproc::test]
fn connected_handle_does_not_own_the_server() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let client = Manager::connect(addr.as_str(), KEY).unwrap();
    assert_eq!(client.pid(), None);
    let ns = client.namespace().unwrap();
    ns.set("x", &5u8).unwrap();
    client.shutdown().unwrap();
    drop(client);
    assert_eq!(ns.get::<u8>("x").unwrap(), 5);
    server.shutdown().unwrap();
    assert!(ns.get::<u8>("x").unwrap_err().is_disconnected());
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Tally(u32);

#[multiproc::managed]
impl Tally {
    pub fn get(&self) -> u32 {
        self.0
    }
}

#[multiproc::test]
fn debug_output_never_shows_the_authkey() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let list = server.list::<u8>().unwrap();
    let tally = server.create(Tally(3)).unwrap();
    assert_eq!(tally.get().unwrap(), 3);
    let text = String::from_utf8_lossy(KEY).into_owned();
    let bytes = format!("{:?}", KEY);
    let bytes = bytes.trim_matches(|c| c == '[' || c == ']');
    for shown in [
        format!("{server:?}"),
        format!("{list:?}"),
        format!("{tally:?}"),
        format!("{:?}", multiproc::manager::Proxy::core(&tally)),
    ] {
        assert!(!shown.contains(&text), "{shown}");
        assert!(!shown.contains(bytes), "{shown}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
    }
}

fn sockopt(fd: i32, level: i32, name: i32) -> Option<i32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into a live local; a non-socket just fails.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    (rc == 0).then_some(v)
}

/// Connects and calls, then reports, for each TCP socket of this process, whether keepalive is on
/// and its user timeout (ms).
#[worker]
fn client_socket_options(addr: String) -> Vec<(i32, i32)> {
    let mgr = Manager::connect(addr.as_str(), KEY).expect("connect");
    let ns = mgr.namespace().expect("namespace");
    ns.set("x", &1u8).expect("set");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("fds") {
        let Ok(fd) = entry
            .expect("fd")
            .file_name()
            .to_string_lossy()
            .parse::<i32>()
        else {
            continue;
        };
        if sockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Some(libc::AF_INET) {
            found.push((
                sockopt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE).unwrap_or(-1),
                sockopt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT).unwrap_or(-1),
            ));
        }
    }
    found
}

#[multiproc::test]
fn tcp_connections_detect_a_vanished_peer() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let found = client_socket_options::spawn(addr).unwrap().join().unwrap();
    // The handle's control connection and the thread's connection for proxies.
    assert_eq!(found.len(), 2, "{found:?}");
    for (keepalive, user_timeout) in found {
        assert_eq!(keepalive, 1);
        assert!(user_timeout > 0, "TCP_USER_TIMEOUT is {user_timeout}");
    }
}

#[multiproc::test]
fn short_authkeys_are_refused() {
    let err = Manager::serve("127.0.0.1:0", b"abracadabra").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("at least 16 bytes"), "{err}");
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let err = Manager::connect(server.socket_addr().unwrap(), b"").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
}

#[multiproc::test]
fn a_server_that_hangs_up_after_our_answer_is_gone_not_a_wrong_key() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut challenge = b"#CHALLENGE#".to_vec();
        challenge.extend_from_slice(&[7u8; 32]);
        let mut frame = (challenge.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&0u32.to_le_bytes());
        frame.extend_from_slice(&challenge);
        s.write_all(&frame).unwrap();
        // Read the whole answer (header + 64 bytes), then hang up without a word.
        let mut answer = [0u8; 8 + 64];
        s.read_exact(&mut answer).unwrap();
    });
    let err = Manager::connect(addr, KEY).unwrap_err();
    fake.join().unwrap();
    assert!(err.is_disconnected(), "{err:?}");
}
