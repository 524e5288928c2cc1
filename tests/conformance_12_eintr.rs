//! Python conformance (issue 12): CPython's `TestIgnoreEINTR` and `_TestPollEintr`. A process with a
//! signal handler installed without `SA_RESTART` sees its blocking system calls fail with `EINTR`
//! whenever the signal arrives; multiproc's blocking calls (receive, send, accept, join) must retry
//! instead of failing. Each test installs its handler in a child, so the test harness keeps its own
//! signal dispositions.

use multiproc::connection::{Address, Client, Listener};
use multiproc::{Connection, Pipe, worker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Python's `CONN_MAX_SIZE` is 16 MiB + 1 on Linux: large enough that the send spans many writes.
const BIG: usize = (16 << 20) + 1;
const LONG: Duration = Duration::from_secs(30);

static GOT_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn record(_: libc::c_int) {
    GOT_SIGNAL.store(true, Ordering::SeqCst);
}

/// Installs `record` for SIGUSR1 without `SA_RESTART`, so that a blocking call the signal interrupts
/// returns `EINTR` (Python's `signal.signal` does the same).
fn install_handler() {
    // SAFETY (test): a zeroed sigaction with a valid handler and an empty mask; `record` only stores
    // to an atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = record as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_flags = 0;
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
}

fn sigusr1(pid: u32) {
    // SAFETY (test): signals a child this test started, which handles SIGUSR1.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGUSR1) }, 0);
}

/// `_test_ignore`: receives and echoes a number, then sends a large message, with SIGUSR1 arriving
/// while it waits in `recv` and while it writes.
#[worker]
fn ignore_child(conn: Connection<u64>) -> bool {
    install_handler();
    conn.send(&0).unwrap(); // ready
    let x = conn.recv().unwrap();
    conn.send(&x).unwrap();
    conn.send_bytes(&vec![b'x'; BIG]).unwrap();
    GOT_SIGNAL.load(Ordering::SeqCst)
}

/// `TestIgnoreEINTR.test_ignore`: a signal during a child's `recv` and during its large `send_bytes`
/// interrupts neither.
#[multiproc::test]
fn ignore_eintr_test_ignore() {
    let (conn, child_conn) = Pipe::<u64>::new().unwrap();
    let p = ignore_child::spawn(child_conn).unwrap();
    assert_eq!(conn.recv_timeout(LONG).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(100));
    sigusr1(p.pid());
    std::thread::sleep(Duration::from_millis(100));
    conn.send(&1234).unwrap();
    assert_eq!(conn.recv_timeout(LONG).unwrap(), 1234);
    std::thread::sleep(Duration::from_millis(100));
    sigusr1(p.pid());
    let big = conn.recv_bytes_timeout(LONG).unwrap();
    assert_eq!(big.len(), BIG);
    assert!(big.iter().all(|&b| b == b'x'));
    assert!(p.join().unwrap(), "the child's handler never ran");
}

/// `_test_ignore_listener`: binds a listener, sends its address, and accepts a client with SIGUSR1
/// arriving while it waits in `accept`.
#[worker]
fn ignore_listener_child(conn: Connection<Address>) -> bool {
    install_handler();
    let l = Listener::bind(&Address::unique_local().unwrap(), None).unwrap();
    conn.send(l.address()).unwrap();
    let a = l.accept_timeout::<String>(LONG).unwrap();
    a.send("welcome").unwrap();
    GOT_SIGNAL.load(Ordering::SeqCst)
}

/// `TestIgnoreEINTR.test_ignore_listener`: a signal during a child's `accept` does not interrupt it.
#[multiproc::test]
fn ignore_eintr_test_ignore_listener() {
    let (conn, child_conn) = Pipe::<Address>::new().unwrap();
    let p = ignore_listener_child::spawn(child_conn).unwrap();
    let address = conn.recv_timeout(LONG).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    sigusr1(p.pid());
    std::thread::sleep(Duration::from_millis(100));
    let client = Client::connect::<String>(&address, None).unwrap();
    assert_eq!(client.recv_timeout(LONG).unwrap(), "welcome");
    assert!(p.join().unwrap(), "the child's handler never ran");
}

/// `_killer`: signals `pid` after a moment.
#[worker]
fn killer(pid: u32) {
    std::thread::sleep(Duration::from_millis(100));
    sigusr1(pid);
}

#[worker]
fn sleeper(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// `test_poll_eintr` in a child: with a handler installed, starts a killer that signals this process
/// and joins a sleeper meanwhile; the join is not interrupted. Returns (signal seen, sleeper result).
#[worker]
fn poll_eintr_child() -> (bool, bool) {
    install_handler();
    let me = std::process::id();
    let k = killer::spawn(me).unwrap();
    let joined = sleeper::spawn(1000).unwrap().join();
    k.join().unwrap();
    (GOT_SIGNAL.load(Ordering::SeqCst), joined.is_ok())
}

/// `_TestPollEintr.test_poll_eintr`: a signal arriving while a process waits in `join` (a poll on
/// the child's pidfd) is handled, and the join still returns the child's result.
#[multiproc::test]
fn poll_eintr_test_poll_eintr() {
    assert_eq!(
        poll_eintr_child::spawn().unwrap().join().unwrap(),
        (true, true)
    );
}
