//! Async workloads (feature `async`; ours, no Python definition): `async_join_1000` awaits 1,000
//! children on one tokio thread, against 1,000 blocking joins on 1,000 threads (the
//! `spawn_blocking` way); `async_apply_roundtrip` awaits `apply_async` results one at a time,
//! against the blocking `get`. Run with `cargo bench --features async --bench compare`.

use crate::harness::{Better, Options, Row, median, secs};
use multiproc::{Pool, worker};

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

fn apply_await(pool: &Pool) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = secs(|| {
        rt.block_on(async {
            for i in 0..ROUNDS {
                assert_eq!(
                    pool.apply_async(inc, (i,))
                        .expect("submit")
                        .await
                        .expect("result"),
                    i + 1
                );
            }
        })
    });
    t / ROUNDS as f64 * 1e6
}

fn apply_get(pool: &Pool) -> f64 {
    let t = secs(|| {
        for i in 0..ROUNDS {
            assert_eq!(
                pool.apply_async(inc, (i,))
                    .expect("submit")
                    .get()
                    .expect("result"),
                i + 1
            );
        }
    });
    t / ROUNDS as f64 * 1e6
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
        });
    }
    if opts.wants("async_apply_roundtrip") {
        let pool = Pool::new(2).expect("pool");
        rows.push(Row {
            workload: "async_apply_roundtrip",
            unit: "µs",
            better: Better::Lower,
            ours: median(opts.trials, || apply_await(&pool)),
            peers: vec![("blocking get", median(opts.trials, || apply_get(&pool)))],
        });
    }
}
