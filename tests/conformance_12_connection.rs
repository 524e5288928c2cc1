//! Python conformance (issue 12), `multiprocessing.connection`: CPython's
//! `Lib/test/_test_multiprocessing.py` `_TestConnection`, `_TestListener`, `_TestListenerClient`,
//! `_TestPoll`, `TestWait` and `OtherTest`, ported where they map (named `<class>_<method>`), and
//! focused tests of what Python has no test of: TCP refusing handles, the handshake gate against idle
//! connections, `recv_bytes_into` keeping a message that did not fit. Every test that Python runs
//! across processes crosses real processes here too.

use multiproc::connection::{self, Address, Client, Listener, wait};
use multiproc::{Connection, ErrorKind, Pipe, Queue, worker};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Python's `TIMEOUT1`.
const TIMEOUT1: Duration = Duration::from_millis(100);
/// Long enough that a test waiting for it has failed, short enough not to hang a broken run.
const LONG: Duration = Duration::from_secs(20);
const KEY: &[u8] = b"conformance-12-connection-key";
const SENTINEL: &[u8] = b"";

fn assert_took_about(start: Instant, expected: Duration) {
    let took = start.elapsed();
    assert!(
        took >= expected && took < expected + Duration::from_secs(2),
        "took {took:?}, expected about {expected:?}"
    );
}

fn assert_quick(start: Instant) {
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}, expected at once"
    );
}

/// A file descriptor as a message (Python's `reduction.send_handle`).
#[derive(Serialize, Deserialize)]
struct Handle(#[serde(with = "multiproc::codec::fd")] OwnedFd);

/// A path in the temporary directory unique to this process and `tag`.
fn temp_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("multiproc-conf12-{}-{tag}", std::process::id()))
}

/// The three families (Python's `connection.families` on Linux, plus the abstract namespace).
fn families(tag: &str) -> Vec<Address> {
    let path = temp_path(tag);
    let _ = std::fs::remove_file(&path);
    vec![
        Address::Path(path),
        Address::unique_local().unwrap(),
        Address::tcp("127.0.0.1:0").unwrap(),
    ]
}

// ---- _TestConnection -------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Item {
    Int(i64),
    Float(f64),
    None,
}

#[worker]
fn echo(conn: Connection<Vec<Item>>) {
    while let Ok(msg) = conn.recv_bytes() {
        if msg == SENTINEL {
            break;
        }
        conn.send_bytes(&msg).unwrap();
    }
}

/// `_TestConnection.test_connection`: values and bytes round-trip through a child; `recv_bytes_into`
/// at the start of a buffer and at an offset; a buffer too short gives `BufferTooShort` (here with
/// the message still queued); `poll` with no wait, a short wait, and data present; a 16 MiB message;
/// end of stream once the child is gone.
#[multiproc::test]
fn connection_test_connection() {
    let (conn, child_conn) = Pipe::<Vec<Item>>::new().unwrap();
    let child = echo::spawn(child_conn).unwrap();

    assert!(conn.as_raw_fd() >= 0);
    let seq = vec![Item::Int(1), Item::Float(2.25), Item::None];
    let msg = b"hello world".to_vec();
    let longmsg = msg.repeat(10);
    let arr: Vec<u8> = [0i32, 1, 2, 3]
        .iter()
        .flat_map(|i| i.to_ne_bytes())
        .collect();

    conn.send(&seq).unwrap();
    assert_eq!(conn.recv().unwrap(), seq);

    conn.send_bytes(&msg).unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), msg);

    let mut buffer = [0u8; 40];
    conn.send_bytes(&arr).unwrap();
    assert_eq!(conn.recv_bytes_into(&mut buffer).unwrap(), arr.len());
    assert_eq!(&buffer[..16], &arr[..]);
    assert!(buffer[16..].iter().all(|&b| b == 0));

    // Python's offset argument: a slice of the buffer.
    let mut buffer = [0u8; 40];
    conn.send_bytes(&arr).unwrap();
    assert_eq!(conn.recv_bytes_into(&mut buffer[12..]).unwrap(), arr.len());
    assert!(buffer[..12].iter().all(|&b| b == 0));
    assert_eq!(&buffer[12..28], &arr[..]);
    assert!(buffer[28..].iter().all(|&b| b == 0));

    let mut buffer = [b' '; 40];
    conn.send_bytes(&longmsg).unwrap();
    let err = conn.recv_bytes_into(&mut buffer).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::BufferTooShort {
            size: longmsg.len()
        }
    );
    assert!(buffer.iter().all(|&b| b == b' '), "nothing is written");
    // Python hands the message over inside the exception; here it is still queued.
    assert_eq!(conn.recv_bytes().unwrap(), longmsg);

    let start = Instant::now();
    assert!(!conn.poll(Duration::ZERO).unwrap());
    assert_quick(start);

    let start = Instant::now();
    assert!(!conn.poll(TIMEOUT1).unwrap());
    assert_took_about(start, TIMEOUT1);

    conn.send(&vec![Item::None]).unwrap();
    std::thread::sleep(TIMEOUT1);
    let start = Instant::now();
    assert!(conn.poll(TIMEOUT1).unwrap());
    assert_quick(start);
    assert_eq!(conn.recv().unwrap(), vec![Item::None]);

    let really_big_msg = vec![b'X'; 16 << 20];
    conn.send_bytes(&really_big_msg).unwrap();
    assert_eq!(conn.recv_bytes().unwrap(), really_big_msg);

    conn.send_bytes(SENTINEL).unwrap(); // tell the child to quit
    child.join().unwrap();
    let err = conn.recv().unwrap_err();
    assert!(err.is_disconnected(), "{err:?}");
    assert!(conn.recv_bytes().unwrap_err().is_disconnected());
}

/// `_TestConnection.test_duplex_false`: a simplex pipe's reader cannot send, its writer cannot
/// receive or poll.
#[multiproc::test]
fn connection_test_duplex_false() {
    let (reader, writer) = Pipe::<u32>::simplex().unwrap();
    writer.send(&1).unwrap();
    assert_eq!(reader.recv().unwrap(), 1);
    assert_eq!(
        reader.send(&2).unwrap_err().kind(),
        &ErrorKind::InvalidHandle
    );
    assert_eq!(writer.recv().unwrap_err().kind(), &ErrorKind::InvalidHandle);
    assert_eq!(
        writer.poll(Duration::ZERO).unwrap_err().kind(),
        &ErrorKind::InvalidHandle
    );
    let mut buf = [0u8; 8];
    assert_eq!(
        writer.recv_bytes_into(&mut buf).unwrap_err().kind(),
        &ErrorKind::InvalidHandle
    );
}

/// `_TestConnection.test_sendbytes`: Python's `offset`/`size` arguments are slices here (a slice
/// out of range is the caller's panic, not a `ValueError`), and empty messages are messages.
#[multiproc::test]
fn connection_test_sendbytes() {
    let msg = b"abcdefghijklmnopqrstuvwxyz";
    let (a, b) = Pipe::<()>::new().unwrap();
    a.send_bytes(msg).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), msg);
    a.send_bytes(&msg[5..]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[5..]);
    a.send_bytes(&msg[7..7 + 8]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), &msg[7..15]);
    a.send_bytes(&msg[26..]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
    a.send_bytes(&msg[26..26]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"");
}

#[worker]
fn write_fd(conn: Connection<Handle>, data: Vec<u8>, create_dummy_fds: bool) -> i32 {
    // Python fills descriptors 0..256 so that the received one lands above 256.
    let mut dummies = Vec::new();
    if create_dummy_fds {
        loop {
            let dup = conn.as_fd().try_clone_to_owned().unwrap();
            let n = dup.as_raw_fd();
            dummies.push(dup);
            if n >= 256 {
                break;
            }
        }
    }
    let Handle(fd) = conn.recv_timeout(LONG).unwrap();
    let raw = fd.as_raw_fd();
    std::fs::File::from(fd).write_all(&data).unwrap();
    raw
}

fn fd_transfer(tag: &str, data: &[u8], large: bool) {
    let path = temp_path(tag);
    let (conn, child_conn) = Pipe::<Handle>::new().unwrap();
    let child = write_fd::spawn(child_conn, data.to_vec(), large).unwrap();
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut fd = OwnedFd::from(f);
        if large {
            // A descriptor numbered above 256 (issue #11657).
            let mut held = Vec::new();
            while fd.as_raw_fd() < 256 {
                let dup = fd.try_clone().unwrap();
                held.push(std::mem::replace(&mut fd, dup));
            }
            assert!(fd.as_raw_fd() >= 256);
        }
        conn.send(&Handle(fd)).unwrap();
    }
    let received_fd = child.join().unwrap();
    if large {
        assert!(received_fd >= 256, "the child received fd {received_fd}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), data);
    std::fs::remove_file(&path).unwrap();
}

/// `_TestConnection.test_fd_transfer`: an open file travels to a child, which writes into it.
#[multiproc::test]
fn connection_test_fd_transfer() {
    fd_transfer("fd", b"foo", false);
}

/// `_TestConnection.test_large_fd_transfer`: the same with descriptors numbered above 256 on both
/// sides.
#[multiproc::test]
fn connection_test_large_fd_transfer() {
    fd_transfer("largefd", b"bar", true);
}

#[worker]
fn send_data_without_fd(conn: Connection<Handle>) {
    // A frame whose header announces one descriptor, written straight to the socket without it.
    let mut frame = Vec::new();
    frame.extend_from_slice(&4u32.to_le_bytes());
    frame.extend_from_slice(&1u32.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    let mut sock = std::fs::File::from(conn.as_fd().try_clone_to_owned().unwrap());
    sock.write_all(&frame).unwrap();
}

/// `_TestConnection.test_missing_fd_transfer`: data that should come with a descriptor but does
/// not is an error (`InvalidHandle`; Python's `RuntimeError`), not a hang or a bogus handle.
#[multiproc::test]
fn connection_test_missing_fd_transfer() {
    let (conn, child_conn) = Pipe::<Handle>::new().unwrap();
    let child = send_data_without_fd::spawn(child_conn).unwrap();
    let err = conn.recv_timeout(LONG).err().expect("no handle arrived");
    assert_eq!(err.kind(), &ErrorKind::InvalidHandle, "{err}");
    child.join().unwrap();
}

/// `_TestConnection.test_spawn_close`: the parent's copy of the child's end is closed at once (here
/// `spawn` takes it by value, so it is gone from the parent before the child has started), and the
/// pipe still works; the child ends when it reads the sentinel.
#[multiproc::test]
fn connection_test_spawn_close() {
    let (conn, child_conn) = Pipe::<Vec<Item>>::new().unwrap();
    let p = echo::spawn(child_conn).unwrap();
    let msg = b"hello".to_vec();
    conn.send_bytes(&msg).unwrap();
    assert_eq!(conn.recv_bytes_timeout(LONG).unwrap(), msg);
    conn.send_bytes(SENTINEL).unwrap();
    drop(conn);
    p.join().unwrap();
}

/// `_TestConnection.test_context`: Python's `with a, b:` closes both ends when the block ends; here
/// dropping an end closes it, and the other end's `recv` reports the end of the stream at once
/// instead of waiting.
#[multiproc::test]
fn connection_test_context() {
    let (a, b) = Pipe::<u32>::new().unwrap();
    a.send(&1729).unwrap();
    assert_eq!(b.recv().unwrap(), 1729);
    drop(b);
    let start = Instant::now();
    assert!(a.recv_timeout(LONG).unwrap_err().is_disconnected());
    assert_quick(start);
}

// ---- _TestListener ---------------------------------------------------------------------------

/// `_TestListener.test_multiple_bind`: binding an address a listener holds fails, for every family.
#[multiproc::test]
fn listener_test_multiple_bind() {
    for address in families("multibind") {
        let l = Listener::bind(&address, None).unwrap();
        let err = Listener::bind(l.address(), None).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Io, "{address}: {err}");
        assert!(err.to_string().contains("in use"), "{err}");
    }
}

/// `_TestListener.test_abstract_socket`: a listener on an abstract name (Python's `"\0something"`);
/// once it is closed, nobody can connect.
#[multiproc::test]
fn listener_test_abstract_socket() {
    let address = Address::Local(format!("something-{}", std::process::id()));
    let listener = Listener::bind(&address, None).unwrap();
    let client = Client::connect::<u32>(listener.address(), None).unwrap();
    let d = listener.accept_timeout::<u32>(LONG).unwrap();
    client.send(&1729).unwrap();
    assert_eq!(d.recv().unwrap(), 1729);
    drop(listener);
    let err = Client::connect::<u32>(&address, None).unwrap_err();
    assert!(err.is_disconnected(), "{err}");
}

/// `_TestListener.test_context`: Python's `with Listener() as l, Client(l.address) as c, l.accept()
/// as d`; here the scope is the `with`: inside it a message crosses, after it the listener is closed
/// and a new client is refused.
#[multiproc::test]
fn listener_test_context() {
    let address = Address::unique_local().unwrap();
    {
        let l = Listener::bind(&address, None).unwrap();
        let c = Client::connect::<u32>(l.address(), None).unwrap();
        let d = l.accept_timeout::<u32>(LONG).unwrap();
        c.send(&1729).unwrap();
        assert_eq!(d.recv_timeout(LONG).unwrap(), 1729);
    }
    let err = Client::connect::<u32>(&address, None).unwrap_err();
    assert!(err.is_disconnected(), "{err}");
}

/// A path listener removes its socket file when dropped (Python's `Listener.close`).
#[multiproc::test]
fn listener_path_is_removed_on_drop() {
    let path = temp_path("unlink");
    let _ = std::fs::remove_file(&path);
    let l = Listener::bind(&Address::Path(path.clone()), Some(KEY)).unwrap();
    assert!(path.exists());
    drop(l);
    assert!(!path.exists());
}

// ---- _TestListenerClient ---------------------------------------------------------------------

#[worker]
fn client_hello(address: Address, authkey: Option<Vec<u8>>) {
    let conn = connection::connect::<String>(&address, authkey.as_deref()).unwrap();
    conn.send("hello").unwrap();
}

/// `_TestListenerClient.test_listener_client`: a child connects to the listener of every family,
/// with and without an authkey, and sends a message.
#[multiproc::test]
fn listener_client_test_listener_client() {
    for key in [None, Some(KEY)] {
        for address in families("listenerclient") {
            let l = Listener::bind(&address, key).unwrap();
            let child = client_hello::spawn(l.address().clone(), key.map(<[u8]>::to_vec)).unwrap();
            let conn = l.accept_timeout::<String>(LONG).unwrap();
            assert_eq!(conn.recv_timeout(LONG).unwrap(), "hello", "{address}");
            child.join().unwrap();
        }
    }
}

/// `_TestListenerClient.test_issue16955`: `poll` on a client connection sees the listener's bytes.
#[multiproc::test]
fn listener_client_test_issue16955() {
    for address in families("issue16955") {
        let l = Listener::bind(&address, Some(KEY)).unwrap();
        let address = l.address().clone();
        let t = std::thread::spawn(move || Client::connect::<()>(&address, Some(KEY)));
        let a = l.accept_timeout::<()>(LONG).unwrap();
        let c = t.join().unwrap().unwrap();
        a.send_bytes(b"hello").unwrap();
        assert!(c.poll(Duration::from_secs(1)).unwrap());
        assert_eq!(c.recv_bytes().unwrap(), b"hello");
    }
}

/// A TCP connection cannot carry handles: sending one is refused up front with `InvalidInput`, and
/// the connection stays usable. Over a Unix socket the same message goes through.
#[multiproc::test]
fn listener_tcp_refuses_handles() {
    for address in families("tcphandles") {
        let l = Listener::bind(&address, Some(KEY)).unwrap();
        let to = l.address().clone();
        let t = std::thread::spawn(move || Client::connect::<Option<Handle>>(&to, Some(KEY)));
        let server = l.accept_timeout::<Option<Handle>>(LONG).unwrap();
        let client = t.join().unwrap().unwrap();
        let (r, _w) = UnixStream::pair().unwrap();
        let res = client.send(&Some(Handle(OwnedFd::from(r))));
        if address.is_tcp() {
            let err = res.unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidInput);
            assert!(err.to_string().contains("TCP"), "{err}");
            let mut raw = [0u8; 4];
            client.send_bytes(b"1234").unwrap();
            assert_eq!(server.recv_bytes_into(&mut raw).unwrap(), 4);
            assert_eq!(&raw, b"1234");
        } else {
            res.unwrap();
            assert!(server.recv_timeout(LONG).unwrap().is_some());
        }
        client.send(&None).unwrap();
        assert!(server.recv_timeout(LONG).unwrap().is_none());
    }
}

// ---- the handshake and its hardening --------------------------------------------------------

/// Reads one frame from a raw socket: its payload.
fn read_frame(s: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 8];
    s.read_exact(&mut header)?;
    let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    Ok(payload)
}

fn write_frame(s: &mut UnixStream, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(payload);
    s.write_all(&frame)
}

fn raw_connect(address: &Address) -> UnixStream {
    use std::os::linux::net::SocketAddrExt;
    match address {
        Address::Local(name) => {
            let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            UnixStream::connect_addr(&a).unwrap()
        }
        Address::Path(p) => UnixStream::connect(p).unwrap(),
        Address::Tcp(_) => unreachable!("unix families only"),
    }
}

/// `OtherTest.test_deliver_challenge_auth_failure`: the listener's side of the handshake against a
/// peer that answers the challenge with bogus bytes: the peer is told `#FAILURE#` (or hung up on)
/// and `accept` never returns it. A client with the wrong key gets `Authentication`.
#[multiproc::test]
fn other_test_deliver_challenge_auth_failure() {
    let l = Listener::bind(&Address::unique_local().unwrap(), Some(KEY)).unwrap();
    let mut s = raw_connect(l.address());
    s.set_read_timeout(Some(LONG)).unwrap();
    let address = l.address().clone();
    let bogus = std::thread::spawn(move || {
        let challenge = read_frame(&mut s).unwrap();
        assert!(challenge.starts_with(b"#CHALLENGE#"));
        // Right length (digest + nonce), wrong digest.
        write_frame(&mut s, &[b'x'; 64]).unwrap();
        read_frame(&mut s).unwrap_or_default()
    });
    let wrong = std::thread::spawn(move || {
        Client::connect::<u8>(&address, Some(b"not-the-right-key-at-all"))
    });
    // The handshakes run while the listener accepts: nothing comes out of it.
    let start = Instant::now();
    while !(bogus.is_finished() && wrong.is_finished()) {
        assert!(start.elapsed() < LONG, "the handshakes never finished");
        let err = l.accept_timeout::<u8>(TIMEOUT1).unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }
    let reply = bogus.join().unwrap();
    assert!(reply.is_empty() || reply == b"#FAILURE#", "{reply:?}");
    let err = wrong.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("rejected the authkey"), "{err}");
}

/// `OtherTest.test_answer_challenge_auth_failure`: the client's side against a fake listener that
/// sends a challenge and then bogus bytes instead of the answer to the client's challenge.
#[multiproc::test]
fn other_test_answer_challenge_auth_failure() {
    let address = Address::unique_local().unwrap();
    let Address::Local(name) = &address else {
        unreachable!()
    };
    use std::os::linux::net::SocketAddrExt;
    let a = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let fake = std::os::unix::net::UnixListener::bind_addr(&a).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = fake.accept().unwrap();
        let mut challenge = b"#CHALLENGE#".to_vec();
        challenge.extend_from_slice(&[7u8; 32]);
        write_frame(&mut s, &challenge).unwrap();
        let answer = read_frame(&mut s).unwrap();
        assert_eq!(answer.len(), 64);
        write_frame(&mut s, b"something bogus").unwrap();
    });
    let err = Client::connect::<u8>(&address, Some(KEY)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("failed our challenge"), "{err}");
    server.join().unwrap();
}

/// The listener's handshake cannot be denied by connections that never answer: with many idle
/// unauthenticated connections open, a real client is accepted at once.
#[multiproc::test]
fn listener_idle_connections_do_not_block_accept() {
    for address in families("idle") {
        let l = Listener::bind(&address, Some(KEY)).unwrap();
        let idle: Vec<OwnedFd> = (0..40)
            .map(|_| match l.address() {
                Address::Tcp(a) => OwnedFd::from(std::net::TcpStream::connect(a).unwrap()),
                other => OwnedFd::from(raw_connect(other)),
            })
            .collect();
        // Let the listener take the idle ones first.
        assert!(l.accept_timeout::<u8>(TIMEOUT1).unwrap_err().is_timeout());
        let address = l.address().clone();
        let t = std::thread::spawn(move || {
            let c = Client::connect::<u8>(&address, Some(KEY))?;
            c.send(&42)?;
            Ok::<_, multiproc::Error>(c)
        });
        let start = Instant::now();
        let conn = l.accept_timeout::<u8>(LONG).unwrap();
        assert_quick(start);
        assert_eq!(conn.recv_timeout(LONG).unwrap(), 42);
        t.join().unwrap().unwrap();
        drop(idle);
    }
}

/// Bad input gives clear errors: a short authkey, a listener that is not there.
#[multiproc::test]
fn listener_bad_input() {
    let err = Listener::bind(&Address::unique_local().unwrap(), Some(b"short")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.to_string().contains("16 bytes"), "{err}");
    let err = Client::connect::<u8>(&Address::unique_local().unwrap(), Some(b"short")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let err = Client::connect::<u8>(&Address::unique_local().unwrap(), None).unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    assert!(err.to_string().contains("not running"), "{err}");
}

// ---- recv_bytes_into -------------------------------------------------------------------------

/// A message too long for the buffer stays queued, whatever comes after it, and survives the
/// connection travelling to another process.
#[worker]
fn recv_into_child(conn: Connection<()>) -> Vec<u8> {
    let mut buf = vec![0u8; 64];
    let n = conn.recv_bytes_into_timeout(&mut buf, LONG).unwrap();
    buf.truncate(n);
    buf
}

#[multiproc::test]
fn recv_bytes_into_too_short_keeps_message() {
    let (a, b) = Pipe::<()>::new().unwrap();
    a.send_bytes(b"0123456789").unwrap();
    a.send_bytes(b"next").unwrap();
    let mut small = [0u8; 4];
    for _ in 0..2 {
        let err = b.recv_bytes_into(&mut small).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::BufferTooShort { size: 10 });
        assert!(err.to_string().contains("10 bytes"), "{err}");
    }
    assert!(b.poll(Duration::ZERO).unwrap());
    // The kept message moves with the connection to a child.
    let child = recv_into_child::spawn(b).unwrap();
    assert_eq!(child.join().unwrap(), b"0123456789");

    let (a, b) = Pipe::<()>::new().unwrap();
    let start = Instant::now();
    let err = b.recv_bytes_into_timeout(&mut small, TIMEOUT1).unwrap_err();
    assert!(err.is_timeout());
    assert_took_about(start, TIMEOUT1);
    a.send_bytes(b"").unwrap();
    assert_eq!(b.recv_bytes_into(&mut []).unwrap(), 0);
}

/// `_TestListenerClient.test_issue14725`: a client that connected, sent and went away before the
/// listener accepted is still accepted, and its message read.
#[multiproc::test]
fn listener_client_test_issue14725() {
    let l = Listener::bind(&Address::unique_local().unwrap(), None).unwrap();
    let p = client_hello::spawn(l.address().clone(), None).unwrap();
    p.join().unwrap();
    let conn = l.accept_timeout::<String>(LONG).unwrap();
    assert_eq!(conn.recv_timeout(LONG).unwrap(), "hello");
}

// ---- _TestPoll -------------------------------------------------------------------------------

/// `_TestPoll.test_empty_string`: an empty message makes `poll` true, and polling does not consume it.
#[multiproc::test]
fn poll_test_empty_string() {
    let (a, b) = Pipe::<()>::new().unwrap();
    assert!(!a.poll(Duration::ZERO).unwrap());
    b.send_bytes(b"").unwrap();
    assert!(a.poll(Duration::ZERO).unwrap());
    assert!(a.poll(Duration::ZERO).unwrap());
    assert_eq!(a.recv_bytes().unwrap(), b"");
}

const STRINGS: &[&[u8]] = &[b"hello", b"", b"a", b"b", b"", b"bye", b"", b"lop"];

#[worker]
fn child_strings(conn: Connection<()>) {
    for s in STRINGS {
        std::thread::sleep(TIMEOUT1);
        conn.send_bytes(s).unwrap();
    }
}

/// `_TestPoll.test_strings`: messages arriving one by one, empty ones included, are each seen by
/// `poll` and received whole.
#[multiproc::test]
fn poll_test_strings() {
    let (a, b) = Pipe::<()>::new().unwrap();
    let child = child_strings::spawn(b).unwrap();
    for s in STRINGS {
        for _ in 0..200 {
            if a.poll(Duration::from_millis(10)).unwrap() {
                break;
            }
        }
        assert_eq!(a.recv_bytes().unwrap(), *s);
    }
    child.join().unwrap();
}

#[worker]
fn child_boundaries(r: Connection<()>) -> bool {
    r.poll(Duration::from_secs(5)).unwrap()
}

/// `_TestPoll.test_boundaries`: a child that polls the reader does not pull part of a message out of
/// the pipe.
#[multiproc::test]
fn poll_test_boundaries() {
    let (r, w) = Pipe::<()>::simplex().unwrap();
    let child = child_boundaries::spawn(r.clone_for_test()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let l: [&[u8]; 2] = [b"first", b"second"];
    for obj in l {
        w.send_bytes(obj).unwrap();
    }
    drop(w);
    assert!(child.join().unwrap());
    assert_eq!(r.recv_bytes().unwrap(), b"first");
    assert_eq!(r.recv_bytes().unwrap(), b"second");
}

/// What Python does by handing a connection to a child while keeping it: the same socket twice.
trait CloneForTest {
    fn clone_for_test(&self) -> Self;
}

impl CloneForTest for Connection<()> {
    fn clone_for_test(&self) -> Self {
        // Through a pipe: what travels is a duplicate of the socket.
        let (a, b) = Pipe::<Connection<()>>::new().unwrap();
        a.send(self).unwrap();
        b.recv().unwrap()
    }
}

#[worker]
fn child_dont_merge(b: Connection<()>) {
    b.send_bytes(b"a").unwrap();
    b.send_bytes(b"b").unwrap();
    b.send_bytes(b"cd").unwrap();
}

/// `_TestPoll.test_dont_merge`: messages sent back to back stay separate messages, and `poll` keeps
/// saying true while one is left.
#[multiproc::test]
fn poll_test_dont_merge() {
    let (a, b) = Pipe::<()>::new().unwrap();
    assert!(!a.poll(Duration::ZERO).unwrap());
    assert!(!a.poll(TIMEOUT1).unwrap());
    let child = child_dont_merge::spawn(b).unwrap();
    assert_eq!(a.recv_bytes().unwrap(), b"a");
    assert!(a.poll(Duration::from_secs(1)).unwrap());
    assert!(a.poll(Duration::from_secs(1)).unwrap());
    assert_eq!(a.recv_bytes().unwrap(), b"b");
    assert!(a.poll(Duration::from_secs(1)).unwrap());
    assert!(a.poll(Duration::from_secs(1)).unwrap());
    assert!(a.poll(Duration::ZERO).unwrap());
    assert_eq!(a.recv_bytes().unwrap(), b"cd");
    child.join().unwrap();
}

// ---- TestWait --------------------------------------------------------------------------------

#[worker]
fn child_test_wait(w: Connection<(u32, u32)>, slow: bool) {
    for i in 0..10u32 {
        if slow {
            std::thread::sleep(Duration::from_millis(u64::from(i * 7 % 50)));
        }
        w.send(&(i, std::process::id())).unwrap();
    }
}

fn test_wait(slow: bool) {
    let mut readers = Vec::new();
    let mut procs = Vec::new();
    for _ in 0..4 {
        let (r, w) = Pipe::<(u32, u32)>::simplex().unwrap();
        procs.push(child_test_wait::spawn(w, slow).unwrap());
        readers.push(r);
    }
    let mut messages = Vec::new();
    while !readers.is_empty() {
        let objects: Vec<&dyn connection::Waitable> = readers
            .iter()
            .map(|r| r as &dyn connection::Waitable)
            .collect();
        let ready = wait(&objects, Some(LONG)).unwrap();
        assert!(!ready.is_empty(), "wait timed out");
        let mut gone = Vec::new();
        for i in ready {
            match readers[i].recv() {
                Ok(msg) => messages.push(msg),
                Err(e) if e.is_disconnected() => gone.push(i),
                Err(e) => panic!("{e}"),
            }
        }
        for i in gone.into_iter().rev() {
            readers.remove(i);
        }
    }
    messages.sort();
    let mut expected: Vec<(u32, u32)> = procs
        .iter()
        .flat_map(|p| (0..10).map(move |i| (i, p.pid())))
        .collect();
    expected.sort();
    assert_eq!(messages, expected);
    for p in procs {
        p.join().unwrap();
    }
}

/// `TestWait.test_wait`: `wait` over four children's pipes until every one has ended.
#[multiproc::test]
fn wait_test_wait() {
    test_wait(false);
}

/// `TestWait.test_wait_slow`.
#[multiproc::test]
fn wait_test_wait_slow() {
    test_wait(true);
}

#[worker]
fn child_test_wait_socket(address: std::net::SocketAddr, slow: bool) {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    for i in 0..10 {
        if slow {
            std::thread::sleep(Duration::from_millis(i * 7 % 50));
        }
        s.write_all(format!("{i}\n").as_bytes()).unwrap();
    }
}

/// `TestWait.test_wait_socket`: `wait` over plain sockets (raw descriptors).
#[multiproc::test]
fn wait_test_wait_socket() {
    wait_socket(false);
}

/// `TestWait.test_wait_socket_slow`: the same with writers that pause between lines.
#[multiproc::test]
fn wait_test_wait_socket_slow() {
    wait_socket(true);
}

/// Four children each write ten lines to a TCP socket; `wait` over the accepted sockets reads every
/// line of every child, and each socket's end.
fn wait_socket(slow: bool) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let procs: Vec<_> = (0..4)
        .map(|_| child_test_wait_socket::spawn(addr, slow).unwrap())
        .collect();
    let mut readers: Vec<(std::net::TcpStream, Vec<u8>)> = (0..4)
        .map(|_| (l.accept().unwrap().0, Vec::new()))
        .collect();
    drop(l);
    let mut done = Vec::new();
    while !readers.is_empty() {
        let fds: Vec<_> = readers.iter().map(|(s, _)| s.as_fd()).collect();
        let objects: Vec<&dyn connection::Waitable> =
            fds.iter().map(|f| f as &dyn connection::Waitable).collect();
        let ready = wait(&objects, Some(LONG)).unwrap();
        assert!(!ready.is_empty(), "wait timed out");
        for i in ready.into_iter().rev() {
            let mut buf = [0u8; 32];
            let n = readers[i].0.read(&mut buf).unwrap();
            if n == 0 {
                done.push(readers.remove(i).1);
            } else {
                readers[i].1.extend_from_slice(&buf[..n]);
            }
        }
    }
    let expected: String = (0..10).map(|i| format!("{i}\n")).collect();
    assert_eq!(done.len(), 4);
    for v in done {
        assert_eq!(v, expected.as_bytes());
    }
    for p in procs {
        p.join().unwrap();
    }
}

/// `TestWait.test_wait_timeout` (1 s instead of 5): nothing ready returns empty after the timeout;
/// then the end that has a message is reported.
#[multiproc::test]
fn wait_test_wait_timeout() {
    let timeout = Duration::from_secs(1);
    let (a, b) = Pipe::<()>::new().unwrap();
    let start = Instant::now();
    let res = wait(&[&a, &b], Some(timeout)).unwrap();
    assert!(res.is_empty());
    assert_took_about(start, timeout);
    b.send(&()).unwrap();
    assert_eq!(wait(&[&a, &b], Some(LONG)).unwrap(), vec![0]);
}

#[worker]
fn signal_and_sleep(started: Connection<()>, period_ms: u64) {
    started.send(&()).unwrap();
    std::thread::sleep(Duration::from_millis(period_ms));
}

/// `TestWait.test_wait_integer`: a process sentinel among connections becomes ready when the child
/// exits; the connections when they have data.
#[multiproc::test]
fn wait_test_wait_integer() {
    let expected = Duration::from_secs(1);
    let (a, b) = Pipe::<()>::new().unwrap();
    let (started_r, started_w) = Pipe::<()>::new().unwrap();
    let p = signal_and_sleep::spawn(started_w, expected.as_millis() as u64).unwrap();
    let _: std::os::fd::BorrowedFd<'_> = p.sentinel();
    started_r.recv_timeout(LONG).unwrap();

    let start = Instant::now();
    let res = wait(&[&a, &p, &b], Some(expected + LONG)).unwrap();
    assert_eq!(res, vec![1]);
    let took = start.elapsed();
    assert!(
        took > expected - Duration::from_millis(300) && took < expected + Duration::from_secs(2)
    );

    a.send(&()).unwrap();
    let start = Instant::now();
    assert_eq!(wait(&[&a, &p, &b], Some(LONG)).unwrap(), vec![1, 2]);
    assert_quick(start);

    b.send(&()).unwrap();
    let start = Instant::now();
    assert_eq!(wait(&[&a, &p, &b], Some(LONG)).unwrap(), vec![0, 1, 2]);
    assert_quick(start);

    // A sentinel also works as a raw descriptor.
    let fd = p.sentinel();
    assert_eq!(wait(&[&fd], Some(LONG)).unwrap(), vec![0]);
    p.join().unwrap();
}

/// `TestWait.test_neg_timeout`: a zero timeout (Python's negative one) only looks.
#[multiproc::test]
fn wait_test_neg_timeout() {
    let (a, _b) = Pipe::<()>::new().unwrap();
    let start = Instant::now();
    assert!(wait(&[&a], Some(Duration::ZERO)).unwrap().is_empty());
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[worker]
fn put_later(q: Queue<u32>, delay_ms: u64) {
    std::thread::sleep(Duration::from_millis(delay_ms));
    q.put(5).unwrap();
}

/// `wait` over a queue (ready when `get` would not block) and a connection; a closed queue is ready
/// too (its `get` fails at once).
#[multiproc::test]
fn wait_queue_and_connection() {
    let q = Queue::<u32>::new().unwrap();
    let (a, _b) = Pipe::<()>::new().unwrap();
    assert!(wait(&[&q, &a], Some(Duration::ZERO)).unwrap().is_empty());
    let child = put_later::spawn(q.clone(), 200).unwrap();
    let start = Instant::now();
    assert_eq!(wait(&[&q, &a], Some(LONG)).unwrap(), vec![0]);
    assert_took_about(start, Duration::from_millis(200));
    assert_eq!(q.get_timeout(LONG).unwrap(), 5);
    child.join().unwrap();

    let start = Instant::now();
    assert!(wait(&[&q], Some(TIMEOUT1)).unwrap().is_empty());
    assert_took_about(start, TIMEOUT1);
    q.close();
    assert_eq!(wait(&[&q], Some(LONG)).unwrap(), vec![0]);
}
