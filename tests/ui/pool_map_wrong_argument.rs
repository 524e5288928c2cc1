// A pool task's argument type is checked against the worker's signature at compile time.
use multiproc::{Pool, worker};

#[worker]
fn square(x: u64) -> u64 {
    x * x
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let pool = Pool::new(2)?;
    let _ = pool.map(square, vec!["three"])?;
    Ok(())
}
