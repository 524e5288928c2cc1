//! Python's `multiprocessing.connection`: a `Listener` that child processes reach with `Client`
//! (authkey handshake included), then `wait` over several workers' pipes and sentinels at once.
//!
//! ```python
//! from multiprocessing.connection import Listener, Client, wait
//! def client(address):
//!     with Client(address, authkey=b'secret password') as conn:
//!         conn.send(f'hello from {os.getpid()}'); print(conn.recv())
//! with Listener(authkey=b'secret password') as listener:
//!     ps = [Process(target=client, args=(listener.address,)) for _ in range(3)]
//!     for p in ps: p.start()
//!     for _ in ps:
//!         with listener.accept() as conn: print(conn.recv()); conn.send('welcome')
//! def worker(w, n):
//!     time.sleep(n / 10); w.send(n * n)
//! readers = []
//! for n in range(4):
//!     r, w = Pipe(duplex=False); p = Process(target=worker, args=(w, n)); p.start(); readers += [r, p.sentinel]
//! while readers:
//!     for obj in wait(readers): ...
//! ```

use multiproc::connection::{Address, Client, Listener, Waitable, wait};
use multiproc::{Connection, Pipe, worker};
use std::time::Duration;

const AUTHKEY: &[u8] = b"secret password, 16+ bytes";

/// A client process: connects with the key, says hello, prints the reply.
#[worker]
fn connection_client(address: Address) -> String {
    let conn = Client::connect::<String>(&address, Some(AUTHKEY)).expect("connect");
    conn.send(&format!("hello from pid {}", std::process::id()))
        .expect("send");
    conn.recv_timeout(Duration::from_secs(30)).expect("recv")
}

/// A worker that sleeps `n` tenths of a second, then sends `n * n` and exits.
#[worker]
fn connection_square(w: Connection<u32>, n: u32) {
    std::thread::sleep(Duration::from_millis(u64::from(n) * 100));
    w.send(&(n * n)).expect("send");
}

pub fn run() -> multiproc::Result<()> {
    // Listener / Client across processes, over a fresh abstract socket (a path or
    // `Address::tcp("127.0.0.1:0")` work the same; TCP cannot pass handles).
    let listener = Listener::bind(&Address::unique_local()?, Some(AUTHKEY))?;
    println!("  listening on {}", listener.address());
    let clients: Vec<_> = (0..3)
        .map(|_| connection_client::spawn(listener.address().clone()))
        .collect::<multiproc::Result<_>>()?;
    for _ in &clients {
        let conn = listener.accept_timeout::<String>(Duration::from_secs(30))?;
        println!("  accepted: {}", conn.recv()?);
        conn.send("welcome")?;
    }
    for c in clients {
        assert_eq!(c.join()?, "welcome");
    }

    // wait(): the pipes and the sentinels of four workers, whichever is ready first.
    let mut readers = Vec::new();
    let mut procs = Vec::new();
    for n in (0..4).rev() {
        let (r, w) = Pipe::<u32>::simplex()?;
        procs.push(connection_square::spawn(w, n)?);
        readers.push(r);
    }
    let mut results = Vec::new();
    let mut exited = vec![false; procs.len()];
    let mut open = vec![true; readers.len()];
    while open.iter().any(|o| *o) || exited.iter().any(|e| !e) {
        // Objects 0..4 are the pipes still open, then the sentinels of workers still running.
        let mut objects: Vec<&dyn Waitable> = Vec::new();
        let mut which = Vec::new();
        for (i, r) in readers.iter().enumerate().filter(|(i, _)| open[*i]) {
            objects.push(r);
            which.push((true, i));
        }
        for (i, p) in procs.iter().enumerate().filter(|(i, _)| !exited[*i]) {
            objects.push(p);
            which.push((false, i));
        }
        for k in wait(&objects, Some(Duration::from_secs(30)))? {
            match which[k] {
                (true, i) => match readers[i].recv() {
                    Ok(v) => {
                        println!("  pipe {i}: {v}");
                        results.push(v);
                    }
                    Err(e) if e.is_disconnected() => open[i] = false,
                    Err(e) => return Err(e),
                },
                (false, i) => {
                    println!("  worker {i} (pid {}) exited", procs[i].pid());
                    exited[i] = true;
                }
            }
        }
    }
    for p in procs {
        p.join()?;
    }
    results.sort_unstable();
    assert_eq!(results, vec![0, 1, 4, 9]);
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
