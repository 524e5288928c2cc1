//! A `#[shared]` struct (Python: a `ctypes.Structure` in a `Value`): several workers update counters
//! and a histogram in one block of shared memory under its lock.
//!
//! ```python
//! class Stats(ctypes.Structure):
//!     _fields_ = [('count', ctypes.c_uint64), ('total', ctypes.c_uint64), ('hist', ctypes.c_uint32 * 8)]
//! stats = Value(Stats)
//! def work(stats, seed):
//!     for x in samples(seed):
//!         with stats.get_lock(): stats.count += 1; stats.total += x; stats.hist[x % 8] += 1
//! ```

use multiproc::{Value, shared, worker};

/// Lives in shared memory: `#[shared]` makes it `#[repr(C)]` and checks every field is plain data.
#[shared]
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    count: u64,
    total: u64,
    hist: [u32; 8],
}

/// Records 1000 pseudo-random samples (a small LCG seeded per worker).
#[worker]
fn record(stats: Value<Stats>, seed: u64) {
    let mut x = seed;
    for _ in 0..1000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let sample = (x >> 33) % 100;
        let mut s = stats.lock().expect("lock");
        s.count += 1;
        s.total += sample;
        s.hist[(sample % 8) as usize] += 1;
    }
}

pub fn run() -> multiproc::Result<()> {
    let stats = Value::new(Stats::default())?;
    let workers = (1..=4)
        .map(|seed| record::spawn(stats.clone(), seed))
        .collect::<multiproc::Result<Vec<_>>>()?;
    for w in workers {
        w.join()?;
    }
    let s = stats.get()?;
    println!(
        "  samples: {}, mean: {:.2}",
        s.count,
        s.total as f64 / s.count as f64
    );
    println!("  histogram (sample % 8): {:?}", s.hist);
    assert_eq!(s.hist.iter().map(|&h| h as u64).sum::<u64>(), s.count);
    Ok(())
}

#[allow(dead_code)]
#[multiproc::main]
fn main() -> multiproc::Result<()> {
    run()
}
