//! Manager workloads: `manager_dict_ops`, `manager_list_append` (Python's definitions),
//! `manager_custom_call`, a `#[managed]` method round trip (no Python row: Python's registered classes
//! go through the same proxy machinery as its dict), and `manager_dict_ops_4clients`, the dict
//! workload from 4 client processes at once (total ops/s; ours, the contention curve's far point).

use crate::harness::{Better, Options, Row, median, secs};
use multiproc::manager::DictProxy;
use multiproc::{Connection, Manager, Pipe, worker};

const DICT_N: u64 = 5_000;
const LIST_N: u64 = 10_000;
const CALL_N: u64 = 10_000;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct BenchCounter {
    n: u64,
}

#[multiproc::managed]
impl BenchCounter {
    pub fn increment(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }
}

/// One of the 4 clients: `n` insert+get pairs on its own key range, after the start signal.
#[worker]
fn dict_client(d: DictProxy<u64, u64>, go: Connection<()>, base: u64, n: u64) -> u64 {
    go.send(&()).expect("ready");
    go.recv().expect("go");
    let mut bad = 0;
    for i in base..base + n {
        d.insert(&i, &i).expect("insert");
        if d.get(&i).expect("get") != Some(i) {
            bad += 1;
        }
    }
    bad
}

const CLIENTS: u64 = 4;

fn dict_ops_clients(mgr: &Manager) -> f64 {
    let d = mgr.dict::<u64, u64>().unwrap();
    let mut gates = Vec::new();
    let mut procs = Vec::new();
    for c in 0..CLIENTS {
        let (here, there) = Pipe::<()>::new().unwrap();
        procs.push(dict_client::spawn(d.clone(), there, c * DICT_N, DICT_N).unwrap());
        gates.push(here);
    }
    for g in &gates {
        g.recv().expect("ready");
    }
    let t0 = std::time::Instant::now();
    for g in &gates {
        g.send(&()).expect("go");
    }
    let bad: u64 = procs.into_iter().map(|p| p.join().expect("client")).sum();
    let t = t0.elapsed().as_secs_f64();
    assert_eq!(bad, 0, "bad gets");
    assert_eq!(d.len().unwrap(), (CLIENTS * DICT_N) as usize);
    2.0 * (CLIENTS * DICT_N) as f64 / t
}

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    let wanted = [
        "manager_dict_ops",
        "manager_dict_ops_4clients",
        "manager_list_append",
        "manager_custom_call",
    ];
    if !wanted.iter().any(|w| opts.wants(w)) {
        return;
    }
    let mgr = Manager::start().expect("manager");
    if opts.wants("manager_dict_ops") {
        let ours = median(opts.trials, || {
            let d = mgr.dict::<u64, u64>().unwrap();
            let mut bad = 0;
            let t = secs(|| {
                for i in 0..DICT_N {
                    d.insert(&i, &i).unwrap();
                    if d.get(&i).unwrap() != Some(i) {
                        bad += 1;
                    }
                }
            });
            assert_eq!(bad, 0, "bad gets");
            assert_eq!(d.len().unwrap(), DICT_N as usize);
            2.0 * DICT_N as f64 / t
        });
        rows.push(Row {
            workload: "manager_dict_ops",
            unit: "ops/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("manager_dict_ops_4clients") {
        rows.push(Row {
            workload: "manager_dict_ops_4clients",
            unit: "ops/s",
            better: Better::Higher,
            ours: median(opts.trials, || dict_ops_clients(&mgr)),
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("manager_list_append") {
        let ours = median(opts.trials, || {
            let l = mgr.list::<u64>().unwrap();
            let t = secs(|| {
                for i in 0..LIST_N {
                    l.append(&i).unwrap();
                }
            });
            assert_eq!(l.len().unwrap(), LIST_N as usize);
            LIST_N as f64 / t
        });
        rows.push(Row {
            workload: "manager_list_append",
            unit: "ops/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
    if opts.wants("manager_custom_call") {
        let ours = median(opts.trials, || {
            let c = mgr.create(BenchCounter { n: 0 }).unwrap();
            let mut last = 0;
            let t = secs(|| {
                for _ in 0..CALL_N {
                    last = c.increment(1).unwrap();
                }
            });
            assert_eq!(last, CALL_N);
            CALL_N as f64 / t
        });
        rows.push(Row {
            workload: "manager_custom_call",
            unit: "calls/s",
            better: Better::Higher,
            ours,
            peers: vec![],
            pct: None,
        });
    }
}
