//! `JoinableQueue`: several workers drain tasks and mark each done; the parent `join`s until all are
//! done.
//!
//! ```python
//! def worker(q, results):
//!     while True:
//!         n = q.get(); time.sleep(0.002); results.put(n * n); q.task_done()
//! q = JoinableQueue(); results = Queue()
//! for _ in range(3): Process(target=worker, args=(q, results), daemon=True).start()
//! for n in range(20): q.put(n)
//! q.join()                                   # every task is done
//! print(sum(results.get() for _ in range(20)))
//! ```

use multiproc::{JoinableQueue, Queue, worker};

/// Squares tasks until the queue's other handles are gone; returns how many it handled.
#[worker]
fn square_tasks(q: JoinableQueue<Option<u64>>, results: Queue<u64>) -> usize {
    let mut handled = 0;
    while let Ok(Some(n)) = q.get() {
        std::thread::sleep(std::time::Duration::from_millis(2)); // the work
        results.put(n * n).expect("put result");
        q.task_done().expect("task_done");
        handled += 1;
    }
    handled
}

pub fn run() -> multiproc::Result<()> {
    let q = JoinableQueue::<Option<u64>>::new()?; // Python: JoinableQueue()
    let results = Queue::<u64>::new()?;
    let workers = (0..3)
        .map(|_| square_tasks::spawn(q.clone(), results.clone()))
        .collect::<multiproc::Result<Vec<_>>>()?;
    for n in 0..20 {
        q.put(Some(n))?;
    }
    q.join()?; // returns once every task is marked done
    let total: u64 = (0..20)
        .map(|_| results.get())
        .sum::<multiproc::Result<u64>>()?;
    println!("  all 20 tasks done; sum of squares = {total}");
    assert_eq!(total, (0..20u64).map(|n| n * n).sum::<u64>());
    for _ in &workers {
        q.put(None)?; // one stop signal per worker
    }
    let handled: Vec<usize> = workers
        .into_iter()
        .map(|w| w.join())
        .collect::<Result<_, _>>()?;
    println!("  tasks per worker: {handled:?}");
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
