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

/// Reports what the child knows of itself and its parent.
#[worker]
fn who_am_i() -> (String, u32) {
    let me = multiproc::current_process();
    let parent = multiproc::parent_process().map_or(0, |p| p.pid());
    (me.name().to_string(), parent)
}

#[worker]
fn nap(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
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

    // current_process(), parent_process(), active_children(), sentinel(), exitcode, interrupt().
    let me = multiproc::current_process();
    println!(
        "  this is {} (pid {}), parent: {:?}",
        me.name(),
        me.pid(),
        multiproc::parent_process().map(|p| p.pid())
    );
    let p = Process::builder().name("whoami").spawn(who_am_i, ())?;
    println!("  active children: {:?}", multiproc::active_children());
    let (name, parent) = p.join()?;
    println!("  the child calls itself {name}; its parent is pid {parent}");
    let mut sleeper = Process::builder().spawn(nap, (60_000,))?;
    use std::os::fd::AsRawFd;
    println!(
        "  sentinel of {} is fd {}",
        sleeper.name(),
        sleeper.sentinel().as_raw_fd()
    );
    sleeper.interrupt()?; // Python 3.14: p.interrupt() sends SIGINT
    let _ = sleeper.join_timeout(std::time::Duration::from_secs(20));
    println!("  after interrupt(): exitcode {:?}", sleeper.exitcode()); // Some(-2), as in Python

    // Start methods: a context leaves the process-wide default (the fork server) alone.
    println!(
        "  start methods: {:?}, default {:?}",
        multiproc::get_all_start_methods(),
        multiproc::get_start_method()
    );
    let ctx = multiproc::get_context(multiproc::StartMethod::Spawn);
    println!(
        "  spawned through a context: {:?}",
        ctx.process_builder()
            .spawn(greet, ("ctx".into(), 3))?
            .join()?
            .1
    );

    // A non-daemon child outlives its handle; #[multiproc::main] joins it when main returns.
    drop(Process::builder().daemon(false).spawn(nap, (100,))?);
    multiproc::join_children_at_exit();
    println!("  main process ended");
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
