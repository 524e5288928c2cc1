//! Python interop (feature `python`): the machine's own `python3` and its standard
//! `multiprocessing.connection` talk to `multiproc::connection::python` over TCP, Unix paths and
//! abstract names, with and without an authkey, in both directions. The installed Python (3.11 here)
//! speaks the HMAC-MD5 handshake; Rust to Rust covers the `{sha256}` one of Python 3.12+.
#![cfg(feature = "python")]

use multiproc::ErrorKind;
use multiproc::connection::{Address, python};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &[u8] = b"interop secret";
const LONG: Duration = Duration::from_secs(30);

/// Runs `script` with the machine's python3 (killed after 60 s), arguments after it.
fn python(script: &str, args: &[&str]) -> Child {
    Command::new("timeout")
        .arg("60")
        .arg("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/install-deps.sh installs it)")
}

/// Waits for the script; its stdout, or a panic with its stderr.
fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python3 failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Python client: sends each message, expects it back upper-cased, prints "ok".
const CLIENT: &str = r#"
import sys
from multiprocessing.connection import Client
family, where, key = sys.argv[1], sys.argv[2], sys.argv[3].encode() or None
address = (where.split(':')[0], int(where.split(':')[1])) if family == 'tcp' else where
if family == 'abstract':
    address = '\0' + where
with Client(address, authkey=key) as c:
    for msg in [b'hello', b'', b'x' * 300000, bytes(range(256))]:
        c.send_bytes(msg)
        assert c.recv_bytes() == msg.upper(), msg[:20]
print('ok')
"#;

/// Serves one connection: every message back upper-cased, until the client leaves.
fn serve_upper(l: &python::Listener) -> usize {
    let mut conn = l.accept_timeout(LONG).unwrap();
    let mut n = 0;
    loop {
        match conn.recv_bytes_timeout(LONG) {
            Ok(msg) => {
                conn.send_bytes(&msg.to_ascii_uppercase()).unwrap();
                n += 1;
            }
            Err(e) if e.is_disconnected() => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

fn python_args(address: &Address) -> (String, String) {
    match address {
        Address::Tcp(a) => ("tcp".into(), a.to_string()),
        Address::Path(p) => ("path".into(), p.display().to_string()),
        Address::Local(name) => ("abstract".into(), name.clone()),
    }
}

#[test]
fn a_python_client_reaches_a_rust_listener_on_every_family_with_and_without_a_key() {
    let path = std::env::temp_dir().join(format!("multiproc-pyinterop-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let addresses = [
        Address::tcp("127.0.0.1:0").unwrap(),
        Address::Path(path),
        Address::Local(format!("multiproc-pyinterop-{}", std::process::id())),
    ];
    for address in addresses {
        for key in [Some(KEY), None] {
            let l = python::Listener::bind(&address, key).unwrap();
            let (family, place) = python_args(l.address());
            let key_arg = String::from_utf8(key.unwrap_or_default().to_vec()).unwrap();
            let child = python(CLIENT, &[&family, &place, &key_arg]);
            assert_eq!(serve_upper(&l), 4, "{address}");
            assert_eq!(finish(child).trim(), "ok", "{address}");
        }
    }
}

#[test]
fn a_wrong_key_is_refused_on_both_sides() {
    let l = python::Listener::bind(&Address::tcp("127.0.0.1:0").unwrap(), Some(KEY)).unwrap();
    let (family, place) = python_args(l.address());
    let script = r#"
import sys
from multiprocessing.connection import Client, AuthenticationError
host, port = sys.argv[2].split(':')
try:
    Client((host, int(port)), authkey=b'not the key at all')
except AuthenticationError as e:
    print('refused:', e)
"#;
    let child = python(script, &[&family, &place]);
    let err = l.accept_timeout(LONG).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Authentication, "{err}");
    assert!(finish(child).starts_with("refused"));
}

/// A Python listener: accepts one client, answers one message upper-cased, then reads the
/// client's long-framed message and reports its length.
const LISTENER: &str = r#"
import sys
from multiprocessing.connection import Listener
with Listener(sys.argv[1], authkey=sys.argv[2].encode()) as l:
    print('listening', flush=True)
    with l.accept() as c:
        c.send_bytes(c.recv_bytes().upper())
        print('long', len(c.recv_bytes()), flush=True)
"#;

#[test]
fn a_rust_client_reaches_a_python_listener_and_long_lengths_are_read() {
    let path = std::env::temp_dir().join(format!("multiproc-pylistener-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut child = python(LISTENER, &[&path.display().to_string(), "interop secret"]);
    // Wait for "listening".
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        out.read_line(&mut line).unwrap();
    }
    assert_eq!(line.trim(), "listening");
    let mut c = python::Client::connect(&Address::Path(path.clone()), Some(KEY)).unwrap();
    c.send_bytes(b"from rust").unwrap();
    assert_eq!(c.recv_bytes_timeout(LONG).unwrap(), b"FROM RUST");
    // The 8-byte length form (Python's for messages over 2 GiB - 1), forced for a small message.
    c.long_lengths_from(0);
    c.send_bytes(&[7u8; 1000]).unwrap();
    drop(c);
    let out = finish(child);
    assert_eq!(out.trim(), "long 1000");
}

#[test]
fn a_wrong_key_against_a_python_listener_is_an_authentication_error() {
    let path = std::env::temp_dir().join(format!("multiproc-pylistener2-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let script = r#"
import sys
from multiprocessing.connection import Listener, AuthenticationError
with Listener(sys.argv[1], authkey=b'the python key') as l:
    print('listening', flush=True)
    try:
        l.accept()
    except AuthenticationError as e:
        print('refused:', e)
"#;
    let mut child = python(script, &[&path.display().to_string()]);
    let mut line = String::new();
    {
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(child.stdout.as_mut().unwrap());
        out.read_line(&mut line).unwrap();
    }
    let err =
        python::Client::connect(&Address::Path(path), Some(b"not the python key")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Authentication, "{err}");
    assert!(finish(child).contains("refused"));
}

/// Raw bytes a Python program could send: the -1 + 8-byte length form, then a short message.
#[test]
fn the_long_length_form_and_hostile_lengths_from_a_raw_peer() {
    let l = python::Listener::bind(&Address::tcp("127.0.0.1:0").unwrap(), None).unwrap();
    let (_, place) = python_args(l.address());
    let script = r#"
import socket, struct, sys
host, port = sys.argv[1].split(':')
s = socket.create_connection((host, int(port)))
s.sendall(struct.pack('!i', -1) + struct.pack('!Q', 5) + b'hello')
s.sendall(struct.pack('!i', 3) + b'abc')
# A claim of 2**62 bytes followed by nothing: refused, never allocated.
s.sendall(struct.pack('!i', -1) + struct.pack('!Q', 2**62))
s.recv(1)
"#;
    let child = python(script, &[&place]);
    let mut c = l.accept_timeout(LONG).unwrap();
    assert_eq!(c.recv_bytes_timeout(LONG).unwrap(), b"hello");
    assert_eq!(c.recv_bytes_timeout(LONG).unwrap(), b"abc");
    let err = c.recv_bytes_timeout(LONG).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::MessageTooLarge { .. }),
        "{err}"
    );
    drop(c);
    finish(child);
}

/// Rust to Rust: the `{sha256}` handshake of Python 3.12+ both ways, and a wrong key.
#[test]
fn rust_to_rust_speaks_the_sha256_handshake() {
    let l = python::Listener::bind(&Address::unique_local().unwrap(), Some(KEY)).unwrap();
    let address = l.address().clone();
    let t = std::thread::spawn(move || {
        let mut c = python::Client::connect(&address, Some(KEY)).unwrap();
        c.send_bytes(b"modern").unwrap();
        c.recv_bytes_timeout(LONG).unwrap()
    });
    let mut s = l.accept_timeout(LONG).unwrap();
    let got = s.recv_bytes_timeout(LONG).unwrap();
    s.send_bytes(&got.to_ascii_uppercase()).unwrap();
    assert_eq!(t.join().unwrap(), b"MODERN");

    let address = l.address().clone();
    let t = std::thread::spawn(move || python::Client::connect(&address, Some(b"another key")));
    assert_eq!(
        l.accept_timeout(LONG).unwrap_err().kind(),
        &ErrorKind::Authentication
    );
    assert_eq!(
        t.join().unwrap().unwrap_err().kind(),
        &ErrorKind::Authentication
    );
}

/// Python objects both ways (feature `pickle`): a Python client sends dicts, lists, tuples, sets,
/// big ints and bytes with `conn.send`; the Rust service reads them into typed values and answers
/// with a struct, which Python reads as a dict. A class instance is refused (nothing runs) and the
/// connection goes on.
#[cfg(feature = "pickle")]
mod pickle {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Job {
        id: u32,
        name: String,
        weights: Vec<f64>,
        tags: BTreeMap<String, i64>,
        parent: Option<u32>,
        kind: Kind,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Kind {
        Quick,
        Retry(u8),
    }

    const SCRIPT: &str = r#"
import sys
from fractions import Fraction
from multiprocessing.connection import Client
host, port = sys.argv[1].split(':')
with Client((host, int(port)), authkey=b'interop secret') as c:
    c.send({'id': 7, 'name': 'résumé', 'weights': [0.5, 1.5], 'tags': {'a': -1, 'b': 2**40},
            'parent': None, 'kind': 'Quick'})
    reply = c.recv()
    assert reply == {'id': 8, 'name': 'RÉSUMÉ', 'weights': [1.0, 3.0], 'tags': {'a': -1, 'b': 2**40},
                     'parent': 7, 'kind': {'Retry': 3}}, reply
    shared = [1, 2]
    c.send((None, True, 12345678901234567890, b'\x00\xff', [shared, shared], {3, 1, 2}))
    c.send(Fraction(1, 3))
    c.send('still here')
    assert c.recv() == 'bye'
print('ok')
"#;

    #[test]
    fn python_objects_cross_as_plain_data_and_classes_are_refused() {
        let l = python::Listener::bind(&Address::tcp("127.0.0.1:0").unwrap(), Some(KEY)).unwrap();
        let (_, place) = python_args(l.address());
        let child = python(SCRIPT, &[&place]);
        let mut c = l.accept_timeout(LONG).unwrap();

        let job: Job = c.recv_timeout(LONG).unwrap();
        assert_eq!(job.tags["b"], 1 << 40);
        let answer = Job {
            id: job.id + 1,
            name: job.name.to_uppercase(),
            weights: job.weights.iter().map(|w| w * 2.0).collect(),
            parent: Some(job.id),
            kind: Kind::Retry(3),
            tags: job.tags,
        };
        c.send(&answer).unwrap();

        type Mixed = ((), bool, u64, multiproc::Bytes, Vec<Vec<u8>>, Vec<u8>);
        let (unit, yes, big, bytes, shared, mut set): Mixed = c.recv_timeout(LONG).unwrap();
        set.sort_unstable();
        assert_eq!((unit, yes, big), ((), true, 12_345_678_901_234_567_890));
        assert_eq!(bytes.0, [0, 255]);
        assert_eq!(shared, [vec![1, 2], vec![1, 2]]);
        assert_eq!(set, [1, 2, 3]);

        let err = c.recv_timeout::<String>(LONG).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Codec, "{err}");
        assert!(err.to_string().contains("not plain data"), "{err}");
        assert_eq!(c.recv_timeout::<String>(LONG).unwrap(), "still here");
        c.send("bye").unwrap();
        assert_eq!(finish(child).trim(), "ok");
    }
}
