//! The tour: every seed example of the project in one run, each headed by its Python equivalent.
//!
//! `cargo run --release --example tour`

#[allow(dead_code)]
#[path = "process.rs"]
mod process;

#[allow(dead_code)]
#[path = "pipe.rs"]
mod pipe;

#[allow(dead_code)]
#[path = "connection.rs"]
mod connection;

#[allow(dead_code)]
#[path = "queue.rs"]
mod queue;

#[allow(dead_code)]
#[path = "queue_bounded.rs"]
mod queue_bounded;

#[allow(dead_code)]
#[path = "joinable_queue.rs"]
mod joinable_queue;

#[allow(dead_code)]
#[path = "manager.rs"]
mod manager;

#[allow(dead_code)]
#[path = "manager_custom.rs"]
mod manager_custom;

#[allow(dead_code)]
#[path = "manager_remote.rs"]
mod manager_remote;

#[allow(dead_code)]
#[path = "pool.rs"]
mod pool;

#[allow(dead_code)]
#[path = "pool_cpu.rs"]
mod pool_cpu;

#[allow(dead_code)]
#[path = "shared_value.rs"]
mod shared_value;

#[allow(dead_code)]
#[path = "shared_array.rs"]
mod shared_array;

#[allow(dead_code)]
#[path = "shared_struct.rs"]
mod shared_struct;

#[allow(dead_code)]
#[path = "shared_memory_manager.rs"]
mod shared_memory_manager;

type Example = (
    &'static str,
    &'static str,
    &'static str,
    fn() -> multiproc::Result<()>,
);

const EXAMPLES: &[Example] = &[
    (
        "process",
        "p = Process(target=worker, args=('worker1',)); p.start(); p.join()",
        "start processes running a #[worker] with arguments; join() returns each one's value",
        process::run,
    ),
    (
        "pipe",
        "parent_conn, child_conn = Pipe(); Process(target=worker, args=(child_conn,)).start()",
        "parent and child exchange typed messages both ways; the pipe end travels as a file descriptor",
        pipe::run,
    ),
    (
        "connection",
        "listener = Listener(authkey=key); Client(listener.address, authkey=key); wait(readers + sentinels)",
        "three processes reach a Listener with Client through the authkey handshake; wait() over four workers' pipes and sentinels",
        connection::run,
    ),
    (
        "queue",
        "q = Queue(); Process(target=producer, args=(q,)).start(); Process(target=consumer, args=(q,)).start()",
        "a producer process puts messages then None; a consumer process prints them until that sentinel",
        queue::run,
    ),
    (
        "queue_bounded",
        "q = Queue(maxsize=2)  # put blocks while two items wait",
        "a bounded queue with a slow consumer: the producer blocks, nothing is lost, order holds",
        queue_bounded::run,
    ),
    (
        "joinable_queue",
        "q = JoinableQueue(); ... q.task_done() in workers; q.join() in the parent",
        "several workers drain tasks and mark each done; the parent joins until all are done",
        joinable_queue::run,
    ),
    (
        "manager",
        "with Manager() as m: l = m.list(); d = m.dict(); ns = m.Namespace(); Process(target=f, args=(d, l, ns))",
        "workers append to a managed list, fill a managed dict and a Namespace through proxies",
        manager::run,
    ),
    (
        "manager_custom",
        "MyManager.register('Counter', Counter); c = m.Counter(); c.increment()",
        "#[managed] on an impl block: a custom type in the server, its typed proxy used by several workers",
        manager_custom::run,
    ),
    (
        "manager_remote",
        "QueueManager(address=('127.0.0.1', 50000), authkey=b'abracadabra').connect()",
        "a TCP manager with an authkey: a client gets in with the key, one with a wrong key is refused",
        manager_remote::run,
    ),
    (
        "pool",
        "with Pool(processes=4) as pool: pool.apply(square, (10,)); pool.map(square, range(10)); pool.imap(...)",
        "apply, apply_async(..).get(), map, imap as results arrive, starmap; the pool is torn down with its scope",
        pool::run,
    ),
    (
        "pool_cpu",
        "with Pool() as pool: pool.map(cpu, [N] * 64)",
        "a CPU-bound map on cpu_count() workers against a serial loop, with a progress bar on a terminal",
        pool_cpu::run,
    ),
    (
        "shared_value",
        "counter = Value(ctypes.c_int, 0); with lock: counter.value += 1",
        "two processes count to 200000 under the value's robust lock; a RawValue without it can lose updates (how many depends on how the processes overlap)",
        shared_value::run,
    ),
    (
        "shared_array",
        "shared_array = Array(ctypes.c_double, [1.0, 2.0, 3.0, 4.0])",
        "a worker squares a shared array in place; the parent sees [1, 4, 9, 16]",
        shared_array::run,
    ),
    (
        "shared_struct",
        "class Stats(ctypes.Structure): ...; stats = Value(Stats)",
        "a #[shared] struct of counters and a histogram updated by four workers",
        shared_struct::run,
    ),
    (
        "shared_memory_manager",
        "with SharedMemoryManager() as smm: sl = smm.ShareableList(range(8)); shm = smm.SharedMemory(size=64)",
        "a manager process owns a ShareableList that two workers square in place, and a block that outlives its creator's handle; shutdown unlinks both",
        shared_memory_manager::run,
    ),
];

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let started = std::time::Instant::now();
    for (name, python, what, run) in EXAMPLES {
        println!("== {name} ==");
        println!("   python: {python}");
        println!("   shows:  {what}");
        let t = std::time::Instant::now();
        run()?;
        println!("   ok in {:.1} ms\n", t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "tour finished: {} examples in {:.1} ms",
        EXAMPLES.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
