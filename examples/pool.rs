//! Python's `Pool` seed: a pool of 4 processes with `apply`, `apply_async(...).get()`, `map` of squares
//! over 0..10, `imap` printed as it arrives and `starmap`, all in one scope that tears the pool down.
//!
//! ```python
//! with Pool(processes=4) as pool:
//!     print(f'Synchronous result: {pool.apply(square, (10,))}')
//!     print(f'Asynchronous result: {pool.apply_async(square, (20,)).get()}')
//!     print(f'map results: {pool.map(square, range(10))}')
//!     for result in pool.imap(square, range(5)):
//!         print(f'Real-time result: {result}')
//! ```

use multiproc::{Pool, worker};

/// Runs in a pool worker.
#[worker]
fn square(x: u64) -> u64 {
    x * x
}

/// A two-argument worker for `starmap`.
#[worker]
fn power(base: u64, exp: u32) -> u64 {
    base.pow(exp)
}

pub fn run() -> multiproc::Result<()> {
    {
        let pool = Pool::new(4)?; // Python: with Pool(processes=4) as pool:
        println!(
            "  pool of {} workers: pids {:?}",
            pool.processes(),
            pool.pids()
        );

        let result = pool.apply(square, (10,))?; // pool.apply(square, (10,))
        println!("  synchronous result: {result}");

        let async_result = pool.apply_async(square, (20,))?; // pool.apply_async(square, (20,))
        println!("  asynchronous result: {}", async_result.get()?);

        let results = pool.map(square, 0..10)?; // pool.map(square, range(10))
        println!("  map results: {results:?}");

        for result in pool.imap(square, 0..5) {
            // for result in pool.imap(square, range(5)):
            println!("  real-time result: {}", result?);
        }

        let powers = pool.starmap(power, [(2, 10), (3, 4), (10, 3)])?; // pool.starmap(power, [...])
        println!("  starmap results: {powers:?}");
    } // the pool is terminated here, like leaving Python's `with` block
    println!("  pool torn down");
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
