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
#[path = "shared_value.rs"]
mod shared_value;

#[allow(dead_code)]
#[path = "shared_array.rs"]
mod shared_array;

#[allow(dead_code)]
#[path = "shared_struct.rs"]
mod shared_struct;

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
