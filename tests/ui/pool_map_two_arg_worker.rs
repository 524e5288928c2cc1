// `map` passes each item as the only argument: a two-argument worker belongs to `starmap`.
use multiproc::{Pool, worker};

#[worker]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let pool = Pool::new(2)?;
    let _ = pool.map(add, vec![(1u64, 2u64)])?;
    Ok(())
}
