//! Python's `Queue` seed: a producer process puts messages and then the `None` sentinel; the consumer
//! process prints each message until the sentinel.
//!
//! ```python
//! def producer(q):
//!     for i in range(5):
//!         q.put(f'Message {i}'); time.sleep(0.1)
//! def consumer(q):
//!     while True:
//!         item = q.get()
//!         if item is None: break
//!         print(f'Consumed: {item}')
//! q = Queue()
//! p1 = Process(target=producer, args=(q,)); p2 = Process(target=consumer, args=(q,))
//! p1.start(); p2.start(); p1.join(); q.put(None); p2.join()
//! ```

use multiproc::{Queue, worker};
use std::time::Duration;

/// Puts five messages, a little apart, then the sentinel.
#[worker]
fn queue_producer(q: Queue<Option<String>>) {
    for i in 0..5 {
        q.put(Some(format!("message {i}"))).expect("put");
        std::thread::sleep(Duration::from_millis(20));
    }
    q.put(None).expect("put"); // the termination signal
}

/// Prints every message until the sentinel; returns how many it saw.
#[worker]
fn queue_consumer(q: Queue<Option<String>>) -> usize {
    let mut seen = 0;
    while let Some(item) = q.get().expect("get") {
        println!("  consumed: {item}");
        seen += 1;
    }
    seen
}

pub fn run() -> multiproc::Result<()> {
    let q = Queue::<Option<String>>::new()?; // Python: q = Queue()
    let p1 = queue_producer::spawn(q.clone())?; // each process gets its own handle on the queue
    let p2 = queue_consumer::spawn(q.clone())?;
    p1.join()?; // wait for the producer to finish
    let seen = p2.join()?;
    println!("  the consumer saw {seen} messages");
    assert_eq!(seen, 5);
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
