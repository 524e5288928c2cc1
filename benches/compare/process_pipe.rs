//! `spawn_join_*` and `pipe_*` workloads (definitions: the Python script's docstring; `spawn_join_default`,
//! ours, is the same with the default start method), with procspawn
//! and ipc-channel measured on the same work in the same run.

use crate::harness::{Better, Lat, Options, Row, medians, rounds};
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcReceiver, IpcSender};
use multiproc::{Connection, Pipe, Process, StartMethod, worker};
use std::time::Instant;

const SPAWN_ITERS: usize = 20;
const PING_WARMUP: usize = 1_000;
const PING_ITERS: usize = 10_000;
const TP_MSGS: usize = 1_000;
const MIB: usize = 1 << 20;

#[worker]
fn noop() {}

#[worker]
fn echo_bytes(conn: Connection<()>) {
    while let Ok(m) = conn.recv_bytes() {
        if m.is_empty() {
            break;
        }
        conn.send_bytes(&m).unwrap();
    }
}

#[worker]
fn echo_obj(conn: Connection<Option<(u32, String)>>) {
    while let Ok(Some(m)) = conn.recv() {
        conn.send(&Some(m)).unwrap();
    }
}

#[worker]
fn send_mib(conn: Connection<()>, n: usize) {
    let buf = vec![0xabu8; MIB];
    conn.recv_bytes().unwrap(); // synchronised start
    for _ in 0..n {
        conn.send_bytes(&buf).unwrap();
    }
}

/// `SPAWN_ITERS` spawn+join, each timed on its own (with 20 of them, p99 is the slowest). `None`: the
/// builder's default start method, whatever it is.
fn spawn_join_ms(method: Option<StartMethod>) -> Lat {
    let start = || {
        let b = Process::builder();
        let b = match method {
            Some(m) => b.start_method(m),
            None => b, // the default
        };
        b.spawn(noop, ()).unwrap().join().unwrap()
    };
    start();
    rounds(SPAWN_ITERS, 1e3, start)
}

fn procspawn_spawn_join_ms() -> Lat {
    procspawn::spawn((), |()| ()).join().unwrap();
    rounds(SPAWN_ITERS, 1e3, || {
        procspawn::spawn((), |()| ()).join().unwrap()
    })
}

fn pingpong_small_us() -> Lat {
    let (a, b) = Pipe::<()>::new().unwrap();
    let p = echo_bytes::spawn(b).unwrap();
    let msg = b"01234567";
    let round = || {
        a.send_bytes(msg).unwrap();
        assert_eq!(a.recv_bytes().unwrap(), msg);
    };
    (0..PING_WARMUP).for_each(|_| round());
    let t = rounds(PING_ITERS, 1e6, round);
    a.send_bytes(b"").unwrap();
    p.join().unwrap();
    t
}

fn pingpong_obj_us() -> Lat {
    let (a, b) = Pipe::<Option<(u32, String)>>::new().unwrap();
    let p = echo_obj::spawn(b).unwrap();
    let msg = Some((12345u32, "hello".to_string()));
    let round = || {
        a.send(&msg).unwrap();
        assert_eq!(a.recv().unwrap(), msg);
    };
    (0..PING_WARMUP).for_each(|_| round());
    let t = rounds(PING_ITERS, 1e6, round);
    a.send(&None).unwrap();
    p.join().unwrap();
    t
}

fn throughput_gbs() -> f64 {
    let (a, b) = Pipe::<()>::new().unwrap();
    let p = send_mib::spawn(b, TP_MSGS).unwrap();
    a.send_bytes(b"go").unwrap();
    let t = Instant::now();
    for _ in 0..TP_MSGS {
        assert_eq!(a.recv_bytes().unwrap().len(), MIB);
    }
    let el = t.elapsed().as_secs_f64();
    p.join().unwrap();
    (TP_MSGS * MIB) as f64 / el / 1e9
}

fn ipc_pingpong_small_us() -> Lat {
    let (to_child, child_rx) = ipc::bytes_channel().unwrap();
    let (child_tx, from_child) = ipc::bytes_channel().unwrap();
    let h = procspawn::spawn(
        (child_rx, child_tx),
        |(rx, tx): (IpcBytesReceiver, IpcBytesSender)| {
            while let Ok(m) = rx.recv() {
                if m.is_empty() {
                    break;
                }
                tx.send(&m).unwrap();
            }
        },
    );
    let msg = b"01234567";
    let round = || {
        to_child.send(msg).unwrap();
        assert_eq!(from_child.recv().unwrap(), msg);
    };
    (0..PING_WARMUP).for_each(|_| round());
    let t = rounds(PING_ITERS, 1e6, round);
    to_child.send(b"").unwrap();
    h.join().unwrap();
    t
}

fn ipc_pingpong_obj_us() -> Lat {
    type M = Option<(u32, String)>;
    let (to_child, child_rx) = ipc::channel::<M>().unwrap();
    let (child_tx, from_child) = ipc::channel::<M>().unwrap();
    let h = procspawn::spawn(
        (child_rx, child_tx),
        |(rx, tx): (IpcReceiver<M>, IpcSender<M>)| {
            while let Ok(Some(m)) = rx.recv() {
                tx.send(Some(m)).unwrap();
            }
        },
    );
    let msg = Some((12345u32, "hello".to_string()));
    let round = || {
        to_child.send(msg.clone()).unwrap();
        assert_eq!(from_child.recv().unwrap(), msg);
    };
    (0..PING_WARMUP).for_each(|_| round());
    let t = rounds(PING_ITERS, 1e6, round);
    to_child.send(None).unwrap();
    h.join().unwrap();
    t
}

fn ipc_throughput_gbs() -> f64 {
    let (go_tx, go_rx) = ipc::bytes_channel().unwrap();
    let (data_tx, data_rx) = ipc::bytes_channel().unwrap();
    let h = procspawn::spawn(
        (go_rx, data_tx),
        |(go, tx): (IpcBytesReceiver, IpcBytesSender)| {
            let buf = vec![0xabu8; MIB];
            go.recv().unwrap();
            for _ in 0..TP_MSGS {
                tx.send(&buf).unwrap();
            }
        },
    );
    go_tx.send(b"go").unwrap();
    let t = Instant::now();
    for _ in 0..TP_MSGS {
        assert_eq!(data_rx.recv().unwrap().len(), MIB);
    }
    let el = t.elapsed().as_secs_f64();
    h.join().unwrap();
    (TP_MSGS * MIB) as f64 / el / 1e9
}

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    let n = opts.trials;
    if [
        "spawn_join_spawn",
        "spawn_join_fork",
        "spawn_join_forkserver",
        "spawn_join_default",
    ]
    .iter()
    .any(|w| opts.wants(w))
    {
        eprintln!("spawn_join ...");
        let m = medians(
            n,
            &mut [
                &mut || spawn_join_ms(Some(StartMethod::Spawn)),
                &mut || spawn_join_ms(Some(StartMethod::ForkServer)),
                &mut || spawn_join_ms(None),
                &mut procspawn_spawn_join_ms,
            ],
        );
        let (spawn, server, default, ps) = (m[0], m[1], m[2], m[3]);
        eprintln!(
            "spawn_join_default: StartMethod::default() is {}",
            StartMethod::default().name()
        );
        // Python's `fork` has no counterpart here (forking a running multi-threaded Rust program is
        // unsound); its figure is set beside our fastest method, the fork server.
        // `spawn_join_default` is a plain `Process::builder()`: the process-wide method, which is
        // `StartMethod::default()` since this program never sets one. Python's own default on Linux
        // is `fork` before 3.14 and `forkserver` from 3.14, so the row has no Python figure.
        for (name, ours) in [
            ("spawn_join_spawn", spawn),
            ("spawn_join_forkserver", server),
            ("spawn_join_fork", server),
            ("spawn_join_default", default),
        ] {
            if opts.wants(name) {
                rows.push(Row::latency(name, "ms", ours, vec![("procspawn", ps)]));
            }
        }
    }
    if opts.wants("pipe_pingpong_small") {
        eprintln!("pipe_pingpong_small ...");
        let m = medians(n, &mut [&mut pingpong_small_us, &mut ipc_pingpong_small_us]);
        rows.push(Row::latency(
            "pipe_pingpong_small",
            "µs",
            m[0],
            vec![("ipc-channel", m[1])],
        ));
    }
    if opts.wants("pipe_pingpong_obj") {
        eprintln!("pipe_pingpong_obj ...");
        let m = medians(n, &mut [&mut pingpong_obj_us, &mut ipc_pingpong_obj_us]);
        rows.push(Row::latency(
            "pipe_pingpong_obj",
            "µs",
            m[0],
            vec![("ipc-channel", m[1])],
        ));
    }
    if opts.wants("pipe_throughput_1mb") {
        eprintln!("pipe_throughput_1mb ...");
        let m = medians(n, &mut [&mut throughput_gbs, &mut ipc_throughput_gbs]);
        rows.push(Row {
            workload: "pipe_throughput_1mb",
            unit: "GB/s",
            better: Better::Higher,
            ours: m[0],
            peers: vec![("ipc-channel", m[1])],
            pct: None,
        });
    }
}
