//! Queue workloads (`queue_throughput_small`, `queue_throughput_1mb`, `queue_mpmc`), defined in
//! `python_mp_bench.py`, `queue_throughput_8mb` (ours: messages of 8 MiB, many times the ring) and
//! `queue_throughput_1mb_vec` (the same messages as a plain `Vec<u8>`, which
//! serde hands over a byte at a time, where `queue_throughput_1mb` sends [`Bytes`], Python's `bytes`);
//! multiproc's `Queue` between processes, with ipc-channel, a crossbeam channel between threads of one
//! process and a plain `memcpy` of the same buffers as reference points.

use crate::harness::{Better, Options, Row, medians, secs};
use multiproc::{Bytes, Connection, Pipe, Queue, worker};

const SMALL_MSGS: u64 = 200_000;
const BIG_MSGS: usize = 500;
const MIB: usize = 1 << 20;
const MPMC_PER_PRODUCER: u64 = 50_000;
const MPMC_SIDES: usize = 2;

/// The child's half of a synchronised start: say ready, wait for go.
fn gate(conn: &Connection<()>) {
    conn.send(&()).expect("ready");
    conn.recv().expect("go");
}

/// The parent's half: wait until every child is ready, then release them all; returns t0.
fn open_gates(gates: &[Connection<()>]) -> std::time::Instant {
    for g in gates {
        g.recv().expect("ready");
    }
    let t0 = std::time::Instant::now();
    for g in gates {
        g.send(&()).expect("go");
    }
    t0
}

#[worker]
fn small_producer(q: Queue<Option<u64>>, go: Connection<()>, n: u64) {
    gate(&go);
    for i in 0..n {
        q.put(Some(i)).expect("put");
    }
    q.put(None).expect("put");
}

/// `n` messages of `size` bytes (Python's `bytes`), then the end marker.
#[worker]
fn blob_producer(q: Queue<Option<Bytes>>, go: Connection<()>, size: usize, n: usize) {
    let blob = Some(Bytes(vec![0xab; size]));
    gate(&go);
    for _ in 0..n {
        q.put_ref(&blob).expect("put");
    }
    q.put(None).expect("put");
}

#[worker]
fn mpmc_producer(q: Queue<Option<u64>>, go: Connection<()>, n: u64) {
    gate(&go);
    for i in 0..n {
        q.put(Some(i)).expect("put");
    }
}

#[worker]
fn mpmc_consumer(q: Queue<Option<u64>>, results: Queue<(u64, u64)>, go: Connection<()>) {
    gate(&go);
    let (mut count, mut sum) = (0, 0);
    while let Some(x) = q.get().expect("get") {
        count += 1;
        sum += x;
    }
    results.put((count, sum)).expect("report");
}

fn ours_small() -> f64 {
    let q = Queue::<Option<u64>>::new().expect("queue");
    let (here, there) = Pipe::<()>::new().expect("pipe");
    let p = small_producer::spawn(q.clone(), there, SMALL_MSGS).expect("spawn");
    let t0 = open_gates(&[here]);
    let (mut count, mut sum) = (0u64, 0u64);
    while let Some(x) = q.get().expect("get") {
        count += 1;
        sum += x;
    }
    let dt = t0.elapsed().as_secs_f64();
    p.join().expect("join");
    assert_eq!(
        (count, sum),
        (SMALL_MSGS, SMALL_MSGS * (SMALL_MSGS - 1) / 2)
    );
    SMALL_MSGS as f64 / dt
}

#[worker]
fn big_vec_producer(q: Queue<Option<Vec<u8>>>, go: Connection<()>, n: usize) {
    let blob = Some(vec![0xab; MIB]);
    gate(&go);
    for _ in 0..n {
        q.put_ref(&blob).expect("put");
    }
    q.put(None).expect("put");
}

fn ours_big_vec() -> f64 {
    let q = Queue::<Option<Vec<u8>>>::new().expect("queue");
    let (here, there) = Pipe::<()>::new().expect("pipe");
    let p = big_vec_producer::spawn(q.clone(), there, BIG_MSGS).expect("spawn");
    let t0 = open_gates(&[here]);
    let mut count = 0;
    while let Some(b) = q.get().expect("get") {
        assert_eq!(b.len(), MIB);
        count += 1;
    }
    let dt = t0.elapsed().as_secs_f64();
    p.join().expect("join");
    assert_eq!(count, BIG_MSGS);
    (BIG_MSGS * MIB) as f64 / dt / 1e9
}

/// The physical reference: copying `n` buffers of `size` bytes once each, in one thread.
fn memcpy(size: usize, n: usize) -> f64 {
    let src = vec![0xabu8; size];
    let mut dst = vec![0u8; size];
    let dt = secs(|| {
        for _ in 0..n {
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&mut dst);
        }
    });
    (n * size) as f64 / dt / 1e9
}

const HUGE: usize = 8 * MIB;
const HUGE_MSGS: usize = 60;

/// `n` messages of `size` bytes from a child process, in GB/s (8 MiB is many times the ring, so
/// each is streamed through it in parts).
fn ours_blobs(size: usize, n: usize) -> f64 {
    let q = Queue::<Option<Bytes>>::new().expect("queue");
    let (here, there) = Pipe::<()>::new().expect("pipe");
    let p = blob_producer::spawn(q.clone(), there, size, n).expect("spawn");
    let t0 = open_gates(&[here]);
    let mut count = 0;
    while let Some(b) = q.get().expect("get") {
        assert_eq!(b.len(), size);
        count += 1;
    }
    let dt = t0.elapsed().as_secs_f64();
    p.join().expect("join");
    assert_eq!(count, n);
    (n * size) as f64 / dt / 1e9
}

fn ours_mpmc() -> f64 {
    let q = Queue::<Option<u64>>::new().expect("queue");
    let results = Queue::<(u64, u64)>::new().expect("queue");
    let mut gates = Vec::new();
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..MPMC_SIDES {
        let (here, there) = Pipe::<()>::new().expect("pipe");
        producers.push(mpmc_producer::spawn(q.clone(), there, MPMC_PER_PRODUCER).expect("spawn"));
        gates.push(here);
        let (here, there) = Pipe::<()>::new().expect("pipe");
        consumers.push(mpmc_consumer::spawn(q.clone(), results.clone(), there).expect("spawn"));
        gates.push(here);
    }
    let t0 = open_gates(&gates);
    for p in producers {
        p.join().expect("join");
    }
    for _ in 0..MPMC_SIDES {
        q.put(None).expect("sentinel");
    }
    let reports: Vec<(u64, u64)> = (0..MPMC_SIDES)
        .map(|_| results.get().expect("report"))
        .collect();
    let dt = t0.elapsed().as_secs_f64();
    for c in consumers {
        c.join().expect("join");
    }
    let total = MPMC_PER_PRODUCER * MPMC_SIDES as u64;
    let (count, sum) = reports.iter().fold((0, 0), |(c, s), r| (c + r.0, s + r.1));
    assert_eq!(count, total);
    assert_eq!(
        sum,
        MPMC_SIDES as u64 * MPMC_PER_PRODUCER * (MPMC_PER_PRODUCER - 1) / 2
    );
    total as f64 / dt
}

fn crossbeam_small() -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<Option<u64>>();
    let dt = secs(|| {
        std::thread::spawn(move || {
            for i in 0..SMALL_MSGS {
                tx.send(Some(i)).unwrap();
            }
            tx.send(None).unwrap();
        });
        let mut sum = 0;
        while let Some(x) = rx.recv().unwrap() {
            sum += x;
        }
        assert_eq!(sum, SMALL_MSGS * (SMALL_MSGS - 1) / 2);
    });
    SMALL_MSGS as f64 / dt
}

fn ipc_small() -> f64 {
    let (tx, rx) = ipc_channel::ipc::channel::<Option<u64>>().unwrap();
    let dt = secs(|| {
        std::thread::spawn(move || {
            for i in 0..SMALL_MSGS {
                tx.send(Some(i)).unwrap();
            }
            tx.send(None).unwrap();
        });
        let mut sum = 0;
        while let Some(x) = rx.recv().unwrap() {
            sum += x;
        }
        assert_eq!(sum, SMALL_MSGS * (SMALL_MSGS - 1) / 2);
    });
    SMALL_MSGS as f64 / dt
}

fn crossbeam_big() -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<Option<Vec<u8>>>();
    let dt = secs(|| {
        std::thread::spawn(move || {
            let blob = vec![0xab; MIB];
            for _ in 0..BIG_MSGS {
                tx.send(Some(blob.clone())).unwrap();
            }
            tx.send(None).unwrap();
        });
        while let Some(b) = rx.recv().unwrap() {
            assert_eq!(b.len(), MIB);
        }
    });
    (BIG_MSGS * MIB) as f64 / dt / 1e9
}

fn ipc_big() -> f64 {
    let (tx, rx) = ipc_channel::ipc::bytes_channel().unwrap();
    let dt = secs(|| {
        std::thread::spawn(move || {
            let blob = vec![0xab; MIB];
            for _ in 0..BIG_MSGS {
                tx.send(&blob).unwrap();
            }
            tx.send(&[]).unwrap();
        });
        loop {
            let b = rx.recv().unwrap();
            if b.is_empty() {
                break;
            }
            assert_eq!(b.len(), MIB);
        }
    });
    (BIG_MSGS * MIB) as f64 / dt / 1e9
}

fn crossbeam_mpmc() -> f64 {
    let (tx, rx) = crossbeam_channel::unbounded::<Option<u64>>();
    let (rtx, rrx) = crossbeam_channel::unbounded::<(u64, u64)>();
    let dt = secs(|| {
        let producers: Vec<_> = (0..MPMC_SIDES)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..MPMC_PER_PRODUCER {
                        tx.send(Some(i)).unwrap();
                    }
                })
            })
            .collect();
        for _ in 0..MPMC_SIDES {
            let (rx, rtx) = (rx.clone(), rtx.clone());
            std::thread::spawn(move || {
                let (mut c, mut s) = (0, 0);
                while let Some(x) = rx.recv().unwrap() {
                    c += 1;
                    s += x;
                }
                rtx.send((c, s)).unwrap();
            });
        }
        for p in producers {
            p.join().unwrap();
        }
        for _ in 0..MPMC_SIDES {
            tx.send(None).unwrap();
        }
        let count: u64 = (0..MPMC_SIDES).map(|_| rrx.recv().unwrap().0).sum();
        assert_eq!(count, MPMC_PER_PRODUCER * MPMC_SIDES as u64);
    });
    (MPMC_PER_PRODUCER * MPMC_SIDES as u64) as f64 / dt
}

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    let t = opts.trials;
    if opts.wants("queue_throughput_small") {
        let m = medians(
            t,
            &mut [&mut ours_small, &mut ipc_small, &mut crossbeam_small],
        );
        rows.push(Row {
            workload: "queue_throughput_small",
            unit: "msg/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![
                ("ipc-channel (threads)", m[1]),
                ("crossbeam (threads)", m[2]),
            ],
            pct: None,
        });
    }
    if opts.wants("queue_throughput_1mb") {
        let m = medians(
            t,
            &mut [
                &mut || ours_blobs(MIB, BIG_MSGS),
                &mut ipc_big,
                &mut crossbeam_big,
                &mut || memcpy(MIB, BIG_MSGS),
            ],
        );
        rows.push(Row {
            workload: "queue_throughput_1mb",
            unit: "GB/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![
                ("ipc-channel bytes (threads)", m[1]),
                ("crossbeam (threads)", m[2]),
                ("memcpy", m[3]),
            ],
            pct: None,
        });
    }
    if opts.wants("queue_throughput_8mb") {
        let m = medians(
            t,
            &mut [&mut || ours_blobs(HUGE, HUGE_MSGS), &mut || {
                memcpy(HUGE, HUGE_MSGS)
            }],
        );
        rows.push(Row {
            workload: "queue_throughput_8mb",
            unit: "GB/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![("memcpy", m[1])],
            pct: None,
        });
    }
    if opts.wants("queue_throughput_1mb_vec") {
        let m = medians(
            t,
            &mut [&mut ours_big_vec, &mut crossbeam_big, &mut || {
                memcpy(MIB, BIG_MSGS)
            }],
        );
        rows.push(Row {
            workload: "queue_throughput_1mb_vec",
            unit: "GB/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![("crossbeam (threads)", m[1]), ("memcpy", m[2])],
            pct: None,
        });
    }
    if opts.wants("queue_mpmc") {
        let m = medians(t, &mut [&mut ours_mpmc, &mut crossbeam_mpmc]);
        rows.push(Row {
            workload: "queue_mpmc",
            unit: "msg/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![("crossbeam (threads)", m[1])],
            pct: None,
        });
    }
}
