//! Faults and bad input against a manager's server: wrong authkey, garbage, a frame header claiming
//! 4 GiB, a silent client, a client killed while the server serves it, a lock holder killed, the server
//! itself killed. The server must stay up for everyone else, keep its memory bounded, and proxies of a
//! dead server must fail with `Disconnected` instead of hanging.

use multiproc::manager::{EventProxy, LockProxy, QueueProxy};
use multiproc::{ErrorKind, Manager, worker};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const KEY: &[u8] = b"fault-test-authkey-2c72ad0";

fn tcp_addr(mgr: &Manager) -> std::net::SocketAddr {
    match mgr.address() {
        multiproc::manager::Address::Tcp(a) => *a,
        other => panic!("expected a TCP manager, got {other}"),
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reads until the server closes the connection (with a deadline so that a bug cannot hang the test).
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("server did not close the connection: {e}"),
        }
    }
}

#[multiproc::test]
fn wrong_key_garbage_and_huge_header_leave_the_server_serving() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = tcp_addr(&server);
    let list = server.list::<u32>().unwrap();
    let before = rss_kib(server.pid().unwrap());

    let wrong = Manager::connect(addr, b"not-the-key-the-server-has").unwrap_err();
    assert_eq!(wrong.kind(), &ErrorKind::Authentication, "{wrong}");
    assert!(
        wrong.to_string().contains("rejected the authkey"),
        "{wrong}"
    );

    // Garbage instead of an answer to the challenge.
    let mut g = TcpStream::connect(addr).unwrap();
    g.write_all(&[0x5a; 3000]).unwrap();
    read_until_closed(&mut g);

    // A frame header claiming 4 GiB: refused before anything is allocated.
    let mut h = TcpStream::connect(addr).unwrap();
    h.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).unwrap();
    read_until_closed(&mut h);

    // A client that writes half a frame and vanishes.
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(half);

    list.append(&7).unwrap();
    let other = Manager::connect(addr, KEY).unwrap();
    let again: multiproc::manager::ListProxy<u32> = {
        server.publish("l", &list).unwrap();
        other.lookup("l").unwrap()
    };
    assert_eq!(again.to_vec().unwrap(), [7]);
    let after = rss_kib(server.pid().unwrap());
    assert!(
        after < before + 64 * 1024,
        "server RSS grew from {before} KiB to {after} KiB"
    );
}

#[multiproc::test]
fn silent_client_does_not_block_others() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = tcp_addr(&server);
    let silent: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let client = Manager::connect(addr, KEY).unwrap();
    let d = client.dict::<u32, u32>().unwrap();
    for i in 0..100 {
        d.insert(&i, &i).unwrap();
    }
    assert_eq!(d.len().unwrap(), 100);
    drop(silent);
}

/// The server's soft and hard limits on open descriptors.
fn nofile_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut f = line.split_whitespace().skip(3);
    (f.next().unwrap().to_string(), f.next().unwrap().to_string())
}

/// Serves a manager from a process whose soft descriptor limit is 1024 (a common default) and
/// returns the server's limits.
#[worker]
fn low_limit_server() -> (String, String) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a live local rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max.min(1024);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    nofile_limits(server.pid().unwrap())
}

#[multiproc::test]
fn idle_connections_cannot_exhaust_the_server() {
    let server = Manager::serve("127.0.0.1:0", KEY).unwrap();
    let addr = tcp_addr(&server);
    let (soft, hard) = low_limit_server::spawn().unwrap().join().unwrap();
    assert_eq!(soft, hard, "the server keeps the default descriptor limit");
    let idle: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Each connection gets the challenge, then is closed: by its deadline, or sooner when newer
    // connections from the same address evict it. None is left waiting for nothing.
    for mut s in &idle {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the server neither challenged nor closed a connection: {e}"),
        }
    }
    // With all of them still open on this side, a real client gets in at once.
    let started = std::time::Instant::now();
    let client = Manager::connect(addr, KEY).unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(client.value(5u8).unwrap().get().unwrap(), 5);
}

#[worker]
fn wait_on_queue(q: QueueProxy<u32>, started: EventProxy) {
    started.set().expect("set");
    let _ = q.get();
}

#[multiproc::test]
fn client_killed_while_waiting_loses_nothing() {
    let mgr = Manager::start().unwrap();
    let q = mgr.queue::<u32>().unwrap();
    let started = mgr.event().unwrap();
    let mut p = wait_on_queue::spawn(q.clone(), started.clone()).unwrap();
    assert!(started.wait_timeout(Duration::from_secs(20)).unwrap());
    // The worker is now (or is about to be) blocked in q.get() on the server.
    p.kill().unwrap();
    let err = p.join().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WorkerDied { .. }), "{err}");
    q.put(&42).unwrap();
    assert_eq!(q.get_timeout(Duration::from_secs(20)).unwrap(), 42);
}

#[worker]
fn hold_lock(lock: LockProxy, held: EventProxy) {
    let _guard = lock.acquire().expect("acquire");
    held.set().expect("set");
    loop {
        std::thread::park();
    }
}

#[multiproc::test]
fn lock_of_a_killed_holder_is_released() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.lock().unwrap();
    let held = mgr.event().unwrap();
    let mut p = hold_lock::spawn(lock.clone(), held.clone()).unwrap();
    assert!(held.wait_timeout(Duration::from_secs(20)).unwrap());
    assert!(lock.try_acquire().unwrap().is_none());
    p.kill().unwrap();
    let _ = p.join();
    let guard = lock.acquire_timeout(Duration::from_secs(20)).unwrap();
    guard.release().unwrap();
}

#[multiproc::test]
fn killed_server_gives_disconnected() {
    let mgr = Manager::start().unwrap();
    let list = mgr.list::<u32>().unwrap();
    let q = mgr.queue::<u32>().unwrap();
    list.append(&1).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let q2 = q.clone();
    let waiter = std::thread::spawn(move || {
        q2.len().unwrap(); // connected before the kill
        tx.send(()).unwrap();
        q2.get()
    });
    rx.recv().unwrap();
    let pid = mgr.pid().unwrap();
    // SAFETY: kill(2) on the server process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let blocked = waiter.join().unwrap().unwrap_err();
    assert!(blocked.is_disconnected(), "{blocked}");
    assert!(list.len().unwrap_err().is_disconnected());
    let after = list.append(&2).unwrap_err();
    assert!(after.is_disconnected(), "{after}");
    let fresh = std::thread::spawn(move || list.len()).join().unwrap();
    assert!(fresh.unwrap_err().is_disconnected());
    assert!(mgr.shutdown().is_err());
}

#[worker]
fn own_manager(report: multiproc::manager::ValueProxy<u32>, ready: EventProxy) {
    let mine = Manager::start().expect("start");
    report.set(&mine.pid().expect("pid")).expect("set");
    ready.set().expect("set");
    loop {
        std::thread::park();
    }
}

/// True once `pid` has exited (gone, or a zombie waiting for its new parent to reap it).
/// The process state letter from /proc/<pid>/stat, or None once it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
}

fn exited(pid: u32) -> bool {
    state(pid).is_none_or(|s| s == 'Z' || s == 'X')
}

#[multiproc::test]
fn server_dies_with_the_process_that_started_it() {
    let mgr = Manager::start().unwrap();
    let report = mgr.value(0u32).unwrap();
    let ready = mgr.event().unwrap();
    let mut p = own_manager::spawn(report.clone(), ready.clone()).unwrap();
    assert!(ready.wait_timeout(Duration::from_secs(20)).unwrap());
    let server = report.get().unwrap();
    assert!(!exited(server));
    p.kill().unwrap();
    let _ = p.join();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !exited(server) {
        assert!(
            std::time::Instant::now() < deadline,
            "manager server {server} outlived its parent"
        );
        std::thread::yield_now();
    }
}

#[multiproc::test]
fn shutdown_of_a_server_that_does_not_answer_kills_it() {
    // Relies on spawn semantics (see the README's start-method section): set it explicitly.
    multiproc::set_start_method(multiproc::StartMethod::Spawn);
    for tcp in [false, true] {
        let mgr = if tcp {
            Manager::serve("127.0.0.1:0", KEY).unwrap()
        } else {
            Manager::start().unwrap()
        };
        let list = mgr.list::<u32>().unwrap();
        list.append(&1).unwrap();
        let pid = mgr.pid().unwrap();
        // SAFETY: kill(2) on the server process this test started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        // kill(2) returns before the target stops: wait until it really has, or the server may still
        // answer the shutdown below.
        let end = std::time::Instant::now() + Duration::from_secs(20);
        while state(pid) != Some('T') && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(state(pid), Some('T'), "the server {pid} did not stop");
        let err = mgr.shutdown().unwrap_err();
        assert!(err.to_string().contains("was killed"), "{err}");
        assert!(exited(pid), "the stopped server {pid} is still there");
        assert!(list.len().unwrap_err().is_disconnected());
    }
}

#[multiproc::test]
fn a_reply_over_the_message_limit_is_an_error_and_keeps_the_connection() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.lock().unwrap();
    let list = mgr.list::<String>().unwrap();
    let guard = lock.acquire().unwrap();
    // Two items of 129 MiB each: every request fits in a message (256 MiB), the snapshot does not.
    let big = "x".repeat(129 << 20);
    list.append(&big).unwrap();
    list.append(&big).unwrap();
    let err = list.to_vec().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("256 MiB"), "{err}");
    // Same connection: the lock this thread holds is still its own.
    assert_eq!(list.len().unwrap(), 2);
    assert!(lock.locked().unwrap());
    guard.release().unwrap();
}

/// A manager's server ignores SIGINT, as Python's does: a Ctrl-C at the terminal reaches the whole
/// process group, and the program that started the server still has it to use and shut down.
#[multiproc::test]
fn the_server_ignores_sigint() {
    let mgr = Manager::start().unwrap();
    let list = mgr.list::<u32>().unwrap();
    list.append(&1).unwrap();
    // SAFETY (test): signals the server process this test started.
    assert_eq!(
        unsafe { libc::kill(mgr.pid().unwrap() as i32, libc::SIGINT) },
        0
    );
    std::thread::sleep(Duration::from_millis(200));
    list.append(&2).unwrap();
    assert_eq!(list.len().unwrap(), 2);
    mgr.shutdown().unwrap();
}
