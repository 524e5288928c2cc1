//! The comparison harness: multiproc against Python's `multiprocessing` (the same workloads, defined in
//! `../shared/bench/python_mp_bench.py`) and the Rust peers, all measured in one run on this machine.
//!
//! `cargo bench --bench compare [-- --only w1,w2] [--no-python] [--trials N] [--json PATH]`
//!
//! Each area has its own module with `pub fn run(opts: &Options, rows: &mut Vec<Row>)`.

#[cfg(feature = "async")]
mod asynk;
mod harness;
mod manager;
mod pool;
mod process_pipe;
mod queue;
mod shm;

use harness::{Options, Row};

#[multiproc::main]
fn main() {
    procspawn::init(); // the peer's own bootstrap, for its children
    let opts = Options::from_args();
    let mut rows: Vec<Row> = Vec::new();
    process_pipe::run(&opts, &mut rows);
    queue::run(&opts, &mut rows);
    manager::run(&opts, &mut rows);
    pool::run(&opts, &mut rows);
    shm::run(&opts, &mut rows);
    #[cfg(feature = "async")]
    asynk::run(&opts, &mut rows);
    let names: Vec<&str> = rows.iter().map(|r| r.workload).collect();
    let py = harness::python(&opts, &names);
    println!();
    harness::print_table(&rows, &py);
    if let Some(path) = &opts.json {
        harness::write_json(path, &rows, &py);
    }
}
