//! A CPU-bound `Pool.map`: the same work serially and on a pool of `cpu_count()` workers, with the
//! speedup, and a progress bar while the pool works (drawn only when stderr is a terminal).
//!
//! ```python
//! def cpu(n): return sum(i * i for i in range(n))
//! serial = list(map(cpu, [N] * 64))
//! with Pool() as pool: parallel = pool.map(cpu, [N] * 64)
//! ```

use multiproc::{Pool, worker};
use std::hint::black_box;
use std::time::Instant;

/// Sum of squares below `n`, the slow way (each step opaque to the optimiser).
/// Never inlined, so the serial loop, the pool and rayon all run the same machine code.
#[worker]
#[inline(never)]
fn cpu(n: u64) -> u64 {
    let mut s = 0u64;
    for i in 0..n {
        s = s.wrapping_add(black_box(i).wrapping_mul(i));
    }
    s
}

pub fn run() -> multiproc::Result<()> {
    // Smaller in a debug build, where the loop is tens of times slower.
    let n = if cfg!(debug_assertions) {
        200_000
    } else {
        4_000_000
    };
    let tasks = vec![n; 64];
    let t = Instant::now();
    let serial: Vec<u64> = tasks.iter().map(|&n| cpu(n)).collect();
    let t_serial = t.elapsed();

    let workers = multiproc::cpu_count();
    let builder = Pool::builder().processes(workers); // Pool()
    // A progress bar on stderr when it is a terminal: `cargo run --example pool_cpu --features progress`.
    #[cfg(feature = "progress")]
    let builder = builder.progress(true);
    let pool = builder.build()?;
    let t = Instant::now();
    let parallel = pool.map_chunked(cpu, tasks, 1)?; // pool.map(cpu, tasks, chunksize=1)
    let t_pool = t.elapsed();

    assert_eq!(serial, parallel);
    println!("  serial: {:.1} ms", t_serial.as_secs_f64() * 1e3);
    println!(
        "  pool of {workers}: {:.1} ms, speedup {:.2}x",
        t_pool.as_secs_f64() * 1e3,
        t_serial.as_secs_f64() / t_pool.as_secs_f64()
    );
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
