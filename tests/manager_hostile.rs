//! Hostile bytes in both directions of the manager protocol. An authenticated client that sends
//! frames claiming 2^32-1, 2^60 or 2^64-1 bytes or elements (or random frames) gets errors, and the
//! server keeps serving everyone else; a fake server that answers with such frames gives the client
//! errors, never an abort or a hang. Plus seeded random frames through both of the manager's
//! decoders in this process and through a fake server's replies (`MULTIPROC_FUZZ_FRAMES`, default
//! 100,000 each), and a tenth as many random requests to a real server over TCP.

use hmac::{Hmac, Mac};
use multiproc::manager::{DictProxy, ListProxy, Proxy};
use multiproc::{ErrorKind, Manager};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"hostile-test-authkey-77c1d0a9";

fn frames() -> usize {
    std::env::var("MULTIPROC_FUZZ_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// xorshift64*: the same frames on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Random bytes, often led by length markers (251..=254) and large values, which is where a
    /// decoder that trusts a length breaks.
    fn frame(&mut self, max: usize) -> Vec<u8> {
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len)
            .map(|_| match self.next() % 8 {
                0 => 0xfb + (self.next() % 4) as u8,
                1 => 0xff,
                2 => 0,
                _ => self.next() as u8,
            })
            .collect()
    }
}

/// The length claims the issue names, as bincode varints: 2^32-1, 2^60, 2^64-1.
fn claims() -> Vec<Vec<u8>> {
    vec![
        [&[0xfcu8][..], &u32::MAX.to_le_bytes()].concat(),
        [&[0xfdu8][..], &(1u64 << 60).to_le_bytes()].concat(),
        [&[0xfdu8][..], &u64::MAX.to_le_bytes()].concat(),
    ]
}

/// A proxy as it travels (the layout of the runtime's `ProxyCore`), to learn an object's id and
/// capability.
#[derive(Deserialize)]
struct Core {
    _endpoint: (multiproc::manager::Address, Vec<u8>, u64, Option<Vec<u8>>),
    id: u128,
    cap: u128,
}

fn core_of<P: Proxy>(p: &P) -> Core {
    let enc = multiproc::codec::encode(p).unwrap();
    multiproc::codec::decode(&enc.bytes, enc.fds).unwrap()
}

fn send_frame(s: &mut impl Write, payload: &[u8]) -> std::io::Result<()> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(payload);
    s.write_all(&f)
}

fn read_frame(s: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h)?;
    let mut p = vec![0u8; u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize];
    s.read_exact(&mut p)?;
    Ok(p)
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// An authenticated raw connection to the server at `addr`.
fn raw_connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let challenge = read_frame(&mut s).unwrap();
    let mut answer = hmac(KEY, &challenge);
    answer.extend_from_slice(&[9u8; 32]);
    send_frame(&mut s, &answer).unwrap();
    assert!(read_frame(&mut s).unwrap().starts_with(b"#WELCOME#"));
    s
}

/// The head of a request: object, capability, method.
fn head(id: u128, cap: u128, method: &str) -> Vec<u8> {
    multiproc::codec::encode(&(id, cap, method)).unwrap().bytes
}

/// Sends `frame` on a raw connection (reconnecting first if the server closed the last one) and
/// reads the reply; `None` if the server closed the connection instead of replying. A reply must
/// come (or the connection end) within the read timeout: no request may hang the server.
fn exchange(
    conn: &mut Option<TcpStream>,
    addr: std::net::SocketAddr,
    frame: &[u8],
) -> Option<Vec<u8>> {
    let s = conn.get_or_insert_with(|| raw_connect(addr));
    let reply = send_frame(s, frame).and_then(|()| read_frame(s));
    match reply {
        Ok(r) => Some(r),
        Err(e) => {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the server neither replied nor closed: {e}"
            );
            *conn = None;
            None
        }
    }
}

/// The server still serves: its proxies answer and a new client connects and works.
fn still_serving(
    addr: std::net::SocketAddr,
    list: &ListProxy<String>,
    dict: &DictProxy<String, u32>,
) {
    assert_eq!(list.to_vec().unwrap(), ["kept"]);
    assert_eq!(dict.get("k").unwrap(), Some(7));
    let other = Manager::connect(addr, KEY).unwrap();
    let fresh = other.list_from(["new".to_string()]).unwrap();
    assert_eq!(fresh.to_vec().unwrap(), ["new"]);
}

const METHODS: &[&str] = &[
    "len",
    "append",
    "extend",
    "get",
    "set",
    "insert",
    "pop",
    "to_vec",
    "contains",
    "keys",
    "items",
    "values",
    "remove",
    "update",
    "setdefault",
    "index",
    "lookup",
    "create",
    "publish",
    "getattr",
    "setattr",
    "nonexistent",
];

#[multiproc::test]
fn server_survives_length_claims_in_every_request_field() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap();
    let list = server.list_from(["kept".to_string()]).unwrap();
    let dict = server.dict::<String, u32>().unwrap();
    dict.insert("k", &7).unwrap();
    // The calls go to scratch objects (a bad request may still be a valid call that changes
    // them); `list` and `dict` are the witnesses that nothing else changed.
    let scratch_l = server.list::<String>().unwrap();
    let scratch_d = server.dict::<String, u32>().unwrap();
    let (l, d) = (core_of(&scratch_l), core_of(&scratch_d));
    let started = Instant::now();
    let mut conn = None;
    let (mut replied, mut closed) = (0, 0);
    for claim in claims() {
        // In the method name: the head cannot be read, the server closes the connection.
        let mut frame = multiproc::codec::encode(&(l.id, l.cap)).unwrap().bytes;
        frame.extend_from_slice(&claim);
        match exchange(&mut conn, addr, &frame) {
            Some(_) => replied += 1,
            None => closed += 1,
        }
        // In the arguments of every method of a list, a dict and the server itself: as a string or
        // byte string, as a sequence, inside a tuple, inside an Option.
        for (id, cap) in [(l.id, l.cap), (d.id, d.cap), (0, 0)] {
            for method in METHODS {
                for args in [
                    claim.clone(),
                    [&[1u8][..], &claim].concat(),
                    [&[3u8, b'a', b'b', b'c'][..], &claim].concat(),
                    [&[0u8][..], &claim, &claim].concat(),
                ] {
                    let frame = [head(id, cap, method), args].concat();
                    match exchange(&mut conn, addr, &frame) {
                        Some(_) => replied += 1,
                        None => closed += 1,
                    }
                }
            }
        }
    }
    assert!(replied > 0, "the server answered none of the bad requests");
    println!(
        "crafted requests: {replied} answered, {closed} closed the connection, in {:?}",
        started.elapsed()
    );
    still_serving(addr, &list, &dict);
    server.shutdown().unwrap();
}

#[multiproc::test]
fn server_survives_random_requests_over_tcp() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap();
    let list = server.list_from(["kept".to_string()]).unwrap();
    let dict = server.dict::<String, u32>().unwrap();
    dict.insert("k", &7).unwrap();
    // Scratch objects the random calls may change; the two above only the whole-frame noise reaches.
    let scratch_l = server.list::<String>().unwrap();
    let scratch_d = server.dict::<String, u32>().unwrap();
    let targets = [core_of(&scratch_l), core_of(&scratch_d)];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut conn = None;
    let n = (frames() / 10).max(100);
    let started = Instant::now();
    for i in 0..n {
        let frame = if i % 4 == 0 {
            rng.frame(48) // noise from the first byte
        } else {
            let t = &targets[(rng.next() % 2) as usize];
            let method = METHODS[(rng.next() % METHODS.len() as u64) as usize];
            [head(t.id, t.cap, method), rng.frame(40)].concat()
        };
        exchange(&mut conn, addr, &frame);
    }
    println!("{n} random requests over TCP in {:?}", started.elapsed());
    still_serving(addr, &list, &dict);
    server.shutdown().unwrap();
}

#[test]
fn random_frames_through_both_decoders_in_process() {
    use multiproc::manager::__testing::{decode_reply, decode_request};
    let n = frames();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut decoded = [0usize; 4];
    let started = Instant::now();
    for _ in 0..n {
        let f = rng.frame(64);
        decoded[0] += usize::from(decode_request(&f).is_ok());
        decoded[1] += usize::from(decode_reply::<Vec<String>>(&f).is_ok());
        decoded[2] += usize::from(decode_reply::<(u128, u128)>(&f).is_ok());
        decoded[3] +=
            usize::from(decode_reply::<Option<HashMap<String, Vec<Vec<u8>>>>>(&f).is_ok());
    }
    println!(
        "{n} random frames per decoder in {:?}; decoded: request {}, replies {} / {} / {}",
        started.elapsed(),
        decoded[0],
        decoded[1],
        decoded[2],
        decoded[3]
    );
    for claim in claims() {
        for frame in [
            claim.clone(),
            [&[0u8, 0][..], &claim].concat(),
            [&[1u8, 0][..], &claim].concat(),
            [&[0u8][..], &claim].concat(),
            [&[0u8, 1][..], &claim].concat(),
        ] {
            assert!(decode_request(&frame).is_err());
            let e = decode_reply::<Vec<String>>(&frame).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Codec | ErrorKind::Remote { .. }),
                "{e:?}"
            );
        }
    }
}

/// A fake manager: completes the handshake with either key, answers `create` with an object and
/// every other call with the next of `replies`, in turn; one thread per connection. Joining it gives
/// how many of `replies` were taken once all were (or after a minute).
fn fake_server(replies: Vec<Vec<u8>>) -> (std::net::SocketAddr, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let replies = Arc::new(replies);
    let next = Arc::new(AtomicUsize::new(0));
    let t = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while next.load(Ordering::SeqCst) < replies.len() && Instant::now() < until {
            match listener.accept() {
                Ok((s, _)) => {
                    let (replies, next) = (Arc::clone(&replies), Arc::clone(&next));
                    std::thread::spawn(move || fake_connection(s, &replies, &next));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        next.load(Ordering::SeqCst).min(replies.len())
    });
    (addr, t)
}

fn fake_connection(mut s: TcpStream, replies: &[Vec<u8>], next: &AtomicUsize) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let challenge = [&b"#CHALLENGE#"[..], &[5u8; 32]].concat();
    send_frame(&mut s, &challenge).unwrap();
    let answer = read_frame(&mut s).unwrap();
    let key = if answer[..32] == hmac(KEY, &challenge)[..] {
        KEY.to_vec()
    } else {
        hmac(KEY, b"multiproc manager proxy key v1")
    };
    let welcome = [&b"#WELCOME#"[..], &hmac(&key, &answer[32..])].concat();
    send_frame(&mut s, &welcome).unwrap();
    while let Ok(req) = read_frame(&mut s) {
        let (_, _, method) = multiproc::manager::__testing::decode_request(&req).unwrap();
        let reply = if method == "create" {
            vec![0, 5, 7] // Status::Ok, then (id 5, capability 7)
        } else {
            match replies.get(next.fetch_add(1, Ordering::SeqCst)) {
                Some(r) => r.clone(),
                None => return,
            }
        };
        if send_frame(&mut s, &reply).is_err() {
            return;
        }
    }
}

#[multiproc::test]
fn client_survives_length_claims_in_replies() {
    let mut replies = Vec::new();
    for claim in claims() {
        replies.push([&[1u8, 0][..], &claim].concat()); // Err(Remote(a huge string))
        replies.push([&[0u8][..], &claim].concat()); // Ok(a huge Vec)
        replies.push([&[0u8, 1][..], &claim].concat()); // Ok([a huge string])
        replies.push([&[0u8, 2, 0][..], &claim].concat()); // Ok(["", a huge string])
    }
    let count = replies.len();
    let (addr, server) = fake_server(replies);
    let mgr = Manager::connect(addr, KEY).unwrap();
    let list = mgr.list::<String>().unwrap();
    for i in 0..count {
        let e = list.to_vec().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Codec | ErrorKind::Disconnected),
            "reply {i}: {e:?}"
        );
    }
    assert_eq!(server.join().unwrap(), count, "every bad reply was read");
}

#[multiproc::test]
fn client_survives_random_replies_over_tcp() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let n = frames();
    let replies: Vec<Vec<u8>> = (0..n).map(|_| rng.frame(48)).collect();
    let (addr, server) = fake_server(replies);
    let mgr = Manager::connect(addr, KEY).unwrap();
    let list = mgr.list::<String>().unwrap();
    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        // Whatever came back, the client returned: a value, or an error.
        ok += usize::from(list.to_vec().is_ok());
    }
    println!(
        "{n} random replies over TCP in {:?}, {ok} decoded",
        started.elapsed()
    );
    assert_eq!(server.join().unwrap(), n);
}
