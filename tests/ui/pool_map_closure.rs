// A closure cannot run in another process: handing one to a pool is a compile error.
use multiproc::Pool;

#[multiproc::main]
fn main() -> multiproc::Result<()> {
    let pool = Pool::new(2)?;
    let _ = pool.map(|x: u64| x * x, vec![1u64, 2, 3])?;
    Ok(())
}
