//! One program, two launches: the sum of the squares of 0..100000 on a pool that runs on MPI ranks
//! under `mpirun`, and on local processes otherwise (`Backend::Auto`). Python's pattern is
//! `mpiexec -n 3 python -m mpi4py.futures app.py` with an `MPIPoolExecutor`.
//!
//! ```text
//! cargo build --release --features mpi --example mpi_pool
//! mpirun -np 3 target/release/examples/mpi_pool
//!   sum of squares 0..100000 = 333328333350000 on 3 ranks (backend mpi)
//! cargo run --release --features mpi --example mpi_pool
//!   sum of squares 0..100000 = 333328333350000 on 1 ranks (backend local)
//! ```
//!
//! Under `mpirun` rank 0 runs `main`; every other rank is a node agent (it never reaches `main`) that
//! runs the pool's workers as its own child processes. As root, Open MPI also wants
//! `OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`; more ranks than cores wants
//! `--oversubscribe`. See docs/mpi.md.

use multiproc::{Backend, Pool, worker};

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let pool = Pool::builder().backend(Backend::Auto).build()?;
    let sum: u64 = pool.map(square, 0..100_000u64)?.into_iter().sum();
    let backend = match pool.backend() {
        Backend::Mpi => "mpi",
        _ => "local",
    };
    println!(
        "sum of squares 0..100000 = {sum} on {} ranks (backend {backend})",
        pool.ranks()
    );
    Ok(())
}
