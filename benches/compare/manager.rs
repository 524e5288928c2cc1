//! Manager workloads: `manager_dict_ops`, `manager_list_append` (Python's definitions), and
//! `manager_custom_call`, a `#[managed]` method round trip (no Python row: Python's registered classes
//! go through the same proxy machinery as its dict).

use crate::harness::{Better, Options, Row, median, secs};
use multiproc::Manager;

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

pub fn run(opts: &Options, rows: &mut Vec<Row>) {
    let wanted = [
        "manager_dict_ops",
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
        });
    }
}
