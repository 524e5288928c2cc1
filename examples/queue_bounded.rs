//! A bounded queue (`Queue(maxsize=2)`) with a slow consumer: the producer blocks whenever two items
//! wait, nothing is lost and the order holds.
//!
//! ```python
//! q = Queue(maxsize=2)
//! p = Process(target=producer, args=(q,)); p.start()   # puts 0..9 then None; put blocks while full
//! while (item := q.get()) is not None:
//!     time.sleep(0.01); print(item)                    # the slow consumer
//! p.join()
//! ```

use multiproc::{Queue, worker};
use std::time::{Duration, Instant};

/// Puts 0..10 and the sentinel; returns the longest a single put had to wait, in milliseconds.
#[worker]
fn bounded_producer(q: Queue<Option<u32>>) -> u64 {
    let mut longest = Duration::ZERO;
    for i in 0..10 {
        let t = Instant::now();
        q.put(Some(i)).expect("put");
        longest = longest.max(t.elapsed());
    }
    q.put(None).expect("put");
    longest.as_millis() as u64
}

pub fn run() -> multiproc::Result<()> {
    let q = Queue::<Option<u32>>::bounded(2)?; // Python: Queue(maxsize=2)
    let p = bounded_producer::spawn(q.clone())?;
    let mut got = Vec::new();
    while let Some(item) = q.get()? {
        std::thread::sleep(Duration::from_millis(10)); // the slow consumer
        assert!(q.len() <= 2, "never more than maxsize items queued");
        got.push(item);
    }
    let waited = p.join()?;
    println!("  received {got:?}; the producer waited up to {waited} ms on a full queue");
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
