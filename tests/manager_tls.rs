//! Remote managers over TLS (the `tls` feature): a certificate made at test time, pinned by the
//! clients; workers' proxies pin it too; the bytes on the wire hold neither the values nor the
//! handshake in clear; a wrong certificate, a wrong key and a plain client are refused.
#![cfg(feature = "tls")]

use multiproc::manager::{DictProxy, QueueProxy};
use multiproc::{ErrorKind, Manager, worker};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const KEY: &[u8] = b"tls-test-authkey-81d0c4e2a9";

/// A self-signed certificate and its PKCS#8 key, both DER.
fn identity() -> (Vec<u8>, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["multiproc-manager".to_string()]).unwrap();
    (ck.cert.der().to_vec(), ck.key_pair.serialize_der())
}

#[worker]
fn tls_client(addr: String, key: Vec<u8>, cert: Vec<u8>, n: u32) {
    let mgr = Manager::connect_tls(addr.as_str(), &key, &cert).expect("connect");
    let jobs: QueueProxy<u32> = mgr.lookup("jobs").expect("jobs");
    let results: DictProxy<u32, u32> = mgr.lookup("results").expect("results");
    for _ in 0..n {
        let j = jobs.get().expect("get");
        results.insert(&j, &(j * j)).expect("insert");
    }
}

#[worker]
fn use_proxy(results: DictProxy<u32, u32>) -> usize {
    results
        .insert(&100, &1)
        .expect("a TLS manager's proxy works in a worker");
    results.len().expect("len")
}

#[multiproc::test]
fn clients_and_proxies_in_other_processes_work_over_tls() {
    let (cert, key) = identity();
    let server = Manager::builder()
        .tls(std::slice::from_ref(&cert), &key)
        .serve("127.0.0.1:0", KEY)
        .unwrap();
    let addr = server.socket_addr().unwrap().to_string();
    let jobs = server.queue::<u32>().unwrap();
    let results = server.dict::<u32, u32>().unwrap();
    server.publish("jobs", &jobs).unwrap();
    server.publish("results", &results).unwrap();
    for j in 0..10 {
        jobs.put(&j).unwrap();
    }
    let a = tls_client::spawn(addr.clone(), KEY.to_vec(), cert.clone(), 5).unwrap();
    let b = tls_client::spawn(addr.clone(), KEY.to_vec(), cert.clone(), 5).unwrap();
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(
        use_proxy::spawn(results.clone()).unwrap().join().unwrap(),
        11
    );
    let mut got = results.items().unwrap();
    got.sort();
    let mut want: Vec<(u32, u32)> = (0..10).map(|j| (j, j * j)).collect();
    want.push((100, 1));
    assert_eq!(got, want);
}

#[multiproc::test]
fn a_wrong_certificate_a_wrong_key_and_a_plain_client_are_refused() {
    let (cert, key) = identity();
    let (other_cert, _) = identity();
    let server = Manager::builder()
        .tls(std::slice::from_ref(&cert), &key)
        .serve("127.0.0.1:0", KEY)
        .unwrap();
    let addr = server.socket_addr().unwrap();
    let e = Manager::connect_tls(addr, KEY, &other_cert).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Authentication, "{e:?}");
    let e = Manager::connect_tls(addr, b"not-the-key-the-server-has", &cert).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Authentication, "{e:?}");
    assert!(Manager::connect(addr, KEY).is_err());
    // A bad key pair is refused before the server starts.
    let e = Manager::builder()
        .tls(std::slice::from_ref(&cert), b"not a key")
        .serve("127.0.0.1:0", KEY)
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e:?}");
    let client = Manager::connect_tls(addr, KEY, &cert).unwrap();
    assert_eq!(client.value(3u8).unwrap().get().unwrap(), 3);
}

/// Forwards every connection to `to`, recording the bytes that pass both ways.
fn relay(to: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let Ok(s) = TcpStream::connect(to) else {
                return;
            };
            for (mut from, mut into) in [(c.try_clone().unwrap(), s.try_clone().unwrap()), (s, c)] {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    (at, seen)
}

const SECRET: &str = "a-value-nobody-on-the-path-may-read";

fn store_through_relay(tls: Option<&[u8]>, to: std::net::SocketAddr) -> Vec<u8> {
    let (at, seen) = relay(to);
    let client = match tls {
        Some(cert) => Manager::connect_tls(at, KEY, cert).unwrap(),
        None => Manager::connect(at, KEY).unwrap(),
    };
    let d: DictProxy<String, String> = client.lookup("d").unwrap();
    d.insert("k", SECRET).unwrap();
    assert_eq!(d.get("k").unwrap().as_deref(), Some(SECRET));
    drop((d, client));
    seen.lock().unwrap().clone()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[multiproc::test]
fn tls_hides_the_values_and_the_handshake_from_the_path() {
    let plain = Manager::serve("127.0.0.1:0", KEY).unwrap();
    plain
        .publish("d", &plain.dict::<String, String>().unwrap())
        .unwrap();
    let seen = store_through_relay(None, plain.socket_addr().unwrap());
    assert!(
        contains(&seen, SECRET.as_bytes()),
        "the plain wire carries values in clear"
    );
    assert!(contains(&seen, b"#CHALLENGE#"));

    let (cert, key) = identity();
    let server = Manager::builder()
        .tls(std::slice::from_ref(&cert), &key)
        .serve("127.0.0.1:0", KEY)
        .unwrap();
    server
        .publish("d", &server.dict::<String, String>().unwrap())
        .unwrap();
    let seen = store_through_relay(Some(&cert), server.socket_addr().unwrap());
    assert!(seen.len() > 1000, "{} bytes seen", seen.len());
    assert!(
        !contains(&seen, SECRET.as_bytes()),
        "a value crossed the TLS wire in clear"
    );
    assert!(!contains(&seen, b"#CHALLENGE#"));
    assert!(!contains(&seen, b"#WELCOME#"));
}
