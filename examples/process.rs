//! Python's `Process` seed: start a few processes running a worker with arguments, print their pids and
//! results, join them.
//!
//! ```python
//! def worker(name):
//!     print(f'Child process {name} running, PID: {os.getpid()}')
//! p = Process(target=worker, args=('worker1',)); p.start(); p.join()
//! ```

use multiproc::{Process, worker};

/// Runs in the child: says hello and returns a value computed there.
#[worker]
fn greet(name: String, n: u64) -> (u32, u64) {
    println!("  child process {name} running, pid {}", std::process::id());
    (std::process::id(), (1..=n).sum())
}

pub fn run() -> multiproc::Result<()> {
    let mut procs = Vec::new();
    for i in 1..=3u64 {
        // Python: Process(target=greet, args=(f'worker{i}', i * 1000)).start()
        let p = Process::builder()
            .name(format!("worker{i}"))
            .spawn(greet, (format!("worker{i}"), i * 1000))?;
        println!("  started {} with pid {}", p.name(), p.pid());
        procs.push(p);
    }
    for p in procs {
        let name = p.name().to_string();
        let (pid, sum) = p.join()?; // Python: p.join() (and the return value Python cannot give you)
        println!("  joined {name}: child pid {pid} computed sum = {sum}");
    }
    // The generated helper: greet::spawn(..) is Process(target=greet, args=(..)).start()
    let p = greet::spawn("helper".into(), 10)?;
    println!("  greet::spawn -> {:?}", p.join()?.1);
    println!("  main process ended");
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
