//! Async workloads (feature `async`; ours, no Python definition): `async_join_1000` awaits 1,000
//! children on one tokio thread, against 1,000 blocking joins on 1,000 threads (the
//! `spawn_blocking` way); `async_apply_roundtrip` awaits `apply_async` results one at a time,
//! against the blocking `get`. Run with `cargo bench --features async --bench compare`.

use crate::harness::{Better, Lat, Options, Row, lat_of, median, median_lat, rounds, secs};
use multiproc::{Pool, worker};
use std::time::Instant;

#[worker]
fn one() -> u64 {
    1
}

#[worker]
fn inc(x: u64) -> u64 {
    x + 1
}

const CHILDREN: usize = 1000;
const ROUNDS: u64 = 2000;

fn join_async_1000() -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = secs(|| {
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| one::spawn().expect("spawn"))
            .collect();
        let sum: u64 = rt.block_on(async {
            let tasks: Vec<_> = children
                .into_iter()
                .map(|p| tokio::spawn(p.join_async()))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.expect("task").expect("join");
            }
            sum
        });
        assert_eq!(sum, CHILDREN as u64);
    });
    t * 1e3
}

fn join_threads_1000() -> f64 {
    let t = secs(|| {
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| one::spawn().expect("spawn"))
            .collect();
        let threads: Vec<_> = children
            .into_iter()
            .map(|p| std::thread::spawn(move || p.join().expect("join")))
            .collect();
        let sum: u64 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
        assert_eq!(sum, CHILDREN as u64);
    });
    t * 1e3
}

/// Each round trip timed on its own, inside one `block_on`.
fn apply_await(pool: &Pool) -> Lat {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t0 = Instant::now();
    let each = rt.block_on(async {
        let mut each = Vec::with_capacity(ROUNDS as usize);
        for i in 0..ROUNDS {
            let t = Instant::now();
            let r = pool.apply_async(inc, (i,)).expect("submit").await;
            each.push(t.elapsed().as_secs_f64());
            assert_eq!(r.expect("result"), i + 1);
        }
        each
    });
    lat_of(each, t0.elapsed().as_secs_f64(), 1e6)
}

fn apply_get(pool: &Pool) -> Lat {
    let mut i = 0;
    rounds(ROUNDS as usize, 1e6, || {
        let r = pool.apply_async(inc, (i,)).expect("submit").get();
        assert_eq!(r.expect("result"), i + 1);
        i += 1;
    })
}

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    if opts.wants("async_join_1000") {
        rows.push(Row {
            workload: "async_join_1000",
            unit: "ms",
            better: Better::Lower,
            ours: median(opts.trials, join_async_1000),
            peers: vec![(
                "blocking joins on 1,000 threads",
                median(opts.trials, join_threads_1000),
            )],
            pct: None,
        });
    }
    if opts.wants("async_apply_roundtrip") {
        let pool = Pool::new(2).expect("pool");
        rows.push(Row::latency(
            "async_apply_roundtrip",
            "µs",
            median_lat(opts.trials, || apply_await(&pool)),
            vec![("blocking get", median_lat(opts.trials, || apply_get(&pool)))],
        ));
    }
}
