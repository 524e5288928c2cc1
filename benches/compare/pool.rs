//! Pool workloads (`pool_*` in the Python script): map of a tiny task with automatic and unit chunks
//! (and `pool_map_tiny_10m`, ours: the same map of 10^7 items),
//! `apply_async` round-trip latency, `imap_unordered`, and the CPU-bound map speedup over a serial loop
//! with rayon's speedup on the same work beside it.
//!
//! `MULTIPROC_POOL_WORKERS=N` runs `pool_map_cpu_speedup` with N workers (default 2, as in Python), and
//! `MULTIPROC_POOL_CURVE=N` adds one `pool_map_cpu_speedup@k` row for every k in 1..=N (the scaling
//! curve).

use crate::harness::{Better, Options, Row, median, median_lat, medians, rounds, secs};
use multiproc::{Pool, worker};
use std::hint::black_box;

/// Python's `tiny(x) = x + 1`.
#[worker]
fn tiny(x: u64) -> u64 {
    x + 1
}

/// Python's `cpu(n) = sum(i * i for i in range(n))`.
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

const CPU_N: u64 = 200_000;

fn warm_pool(n: usize) -> Pool {
    let pool = Pool::new(n).expect("pool");
    let warm = pool.map(tiny, 0..100u64).expect("warm-up");
    assert_eq!(warm, (1..=100).collect::<Vec<u64>>());
    pool
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    if opts.wants("pool_map_tiny") {
        let pool = warm_pool(2);
        let expect: Vec<u64> = (1..=1_000_000).collect();
        let mut ours = || {
            let mut r = Vec::new();
            let t = secs(|| r = pool.map(tiny, 0..1_000_000u64).expect("map"));
            assert!(r == expect, "bad result");
            1e6 / t
        };
        // rayon's par_iter of the same function on 2 threads, collected into a Vec as the map is.
        // (`tiny` is a worker item that derefs to the function.)
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("rayon pool");
        let mut rayon = || {
            use rayon::prelude::*;
            let mut r: Vec<u64> = Vec::new();
            let t = secs(|| {
                r = threads.install(|| (0..1_000_000u64).into_par_iter().map(*tiny).collect())
            });
            assert!(r == expect, "rayon: bad result");
            1e6 / t
        };
        let m = medians(opts.trials, &mut [&mut ours, &mut rayon]);
        rows.push(Row {
            workload: "pool_map_tiny",
            unit: "tasks/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![("rayon (threads)", m[1])],
            pct: None,
        });
    }
    if opts.wants("pool_map_tiny_10m") {
        // The same map, ten times longer: throughput should not fall (chunks stay bounded).
        let pool = warm_pool(2);
        let ours = median(opts.trials, || {
            let mut r = Vec::new();
            let t = secs(|| r = pool.map(tiny, 0..10_000_000u64).expect("map"));
            assert!(
                r.len() == 10_000_000 && r[9_999_999] == 10_000_000,
                "bad result"
            );
            1e7 / t
        });
        rows.push(Row {
            workload: "pool_map_tiny_10m",
            unit: "tasks/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("pool_map_tiny_chunk1") {
        let pool = warm_pool(2);
        let expect: Vec<u64> = (1..=20_000).collect();
        let ours = median(opts.trials, || {
            let mut r = Vec::new();
            let t = secs(|| r = pool.map_chunked(tiny, 0..20_000u64, 1).expect("map"));
            assert!(r == expect, "bad result");
            20_000.0 / t
        });
        rows.push(Row {
            workload: "pool_map_tiny_chunk1",
            unit: "tasks/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("pool_apply_async_latency") {
        let pool = warm_pool(2);
        for i in 0..100u64 {
            assert_eq!(pool.apply_async(tiny, (i,)).unwrap().get().unwrap(), i + 1);
        }
        let ours = median_lat(opts.trials, || {
            let mut bad = 0;
            let mut i = 0u64;
            let lat = rounds(2_000, 1e6, || {
                if pool.apply_async(tiny, (i,)).unwrap().get().unwrap() != i + 1 {
                    bad += 1;
                }
                i += 1;
            });
            assert_eq!(bad, 0, "bad results");
            lat
        });
        rows.push(Row::latency("pool_apply_async_latency", "us", ours, vec![]));
    }
    if opts.wants("pool_imap_unordered") {
        let pool = warm_pool(2);
        let expect: u64 = (1..=200_000).sum();
        let ours = median(opts.trials, || {
            let (mut count, mut total) = (0usize, 0u64);
            let t = secs(|| {
                for x in pool.imap_unordered(tiny, 0..200_000u64).chunksize(64) {
                    count += 1;
                    total += x.expect("task");
                }
            });
            assert!(count == 200_000 && total == expect, "bad result");
            200_000.0 / t
        });
        rows.push(Row {
            workload: "pool_imap_unordered",
            unit: "tasks/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("pool_map_cpu_speedup") {
        let workers = env_usize("MULTIPROC_POOL_WORKERS").unwrap_or(2).max(1);
        rows.push(cpu_speedup(opts, "pool_map_cpu_speedup", workers));
        if let Some(top) = env_usize("MULTIPROC_POOL_CURVE") {
            for k in 1..=top {
                let name: &'static str =
                    Box::leak(format!("pool_map_cpu_speedup@{k}").into_boxed_str());
                rows.push(cpu_speedup(opts, name, k));
            }
        }
    }
}

/// Serial time over pool time for `cpu(200_000)` × (8 × workers), and rayon's ratio on the same work
/// with as many threads (Python's definition; each time is the best of a few runs).
fn cpu_speedup(opts: &Options, workload: &'static str, workers: usize) -> Row {
    let pool = warm_pool(workers);
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon pool");
    let tasks = vec![CPU_N; 8 * workers];
    let mut rayon_ratios = Vec::new();
    // Each time is the best of REPS runs: one run is a few ms here, within the noise of a shared machine.
    const REPS: usize = 5;
    let best = |f: &mut dyn FnMut()| (0..REPS).map(|_| secs(&mut *f)).fold(f64::MAX, f64::min);
    let ours = median(opts.trials, || {
        let mut serial = Vec::new();
        let t_serial = best(&mut || serial = tasks.iter().map(|&n| cpu(n)).collect());
        let mut par = Vec::new();
        let t_pool = best(&mut || par = pool.map(cpu, tasks.clone()).expect("map"));
        assert!(serial == par, "results differ");
        let mut ray: Vec<u64> = Vec::new();
        let t_rayon = best(&mut || {
            use rayon::prelude::*;
            ray = threads.install(|| tasks.par_iter().map(|&n| cpu(n)).collect());
        });
        assert!(serial == ray, "rayon results differ");
        rayon_ratios.push(t_serial / t_rayon);
        t_serial / t_pool
    });
    rayon_ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Row {
        workload,
        unit: "x",
        better: Better::Higher,
        ours,
        peers: vec![("rayon", rayon_ratios[rayon_ratios.len() / 2])],
        pct: None,
    }
}
