//! Unauthenticated connections cannot deny service: a flood of idle connections and slow-loris
//! connections (one byte a second) from one address leaves a real client served within a second,
//! and the server's descriptors bounded.

use multiproc::Manager;
use multiproc::manager::DictProxy;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEY: &[u8] = b"dos-test-authkey-9a41f07c";

/// Descriptors open in process `pid`.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[multiproc::test]
fn a_flood_of_idle_and_slow_connections_does_not_lock_clients_out() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = server.socket_addr().unwrap();
    let pid = server.pid().unwrap();
    let results = server.dict::<u32, u32>().unwrap();
    results.insert(&1, &2).unwrap();
    server.publish("results", &results).unwrap();
    let before = fds(pid);

    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Slow loris: a plausible answer header, one byte a second, on 20 connections.
    let stop = Arc::new(AtomicBool::new(false));
    let slow = {
        let stop = stop.clone();
        let mut conns: Vec<TcpStream> =
            (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::spawn(move || {
            let header = [64u8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                for c in &mut conns {
                    // Evicted or timed out: the server closed it; keep trying the others.
                    let _ = c.write_all(&header[i % header.len()..][..1]);
                }
                i += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    // Let the flood land (the slow connections send their first bytes).
    std::thread::sleep(Duration::from_millis(300));
    let during = fds(pid);

    let started = Instant::now();
    let client = Manager::connect(addr, KEY).unwrap();
    let got: DictProxy<u32, u32> = client.lookup("results").unwrap();
    assert_eq!(got.get(&1).unwrap(), Some(2));
    let served = started.elapsed();

    // Past the handshake deadline every unauthenticated connection is closed.
    std::thread::sleep(Duration::from_millis(2500));
    let after = fds(pid);
    stop.store(true, Ordering::Relaxed);
    slow.join().unwrap();
    drop(idle);
    eprintln!(
        "legit client served in {} ms; server descriptors: {before} before, {during} during the \
         flood (320 connections), {after} after the handshake deadline",
        served.as_millis()
    );
    assert!(
        served < Duration::from_secs(1),
        "the client waited {served:?}"
    );
    // One pending handshake per place the gate gives an address (16), plus the client's own.
    assert!(
        during <= before + 24,
        "the server holds {during} descriptors under the flood, {before} before"
    );
    // The client's two connections (its handle's and its proxy's), two descriptors each.
    assert!(
        after <= before + 4,
        "the server holds {after} descriptors after the deadline, {before} before"
    );
}

#[multiproc::test]
fn a_local_manager_serves_a_burst_of_workers_connecting_at_once() {
    // Local sockets are not evicted: a burst beyond the gate's places waits in the backlog.
    let mgr = Manager::start().unwrap();
    let list = mgr.list::<u32>().unwrap();
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let list = list.clone();
            std::thread::spawn(move || list.append(&i).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(list.len().unwrap(), 64);
}
