//! The Pool on MPI ranks against the local Pool, in one run (feature `mpi`):
//! `cargo bench --features mpi --bench mpi [-- --trials N]`.
//!
//! Run by cargo, it launches itself as `mpirun -np 3` (rank 0 measures, ranks 1 and 2 are node
//! agents) and prints a table; every figure is the median of its trials.
//! - `mpi_map_tiny`: `map(tiny, 0..10^6)` (Python's `tiny(x) = x + 1`) with Python's chunk rule, on
//!   an MPI pool of 2 workers (one on each agent rank) and on a local pool of 2 workers;
//! - `mpi_map_tiny_chunk1`: the same with 20,000 items, chunk size 1;
//! - `mpi_roundtrip`: one `apply` at a time (µs, p50 and p99 of 2,000), MPI pool against local pool,
//!   with a `Pipe` round trip of 8 bytes to an echoing child process beside them.

use multiproc::{Backend, Connection, Pipe, Pool, worker};
use std::process::Command;
use std::time::Instant;

#[worker]
fn tiny(x: u64) -> u64 {
    x + 1
}

#[worker]
fn echo_bytes(conn: Connection<()>) {
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() || conn.send_bytes(&m).is_err() {
            break;
        }
    }
}

const RANK0: &str = "MULTIPROC_MPI_BENCH";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn trials() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--trials")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
}

#[multiproc::main]
fn main() {
    if std::env::var_os(RANK0).is_some() {
        measure(trials());
        return;
    }
    // `cargo bench` passes `--bench`; anything else (cargo test --benches) is a smoke run of nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let status = Command::new("mpirun")
        .args(["--oversubscribe", "--bind-to", "none", "-np", "3"])
        .arg(&exe)
        .args(["--trials", &trials().to_string()])
        .env(RANK0, "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .status()
        .expect("mpirun (install Open MPI: scripts/install-deps.sh)");
    assert!(status.success(), "mpirun: {status}");
}

fn map_rate(pool: &Pool, n: u64, chunk: Option<usize>, trials: usize) -> f64 {
    let expect: Vec<u64> = (1..=n).collect();
    median(
        (0..trials)
            .map(|_| {
                let t = Instant::now();
                let r = match chunk {
                    Some(c) => pool.map_chunked(tiny, 0..n, c),
                    None => pool.map(tiny, 0..n),
                }
                .expect("map");
                let dt = t.elapsed().as_secs_f64();
                assert!(r == expect, "bad result");
                n as f64 / dt
            })
            .collect(),
    )
}

/// p50 and p99 of one-at-a-time round trips, in µs.
fn percentiles(mut f: impl FnMut(), n: usize) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(f64::total_cmp);
    (v[n / 2], v[n * 99 / 100])
}

fn median_pair(v: Vec<(f64, f64)>) -> (f64, f64) {
    (
        median(v.iter().map(|p| p.0).collect()),
        median(v.iter().map(|p| p.1).collect()),
    )
}

fn measure(trials: usize) {
    let mpi = Pool::builder()
        .backend(Backend::Mpi)
        .processes(2)
        .build()
        .expect("MPI pool");
    let local = Pool::builder().processes(2).build().expect("local pool");
    for p in [&mpi, &local] {
        assert_eq!(p.map(tiny, 0..100u64).expect("warm-up").len(), 100);
    }
    let rate = |pool: &Pool, n, chunk| map_rate(pool, n, chunk, trials);
    let (m_tiny, l_tiny) = (rate(&mpi, 1_000_000, None), rate(&local, 1_000_000, None));
    let (m_c1, l_c1) = (rate(&mpi, 20_000, Some(1)), rate(&local, 20_000, Some(1)));
    let rtt = |pool: &Pool| {
        median_pair(
            (0..trials)
                .map(|_| percentiles(|| assert_eq!(pool.apply(tiny, (1,)).unwrap(), 2), 2_000))
                .collect(),
        )
    };
    let (m_rtt, l_rtt) = (rtt(&mpi), rtt(&local));
    let (a, b) = Pipe::<()>::new().expect("pipe");
    let child = echo_bytes::spawn(b).expect("echo child");
    let pipe_rtt = median_pair(
        (0..trials)
            .map(|_| {
                percentiles(
                    || {
                        a.send_bytes(b"01234567").unwrap();
                        assert_eq!(a.recv_bytes().unwrap(), b"01234567");
                    },
                    2_000,
                )
            })
            .collect(),
    );
    a.send_bytes(b"").unwrap();
    child.join().unwrap();
    let m = |x: f64| format!("{:.2}M", x / 1e6);
    let k = |x: f64| format!("{:.0}k", x / 1e3);
    println!(
        "MPI pool ({} ranks: rank 0 and 2 agents, 2 workers) against a local pool of 2 workers, \
         medians of {trials} trials, {} CPUs",
        mpi.ranks(),
        multiproc::cpu_count()
    );
    println!("| workload | unit | MPI pool | local pool | MPI / local |");
    println!("|---|---|---|---|---|");
    println!(
        "| mpi_map_tiny (10^6 items, Python's chunk rule) | tasks/s | {} | {} | {:.2}× |",
        m(m_tiny),
        m(l_tiny),
        m_tiny / l_tiny
    );
    println!(
        "| mpi_map_tiny_chunk1 (20,000 items) | tasks/s | {} | {} | {:.2}× |",
        k(m_c1),
        k(l_c1),
        m_c1 / l_c1
    );
    println!(
        "| mpi_roundtrip (one apply, p50 / p99) | µs | {:.1} / {:.1} | {:.1} / {:.1} | {:.2}× (p50) |",
        m_rtt.0,
        m_rtt.1,
        l_rtt.0,
        l_rtt.1,
        m_rtt.0 / l_rtt.0
    );
    println!(
        "| pipe round trip, 8 B (reference) | µs | | {:.1} / {:.1} | |",
        pipe_rtt.0, pipe_rtt.1
    );
}
