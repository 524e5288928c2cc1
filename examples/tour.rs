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
#[path = "pool.rs"]
mod pool;

#[allow(dead_code)]
#[path = "pool_cpu.rs"]
mod pool_cpu;

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
